//! A history read in chunks of whole lines, each parsed on its own, by whichever thread is
//! free: the reading half of the checkers' pipeline ([`crate::pipeline`]) and of
//! `gauntlet check --parse-only`.
//!
//! A chunk is read straight into its own buffer (no copy per line) and keeps its text:
//! its ops' strings are ranges of it, so a parsed chunk owns everything its ops borrow and
//! can cross threads. Each line is parsed exactly as [`histories::HistoryReader`] parses it
//! ([`parse_history_line`]); a chunk's line numbers are counted from its start, and the
//! consumer, which sees the chunks in order, adds the lines before it. The first line that
//! is not an op ends the chunk; the consumer parses that one line again with its real
//! number, which gives the reader's own error or warning.
//!
//! Hostile input is bounded as in the sequential reader: a line longer than
//! [`histories::MAX_LINE_BYTES`] ends the history with [`HistoryError::LineTooLong`] once
//! that much is read, and a NUL byte in a line longer than a chunk ends it at once with
//! [`HistoryError::NulBytes`] (a NUL in a shorter line fails its parse, which names it).

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use histories::{
    parse_history_line, parse_history_line_fast, HistoryError, Line, Location, OpRef, OpType,
    Process, ValueRef, Warning,
};

/// A chunk holds at least this much text (unless the file ends), cut after the last whole
/// line; a line longer than that (a large final read) makes its chunk as long as it is.
pub(crate) const CHUNK_BYTES: usize = 1 << 18;

/// A recycled chunk keeps a buffer of at most this capacity.
const MAX_KEPT_BYTES: usize = 4 * CHUNK_BYTES;

/// Where one of an op's strings is in its chunk's text.
#[derive(Debug, Clone, Copy)]
struct Span {
    at: usize,
    len: usize,
}

/// An absent string.
const ABSENT: Span = Span {
    at: 0,
    len: usize::MAX,
};

/// One op of a chunk: the fixed fields, and where its strings are (`f`, value, node,
/// error) in the chunk's text.
#[derive(Debug)]
struct Rec {
    /// Its line, counted from the chunk's first (1).
    line: u64,
    index: u64,
    time: u64,
    process: Process,
    kind: OpType,
    spans: [Span; 4],
}

/// How a chunk ends, besides its ops.
#[derive(Debug)]
enum End {
    /// After its last line.
    Lines,
    /// At a line that is not an op: its number (from the chunk's first, 1) and bytes.
    BadLine { line: u64, bytes: Vec<u8> },
    /// Reading the file failed.
    Read(std::io::Error),
    /// The next line is longer than the bound; its bytes are not kept.
    LineTooLong { limit: usize },
    /// The next line, longer than a chunk, has a NUL byte at this 1-based column.
    Nul { column: u64 },
}

/// Whole lines of the history, and once parsed, their ops.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// The lines (valid UTF-8 up to a bad line), then the strings of ops that had escapes.
    pub(crate) text: String,
    /// The bytes as read, before parsing.
    raw: Vec<u8>,
    recs: Vec<Rec>,
    /// Lines in the chunk.
    lines: u64,
    end: End,
    parsed: bool,
}

impl Default for Chunk {
    fn default() -> Self {
        Chunk {
            text: String::new(),
            raw: Vec::new(),
            recs: Vec::new(),
            lines: 0,
            end: End::Lines,
            parsed: false,
        }
    }
}

/// Cuts a file into chunks of whole lines.
pub(crate) struct ChunkReader<R: Read> {
    src: R,
    /// See [`CHUNK_BYTES`] (smaller in tests, to cut lines at every place).
    chunk_bytes: usize,
    /// The longest line read ([`histories::MAX_LINE_BYTES`]; at least twice `chunk_bytes`).
    max_line: usize,
    /// The start of the next chunk's first line, read with the previous chunk.
    carry: Vec<u8>,
    done: bool,
}

impl<R: Read> ChunkReader<R> {
    pub(crate) fn new(src: R) -> Self {
        Self::with_chunk_bytes(src, CHUNK_BYTES)
    }

    /// Chunks of at least `chunk_bytes` (1 or more).
    pub(crate) fn with_chunk_bytes(src: R, chunk_bytes: usize) -> Self {
        Self::with_limits(src, chunk_bytes, histories::MAX_LINE_BYTES)
    }

    /// Chunks of at least `chunk_bytes`, lines of at most `max_line` bytes (without the
    /// newline). `max_line` is raised to twice `chunk_bytes` if lower: a line is measured
    /// only once it outgrows the first read of its chunk, which is less than twice
    /// `chunk_bytes`.
    pub(crate) fn with_limits(src: R, chunk_bytes: usize, max_line: usize) -> Self {
        let chunk_bytes = chunk_bytes.max(1);
        ChunkReader {
            src,
            chunk_bytes,
            max_line: max_line.max(2 * chunk_bytes),
            carry: Vec::new(),
            done: false,
        }
    }

