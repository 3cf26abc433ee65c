//! `gauntlet import --from jepsen-edn FILE`: Jepsen/Knossos EDN histories to Gauntlet JSONL.
//!
//! Accepted input (parsed with the `edn-format` crate): one vector or list of op maps, or op
//! maps one after another (Jepsen's `history.edn`); comments, keywords, nil, vectors. Each op
//! map needs `:type` (`:invoke`, `:ok`, `:fail`, `:info`), `:process` (an integer or
//! `:nemesis`) and `:f`; `:value`, `:time` and `:error` are optional, other keys are ignored.
//!
//! Mapping: keywords and symbols become strings (`:x` → `"x"`), nil → null, vectors, lists and
//! sets → arrays, maps → objects. Register ops are reshaped into the register format of
//! docs/history-format.md, on the single unnamed key: a `read` invoke → `{}`, its `ok` →
//! `{"value": V}`, or `{}` when V is nil (Knossos treats a nil read as consistent with any
//! state: the value was not reported); a `write` → `{"value": V}`; a `cas [A B]` → `{"from": A, "to": B}`, whose
//! `ok` adds `"swapped": true` (in Jepsen a failed comparison is a `:fail`). Ops are renumbered
//! 0, 1, 2, … in file order; `:time` is kept but raised where needed to be non-decreasing
//! (Jepsen's times come from several threads' clocks), and is the op's position when absent.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use edn_format::{Keyword, Value as Edn};
use histories::{Op, OpType, Process};
use serde_json::{json, Map, Value};

use crate::exit::{bad_input, Exit};
use scan::Place;
pub use scan::MAX_EDN_DEPTH;

mod scan;

/// Input formats `gauntlet import` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    /// Jepsen / Knossos `history.edn`.
    JepsenEdn,
}

/// Flags of `gauntlet import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The format of FILE.
    #[arg(long = "from", value_enum)]
    pub from: ImportFormat,
    /// The history to convert.
    pub file: PathBuf,
    /// Write the JSONL here instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Runs `gauntlet import`.
pub fn main(args: ImportArgs) -> anyhow::Result<Exit> {
    let ImportFormat::JepsenEdn = args.from;
    let ops = read_edn_file(&args.file)?;
    match &args.output {
        Some(path) => {
            let file = fs::File::create(path)
                .with_context(|| format!("{}: cannot create", path.display()))?;
            write_jsonl(&ops, BufWriter::new(file))
                .with_context(|| format!("{}: cannot write", path.display()))?;
        }
        None => {
            write_jsonl(&ops, io::stdout().lock()).context("cannot write to standard output")?
        }
    }
    Ok(Exit::Valid)
}

/// Writes ops as JSONL, one per line.
pub fn write_jsonl(ops: &[Op], mut out: impl Write) -> io::Result<()> {
    for op in ops {
        serde_json::to_writer(&mut out, op)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Reads an EDN history file into ops. Errors are bad input naming the file and the place.
pub fn read_edn_file(path: &Path) -> anyhow::Result<Vec<Op>> {
    let text = fs::read_to_string(path)
        .map_err(|e| bad_input(format!("{}: cannot read: {e}", path.display())))?;
    edn_to_ops(&text).map_err(|e| bad_input(format!("{}: {e}", path.display())))
}

/// Parses EDN text into ops; the error says where (line and column, or which op and its
/// line) and what. Text nested deeper than [`MAX_EDN_DEPTH`], text after a history's one
/// vector, and numbers JSON cannot hold (`1e400`) are refused.
pub fn edn_to_ops(text: &str) -> Result<Vec<Op>, String> {
    // Before the parser, which recurses once per level (see [`scan`]).
    let scanned = scan::scan(text)?;
    // edn-format 3.3.0 reports the line in `col` and the column in `row` (checked by the
    // errors_say_where test; the crate is pinned to that version in Cargo.toml).
    let first = edn_format::parse_str(text).map_err(|e| {
        format!(
            "EDN syntax error at line {}, column {}: {}",
            e.col, e.row, e.error
        )
    })?;
    let (maps, lines): (Vec<Edn>, &[Place]) = match first {
        Edn::Vector(v) | Edn::List(v) => {
            if let (Some(next), Some(end)) = (scanned.top.get(1), scanned.first_end) {
                return Err(format!(
                    "{next}: text after the history (its vector of ops ended on line {}; \
                     expected one vector of op maps, or op maps one after another)",
                    end.line
                ));
            }
            (v, &scanned.inner)
        }
        Edn::Map(_) => (
            edn_format::Parser::from_str(text, edn_format::ParserOptions::default())
                .enumerate()
                .map(|(i, form)| {
                    form.map_err(|e| {
                        let at = scanned
                            .top
                            .get(i)
                            .map_or(String::new(), |p| format!("{p}: "));
                        format!("{at}EDN syntax error in top-level form {}: {e}", i + 1)
                    })
                })
                .collect::<Result<_, _>>()?,
            &scanned.top,
        ),
        other => {
            return Err(format!(
                "expected a vector of op maps or op maps one after another, found {}",
                kind(&other)
            ))
        }
    };
    let mut ops = Vec::with_capacity(maps.len());
    let mut time = 0u64;
    for (i, m) in maps.iter().enumerate() {
        let op = to_op(m, i as u64, time).map_err(|e| {
            // The scan's places are the parser's forms unless a tag or discard (`#inst`,
            // `#_`) made them differ; then the op is named by its number alone.
            match lines.get(i).filter(|_| lines.len() == maps.len()) {
                Some(p) => format!("line {}: op {i} (0-based, in file order): {e}", p.line),
                None => format!("op {i} (0-based, in file order): {e}"),
            }
        })?;
        time = op.time;
        ops.push(op);
    }
    Ok(ops)
}

fn kind(v: &Edn) -> &'static str {
    match v {
        Edn::Nil => "nil",
        Edn::Map(_) => "a map",
        Edn::Vector(_) => "a vector",
        Edn::List(_) => "a list",
        Edn::Set(_) => "a set",
        Edn::Keyword(_) => "a keyword",
        Edn::String(_) => "a string",
        Edn::Integer(_) | Edn::BigInt(_) => "an integer",
        _ => "another EDN value",
    }
}

fn get<'a>(m: &'a std::collections::BTreeMap<Edn, Edn>, key: &str) -> Option<&'a Edn> {
    m.get(&Edn::Keyword(Keyword::from_name(key)))
}

