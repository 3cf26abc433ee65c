//! The reader never panics: arbitrary bytes, arbitrary lines, and valid histories with one
//! line damaged all end in ops, a warning, or an error naming a line that exists.
//!
//! Rerun a failure: `cargo test -p histories --test reader_fuzz` (proptest replays the case
//! saved in proptest-regressions/ first and prints the minimal input).

use histories::{HistoryError, HistoryReader};
use proptest::prelude::*;

const GOOD: &[&str] = &[
    r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"submit","value":{"task":"t1"}}"#,
    r#"{"index":1,"time":20,"process":1,"type":"invoke","f":"acquire","value":{"lock":"l0","ttl_ms":2000}}"#,
    r#"{"index":2,"time":30,"process":0,"type":"ok","f":"submit","value":{"task":"t1"},"node":"n1"}"#,
    r#"{"index":3,"time":40,"process":"nemesis","type":"info","f":"kill","value":{"nodes":["n1"]}}"#,
    r#"{"index":4,"time":50,"process":1,"type":"info","f":"acquire","error":"timed out"}"#,
];

/// Reads everything; returns (ops, error). Panics only if the reader does.
fn drain(bytes: &[u8]) -> (usize, Option<HistoryError>, usize) {
    let mut r = HistoryReader::new(bytes);
    let mut n = 0;
    let mut err = None;
    for item in r.by_ref() {
        match item {
            Ok(_) => n += 1,
            Err(e) => err = Some(e),
        }
    }
    (n, err, r.warnings().len())
}

fn line_count(bytes: &[u8]) -> u64 {
    bytes.split(|b| *b == b'\n').count() as u64
}

fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (n, err, warnings) = drain(bytes);
    if let Some(e) = &err {
        let line = e.location().expect("read errors name a line").line;
        prop_assert!(line >= 1 && line <= line_count(bytes), "{e}");
        prop_assert_eq!(
            n as u64,
            line - 1,
            "ops before the error line are all yielded"
        );
    }
    prop_assert!(warnings <= 1);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary bytes: an error or nothing, never a panic.
    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check(&bytes)?;
    }

    /// Arbitrary printable lines, some JSON-looking.
    #[test]
    fn arbitrary_lines(lines in proptest::collection::vec(
        prop_oneof![
            "\\PC{0,60}",
            r#"\{"index":[0-9]{1,3},"time":-?[0-9]{1,4},"process":("nemesis"|-?[0-9]|"x"),"type":"(invoke|ok|fail|info|x)","f":"[a-z]{0,3}"(,"value":(null|1|\{\}|\[\]))?\}"#,
        ],
        0..12,
    )) {
        check(lines.join("\n").as_bytes())?;
    }

    /// A valid history with one byte overwritten or the text cut anywhere.
    #[test]
    fn damaged_valid_history(pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let mut text = GOOD.join("\n").into_bytes();
        text.push(b'\n');
        let i = pos.index(text.len());
        if cut {
            text.truncate(i);
        } else {
            text[i] = byte;
        }
        check(&text)?;
        if cut {
            // A cut inside the last line is a warning, never an error.
            let (n, err, _) = drain(&text);
            prop_assert!(err.is_none(), "{:?}", err);
            prop_assert!(n <= GOOD.len());
        }
    }
}
