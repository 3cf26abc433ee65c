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
use crate::config::NemesisSet;
use crate::exit::{bad_input, Exit};
use crate::torture::progress::Progress;
use crate::torture::seeds::{SeedList, SeedRange, Shard};
use crate::torture::summary::{RunRecord, Verdict};
use crate::torture::{run_config, run_seeds_parallel, LoopOptions};
use crate::workloads::{locks, mixed, register, tasks, WorkloadName};

/// A planted bug of gauntlet-node (docs/planted-bugs.md) and the run setting that reveals it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlantedBug {
    /// Its `--bug` name.
    pub name: &'static str,
    /// The workload whose checker sees it.
    pub workload: WorkloadName,
    /// The nemesis (a `--nemesis` value) whose faults reveal it.
    pub nemesis: &'static str,
    /// Its `--nemesis-interval` in ms, when the default (one fault every ~5 s) is too sparse
    /// for it; None: the flag's value.
    pub nemesis_interval_ms: Option<u64>,
    /// Its runs let faults overlap (`--overlap`): it needs two faults at once.
    pub overlap: bool,
    /// A rare bug (docs/planted-bugs.md "Rare bugs"): by design it shows in at most about 10%
    /// of runs, so it is left out of the default matrix (run it with `--bug NAME` or `--rare`)
    /// and its row never decides the exit code.
    pub rare: bool,
}

/// Every planted bug of gauntlet-node (its `--bug` values; a CLI test compares the two lists),
/// each with the workload and nemesis bug-hunt uses unless `--workload`/`--nemesis` are given.
pub const PLANTED_BUGS: [PlantedBug; 8] = [
    // Only a kill loses what the node acknowledged before replicating (a partition or pause
    // only delays the write-behind): under the old mix the seeds that missed it (3 and 9 of
    // 0..10, 2026-12-05) had drawn no kill at all.
    PlantedBug {
        name: "ack-before-quorum",
        workload: mixed::NAME,
        nemesis: "kill",
        nemesis_interval_ms: None,
        overlap: false,
        rare: false,
    },
    // Each partition or kill is a chance for two sides to grant; with one every ~5 s some
    // 30 s runs drew too few (simulated: 173 of seeds 0..200 caught; every ~2 s: 197).
    PlantedBug {
        name: "lock-without-quorum",
        workload: mixed::NAME,
        nemesis: OLD_ALL,
        nemesis_interval_ms: Some(2_000),
        overlap: false,
        rare: false,
    },
    PlantedBug {
        name: "early-lease-expiry",
        workload: mixed::NAME,
        nemesis: OLD_ALL,
        nemesis_interval_ms: None,
        overlap: false,
        rare: false,
    },
    PlantedBug {
        name: "failover-skips-cas",
        workload: mixed::NAME,
        nemesis: OLD_ALL,
        nemesis_interval_ms: None,
        overlap: false,
        rare: false,
    },
    // Only the register workload reads the KV API, and a partition leaves a minority node
    // answering reads from its stale copy.
    PlantedBug {
        name: "stale-read",
        workload: register::NAME,
        nemesis: "partition",
        nemesis_interval_ms: None,
        overlap: false,
        rare: false,
    },
    // Only a wall-clock fault reveals it: a jump ahead on the acceptors ages every lease at
    // once. The locks workload contends on the locks all the time, so a re-grant overlaps.
    // A jump must land while a lease is held and contended: at the default interval 7 of 10
    // seeds caught it, with a clock fault every ~2 s 10 of 10 (docs/bug-hunt.md).
    PlantedBug {
        name: "lease-by-wall-clock",
        workload: locks::NAME,
        nemesis: "clock",
        nemesis_interval_ms: Some(2_000),
        overlap: false,
        rare: false,
    },
    // Rare: a kill must land in the ~10 ms between acknowledging a batched submit and its
    // flush; only the kill nemesis reveals it, and the tasks checker sees the lost submit.
    // A submit is batched only when it reaches a node while another submit is in flight
    // there: the tasks workload gives each node two submitting clients (the mixed one, at the
    // default concurrency, exactly one, so it never batches), and a kill every ~1 s gives the
    // window enough chances (simulated, seeds 0..1000: 94 caught; docs/planted-bugs.md).
    PlantedBug {
        name: "ack-before-flush",
        workload: tasks::NAME,
        nemesis: "kill",
        nemesis_interval_ms: Some(1_000),
        overlap: false,
        rare: true,
    },
    // Rare: a node must be restarted while a partition cuts it off from the majority (two
    // faults at once), and then be asked for a lock; the locks workload asks for them all the
    // time.
    PlantedBug {
        name: "lonely-restart",
        workload: locks::NAME,
        nemesis: "kill,partition",
        nemesis_interval_ms: None,
        overlap: true,
        rare: true,
    },
];

