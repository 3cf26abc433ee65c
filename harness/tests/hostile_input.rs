//! Hostile input through the `gauntlet` binary (issue 11, items 6, 7 and 10): each is refused
//! with exit 254 and a message naming the file and the place, in bounded memory, before a
//! run makes anything. None of these needs root: a refused plan never reaches the sandbox.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const GAUNTLET: &str = env!("CARGO_BIN_EXE_gauntlet");

fn gauntlet(args: &[&str]) -> Output {
    Command::new(GAUNTLET)
        .args(args)
        .env_remove("GAUNTLET_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run gauntlet")
}

/// Asserts `out` is a refusal (254) whose stderr contains each of `want`; returns stderr.
fn refused(out: &Output, want: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(254), "{err}");
    for w in want {
        assert!(err.contains(w), "stderr lacks {w:?}: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    err
}

const INV: &str =
    r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"submit","value":{"task":"t1"}}"#;
const OK: &str =
    r#"{"index":1,"time":20,"process":0,"type":"ok","f":"submit","value":{"task":"t1"}}"#;

#[test]
fn check_refuses_a_line_longer_than_the_bound() {
    // Proves `gauntlet check` stops at the line bound (64 MiB) with an error naming the file
    // and the line, on a 70 MB line with no newline (before: a parse error after reading it
    // all; on /dev/zero, 6.5 GB in 20 s).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "{INV}").unwrap();
    let block = vec![b'x'; 1 << 20];
    for _ in 0..70 {
        f.write_all(&block).unwrap();
    }
    drop(f);
    let p = path.display().to_string();
    refused(
        &gauntlet(&["check", &p]),
        &[&format!("{p}:2: line longer than 67108864 bytes")],
    );
}

#[test]
fn check_refuses_a_nul_tail_at_its_first_byte() {
    // Proves a crash's unwritten blocks (here a 200 MB hole after two good lines: NUL bytes
    // to the end, no disk used) are an error at the first NUL naming file, line and column
    // (before: 425 MB of memory and a parse error).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crashed.jsonl");
    let text = format!("{INV}\n{OK}\n");
    std::fs::write(&path, &text).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(text.len() as u64 + (200 << 20)).unwrap();
    drop(f);
    let p = path.display().to_string();
    for mode in [&[][..], &["--parse-only=raw"], &["--parse-only=chunks"]] {
        let mut args = vec!["check", p.as_str()];
        args.extend_from_slice(mode);
        refused(
            &gauntlet(&args),
            &[&format!(
                "{p}:3: NUL bytes at column 1 (unwritten blocks after a crash?"
            )],
        );
    }
}

#[test]
fn plan_refuses_a_plan_too_large_to_make() {
    // Proves `gauntlet plan --time-limit 1h --rate 100000` (360 million ops; before: an
    // abort allocating 3 GB) is refused naming both flags, and `run` with them too.
    for cmd in ["plan", "run"] {
        refused(
            &gauntlet(&[cmd, "--time-limit=1h", "--rate=100000"]),
            &["--time-limit × --rate: 3600 s at 100000 ops/s plans about 360000000 client ops"],
        );
    }
}

