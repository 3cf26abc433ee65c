//! End-to-end tests of the clock, lossy and slow faults and of the recovery check: real
//! `gauntlet run`s of real `gauntlet-node` processes in the namespace sandbox.
//!
//! They need root (network namespaces) and, for clocks, Debian's libfaketime. Without them
//! each test says `SKIPPED: ...` and passes, except under `CI=true`, where it fails.
//!
//! Time: three runs of 10-12 s of main phase (plus 11 s of recovery wait for the
//! no-recovery run), in parallel: about 40 s on 2 cores in a debug build.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{can_run, node_bin, skip, GAUNTLET};

/// True when libfaketime is installed; otherwise skipped visibly (failed under CI=true).
fn has_libfaketime() -> bool {
    if nemesis::clock::find_libfaketime().is_ok() {
        return true;
    }
    let why = "libfaketime.so.1 is not installed (apt-get install libfaketime)";
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    skip(why);
    false
}

struct Run {
    out: Output,
    store: tempfile::TempDir,
}

impl Run {
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    fn all(&self) -> String {
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&self.out.stdout),
            String::from_utf8_lossy(&self.out.stderr)
        )
    }
    fn run_dir(&self) -> PathBuf {
        std::fs::canonicalize(self.store.path().join("latest")).expect("store/latest")
    }
    fn json(&self, name: &str) -> Value {
        let text = std::fs::read_to_string(self.run_dir().join(name)).unwrap();
        serde_json::from_str(&text).unwrap()
    }
    /// The history's nemesis ops.
    fn nemesis_ops(&self) -> Vec<Value> {
        std::fs::read_to_string(self.run_dir().join("history.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|op| op["process"] == "nemesis")
            .collect()
    }
}

/// `gauntlet run ARGS --store TMP --node-bin BIN`; prints the rerun line.
fn run(args: &[&str], bin: &Path) -> Run {
    let store = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(GAUNTLET);
    cmd.arg("run")
        .args(args)
        .arg(format!("--store={}", store.path().display()))
        .arg(format!("--node-bin={}", bin.display()));
    eprintln!("rerun: {cmd:?}");
    let out = cmd.output().expect("running gauntlet");
    let r = Run { out, store };
    eprintln!("{}", r.all());
    r
}

/// Proves `--nemesis clock` runs clock faults on the correct node, valid, and that each
/// clock op records both checks of the offset: `observed` (a process under the node's
/// preload) and `node_clock` (the node's own `GET /time`), which agree with the plan within
/// 1 s for every bump the node answered.
#[test]
fn clock_faults_run_verified_and_the_correct_node_stays_valid() {
    if !can_run() || !has_libfaketime() {
        return;
    }
    let r = run(
        &[
            "--seed=3",
            "--nemesis=clock",
            "--time-limit=12s",
            "--nemesis-interval=2s",
        ],
        &node_bin(),
    );
    assert_eq!(
        r.code(),
        0,
        "seed 3, --nemesis clock: not valid:\n{}",
        r.all()
    );
    let ops = r.nemesis_ops();
    let starts: Vec<&Value> = ops
        .iter()
        .filter(|o| {
            ["clock-bump", "start-clock-strobe", "start-clock-drift"]
                .contains(&o["f"].as_str().unwrap())
        })
        .collect();
    assert!(starts.len() >= 2, "too few clock faults: {ops:?}");
    let mut compared = 0;
    for op in &starts {
        let v = &op["value"];
        assert!(
            v["observed"].as_array().is_some_and(|a| !a.is_empty()),
            "{op}"
        );
        let clocks = v["node_clock"].as_array().expect("node_clock");
        assert_eq!(clocks.len(), v["nodes"].as_array().unwrap().len(), "{op}");
        if op["f"] == "clock-bump" {
            let planned = v["offset_ms"].as_f64().unwrap();
            for c in clocks.iter().filter_map(|c| c["offset_ms"].as_f64()) {
                assert!((c - planned).abs() < 1000.0, "{op}");
                compared += 1;
            }
        }
    }
    // Every heal resets the clock: the nodes report about 0 again.
    for op in ops.iter().filter(|o| o["f"] == "clock-reset") {
        for c in op["value"]["node_clock"].as_array().unwrap() {
            if let Some(ms) = c["offset_ms"].as_f64() {
                assert!(ms.abs() < 1000.0, "not reset: {op}");
            }
        }
    }
    eprintln!("{compared} node clock(s) compared with the planned bump");
}

/// Proves `--nemesis lossy,slow` applies and verifies loss and rate faults (the measured loss
/// within its tolerance of the plan, a measured rate recorded per slow node), healed, and the
/// correct node stays valid.
#[test]
fn lossy_and_slow_links_run_measured_and_valid() {
    if !can_run() {
        return;
    }
    let r = run(
        &[
            "--seed=4",
            "--nemesis=lossy,slow",
            "--time-limit=12s",
            "--nemesis-interval=2s",
        ],
        &node_bin(),
    );
    assert_eq!(r.code(), 0, "seed 4, lossy,slow: not valid:\n{}", r.all());
    let ops = r.nemesis_ops();
    let f = |name: &str| ops.iter().filter(|o| o["f"] == name).count();
    assert!(f("start-loss") + f("start-slow") >= 2, "{ops:?}");
    assert_eq!(
        f("start-loss"),
        f("stop-loss"),
        "a loss fault was not healed"
    );
    assert_eq!(
        f("start-slow"),
        f("stop-slow"),
        "a slow fault was not healed"
    );
    for op in &ops {
        for o in op["value"]["observed"].as_array().into_iter().flatten() {
            match o["kind"].as_str() {
                Some("loss") => {
                    let (p, m, tol) = (&o["planned"], &o["measured"], &o["tolerance"]);
                    let d = (p.as_f64().unwrap() - m.as_f64().unwrap()).abs();
                    assert!(d <= tol.as_f64().unwrap(), "{o}");
                }
                Some("rate") => assert!(o["measured_kbit"].as_f64().unwrap() > 0.0, "{o}"),
                other => panic!("unexpected observation {other:?}: {o}"),
            }
        }
    }
}

/// A node binary that starts once and refuses every restart (exit 3): after a kill its node
/// never comes back, a cluster that cannot recover.
fn node_that_never_restarts(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("node-once.sh");
    let script = format!(
        "#!/bin/sh\n\
         for a in \"$@\"; do case \"$a\" in --data-dir=*) d=\"${{a#--data-dir=}}\";; esac; done\n\
         if [ -e \"$d/started-once\" ]; then echo 'test wrapper: refusing to restart' >&2; exit 3; fi\n\
         touch \"$d/started-once\"\n\
         exec {} \"$@\"\n",
        node_bin().display()
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Proves the recovery check: a cluster whose killed node never comes back is invalid with
/// the anomaly `no-recovery`, naming the node that was still not ready after a wait of more
/// than the liveness bound (10 s), in results.json and in the history's `recovery` op.
#[test]
fn a_cluster_that_does_not_recover_is_no_recovery() {
    if !can_run() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = node_that_never_restarts(tmp.path());
    let r = run(
        &[
            "--seed=5",
            "--nemesis=kill",
            "--workload=tasks",
            "--time-limit=8s",
            "--nemesis-interval=2s",
            "--recovery=11s",
        ],
        &bin,
    );
    assert_eq!(r.code(), 1, "expected invalid (no-recovery):\n{}", r.all());
    let plan = r.json("plan.json");
    let killed: Vec<String> = plan["faults"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["fault"]["nodes"].as_array().cloned().unwrap_or_default())
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert!(!killed.is_empty(), "the plan kills nothing: {plan}");
    let results = r.json("results.json");
    let nr = &results["tasks"]["no_recovery"];
    assert_eq!(results["tasks"]["counts"]["no_recovery"], 1, "{results}");
    let unready: Vec<&str> = nr["unready"]
        .as_array()
        .expect("no_recovery.unready")
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    // Each entry is about a killed node: its own (`n2: /health: ...`) or another's view
    // of it (`n1: n1 does not see n2 alive yet`).
    assert!(!unready.is_empty());
    assert!(
        unready
            .iter()
            .all(|u| killed.iter().any(|k| u.contains(k.as_str()))),
        "unready {unready:?}, killed {killed:?}"
    );
    assert!(nr["waited_ms"].as_u64().unwrap() >= 10_000, "{nr}");
    let recovery = r
        .nemesis_ops()
        .into_iter()
        .find(|o| o["f"] == "recovery")
        .expect("a recovery op");
    assert_eq!(recovery["value"]["outcome"], "budget", "{recovery}");
    assert!(r.all().contains("no-recovery"), "{}", r.all());
}

/// Proves bad fault entries in a plan file are refused before anything starts, exit 254,
/// naming the file and the entry: a loss probability of 1.5, a clock bump beyond ±10 years
/// (i64::MAX ms), an unknown fault kind (named with its line). Needs no root.
#[test]
fn bad_fault_entries_in_a_plan_file_exit_254_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(GAUNTLET)
        .args([
            "plan",
            "--seed=1",
            "--nemesis=clock,lossy",
            "--time-limit=20s",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        plan["faults"].as_array().is_some_and(|f| !f.is_empty()),
        "no fault planned"
    );
    let edits = [
        (
            serde_json::json!({"kind": "loss", "links": [{"from": "n1", "to": "n2"}], "probability": 1.5}),
            "`probability`",
        ),
        (
            serde_json::json!({"kind": "clock-bump", "nodes": ["n1"], "offset_ms": i64::MAX}),
            "`offset_ms`",
        ),
        (
            serde_json::json!({"kind": "flood", "nodes": ["n1"]}),
            "flood",
        ),
    ];
    for (fault, named) in edits {
        let mut p = plan.clone();
        p["faults"][0]["fault"] = fault;
        let path = dir.path().join("plan.json");
        std::fs::write(&path, serde_json::to_string_pretty(&p).unwrap()).unwrap();
        let out = Command::new(GAUNTLET)
            .args(["run", &format!("--plan={}", path.display())])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{named}: {err}");
        assert!(
            err.contains("plan.json") && err.contains(named),
            "{named}: {err}"
        );
        if named != "flood" {
            assert!(err.contains("faults[0]"), "{named}: {err}");
        } else {
            assert!(err.contains("line"), "{err}");
        }
    }
}
