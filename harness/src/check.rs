//! `gauntlet check HISTORY`: run the checkers on a stored history.

use crate::exit::{bad_input, Exit};

/// Flags of `gauntlet check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The history file (JSONL).
    pub history: std::path::PathBuf,
    /// Print the results JSON instead of a human summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs `gauntlet check`.
pub fn main(args: CheckArgs) -> anyhow::Result<Exit> {
    Err(bad_input(format!(
        "{}: gauntlet check is not built yet",
        args.history.display()
    )))
}