/// What `all` meant before clock, lossy and slow faults: the nemesis the first four bugs'
/// detection rates were measured with (docs/bug-hunt.md), kept so those figures still hold.
const OLD_ALL: &str = "partition,kill,pause";

/// Which of the flags that a bug's own setting would replace were typed on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GivenFlags {
    /// `--workload` was given.
    pub workload: bool,
    /// `--nemesis` was given.
    pub nemesis: bool,
    /// `--nemesis-interval` was given.
    pub nemesis_interval: bool,
}

impl GivenFlags {
    /// Reads it from the matches of the `bug-hunt` subcommand.
    pub fn from_matches(m: &clap::ArgMatches) -> GivenFlags {
        let given = |id: &str| {
            matches!(
                m.value_source(id),
                Some(clap::parser::ValueSource::CommandLine)
            )
        };
        GivenFlags {
            workload: given("workload"),
            nemesis: given("nemesis"),
            nemesis_interval: given("nemesis_interval"),
        }
    }
}

/// One row of the matrix to run: a bug (or the control) with its workload and nemesis.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The bug's name, or [`CONTROL`].
    pub bug: String,
    /// The workload of its runs.
    pub workload: WorkloadName,
    /// The nemesis of its runs.
    pub nemesis: NemesisSet,
    /// The `--nemesis-interval` of its runs, in ms.
    pub nemesis_interval_ms: u64,
    /// Whether its runs let faults overlap (`--overlap`).
    pub overlap: bool,
    /// A rare bug's row: reported, never failing the hunt.
    pub rare: bool,
}

/// The rows to run: the bugs asked for (by default every planted bug that is not rare, and
/// the rare ones too with `rare`), each with its own workload and nemesis unless the flags were
/// given, then one control row per distinct (workload, nemesis, interval, overlap) among them.
pub fn settings(
    bugs: &[String],
    plan: &PlanFlags,
    given: GivenFlags,
    control: bool,
    rare: bool,
) -> anyhow::Result<Vec<Setting>> {
    let names: Vec<&str> = if bugs.is_empty() {
        PLANTED_BUGS
            .iter()
            .filter(|b| rare || !b.rare)
            .map(|b| b.name)
            .collect()
    } else {
        bugs.iter().map(String::as_str).collect()
    };
    let mut rows = Vec::new();
    for name in names.into_iter().filter(|b| *b != "none") {
        if name.is_empty() {
            return Err(bad_input("--bug: empty name"));
        }
        let own = PLANTED_BUGS.iter().find(|b| b.name == name);
        let workload = match own {
            Some(b) if !given.workload => b.workload,
            _ => plan.workload,
        };
        let nemesis = match own {
            Some(b) if !given.nemesis => b
                .nemesis
                .parse()
                .map_err(|e: String| anyhow::anyhow!("planted bug {name}: {e}"))?,
            _ => plan.nemesis.clone(),
        };
        let nemesis_interval_ms = match own.and_then(|b| b.nemesis_interval_ms) {
            Some(ms) if !given.nemesis_interval => ms,
            _ => interval_ms(plan)?,
        };
        rows.push(Setting {
            bug: name.to_string(),
            workload,
            nemesis,
            nemesis_interval_ms,
            overlap: plan.overlap || own.is_some_and(|b| b.overlap),
            rare: own.is_some_and(|b| b.rare),
        });
    }
    if control {
        let mut controls: Vec<Setting> = Vec::new();
        for r in &rows {
            let same = |c: &Setting| {
                c.workload == r.workload
                    && c.nemesis == r.nemesis
                    && c.nemesis_interval_ms == r.nemesis_interval_ms
                    && c.overlap == r.overlap
            };
            if !controls.iter().any(same) {
                controls.push(Setting {
                    bug: CONTROL.to_string(),
                    rare: false,
                    ..r.clone()
                });
            }
        }
        if controls.is_empty() {
            controls.push(Setting {
                bug: CONTROL.to_string(),
                workload: plan.workload,
                nemesis: plan.nemesis.clone(),
                nemesis_interval_ms: interval_ms(plan)?,
                overlap: plan.overlap,
                rare: false,
            });
        }
        rows.extend(controls);
    }
    Ok(rows)
}

