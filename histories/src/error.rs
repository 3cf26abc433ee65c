//! The one error type of this crate. Every variant about a line names the file (when known)
//! and the 1-based line number, so a user can open the history at the faulty line.

use std::fmt;
use std::path::PathBuf;

use crate::op::{OpType, Process};

/// Where in a history something is: the file (when the history came from a file) and the
/// 1-based line number. Displays as `path:line` or `line N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The history file, when known.
    pub path: Option<PathBuf>,
    /// 1-based line number.
    pub line: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}:{}", p.display(), self.line),
            None => write!(f, "line {}", self.line),
        }
    }
}

/// Everything that can go wrong reading or writing a history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The file could not be opened or created.
    #[error("{}: cannot open history: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Reading failed (an IO error, not a format error).
    #[error("{at}: cannot read history: {source}")]
    Read {
        /// Where.
        at: Location,
        /// Why.
        source: std::io::Error,
    },
    /// Writing or syncing failed.
    #[error("{}: cannot write history: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An op could not be encoded as JSON (a writer-side bug, e.g. a non-string map key).
    #[error("{}: cannot encode op {index}: {message}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// The op's index.
        index: u64,
        /// serde_json's message.
        message: String,
    },
    /// A line that is empty or only whitespace.
    #[error("{at}: empty line (expected one JSON object per line)")]
    EmptyLine {
        /// Where.
        at: Location,
    },
    /// A line longer than the reader's bound ([`crate::MAX_LINE_BYTES`] unless set lower):
    /// reading stops there, so a file without newlines (or `/dev/zero`) cannot take all memory.
    #[error("{at}: line longer than {limit} bytes (the limit of a history line; a file with no newlines?)")]
    LineTooLong {
        /// Where: the line that is too long.
        at: Location,
        /// The bound, in bytes (without the newline).
        limit: usize,
    },
    /// A NUL byte: never valid in JSONL. A file system that crashed before its data reached
    /// the disk leaves blocks of NUL bytes where lines should be; reading stops at the first.
    #[error("{at}: NUL bytes at column {column} (unwritten blocks after a crash? writes were lost, so the history cannot be checked)")]
    NulBytes {
        /// Where: the line that holds the first NUL byte.
        at: Location,
        /// The 1-based byte column of the first NUL byte in its line.
        column: u64,
    },
    /// A line that is not UTF-8 or not JSON.
    #[error("{at}: not JSON: {message}")]
    NotJson {
        /// Where.
        at: Location,
        /// What the parser said, with the column.
        message: String,
    },
    /// A JSON line that is not an op: a missing or mistyped field.
    #[error("{at}: bad op: {message}")]
    BadField {
        /// Where.
        at: Location,
        /// Which field and what is wrong, with the column.
        message: String,
    },
    /// `type` is not one of invoke, ok, fail, info.
    #[error("{at}: unknown type {found:?} (expected \"invoke\", \"ok\", \"fail\" or \"info\")")]
    UnknownType {
        /// Where.
        at: Location,
        /// The type found.
        found: String,
    },
    /// `index` is not the previous index + 1 (the first must be 0).
    #[error("{at}: index {found} out of sequence (expected {expected})")]
    IndexOutOfSequence {
        /// Where.
        at: Location,
        /// The index found.
        found: u64,
        /// The index expected.
        expected: u64,
    },
    /// `time` is smaller than the previous op's.
    #[error("{at}: time {found} goes backwards (the previous op, index {previous_index}, has time {previous})")]
    TimeBackwards {
        /// Where.
        at: Location,
        /// The time found.
        found: u64,
        /// The previous op's time.
        previous: u64,
        /// The previous op's index.
        previous_index: u64,
    },
    /// An `ok`/`fail`/`info` from a client process with no outstanding invoke.
    #[error("{at}: {kind} completion of {f:?} by process {process} has no outstanding invoke")]
    CompletionWithoutInvoke {
        /// Where.
        at: Location,
        /// The process.
        process: Process,
        /// The completion type.
        kind: OpType,
        /// The op's f.
        f: String,
    },
    /// A completion whose `f` differs from its invoke's.
    #[error("{at}: completion of {f:?} by process {process} does not match its invoke of {invoke_f:?} (index {invoke_index})")]
    CompletionMismatch {
        /// Where.
        at: Location,
        /// The process.
        process: Process,
        /// The completion's f.
        f: String,
        /// The invoke's f.
        invoke_f: String,
        /// The invoke's index.
        invoke_index: u64,
    },
    /// An invoke by a client process that already has one outstanding.
    #[error("{at}: second invoke by process {process} while its invoke at index {outstanding_index} is outstanding")]
    SecondInvoke {
        /// Where.
        at: Location,
        /// The process.
        process: Process,
        /// The outstanding invoke's index.
        outstanding_index: u64,
    },
    /// A client process used again after one of its ops completed with `info`.
    #[error("{at}: process {process} used again after its info completion at index {info_index} (a crashed process must not be reused)")]
    ProcessReused {
        /// Where.
        at: Location,
        /// The process.
        process: Process,
        /// The index of its `info` completion.
        info_index: u64,
    },
}

impl HistoryError {
    /// Where the error is, for errors about a line.
    pub fn location(&self) -> Option<&Location> {
        use HistoryError::*;
        match self {
            Open { .. } | Write { .. } | Encode { .. } => None,
            Read { at, .. }
            | EmptyLine { at }
            | LineTooLong { at, .. }
            | NulBytes { at, .. }
            | NotJson { at, .. }
            | BadField { at, .. }
            | UnknownType { at, .. }
            | IndexOutOfSequence { at, .. }
            | TimeBackwards { at, .. }
            | CompletionWithoutInvoke { at, .. }
            | CompletionMismatch { at, .. }
            | SecondInvoke { at, .. }
            | ProcessReused { at, .. } => Some(at),
        }
    }

    /// True when the input is at fault (a missing or malformed history), false when writing
    /// failed.
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            HistoryError::Write { .. } | HistoryError::Encode { .. }
        )
    }
}

/// This crate's result type.
pub type Result<T, E = HistoryError> = std::result::Result<T, E>;

/// A problem the reader tolerated, such as a truncated last line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Warning {
    /// The file, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path: Option<PathBuf>,
    /// 1-based line number.
    pub line: u64,
    /// What was tolerated.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = Location {
            path: self.path.clone(),
            line: self.line,
        };
        write!(f, "{at}: {}", self.message)
    }
}
