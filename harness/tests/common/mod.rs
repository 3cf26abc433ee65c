//! Helpers shared by the end-to-end tests that start real `gauntlet run`s (run_cli,
//! torture_e2e, register_e2e). Each test file includes this module with `mod common;`.

use std::path::{Path, PathBuf};
use std::process::Command;

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