/// `--nemesis-interval` in ms, as the run's config takes it.
fn interval_ms(plan: &PlanFlags) -> anyhow::Result<u64> {
    u64::try_from(plan.nemesis_interval.as_millis())
        .map_err(|_| bad_input("--nemesis-interval: too large"))
}

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
    /// Bugs to hunt (repeatable); default: all planted bugs, each with the workload and nemesis
    /// that reveal it (given --workload/--nemesis apply to every row). `none`: only the
    /// control row.
    #[arg(long = "bug")]
    pub bugs: Vec<String>,
    /// Add the rare planted bugs (ack-before-flush, lonely-restart) to the default matrix.
    /// Rare rows are reported but never fail the hunt: by design they show in at most about
    /// 10% of runs. Naming one with --bug runs it too.
    #[arg(long)]
    pub rare: bool,
    /// Detection rate every bug must reach for exit 0, in percent (rare bugs excepted).
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
    /// Runs at once (simulated runs only; default: one per core for --sim, else 1).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Which flags were typed (set by main from clap's matches; default: none).
    #[arg(skip)]
    pub given_on_command_line: GivenFlags,
}

/// One bug's row of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BugRow {
    /// The bug's name.
    pub bug: String,
    /// The workload of its runs.
    pub workload: String,
    /// The nemesis of its runs (a `--nemesis` value).
    pub nemesis: String,
    /// The `--nemesis-interval` of its runs, in ms.
    pub nemesis_interval_ms: u64,
    /// Whether its runs let faults overlap.
    pub overlap: bool,
    /// A rare bug: reported, never failing the hunt.
    pub rare: bool,
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
    crate::term::set_batch();
    // The planted bugs are gauntlet-node's `--bug` switches; no other system has them.
    if args.exec.system != crate::systems::gauntlet_node::NAME {
        return Err(bad_input(format!(
            "--system {}: bug-hunt plants gauntlet-node's bugs (--bug); the system {} has none \
             (use `gauntlet torture --system {}` for many seeds of it)",
            args.exec.system, args.exec.system, args.exec.system
        )));
    }
    let settings = settings(
        &args.bugs,
        &args.plan,
        args.given_on_command_line,
        !args.no_control,
        args.rare,
    )?;
    let first = resolve(&args, &settings[0], args.seeds.start)?;
    let jobs = crate::torture::jobs(args.jobs, &first.system)?;
    if !crate::systems::is_simulated(&first.system) {
        crate::run::enter_sandbox(first.net)?;
    }
    let list = SeedList::Range(args.seeds);
    let per_bug = list.len(Shard::ALL).unwrap_or(0);
    let mut progress = Progress::new(
        Some(per_bug * settings.len() as u64),
        args.plain,
        "bug-hunt",
    );
    let mut rows = Vec::new();
    for setting in &settings {
        crate::term::status(format!(
            "bug-hunt: {}: --workload {} --nemesis {} --nemesis-interval {}, seeds {}..{}",
            setting.bug,
            setting.workload,
            setting.nemesis.flag_value(),
            humantime::format_duration(Duration::from_millis(setting.nemesis_interval_ms)),
            args.seeds.start,
            args.seeds.end
        ));
        let opts = LoopOptions {
            budget: None,
            keep_all: args.keep_all,
        };
        let records =
            run_seeds_parallel(list.iter(Shard::ALL), opts, jobs, &mut progress, |seed| {
                match resolve(&args, setting, seed) {
                    Ok(cfg) => run_config(&cfg),
                    Err(e) => crate::torture::SeedResult {
                        verdict: Verdict::Error,
                        run_dir: None,
                        repro: String::new(),
                        error: Some(format!("{e:#}")),
                        interrupted: false,
                        anomalies: Vec::new(),
                    },
                }
            });
        let cut_short = (records.len() as u64) < per_bug;
        rows.push(row(setting, &records));
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
    Ok(if passes(&rows, &args) {
        Exit::Valid
    } else {
        Exit::Invalid
    })
}

