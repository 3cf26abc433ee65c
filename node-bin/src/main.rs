//! `gauntlet-node`: see `gauntlet-node --help` and docs/node-api.md.

use clap::Parser;
use node_bin::shell::{self, config::Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cfg = match cli.validate() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gauntlet-node: {e}");
            return ExitCode::from(2);
        }
    };
    match shell::run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("gauntlet-node: {e:#}");
            ExitCode::FAILURE
        }
    }
}
