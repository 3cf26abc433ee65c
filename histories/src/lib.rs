//! histories: the operation model of Gauntlet and its JSONL history format.
//!
//! | module | what it owns |
//! | --- | --- |
//! | [`op`] | [`Op`] (owned) and [`OpRef`] (borrowed), [`Process`], [`OpType`], [`ValueRef`] |
//! | [`jsonl`] | [`HistoryReader`] (streaming, validating), [`HistoryWriter`] (append, flush, fsync), [`parse_history_line`] (one line, for readers that cut the file themselves) |
//! | [`pairing`] | [`Validator`]: index sequence, time order, invoke/completion pairing |
//! | [`fxhash`] | [`fxhash::FxHashMap`]: a fast hasher for the per-op maps of the reader and checkers |
//! | [`error`] | [`HistoryError`] (names file and line), [`Warning`] |
//!
//! The format is documented in `docs/history-format.md`. A history is one JSON op per line;
//! each client process alternates `invoke` and one completion (`ok`, `fail`, `info`), as in
//! Jepsen, and a process whose op ended in `info` is never used again.
//!
//! ```
//! use histories::{HistoryReader, Op, OpType, Process};
//!
//! let text = r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"submit","value":{"task":"t1"}}
//! {"index":1,"time":20,"process":0,"type":"ok","f":"submit","value":{"task":"t1"},"node":"n1"}
//! "#;
//! let ops: Vec<Op> = HistoryReader::new(text.as_bytes()).collect::<Result<_, _>>().unwrap();
//! assert_eq!(ops[1].kind, OpType::Ok);
//! assert_eq!(ops[1].process, Process::Client(0));
//! assert_eq!(ops[1].node.as_deref(), Some("n1"));
//! ```

pub mod error;
mod fastline;
pub mod fxhash;
pub mod jsonl;
pub mod op;
pub mod pairing;

/// The longest line a history reader accepts, in bytes without its newline: 64 MiB.
///
/// The longest line a run writes is its final read, about 36 bytes a task (the benchmark
/// history of docs/performance-check.md: one 11 MB line for 306,502 tasks), so 64 MiB holds
/// about 1.8 million tasks; a longer line is refused with [`HistoryError::LineTooLong`]
/// naming it, so that a file without newlines (a damaged file, `/dev/zero`) is an error
/// after reading at most this much, not a process that grows until it is killed.
pub const MAX_LINE_BYTES: usize = 64 << 20;

pub use error::{HistoryError, Location, Result, Warning};
pub use jsonl::{parse_history_line, parse_history_line_fast, HistoryReader, HistoryWriter, Line};
pub use op::{Op, OpRef, OpType, Process, ValueRef};
pub use pairing::{OpHead, Validator};
