//! End-to-end tests of `gauntlet torture`, `gauntlet merge` and `gauntlet repro`: real
//! `gauntlet run`s of real `gauntlet-node` clusters in the namespace sandbox.
//!
//! They need root (network namespaces). Not root and `CI` != "true": each test prints why it
//! skips and passes. Under `CI=true` a missing capability fails the test.
//!
//! Time: runs are short (3-6 s main phase); the tests run in parallel (each `gauntlet`
//! process has its own controller namespace). About 1-2 minutes on 2 cores, debug build.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{can_run, node_bin, GAUNTLET};

/// `gauntlet <sub> ARGS --store STORE --node-bin …`, printing the line that reruns it.
fn gauntlet(sub: &str, args: &[String], store: &Path) -> Output {
    let mut cmd = Command::new(GAUNTLET);
    cmd.arg(sub).args(args);
    if sub != "merge" {
        cmd.arg(format!("--store={}", store.display()));
    }
    if sub == "torture" {
        cmd.arg(format!("--node-bin={}", node_bin().display()));
    }
    eprintln!("rerun: {cmd:?}");
    let out = cmd.output().expect("running gauntlet");
    eprintln!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The `name="seed N"` of every testcase of a JUnit document.
fn testcases(xml: &str) -> Vec<u64> {
    xml.match_indices("<testcase ")
        .map(|(i, _)| {
            let rest = &xml[i..];
            let at = rest.find("name=\"seed ").expect("testcase name") + "name=\"seed ".len();
            rest[at..].split('"').next().unwrap().parse().unwrap()
        })
        .collect()
}

/// The text of the testcase for `seed`.
fn testcase(xml: &str, seed: u64) -> String {
    let at = xml
        .find(&format!("name=\"seed {seed}\""))
        .expect("testcase");
    let rest = &xml[at..];
    rest[..rest.find("</testcase>").unwrap()].to_string()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Short runs: 5 s main phase, faults every ~2 s, recovery up to 20 s (ends early once done).
const SHORT: [&str; 4] = [
    "--time-limit=5s",
    "--nemesis-interval=2s",
    "--recovery=20s",
    "--plain",
];

/// Proves: three seeds against the correct node all pass (exit 0), the JUnit file is
/// well-formed enough to hold exactly one passing testcase per seed, progress is printed as
/// plain lines when stderr is not a terminal, and passing run directories are pruned.
#[test]
fn three_seeds_against_the_correct_node_pass() {
    if !can_run() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut args = strings(&["--seeds=301..304"]);
    args.extend(strings(&SHORT));
    args.push(format!("--out={}", out.display()));
    let o = gauntlet("torture", &args, tmp.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(0),
        "torture of seeds 301..304 should be valid"
    );
    let xml = read(&out.join("junit.xml"));
    assert!(xml.starts_with("<?xml"), "{xml}");
    harness::junit::well_formed(&xml).unwrap_or_else(|e| panic!("junit.xml: {e}"));
    assert_eq!(testcases(&xml), vec![301, 302, 303]);
    assert!(
        !xml.contains("<failure") && !xml.contains("<error"),
        "{xml}"
    );
    assert!(
        stderr.contains("torture: [1/3] seed 301: starting"),
        "plain progress lines: {stderr}"
    );
    assert!(
        stderr.contains("torture: [3/3] seed 303: valid in"),
        "{stderr}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    for run in summary["runs"].as_array().unwrap() {
        let dir = run["run_dir"].as_str().unwrap();
        assert!(!Path::new(dir).exists(), "valid run {dir} should be pruned");
    }
}

/// Proves: a planted bug makes torture of real processes exit 1, and the failing testcase
/// carries the exact repro command (its seed and the node args) and a kept run with its
/// report. Reliability: lock-without-quorum under partitions is detected in nearly every
/// 5 s run (docs/bug-hunt.md); the test needs one of seeds 311 and 312 to detect it.
/// That the printed command and `gauntlet repro` reproduce the failure is proven
/// deterministically, without retries, on the simulator (sim_cli.rs,
/// `a_failing_simulated_seed_reproduces_exactly_in_one_try`): a rerun of real processes is
/// not exact, so asserting it here needed retries.
#[test]
fn a_planted_bug_fails_with_its_repro_command_in_junit() {
    if !can_run() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut args = strings(&[
        "--seeds=311..313",
        "--nemesis=partition",
        "--workload=locks",
        "--node-arg=--bug=lock-without-quorum",
    ]);
    args.extend(strings(&SHORT));
    args.push(format!("--out={}", out.display()));
    let o = gauntlet("torture", &args, tmp.path());
    assert_eq!(o.status.code(), Some(1), "the planted bug must be found");
    let xml = read(&out.join("junit.xml"));
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    let failing = summary["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["verdict"] == "invalid")
        .expect("an invalid run");
    let seed = failing["seed"].as_u64().unwrap();
    harness::junit::well_formed(&xml).unwrap_or_else(|e| panic!("junit.xml: {e}"));
    let case = testcase(&xml, seed);
    assert!(case.contains("<failure type=\"invalid\""), "{case}");
    let repro = case
        .lines()
        .find_map(|l| l.strip_prefix("repro: "))
        .expect("repro line in the failing testcase")
        .to_string();
    assert!(
        repro.contains(&format!("--seed={seed}")) || repro.contains(&format!("--seed {seed}")),
        "{repro}"
    );
    assert!(
        repro.contains("lock-without-quorum"),
        "the repro keeps the node args: {repro}"
    );
    assert!(
        repro.starts_with("gauntlet run "),
        "the repro is a gauntlet run command: {repro}"
    );
    let run_dir = failing["run_dir"].as_str().unwrap();
    assert!(
        Path::new(run_dir).join("report.html").is_file(),
        "the kept run has its report"
    );
}

/// Proves: shards 1/2 and 2/2 of a seed range together run exactly the seeds of the
/// unsharded run, each once, and `gauntlet merge` joins their JUnit and summaries into one
/// holding all of them.
#[test]
fn shards_cover_exactly_the_unsharded_seeds_and_merge() {
    if !can_run() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = strings(&[
        "--seeds=321..326",
        "--nemesis=none",
        "--time-limit=3s",
        "--recovery=20s",
        "--plain",
    ]);
    let runs: Vec<(Option<&str>, PathBuf)> = vec![
        (None, tmp.path().join("all")),
        (Some("1/2"), tmp.path().join("s1")),
        (Some("2/2"), tmp.path().join("s2")),
    ];
    let handles: Vec<_> = runs
        .iter()
        .map(|(shard, out)| {
            let mut args = base.clone();
            if let Some(s) = shard {
                args.push(format!("--shard={s}"));
            }
            args.push(format!("--out={}", out.display()));
            let store = tmp.path().to_path_buf();
            std::thread::spawn(move || gauntlet("torture", &args, &store))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().status.code(), Some(0));
    }
    let all = testcases(&read(&tmp.path().join("all/junit.xml")));
    let s1 = testcases(&read(&tmp.path().join("s1/junit.xml")));
    let s2 = testcases(&read(&tmp.path().join("s2/junit.xml")));
    assert_eq!(all, vec![321, 322, 323, 324, 325]);
    assert!(!s1.is_empty() && !s2.is_empty());
    assert!(
        s1.iter().all(|s| !s2.contains(s)),
        "shards overlap: {s1:?} {s2:?}"
    );
    let union: BTreeSet<u64> = s1.iter().chain(&s2).copied().collect();
    assert_eq!(union.into_iter().collect::<Vec<_>>(), all);
    let merged = tmp.path().join("merged");
    let args = vec![
        tmp.path().join("s1").display().to_string(),
        tmp.path().join("s2").display().to_string(),
        format!("--out={}", merged.display()),
    ];
    let o = gauntlet("merge", &args, tmp.path());
    assert_eq!(o.status.code(), Some(0));
    let merged_xml = read(&merged.join("junit.xml"));
    harness::junit::well_formed(&merged_xml).unwrap_or_else(|e| panic!("merged junit.xml: {e}"));
    let mut got = testcases(&merged_xml);
    got.sort_unstable();
    assert_eq!(got, all);
    let summary: serde_json::Value =
        serde_json::from_str(&read(&merged.join("summary.json"))).unwrap();
    let seeds: Vec<u64> = summary["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, all);
}
