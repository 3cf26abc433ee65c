//! Stamps `gauntlet --version` with the git commit the binary was built from, when known.
//! A build from a tarball (no `.git`, or no `git` on PATH) quietly gets the plain version.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let full = match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some();
            format!(
                "{version} (git {commit}{})",
                if dirty { "-dirty" } else { "" }
            )
        }
        None => version,
    };
    println!("cargo:rustc-env=GAUNTLET_VERSION={full}");
    // Rebuild the stamp when HEAD moves (a commit, a checkout); worktrees have their own HEAD.
    for path in ["HEAD", "logs/HEAD", "index"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
