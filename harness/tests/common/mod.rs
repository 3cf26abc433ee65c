//! Helpers shared by the end-to-end tests that start real `gauntlet run`s (run_cli,
//! torture_e2e, register_e2e, gates_cli, trust_e2e), and the visible skip every test file
//! uses. Each test file includes this module with `mod common;`.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The `gauntlet` binary cargo built for these tests.
pub const GAUNTLET: &str = env!("CARGO_BIN_EXE_gauntlet");

/// True when the test may use namespaces (root). Otherwise the test is skipped, visibly
/// (see [`skip`]), except under `CI=true`, where a missing capability fails it.
pub fn can_run() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let why = "needs root for network namespaces; run `cargo test -p harness` as root";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{}: {why} (CI=true forbids skipping)", test_name());
    }
    skip(why);
    false
}

/// Says that the running test is skipped and why, as `SKIPPED: <test>: <why>` written straight
/// to stderr: libtest captures `eprintln!` and shows it only for failing tests, which would
/// make a skipped test look like a plain `ok`.
pub fn skip(why: &str) {
    use std::io::Write;
    // One write of the whole line, so that parallel tests cannot split it.
    let line = format!("SKIPPED: {}: {why}\n", test_name());
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The running test's name: libtest runs each test on a thread named after it.
pub fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "<this test>".to_string(),
    }
}

/// The gauntlet-node binary: beside gauntlet in the target dir, built if missing.
pub fn node_bin() -> PathBuf {
    let exe = Path::new(GAUNTLET);
    let bin = exe.with_file_name("gauntlet-node");
    if !bin.is_file() {
        // target/<profile>/gauntlet -> target
        let target = exe.parent().and_then(Path::parent).expect("target dir");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "node-bin", "--bin", "gauntlet-node"])
            .env("CARGO_TARGET_DIR", target)
            .status()
            .expect("running cargo build -p node-bin");
        assert!(status.success(), "cargo build -p node-bin failed");
    }
    assert!(bin.is_file(), "{} missing", bin.display());
    bin
}

/// No process of ours survives: nothing whose command line names the run's store.
pub fn assert_no_process_left(store: &Path) {
    let needle = store.to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut left = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(&needle) {
                left.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
            }
        }
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes left behind: {left:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The host's network state, as far as a run could change it. What changes by itself is
/// left out: address lifetimes (DHCP) and iptables packet counters and timestamps.
pub fn host_net_state() -> String {
    let mut s = String::new();
    for args in [
        &["-o", "link", "show"][..],
        &["-o", "addr", "show"],
        &["route", "show", "table", "all"],
        &["netns", "list"],
    ] {
        let out = Command::new("ip").args(args).output().expect("ip");
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            let cut = l.find("valid_lft").unwrap_or(l.len());
            s.push_str(l[..cut].trim_end());
            s.push('\n');
        }
    }
    // A qdisc on a host interface would be a slow fault in the wrong namespace.
    if let Ok(out) = Command::new("tc").args(["qdisc", "show"]).output() {
        s.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    if let Ok(out) = Command::new("iptables-save").output() {
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            if l.starts_with('#') {
                continue;
            }
            // ":INPUT ACCEPT [12:3456]" -> ":INPUT ACCEPT"
            let cut = if l.starts_with(':') {
                l.rfind(" [")
            } else {
                None
            };
            s.push_str(&l[..cut.unwrap_or(l.len())]);
            s.push('\n');
        }
    }
    s
}

/// A finished command's stdout, then its stderr: what a failing assertion shows.
pub fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
