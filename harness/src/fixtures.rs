//! Test fixtures made by the real checkers (never hand-written result shapes): results of
//! small histories with a known anomaly, for the repro, torture and bug-hunt tests.

use checkers::{CheckOptions, Results};
use histories::{Op, OpType, Process};
use serde_json::json;

/// The ops of a history where processes 0 and 1 both hold lock `l0` at once (a split lock:
/// indexes 0-3); op `i` is at `(i + 1) * ms` ms.
pub(crate) fn split_lock_ops(ms: u64) -> Vec<Op> {
    let op = |index: u64, process, kind, value| Op {
        index,
        time: (index + 1) * ms * 1_000_000,
        process: Process::Client(process),
        kind,
        f: "acquire".into(),
        value,
        node: None,
        error: None,
    };
    let acq = json!({"lock": "l0", "ttl_ms": 2000});
    let ok = |t: u64| json!({"lock": "l0", "ttl_ms": 2000, "token": t});
    vec![
        op(0, 0, OpType::Invoke, acq.clone()),
        op(1, 0, OpType::Ok, ok(1)),
        op(2, 1, OpType::Invoke, acq),
        op(3, 1, OpType::Ok, ok(2)),
    ]
}

/// What the checkers say of [`split_lock_ops`]: invalid, one `locks: split-lock`.
pub(crate) fn split_lock_results() -> Results {
    checkers::check_ops(split_lock_ops(1), &CheckOptions::default())
}

/// A finished run directory `dir` holding [`split_lock_ops`] (at `ms` ms per index) as
/// history.jsonl and the checkers' results.json.
pub(crate) fn split_lock_run(dir: &std::path::Path, ms: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let ops = split_lock_ops(ms);
    let lines: Vec<String> = ops
        .iter()
        .map(|o| serde_json::to_string(o).unwrap())
        .collect();
    std::fs::write(dir.join("history.jsonl"), lines.join("\n") + "\n").unwrap();
    let results = checkers::check_ops(ops, &CheckOptions::default());
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string(&results).unwrap(),
    )
    .unwrap();
}
