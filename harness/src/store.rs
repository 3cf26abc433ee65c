//! The store: one directory per run (DESIGN.md "Store layout").
//!
//! ```text
//! store/<workload>-<nemesis>/<UTC time>-seed<seed>/
//!     test.json  plan.json  history.jsonl  results.json  nodes.json  nodes/<id>.log  data/<id>/
//! store/latest -> the newest run (relative symlink, replaced atomically)
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::Serialize;

use crate::config::PlanOptions;

/// The run directory's files.
pub const TEST_JSON: &str = "test.json";
/// The plan.
pub const PLAN_JSON: &str = "plan.json";
/// The history.
pub const HISTORY: &str = "history.jsonl";
/// The checkers' results.
pub const RESULTS_JSON: &str = "results.json";
/// Node process states at the end.
pub const NODES_JSON: &str = "nodes.json";

/// `YYYYMMDDTHHMMSS.mmmZ` for a time since the epoch (UTC, proleptic Gregorian).
pub fn utc_stamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{day:02}T{:02}{:02}{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Creates `store/<workload>-<nemesis>/<time>-seed<seed>/` (and `nodes/`), points
/// `store/latest` at it, and returns it.
///
/// The run directory is created *exclusively* (`mkdir`, never "create if missing"): two
/// runs started at once in one store, even in the same millisecond with the same seed, never
/// share a directory; the loser of a race takes the next suffix (`-2`, `-3`, ...). A store
/// that cannot hold a run (a file, unwritable, missing parent) is bad input (exit 254).
pub fn create_run_dir(store: &Path, opts: &PlanOptions) -> anyhow::Result<PathBuf> {
    create_run_dir_at(store, opts, SystemTime::now())
}

/// [`create_run_dir`] with the time its name is stamped with.
fn create_run_dir_at(store: &Path, opts: &PlanOptions, at: SystemTime) -> anyhow::Result<PathBuf> {
    let group = store.join(format!("{}-{}", opts.workload, opts.nemesis.label()));
    std::fs::create_dir_all(&group).map_err(|e| store_error(store, &group, &e))?;
    let stamp = utc_stamp(at);
    let dir = create_exclusive(&group, &format!("{stamp}-seed{}", opts.seed))
        .map_err(|e| store_error(store, &group, &e))?;
    std::fs::create_dir(dir.join("nodes"))
        .with_context(|| format!("creating {}", dir.join("nodes").display()))?;
    let rel = dir.strip_prefix(store).unwrap_or(&dir).to_path_buf();
    point_latest(store, &rel)?;
    Ok(dir)
}

/// How many suffixes [`create_exclusive`] tries before it gives up (a store in which a
/// thousand runs of one seed start in one millisecond is not a store, it is an attack).
const MAX_SUFFIX: u32 = 1000;

/// Creates `parent/base`, or `parent/base-2`, `-3`, ... : the first that did not exist, with
/// one `mkdir` each, so a concurrent creator can never be handed the same directory.
fn create_exclusive(parent: &Path, base: &str) -> std::io::Result<PathBuf> {
    for k in 1..=MAX_SUFFIX {
        let name = if k == 1 {
            base.to_string()
        } else {
            format!("{base}-{k}")
        };
        let dir = parent.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("{base}: {MAX_SUFFIX} run directories of that name already exist"),
    ))
}

/// The error for a store that cannot hold a run: the user's (exit 254), naming the store.
fn store_error(store: &Path, at: &Path, e: &std::io::Error) -> anyhow::Error {
    crate::exit::bad_input(format!(
        "--store {}: cannot create a run directory in {}: {e}",
        store.display(),
        at.display()
    ))
}
/// Replaces `store/latest` with a symlink to `rel` (relative to the store), atomically.
fn point_latest(store: &Path, rel: &Path) -> anyhow::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let k = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = store.join(format!(".latest.{}.{k}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(rel, &tmp).with_context(|| format!("creating {}", tmp.display()))?;
    std::fs::rename(&tmp, store.join("latest"))
        .with_context(|| format!("replacing {}", store.join("latest").display()))?;
    Ok(())
}

/// Writes pretty JSON plus a newline, atomically: into a temporary file beside `path`,
/// synced, then renamed over it. A failed write (a full disk) leaves no half-written or empty
/// file at `path` and removes the temporary one.
pub fn write_json(path: &Path, v: &impl Serialize) -> anyhow::Result<()> {
    let mut s = serde_json::to_string_pretty(v).context("serializing")?;
    s.push('\n');
    write_atomic(path, s.as_bytes())
}

/// Writes `bytes` to `path` atomically (see [`write_json`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(
        ".{}.tmp.{}",
        name.as_deref().unwrap_or("file"),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::Error::new(e).context(format!("writing {}", path.display()))
    })
}

