//! The readers' fast paths (the hand-written line parser in `histories` and the final-read
//! pass of the tasks checker) give exactly the results of the serde paths they stand in for:
//! the same history, once in the compact shape the writer emits and once with whitespace
//! (which sends both to serde), is checked to identical results, with every task class present
//! and lock anomalies (whose values the locks checker scans without serde when compact).

use checkers::{check_file, CheckOptions, Checker};
use histories::HistoryReader;

const OPS: &str = r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"submit","value":{"task":"t1"}}
{"index":1,"time":20,"process":0,"type":"ok","f":"submit","value":{"task":"t1"},"node":"n1"}
{"index":2,"time":30,"process":1,"type":"invoke","f":"submit","value":{"task":"t2"}}
{"index":3,"time":40,"process":1,"type":"fail","f":"submit","value":{"task":"t2"},"error":"refused"}
{"index":4,"time":50,"process":2,"type":"invoke","f":"submit","value":{"task":"t3"}}
{"index":5,"time":60,"process":2,"type":"info","f":"submit","value":{"task":"t3"}}
{"index":6,"time":70,"process":3,"type":"invoke","f":"submit","value":{"task":"t4"}}
{"index":7,"time":80,"process":3,"type":"ok","f":"submit","value":{"task":"t4"}}
{"index":8,"time":90,"process":4,"type":"invoke","f":"read-tasks","value":null}
"#;

const READ: &str = r#"{"index":9,"time":99,"process":4,"type":"ok","f":"read-tasks","value":{"tasks":{"t1":{"state":"done","runs":2},"t2":{"runs":1,"state":"done"},"t3":{"state":"pending","runs":1},"t9":{"runs":1,"state":"done"}}}}
"#;

/// Two overlapping holds of one lock (a split lock), the second with a smaller token (a
/// regression), a release, and a failed acquire.
const LOCKS: &str = r#"{"index":10,"time":100,"process":5,"type":"invoke","f":"acquire","value":{"lock":"l1","ttl_ms":5000}}
{"index":11,"time":110,"process":5,"type":"ok","f":"acquire","value":{"lock":"l1","token":7,"ttl_ms":5000},"node":"n1"}
{"index":12,"time":120,"process":6,"type":"invoke","f":"acquire","value":{"lock":"l1","ttl_ms":5000}}
{"index":13,"time":130,"process":6,"type":"ok","f":"acquire","value":{"lock":"l1","token":3,"ttl_ms":5000},"node":"n2"}
{"index":14,"time":140,"process":5,"type":"invoke","f":"release","value":{"lock":"l1","token":7}}
{"index":15,"time":150,"process":5,"type":"ok","f":"release","value":{"lock":"l1","token":7}}
{"index":16,"time":160,"process":7,"type":"invoke","f":"acquire","value":{"lock":"l2","ttl_ms":5000}}
{"index":17,"time":170,"process":7,"type":"fail","f":"acquire","value":{"lock":"l2","ttl_ms":5000},"error":"busy"}
"#;

fn results(text: &str) -> serde_json::Value {
    let mut reader = HistoryReader::new(text.as_bytes());
    let mut checker = Checker::new(&CheckOptions::default());
    while let Some(op) = reader.next_ref() {
        checker.observe(&op.expect("valid history"));
    }
    serde_json::to_value(checker.finish(reader.warnings().to_vec())).unwrap()
}

/// The results of reading the file with `HistoryReader` alone, on one thread.
fn file_results(path: &std::path::Path) -> serde_json::Value {
    let mut reader = HistoryReader::open(path).unwrap();
    let mut checker = Checker::new(&CheckOptions::default());
    while let Some(op) = reader.next_ref() {
        checker.observe(&op.expect("valid history"));
    }
    serde_json::to_value(checker.finish(reader.warnings().to_vec())).unwrap()
}

