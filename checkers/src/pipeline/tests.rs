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
    let src = Failing {
        text,
        at: 0,
        fail_at,
    };
    let mut reader = HistoryReader::new(BufReader::new(src));
    let mut checker = Checker::new(&CheckOptions::default());
    while let Some(op) = reader.next_ref() {
        checker.observe(&op.map_err(|e| e.to_string())?);
    }
    let results = checker.finish(reader.warnings().to_vec());
    Ok(serde_json::to_value(results).unwrap())
}

fn piped(text: &[u8], chunk: usize, fail_at: Option<usize>) -> Result<serde_json::Value, String> {
    let src = Failing {
        text,
        at: 0,
        fail_at,
    };
    let mut checker = Checker::new(&CheckOptions::default());
    let warnings = run_with(
        ChunkReader::with_chunk_bytes(src, chunk),
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
        kind in 0u8..9,
        at in any::<usize>(),
        chunk in prop_oneof![1usize..64, 64usize..2048, Just(1usize << 18)],
        fail_at in proptest::option::weighted(0.2, any::<usize>()),
    ) {
        let mut text = history(seed, clients, invocations);
        damage(&mut text, kind, at);
        let fail_at = fail_at.map(|f| f % (text.len() + 1));
        let want = sequential(&text, fail_at);
        let got = piped(&text, chunk, fail_at);
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
