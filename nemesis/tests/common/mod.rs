//! Helpers shared by the nemesis integration tests: the skip rule, the host snapshot the
//! leak checks compare, and running `nemesis-selftest` scenarios.
#![allow(dead_code)] // each test file uses its own subset

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

pub const SELFTEST: &str = env!("CARGO_BIN_EXE_nemesis-selftest");

/// True when the test may run; prints why not otherwise. Under CI=true a missing capability
/// is a failure, never a silent skip.
pub fn privileged(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let msg = format!("{test}: needs root for network namespaces");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg} (CI=true: failing instead of skipping)");
    }
    skip(&format!("{msg}; run as root to test the sandbox"));
    false
}

/// Prints a skip notice past libtest's output capture, so it shows in a passing run.
pub fn skip(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {msg}");
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
    if nemesis::find_in_path(program).is_some() {
        return true;
    }
    let msg = format!("{test}: `{program}` not on PATH");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg} (CI=true: .ci/run installs {package})");
    }
    skip(&format!("{msg}; apt-get install {package} to run it"));
    false
}

/// True when libfaketime is installed; otherwise skips (fails under CI=true).
pub fn have_libfaketime(test: &str) -> bool {
    match nemesis::clock::find_libfaketime() {
        Ok(_) => true,
        Err(e) => {
            let msg = format!("{test}: {e}");
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{msg} (CI=true: .ci/run installs libfaketime)");
            }
            skip(&msg);
            false
        }
    }
}
