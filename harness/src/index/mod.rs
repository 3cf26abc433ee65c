//! The store index: `STORE/index.html`, one page listing every run of a store (time, system,
//! workload, nemesis, seed, verdict, anomaly classes, op count, wall time, a link to its
//! report), sortable and filterable by any column, with the failures grouped by signature.
//!
//! `gauntlet index [STORE]` writes it, and `run`, `torture`, `merge` and `repro` rewrite it
//! when they end ([`refresh`]). It reads only each run's test.json and results.json (not the
//! histories), so 10,000 runs index in well under two seconds (docs/index.md). A run
//! directory that cannot be read, or was left by a killed controller (`RUNNING` without
//! results.json, or `ABORTED`), is listed as such; it never stops the index.
//!
//! | module | what it owns |
//! | --- | --- |
//! | [`scan`] | reading the store into one [`scan::RunEntry`] per run directory |
//! | [`group`] | failures grouped by signature |
//! | [`page`] | the self-contained HTML page, its CSS and script |
//!
//! ```no_run
//! let (path, scan) = harness::index::write(std::path::Path::new("store"))?;
//! println!("{}: {} runs", path.display(), scan.runs.len());
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod group;
pub mod page;
pub mod scan;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;

use crate::exit::{bad_input, Exit};

/// The index's file name inside the store.
pub const INDEX_FILE: &str = "index.html";

/// Flags of `gauntlet index`.
#[derive(Debug, clap::Args)]
pub struct IndexArgs {
    /// The store to index (the --store of the runs).
    #[arg(default_value = "store")]
    pub store: PathBuf,
}

/// Runs `gauntlet index`: writes STORE/index.html and says what it holds. Exit 254 when the
/// store is not a readable directory or holds no run directory at all.
pub fn main(args: IndexArgs) -> anyhow::Result<Exit> {
    let (path, scan) = write(&args.store)?;
    let damaged = scan
        .runs
        .iter()
        .filter(|r| matches!(r.state, scan::State::Damaged | scan::State::Aborted))
        .count();
    crate::term::status(format!(
        "gauntlet index: {} runs ({} failing, {damaged} damaged or aborted) in {}",
        scan.runs.len(),
        scan.runs
            .iter()
            .filter(|r| group::signature(r).is_some())
            .count(),
        path.display()
    ));
    for u in &scan.unreadable {
        crate::term::status(format!("gauntlet index: unreadable: {u}"));
    }
    Ok(Exit::Valid)
}

/// Scans `store` and writes its index.html (atomically: a temporary file renamed into
/// place, so a reader never sees half a page). Bad input (exit 254) when `store` is not a
/// readable directory or holds no run directory.
pub fn write(store: &Path) -> anyhow::Result<(PathBuf, scan::Scan)> {
    let meta = std::fs::metadata(store)
        .map_err(|e| bad_input(format!("{}: cannot read the store: {e}", store.display())))?;
    if !meta.is_dir() {
        return Err(bad_input(format!(
            "{}: not a directory (the store is the directory given to --store, e.g. store/)",
            store.display()
        )));
    }
    let t0 = std::time::Instant::now();
    let scan = scan::scan(store)
        .map_err(|e| bad_input(format!("{}: cannot list the store: {e}", store.display())))?;
    if scan.runs.is_empty() {
        let why = if scan.unreadable.is_empty() {
            "no run directories (expected <workload>-<nemesis>/<time>-seed<seed>/ inside)"
                .to_string()
        } else {
            format!(
                "no readable run directories ({})",
                scan.unreadable.join("; ")
            )
        };
        return Err(bad_input(format!("{}: {why}", store.display())));
    }
    let groups = group::groups(&scan.runs);
    let generated = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let html = page::render(&store.display().to_string(), &scan, &groups, &generated);
    let path = store.join(INDEX_FILE);
    let tmp = store.join(format!(".{INDEX_FILE}.{}", std::process::id()));
    std::fs::write(&tmp, html).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))?;
    tracing::info!(
        "indexed {} runs in {} ms: {}",
        scan.runs.len(),
        t0.elapsed().as_millis(),
        path.display()
    );
    Ok((path, scan))
}

/// Rewrites the index at the end of a command that added runs to `store`. Never fails the
/// command: a problem is logged as a warning. A store left with no run directory at all (a
/// torture whose valid runs were all pruned) is not a problem: its index, if any, would list
/// runs that are gone, so it is removed.
pub fn refresh(store: &Path) {
    if let Err(e) = write(store) {
        let empty = scan::scan(store).is_ok_and(|s| s.runs.is_empty() && s.unreadable.is_empty());
        if empty {
            let _ = std::fs::remove_file(store.join(INDEX_FILE));
            tracing::info!(
                "store index: no run directories left in {}",
                store.display()
            );
        } else {
            tracing::warn!("store index not updated: {e:#}");
        }
    }
}

/// Rewrites the index of a store when dropped: one line at the top of a command covers every
/// way it returns (`let _index = RefreshOnDrop(store)`).
#[derive(Debug)]
pub struct RefreshOnDrop(pub PathBuf);

impl Drop for RefreshOnDrop {
    fn drop(&mut self) {
        refresh(&self.0);
    }
}

/// The stores the run directories of merged summaries live in (`STORE/<group>/<run>`), those
/// that exist on this machine, each once.
pub fn stores_of<'a>(run_dirs: impl IntoIterator<Item = &'a str>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for d in run_dirs {
        if let Some(store) = Path::new(d).parent().and_then(Path::parent) {
            if store.is_dir() && !out.iter().any(|s| s == store) {
                out.push(store.to_path_buf());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_of_a_store_with_no_run_left_removes_its_stale_index() {
        let store = tempfile::tempdir().unwrap();
        std::fs::create_dir(store.path().join("mixed-all")).unwrap();
        std::fs::write(
            store.path().join(INDEX_FILE),
            "<p>runs that were pruned</p>",
        )
        .unwrap();
        refresh(store.path());
        assert!(!store.path().join(INDEX_FILE).exists());
        // A store path that is not a directory is still an error of `write`, and refresh
        // leaves the file alone.
        let file = store.path().join("not-a-store");
        std::fs::write(&file, "x").unwrap();
        refresh(&file);
        assert!(write(&file).is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    }
}
