use super::*;
use serde_json::json;

const INV0: &str =
    r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"submit","value":{"task":"t1"}}"#;
const OK1: &str =
    r#"{"index":1,"time":20,"process":0,"type":"ok","f":"submit","value":{"task":"t1"}}"#;

fn read_all(text: &str) -> (Vec<Op>, Option<HistoryError>, Vec<Warning>) {
    let mut r = HistoryReader::new(text.as_bytes()).with_path("h.jsonl");
    let mut ops = Vec::new();
    let mut err = None;
    for item in r.by_ref() {
        match item {
            Ok(op) => ops.push(op),
            Err(e) => err = Some(e),
        }
    }
    let w = r.warnings().to_vec();
    (ops, err, w)
}

/// One malformed-input case: the text, a variant test, a phrase the message must contain.
type Case = (String, fn(&HistoryError) -> bool, &'static str);

fn err_of(text: &str) -> HistoryError {
    read_all(text).1.expect("expected an error")
}

#[test]
fn reads_a_valid_history() {
    // Proves a well-formed history yields every op, absent value is Null, optional fields kept.
    let text = format!(
        "{INV0}\n{OK1}\n{}\n",
        r#"{"index":2,"time":30,"process":"nemesis","type":"info","f":"kill","node":"n1","error":"x"}"#
    );
    let (ops, err, w) = read_all(&text);
    assert!(err.is_none(), "{err:?}");
    assert!(w.is_empty());
    assert_eq!(ops.len(), 3);
    assert_eq!(ops[0].value, json!({"task": "t1"}));
    assert_eq!(ops[2].value, serde_json::Value::Null);
    assert_eq!(ops[2].process, Process::Nemesis);
    assert_eq!(ops[2].error.as_deref(), Some("x"));
}

#[test]
fn complete_last_line_without_newline_is_accepted() {
    // Proves a missing final newline alone is not treated as truncation.
    let (ops, err, w) = read_all(&format!("{INV0}\n{OK1}"));
    assert!(err.is_none());
    assert!(w.is_empty());
    assert_eq!(ops.len(), 2);
}

#[test]
fn truncated_last_line_is_a_warning() {
    // Proves a cut-off final line ends the history with a warning naming file and line.
    for cut in [1, 10, OK1.len() - 1] {
        let text = format!("{INV0}\n{}", &OK1[..cut]);
        let (ops, err, w) = read_all(&text);
        assert!(err.is_none(), "cut {cut}: {err:?}");
        assert_eq!(ops.len(), 1);
        assert_eq!(w.len(), 1, "cut {cut}");
        assert_eq!(w[0].line, 2);
        assert!(w[0]
            .to_string()
            .starts_with("h.jsonl:2: truncated last line"));
    }
}

#[test]
fn truncated_line_in_the_middle_is_an_error() {
    // Proves only the last line may be cut off.
    let text = format!("{INV0}\n{}\n{OK1}\n", &OK1[..20]);
    let e = err_of(&text);
    assert!(matches!(e, HistoryError::NotJson { .. }), "{e}");
    assert_eq!(e.location().unwrap().line, 2);
    assert!(e.to_string().starts_with("h.jsonl:2: not JSON"), "{e}");
}

#[test]
fn each_input_error_names_its_line() {
    // Proves each malformed-line class maps to its variant with the right line number.
    let cases: Vec<Case> = vec![
        (
            format!("{INV0}\nnot json\n"),
            |e| matches!(e, HistoryError::NotJson { .. }),
            "not JSON",
        ),
        (
            format!("{INV0}\n\n"),
            |e| matches!(e, HistoryError::EmptyLine { .. }),
            "empty line",
        ),
        (
            format!(
                "{INV0}\n{}\n",
                r#"{"index":1,"process":0,"type":"ok","f":"submit"}"#
            ),
            |e| matches!(e, HistoryError::BadField { .. }),
            "missing field `time`",
        ),
        (
            format!(
                "{INV0}\n{}\n",
                r#"{"index":1,"time":"x","process":0,"type":"ok","f":"submit"}"#
            ),
            |e| matches!(e, HistoryError::BadField { .. }),
            "invalid type",
        ),
        (
            format!(
                "{INV0}\n{}\n",
                r#"{"index":1,"time":20,"process":-3,"type":"ok","f":"submit"}"#
            ),
            |e| matches!(e, HistoryError::BadField { .. }),
            "non-negative integer",
        ),
        (
            format!(
                "{INV0}\n{}\n",
                r#"{"index":1,"time":20,"process":0,"type":"done","f":"submit"}"#
            ),
            |e| matches!(e, HistoryError::UnknownType { .. }),
            "unknown type \"done\"",
        ),
        (
            format!(
                "{INV0}\n{}\n",
                r#"{"index":2,"time":20,"process":0,"type":"ok","f":"submit"}"#
            ),
            |e| {
                matches!(
                    e,
                    HistoryError::IndexOutOfSequence {
                        found: 2,
                        expected: 1,
                        ..
                    }
                )
            },
            "index 2 out of sequence (expected 1)",
        ),
        (
            format!(
                "{INV0}\n{}\n",
                r#"{"index":1,"time":5,"process":0,"type":"ok","f":"submit"}"#
            ),
            |e| {
                matches!(
                    e,
                    HistoryError::TimeBackwards {
                        found: 5,
                        previous: 10,
                        ..
                    }
                )
            },
            "goes backwards",
        ),
        (
            format!(
                "{INV0}\n{}\n",
                r#"{"index":1,"time":20,"process":1,"type":"ok","f":"submit"}"#
            ),
            |e| matches!(e, HistoryError::CompletionWithoutInvoke { .. }),
            "no outstanding invoke",
        ),
        (
            format!(
                "{INV0}\n{}\n",
                r#"{"index":1,"time":20,"process":0,"type":"invoke","f":"submit"}"#
            ),
            |e| {
                matches!(
                    e,
                    HistoryError::SecondInvoke {
                        outstanding_index: 0,
                        ..
                    }
                )
            },
            "second invoke",
        ),
        (
            format!(
                "{INV0}\n{}\n{}\n",
                r#"{"index":1,"time":20,"process":0,"type":"info","f":"submit"}"#,
                r#"{"index":2,"time":30,"process":0,"type":"invoke","f":"submit"}"#
            ),
            |e| matches!(e, HistoryError::ProcessReused { info_index: 1, .. }),
            "used again after its info",
        ),
        (
            format!("{INV0}\n{}\n", r#"[1,2]"#),
            |e| matches!(e, HistoryError::BadField { .. }),
            "a JSON object",
        ),
    ];
    for (text, is, needle) in cases {
        let e = err_of(&text);
        assert!(is(&e), "wrong variant for {text:?}: {e:?}");
        let msg = e.to_string();
        assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
        let line = text.lines().count() as u64;
        assert_eq!(e.location().unwrap().line, line, "{msg}");
        assert!(msg.starts_with(&format!("h.jsonl:{line}: ")), "{msg}");
    }
}

#[test]
fn reader_stops_after_an_error() {
    // Proves the reader is fused after an error (no cascade of follow-on errors).
    let text = format!("not json\n{INV0}\n");
    let mut r = HistoryReader::new(text.as_bytes());
    assert!(r.next().unwrap().is_err());
    assert!(r.next().is_none());
}

#[test]
fn escaped_strings_are_read_correctly() {
    // Proves the borrowed fast path handles escapes (falls back to an owned copy).
    let text = r#"{"index":0,"time":1,"process":"nemesis","type":"info","f":"a\"b","error":"x\ny","node":"n\u0031"}
"#;
    let (ops, err, _) = read_all(text);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ops[0].f, "a\"b");
    assert_eq!(ops[0].error.as_deref(), Some("x\ny"));
    assert_eq!(ops[0].node.as_deref(), Some("n1"));
}

#[test]
fn writer_round_trips_and_refuses_to_overwrite() {
    // Proves what the writer appends the reader reads back identically, and that an existing
    // history is never clobbered.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let ops: Vec<Op> = read_all(&format!("{INV0}\n{OK1}\n")).0;
    let mut w = HistoryWriter::create(&path).unwrap();
    for op in &ops {
        w.append(op).unwrap();
    }
    // Visible to readers before close: each append reached the OS.
    let before: Vec<Op> = HistoryReader::open(&path)
        .unwrap()
        .collect::<Result<_>>()
        .unwrap();
    assert_eq!(before, ops);
    w.close().unwrap();
    let e = HistoryWriter::create(&path).unwrap_err();
    assert!(matches!(e, HistoryError::Open { .. }));
    assert!(e.to_string().contains("history.jsonl"));
}

#[test]
fn open_missing_file_names_it() {
    // Proves a missing file is a clear error naming the path.
    let e = HistoryReader::open("/nonexistent/h.jsonl").unwrap_err();
    assert!(e
        .to_string()
        .starts_with("/nonexistent/h.jsonl: cannot open"));
    assert!(e.is_bad_input());
}

/// A source that counts the bytes read from it, to prove how far a reader went.
struct Counting<R> {
    inner: R,
    read: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// A reader over `head`, then `tail` repeated without end, through a 4 KiB buffer; and the
/// count of bytes it has read from its source.
fn endless(
    head: String,
    tail: u8,
    max_line: usize,
) -> (
    HistoryReader<std::io::BufReader<impl std::io::Read>>,
    std::rc::Rc<std::cell::Cell<u64>>,
) {
    use std::io::Read;
    let read = std::rc::Rc::new(std::cell::Cell::new(0));
    let src = Counting {
        inner: std::io::Cursor::new(head.into_bytes()).chain(std::io::repeat(tail)),
        read: read.clone(),
    };
    let r = HistoryReader::new(std::io::BufReader::with_capacity(4096, src))
        .with_path("h.jsonl")
        .with_max_line(max_line);
    (r, read)
}

#[test]
fn a_line_without_end_is_refused_after_the_bound() {
    // Proves a file without newlines (here an endless one, like /dev/zero of 'x') ends in an
    // error naming the line once the bound is read, having read no more than the bound and
    // one buffer: memory and time are bounded by the limit, not by the file.
    let (mut r, read) = endless(format!("{INV0}\n{OK1}\n"), b'x', 100_000);
    let ops: Vec<_> = r.by_ref().collect();
    assert_eq!(ops.len(), 3, "two ops, then the error");
    let e = ops.into_iter().last().unwrap().unwrap_err();
    assert!(
        matches!(e, HistoryError::LineTooLong { limit: 100_000, .. }),
        "{e:?}"
    );
    assert_eq!(e.location().unwrap().line, 3);
    assert!(
        e.to_string()
            .starts_with("h.jsonl:3: line longer than 100000 bytes"),
        "{e}"
    );
    assert!(
        read.get() <= 100_000 + 2 * 4096 + 200,
        "read {} bytes",
        read.get()
    );
}

#[test]
fn the_line_bound_is_exact() {
    // Proves a line of exactly the bound (without its newline) is read, and one byte more is
    // refused, with or without a final newline.
    for text in [format!("{INV0}\n"), INV0.to_string()] {
        let ok = HistoryReader::new(text.as_bytes()).with_max_line(INV0.len());
        assert_eq!(ok.collect::<Result<Vec<_>>>().unwrap().len(), 1);
        let mut short = HistoryReader::new(text.as_bytes()).with_max_line(INV0.len() - 1);
        let e = short.next().unwrap().unwrap_err();
        assert!(matches!(e, HistoryError::LineTooLong { .. }), "{e:?}");
        assert!(short.next().is_none(), "nothing after the error");
    }
}

#[test]
fn a_tail_of_nul_bytes_is_an_error_at_its_first_byte() {
    // Proves the unwritten blocks a crash leaves (NULs after the last good line, here without
    // end) are refused at once, naming the line and column, after reading about one buffer
    // (not the whole line bound): a 200 MB NUL tail costs no memory.
    let (mut r, read) = endless(format!("{INV0}\n{OK1}\n"), 0, crate::MAX_LINE_BYTES);
    let ops: Vec<_> = r.by_ref().collect();
    assert_eq!(ops.len(), 3, "two ops, then the error");
    let e = ops.into_iter().last().unwrap().unwrap_err();
    assert!(
        matches!(e, HistoryError::NulBytes { column: 1, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("h.jsonl:3: NUL bytes at column 1"),
        "{e}"
    );
    assert!(read.get() <= 3 * 4096, "read {} bytes", read.get());
    // NULs after a cut line (no newline): an error too, not a truncation warning.
    let cut = &OK1[..20];
    let (mut r, _) = endless(format!("{INV0}\n{cut}"), 0, crate::MAX_LINE_BYTES);
    let e = r.nth(1).unwrap().unwrap_err();
    assert!(
        matches!(e, HistoryError::NulBytes { column: 21, .. }),
        "{e:?}"
    );
    assert!(r.warnings().is_empty());
}

#[test]
fn a_nul_byte_in_a_short_line_is_named() {
    // Proves a NUL inside an ordinary line (left to the parser on the fast path) still gives
    // the NUL error with its column, whether or not the line has its newline.
    for end in ["\n", ""] {
        let text = format!("{INV0}\n{{\"index\":1,\0\0{end}");
        let e = err_of(&text);
        assert!(
            matches!(e, HistoryError::NulBytes { column: 12, .. }),
            "{e:?}"
        );
        assert_eq!(e.location().unwrap().line, 2);
    }
}
