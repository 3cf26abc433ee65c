//! `gauntlet check HISTORY...`: run the checkers on stored histories.
//!
//! Each history gets its own verdict: a human summary (or, with `--json`, one results object a
//! line, with a `"history"` field naming the file). The exit code is the worst of them:
//! bad input (254) > invalid (1) > unknown (2) > valid (0). A malformed history is bad input,
//! and the message names the file and line.

use std::path::{Path, PathBuf};

use anyhow::Context;
use checkers::linearizable::{check_history_file_with, ModelKind};
use checkers::{check_file, render_summary, CheckOptions, Results, Verdict};

use crate::exit::{bad_input, Exit};

/// Which checkers to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckerName {
    /// stats, tasks and locks.
    All,
    /// Lost tasks (with stats).
    Tasks,
    /// Split locks and fencing tokens (with stats).
    Locks,
    /// Only the ok/fail/info counts.
    Stats,
    /// Linearizability of register, mutex or txn ops (docs/linearizability.md); with `all`,
    /// it runs when the ops suggest a model (read/write/cas or txn).
    Linearizable,
}

/// Flags of `gauntlet check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The history files (JSONL), one or more.
    #[arg(required = true, value_name = "HISTORY")]
    pub histories: Vec<PathBuf>,
    /// Print the results JSON (one object a line, per history) instead of a human summary.
    #[arg(long)]
    pub json: bool,
    /// Tasks that ran more than once make the history invalid (default: at-least-once).
    #[arg(long)]
    pub exactly_once: bool,
    /// When a lock hold ends: `lease` (until the release or the lease's certain end, renewals
    /// counted) or `mutex` (Jepsen's: until the release, or the end of the history).
    #[arg(long, default_value = crate::defaults::LOCK_MODEL, value_name = "lease|mutex")]
    pub lock_model: checkers::locks::LockModel,
    /// The checkers whose verdicts count (repeatable).
    #[arg(long = "checker", value_enum, default_value = "all")]
    pub checkers: Vec<CheckerName>,
    /// The linearizability model: register, cas-register, mutex or multi-register
    /// (default: chosen from the ops).
    #[arg(long)]
    pub model: Option<ModelKind>,
    /// Initial value of every register for the linearizability check, as JSON (text that is
    /// not JSON is taken as a string).
    #[arg(long, default_value = "null", value_parser = parse_init)]
    pub init: serde_json::Value,
    /// Most search steps per key of the linearizability check; past it the key is unknown
    /// (exit 2) and the result says how far the search got.
    #[arg(long, default_value_t = 20_000_000, value_name = "STEPS")]
    pub lin_max_steps: u64,
    /// Only read and parse the histories: `raw` (values left as JSON text, what the checkers
    /// start from), `owned` (into `Op`s with parsed values) or `chunks` (as `raw`, read the
    /// way the check reads, on one thread). The benchmark baselines of
    /// docs/performance-check.md.
    #[arg(long, hide = true, value_name = "raw|owned|chunks", num_args = 0..=1, require_equals = true, default_missing_value = "raw")]
    pub parse_only: Option<String>,
}

/// Runs `gauntlet check`.
pub fn main(args: CheckArgs) -> anyhow::Result<Exit> {
    // Only when asked (`GAUNTLET_LOG=checkers=debug` gives the pipeline's phase times): the
    // reader's warnings are part of the printed result already.
    if std::env::var_os("GAUNTLET_LOG").is_some() {
        crate::run::init_tracing();
    }
    let opts = CheckOptions {
        exactly_once: args.exactly_once,
        lock_model: args.lock_model,
        ..CheckOptions::default()
    };
    let mut worst = Exit::Valid;
    let mut errors: Vec<anyhow::Error> = Vec::new();
    for path in &args.histories {
        if let Some(mode) = &args.parse_only {
            let parsed = match mode.as_str() {
                "raw" => checkers::parse_file(path),
                "owned" => checkers::parse_file_owned(path),
                "chunks" => checkers::parse_file_chunked(path),
                other => {
                    return Err(bad_input(format!(
                        "--parse-only: unknown mode {other:?} (raw, owned or chunks)"
                    )))
                }
            };
            match parsed {
                Ok(n) => crate::outln!("{}: parsed {n} ops", path.display()),
                Err(e) => errors.push(bad_input(e.to_string())),
            }
            continue;
        }
        match check_safe(path, &opts) {
            Ok(mut results) => {
                let lin_text = match linearizable(&mut results, path, &args) {
                    Ok(text) => text,
                    Err(e) => {
                        errors.push(bad_input(e));
                        continue;
                    }
                };
                select(&mut results, &args.checkers);
                print(path, &results, args.json)?;
                if let Some(text) =
                    lin_text.filter(|_| !args.json && results.valid != Verdict::Valid)
                {
                    crate::out!("{text}");
                }
                worst = worst.worse(Exit::of(results.valid));
            }
            Err(e) => errors.push(bad_input(e.to_string())),
        }
    }
    match errors.pop() {
        Some(last) => {
            for e in errors {
                eprintln!("gauntlet: {e:#}");
            }
            Err(last)
        }
        None => Ok(worst),
    }
}

