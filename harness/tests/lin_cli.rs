//! `gauntlet check --checker linearizable` on bad input and on a search out of budget:
//! - an op the model cannot take (a cas whose value is a number) is bad input: exit 254, and
//!   the message names the file and the line;
//! - a key whose search runs out of steps is unknown: exit 2, and the output names the key
//!   and how far the search got (what ran out, how many ops it placed, the op it could not).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

fn gauntlet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(args)
        .env_remove("GAUNTLET_LOG")
        .output()
        .expect("gauntlet runs")
}

/// Writes ops `(process, type, f, value)` as a history file.
fn history(path: &Path, ops: &[(u64, &str, &str, &str)]) {
    let mut f = std::fs::File::create(path).unwrap();
    for (i, (p, t, fname, v)) in ops.iter().enumerate() {
        writeln!(
            f,
            r#"{{"index":{i},"time":{i},"process":{p},"type":"{t}","f":"{fname}","value":{v}}}"#
        )
        .unwrap();
    }
}

#[test]
fn an_op_the_model_cannot_take_is_bad_input_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.jsonl");
    history(
        &path,
        &[
            (1, "invoke", "write", r#"{"key":"k","value":1}"#),
            (1, "ok", "write", r#"{"key":"k","value":1}"#),
            (2, "invoke", "cas", "7"),
            (2, "ok", "cas", "7"),
        ],
    );
    let p = path.to_str().unwrap();
    let out = gauntlet(&["check", p, "--checker", "linearizable", "--init", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "stderr: {err}");
    // The cas invoke is the third line of the file.
    assert!(err.contains(&format!("{p}:3:")), "stderr: {err}");
    assert!(err.contains("cas value"), "stderr: {err}");
}

#[test]
fn a_search_out_of_steps_is_unknown_and_says_how_far_it_got() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.jsonl");
    // Two concurrent writes, then a read of the first: linearizable (write 2, write 1, read
    // 1), but only after the search has tried the other order, which takes more than 3 steps.
    history(
        &path,
        &[
            (1, "invoke", "write", r#"{"key":"k","value":1}"#),
            (2, "invoke", "write", r#"{"key":"k","value":2}"#),
            (1, "ok", "write", r#"{"key":"k","value":1}"#),
            (2, "ok", "write", r#"{"key":"k","value":2}"#),
            (3, "invoke", "read", r#"{"key":"k"}"#),
            (3, "ok", "read", r#"{"key":"k","value":1}"#),
        ],
    );
    let p = path.to_str().unwrap();
    let args = ["check", p, "--checker", "linearizable", "--init", "0"];
    let out = gauntlet(&[&args[..], &["--lin-max-steps", "3"]].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "stdout: {text}");
    assert!(text.contains(r#"key "k""#), "stdout: {text}");
    assert!(text.contains("step budget exhausted"), "stdout: {text}");
    // How far: either the ops the furthest linearization placed, or that it reached no return.
    assert!(
        text.contains("of 3 ops") || text.contains("of the 3 ops"),
        "stdout: {text}"
    );
    // With the default budget the same history is decided: valid.
    let out = gauntlet(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
