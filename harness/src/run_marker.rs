//! The run directory's own state, so that a run whose controller died (SIGKILL, power loss)
//! can never be taken for a finished, passing one.
//!
//! - `RUNNING` is written when the run directory is created. It holds the owner tag
//!   `<pid>:<start time>` of the controller (the same tag the node processes carry, see
//!   `nemesis::process::owner_tag`), which tells a live controller from a reused pid.
//! - It is removed by [`release`] only after `results.json` is fully written and synced. A run
//!   whose results could not be written keeps it.
//! - `gauntlet clean` ([`sweep`]) finds run directories whose `RUNNING` names a dead
//!   controller and writes `ABORTED` beside it: a small JSON object saying when it was found,
//!   whose controller was gone, and which of the run's files are missing or empty. Nothing is
//!   deleted: the history and logs stay as evidence.
//!
//! [`state`] reads all this back for `report`, `repro`, `torture` and `gauntlet index`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The marker of a run in progress: `<pid>:<start time>` of its controller.
pub const RUNNING: &str = "RUNNING";
/// The marker `gauntlet clean` writes on a run whose controller died.
pub const ABORTED: &str = "ABORTED";

/// The files a finished run directory has, checked when a run is marked aborted.
const EXPECTED: [&str; 4] = ["test.json", "plan.json", "history.jsonl", "results.json"];

/// What `ABORTED` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortNote {
    /// When `gauntlet clean` found the run (UTC, RFC 3339).
    pub found_at: String,
    /// The owner tag from `RUNNING`: the controller that is gone.
    pub owner: String,
    /// Each expected file that is missing or empty, with why (`results.json: missing`).
    pub missing: Vec<String>,
}

/// What a run directory is, from its markers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum RunDirState {
    /// `RUNNING` names a live controller: the run is going on (or its results could not be
    /// written and its controller has not exited yet).
    Running {
        /// The controller's owner tag.
        owner: String,
    },
    /// No marker and a results.json: the run ended and its results were written.
    Finished,
    /// `gauntlet clean` found its controller dead and marked it.
    Aborted(AbortNote),
    /// `RUNNING` names a dead controller (or cannot be read); not marked yet.
    Orphaned {
        /// The owner tag as written (empty when unreadable).
        owner: String,
    },
    /// Neither a marker nor results.json: made by a gauntlet older than the markers, or
    /// killed in the instant between creating the directory and its marker.
    Unfinished,
}

impl RunDirState {
    /// True only for [`RunDirState::Finished`]: the one state whose results may be trusted.
    pub fn is_finished(&self) -> bool {
        matches!(self, RunDirState::Finished)
    }

    /// One word: `running`, `finished`, `aborted`, `orphaned` or `unfinished`.
    pub fn word(&self) -> &'static str {
        match self {
            RunDirState::Running { .. } => "running",
            RunDirState::Finished => "finished",
            RunDirState::Aborted(_) => "aborted",
            RunDirState::Orphaned { .. } => "orphaned",
            RunDirState::Unfinished => "unfinished",
        }
    }

    /// One line for people: `aborted (found ...; missing: ...)`.
    pub fn describe(&self) -> String {
        match self {
            RunDirState::Running { owner } => format!("running (controller {owner} is alive)"),
            RunDirState::Finished => "finished".into(),
            RunDirState::Aborted(n) => format!(
                "aborted (controller {} gone, found {}; {})",
                n.owner,
                n.found_at,
                if n.missing.is_empty() {
                    "no file missing, but results were never confirmed written".to_string()
                } else {
                    format!("missing: {}", n.missing.join(", "))
                }
            ),
            RunDirState::Orphaned { owner } => format!(
                "orphaned (controller {owner} died before writing its results; \
                 `gauntlet clean` marks it aborted)"
            ),
            RunDirState::Unfinished => "unfinished (no results.json and no marker)".into(),
        }
    }
}

/// Writes `RUNNING` with this process's owner tag (exclusively: an existing marker means
/// another controller owns the directory).
pub fn create(run_dir: &Path) -> anyhow::Result<()> {
    let path = run_dir.join(RUNNING);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("{}: cannot create the run marker", path.display()))?;
    writeln!(f, "{}", nemesis::process::owner_tag())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("{}: cannot write the run marker", path.display()))
}