/// [`check_file`], with a crash of the checkers turned into an `unknown` result saying so
/// (Jepsen's `check-safe`): a checker bug is not the history's fault, and the other
/// histories still get their verdicts.
fn check_safe(path: &Path, opts: &CheckOptions) -> Result<Results, histories::HistoryError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_file(path, opts)))
        .unwrap_or_else(|panic| {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            let mut r = checkers::check_ops(Vec::new(), opts);
            r.reasons.insert(0, format!("the checkers crashed: {why}"));
            r.valid = Verdict::Unknown;
            Ok(r)
        })
}

/// `--init`: JSON, or else a string.
fn parse_init(s: &str) -> Result<serde_json::Value, String> {
    Ok(serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.to_string())))
}

/// Attaches the linearizability result (as extra checker `linearizable`) when asked for, or
/// with `all` when the ops suggest a model; returns its text (counterexamples) to print.
fn linearizable(
    results: &mut Results,
    path: &Path,
    args: &CheckArgs,
) -> Result<Option<String>, String> {
    let asked = args.checkers.contains(&CheckerName::Linearizable);
    if !asked && !args.checkers.contains(&CheckerName::All) {
        return Ok(None);
    }
    // Whether a model applies depends only on the client ops' `f`s, which the streaming
    // checkers have already counted: skip the second (owned, whole-file) read when none does.
    if !asked && args.model.is_none() && suggest_from_stats(results).is_none() {
        return Ok(None);
    }
    let checked = match check_history_file_with(path, args.model, &args.init, args.lin_max_steps) {
        // Chosen on our own from the ops' names: ops that do not fit the model (a `write`
        // that is not a register write) mean the checker does not apply, not bad input.
        Err(_) if !asked && args.model.is_none() => return Ok(None),
        other => other?,
    };
    match checked {
        Some(fc) => {
            results.add_extra("linearizable", fc.extra);
            Ok(Some(fc.text))
        }
        None if asked => Err(format!(
            "{}: no read/write/cas or txn ops to check for linearizability (pass --model)",
            path.display()
        )),
        None => Ok(None),
    }
}

/// [`checkers::linearizable::suggest_model`] from the stats checker's counts: the `f`s that
/// clients invoked.
fn suggest_from_stats(results: &Results) -> Option<ModelKind> {
    let invoked = results.stats.by_f.iter().filter(|(_, s)| s.invoke > 0);
    checkers::linearizable::suggest_model_for(invoked.map(|(f, _)| f.as_str()))
}

/// Keeps only the chosen checkers' results and recomputes the verdict.
fn select(results: &mut Results, chosen: &[CheckerName]) {
    if chosen.contains(&CheckerName::All) {
        return;
    }
    if !chosen.contains(&CheckerName::Tasks) {
        results.tasks = None;
    }
    if !chosen.contains(&CheckerName::Locks) {
        results.locks = None;
    }
    results.recompute();
}

/// A results object with the history's file name first, for `--json`.
#[derive(serde::Serialize)]
struct Named<'a> {
    history: String,
    #[serde(flatten)]
    results: &'a Results,
}

fn print(path: &Path, results: &Results, json: bool) -> anyhow::Result<()> {
    if json {
        let named = Named {
            history: path.display().to_string(),
            results,
        };
        crate::outln!(
            "{}",
            serde_json::to_string(&named).context("encoding results")?
        );
    } else {
        crate::out!("{}: {}", path.display(), render_summary(results));
    }
    Ok(())
}
