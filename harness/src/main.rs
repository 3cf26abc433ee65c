//! `gauntlet`: the controller and CLI. Each subcommand lives in its own module of the
//! `harness` library; this file only parses flags, dispatches, and maps outcomes to exit codes.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use harness::exit::{exit_for_error, Exit};

#[derive(Debug, Parser)]
#[command(
    name = "gauntlet",
    version = env!("GAUNTLET_VERSION"),
    about = "Jepsen-style fault-injection torture runs for leaderless clusters"
)]
struct Cli {
    /// Print less: no progress bar, no status lines, only errors in the log (as cargo -q).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print more: info log lines (-vv: debug, -vvv: trace), as cargo -v. GAUNTLET_LOG, when
    /// set, overrides both.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a stored history for lost tasks and split locks.
    Check(harness::check::CheckArgs),
    /// Remove what a crashed older run left behind (orphaned nodes); idempotent.
    Clean(harness::clean::CleanArgs),
    /// Convert a Jepsen/Knossos EDN history to Gauntlet JSONL (on standard output).
    Import(harness::import::ImportArgs),
    /// One seeded torture run: cluster, clients, nemesis, checks, verdict.
    Run(harness::run::RunArgs),
    /// Print the plan (client ops and faults) a run with these options would execute.
    Plan(harness::plan_cmd::PlanArgs),
    /// Regenerate a run directory's report.html.
    Report(harness::report::ReportArgs),
    /// Run many seeds back to back (nightly CI): summary, JUnit XML, shards.
    Torture(Box<harness::torture::TortureArgs>),
    /// Rerun a stored run until the same anomaly class shows again.
    Repro(harness::repro::ReproArgs),
    /// Shrink a failing run to the smallest plan that still shows its anomaly (RUN_DIR/shrunk/).
    Shrink(Box<harness::shrink::cmd::ShrinkArgs>),
    /// Join the summaries and JUnit files of several torture shards.
    Merge(harness::merge::MergeArgs),
    /// Run the planted-bug matrix: detection rate and time to first anomaly per bug.
    BugHunt(Box<harness::bughunt::BugHuntArgs>),
    /// List every run of a store in STORE/index.html: sortable, filterable, failures grouped.
    Index(harness::index::IndexArgs),
    /// Print a shell completion script: bash, zsh or fish.
    Completions(harness::shell::CompletionsArgs),
    /// Print the man page (or write one per subcommand with --out-dir).
    Man(harness::shell::ManArgs),
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        // A `println!` whose reader went away (`gauntlet repro ... | head`): the shell's
        // convention for a process ended by SIGPIPE, not an internal error.
        if info
            .to_string()
            .contains("failed printing to stdout: Broken pipe")
        {
            std::process::exit(141);
        }
        eprintln!("gauntlet: internal error (a bug in gauntlet): {info}");
        std::process::exit(i32::from(Exit::Crash.code()));
    }));
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(pair) => pair,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::BadInput
            } else {
                Exit::Valid
            };
            let _ = e.print();
            return code.into();
        }
    };
    let verbosity = harness::term::verbosity_of(cli.quiet, cli.verbose);
    harness::term::set_verbosity(verbosity);
    // `check` prints the reader's warnings in its result already; it logs only when asked.
    if !matches!(cli.command, Command::Check(_)) || cli.verbose > 0 {
        harness::term::install_log(verbosity);
    }
    let outcome = match cli.command {
        Command::Check(args) => harness::check::main(args),
        Command::Clean(args) => harness::clean::main(args),
        Command::Import(args) => harness::import::main(args),
        Command::Plan(args) => harness::plan_cmd::main(args),
        Command::Run(args) => harness::run::main(args),
        Command::Report(args) => harness::report::main(args),
        Command::Torture(args) => harness::torture::main(*args),
        Command::Repro(args) => harness::repro::main(args),
        Command::Shrink(args) => harness::shrink::cmd::main(*args),
        Command::Merge(args) => harness::merge::main(args),
        Command::BugHunt(mut args) => {
            if let Some(m) = matches.subcommand_matches("bug-hunt") {
                args.given_on_command_line = harness::bughunt::GivenFlags::from_matches(m);
            }
            harness::bughunt::main(*args)
        }
        Command::Index(args) => harness::index::main(args),
        Command::Completions(args) => harness::shell::completions(args, Cli::command()),
        Command::Man(args) => harness::shell::man(args, Cli::command()),
    };
    match outcome {
        Ok(exit) => exit.into(),
        Err(err) => {
            eprintln!("gauntlet: {err:#}");
            exit_for_error(&err).into()
        }
    }
}