/// Syncs `results.json` to disk, then removes `RUNNING`: from here on the directory reads
/// as finished. Called only after results.json was written without error.
pub fn release(run_dir: &Path) -> anyhow::Result<()> {
    let results = run_dir.join(crate::store::RESULTS_JSON);
    File::open(&results)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("{}: cannot sync", results.display()))?;
    let marker = run_dir.join(RUNNING);
    std::fs::remove_file(&marker)
        .with_context(|| format!("{}: cannot remove the run marker", marker.display()))?;
    // The removal itself must survive a crash, or a finished run could read as orphaned.
    File::open(run_dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("{}: cannot sync", run_dir.display()))
}

/// The state of a run directory, from its markers and results.json.
pub fn state(run_dir: &Path) -> RunDirState {
    if let Ok(text) = std::fs::read_to_string(run_dir.join(ABORTED)) {
        let note = serde_json::from_str(&text).unwrap_or_else(|e| AbortNote {
            found_at: String::new(),
            owner: String::new(),
            missing: vec![format!("{ABORTED}: unreadable ({e})")],
        });
        return RunDirState::Aborted(note);
    }
    match std::fs::read_to_string(run_dir.join(RUNNING)) {
        Ok(text) => {
            let owner = text.trim().to_string();
            if owner_alive(&owner) {
                RunDirState::Running { owner }
            } else {
                RunDirState::Orphaned { owner }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if run_dir.join(crate::store::RESULTS_JSON).is_file() {
                RunDirState::Finished
            } else {
                RunDirState::Unfinished
            }
        }
        // A marker we cannot read: never take the run as finished.
        Err(_) => RunDirState::Orphaned {
            owner: String::new(),
        },
    }
}

/// Whether the process named by an owner tag `<pid>:<start time>` is still the same process.
fn owner_alive(tag: &str) -> bool {
    let Some((pid, start)) = tag.split_once(':') else {
        return false;
    };
    match (pid.parse::<u32>(), start.parse::<u64>()) {
        (Ok(pid), Ok(start)) => nemesis::process::start_time(pid) == Some(start),
        _ => false,
    }
}

/// Marks an orphaned run directory aborted (writes `ABORTED`, atomically); returns the note,
/// or `None` when the directory is not orphaned.
pub fn mark_aborted(run_dir: &Path) -> anyhow::Result<Option<AbortNote>> {
    let RunDirState::Orphaned { owner } = state(run_dir) else {
        return Ok(None);
    };
    let note = AbortNote {
        found_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        owner,
        missing: missing_files(run_dir),
    };
    let tmp = run_dir.join(format!(".{ABORTED}.{}", std::process::id()));
    let path = run_dir.join(ABORTED);
    let json = serde_json::to_string_pretty(&note)? + "\n";
    let written = File::create(&tmp)
        .and_then(|mut f| f.write_all(json.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("{}: cannot write", path.display()));
    }
    Ok(Some(note))
}

fn missing_files(run_dir: &Path) -> Vec<String> {
    EXPECTED
        .iter()
        .filter_map(|f| match std::fs::metadata(run_dir.join(f)) {
            Ok(m) if m.len() == 0 => Some(format!("{f}: empty")),
            Ok(_) => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(format!("{f}: missing")),
            Err(e) => Some(format!("{f}: {e}")),
        })
        .collect()
}

/// The run directories of a store: `STORE/<workload>-<nemesis>/<run>/` (symlinks such as
/// `latest` are skipped, so each run is seen once), and the candidate runs `gauntlet shrink`
/// keeps in a run's own store, `<run>/shrunk/runs/` (a shrink killed mid-candidate leaves one
/// marked running there).
pub fn run_dirs(store: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = top_run_dirs(store)?;
    let nested: Vec<PathBuf> = out
        .iter()
        .map(|run| run.join(crate::shrink::cmd::SHRUNK_DIR).join("runs"))
        .filter(|s| s.is_dir())
        .collect();
    for store in nested {
        out.extend(top_run_dirs(&store)?);
    }
    out.sort();
    Ok(out)
}

fn top_run_dirs(store: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let groups = std::fs::read_dir(store)
        .with_context(|| format!("{}: cannot read the store", store.display()))?;
    for group in groups.flatten() {
        if !group.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(runs) = std::fs::read_dir(group.path()) else {
            continue;
        };
        for run in runs.flatten() {
            let p = run.path();
            if run.file_type().is_ok_and(|t| t.is_dir())
                && (p.join(RUNNING).exists() || p.join("test.json").exists())
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Marks every orphaned run directory of a store aborted; returns what it marked.
pub fn sweep(store: &Path) -> anyhow::Result<Vec<(PathBuf, AbortNote)>> {
    let mut marked = Vec::new();
    for dir in run_dirs(store)? {
        if let Some(note) = mark_aborted(&dir)? {
            marked.push((dir, note));
        }
    }
    Ok(marked)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid above the kernel's PID_MAX_LIMIT (2^22): never a live process.
    const DEAD_OWNER: &str = "4194305:1";

    #[test]
    fn a_run_is_running_then_finished() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(state(dir.path()), RunDirState::Unfinished);
        create(dir.path()).unwrap();
        assert!(
            matches!(state(dir.path()), RunDirState::Running { .. }),
            "{:?}",
            state(dir.path())
        );
        assert!(create(dir.path()).is_err(), "the marker is exclusive");
        assert!(
            release(dir.path()).is_err(),
            "no results.json: not released"
        );
        assert!(dir.path().join(RUNNING).exists());
        std::fs::write(dir.path().join("results.json"), "{\"valid\":true}\n").unwrap();
        release(dir.path()).unwrap();
        assert_eq!(state(dir.path()), RunDirState::Finished);
    }

    /// Proves: a dead owner's run with a valid-looking results.json is orphaned, not
    /// finished; marking it keeps every file and names what is missing.
    #[test]
    fn a_dead_owners_run_is_marked_aborted_without_losing_evidence() {
        let store = tempfile::tempdir().unwrap();
        let run = store
            .path()
            .join("locks-all")
            .join("20260101T000000.000Z-seed1");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("test.json"), "{}").unwrap();
        std::fs::write(run.join("history.jsonl"), "").unwrap();
        std::fs::write(run.join("results.json"), "{\"valid\":true}").unwrap();
        std::fs::write(run.join(RUNNING), format!("{DEAD_OWNER}\n")).unwrap();
        let live = store
            .path()
            .join("locks-all")
            .join("20260101T000001.000Z-seed2");
        std::fs::create_dir_all(&live).unwrap();
        create(&live).unwrap();
        assert_eq!(
            state(&run),
            RunDirState::Orphaned {
                owner: DEAD_OWNER.into()
            }
        );
        let marked = sweep(store.path()).unwrap();
        assert_eq!(marked.len(), 1, "{marked:?}");
        assert_eq!(marked[0].0, run);
        assert_eq!(
            marked[0].1.missing,
            vec!["plan.json: missing", "history.jsonl: empty"]
        );
        let RunDirState::Aborted(note) = state(&run) else {
            panic!("{:?}", state(&run));
        };
        assert_eq!(note.owner, DEAD_OWNER);
        for f in ["test.json", "history.jsonl", "results.json", RUNNING] {
            assert!(run.join(f).exists(), "{f} deleted");
        }
        assert!(sweep(store.path()).unwrap().is_empty(), "idempotent");
        assert!(matches!(state(&live), RunDirState::Running { .. }));
    }

    /// Proves: a candidate run a killed `gauntlet shrink` left in a run's own store
    /// (`<run>/shrunk/runs/<group>/<run>`) is found and marked aborted too.
    #[test]
    fn a_killed_shrinks_candidate_run_is_swept() {
        let store = tempfile::tempdir().unwrap();
        let run = store
            .path()
            .join("mixed-all")
            .join("20260101T000000.000Z-seed1");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("test.json"), "{}").unwrap();
        std::fs::write(run.join("results.json"), "{\"valid\":false}").unwrap();
        let candidate = run
            .join("shrunk")
            .join("runs")
            .join("mixed-all")
            .join("20260101T000100.000Z-seed1");
        std::fs::create_dir_all(&candidate).unwrap();
        std::fs::write(candidate.join(RUNNING), format!("{DEAD_OWNER}\n")).unwrap();
        assert_eq!(
            run_dirs(store.path()).unwrap(),
            vec![run.clone(), candidate.clone()]
        );
        let marked = sweep(store.path()).unwrap();
        assert_eq!(marked.len(), 1, "{marked:?}");
        assert_eq!(marked[0].0, candidate);
        assert!(matches!(state(&candidate), RunDirState::Aborted(_)));
    }

    #[test]
    fn garbage_markers_never_read_as_finished() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("results.json"), "{\"valid\":true}").unwrap();
        std::fs::write(dir.path().join(RUNNING), "not a tag").unwrap();
        assert!(!state(dir.path()).is_finished());
        std::fs::remove_file(dir.path().join(RUNNING)).unwrap();
        std::fs::write(dir.path().join(ABORTED), "{").unwrap();
        assert!(matches!(state(dir.path()), RunDirState::Aborted(_)));
    }
}
