//! The readers' fast paths (the hand-written line parser in `histories` and the final-read
//! pass of the tasks checker) give exactly the results of the serde paths they stand in for:
//! the same history, once in the compact shape the writer emits and once with whitespace
//! (which sends both to serde), is checked to identical results, with every task class present.

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

fn results(text: &str) -> serde_json::Value {
    let mut reader = HistoryReader::new(text.as_bytes());
    let mut checker = Checker::new(&CheckOptions::default());
    while let Some(op) = reader.next_ref() {
        checker.observe(&op.expect("valid history"));
    }
    serde_json::to_value(checker.finish(Vec::new())).unwrap()
}

#[test]
fn fast_and_serde_paths_agree() {
    let fast = format!("{OPS}{READ}");
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

    // And through check_file (the two-thread pipeline) too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.jsonl");
    std::fs::write(&path, &fast).unwrap();
    let c = serde_json::to_value(check_file(&path, &CheckOptions::default()).unwrap()).unwrap();
    assert_eq!(c, a);
}