#[test]
fn fast_and_serde_paths_agree() {
    let fast = format!("{OPS}{READ}{LOCKS}");
    let spaced = fast.replace(r#"":{"#, r#"": {"#).replace(r#"","#, r#"", "#);
    assert_ne!(fast, spaced);
    let a = results(&fast);
    let b = results(&spaced);
    assert_eq!(a, b);
    let counts = &a["tasks"]["counts"];
    for class in [
        "lost",
        "phantom",
        "unexpected",
        "not_done",
        "recovered",
        "duplicated",
    ] {
        assert_eq!(counts[class], 1, "{class}: {counts}");
    }
    assert_eq!(a["tasks"]["lost"][0]["task"], "t4");
    assert_eq!(a["tasks"]["unexpected"][0]["task"], "t9");
    let locks = &a["locks"]["counts"];
    assert_eq!(locks["split_locks"], 1, "{locks}");
    assert_eq!(locks["token_regressions"], 1, "{locks}");
    assert_eq!(locks["acquire_failed"], 1, "{locks}");

    // And through check_file (the two-thread pipeline) too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.jsonl");
    std::fs::write(&path, &fast).unwrap();
    let c = serde_json::to_value(check_file(&path, &CheckOptions::default()).unwrap()).unwrap();
    assert_eq!(c, a);
}

#[test]
fn a_large_final_read_gives_the_same_results_through_the_pipeline() {
    // Proves the pipeline's hand-over of a large final read (kept from the reader's batch,
    // not copied, and scanned in two halves on two threads) gives the sequential results.
    let mut text = String::new();
    let mut index = 0;
    let mut line = |text: &mut String, process: u64, kind: &str, f: &str, value: &str| {
        text.push_str(&format!(
            r#"{{"index":{index},"time":{},"process":{process},"type":"{kind}","f":"{f}","value":{value}}}"#,
            index * 10
        ));
        text.push('\n');
        index += 1;
    };
    let n = 12_000;
    // Every 10th id is longer than the table keeps inline.
    let id = |i: u64| {
        if i % 10 == 0 {
            format!("a-task-id-long-enough-to-be-kept-apart-{i}")
        } else {
            format!("task-{i}")
        }
    };
    for i in 0..n {
        let v = format!(r#"{{"task":"{}"}}"#, id(i));
        line(&mut text, i % 7, "invoke", "submit", &v);
        // Every 97th submit fails, yet shows up in the read: a phantom.
        let kind = if i % 97 == 0 { "fail" } else { "ok" };
        line(&mut text, i % 7, kind, "submit", &v);
    }
    let entries: Vec<String> = (0..n)
        .filter(|i| i % 1000 != 5) // lost
        .map(|i| {
            let runs = if i % 500 == 3 { 2 } else { 1 }; // duplicated
            format!(r#""{}":{{"state":"done","runs":{runs}}}"#, id(i))
        })
        .chain(std::iter::once(
            r#""stray":{"state":"done","runs":1}"#.to_string(),
        ))
        .collect();
    let read = format!(r#"{{"tasks":{{{}}}}}"#, entries.join(","));
    assert!(
        read.len() > 300_000,
        "large enough to be split and taken over"
    );
    line(&mut text, 9, "invoke", "read-tasks", "null");
    line(&mut text, 9, "ok", "read-tasks", &read);
    // The history cut right after the read, by a writer killed mid-line: the read is then in
    // the chunk that ends the history with a warning, and must still be kept.
    let cut = format!("{text}{{\"index\":{},\"time\":", text.lines().count());
    let dir = tempfile::tempdir().unwrap();
    let cut_path = dir.path().join("cut.jsonl");
    std::fs::write(&cut_path, &cut).unwrap();
    let piped_cut =
        serde_json::to_value(check_file(&cut_path, &CheckOptions::default()).unwrap()).unwrap();
    assert_eq!(piped_cut, file_results(&cut_path));
    assert_eq!(piped_cut["tasks"]["counts"]["lost"], 12, "{piped_cut}");
    assert!(
        piped_cut["warnings"]
            .to_string()
            .contains("truncated last line"),
        "{piped_cut}"
    );
    // Ops after the read (in later batches than the read's): submits acked after it, one of
    // them an id the read has (its class must follow the later, stronger outcome).
    for i in 0..10_000u64 {
        let v = format!(r#"{{"task":"late-{i}"}}"#);
        line(&mut text, 20 + i % 5, "invoke", "submit", &v);
        line(&mut text, 20 + i % 5, "ok", "submit", &v);
    }
    line(&mut text, 30, "invoke", "submit", r#"{"task":"stray"}"#);
    line(&mut text, 30, "ok", "submit", r#"{"task":"stray"}"#);

    let sequential = results(&text);
    let path = dir.path().join("h.jsonl");
    std::fs::write(&path, &text).unwrap();
    let piped = serde_json::to_value(check_file(&path, &CheckOptions::default()).unwrap()).unwrap();
    assert_eq!(piped, sequential);
    let counts = &piped["tasks"]["counts"];
    assert_eq!(counts["lost"], 12, "{counts}");
    assert_eq!(counts["phantom"], 124, "{counts}");
    assert_eq!(counts["duplicated"], 24, "{counts}");
    assert_eq!(counts["unexpected"], 0, "{counts}");
    assert_eq!(counts["acked_after_read"], 10_000, "{counts}"); // "stray" is in the read
    assert_eq!(counts["read"], n - 12 + 1, "{counts}");
}

#[test]
fn the_first_error_in_the_file_wins_across_the_pipeline_threads() {
    // Proves that with the sequence rules applied on the checking thread and parsing on the
    // reading thread, the error reported is still the first in the file, with its line:
    // here a time going backwards (a sequence rule) before a line that is not JSON.
    let mut text = String::new();
    for i in 0..20_000u64 {
        let time = if i == 15_000 { 5 } else { i * 10 };
        text.push_str(&format!(
            r#"{{"index":{i},"time":{time},"process":{},"type":"invoke","f":"noop"}}"#,
            i
        ));
        text.push('\n');
        if i == 17_000 {
            text.push_str("not json\n");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.jsonl");
    std::fs::write(&path, &text).unwrap();
    let piped = check_file(&path, &CheckOptions::default()).unwrap_err();
    let mut reader = HistoryReader::open(&path).unwrap();
    let sequential = loop {
        match reader.next_ref() {
            Some(Ok(_)) => continue,
            Some(Err(e)) => break e,
            None => panic!("the history has errors"),
        }
    };
    assert_eq!(piped.to_string(), sequential.to_string());
    assert!(
        matches!(piped, histories::HistoryError::TimeBackwards { .. }),
        "{piped}"
    );
    assert!(piped.to_string().contains(":15001:"), "{piped}");
}

#[test]
fn a_large_final_read_in_the_last_chunk_is_kept_when_a_cut_line_follows() {
    // Proves the pipeline keeps a large final read (over 64 KB: taken over from the text it
    // was read in) when the same chunk of the file (256 KB) also ends the history with a
    // truncated-line warning.
    let mut text = String::new();
    let n = 300u64;
    let id = |i: u64| format!("{i:0>200}");
    for i in 0..n {
        let v = format!(r#"{{"task":"{}"}}"#, id(i));
        for (j, kind) in ["invoke", "ok"].into_iter().enumerate() {
            let index = 2 * i + j as u64;
            text.push_str(&format!(
                r#"{{"index":{index},"time":{index},"process":{},"type":"{kind}","f":"submit","value":{v}}}"#,
                i % 5
            ));
            text.push('\n');
        }
    }
    let entries: Vec<String> = (1..n)
        .map(|i| format!(r#""{}":{{"state":"done","runs":1}}"#, id(i)))
        .collect();
    let read = format!(r#"{{"tasks":{{{}}}}}"#, entries.join(","));
    let i = 2 * n;
    text.push_str(&format!(
        "{{\"index\":{i},\"time\":{i},\"process\":9,\"type\":\"invoke\",\"f\":\"read-tasks\"}}\n"
    ));
    text.push_str(&format!(
        "{{\"index\":{},\"time\":{},\"process\":9,\"type\":\"ok\",\"f\":\"read-tasks\",\"value\":{read}}}\n",
        i + 1,
        i + 1
    ));
    text.push_str(&format!("{{\"index\":{},\"ti", i + 2));
    assert!(
        read.len() > 1 << 16 && text.len() < 1 << 18,
        "{}",
        text.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.jsonl");
    std::fs::write(&path, &text).unwrap();
    let piped = serde_json::to_value(check_file(&path, &CheckOptions::default()).unwrap()).unwrap();
    assert_eq!(piped, file_results(&path));
    assert_eq!(
        piped["tasks"]["counts"]["lost"], 1,
        "{}",
        piped["tasks"]["counts"]
    );
    assert_eq!(piped["tasks"]["counts"]["read"], n - 1);
    assert_eq!(piped["warnings"].as_array().map(Vec::len), Some(1));
}
