//! The run report: one self-contained `report.html` per run directory, written at the end of
//! every run and by `gauntlet report RUN_DIR`.
//!
//! | module | what it owns |
//! | --- | --- |
//! | [`load`] | reading the run dir tolerantly (history, results, test config, node logs) |
//! | [`model`] | pairing ops into intervals; nemesis windows |
//! | [`anomaly`] | checkers, verdicts and anomaly evidence from results.json |
//! | [`timeline`] | the per-process timeline SVG |
//! | [`plots`] | latency scatter per f and throughput over time |
//! | [`nodes`] | node events: kills, restarts, pauses, exit statuses, log tails |
//! | [`story`] | the anomalies first, in words and small time-axis diagrams, counts in words |
//! | [`page`] | the HTML page, its CSS and its small script |
//! | [`shrunk`] | the section a shrunk run's page adds: remaining faults and ops, link back |
//!
//! The page needs no network: styles, script and SVG are inline. It stays small for long
//! histories: the timeline and the scatter aggregate beyond fixed limits, and only the ops an
//! anomaly cites (plus, for short histories, the whole history) are listed as table rows.
//!
//! ```no_run
//! let html = harness::report::render(std::path::Path::new("store/latest"))?;
//! println!("wrote {}", html.display());
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod anomaly;
pub mod linear;
pub mod load;
pub mod model;
pub mod nodes;
pub mod page;
pub mod plots;
pub mod shrunk;
pub mod story;
pub mod svg;
pub mod timeline;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::exit::Exit;
use model::Interval;

/// The report's file name inside a run directory.
pub const REPORT_FILE: &str = "report.html";

/// Histories up to this many lines get a full, linkable op table.
pub const FULL_TABLE_LIMIT: usize = 2000;

/// At most this many ops cited by anomalies are listed (and linkable).
pub const INVOLVED_LIMIT: usize = 2000;

/// Flags of `gauntlet report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The run directory (e.g. store/latest).
    pub run_dir: PathBuf,
}

/// Runs `gauntlet report`: regenerates RUN_DIR/report.html and prints its path.
pub fn main(args: ReportArgs) -> anyhow::Result<Exit> {
    let path = render(&args.run_dir)?;
    println!("{}", path.display());
    Ok(Exit::Valid)
}

/// Writes `run_dir/report.html` and returns its path.
pub fn render(run_dir: &Path) -> anyhow::Result<PathBuf> {
    render_with(run_dir, None)
}

/// [`render`], with the run's history already read (`ops`, as the end of a run has it: the
/// history is then not read again); `None` reads it from the file, tolerantly.
pub fn render_with(run_dir: &Path, ops: Option<Vec<histories::Op>>) -> anyhow::Result<PathBuf> {
    // A shrunk run (`RUN_DIR/shrunk/`, finished) keeps its section on regeneration.
    if let Some((plan, info)) = shrunk::stored(run_dir) {
        return shrunk::render(run_dir, &plan, &info);
    }
    let data = load::load_with(run_dir, ops)?;
    let html = page::render(&data);
    let path = run_dir.join(REPORT_FILE);
    crate::store::write_atomic(&path, html.as_bytes())?;
    Ok(path)
}

/// Which ops are anomalous and which have an anchor on the page to link to.
#[derive(Debug, Default)]
pub struct Links {
    /// Ops cited by some anomaly.
    pub anomalous: BTreeSet<u64>,
    /// Ops listed under "Operations involved" (anchor `op-N`).
    pub anchored: BTreeSet<u64>,
    /// Whether the whole history is listed (anchor `h-N`).
    pub full_table: bool,
}

impl Links {
    /// Whether either end of the interval is cited by an anomaly.
    pub fn is_anomalous(&self, iv: &Interval) -> bool {
        self.anomalous.contains(&iv.invoke_index)
            || iv
                .complete_index
                .is_some_and(|c| self.anomalous.contains(&c))
    }

    /// The link target for history line `index`, if the page has one.
    pub fn target(&self, index: u64) -> Option<String> {
        if self.anchored.contains(&index) {
            Some(format!("#op-{index}"))
        } else if self.full_table {
            Some(format!("#h-{index}"))
        } else {
            None
        }
    }

    /// The link target for an interval: its completion, else its invoke.
    pub fn target_of(&self, iv: &Interval) -> Option<String> {
        iv.complete_index
            .and_then(|c| self.target(c))
            .or_else(|| self.target(iv.invoke_index))
    }
}
