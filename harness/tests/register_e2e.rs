//! End-to-end tests of `gauntlet run --workload register`: five real `gauntlet-node`
//! processes in the namespace sandbox, real partitions, the linearizability checker.
//!
//! They need root (network namespaces). Not root and `CI` != "true": each test prints why it
//! skips and passes. Under `CI=true` a missing capability fails the test.
//!
//! Time: two runs of 8 s main phase each (about 10 s wall each), in parallel.
//! Reliability of each: see the test's comment.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{can_run, node_bin, GAUNTLET};

/// A register run with partitions every ~2 s for 8 s, four clients per node (so that while
/// the clients of a cut-off node wait for their writes to time out, others still read); returns the output, results.json and
/// the run dir (kept in `store` until it drops). Prints the line that reruns it.
fn register_run(
    seed: u64,
    node_args: &[&str],
    store: &Path,
) -> (Output, serde_json::Value, PathBuf) {
    let mut cmd = Command::new(GAUNTLET);
    cmd.args([
        "run",
        "--workload=register",
        "--nemesis=partition",
        "--time-limit=8s",
        "--nemesis-interval=2s",
        "--concurrency=4n",
        &format!("--seed={seed}"),
    ])
    .args(node_args)
    .arg(format!("--store={}", store.display()))
    .arg(format!("--node-bin={}", node_bin().display()));
    eprintln!("seed {seed}; rerun: {cmd:?}");
    let out = cmd.output().expect("running gauntlet");
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    let dir = std::fs::canonicalize(store.join("latest")).expect("store/latest");
    let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json");
    (out, serde_json::from_str(&text).unwrap(), dir)
}

/// Proves the correct node's KV registers are linearizable under partitions: the run is valid
/// (exit 0), the linearizability checker ran on every key and said so, and the history holds
/// the three op kinds in the documented format.
///
/// Reliability: 10 of 10 seeds (200..=209) with this configuration were valid.
#[test]
fn register_workload_with_partitions_is_linearizable() {
    if !can_run() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let (out, results, dir) = register_run(203, &[], store.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "not valid:\n{}",
        common::all_output(&out)
    );
    let lin = &results["extra"]["linearizable"];
    assert_eq!(lin["valid"], true, "{lin}");
    assert_eq!(lin["detail"]["model"], "cas-register");
    assert!(lin["detail"]["keys"].as_u64().unwrap() >= 4, "{lin}");
    assert!(results["stats"]["by_f"]["cas"]["ok"].as_u64().unwrap() > 0);
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let swapped = history
        .lines()
        .filter(|l| l.contains(r#""f":"cas""#) && l.contains(r#""type":"ok""#))
        .all(|l| l.contains(r#""swapped":"#));
    assert!(swapped, "a cas ok without \"swapped\"");
    assert!(dir.join("linearizable.txt").is_file());
}

/// Proves the planted bug `stale-read` is caught: reads answered from a partitioned node's own
/// acceptor return values the majority side has overwritten, and the run is invalid (exit 1)
/// with the linearizability checker naming a read it cannot linearize.
///
/// Reliability: with this configuration, 12 of 12 seeds (100..=111) were invalid, each with 2
/// to 6 of its 12 keys non-linearizable (measured on the shared 2-core machine at load ~12);
/// seed 104 here had 5. (With two clients per node instead of four, 9 of 10 were: the
/// clients of a cut-off node spend most of a short partition waiting on writes.)
#[test]
fn stale_read_is_caught_as_non_linearizable_under_partitions() {
    if !can_run() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let (out, results, dir) = register_run(104, &["--node-arg=--bug=stale-read"], store.path());
    assert_eq!(
        out.status.code(),
        Some(1),
        "the stale reads were not caught:\n{}",
        common::all_output(&out)
    );
    let lin = &results["extra"]["linearizable"];
    assert_eq!(lin["valid"], false, "{lin}");
    let summary = lin["summary"].as_str().unwrap();
    assert!(summary.contains("not linearizable"), "{summary}");
    // The stale reads are what cannot be linearized (in every sweep run, all of them were).
    let stuck_read = lin["detail"]["failures"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|k| k["counterexample"]["stuck"]["op"].as_str())
        .any(|op| op.starts_with("read "));
    assert!(
        stuck_read,
        "no read among the ops that cannot be linearized: {lin}"
    );
    let text = std::fs::read_to_string(dir.join("linearizable.txt")).unwrap();
    assert!(text.contains("cannot linearize"), "{text}");
}