    /// The next chunk, read into `chunk` (a recycled one; its buffers are reused). False at
    /// the end of the file. A read error gives a chunk that ends with it, and nothing after.
    pub(crate) fn next_into(&mut self, chunk: &mut Chunk) -> bool {
        if self.done {
            return false;
        }
        chunk.clear();
        let mut raw = std::mem::take(&mut chunk.raw);
        raw.append(&mut self.carry);
        // `raw[..filled]` is read; the rest is room for the next read. Room is added only
        // when it runs out (by half again for a long line), so a long line read in short pieces
        // (a pipe) costs time in proportion to its length, not its square.
        let mut filled = raw.len();
        // The newlines of `raw[..searched]` are already looked for: none.
        let mut searched = 0;
        loop {
            if filled >= self.chunk_bytes {
                if let Some(nl) = memchr_last(&raw[searched..filled]) {
                    let cut = searched + nl + 1;
                    self.carry.extend_from_slice(&raw[cut..filled]);
                    raw.truncate(cut);
                    break;
                }
                // `raw[..filled]` is the start of one line (the cut is at the first newline
                // found): it is not kept when it is too long, or has a NUL byte.
                // A NUL within the bound comes first (as in the sequential reader).
                let within = filled.min(self.max_line);
                let nul = memchr::memchr(0, &raw[searched.min(within)..within]).map(|z| End::Nul {
                    column: (searched + z + 1) as u64,
                });
                let bad = nul.or((filled > self.max_line).then_some(End::LineTooLong {
                    limit: self.max_line,
                }));
                if let Some(bad) = bad {
                    raw.clear();
                    chunk.end = bad;
                    self.done = true;
                    break;
                }
                searched = filled;
            }
            // Within a long line, no more than one byte past the bound is read.
            let end = if searched > 0 {
                self.max_line + 1
            } else {
                usize::MAX
            };
            if filled == raw.len() {
                raw.resize((filled + self.chunk_bytes.max(filled / 2)).min(end), 0);
            }
            let end = end.min(raw.len());
            match read_some(&mut self.src, &mut raw[filled..end]) {
                Ok(0) => {
                    raw.truncate(filled);
                    self.done = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) => {
                    // The whole lines before the failure are still read; the chunk ends
                    // with the error after them.
                    let cut = memchr_last(&raw[..filled]).map_or(0, |nl| nl + 1);
                    // A NUL in the line the failure cut is found first, as the sequential
                    // reader finds it.
                    chunk.end = match memchr::memchr(0, &raw[cut..filled]) {
                        Some(z) => End::Nul {
                            column: (z + 1) as u64,
                        },
                        None => End::Read(e),
                    };
                    raw.truncate(cut);
                    self.done = true;
                    break;
                }
            }
        }
        chunk.raw = raw;
        if chunk.raw.is_empty() && matches!(chunk.end, End::Lines) {
            return false;
        }
        true
    }
}

