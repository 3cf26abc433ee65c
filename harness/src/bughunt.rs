//! `gauntlet bug-hunt`: how good is Gauntlet at finding bugs? Runs the planted-bug matrix —
//! each planted bug of gauntlet-node × several seeds × the default nemesis mix — and prints,
//! per bug, the detection rate (runs judged invalid) and the median time from the start of
//! the run to the first anomalous operation (the earliest op an anomaly cites).
//!
//! Every run is an ordinary `gauntlet run` with `--node-arg=--bug=NAME` added; invalid runs are
//! kept in the store as evidence, the rest pruned unless `--keep-all`. The table also goes to
//! `--out` as JSON. Exit 0 when every bug met `--target` (default 90%), else 1.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use crate::cli::{ExecFlags, PlanFlags};
use crate::exit::{bad_input, Exit};
use crate::torture::progress::Progress;
use crate::torture::seeds::{SeedList, SeedRange, Shard};
use crate::torture::summary::{RunRecord, Verdict};
use crate::torture::{run_config, run_seeds, LoopOptions};

/// The planted bugs of gauntlet-node (docs/planted-bugs.md).
pub const PLANTED_BUGS: [&str; 4] = [
    "ack-before-quorum",
    "lock-without-quorum",
    "early-lease-expiry",
    "failover-skips-cas",
];

/// Flags of `gauntlet bug-hunt`.
#[derive(Debug, clap::Args)]
pub struct BugHuntArgs {
    /// Flags of every run (as `gauntlet run`; --seed is not used, see --seeds).
    #[command(flatten)]
    pub plan: PlanFlags,
    /// How each run executes (as `gauntlet run`).
    #[command(flatten)]
    pub exec: ExecFlags,
    /// Seeds per bug: A..B (B excluded) or A..=B.
    #[arg(long, default_value = "0..10")]
    pub seeds: SeedRange,
    /// Bugs to hunt (repeatable); default: all planted bugs. `none`: only the control row.
    #[arg(long = "bug")]
    pub bugs: Vec<String>,
    /// Detection rate every bug must reach for exit 0, in percent.
    #[arg(long, default_value_t = 90.0)]
    pub target: f64,
    /// Skip the control row: the same seeds against the node without any planted bug, whose
    /// invalid runs are false alarms (or real bugs of the node) and bound how much a bug's
    /// detection rate means.
    #[arg(long)]
    pub no_control: bool,
    /// Keep every run directory, not only the invalid ones.
    #[arg(long)]
    pub keep_all: bool,
    /// Write the per-bug results as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub plain: bool,
}

/// One bug's row of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BugRow {
    /// The bug's name.
    pub bug: String,
    /// Runs made.
    pub runs: usize,
    /// Runs judged invalid.
    pub detected: usize,
    /// Runs judged unknown (or that could not run).
    pub unknown: usize,
    /// detected ÷ runs, percent.
    pub rate: f64,
    /// Median seconds from run start to the first anomalous op, over detecting runs.
    pub median_first_anomaly_s: Option<f64>,
    /// The seeds that detected it.
    pub detecting_seeds: Vec<u64>,
    /// How many detecting runs showed each anomaly class (`checker: class`).
    pub classes: BTreeMap<String, usize>,
}

/// The row name of the control (no planted bug).
pub const CONTROL: &str = "(none: control)";

/// Runs `gauntlet bug-hunt`.
pub fn main(args: BugHuntArgs) -> anyhow::Result<Exit> {
    let mut bugs: Vec<String> = if args.bugs.is_empty() {
        PLANTED_BUGS.iter().map(|s| s.to_string()).collect()
    } else {
        args.bugs.clone()
    };
    // `--bug none` asks for the control row alone.
    bugs.retain(|b| b != "none");
    if !args.no_control {
        bugs.push(CONTROL.to_string());
    }
    let first = resolve(&args, &bugs[0], args.seeds.start)?;
    crate::run::enter_sandbox(first.net)?;
    let list = SeedList::Range(args.seeds);
    let per_bug = list.len(Shard::ALL).unwrap_or(0);
    let mut progress = Progress::new(Some(per_bug * bugs.len() as u64), args.plain, "bug-hunt");
    let mut rows = Vec::new();
    for bug in &bugs {
        eprintln!(
            "bug-hunt: {bug}: seeds {}..{}",
            args.seeds.start, args.seeds.end
        );
        let opts = LoopOptions {
            budget: None,
            keep_all: args.keep_all,
        };
        let records = run_seeds(
            list.iter(Shard::ALL),
            opts,
            &mut progress,
            |seed| match resolve(&args, bug, seed) {
                Ok(cfg) => run_config(&cfg),
                Err(e) => crate::torture::SeedResult {
                    verdict: Verdict::Error,
                    run_dir: None,
                    repro: String::new(),
                    error: Some(format!("{e:#}")),
                    interrupted: false,
                },
            },
        );
        let cut_short = (records.len() as u64) < per_bug;
        rows.push(row(bug, &records));
        if cut_short {
            break; // interrupted (SIGINT/SIGTERM)
        }
    }
    progress.finish();
    print!("{}", table(&rows, &args));
    if let Some(out) = &args.out {
        let json = serde_json::to_string_pretty(&rows).context("serialize bug-hunt rows")?;
        std::fs::write(out, json + "\n")
            .with_context(|| format!("{}: cannot write", out.display()))?;
    }
    Ok(
        if rows
            .iter()
            .filter(|r| r.bug != CONTROL)
            .all(|r| r.rate >= args.target)
        {
            Exit::Valid
        } else {
            Exit::Invalid
        },
    )
}

