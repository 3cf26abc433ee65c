//! CI gates and exit codes (issue 11, items 5 and 9), through the real `gauntlet` binary.
//!
//! - `merge` never passes on less than it was given: missing shards, a shard directory
//!   without junit.xml, a `<failure>` its counts do not count, zero runs;
//! - bad input exits 254 (not 255, not 2): `merge --out` on a file or a full device,
//!   `report` of a missing run dir, `repro` of a garbage plan.json, `torture --store` on a
//!   file, `torture --duration 0s`;
//! - a run stopped by SIGHUP ends like SIGINT (interrupted, exit 2, nothing left behind);
//! - a SIGKILLed run's directory reads as orphaned, `gauntlet clean` marks it aborted, and
//!   `report` says so.
//!
//! The merge and exit-code tests need no root and craft their inputs in temp dirs. The full
//! device test (a 64 kB tmpfs in a private mount namespace, `unshare -m`) and the two real
//! runs need root: not root and `CI` != "true", they print why they skip and pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use harness::torture::summary::{RunRecord, Summary, Verdict};

mod common;
use common::{assert_no_process_left, can_run, host_net_state, node_bin, GAUNTLET};

fn gauntlet(args: &[&str]) -> Output {
    let out = Command::new(GAUNTLET)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running gauntlet");
    eprintln!(
        "rerun: gauntlet {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn record(seed: u64, verdict: Verdict) -> RunRecord {
    RunRecord {
        seed,
        case: None,
        verdict,
        seconds: 1.0,
        run_dir: None,
        kept: false,
        repro: format!("gauntlet run --seed {seed}"),
        anomalies: Vec::new(),
        error: None,
    }
}

/// A shard's output directory, as `gauntlet torture --shard I/N` writes it.
fn shard_dir(root: &Path, shard: &str, runs: Vec<RunRecord>) -> PathBuf {
    let dir = root.join(format!("shard-{}", shard.replace('/', "-of-")));
    std::fs::create_dir_all(&dir).unwrap();
    let summary = Summary {
        name: "mixed-all".into(),
        shards: vec![shard.into()],
        started: "2026-01-01T00:00:00Z".into(),
        seconds: 3.0,
        runs,
    };
    harness::torture::write_outputs(&summary, &dir).unwrap();
    dir
}

/// Both shards present: the merge passes (the control for the failing cases below).
#[test]
fn merge_of_every_shard_passes() {
    let t = tempfile::tempdir().unwrap();
    let a = shard_dir(t.path(), "1/2", vec![record(0, Verdict::Valid)]);
    let b = shard_dir(t.path(), "2/2", vec![record(1, Verdict::Valid)]);
    let out = t.path().join("merged");
    let o = gauntlet(&["merge", s(&a), s(&b), "--out", s(&out)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for f in ["summary.json", "junit.xml", "summary.txt"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
}

/// Proves: merging 1 of 2 shards fails the gate (254) and names the missing shard.
#[test]
fn merge_of_one_of_two_shards_fails() {
    let t = tempfile::tempdir().unwrap();
    let a = shard_dir(t.path(), "1/2", vec![record(0, Verdict::Valid)]);
    let out = t.path().join("merged");
    let o = gauntlet(&["merge", s(&a), "--out", s(&out)]);
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    assert!(stderr(&o).contains("missing 2/2"), "{}", stderr(&o));
    assert!(
        !out.join("summary.json").exists(),
        "a failed merge wrote outputs"
    );
}

/// Proves: JUnit files alone are held to the same rule: their suites' `shard` property
/// names 1/2, so 2/2 must be there too.
#[test]
fn merge_of_junit_files_alone_needs_every_shard() {
    let t = tempfile::tempdir().unwrap();
    let a = shard_dir(t.path(), "1/2", vec![record(0, Verdict::Valid)]);
    let b = shard_dir(t.path(), "2/2", vec![record(1, Verdict::Valid)]);
    let out = t.path().join("m");
    let o = gauntlet(&["merge", s(&a.join("junit.xml")), "--out", s(&out)]);
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    assert!(stderr(&o).contains("missing 2/2"), "{}", stderr(&o));
    let (ja, jb) = (a.join("junit.xml"), b.join("junit.xml"));
    let o = gauntlet(&["merge", s(&ja), s(&jb), "--out", s(&out)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// Proves: a shard given twice is refused rather than counted twice.
#[test]
fn merge_of_a_shard_given_twice_fails() {
    let t = tempfile::tempdir().unwrap();
    let a = shard_dir(t.path(), "1/2", vec![record(0, Verdict::Valid)]);
    let b = shard_dir(t.path(), "2/2", vec![record(1, Verdict::Valid)]);
    let o = gauntlet(&[
        "merge",
        s(&a),
        s(&b),
        s(&a.join("summary.json")),
        "--out",
        s(&t.path().join("m")),
    ]);
    assert_eq!(code(&o), 254, "{}", stderr(&o));
}

/// Proves: a shard directory without junit.xml no longer drops out of the merged JUnit
/// silently: 254, naming the directory and the file.
#[test]
fn merge_of_a_shard_without_junit_fails() {
    let t = tempfile::tempdir().unwrap();
    let a = shard_dir(t.path(), "1/2", vec![record(0, Verdict::Valid)]);
    let b = shard_dir(t.path(), "2/2", vec![record(1, Verdict::Invalid)]);
    std::fs::remove_file(b.join("junit.xml")).unwrap();
    let o = gauntlet(&["merge", s(&a), s(&b), "--out", s(&t.path().join("m"))]);
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("junit.xml") && e.contains(s(&b)), "{e}");
}

/// Proves: summaries and JUnit files given as files must agree; a missing junit.xml of one
/// shard (its invalid seed) is caught by the counts.
#[test]
fn merge_of_summaries_and_too_few_junit_files_fails() {
    let t = tempfile::tempdir().unwrap();
    let a = shard_dir(t.path(), "1/2", vec![record(0, Verdict::Valid)]);
    let b = shard_dir(t.path(), "2/2", vec![record(1, Verdict::Invalid)]);
    let o = gauntlet(&[
        "merge",
        s(&a.join("summary.json")),
        s(&b.join("summary.json")),
        s(&a.join("junit.xml")),
        "--out",
        s(&t.path().join("m")),
    ]);
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    assert!(stderr(&o).contains("testcases"), "{}", stderr(&o));
}

/// Proves: a `<failure>` in a suite without count attributes makes the merge invalid (1),
/// not valid.
#[test]
fn merge_counts_a_failure_without_count_attributes() {
    let t = tempfile::tempdir().unwrap();
    let x = t.path().join("other-tool.xml");
    std::fs::write(
        &x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"s\">\n    \
         <testcase name=\"seed 1\"><failure message=\"lost\">lost task</failure></testcase>\n  \
         </testsuite>\n</testsuites>\n",
    )
    .unwrap();
    let out = t.path().join("m");
    let o = gauntlet(&["merge", s(&x), "--out", s(&out)]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let merged = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(merged.contains(r#"tests="1" failures="1""#), "{merged}");
}

/// Proves: a summary of zero runs exits 2 (nothing was checked), with a message.
#[test]
fn merge_of_zero_runs_exits_2() {
    let t = tempfile::tempdir().unwrap();
    let a = shard_dir(t.path(), "1/1", vec![]);
    let o = gauntlet(&["merge", s(&a), "--out", s(&t.path().join("m"))]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("nothing was checked"),
        "{o:?}"
    );
}

/// Proves: unreadable or malformed inputs are 254 naming the file.
#[test]
fn merge_of_a_malformed_summary_is_254() {
    let t = tempfile::tempdir().unwrap();
    let a = shard_dir(t.path(), "1/1", vec![record(0, Verdict::Valid)]);
    std::fs::write(a.join("summary.json"), "{\"runs\": [").unwrap();
    let o = gauntlet(&["merge", s(&a), "--out", s(&t.path().join("m"))]);
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    assert!(stderr(&o).contains("summary.json"), "{}", stderr(&o));
}

/// Proves: `merge --out` naming a regular file is bad input (254), not a crash (255).
#[test]
fn merge_out_on_a_file_is_254() {
    let t = tempfile::tempdir().unwrap();
    let a = shard_dir(t.path(), "1/1", vec![record(0, Verdict::Valid)]);
    let file = t.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let o = gauntlet(&["merge", s(&a), "--out", s(&file)]);
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    assert!(stderr(&o).contains("--out"), "{}", stderr(&o));
}

/// Proves: `merge --out` on a full device is 254 and leaves no file, half-written or
/// temporary, in the output directory. The device is a 64 kB tmpfs filled up, mounted in a
/// private mount namespace (`unshare -m`), so the host's mounts are untouched and the mount
/// goes away with the namespace.
#[test]
fn merge_out_on_a_full_device_is_254_and_writes_nothing() {
    if !can_run() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let many: Vec<RunRecord> = (0..400).map(|i| record(i, Verdict::Valid)).collect();
    let a = shard_dir(t.path(), "1/1", many);
    let dev = t.path().join("dev");
    std::fs::create_dir(&dev).unwrap();
    let script = format!(
        "set -u; mount -t tmpfs -o size=64k gauntlet-test-full '{d}' || exit 99; \
         dd if=/dev/zero of='{d}/fill' bs=4k 2>/dev/null; \
         '{g}' merge '{a}' --out '{d}/out'; code=$?; \
         echo \"LISTING:$(ls -A '{d}/out' 2>&1 | tr '\\n' ' ')\"; exit $code",
        d = s(&dev),
        g = GAUNTLET,
        a = s(&a)
    );
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    eprintln!("{stdout}\n{}", stderr(&o));
    assert_eq!(code(&o), 254, "{stdout}\n{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("No space left"), "{e}");
    let listing = stdout
        .lines()
        .find_map(|l| l.strip_prefix("LISTING:"))
        .unwrap_or("?");
    assert_eq!(listing.trim(), "", "files left in --out");
    assert!(
        std::fs::read_dir(&dev).unwrap().next().is_none(),
        "the tmpfs leaked out of its mount namespace"
    );
}

/// Proves: `report` of a missing run dir is bad input (254), not a crash (255).
#[test]
fn report_of_a_missing_run_dir_is_254() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("no-such-run");
    let o = gauntlet(&["report", s(&missing)]);
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    assert!(stderr(&o).contains("no-such-run"), "{}", stderr(&o));
}

#[derive(Parser)]
struct RunFlags {
    #[command(flatten)]
    run: harness::run::RunArgs,
}

/// A stored run directory with a real test.json and plan.json, made by resolving real
/// `gauntlet run` flags (no run is started).
fn crafted_run_dir(store: &Path) -> PathBuf {
    let node = node_bin();
    let flags = RunFlags::parse_from([
        "gauntlet",
        "--seed=5",
        "--net=loopback",
        "--nemesis=kill",
        &format!("--store={}", s(store)),
        &format!("--node-bin={}", node.display()),
    ]);
    let cfg = harness::run::resolve(&flags.run).unwrap();
    let dir = store.join("mixed-kill").join("20260101T000000.000Z-seed5");
    std::fs::create_dir_all(&dir).unwrap();
    let test = serde_json::json!({ "config": cfg });
    std::fs::write(dir.join("test.json"), test.to_string()).unwrap();
    std::fs::write(
        dir.join("plan.json"),
        harness::plan::generate(&cfg.plan).to_json(),
    )
    .unwrap();
    dir
}

/// Proves: `repro` of a run dir whose plan.json is garbage is 254 naming plan.json, and no
/// try is started (before: every try failed and repro exited 2).
#[test]
fn repro_of_a_garbage_plan_is_254() {
    let t = tempfile::tempdir().unwrap();
    let dir = crafted_run_dir(t.path());
    std::fs::write(dir.join("plan.json"), "{\"version\": 1, \"nodes\": [").unwrap();
    let o = gauntlet(&["repro", s(&dir), "--tries=1"]);
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    assert!(stderr(&o).contains("plan.json"), "{}", stderr(&o));
    let stored = std::fs::read_dir(dir.parent().unwrap()).unwrap().count();
    assert_eq!(stored, 1, "a try was started");
}

/// The flags of a torture run that needs no root: loopback nodes, a private store.
fn torture_flags(store: &Path) -> Vec<String> {
    vec![
        "torture".into(),
        "--seed=7".into(),
        "--net=loopback".into(),
        "--nemesis=kill".into(),
        "--plain".into(),
        format!("--store={}", s(store)),
        format!("--node-bin={}", node_bin().display()),
    ]
}

/// Proves: `torture --duration 0s` is refused (254) instead of running nothing and passing.
#[test]
fn torture_with_a_zero_duration_is_254() {
    let t = tempfile::tempdir().unwrap();
    let mut args = torture_flags(t.path());
    args.push("--duration=0s".into());
    let o = gauntlet(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    assert!(stderr(&o).contains("--duration"), "{}", stderr(&o));
}

/// Proves: a torture run whose budget is spent before its first run checked nothing: exit
/// 2, a summary of 0 runs that says so, never 0.
#[test]
fn torture_that_runs_nothing_exits_2() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let mut args = torture_flags(t.path());
    args.push("--duration=1ns".into());
    args.push(format!("--out={}", s(&out)));
    let o = gauntlet(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let summary: Summary =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(summary.runs.is_empty());
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("nothing was checked"),
        "{o:?}"
    );
}

/// Proves: `torture --store` on a regular file is bad input (254), not a crash (255).
#[test]
fn torture_with_a_store_on_a_file_is_254() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let args = torture_flags(&file);
    let o = gauntlet(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    assert!(stderr(&o).contains("a-file"), "{}", stderr(&o));
}

/// Proves: `clean --store` naming no directory is 254.
#[test]
fn clean_of_a_missing_store_is_254() {
    let t = tempfile::tempdir().unwrap();
    let o = gauntlet(&[
        "clean",
        "--runs-only",
        "--store",
        s(&t.path().join("nothing")),
    ]);
    assert_eq!(code(&o), 254, "{}", stderr(&o));
}

/// Starts a 30 s run and returns once its main phase is under way (the history has grown
/// past 2 kB) plus `extra`.
fn start_mid_run(seed: &str, store: &Path, extra: Duration) -> std::process::Child {
    let child = Command::new(GAUNTLET)
        .args(["run", &format!("--seed={seed}"), "--time-limit=30s"])
        .arg("--nemesis-interval=1s")
        .arg(format!("--store={}", store.display()))
        .arg(format!("--node-bin={}", node_bin().display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eprintln!("seed {seed}: {:?}", child.id());
    let deadline = Instant::now() + Duration::from_secs(60);
    let h = store.join("latest/history.jsonl");
    while !std::fs::metadata(&h).is_ok_and(|m| m.len() > 2000) {
        assert!(
            Instant::now() < deadline,
            "seed {seed}: never reached its main phase"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(extra);
    child
}

/// Proves: SIGHUP mid-run is handled like SIGINT/SIGTERM: heal, tear down, check what was
/// recorded, results marked interrupted, exit 2, the run marker released (results.json was
/// written), nothing left behind.
#[test]
fn sighup_ends_a_run_like_sigint() {
    if !can_run() {
        return;
    }
    let before = host_net_state();
    let store = tempfile::tempdir().unwrap();
    let child = start_mid_run("111", store.path(), Duration::from_millis(1500));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("SIGHUP"), "{stderr}");
    assert!(stdout.contains("(interrupted)"), "{stdout}");
    let run_dir = std::fs::canonicalize(store.path().join("latest")).unwrap();
    let results = std::fs::read_to_string(run_dir.join("results.json")).unwrap();
    assert!(results.contains("\"interrupted\": true"), "{results}");
    assert!(
        !run_dir.join("RUNNING").exists(),
        "the run marker outlived its results"
    );
    assert_no_process_left(store.path());
    assert_eq!(before, host_net_state(), "the host's network state changed");
}

/// Proves: a SIGKILLed run's directory keeps its `RUNNING` marker and reads as orphaned
/// (`report` shows it so), `gauntlet clean --store` marks it aborted without deleting any
/// file, and the report then says aborted, never a verdict.
#[test]
fn a_sigkilled_run_is_marked_aborted_by_clean() {
    if !can_run() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let mut child = start_mid_run("112", store.path(), Duration::from_millis(500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_no_process_left(store.path());
    let run_dir = std::fs::canonicalize(store.path().join("latest")).unwrap();
    assert!(run_dir.join("RUNNING").is_file(), "no marker");
    let o = gauntlet(&["report", s(&run_dir)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    assert!(
        html.contains("v-orphaned"),
        "report verdict is not orphaned"
    );
    let files_before: Vec<_> = std::fs::read_dir(&run_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();

    let o = gauntlet(&["clean", "--runs-only", "--store", s(store.path())]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("aborted") && stdout.contains("results.json: missing"),
        "{stdout}"
    );
    let note = std::fs::read_to_string(run_dir.join("ABORTED")).unwrap();
    assert!(note.contains("found_at"), "{note}");
    for f in &files_before {
        assert!(run_dir.join(f).exists(), "{f:?} deleted");
    }
    let o = gauntlet(&["report", s(&run_dir)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    assert!(html.contains("v-aborted"), "report verdict is not aborted");
    let o = gauntlet(&["clean", "--runs-only", "--store", s(store.path())]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("nothing left behind"),
        "clean is not idempotent"
    );
}
