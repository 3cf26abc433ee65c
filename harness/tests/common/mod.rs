//! Helpers shared by the end-to-end tests that start real `gauntlet run`s (run_cli,
//! torture_e2e, register_e2e). Each test file includes this module with `mod common;`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `gauntlet` binary cargo built for these tests.
pub const GAUNTLET: &str = env!("CARGO_BIN_EXE_gauntlet");

/// True when the test may use namespaces; false (after saying so) when it must skip.
/// Under `CI=true` a missing capability fails the test instead of skipping it.
pub fn can_run() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("these tests need root (network namespaces), and CI=true forbids skipping");
    }
    eprintln!("SKIPPED: not root; run `cargo test -p harness` as root for the namespace tests");
    false
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
