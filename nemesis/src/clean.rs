//! `gauntlet clean`: removes what a crashed older run could have left behind, and only that.
//!
//! By design a run leaves nothing: node namespaces are unnamed (held by fds and by the
//! nodes), the bridge lives in the controller's own namespace, and nodes get a parent-death
//! signal. What can still survive is a process a node itself forked (no death signal is
//! inherited) or a node of a controller that lost its spawner thread abnormally. Every
//! process the sandbox starts carries [`crate::process::OWNER_ENV`] =
//! `<controller pid>:<start time>`; a process whose controller is gone is an orphan.
//!
//! A sandbox with clock faults also keeps its libfaketime timestamp files in
//! `$TMPDIR/gauntlet-clock-<pid>-<start>-*`; a SIGKILLed controller cannot remove it, so
//! clean removes those whose controller is gone.
//!
//! Idempotent: a second run finds nothing. It never touches the host's network: links in
//! the host namespace that look like ours (`gnt-*`) are only reported, since the sandbox
//! never creates any there.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::process::{start_time, OWNER_ENV};

/// What [`clean`] found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CleanReport {
    /// Orphaned sandbox processes that were SIGKILLed.
    pub killed: Vec<u32>,
    /// Named network namespaces `gauntlet-*` that were deleted (older layouts).
    pub namespaces_removed: Vec<String>,
    /// `gnt-*` links seen in the current namespace, reported and left alone.
    pub foreign_links: Vec<String>,
    /// Clock dirs (libfaketime timestamp files) of controllers that are gone, removed.
    pub clock_dirs_removed: Vec<String>,
}

impl CleanReport {
    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.killed.is_empty()
            && self.namespaces_removed.is_empty()
            && self.foreign_links.is_empty()
            && self.clock_dirs_removed.is_empty()
    }
}

/// The owner tag of a process, when it is a sandbox process.
fn owner_of(pid: u32) -> Option<(u32, u64)> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{OWNER_ENV}=");
    let entry = env
        .split(|b| *b == 0)
        .find_map(|e| e.strip_prefix(prefix.as_bytes()))?;
    let s = std::str::from_utf8(entry).ok()?;
    let (p, t) = s.split_once(':')?;
    Some((p.parse().ok()?, t.parse().ok()?))
}

/// Sandbox processes whose controller (pid + start time) no longer exists.
///
/// A process caught in the middle of an exec shows an empty environment (the kernel
/// records where the new one lies only late in the exec), so it is not seen this time; a
/// leftover from a crashed run is long past its exec, and the next clean finds any other.
pub fn orphans() -> Result<Vec<u32>> {
    let me = std::process::id();
    let mut out = Vec::new();
    let dir = std::fs::read_dir("/proc").map_err(|e| Error::io("list /proc", e))?;
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Some((owner, t)) = owner_of(pid) {
            if start_time(owner) != Some(t) {
                out.push(pid);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Kills orphaned sandbox processes, deletes leftover named `gauntlet-*` namespaces, and
/// reports `gnt-*` links in the current namespace.
pub fn clean() -> Result<CleanReport> {
    let mut report = CleanReport::default();
    for pid in orphans()? {
        // Re-check right before the signal: the pid must still be that orphan.
        let Some((owner, t)) = owner_of(pid) else {
            continue;
        };
        if start_time(owner) == Some(t) {
            continue;
        }
        // SAFETY: kill(2) on a pid just confirmed (by its environment) to be an orphaned
        // sandbox process; no memory is involved.
        if unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } == 0 {
            report.killed.push(pid);
        }
    }
    report.namespaces_removed = clean_named_namespaces(Path::new("/run/netns"))?;
    report.foreign_links = our_links();
    for dir in crate::clock::orphan_dirs(&std::env::temp_dir()) {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| Error::io(format!("remove the clock dir {}", dir.display()), e))?;
        report.clock_dirs_removed.push(dir.display().to_string());
    }
    Ok(report)
}

fn clean_named_namespaces(dir: &Path) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(removed);
    };
    let names: BTreeSet<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.starts_with("gauntlet-"))
        .collect();
    for name in names {
        let out = std::process::Command::new("ip")
            .args(["netns", "delete", &name])
            .output()
            .map_err(|e| Error::io(format!("run ip netns delete {name}"), e))?;
        if out.status.success() {
            removed.push(name);
        } else {
            return Err(Error::Command {
                command: format!("ip netns delete {name}"),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
    }
    Ok(removed)
}

/// Links named like the sandbox's in the current namespace (read-only: `ip -o link`).
fn our_links() -> Vec<String> {
    let Ok(out) = std::process::Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_owned())
        .filter(|n| n.starts_with("gnt-"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test process is nobody's orphan, and a clean with nothing to do is empty and
    /// can be repeated.
    #[test]
    fn clean_without_leftovers_is_a_repeatable_no_op() {
        assert!(owner_of(std::process::id()).is_none() || std::env::var(OWNER_ENV).is_ok());
        let dir = tempfile::tempdir().unwrap();
        assert!(clean_named_namespaces(dir.path()).unwrap().is_empty());
        assert!(clean_named_namespaces(&dir.path().join("missing"))
            .unwrap()
            .is_empty());
    }
}