fn name(v: &Edn) -> Option<String> {
    match v {
        Edn::Keyword(k) => Some(match k.namespace() {
            Some(ns) => format!("{ns}/{}", k.name()),
            None => k.name().to_string(),
        }),
        Edn::Symbol(s) => Some(s.name().to_string()),
        Edn::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn to_op(m: &Edn, index: u64, prev_time: u64) -> Result<Op, String> {
    let Edn::Map(m) = m else {
        return Err(format!("expected an op map, found {}", kind(m)));
    };
    let kind = match get(m, "type").and_then(name).as_deref() {
        Some("invoke") => OpType::Invoke,
        Some("ok") => OpType::Ok,
        Some("fail") => OpType::Fail,
        Some("info") => OpType::Info,
        Some(other) => {
            return Err(format!(
                ":type must be :invoke, :ok, :fail or :info, not :{other}"
            ))
        }
        None => return Err("missing :type".into()),
    };
    let process = match get(m, "process") {
        Some(Edn::Integer(p)) if *p >= 0 => Process::Client(*p as u64),
        Some(v) if name(v).as_deref() == Some("nemesis") => Process::Nemesis,
        Some(v) => {
            return Err(format!(
                ":process must be a non-negative integer or :nemesis, not {}",
                edn_format::emit_str(v)
            ))
        }
        None => return Err("missing :process".into()),
    };
    let f = get(m, "f")
        .and_then(name)
        .ok_or(":f must be a keyword, symbol or string")?;
    let time = match get(m, "time") {
        Some(Edn::Integer(t)) if *t >= 0 => (*t as u64).max(prev_time),
        _ => prev_time,
    };
    let value = match get(m, "value") {
        Some(v) => to_json(v).map_err(|e| format!(":value: {e}"))?,
        None => Value::Null,
    };
    let error = get(m, "error").map(|e| name(e).unwrap_or_else(|| edn_format::emit_str(e)));
    let value = if process == Process::Nemesis {
        value
    } else {
        register_shape(&f, kind, value)
    };
    Ok(Op {
        index,
        time,
        process,
        kind,
        f,
        value,
        node: None,
        error,
    })
}

/// EDN to JSON, keywords and symbols as strings. A float JSON cannot hold (`1e400` parses
/// as infinite, `##NaN`) is an error, not the `null` serde_json would make of it.
pub fn to_json(v: &Edn) -> Result<Value, String> {
    Ok(match v {
        Edn::Nil => Value::Null,
        Edn::Boolean(b) => Value::Bool(*b),
        Edn::Integer(i) => json!(i),
        Edn::Float(f) => {
            let x = f.into_inner();
            if !x.is_finite() {
                return Err(format!(
                    "{} is out of range (more than a 64-bit float holds, or not a number); \
                     JSON cannot hold it",
                    edn_format::emit_str(v)
                ));
            }
            json!(x)
        }
        Edn::String(s) => Value::String(s.clone()),
        Edn::Character(c) => Value::String(c.to_string()),
        Edn::Keyword(_) | Edn::Symbol(_) => Value::String(name(v).unwrap_or_default()),
        Edn::Vector(xs) | Edn::List(xs) => {
            Value::Array(xs.iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Edn::Set(xs) => Value::Array(xs.iter().map(to_json).collect::<Result<_, _>>()?),
        Edn::Map(m) => {
            let mut o = Map::new();
            for (k, v) in m {
                let key = name(k).unwrap_or_else(|| edn_format::emit_str(k));
                o.insert(key, to_json(v)?);
            }
            Value::Object(o)
        }
        other => Value::String(edn_format::emit_str(other)),
    })
}

/// Register ops in the shape of docs/history-format.md (single unnamed key); others unchanged.
fn register_shape(f: &str, kind: OpType, value: Value) -> Value {
    match (f, kind) {
        ("read", OpType::Invoke) => json!({}),
        // Knossos: a nil read is consistent with any state; an ok value without "value" says so.
        ("read", OpType::Ok) if value.is_null() => json!({}),
        ("read", OpType::Ok) => json!({ "value": value }),
        ("write", _) => json!({ "value": value }),
        ("cas", _) => match value {
            Value::Array(a) if a.len() == 2 => {
                let mut o = json!({"from": a[0], "to": a[1]});
                if kind == OpType::Ok {
                    o["swapped"] = json!(true);
                }
                o
            }
            other => other,
        },
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_with_comments_becomes_register_ops() {
        let ops = edn_to_ops(
            "; a comment\n[{:type :invoke, :f :cas, :value [1 2], :process 0, :time 5}\n {:type :ok, :f :cas, :value [1 2], :process 0, :time 3}\n {:type :info :f :start :process :nemesis :value nil}]",
        )
        .unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[0].value, json!({"from": 1, "to": 2}));
        assert_eq!(ops[1].value, json!({"from": 1, "to": 2, "swapped": true}));
        assert_eq!(ops[1].time, 5, "time raised to stay non-decreasing");
        assert_eq!(ops[2].process, Process::Nemesis);
        assert_eq!((ops[2].index, ops[2].f.as_str()), (2, "start"));
    }

    #[test]
    fn maps_one_per_line_and_txn_values() {
        let ops = edn_to_ops("{:type :invoke :f :txn :value [[:read :x nil]] :process 3}\n{:type :ok :f :txn :value [[:read :x 0]] :process 3}\n").unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[1].value, json!([["read", "x", 0]]));
    }

    #[test]
    fn errors_say_where() {
        let e = edn_to_ops(
            "[{:type :invoke :f :read :process 1}\n {:type :bogus :f :read :process 1}]",
        )
        .unwrap_err();
        assert!(e.contains("op 1") && e.contains(":bogus"), "{e}");
        let e = edn_to_ops("[{:type :invoke :f :read\n :process 1]").unwrap_err();
        assert!(e.contains("line 2, column 12"), "{e}");
        let e = edn_to_ops("[{:type :invoke :f :read :process -1}]").unwrap_err();
        assert!(e.contains(":process"), "{e}");
    }

    #[test]
    fn text_after_the_vector_is_refused_naming_its_line() {
        // Proves what the parser used to drop silently after the history's vector (a second
        // form, or text that is not EDN at all) is refused, naming where it starts.
        for tail in ["foo", "}", "[{:type :ok :f :read :process 1}]"] {
            let text = format!("[{{:type :invoke :f :read :process 1}}]\n\n  {tail}\n");
            let e = edn_to_ops(&text).unwrap_err();
            assert!(
                e.starts_with(
                    "line 3, column 3: text after the history (its vector of ops ended on line 1;"
                ),
                "{tail}: {e}"
            );
        }
        // Comments and blank lines after it are fine.
        edn_to_ops("[{:type :invoke :f :read :process 1}]\n; done\n\n").unwrap();
    }

    #[test]
    fn a_number_json_cannot_hold_is_refused() {
        // Proves 1e400 (infinite as a float) is an error naming the op and its line, not a
        // null in the JSONL; nested in a value too.
        let e = edn_to_ops("[{:type :invoke :f :write :process 1 :value 1}\n {:type :invoke :f :write :process 2 :value 1e400}]").unwrap_err();
        assert!(
            e.starts_with("line 2: op 1 (0-based, in file order): :value: "),
            "{e}"
        );
        assert!(e.contains("out of range"), "{e}");
        let e =
            edn_to_ops("{:type :invoke :f :txn :process 1 :value [[:w :x 1e400]]}").unwrap_err();
        assert!(e.starts_with("line 1: op 0 "), "{e}");
        edn_to_ops("[{:type :invoke :f :write :process 1 :value 1.5e300}]").unwrap();
    }

    #[test]
    fn deep_nesting_is_refused_before_the_parser() {
        // Proves a value nested 10,000 deep (which overflowed the parser's stack, exit 134)
        // is an error naming its line; one at the limit still imports.
        let deep = format!(
            "[{{:type :invoke :f :write :process 1\n :value {}1{}}}]",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        let e = edn_to_ops(&deep).unwrap_err();
        assert!(e.starts_with("line 2, column "), "{e}");
        assert!(e.contains("nested more than 128 deep"), "{e}");
        let at_limit = format!(
            "[{{:type :invoke :f :write :process 1 :value {}1{}}}]",
            "[".repeat(MAX_EDN_DEPTH - 2),
            "]".repeat(MAX_EDN_DEPTH - 2)
        );
        assert_eq!(edn_to_ops(&at_limit).unwrap().len(), 1);
    }
}