/// A valid plan from `gauntlet plan` (seed 5, register workload when asked), as JSON.
fn plan_json(extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "plan",
        "--seed=5",
        "--time-limit=10s",
        "--nemesis-interval=2s",
    ];
    args.extend_from_slice(extra);
    let out = gauntlet(&args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `gauntlet run --plan FILE` with `plan` written to FILE in a fresh store: the output, and
/// whether the store (where the run dir would go) was made.
fn run_plan(plan: &serde_json::Value, flags: &[&str]) -> (Output, String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    std::fs::write(&file, serde_json::to_string_pretty(plan).unwrap()).unwrap();
    let store = dir.path().join("store");
    let plan_arg = format!("--plan={}", file.display());
    let store_arg = format!("--store={}", store.display());
    let mut args = vec![
        "run",
        plan_arg.as_str(),
        store_arg.as_str(),
        "--node-bin",
        GAUNTLET,
    ];
    args.extend_from_slice(flags);
    let out = gauntlet(&args);
    (out, file.display().to_string(), store.exists())
}

#[test]
fn run_refuses_plans_the_flags_would_refuse() {
    // Proves a plan file is held to the flags' limits and to well-formed faults: each edit
    // below was accepted before (and the faults counted as applied); now each exits 254
    // naming the plan file and the entry, before any run directory is made.
    let tasks = plan_json(&[]);
    let register = plan_json(&["--workload=register"]);
    let first_fault = |p: &serde_json::Value| {
        p["faults"]
            .as_array()
            .unwrap()
            .iter()
            .position(|f| f["fault"]["kind"] == "kill")
            .expect("the plan has a kill")
    };
    let kill_at = first_fault(&tasks);
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&serde_json::Value, Edit, String)> = vec![
        (
            &tasks,
            Box::new(|p| {
                p["options"]["nodes"] = 33.into();
                p["nodes"] = (1..=33).map(|i| format!("n{i}")).collect();
            }),
            "options.nodes: 33 nodes; expected 1 to 32".into(),
        ),
        (
            &tasks,
            Box::new(|p| p["options"]["time_limit_ms"] = 1_000_000_000_000_000u64.into()),
            "options.time_limit_ms: 1000000000000000 ms".into(),
        ),
        (
            &tasks,
            Box::new(|p| p["options"]["concurrency"] = 0.into()),
            "options.concurrency: 0 clients".into(),
        ),
        (
            &register,
            Box::new(|p| {
                p["workers"][0]["ops"][0] =
                    serde_json::json!({"at_ns": 0, "f": "submit", "task": "x", "work_ms": 1})
            }),
            "workers[0].ops[0]: submit is not an op of the register workload".into(),
        ),
        (
            &tasks,
            Box::new(move |p| p["faults"][kill_at]["fault"]["nodes"] = serde_json::json!([])),
            format!("faults[{kill_at}]: kill names no node"),
        ),
        (
            &tasks,
            Box::new(move |p| {
                p["faults"][kill_at]["fault"] =
                    serde_json::json!({"kind": "partition", "grudge": {"n2": ["n2"]}})
            }),
            format!("faults[{kill_at}]: the grudge has n2 drop its own packets"),
        ),
        (
            &tasks,
            Box::new(move |p| {
                p["faults"][kill_at]["fault"] =
                    serde_json::json!({"kind": "partition", "grudge": {}})
            }),
            format!("faults[{kill_at}]: the grudge cuts no pair of nodes"),
        ),
    ];
    for (plan, edit, want) in cases {
        let mut p = plan.clone();
        edit(&mut p);
        let (out, file, store_made) = run_plan(&p, &[]);
        refused(&out, &[&format!("--plan: {file}: {want}")]);
        assert!(!store_made, "{want}: a store was made for a refused plan");
    }
}

#[test]
fn run_refuses_plan_shaping_flags_with_a_plan_file() {
    // Proves `--plan X --seed 5` (and any flag that shapes the plan) is an error naming both
    // flags, not a seed silently ignored.
    let plan = plan_json(&[]);
    for flag in ["--seed=5", "--nodes=3", "--rate=10", "--workload=locks"] {
        let (out, _, store_made) = run_plan(&plan, &[flag]);
        let name = flag.split('=').next().unwrap();
        refused(&out, &["--plan", name]);
        assert!(!store_made);
    }
}

#[test]
fn run_refuses_a_plan_file_without_end() {
    // Proves `run --plan /dev/zero` (before: 22 GB of memory) stops at the first block, and
    // a plan file larger than the bound (here 256 MiB of spaces through a pipe, valid JSON
    // whitespace) is refused once the bound is read, naming it.
    refused(
        &gauntlet(&["run", "--plan=/dev/zero"]),
        &["--plan: /dev/zero: line 1: a NUL byte (at byte 1): not a JSON plan"],
    );
    let mut child = Command::new(GAUNTLET)
        .args(["run", "--plan=/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let block = vec![b' '; 1 << 20];
        // Until gauntlet stops reading (a broken pipe), at most 300 MiB.
        for _ in 0..300 {
            if stdin.write_all(&block).is_err() {
                return;
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    refused(
        &out,
        &["--plan: /dev/stdin: larger than 268435456 bytes (the limit of a plan file)"],
    );
}

/// `gauntlet import --from jepsen-edn` of `text` written to h.edn.
fn import(dir: &Path, text: &str) -> (Output, String) {
    let path = dir.join("h.edn");
    std::fs::write(&path, text).unwrap();
    let p = path.display().to_string();
    (gauntlet(&["import", "--from", "jepsen-edn", &p]), p)
}

#[test]
fn import_refuses_deep_nesting_trailing_text_and_huge_numbers() {
    // Proves the EDN importer refuses, naming file and line, with exit 254: nesting 10,000
    // deep (before: a stack overflow, exit 134, no file named), text after the history's
    // vector (before: dropped silently) and 1e400 (before: written as null).
    let dir = tempfile::tempdir().unwrap();
    let deep = format!(
        "[{{:type :invoke, :f :write, :process 0,\n :value {}0{}}}]",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let (out, p) = import(dir.path(), &deep);
    refused(
        &out,
        &[
            &format!("{p}: line 2, column "),
            "nested more than 128 deep",
        ],
    );
    let (out, p) = import(
        dir.path(),
        "[{:type :invoke, :f :read, :process 0}]\n{:type :ok, :f :read, :process 0}\n",
    );
    refused(
        &out,
        &[&format!("{p}: line 2, column 1: text after the history")],
    );
    let (out, p) = import(
        dir.path(),
        "[{:type :invoke, :f :write, :process 0, :value 1e400}]",
    );
    refused(&out, &[&format!("{p}: line 1: op 0 "), "out of range"]);
}
