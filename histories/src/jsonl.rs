//! The JSONL history file: a streaming, validating reader and a durable append-only writer.
//!
//! The reader holds one line at a time (its buffer is reused) plus the [`Validator`]'s
//! per-process state, so a history of any length streams in bounded memory. It offers two
//! ways to consume ops:
//! - [`HistoryReader::next_ref`], a lending call that returns an [`OpRef`] borrowed from the
//!   line buffer with the value left as raw JSON (no allocation per op): what the checkers use;
//! - the [`Iterator`] of owned [`Op`]s, for callers that want to keep ops.
//!
//! After the first error the reader yields nothing more. A last line without a newline that
//! is not complete JSON (a writer killed mid-line) ends the history with a [`Warning`].
//!
//! Hostile input stays bounded: a line longer than [`MAX_LINE_BYTES`] is an error once that
//! much is read, and a NUL byte (never valid JSONL; what a crash leaves in blocks that were
//! never written) is an error at the first one, so a long run of NULs costs no memory.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{HistoryError, Location, Result, Warning};
use crate::op::{Op, OpRef, OpType, Process, ValueRef};
use crate::pairing::Validator;
use crate::MAX_LINE_BYTES;

/// The on-disk shape of one line, borrowed from the line buffer.
#[derive(Deserialize)]
#[serde(expecting = "a JSON object (one op)")]
struct RawOp<'a> {
    index: u64,
    time: u64,
    process: Process,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    node: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    error: Option<Cow<'a, str>>,
}

/// `Option<Cow<str>>` that borrows when the string has no escapes (serde's own impl for
/// `Option<Cow>` always copies).
fn opt_cow<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Wrap<'de>>::deserialize(d)?.map(|w| w.0))
}

/// Streams and validates a JSONL history. See the module docs.
#[derive(Debug)]
pub struct HistoryReader<R: BufRead> {
    src: R,
    path: Option<PathBuf>,
    buf: Vec<u8>,
    line: u64,
    validator: Validator,
    done: bool,
    warnings: Vec<Warning>,
    /// See [`Self::with_max_line`].
    max_line: usize,
}

impl HistoryReader<BufReader<File>> {
    /// Opens a history file for streaming.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| HistoryError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(HistoryReader::new(BufReader::with_capacity(1 << 16, file)).with_path(path))
    }
}

impl<R: BufRead> HistoryReader<R> {
    /// A reader over any buffered source; errors name line numbers only (see [`Self::with_path`]).
    pub fn new(src: R) -> Self {
        HistoryReader {
            src,
            path: None,
            buf: Vec::with_capacity(256),
            line: 0,
            validator: Validator::new(),
            done: false,
            warnings: Vec::new(),
            max_line: MAX_LINE_BYTES,
        }
    }

    /// Refuses lines longer than `bytes` (without the newline) instead of
    /// [`MAX_LINE_BYTES`] (tests use a small bound).
    pub fn with_max_line(mut self, bytes: usize) -> Self {
        self.max_line = bytes;
        self
    }

