//! `gauntlet check` end to end through the binary: every fixture of
//! checkers/tests/fixtures/expected.tsv gives its exit code (0 valid, 1 invalid, 2 unknown,
//! 254 bad input naming file and line); several histories exit with the worst verdict;
//! `--json` prints one results object a line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../checkers/tests/fixtures")
}

fn gauntlet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(args)
        // Logging on (timestamped lines on stderr) would make outputs differ run to run.
        .env_remove("GAUNTLET_LOG")
        .output()
        .expect("run gauntlet")
}

/// `text` without the timestamp and the module that start each log line
/// (`2026-12-05T09:23:49.502379Z  WARN histories::jsonl: `) and without colours, so two runs'
/// logs compare equal when they say the same thing at the same level.
fn untimed(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.replace("\u{1b}[2m", "").replace("\u{1b}[0m", "");
            let l = l.replace("\u{1b}[33m", "");
            match l.split_once("Z ") {
                Some((stamp, rest)) if stamp.len() == 26 && stamp.as_bytes()[10] == b'T' => {
                    let rest = rest.trim_start();
                    match rest
                        .split_once(' ')
                        .map(|(lvl, r)| (lvl, r.split_once(": ")))
                    {
                        Some((level, Some((_module, msg)))) => format!("{level} {msg}"),
                        _ => rest.to_string(),
                    }
                }
                _ => l,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn fixture(name: &str) -> String {
    fixtures().join(name).display().to_string()
}

#[test]
fn every_fixture_exits_as_the_table_says() {
    // Proves the CLI maps each verdict and each input error to its exit code, and that bad
    // input messages name the file and the line.
    let table = std::fs::read_to_string(fixtures().join("expected.tsv")).unwrap();
    let mut rows = 0;
    for line in table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, flags, verdict, details) = (cols[0], cols[1], cols[2], cols[3]);
        let path = fixture(file);
        let mut args = vec!["check", path.as_str()];
        if flags != "-" {
            args.push(flags);
        }
        let out = gauntlet(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let want = match verdict {
            "true" => 0,
            "false" => 1,
            "unknown" => 2,
            _ => 254,
        };
        assert_eq!(out.status.code(), Some(want), "{file}: {stdout}{stderr}");
        if verdict == "error" {
            let line_no = details.split('@').nth(1).unwrap();
            assert!(
                stderr.contains(&format!("{path}:{line_no}: ")),
                "{file}: {stderr}"
            );
        } else {
            assert!(
                stdout.starts_with(&format!("{path}: verdict: ")),
                "{stdout}"
            );
        }
        rows += 1;
    }
    assert!(rows >= 30, "the table has {rows} rows");
}

#[test]
fn several_histories_exit_with_the_worst() {
    // Proves invalid beats unknown beats valid, and bad input beats all.
    let (valid, unknown, invalid) = (
        fixture("valid.jsonl"),
        fixture("unknown-no-final-read.jsonl"),
        fixture("lost.jsonl"),
    );
    let code = |args: &[&str]| gauntlet(args).status.code();
    assert_eq!(code(&["check", &valid, &valid]), Some(0));
    assert_eq!(code(&["check", &valid, &unknown]), Some(2));
    assert_eq!(code(&["check", &invalid, &unknown, &valid]), Some(1));
    let bad = fixture("bad-not-json.jsonl");
    let out = gauntlet(&["check", &invalid, &bad]);
    assert_eq!(out.status.code(), Some(254));
    // The good history still got its verdict printed.
    assert!(String::from_utf8_lossy(&out.stdout).contains("verdict: INVALID"));
}

#[test]
fn json_prints_one_results_object_per_history() {
    // Proves --json output is machine-readable, names the history, and carries the verdict
    // and the evidence.
    let (valid, lost) = (fixture("valid.jsonl"), fixture("lost.jsonl"));
    let out = gauntlet(&["check", "--json", &valid, &lost]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let objs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 2);
    assert_eq!(objs[0]["history"], valid.as_str());
    assert_eq!(objs[0]["valid"], true);
    assert_eq!(objs[1]["valid"], false);
    assert_eq!(objs[1]["tasks"]["lost"][0]["task"], "t2");
    assert_eq!(objs[1]["tasks"]["lost"][0]["submit"]["invoke"]["index"], 2);
}

#[test]
fn usage_errors_exit_254() {
    // Proves a missing file and a missing argument are bad input, with a message.
    let out = gauntlet(&["check", "/nonexistent/history.jsonl"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/history.jsonl"));
    assert_eq!(gauntlet(&["check"]).status.code(), Some(254));
    let v = fixture("valid.jsonl");
    assert_eq!(
        gauntlet(&["check", "--checker", "bogus", &v]).status.code(),
        Some(254)
    );
}

#[test]
fn checker_flag_selects_verdicts() {
    // Proves --checker limits which verdicts count: a split lock is invisible to the tasks
    // checker alone.
    let split = fixture("split-lock.jsonl");
    assert_eq!(gauntlet(&["check", &split]).status.code(), Some(1));
    assert_eq!(
        gauntlet(&["check", "--checker", "tasks", &split])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        gauntlet(&["check", "--checker", "locks", &split])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn the_parse_only_baselines_read_alike() {
    // Proves the benchmark's baselines (docs/performance-check.md) read every history as the
    // check does: each mode counts the same ops, and on bad input gives the same error
    // (naming file and line) and exit code 254.
    for file in std::fs::read_dir(fixtures()).unwrap().flatten() {
        let path = file.path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let p = path.display().to_string();
        let outs: Vec<(Option<i32>, String, String)> = ["raw", "owned", "chunks"]
            .iter()
            .map(|mode| {
                let out = gauntlet(&["check", &format!("--parse-only={mode}"), &p]);
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                (
                    out.status.code(),
                    text(&out.stdout),
                    untimed(&text(&out.stderr)),
                )
            })
            .collect();
        assert_eq!(outs[0], outs[1], "{p}: raw vs owned");
        assert_eq!(outs[0], outs[2], "{p}: raw vs chunks");
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("bad-") {
            assert_eq!(outs[0].0, Some(254), "{p}: {outs:?}");
            assert!(outs[0].2.contains(&name), "{p}: {outs:?}");
        } else {
            assert_eq!(outs[0].0, Some(0), "{p}: {outs:?}");
            assert!(outs[0].1.contains("parsed"), "{p}: {outs:?}");
        }
    }
}

#[test]
fn a_reader_that_went_away_ends_the_output_not_the_verdict() {
    // Proves `gauntlet check --json ... | head` neither panics nor loses its exit code: with
    // stdout a pipe whose read end is already closed, every write fails with EPIPE, and check
    // still exits with the worst verdict (1: lost.jsonl is invalid), saying nothing on stderr.
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let (valid, lost) = (fixture("valid.jsonl"), fixture("lost.jsonl"));
    for json in [true, false] {
        let mut args = vec!["check", &valid, &lost];
        if json {
            args.insert(1, "--json");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
            .args(&args)
            .env_remove("GAUNTLET_LOG")
            .stdout(std::process::Stdio::from(write.try_clone().unwrap()))
            .output()
            .expect("run gauntlet");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "--json {json}: {stderr}");
        assert!(stderr.is_empty(), "--json {json}: {stderr}");
    }
}
