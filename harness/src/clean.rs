//! `gauntlet clean`: removes what a crashed older run could have left behind (orphaned node
//! processes, named `gauntlet-*` namespaces) and only that, and marks the store's run
//! directories whose controller died as aborted (`ABORTED`, see [`crate::run_marker`]),
//! deleting none of their files. Idempotent: a second run finds nothing. It never changes the
//! host's network; see `nemesis::clean` for what it looks at.

use std::path::PathBuf;

use anyhow::Context;

use crate::exit::{bad_input, Exit};
use crate::run_marker::{self, AbortNote};

/// The store `gauntlet run` writes to when no `--store` is given.
const DEFAULT_STORE: &str = "store";

/// Flags of `gauntlet clean`.
#[derive(Debug, clap::Args)]
pub struct CleanArgs {
    /// Print what was found and done as one JSON object instead of lines of text.
    #[arg(long)]
    pub json: bool,
    /// The store whose run directories are checked for dead controllers (default `store`;
    /// a missing default store is skipped, a missing given one is an error).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Only mark aborted run directories; leave processes and namespaces alone.
    #[arg(long)]
    pub runs_only: bool,
}

/// Runs the clean-up and reports it; exit 0 when it could look everywhere.
pub fn main(args: CleanArgs) -> anyhow::Result<Exit> {
    let aborted = sweep_store(&args)?;
    let report = if args.runs_only {
        nemesis::clean::CleanReport::default()
    } else {
        nemesis::clean::clean().context("cleaning up after older runs")?
    };
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["aborted_runs"] = serde_json::json!(aborted
            .iter()
            .map(|(dir, note)| serde_json::json!({"run_dir": dir, "note": note}))
            .collect::<Vec<_>>());
        println!("{v}");
        return Ok(Exit::Valid);
    }
    if report.is_empty() && aborted.is_empty() {
        println!("gauntlet clean: nothing left behind by older runs");
    }
    for (dir, note) in &aborted {
        println!(
            "marked {} aborted: its controller {} is gone{}",
            dir.display(),
            note.owner,
            if note.missing.is_empty() {
                String::new()
            } else {
                format!("; {}", note.missing.join(", "))
            }
        );
    }
    for pid in &report.killed {
        println!("killed orphaned node process {pid} (its controller is gone)");
    }
    for ns in &report.namespaces_removed {
        println!("deleted leftover network namespace {ns}");
    }
    for link in &report.foreign_links {
        println!(
            "note: link {link} in this namespace looks like gauntlet's, but gauntlet never \
             creates links here; left alone"
        );
    }
    Ok(Exit::Valid)
}

fn sweep_store(args: &CleanArgs) -> anyhow::Result<Vec<(PathBuf, AbortNote)>> {
    let store = args
        .store
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
    if !store.is_dir() {
        if args.store.is_some() {
            return Err(bad_input(format!(
                "--store {}: not a directory",
                store.display()
            )));
        }
        return Ok(Vec::new());
    }
    run_marker::sweep(&store)
}