    /// Names the file in errors and warnings.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The problems tolerated so far (a truncated last line).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The number of lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    /// The file name given to [`Self::open`] or [`Self::with_path`].
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The next op, borrowed from the reader's line buffer; `None` at the end of the history
    /// or after an error.
    pub fn next_ref(&mut self) -> Option<Result<OpRef<'_>>> {
        if self.done {
            return None;
        }
        self.buf.clear();
        let read = read_line_bounded(&mut self.src, &mut self.buf, self.max_line);
        // A read error names the last line read (as before the bound): the failed one may
        // not have started.
        if read.is_ok() && !matches!(read, Ok(LineRead::Eof)) {
            self.line += 1;
        }
        let stop = match read {
            Ok(LineRead::Line) => None,
            Ok(LineRead::Eof) => {
                self.done = true;
                return None;
            }
            Ok(LineRead::TooLong) => Some(HistoryError::LineTooLong {
                at: self.at(),
                limit: self.max_line,
            }),
            Ok(LineRead::Nul { column }) => Some(HistoryError::NulBytes {
                at: self.at(),
                column,
            }),
            Err(source) => Some(HistoryError::Read {
                at: self.at(),
                source,
            }),
        };
        if let Some(e) = stop {
            self.done = true;
            return Some(Err(e));
        }
        match parse_history_line(&self.buf, self.path.as_deref(), self.line) {
            Line::Op(raw) => {
                let head = raw.head();
                let at = || Location {
                    path: self.path.clone(),
                    line: self.line,
                };
                match self.validator.observe(&head, at) {
                    Ok(()) => Some(Ok(raw)),
                    Err(e) => {
                        self.done = true;
                        Some(Err(e))
                    }
                }
            }
            Line::Truncated(w) => {
                self.done = true;
                tracing::warn!("{w}");
                self.warnings.push(w);
                None
            }
            Line::Error(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    fn at(&self) -> Location {
        Location {
            path: self.path.clone(),
            line: self.line,
        }
    }
}

impl<R: BufRead> Iterator for HistoryReader<R> {
    type Item = Result<Op>;

    fn next(&mut self) -> Option<Result<Op>> {
        self.next_ref().map(|r| r.map(|op| op.to_op()))
    }
}

/// What [`read_line_bounded`] found.
enum LineRead {
    /// A line (with its newline, unless the file ends without one).
    Line,
    /// The end of the file, before any byte of a line.
    Eof,
    /// More than the bound without a newline.
    TooLong,
    /// A NUL byte in a line that spans more than one read; its 1-based column.
    Nul { column: u64 },
}

/// `read_until(b'\n')` that stops after `max` bytes without a newline, and at a NUL byte
/// in a line longer than what the source had buffered (so a long run of NULs is noticed
/// after one buffer, not after `max` bytes). A NUL within the first `max` bytes is reported
/// before the bound. A NUL within a line the buffer holds whole is left to the parser (it
/// fails, and [`parse_history_line`] names the NUL), so that the common path looks at each
/// byte once.
fn read_line_bounded(
    src: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<LineRead> {
    loop {
        let available = match src.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if buf.is_empty() {
                LineRead::Eof
            } else {
                LineRead::Line
            });
        }
        let newline = memchr::memchr(b'\n', available);
        let n = newline.unwrap_or(available.len());
        if newline.is_none() || buf.len() + n > max {
            // A NUL within the bound comes first, then the bound (the chunked reader of the
            // checkers finds them in the same order).
            let within = &available[..n.min(max - buf.len())];
            if let Some(z) = memchr::memchr(0, within) {
                return Ok(LineRead::Nul {
                    column: (buf.len() + z + 1) as u64,
                });
            }
            if buf.len() + n > max {
                return Ok(LineRead::TooLong);
            }
        }
        if newline.is_some() {
            buf.extend_from_slice(&available[..=n]);
            src.consume(n + 1);
            return Ok(LineRead::Line);
        }
        buf.extend_from_slice(available);
        src.consume(n);
    }
}

/// One line of a history, parsed on its own (no sequence rules).
#[derive(Debug)]
pub enum Line<'a> {
    /// An op, borrowed from the line.
    Op(OpRef<'a>),
    /// A last line without a newline that is not complete JSON (a writer killed mid-line):
    /// the history ends before it, with this warning (the caller logs it).
    Truncated(Warning),
    /// What is wrong with the line.
    Error(HistoryError),
}

/// Parses line number `line` of a history (its bytes, with their `\n` when the line has
/// one) as [`HistoryReader`] does, minus the sequence rules. For readers that cut the file
/// into lines themselves (the checkers' pipeline); [`HistoryReader::next_ref`] is built on
/// it, so both read every line alike. `path` names the file in errors.
pub fn parse_history_line<'a>(buf: &'a [u8], path: Option<&Path>, line: u64) -> Line<'a> {
    let complete = buf.last() == Some(&b'\n');
    let at = || Location {
        path: path.map(Path::to_path_buf),
        line,
    };
    let err = match parse_line(buf, at) {
        Ok(op) => return Line::Op(op),
        Err(e) => e,
    };
    // A NUL byte is never valid JSON: the line did not parse because of it (or the NULs
    // follow a cut), and the NUL says more than the parser's message. Not a truncation:
    // NULs mean lost writes, which may have lost more than the last line.
    if let Some(z) = memchr::memchr(0, buf) {
        let column = (z + 1) as u64;
        return Line::Error(HistoryError::NulBytes { at: at(), column });
    }
    match err {
        LineError::Truncatable(e) if !complete => {
            let w = Warning {
                path: path.map(Path::to_path_buf),
                line,
                message: format!(
                    "truncated last line ignored ({} bytes, no newline; a writer killed mid-line?): {e}",
                    buf.len()
                ),
            };
            Line::Truncated(w)
        }
        LineError::Truncatable(e) | LineError::Other(e) => Line::Error(e),
    }
}

