//! The store: one directory per run (DESIGN.md "Store layout").
//!
//! ```text
//! store/<workload>-<nemesis>/<UTC time>-seed<seed>/
//!     test.json  plan.json  history.jsonl  results.json  nodes.json  nodes/<id>.log  data/<id>/
//! store/latest -> the newest run (relative symlink, replaced atomically)
//! ```

use std::path::{Path, PathBuf};
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
pub fn create_run_dir(store: &Path, opts: &PlanOptions) -> anyhow::Result<PathBuf> {
    let group = format!("{}-{}", opts.workload, opts.nemesis.label());
    let mut name = format!("{}-seed{}", utc_stamp(SystemTime::now()), opts.seed);
    let mut dir = store.join(&group).join(&name);
    // Two runs of one seed in the same millisecond (torture on a fast machine): add a suffix.
    let mut k = 1;
    while dir.exists() {
        k += 1;
        name = format!("{}-seed{}-{k}", utc_stamp(SystemTime::now()), opts.seed);
        dir = store.join(&group).join(&name);
    }
    std::fs::create_dir_all(dir.join("nodes"))
        .with_context(|| format!("creating the run directory {}", dir.display()))?;
    point_latest(store, &Path::new(&group).join(&name))?;
    Ok(dir)
}

/// Replaces `store/latest` with a symlink to `rel` (relative to the store), atomically.
fn point_latest(store: &Path, rel: &Path) -> anyhow::Result<()> {
    let tmp = store.join(format!(".latest.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(rel, &tmp).with_context(|| format!("creating {}", tmp.display()))?;
    std::fs::rename(&tmp, store.join("latest"))
        .with_context(|| format!("replacing {}", store.join("latest").display()))?;
    Ok(())
}

/// Writes pretty JSON plus a newline.
pub fn write_json(path: &Path, v: &impl Serialize) -> anyhow::Result<()> {
    let mut s = serde_json::to_string_pretty(v).context("serializing")?;
    s.push('\n');
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
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
}
