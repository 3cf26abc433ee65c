//! `gauntlet clean`: removes what a crashed older run could have left behind (orphaned node
//! processes, named `gauntlet-*` namespaces) and only that. Idempotent: a second run finds
//! nothing. It never changes the host's network; see `nemesis::clean` for what it looks at.

use anyhow::Context;

use crate::exit::Exit;

/// Flags of `gauntlet clean`.
#[derive(Debug, clap::Args)]
pub struct CleanArgs {
    /// Print what was found and done as one JSON object instead of lines of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs the clean-up and reports it; exit 0 when it could look everywhere.
pub fn main(args: CleanArgs) -> anyhow::Result<Exit> {
    let report = nemesis::clean::clean().context("cleaning up after older runs")?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(Exit::Valid);
    }
    if report.is_empty() {
        println!("gauntlet clean: nothing left behind by older runs");
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