/// The fast path of [`parse_history_line`] alone, for a line already known to be UTF-8:
/// the op when the line has the shape the writer emits, `None` otherwise (the caller then
/// calls [`parse_history_line`], which decides). When it gives an op, it is the op
/// [`parse_history_line`] gives.
pub fn parse_history_line_fast(text: &str) -> Option<OpRef<'_>> {
    crate::fastline::parse(text).map(|op| OpRef {
        index: op.index,
        time: op.time,
        process: op.process,
        kind: op.kind,
        f: Cow::Borrowed(op.f),
        value: op.value.map_or(ValueRef::Null, ValueRef::Text),
        node: op.node.map(Cow::Borrowed),
        error: op.error.map(Cow::Borrowed),
    })
}

/// A line's error, and whether it could be a cut-off prefix of a valid line.
enum LineError {
    Truncatable(HistoryError),
    Other(HistoryError),
}

/// Parses one line (with or without its newline) into a borrowed op, without the sequence rules.
fn parse_line(buf: &[u8], at: impl Fn() -> Location) -> Result<OpRef<'_>, LineError> {
    let text = match std::str::from_utf8(buf) {
        Ok(t) => t,
        Err(e) => {
            let err = HistoryError::NotJson {
                at: at(),
                message: format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1),
            };
            // An incomplete multi-byte sequence at the end is what a cut produces.
            return Err(if e.error_len().is_none() {
                LineError::Truncatable(err)
            } else {
                LineError::Other(err)
            });
        }
    };
    if text.trim().is_empty() {
        return Err(LineError::Truncatable(HistoryError::EmptyLine { at: at() }));
    }
    if let Some(op) = parse_history_line_fast(text) {
        return Ok(op);
    }
    let raw: RawOp<'_> = serde_json::from_str(text).map_err(|e| {
        let message = describe(&e);
        match e.classify() {
            serde_json::error::Category::Data => {
                LineError::Other(HistoryError::BadField { at: at(), message })
            }
            serde_json::error::Category::Eof => {
                LineError::Truncatable(HistoryError::NotJson { at: at(), message })
            }
            _ => LineError::Other(HistoryError::NotJson { at: at(), message }),
        }
    })?;
    let Some(kind) = OpType::parse(&raw.kind) else {
        return Err(LineError::Other(HistoryError::UnknownType {
            at: at(),
            found: raw.kind.into_owned(),
        }));
    };
    Ok(OpRef {
        index: raw.index,
        time: raw.time,
        process: raw.process,
        kind,
        f: raw.f,
        value: raw.value.map_or(ValueRef::Null, ValueRef::Raw),
        node: raw.node,
        error: raw.error,
    })
}

/// serde_json's message with "at line 1 column N" turned into "(column N)": the line
/// number is the history's, given by the caller.
fn describe(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let msg = match s.rfind(" at line ") {
        Some(i) => &s[..i],
        None => &s,
    };
    if e.column() > 0 {
        format!("{msg} (column {})", e.column())
    } else {
        msg.to_string()
    }
}

/// The durable, append-only history writer.
///
/// Each [`append`](Self::append) writes the op's whole line with one `write` to the OS, so a
/// killed controller loses at most the op being written (which the reader then tolerates as a
/// truncated last line). [`close`](Self::close) fsyncs. The caller assigns `index` and `time`.
#[derive(Debug)]
pub struct HistoryWriter {
    file: File,
    path: PathBuf,
    buf: Vec<u8>,
}

impl HistoryWriter {
    /// Creates a new history file. Fails if the file exists: a history is never overwritten.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| HistoryError::Open {
                path: path.clone(),
                source,
            })?;
        Ok(HistoryWriter {
            file,
            path,
            buf: Vec::with_capacity(256),
        })
    }

    /// A writer appending to an already open file (a device such as `/dev/full` in a test of
    /// a full disk, or a file the caller created exclusively itself).
    pub fn from_file(file: File, path: impl Into<PathBuf>) -> Self {
        HistoryWriter {
            file,
            path: path.into(),
            buf: Vec::with_capacity(256),
        }
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one op as one line and hands it to the OS before returning.
    pub fn append(&mut self, op: &Op) -> Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, op).map_err(|e| HistoryError::Encode {
            path: self.path.clone(),
            index: op.index,
            message: e.to_string(),
        })?;
        self.buf.push(b'\n');
        self.file
            .write_all(&self.buf)
            .map_err(|source| HistoryError::Write {
                path: self.path.clone(),
                source,
            })
    }

    /// Forces everything appended so far to stable storage.
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_all().map_err(|source| HistoryError::Write {
            path: self.path.clone(),
            source,
        })
    }

    /// Fsyncs and closes the file.
    pub fn close(mut self) -> Result<()> {
        self.sync()
    }
}

#[cfg(test)]
mod tests;