/// Creates an empty file at `path`, refusing to replace one (evidence is never truncated).
pub fn create_empty(path: &Path) -> anyhow::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_stamps_match_known_dates() {
        let at = |s| UNIX_EPOCH + Duration::from_millis(s);
        assert_eq!(utc_stamp(at(0)), "19700101T000000.000Z");
        // 2000-02-29T12:34:56.789Z, a leap day.
        assert_eq!(utc_stamp(at(951_827_696_789)), "20000229T123456.789Z");
        // 2026-11-28T02:34:10Z.
        assert_eq!(utc_stamp(at(1_795_833_250_000)), "20261128T023410.000Z");
    }

    #[test]
    fn run_dirs_are_grouped_and_latest_follows() {
        let store = tempfile::tempdir().unwrap();
        let mut o = crate::plan::tests_support::opts(42);
        let a = create_run_dir(store.path(), &o).unwrap();
        o.seed = 43;
        let b = create_run_dir(store.path(), &o).unwrap();
        assert!(
            a.starts_with(store.path().join("mixed-all")),
            "{}",
            a.display()
        );
        assert!(a
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-seed42"));
        assert!(b.join("nodes").is_dir());
        let latest = std::fs::canonicalize(store.path().join("latest")).unwrap();
        assert_eq!(latest, std::fs::canonicalize(&b).unwrap());
    }

    /// Proves run directories are created exclusively: 16 threads each create 40 run
    /// directories of one seed stamped with one instant (runs started in the same
    /// millisecond), and every one is a directory of its own. The old check-then-create (`exists()`, then
    /// `create_dir_all`, which succeeds on an existing directory) handed one directory to
    /// several threads here: 5 of 5 tries failed with it (608-639 distinct of 640).
    #[test]
    fn concurrent_runs_of_one_seed_never_share_a_directory() {
        let store = tempfile::tempdir().unwrap();
        let o = crate::plan::tests_support::opts(7);
        let barrier = std::sync::Barrier::new(16);
        let dirs: Vec<PathBuf> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..16)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        (0..40)
                            .map(|_| create_run_dir_at(store.path(), &o, UNIX_EPOCH).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let distinct: std::collections::BTreeSet<_> = dirs.iter().collect();
        assert_eq!(distinct.len(), 16 * 40);
        assert!(dirs.iter().all(|d| d.join("nodes").is_dir()));
    }

    /// Proves an existing run directory is never reused, even when its name is the next one
    /// a run would take.
    #[test]
    fn an_existing_directory_is_skipped_not_reused() {
        let parent = tempfile::tempdir().unwrap();
        std::fs::create_dir(parent.path().join("x")).unwrap();
        std::fs::create_dir(parent.path().join("x-2")).unwrap();
        std::fs::write(parent.path().join("x-2").join("history.jsonl"), "evidence").unwrap();
        let d = create_exclusive(parent.path(), "x").unwrap();
        assert_eq!(d, parent.path().join("x-3"));
        let kept = std::fs::read_to_string(parent.path().join("x-2/history.jsonl")).unwrap();
        assert_eq!(kept, "evidence");
    }

    /// Proves a store that is a file is the user's error (exit 254), naming the store.
    #[test]
    fn a_store_that_is_a_file_is_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("store");
        std::fs::write(&file, "not a directory").unwrap();
        let o = crate::plan::tests_support::opts(1);
        let err = create_run_dir(&file, &o).unwrap_err();
        assert_eq!(
            crate::exit::exit_for_error(&err),
            crate::exit::Exit::BadInput
        );
        assert!(format!("{err:#}").contains("--store"), "{err:#}");
    }

    /// Proves evidence is never truncated: `create_empty` refuses an existing file and an
    /// atomic write that fails leaves neither the target nor its temporary file.
    #[test]
    fn evidence_is_never_truncated_or_half_written() {
        let dir = tempfile::tempdir().unwrap();
        let h = dir.path().join("history.jsonl");
        std::fs::write(&h, "{}\n").unwrap();
        assert!(create_empty(&h).is_err());
        assert_eq!(std::fs::read_to_string(&h).unwrap(), "{}\n");
        let missing = dir.path().join("no-such-dir").join("results.json");
        assert!(write_json(&missing, &serde_json::json!({"valid": true})).is_err());
        write_json(&dir.path().join("r.json"), &serde_json::json!({"a": 1})).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp.")), "{names:?}");
    }
}