/// Whether every bug row that is neither the control nor rare reached `--target`.
fn passes(rows: &[BugRow], args: &BugHuntArgs) -> bool {
    rows.iter()
        .filter(|r| r.bug != CONTROL && !r.rare)
        .all(|r| r.rate >= args.target)
}

fn resolve(
    args: &BugHuntArgs,
    setting: &Setting,
    seed: u64,
) -> anyhow::Result<crate::config::RunConfig> {
    let mut plan = args.plan.clone();
    plan.seed = Some(seed);
    plan.workload = setting.workload;
    plan.nemesis = setting.nemesis.clone();
    plan.nemesis_interval = Duration::from_millis(setting.nemesis_interval_ms);
    plan.overlap = setting.overlap;
    let mut exec = args.exec.clone();
    if setting.bug != CONTROL {
        exec.node_args.push(format!("--bug={}", setting.bug));
    }
    crate::run::resolve(&crate::run::RunArgs {
        plan,
        exec,
        plan_file: None,
        check_determinism: false,
    })
}

/// Summarizes one bug's runs.
pub fn row(setting: &Setting, records: &[RunRecord]) -> BugRow {
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
        bug: setting.bug.clone(),
        workload: setting.workload.to_string(),
        nemesis: setting.nemesis.flag_value(),
        nemesis_interval_ms: setting.nemesis_interval_ms,
        overlap: setting.overlap,
        rare: setting.rare,
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

/// Seconds from the run's start to the earliest op any anomaly cites, from the run's typed
/// checker results and its history.
pub fn first_anomaly_s(run_dir: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(run_dir.join(crate::store::RESULTS_JSON)).ok()?;
    let results: checkers::Results = serde_json::from_str(&text).ok()?;
    let cited: BTreeSet<u64> = results
        .anomalies()
        .into_iter()
        .flat_map(|a| a.ops)
        .collect();
    let mut first: Option<u64> = None;
    for op in histories::HistoryReader::open(run_dir.join(crate::store::HISTORY)).ok()? {
        let Ok(op) = op else { break };
        if cited.contains(&op.index) {
            first = Some(first.map_or(op.time, |t| t.min(op.time)));
        }
    }
    first.map(|ns| ns as f64 / 1e9)
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
    let nemesis = |r: &BugRow| {
        format!(
            "{} every {}{}",
            r.nemesis,
            humantime::format_duration(Duration::from_millis(r.nemesis_interval_ms)),
            if r.overlap { ", overlap" } else { "" }
        )
    };
    let w = rows
        .iter()
        .map(|r| nemesis(r).chars().count())
        .chain(std::iter::once("nemesis".len()))
        .max()
        .unwrap_or(0);
    let mut out = format!(
        "bug-hunt: {} seeds per bug, --time-limit {}; each row's workload and nemesis (a fault every ~interval) below\n{:<22} {:<9} {:<w$} {:>5} {:>9} {:>8} {:>7}  {}\n",
        args.seeds.end - args.seeds.start,
        humantime::format_duration(Duration::from_millis(args.plan.time_limit.as_millis() as u64)),
        "bug",
        "workload",
        "nemesis",
        "runs",
        "detected",
        "unknown",
        "rate",
        "median time to first anomalous op"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<22} {:<9} {:<w$} {:>5} {:>9} {:>8} {:>6.0}%  {}\n",
            if r.rare {
                format!("{} (rare)", r.bug)
            } else {
                r.bug.clone()
            },
            r.workload,
            nemesis(r),
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
    if rows.iter().any(|r| r.rare) {
        out.push_str("(rare): shows in at most about 10% of runs by design; never fails the hunt (docs/planted-bugs.md \"Rare bugs\")\n");
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
        // Ops 0-3 at 0.5, 1, 1.5 and 2 s; the split lock cites them all: first at 0.5 s.
        crate::fixtures::split_lock_run(&dir, 500);
        assert_eq!(first_anomaly_s(&dir), Some(0.5));
        let rec = {
            let mut r = record(3, Verdict::Invalid);
            r.run_dir = Some(dir.display().to_string());
            r
        };
        let setting = Setting {
            bug: "lock-without-quorum".into(),
            workload: mixed::NAME,
            nemesis: NemesisSet::all(),
            nemesis_interval_ms: 5_000,
            overlap: false,
            rare: false,
        };
        let row = row(
            &setting,
            &[rec, record(4, Verdict::Valid), record(5, Verdict::Unknown)],
        );
        assert_eq!((row.runs, row.detected, row.unknown), (3, 1, 1));
        assert!((row.rate - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(row.median_first_anomaly_s, Some(0.5));
        assert_eq!(row.detecting_seeds, vec![3]);
        assert_eq!(
            row.classes,
            BTreeMap::from([("locks: split-lock".to_string(), 1)])
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn plan_flags(args: &[&str]) -> PlanFlags {
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            plan: PlanFlags,
        }
        let argv = std::iter::once("p").chain(args.iter().copied());
        <P as clap::Parser>::parse_from(argv).plan
    }

    #[test]
    fn default_matrix_has_every_bug_with_its_own_setting_and_a_control_per_setting() {
        let rows = settings(&[], &plan_flags(&[]), GivenFlags::default(), true, false).unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.bug.as_str()).collect();
        assert_eq!(
            names,
            [
                "ack-before-quorum",
                "lock-without-quorum",
                "early-lease-expiry",
                "failover-skips-cas",
                "stale-read",
                "lease-by-wall-clock",
                CONTROL,
                CONTROL,
                CONTROL,
                CONTROL,
                CONTROL
            ]
        );
        let stale = &rows[4];
        assert_eq!(stale.workload, register::NAME);
        assert_eq!(stale.nemesis.flag_value(), "partition");
        let wall = &rows[5];
        assert_eq!(wall.workload, locks::NAME);
        assert_eq!(wall.nemesis.flag_value(), "clock");
        assert_eq!(wall.nemesis_interval_ms, 2_000);
        assert_eq!(rows[0].nemesis_interval_ms, 5_000, "the flag's default");
        assert_eq!(
            rows[10].nemesis_interval_ms, 2_000,
            "the control of lease-by-wall-clock's setting uses its interval"
        );
        assert_eq!(rows[0].nemesis.flag_value(), "kill");
        assert_eq!(rows[1].nemesis.flag_value(), "partition,kill,pause");
        let controls: Vec<(WorkloadName, String, u64)> = rows[6..]
            .iter()
            .map(|r| (r.workload, r.nemesis.flag_value(), r.nemesis_interval_ms))
            .collect();
        let pkp = "partition,kill,pause".to_string();
        assert_eq!(
            controls,
            [
                (mixed::NAME, "kill".to_string(), 5_000),
                (mixed::NAME, pkp.clone(), 2_000),
                (mixed::NAME, pkp, 5_000),
                (register::NAME, "partition".to_string(), 5_000),
                (locks::NAME, "clock".to_string(), 2_000)
            ],
            "a control row for each setting the bugs use"
        );
    }

    #[test]
    fn given_flags_apply_to_every_row() {
        let plan = plan_flags(&["--workload", "locks", "--nemesis", "kill"]);
        let given = GivenFlags {
            workload: true,
            nemesis: true,
            nemesis_interval: false,
        };
        let rows = settings(&["stale-read".into()], &plan, given, true, false).unwrap();
        assert_eq!(rows.len(), 2);
        for r in &rows {
            assert_eq!(r.workload, crate::workloads::locks::NAME);
            assert_eq!(r.nemesis.flag_value(), "kill");
        }
        let only_control = settings(&["none".into()], &plan, given, true, false).unwrap();
        assert_eq!(only_control.len(), 1);
        assert_eq!(only_control[0].bug, CONTROL);
        assert!(settings(&["".into()], &plan, given, false, false).is_err());
    }

    #[test]
    fn rare_bugs_run_only_when_named_or_with_rare_and_never_fail_the_hunt() {
        let plan = plan_flags(&[]);
        let given = GivenFlags::default();
        let default = settings(&[], &plan, given, false, false).unwrap();
        assert!(default.iter().all(|r| !r.rare), "no rare row by default");
        assert_eq!(default.len(), 6);
        let with_rare = settings(&[], &plan, given, true, true).unwrap();
        let rare: Vec<&Setting> = with_rare.iter().filter(|r| r.rare).collect();
        assert_eq!(rare.len(), 2);
        let abf = rare[0];
        assert_eq!(
            (
                abf.bug.as_str(),
                abf.workload,
                abf.nemesis.flag_value(),
                abf.nemesis_interval_ms,
                abf.overlap
            ),
            (
                "ack-before-flush",
                tasks::NAME,
                "kill".to_string(),
                1_000,
                false
            )
        );
        // Its control runs the same setting without the bug.
        assert!(with_rare.iter().any(|c| c.bug == CONTROL
            && c.workload == tasks::NAME
            && c.nemesis_interval_ms == 1_000
            && !c.rare));
        let lonely = rare[1];
        assert_eq!(
            (lonely.bug.as_str(), lonely.workload, lonely.overlap),
            ("lonely-restart", locks::NAME, true)
        );
        assert!(with_rare
            .iter()
            .any(|c| c.bug == CONTROL && c.overlap && c.workload == locks::NAME && !c.rare));
        // Named: it runs, with its own setting, still rare.
        let named = settings(&["lonely-restart".into()], &plan, given, false, false).unwrap();
        assert_eq!(named.len(), 1);
        assert!(named[0].rare && named[0].overlap);
        // A rare row at 0% leaves the hunt valid; a dense one at 0% does not.
        let row_of = |s: &Setting, detected: bool| {
            let v = if detected {
                Verdict::Invalid
            } else {
                Verdict::Valid
            };
            row(s, &[record(1, v)])
        };
        let args = |extra: &[&str]| {
            #[derive(clap::Parser)]
            struct A {
                #[command(flatten)]
                a: BugHuntArgs,
            }
            let argv = std::iter::once("a").chain(extra.iter().copied());
            <A as clap::Parser>::parse_from(argv).a
        };
        let a = args(&[]);
        let rows = [row_of(&default[0], true), row_of(lonely, false)];
        assert!(passes(&rows, &a));
        let rows = [row_of(&default[0], false), row_of(lonely, true)];
        assert!(!passes(&rows, &a));
        let table = table(&[row_of(lonely, true)], &a);
        assert!(table.contains("lonely-restart (rare)"), "{table}");
        assert!(
            table.contains("partition,kill every 5s, overlap"),
            "{table}"
        );
    }
}
