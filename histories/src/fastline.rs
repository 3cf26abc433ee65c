//! The fast path of the reader: a hand-written parser for the line shape the writer emits
//! (`{"index":N,"time":N,"process":N|"nemesis","type":"T","f":"S"[,"value":V][,"node":"S"][,"error":"S"]}`,
//! compact, keys in that order, strings without escapes).
//!
//! It accepts only lines that serde_json would parse to the very same op, and says `None` for
//! anything else (other key order, whitespace, escapes, extra fields, numbers it is unsure of,
//! deep nesting, any error): the caller then parses the line with serde_json, which gives the
//! exact error. So the fast path changes speed, never results. serde_json's generic struct
//! deserialization was most of the reading time; this runs at memory-scan speed.

use crate::op::{OpType, Process};

/// The fields of one line, borrowed from it. `value` is JSON text validated here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FastOp<'a> {
    pub index: u64,
    pub time: u64,
    pub process: Process,
    pub kind: OpType,
    pub f: &'a str,
    pub value: Option<&'a str>,
    pub node: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// Nesting deeper than this goes to serde_json (whose own limit is 128).
const MAX_DEPTH: u32 = 64;

/// Parses `line` (UTF-8, with or without its `\n`) if it has the usual shape.
pub(crate) fn parse(line: &str) -> Option<FastOp<'_>> {
    let text = line.strip_suffix('\n').unwrap_or(line);
    let mut c = Cursor {
        b: text.as_bytes(),
        i: 0,
    };
    c.lit(b"{\"index\":")?;
    let index = c.u64()?;
    c.lit(b",\"time\":")?;
    let time = c.u64()?;
    c.lit(b",\"process\":")?;
    let process = if c.peek()? == b'"' {
        c.lit(b"\"nemesis\"")?;
        Process::Nemesis
    } else {
        Process::Client(c.u64()?)
    };
    c.lit(b",\"type\":")?;
    let kind = OpType::parse(c.plain_str(text)?)?;
    c.lit(b",\"f\":")?;
    let f = c.plain_str(text)?;
    let mut value = None;
    if c.rest().starts_with(b",\"value\":") {
        c.i += 9;
        let start = c.i;
        c.value(0)?;
        let v = &text[start..c.i];
        value = (v != "null").then_some(v);
    }
    let mut node = None;
    if c.rest().starts_with(b",\"node\":") {
        c.i += 8;
        node = Some(c.plain_str(text)?);
    }
    let mut error = None;
    if c.rest().starts_with(b",\"error\":") {
        c.i += 9;
        error = Some(c.plain_str(text)?);
    }
    c.lit(b"}")?;
    if c.i != c.b.len() {
        return None;
    }
    Some(FastOp {
        index,
        time,
        process,
        kind,
        f,
        value,
        node,
        error,
    })
}

pub(crate) struct Cursor<'b> {
    pub b: &'b [u8],
    pub i: usize,
}

impl<'b> Cursor<'b> {
    pub fn rest(&self) -> &'b [u8] {
        &self.b[self.i..]
    }

    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    pub fn lit(&mut self, s: &[u8]) -> Option<()> {
        if self.rest().starts_with(s) {
            self.i += s.len();
            Some(())
        } else {
            None
        }
    }

    /// A non-negative integer as serde_json reads a `u64`: no leading zeros, no fraction or
    /// exponent, no overflow (otherwise `None`).
    pub fn u64(&mut self) -> Option<u64> {
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let len = self.i - start;
        if len == 0 || (len > 1 && self.b[start] == b'0') {
            return None;
        }
        match self.peek() {
            Some(b'.' | b'e' | b'E') => None,
            _ => Some(n),
        }
    }

    /// A string without escapes or control characters; returns its contents.
    pub fn plain_str<'t>(&mut self, text: &'t str) -> Option<&'t str> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let mut j = start;
        loop {
            match *self.b.get(j)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => j += 1,
            }
        }
        self.i = j + 1;
        // `"` is ASCII, so both ends are char boundaries of the (UTF-8) text.
        Some(&text[start..j])
    }

    fn skip_str(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        let mut j = self.i + 1;
        loop {
            match *self.b.get(j)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => j += 1,
            }
        }
        self.i = j + 1;
        Some(())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// A JSON number (full grammar).
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    /// Skips one JSON value (the accepted subset), validating it.
    pub fn value(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_str(),
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.skip_str()?;
                    self.lit(b":")?;
                    self.value(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.value(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.lit(b"true"),
            b'f' => self.lit(b"false"),
            b'n' => self.lit(b"null"),
            _ => self.number(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_shape() {
        // Proves the writer's shape is taken by the fast path with every field right.
        let line = "{\"index\":3,\"time\":900,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":{\"a\":[1,-2.5e3,true,null,\"x\"]},\"node\":\"n1\",\"error\":\"boom\"}\n";
        let op = parse(line).unwrap();
        assert_eq!(op.index, 3);
        assert_eq!(op.time, 900);
        assert_eq!(op.process, Process::Nemesis);
        assert_eq!(op.kind, OpType::Info);
        assert_eq!(op.f, "kill");
        assert_eq!(op.value, Some("{\"a\":[1,-2.5e3,true,null,\"x\"]}"));
        assert_eq!(op.node, Some("n1"));
        assert_eq!(op.error, Some("boom"));
        let op = parse(
            "{\"index\":0,\"time\":0,\"process\":7,\"type\":\"ok\",\"f\":\"a\",\"value\":null}",
        )
        .unwrap();
        assert_eq!(op.value, None);
        assert_eq!(op.process, Process::Client(7));
    }

    #[test]
    fn declines_anything_unusual() {
        // Proves every shape outside the subset goes to serde_json (None), never a wrong op.
        let base = "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"s\"}";
        assert!(parse(base).is_some());
        for bad in [
            "{\"index\":01,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"s\"}",
            "{\"index\":0,\"time\":1.0,\"process\":0,\"type\":\"invoke\",\"f\":\"s\"}",
            "{\"index\":0,\"time\":1e3,\"process\":0,\"type\":\"invoke\",\"f\":\"s\"}",
            "{\"index\":0,\"time\":99999999999999999999,\"process\":0,\"type\":\"invoke\",\"f\":\"s\"}",
            "{\"index\":0,\"time\":1,\"process\":-1,\"type\":\"invoke\",\"f\":\"s\"}",
            "{\"index\":0,\"time\":1,\"process\":\"x\",\"type\":\"invoke\",\"f\":\"s\"}",
            "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"begin\",\"f\":\"s\"}",
            "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"s\\n\"}",
            "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"s\",\"value\":[1,]}",
            "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"s\",\"value\":01}",
            "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"s\",\"value\":{\"a\" :1}}",
            "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"s\",\"extra\":1}",
            "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"s\"} ",
            "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"s\"}\r\n",
            "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"s\"",
            "{\"time\":1,\"index\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"s\"}",
            "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"s\",\"node\":null}",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        let deep = format!("{base}\"value\":{}{}}}", "[".repeat(70), "]".repeat(70));
        let deep = deep.replacen("}\"value", ",\"value", 1);
        assert!(parse(&deep).is_none(), "{deep}");
        let shallow = deep
            .replace(&"[".repeat(70), "[[")
            .replace(&"]".repeat(70), "]]");
        assert!(parse(&shallow).is_some(), "{shallow}");
    }
}