/// Reads into `buf`, retrying interruptions.
fn read_some(src: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match src.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The position of the last `\n` in `b`.
fn memchr_last(b: &[u8]) -> Option<usize> {
    memchr::memrchr(b'\n', b)
}

impl Chunk {
    /// Empties the chunk for reuse, keeping its buffers (within [`MAX_KEPT_BYTES`]).
    pub(crate) fn clear(&mut self) {
        // Parsing moved the read buffer into `text`: it is the buffer to read into again
        // (a fresh one would be fresh pages, each a page fault).
        let text = std::mem::take(&mut self.text).into_bytes();
        if text.capacity() > self.raw.capacity() {
            self.raw = text;
        }
        // Except after a very long line: its buffer is let go, so that memory stays bounded
        // by the chunk size, not by the longest line times the chunks in flight.
        if self.raw.capacity() > MAX_KEPT_BYTES {
            self.raw = Vec::new();
        }
        self.raw.clear();
        self.recs.clear();
        self.lines = 0;
        self.end = End::Lines;
        self.parsed = false;
    }

    /// Parses the chunk's lines into ops (once; again is a no-op).
    pub(crate) fn parse(&mut self) {
        if self.parsed {
            return;
        }
        self.parsed = true;
        let raw = std::mem::take(&mut self.raw);
        // The whole chunk is checked as UTF-8 at once (and becomes the text without a
        // copy); only a chunk with a bad byte is cut before the line that holds it.
        let (text, rest) = match String::from_utf8(raw) {
            Ok(text) => (text, Vec::new()),
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let mut raw = e.into_bytes();
                let cut = memchr_last(&raw[..valid]).map_or(0, |nl| nl + 1);
                let rest = raw.split_off(cut);
                let text = String::from_utf8(raw).unwrap_or_default();
                (text, rest)
            }
        };
        let mut side = String::new();
        let mut recs = std::mem::take(&mut self.recs);
        let base = text.as_ptr() as usize;
        let mut lines = 0u64;
        let mut bad = None;
        for line in text.split_inclusive('\n') {
            lines += 1;
            let op = match parse_history_line_fast(line) {
                Some(op) => op,
                None => match parse_history_line(line.as_bytes(), None, lines) {
                    Line::Op(op) => op,
                    Line::Truncated(_) | Line::Error(_) => {
                        bad = Some(End::BadLine {
                            line: lines,
                            bytes: line.as_bytes().to_vec(),
                        });
                        break;
                    }
                },
            };
            let mut span = |s: Option<&str>| match s {
                None => ABSENT,
                Some(s) => {
                    let p = s.as_ptr() as usize;
                    if p >= base && p + s.len() <= base + text.len() {
                        Span {
                            at: p - base,
                            len: s.len(),
                        }
                    } else {
                        // An unescaped copy (the line had escapes): kept after the lines.
                        let at = text.len() + side.len();
                        side.push_str(s);
                        Span { at, len: s.len() }
                    }
                }
            };
            let json;
            let value = match &op.value {
                ValueRef::Null => None,
                ValueRef::Raw(v) => Some(v.get()),
                ValueRef::Text(t) => Some(*t),
                ValueRef::Json(v) => {
                    json = v.to_string();
                    Some(json.as_str())
                }
            };
            let spans = [
                span(Some(&op.f)),
                span(value),
                span(op.node.as_deref()),
                span(op.error.as_deref()),
            ];
            recs.push(Rec {
                line: lines,
                index: op.index,
                time: op.time,
                process: op.process,
                kind: op.kind,
                spans,
            });
        }
        if bad.is_none() && !rest.is_empty() {
            // The line with the bad byte.
            lines += 1;
            let end = memchr::memchr(b'\n', &rest).map_or(rest.len(), |i| i + 1);
            bad = Some(End::BadLine {
                line: lines,
                bytes: rest[..end].to_vec(),
            });
        }
        let mut text = text;
        text.push_str(&side);
        self.text = text;
        self.recs = recs;
        self.lines = lines;
        if let Some(bad) = bad {
            self.end = bad; // a read error after it is never reached
        }
    }

    /// The bytes of the file it holds (before or after [`Chunk::parse`]).
    pub(crate) fn size(&self) -> usize {
        self.raw.len().max(self.text.len())
    }

    /// The number of ops (after [`Chunk::parse`]).
    pub(crate) fn len(&self) -> usize {
        self.recs.len()
    }

    /// The ops `range` of the chunk, with their line numbers in the file (`first_line` is
    /// the number of the chunk's first line).
    pub(crate) fn ops(
        &self,
        range: std::ops::Range<usize>,
        first_line: u64,
    ) -> impl Iterator<Item = (u64, OpRef<'_>)> {
        let t = self.text.as_str();
        self.recs[range].iter().map(move |r| {
            let s = |i: usize| {
                let Span { at, len } = r.spans[i];
                (len != usize::MAX).then(|| &t[at..at + len])
            };
            let op = OpRef {
                index: r.index,
                time: r.time,
                process: r.process,
                kind: r.kind,
                f: Cow::Borrowed(s(0).unwrap_or_default()),
                value: s(1).map_or(ValueRef::Null, ValueRef::Text),
                node: s(2).map(Cow::Borrowed),
                error: s(3).map(Cow::Borrowed),
            };
            (first_line + r.line - 1, op)
        })
    }

    /// Lines in the chunk (after [`Chunk::parse`]): the next chunk's first line is this
    /// one's plus this.
    pub(crate) fn lines(&self) -> u64 {
        self.lines
    }

    /// What ends the history after this chunk's ops: `None` when the next chunk follows,
    /// else the reader's own error or warning (`first_line` as in [`Chunk::ops`]). Takes the
    /// ending out: asked again, the chunk says `None`.
    pub(crate) fn ending(&mut self, path: Option<&Path>, first_line: u64) -> Option<Ending> {
        let at = |line| Location {
            path: path.map(Path::to_path_buf),
            line,
        };
        match std::mem::replace(&mut self.end, End::Lines) {
            End::Lines => None,
            End::BadLine { line, bytes } => {
                let n = first_line + line - 1;
                Some(match parse_history_line(&bytes, path, n) {
                    Line::Truncated(w) => Ending::Warning(w),
                    Line::Error(e) => Ending::Error(e),
                    // Cannot be: the line did not parse in the chunk. Said plainly if ever.
                    Line::Op(_) => Ending::Error(HistoryError::NotJson {
                        at: at(n),
                        message: "the line parsed differently on a second reading".into(),
                    }),
                })
            }
            End::Read(source) => Some(Ending::Error(HistoryError::Read {
                at: at(first_line - 1 + self.lines),
                source,
            })),
            End::LineTooLong { limit } => Some(Ending::Error(HistoryError::LineTooLong {
                at: at(first_line + self.lines),
                limit,
            })),
            End::Nul { column } => Some(Ending::Error(HistoryError::NulBytes {
                at: at(first_line + self.lines),
                column,
            })),
        }
    }
}

/// How a history ends before its last line: see [`Chunk::ending`].
pub(crate) enum Ending {
    Warning(Warning),
    Error(HistoryError),
}