fn resolve(args: &BugHuntArgs, bug: &str, seed: u64) -> anyhow::Result<crate::config::RunConfig> {
    if bug.is_empty() {
        return Err(bad_input("--bug: empty name"));
    }
    let mut plan = args.plan.clone();
    plan.seed = Some(seed);
    let mut exec = args.exec.clone();
    if bug != CONTROL {
        exec.node_args.push(format!("--bug={bug}"));
    }
    crate::run::resolve(&crate::run::RunArgs {
        plan,
        exec,
        plan_file: None,
    })
}

/// Summarizes one bug's runs.
pub fn row(bug: &str, records: &[RunRecord]) -> BugRow {
    let detected: Vec<&RunRecord> = records
        .iter()
        .filter(|r| r.verdict == Verdict::Invalid)
        .collect();
    let mut firsts: Vec<f64> = detected
        .iter()
        .filter_map(|r| {
            r.run_dir
                .as_deref()
                .and_then(|d| first_anomaly_s(Path::new(d)))
        })
        .collect();
    BugRow {
        bug: bug.to_string(),
        runs: records.len(),
        detected: detected.len(),
        unknown: records
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Unknown | Verdict::Error))
            .count(),
        rate: if records.is_empty() {
            0.0
        } else {
            100.0 * detected.len() as f64 / records.len() as f64
        },
        median_first_anomaly_s: median(&mut firsts),
        detecting_seeds: detected.iter().map(|r| r.seed).collect(),
        classes: classes(&detected),
    }
}

/// Counts, over runs, each `checker: class` their anomaly lines name (once per run).
fn classes(runs: &[&RunRecord]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in runs {
        let per_run: BTreeSet<&str> = r
            .anomalies
            .iter()
            .map(|a| a.split(" (ops").next().unwrap_or(a))
            .collect();
        for c in per_run {
            *out.entry(c.to_string()).or_default() += 1;
        }
    }
    out
}

/// Seconds from the run's start to the earliest op any (non-informational) anomaly cites.
pub fn first_anomaly_s(run_dir: &Path) -> Option<f64> {
    let data = crate::report::load::load(run_dir).ok()?;
    let cited: BTreeSet<u64> = crate::report::anomaly::checkers(data.results.as_ref()?)
        .into_iter()
        .flat_map(|c| {
            c.anomalies
                .into_iter()
                .filter(|a| !a.informational)
                .flat_map(|a| a.ops)
        })
        .collect();
    data.ops
        .iter()
        .filter(|o| cited.contains(&o.index))
        .map(|o| o.time)
        .min()
        .map(|ns| ns as f64 / 1e9)
}

/// The median, or None for no values.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

fn table(rows: &[BugRow], args: &BugHuntArgs) -> String {
    let mut out = format!(
        "bug-hunt: {} seeds per bug, --time-limit {}, --nemesis {}, --workload {}\n{:<22} {:>5} {:>9} {:>8} {:>7}  {}\n",
        args.seeds.end - args.seeds.start,
        humantime::format_duration(Duration::from_millis(args.plan.time_limit.as_millis() as u64)),
        args.plan.nemesis.flag_value(),
        args.plan.workload,
        "bug",
        "runs",
        "detected",
        "unknown",
        "rate",
        "median time to first anomalous op"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<22} {:>5} {:>9} {:>8} {:>6.0}%  {}\n",
            r.bug,
            r.runs,
            r.detected,
            r.unknown,
            r.rate,
            r.median_first_anomaly_s
                .map(|s| format!("{s:.1} s"))
                .unwrap_or_else(|| "—".into())
        ));
        if !r.classes.is_empty() {
            let cs: Vec<String> = r.classes.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
            out.push_str(&format!("{:<22} anomalies: {}\n", "", cs.join(", ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torture::summary::tests::record;

    #[test]
    fn median_of_odd_even_and_none() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn first_anomaly_is_the_earliest_cited_op() {
        let dir = std::env::temp_dir().join(format!("gauntlet-bughunt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let h = [
            r#"{"index":0,"time":1000000000,"process":0,"type":"invoke","f":"acquire","value":null}"#,
            r#"{"index":1,"time":2500000000,"process":0,"type":"ok","f":"acquire","value":null}"#,
            r#"{"index":2,"time":3000000000,"process":1,"type":"invoke","f":"acquire","value":null}"#,
        ];
        std::fs::write(dir.join("history.jsonl"), h.join("\n")).unwrap();
        std::fs::write(dir.join("results.json"), r#"{"valid":false,"locks":{"valid":false,"split_locks":[{"first":{"acquire_ok":{"index":1}},"second":{"acquire_ok":{"index":2}}}]}}"#).unwrap();
        assert_eq!(first_anomaly_s(&dir), Some(2.5));
        let rec = {
            let mut r = record(3, Verdict::Invalid);
            r.run_dir = Some(dir.display().to_string());
            r
        };
        let row = row(
            "lock-without-quorum",
            &[rec, record(4, Verdict::Valid), record(5, Verdict::Unknown)],
        );
        assert_eq!((row.runs, row.detected, row.unknown), (3, 1, 1));
        assert!((row.rate - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(row.median_first_anomaly_s, Some(2.5));
        assert_eq!(row.detecting_seeds, vec![3]);
        assert_eq!(
            row.classes,
            BTreeMap::from([("locks: split-lock".to_string(), 1)])
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
