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
