//! Helpers shared by the nemesis integration tests: the skip rule, the host snapshot the
//! leak checks compare, and running `nemesis-selftest` scenarios.
#![allow(dead_code)] // each test file uses its own subset

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

pub const SELFTEST: &str = env!("CARGO_BIN_EXE_nemesis-selftest");

/// Whether `test`, which needs `what`, may run. Without it the test is skipped, visibly
/// (see [`skip`]), except under CI=true, where it fails: CI must run every test.
pub fn require(test: &str, have: bool, what: &str, how: &str) -> bool {
    if have {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs {what} (CI=true: failing instead of skipping; {how})");
    }
    skip(test, &format!("needs {what}; {how}"));
    false
}

/// True when the test may use network namespaces (root); see [`require`].
pub fn privileged(test: &str) -> bool {
    require(
        test,
        nix::unistd::geteuid().is_root(),
        "root for network namespaces",
        "run `cargo test -p nemesis` as root",
    )
}

/// Says that `test` is skipped and why, as `SKIPPED: <test>: <why>` written straight to
/// stderr: libtest captures `eprintln!` and shows it only for failing tests, which would make
/// a skipped test look like a plain `ok`.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    // One write of the whole line, so that parallel tests cannot split it.
    let line = format!("SKIPPED: {test}: {why}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

pub fn sh(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => format!("<{program} unavailable: {e}>"),
    }
}

/// The host's network state as the issue lists it: links, addresses, routes, named
/// namespaces and (when installed) iptables rules, minus timestamps.
pub fn host_snapshot() -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    m.insert("link", sh("ip", &["-d", "link"]));
    m.insert("addr", sh("ip", &["addr"]));
    m.insert("route", sh("ip", &["route", "show", "table", "all"]));
    m.insert("netns", sh("ip", &["netns", "list"]));
    m.insert("qdisc", sh("tc", &["qdisc", "show"]));
    if nemesis::find_in_path("iptables-save").is_some() {
        let rules: String = sh("iptables-save", &[])
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        m.insert("iptables", rules);
    }
    m
}

pub fn assert_host_unchanged(before: &BTreeMap<&'static str, String>) {
    let after = host_snapshot();
    for (k, v) in before {
        assert_eq!(v, &after[k], "host `{k}` state changed");
    }
}

pub fn selftest(args: &[&str], path: Option<&Path>) -> Output {
    let mut c = Command::new(SELFTEST);
    c.args(args);
    if let Some(p) = path {
        c.env("PATH", p);
    }
    c.output().expect("run nemesis-selftest")
}

pub fn report(out: &Output, what: &str) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{what}: bad JSON {e}: {last}"))
}

/// True when `program` is on PATH; otherwise prints why the test skips, or fails under
/// CI=true (where .ci/run installs it from `package`).
pub fn have_tool(test: &str, program: &str, package: &str) -> bool {
    require(
        test,
        nemesis::find_in_path(program).is_some(),
        &format!("`{program}` on PATH"),
        &format!("apt-get install {package} (.ci/run does)"),
    )
}

/// True when libfaketime is installed; otherwise skips (fails under CI=true).
pub fn have_libfaketime(test: &str) -> bool {
    let found = nemesis::clock::find_libfaketime();
    let why = match &found {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    };
    require(
        test,
        found.is_ok(),
        "libfaketime",
        &format!("{why}; apt-get install libfaketime (.ci/run does)"),
    )
}
