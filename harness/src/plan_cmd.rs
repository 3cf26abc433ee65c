//! `gauntlet plan [options]`: print the plan a run with these options would execute,
//! without running anything. `gauntlet run --plan FILE` runs such a file.

use std::path::PathBuf;

use crate::cli::PlanFlags;
use crate::exit::Exit;
use crate::plan;

/// Flags of `gauntlet plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The options the plan depends on.
    #[command(flatten)]
    pub flags: PlanFlags,
    /// Write the plan to this file instead of stdout.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

/// Runs `gauntlet plan`.
pub fn main(args: PlanArgs) -> anyhow::Result<Exit> {
    let seed = args.flags.seed_or_random();
    let opts = args.flags.resolve(seed)?;
    let json = plan::generate(&opts).to_json();
    match &args.out {
        Some(path) => {
            crate::store::write_atomic(path, json.as_bytes())?;
            eprintln!("gauntlet plan: seed {seed}, written to {}", path.display());
        }
        None => {
            eprintln!("gauntlet plan: seed {seed}");
            crate::out!("{json}");
        }
    }
    Ok(Exit::Valid)
}
