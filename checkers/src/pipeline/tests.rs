//! The pipeline against the plain sequential reader, with chunks of every size: the same
//! results, warnings and first error, whatever the history and wherever the chunks cut it.

use std::io::{BufReader, Read};

use histories::HistoryReader;
use proptest::prelude::*;

use super::run_with;
use crate::chunks::ChunkReader;
use crate::synth::{synthesize, SynthConfig};
use crate::{CheckOptions, Checker};

/// Gives `text` up to byte `fail_at`, then an error.
struct Failing<'a> {
    text: &'a [u8],
    at: usize,
    fail_at: Option<usize>,
}

impl Read for Failing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let end = self.fail_at.unwrap_or(usize::MAX).min(self.text.len());
        if self.at >= end && self.fail_at.is_some_and(|f| f <= self.text.len()) {
            return Err(std::io::Error::other("disk on fire"));
        }
        // Short reads too, as a pipe or a slow disk gives them.
        let n = buf.len().min(end - self.at).min(1000);
        buf[..n].copy_from_slice(&self.text[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn sequential(text: &[u8], fail_at: Option<usize>) -> Result<serde_json::Value, String> {
    sequential_bounded(text, fail_at, histories::MAX_LINE_BYTES)
}

fn sequential_bounded(
    text: &[u8],
    fail_at: Option<usize>,
    max_line: usize,
) -> Result<serde_json::Value, String> {
    let src = Failing {
        text,
        at: 0,
        fail_at,
    };
    let mut reader = HistoryReader::new(BufReader::new(src)).with_max_line(max_line);
    let mut checker = Checker::new(&CheckOptions::default());
    while let Some(op) = reader.next_ref() {
        checker.observe(&op.map_err(|e| e.to_string())?);
    }
    let results = checker.finish(reader.warnings().to_vec());
    Ok(serde_json::to_value(results).unwrap())
}

fn piped(text: &[u8], chunk: usize, fail_at: Option<usize>) -> Result<serde_json::Value, String> {
    piped_bounded(text, chunk, fail_at, histories::MAX_LINE_BYTES)
}

fn piped_bounded(
    text: &[u8],
    chunk: usize,
    fail_at: Option<usize>,
    max_line: usize,
) -> Result<serde_json::Value, String> {
    let src = Failing {
        text,
        at: 0,
        fail_at,
    };
    let mut checker = Checker::new(&CheckOptions::default());
    let warnings = run_with(
        ChunkReader::with_limits(src, chunk, max_line),
        None,
        &mut checker,
    )
    .map_err(|e| e.to_string())?;
    Ok(serde_json::to_value(checker.finish(warnings)).unwrap())
}

fn history(seed: u64, clients: usize, invocations: u64) -> Vec<u8> {
    let cfg = SynthConfig {
        seed,
        clients,
        invocations,
        ..SynthConfig::default()
    };
    let mut text = Vec::new();
    synthesize(&cfg, |op| {
        serde_json::to_writer(&mut text, &op).unwrap();
        text.push(b'\n');
    });
    text
}

/// The start of the line that holds byte `at` (or the end).
fn line_start(text: &[u8], at: usize) -> usize {
    text[..at.min(text.len())]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1)
}

/// Damages `text` the way `kind` says, at about byte `at`.
fn damage(text: &mut Vec<u8>, kind: u8, at: usize) {
    let at = at % (text.len() + 1);
    let start = line_start(text, at);
    match kind {
        // Cut anywhere: mid-line is a truncated last line (a warning), else nothing.
        1 => text.truncate(at),
        2 => {
            text.splice(start..start, b"{oops\n".iter().copied());
        }
        3 => text.insert(at, 0xff),
        // Two lines swapped: a sequence rule breaks.
        4 => {
            let next = memchr::memchr(b'\n', &text[start..]).map(|i| start + i + 1);
            if let Some(next) = next.filter(|&n| n < text.len()) {
                let a = text[start..next].to_vec();
                let end = memchr::memchr(b'\n', &text[next..]).map_or(text.len(), |i| next + i + 1);
                let b = text[next..end].to_vec();
                text.splice(start..end, b.into_iter().chain(a));
            }
        }
        // An escaped `f` (the reader's slow path; the op's string is a copy).
        5 => {
            if let Some(i) = memchr::memmem::find(&text[start..], br#""f":""#) {
                let c = start + i + 5;
                if c < text.len() && text[c].is_ascii_alphabetic() {
                    let esc = format!("\\u{:04x}", text[c]);
                    text.splice(c..=c, esc.into_bytes());
                }
            }
        }
        6 => {
            text.splice(start..start, b"  \n".iter().copied());
        }
        // Another key order and a non-ASCII node (the slow path, borrowing).
        7 if text.get(start) == Some(&b'{') => {
            text.splice(start + 1..start + 1, "\"node\":\"nœud\",".bytes());
        }
        // An incomplete UTF-8 sequence at the very end: a truncated last line.
        8 => text.extend_from_slice(&[b'{', 0xe2, 0x82]),
        // A crash's unwritten blocks: a cut, then NULs to the end.
        9 => {
            text.truncate(at);
            text.resize(at + 1 + at % 5000, 0);
        }
        // One NUL byte anywhere.
        10 => text.insert(at, 0),
        // A long line (not JSON): longer or shorter than the line bound.
        11 => {
            let line = std::iter::repeat_n(b'x', at % 6000).chain([b'\n']);
            text.splice(start..start, line);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_pipeline_reads_as_the_sequential_reader_does(
        seed in any::<u64>(),
        clients in 1usize..6,
        invocations in 0u64..120,
        kind in 0u8..12,
        at in any::<usize>(),
        chunk in prop_oneof![1usize..64, 64usize..2048, Just(1usize << 18)],
        fail_at in proptest::option::weighted(0.2, any::<usize>()),
        max_line in prop_oneof![Just(histories::MAX_LINE_BYTES), 200usize..5000],
    ) {
        let mut text = history(seed, clients, invocations);
        damage(&mut text, kind, at);
        let fail_at = fail_at.map(|f| f % (text.len() + 1));
        // The chunked reader measures a line once it outgrows twice a chunk.
        let max_line = max_line.max(2 * chunk);
        let want = sequential_bounded(&text, fail_at, max_line);
        let got = piped_bounded(&text, chunk, fail_at, max_line);
        prop_assert_eq!(got, want);
    }
}

#[test]
fn an_empty_history_and_a_read_error_at_once() {
    assert_eq!(piped(b"", 7, None), sequential(b"", None));
    let err = piped(b"", 7, Some(0)).unwrap_err();
    assert_eq!(Err(err.clone()), sequential(b"", Some(0)));
    assert!(err.contains("disk on fire"), "{err}");
}

/// Counts the bytes read from `inner` (the reader runs on another thread).
struct Counting<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// The pipeline over `head` then `tail` without end (chunks of 4 KiB, lines of at most
/// 100,000 bytes): its error, and how many bytes it read.
fn endless(head: &[u8], tail: u8) -> (String, usize) {
    let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let src = Counting {
        inner: std::io::Cursor::new(head.to_vec()).chain(std::io::repeat(tail)),
        read: read.clone(),
    };
    let mut checker = Checker::new(&CheckOptions::default());
    let path = std::path::Path::new("h.jsonl");
    let err = run_with(
        ChunkReader::with_limits(src, 4096, 100_000),
        Some(path),
        &mut checker,
    )
    .unwrap_err();
    (
        err.to_string(),
        read.load(std::sync::atomic::Ordering::Relaxed),
    )
}

#[test]
fn an_endless_line_is_refused_after_the_bound() {
    // Proves the chunked reading of `gauntlet check` stops a line without end (as
    // /dev/zero of 'x') once the bound is read, naming the line, having read about the bound
    // (not more: memory is bounded by the limit, not the file).
    let head = history(3, 2, 10);
    let lines = head.iter().filter(|&&c| c == b'\n').count();
    let (err, read) = endless(&head, b'x');
    let want = format!("h.jsonl:{}: line longer than 100000 bytes", lines + 1);
    assert!(err.starts_with(&want), "{err}");
    assert!(read <= head.len() + 100_001 + 2 * 4096, "read {read} bytes");
}

#[test]
fn an_endless_nul_tail_is_refused_at_once() {
    // Proves a crash's NUL tail after the last good line is an error at its first byte,
    // found after about one chunk, not after the line bound (nor the whole tail).
    let head = history(4, 2, 10);
    let lines = head.iter().filter(|&&c| c == b'\n').count();
    let (err, read) = endless(&head, 0);
    let want = format!("h.jsonl:{}: NUL bytes at column 1", lines + 1);
    assert!(err.starts_with(&want), "{err}");
    // Read ahead is two chunks of the queue, each read in pieces of at most 2 chunks.
    assert!(read <= head.len() + 8 * 4096, "read {read} bytes");
}
