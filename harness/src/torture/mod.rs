//! `gauntlet torture`: many seeds back to back, each a full `gauntlet run` with the same
//! options, for nightly CI.
//!
//! | module | what it owns |
//! | --- | --- |
//! | [`seeds`] | `--seeds`, `--runs`, `--duration` lists and `--shard I/N` slices |
//! | [`summary`] | per-seed records, counts, exit code, the table and `summary.json` |
//! | [`progress`] | the progress bar, or plain lines when stderr is not a terminal |
//! | [`corpus`] | `--corpus DIR`: saved plans replayed first, `--corpus-add` saves shrunk ones |
//!
//! Outputs go to `--out` (default `STORE/torture/<UTC time>[-shard-I-of-N]`): `summary.json`,
//! `junit.xml` (see [`crate::junit`]) and `summary.txt`. Run directories of invalid and unknown
//! seeds are kept, valid ones pruned unless `--keep-all`. Exit: 1 if any seed was invalid,
//! else 2 if any was unknown (or could not run), else 0.

pub mod corpus;
pub mod progress;
pub mod seeds;
pub mod summary;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use crate::cli::{parse_duration, ExecFlags, PlanFlags};
use crate::exit::{bad_input, Exit};
use crate::plan::Plan;
use progress::Progress;
use seeds::{SeedList, SeedRange, Shard};
use summary::{RunRecord, Summary, Verdict};

/// Flags of `gauntlet torture`: those of `gauntlet run`, plus which seeds and where to report.
#[derive(Debug, clap::Args)]
pub struct TortureArgs {
    /// The flags every run gets (as `gauntlet run`); `--seed` is the base seed of --runs/--duration.
    #[command(flatten)]
    pub plan: PlanFlags,
    /// How each run executes (as `gauntlet run`).
    #[command(flatten)]
    pub exec: ExecFlags,
    /// Seeds to run: A..B (B excluded) or A..=B.
    #[arg(long, conflicts_with = "runs")]
    pub seeds: Option<SeedRange>,
    /// Number of runs, seeds --seed, --seed+1, … (default 10 unless --seeds or --duration).
    #[arg(long)]
    pub runs: Option<u64>,
    /// Time budget: no new run starts once it is spent (seconds, or e.g. 2h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Run only slice I of N of the seeds (round-robin), e.g. 2/4, for CI matrices.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Keep the run directories of valid runs too.
    #[arg(long)]
    pub keep_all: bool,
    /// Directory for summary.json, junit.xml and summary.txt.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub plain: bool,
    /// Runs at once (simulated runs only; default: one per core for --sim, else 1).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// A regression corpus (docs/shrink.md): replay every plan saved in DIR before the
    /// seeds, each its own JUnit test case `corpus NAME`.
    #[arg(long, value_name = "DIR")]
    pub corpus: Option<PathBuf>,
    /// Shrink each invalid seed (`gauntlet shrink`) and save its shrunk plan into --corpus.
    #[arg(long, requires = "corpus")]
    pub corpus_add: bool,
    /// The time budget of each --corpus-add shrink.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m", requires = "corpus_add")]
    pub corpus_shrink_time: Duration,
    /// Tries per candidate of each --corpus-add shrink.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100), requires = "corpus_add")]
    pub corpus_tries: u32,
}

/// What running one seed gave.
#[derive(Debug, Clone)]
pub struct SeedResult {
    /// The verdict.
    pub verdict: Verdict,
    /// Where the run is stored.
    pub run_dir: Option<PathBuf>,
    /// The command that reruns it.
    pub repro: String,
    /// Why it could not run, for [`Verdict::Error`].
    pub error: Option<String>,
    /// SIGINT/SIGTERM/SIGHUP cut the run short: the loop starts no further run.
    pub interrupted: bool,
    /// One line per anomaly ([`anomaly_lines`] of the run's checker results).
    pub anomalies: Vec<String>,
}

/// The loop's settings, apart from the seeds.
#[derive(Debug, Clone, Copy)]
pub struct LoopOptions {
    /// No new run starts after this much time.
    pub budget: Option<Duration>,
    /// Keep valid runs' directories.
    pub keep_all: bool,
}

/// Runs `gauntlet torture`.
pub fn main(args: TortureArgs) -> anyhow::Result<Exit> {
    crate::term::set_batch();
    let list = seed_list(&args)?;
    let shard = args.shard.unwrap_or(Shard::ALL);
    // Resolve the flags once up front so a bad value stops everything with 254.
    let first = list
        .iter(shard)
        .next()
        .ok_or_else(|| bad_input(format!("--shard {shard}: no seeds in this slice")))?;
    let cfg = resolve(&args, first)?;
    let jobs = jobs(args.jobs, &cfg.system)?;
    let entries = match &args.corpus {
        Some(dir) => corpus::for_shard(corpus::load(dir)?, shard),
        None => Vec::new(),
    };
    // Before any thread starts (the progress bar ticks on one): the controller namespace.
    if !crate::systems::is_simulated(&cfg.system) {
        crate::run::enter_sandbox(cfg.net)?;
    }
    let out = out_dir(&args, shard);
    std::fs::create_dir_all(&out).map_err(|e| {
        bad_input(format!(
            "{} (from --out or --store): cannot create: {e}",
            out.display()
        ))
    })?;
    eprintln!(
        "torture: {} seeds{} of {list}; outputs in {}",
        list.len(shard)
            .map(|n| n.to_string())
            .unwrap_or_else(|| "unbounded".into()),
        args.shard
            .map(|s| format!(" (shard {s})"))
            .unwrap_or_default(),
        out.display()
    );
    let _index = crate::index::RefreshOnDrop(args.exec.store.clone());
    let started = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let t0 = Instant::now();
    let mut runs = replay_corpus(&entries, &cfg);
    let mut progress = Progress::new(list.len(shard), args.plain, "torture");
    let opts = LoopOptions {
        budget: args.duration,
        keep_all: args.keep_all,
    };
    let seeds = run_seeds_parallel(list.iter(shard), opts, jobs, &mut progress, |seed| {
        run_seed(&args, seed)
    });
    progress.finish();
    if args.corpus_add {
        if let Some(dir) = &args.corpus {
            add_to_corpus(&args, dir, &seeds);
        }
    }
    runs.extend(seeds);
    let summary = Summary {
        name: format!("{}-{}", args.plan.workload, args.plan.nemesis.label()),
        shards: args.shard.map(|s| vec![s.to_string()]).unwrap_or_default(),
        started,
        seconds: t0.elapsed().as_secs_f64(),
        runs,
    };
    write_outputs(&summary, &out)?;
    print!("{}", summary.table());
    println!(
        "summary: {}\njunit: {}",
        out.join("summary.json").display(),
        out.join("junit.xml").display()
    );
    Ok(summary.exit())
}

/// Replays the corpus entries, in order, each a record named after it.
fn replay_corpus(entries: &[corpus::Entry], cfg: &crate::config::RunConfig) -> Vec<RunRecord> {
    let mut out = Vec::new();
    if entries.is_empty() {
        return out;
    }
    for e in entries {
        crate::term::status(format!("torture: corpus {}: replaying", e.name));
        let (r, interrupted) = corpus::replay(e, cfg);
        crate::term::status(format!(
            "torture: corpus {}: {} in {:.1}s",
            e.name,
            r.verdict.name(),
            r.seconds
        ));
        out.push(r);
        if interrupted {
            crate::term::status("torture: interrupted; no further runs");
            break;
        }
    }
    out
}

/// Shrinks each invalid seed whose run dir was kept and saves the shrunk plan into the
/// corpus when it reproduced at least once. A shrink that fails is logged; it never changes
/// the torture run's verdict.
fn add_to_corpus(args: &TortureArgs, dir: &Path, seeds: &[RunRecord]) {
    for r in seeds
        .iter()
        .filter(|r| r.verdict == Verdict::Invalid && r.kept)
    {
        let Some(run_dir) = &r.run_dir else { continue };
        let sargs = crate::shrink::cmd::ShrinkArgs {
            run_dir: run_dir.into(),
            tries: args.corpus_tries,
            max_time: args.corpus_shrink_time,
            max_runs: None,
            node_bin: args.exec.node_bin.clone(),
            force: true,
            plain: true,
        };
        let added = crate::shrink::cmd::check_input(&sargs).and_then(|input| {
            let done = crate::shrink::cmd::shrink_run(&input, &sargs)?;
            if done.reproduced == 0 {
                anyhow::bail!(
                    "the shrunk plan reproduced 0 of {} tries; not added",
                    done.runs
                );
            }
            let plan = Plan::load(&done.shrunk.join(crate::store::PLAN_JSON))?;
            let case = corpus::Case {
                classes: input.target.classes.iter().cloned().collect(),
                from_run: input.run_dir.display().to_string(),
                seed: r.seed,
                node_args: input.cfg.node_args.clone(),
                reproduced: [done.reproduced, done.runs],
                minimal: done.exit == Exit::Valid,
                added: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            };
            corpus::add(dir, &plan, &case)
        });
        match added {
            Ok(path) => eprintln!(
                "torture: seed {}: shrunk plan added to the corpus: {}",
                r.seed,
                path.display()
            ),
            Err(e) => eprintln!("torture: seed {}: not added to the corpus: {e:#}", r.seed),
        }
    }
}

fn seed_list(args: &TortureArgs) -> anyhow::Result<SeedList> {
    if args.duration.is_some_and(|d| d.is_zero()) {
        return Err(bad_input(
            "--duration: must be more than 0 (0 would run nothing)",
        ));
    }
    if let Some(range) = args.seeds {
        if args.plan.seed.is_some() {
            return Err(bad_input(
                "--seed: not allowed with --seeds (the range gives the seeds)",
            ));
        }
        return Ok(SeedList::Range(range));
    }
    let base = match args.plan.seed {
        Some(s) => s,
        None if args.shard.is_some() => {
            return Err(bad_input(
                "--shard: needs --seeds or --seed, so that every shard slices the same list",
            ))
        }
        None => {
            let s = crate::cli::random_seed();
            eprintln!("torture: base seed {s} (random; pass --seed {s} to repeat)");
            s
        }
    };
    Ok(match (args.runs, args.duration) {
        (Some(0), _) => return Err(bad_input("--runs: must be at least 1")),
        (Some(runs), _) => SeedList::Count { base, runs },
        (None, Some(_)) => SeedList::Unbounded { base },
        (None, None) => SeedList::Count { base, runs: 10 },
    })
}

fn out_dir(args: &TortureArgs, shard: Shard) -> PathBuf {
    if let Some(o) = &args.out {
        return o.clone();
    }
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(':', "");
    let suffix = args
        .shard
        .map(|_| format!("-shard-{}-of-{}", shard.index, shard.count))
        .unwrap_or_default();
    args.exec
        .store
        .join("torture")
        .join(format!("{stamp}{suffix}"))
}

/// Writes summary.json, junit.xml and summary.txt into `out`.
pub fn write_outputs(summary: &Summary, out: &Path) -> anyhow::Result<()> {
    summary.write(&out.join("summary.json"))?;
    let junit = out.join("junit.xml");
    std::fs::write(&junit, crate::junit::render(summary))
        .with_context(|| format!("{}: cannot write", junit.display()))?;
    let txt = out.join("summary.txt");
    std::fs::write(&txt, summary.table())
        .with_context(|| format!("{}: cannot write", txt.display()))
}

/// Runs each seed with `run`, until the seeds or the time budget run out; prunes valid runs'
/// directories unless asked to keep them. Pure apart from `run` and the pruning.
pub fn run_seeds(
    seeds: impl Iterator<Item = u64>,
    opts: LoopOptions,
    progress: &mut Progress,
    mut run: impl FnMut(u64) -> SeedResult,
) -> Vec<RunRecord> {
    let t0 = Instant::now();
    let mut records = Vec::new();
    for seed in seeds {
        if opts.budget.is_some_and(|b| t0.elapsed() >= b) {
            crate::term::status(format!(
                "torture: time budget spent after {} runs",
                records.len()
            ));
            break;
        }
        progress.starting(seed);
        let start = Instant::now();
        let result = run(seed);
        let took = start.elapsed();
        progress.finished(seed, result.verdict, took);
        let interrupted = result.interrupted;
        records.push(record(seed, result, took, opts.keep_all));
        if interrupted {
            crate::term::status("torture: interrupted; no further runs");
            break;
        }
    }
    records
}

/// [`run_seeds`] on `jobs` threads at once (CPU-bound simulated runs: `--jobs`): each thread
/// takes the next seed of the list until it is used up or the budget spent; the records come
/// back in the list's order, whatever order the runs ended in. One job: [`run_seeds`].
pub fn run_seeds_parallel(
    seeds: impl Iterator<Item = u64> + Send,
    opts: LoopOptions,
    jobs: usize,
    progress: &mut Progress,
    run: impl Fn(u64) -> SeedResult + Sync,
) -> Vec<RunRecord> {
    if jobs <= 1 {
        return run_seeds(seeds, opts, progress, run);
    }
    let t0 = Instant::now();
    let queue = std::sync::Mutex::new(seeds.enumerate());
    let (tx, rx) = std::sync::mpsc::channel();
    let mut out: Vec<(usize, RunRecord)> = Vec::new();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let (tx, queue, run) = (tx.clone(), &queue, &run);
            s.spawn(move || loop {
                if opts.budget.is_some_and(|b| t0.elapsed() >= b) {
                    return;
                }
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some((i, seed)) = next else {
                    return;
                };
                let start = Instant::now();
                let result = run(seed);
                if tx.send((i, seed, result, start.elapsed())).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        for (i, seed, result, took) in rx {
            progress.finished(seed, result.verdict, took);
            out.push((i, record(seed, result, took, opts.keep_all)));
        }
    });
    if opts.budget.is_some_and(|b| t0.elapsed() >= b) {
        crate::term::status(format!(
            "torture: time budget spent after {} runs",
            out.len()
        ));
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// `--jobs`: how many runs at once. Simulated runs default to one per core; runs of real
/// processes share the controller's namespace and run one at a time (more is bad input).
pub fn jobs(asked: Option<usize>, system: &str) -> anyhow::Result<usize> {
    let simulated = crate::systems::is_simulated(system);
    match asked {
        Some(0) => Err(bad_input("--jobs: 0; expected at least 1")),
        Some(n) if n > 1 && !simulated => Err(bad_input(format!(
            "--jobs {n}: the {system} system runs one seed at a time (parallel runs need --sim)"
        ))),
        Some(n) => Ok(n),
        None if simulated => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        None => Ok(1),
    }
}

fn record(seed: u64, result: SeedResult, took: Duration, keep_all: bool) -> RunRecord {
    let mut kept = result.run_dir.as_ref().is_some_and(|d| d.exists());
    if kept && result.verdict == Verdict::Valid && !keep_all {
        let dir = result.run_dir.as_deref().unwrap_or(Path::new(""));
        match std::fs::remove_dir_all(dir) {
            Ok(()) => kept = false,
            Err(e) => tracing::warn!("cannot prune {}: {e}", dir.display()),
        }
    }
    RunRecord {
        seed,
        case: None,
        verdict: result.verdict,
        seconds: took.as_secs_f64(),
        run_dir: result.run_dir.map(|d| d.display().to_string()),
        kept,
        repro: result.repro,
        anomalies: result.anomalies,
        error: result.error,
    }
}

/// One line per anomaly of a run's checker results: `checker: class (ops …) detail`.
pub fn anomaly_lines(results: &checkers::Results) -> Vec<String> {
    results
        .anomalies()
        .iter()
        .map(|a| {
            let ops: Vec<String> = a.ops.iter().map(u64::to_string).collect();
            let detail = crate::report::nodes::truncate(&a.detail.to_string(), 300);
            format!("{} (ops {}) {detail}", a.signature(), ops.join(" "))
        })
        .collect()
}

/// Runs one seed with the torture flags, resolved exactly as `gauntlet run` resolves them.
fn run_seed(args: &TortureArgs, seed: u64) -> SeedResult {
    match resolve(args, seed) {
        Ok(cfg) => run_config(&cfg),
        Err(e) => SeedResult {
            verdict: Verdict::Error,
            run_dir: None,
            repro: format!("gauntlet run --seed {seed} (with this torture run's flags)"),
            error: Some(format!("{e:#}")),
            interrupted: false,
            anomalies: Vec::new(),
        },
    }
}

/// The configuration of `gauntlet run --seed SEED` with the torture run's other flags.
fn resolve(args: &TortureArgs, seed: u64) -> anyhow::Result<crate::config::RunConfig> {
    let mut plan = args.plan.clone();
    plan.seed = Some(seed);
    crate::run::resolve(&crate::run::RunArgs {
        plan,
        exec: args.exec.clone(),
        plan_file: None,
        check_determinism: false,
    })
}

/// Runs one fully configured run through [`crate::run::run_once`]; a run that fails to run
/// at all becomes [`Verdict::Error`] with the reason.
pub fn run_config(cfg: &crate::config::RunConfig) -> SeedResult {
    match crate::run::run_once(cfg) {
        Ok(o) => {
            let verdict = match o.exit {
                Exit::Valid => Verdict::Valid,
                Exit::Invalid => Verdict::Invalid,
                Exit::Unknown => Verdict::Unknown,
                Exit::BadInput | Exit::Crash => Verdict::Error,
            };
            let (verdict, error) = trusted_verdict(verdict, &crate::run_marker::state(&o.run_dir));
            SeedResult {
                verdict,
                run_dir: Some(o.run_dir),
                repro: o.repro,
                error,
                interrupted: o.interrupted,
                anomalies: anomaly_lines(&o.results),
            }
        }
        Err(e) => SeedResult {
            verdict: Verdict::Error,
            run_dir: None,
            repro: format!(
                "gauntlet run --seed {} (with the same flags)",
                cfg.plan.seed
            ),
            error: Some(format!("{e:#}")),
            interrupted: false,
            anomalies: Vec::new(),
        },
    }
}

/// A valid verdict counts only if its run directory says finished (results.json written and
/// synced): never a valid seed whose evidence is not on disk. Such a seed is unknown, and the
/// error says why.
fn trusted_verdict(
    verdict: Verdict,
    state: &crate::run_marker::RunDirState,
) -> (Verdict, Option<String>) {
    if verdict == Verdict::Valid && !state.is_finished() {
        (
            Verdict::Unknown,
            Some(format!("run directory {}", state.describe())),
        )
    } else {
        (verdict, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_marker::RunDirState;

    /// Proves: a valid seed whose run directory is not finished (its results.json was never
    /// confirmed written) is counted unknown, with the reason; other verdicts stand.
    #[test]
    fn a_valid_seed_needs_a_finished_run_dir() {
        assert_eq!(
            trusted_verdict(Verdict::Valid, &RunDirState::Finished),
            (Verdict::Valid, None)
        );
        let running = RunDirState::Running {
            owner: "1:2".into(),
        };
        let (v, why) = trusted_verdict(Verdict::Valid, &running);
        assert_eq!(v, Verdict::Unknown);
        assert!(why.is_some_and(|w| w.contains("running")));
        assert_eq!(
            trusted_verdict(Verdict::Invalid, &RunDirState::Unfinished),
            (Verdict::Invalid, None)
        );
    }

    /// A fake runner that makes a run dir per seed: multiples of 3 invalid, of 5 unknown.
    fn fake(root: &Path) -> impl FnMut(u64) -> SeedResult + '_ {
        move |seed| {
            let dir = root.join(format!("seed{seed}"));
            std::fs::create_dir_all(&dir).unwrap();
            let mut anomalies = Vec::new();
            let verdict = if seed % 3 == 0 {
                anomalies = anomaly_lines(&crate::fixtures::split_lock_results());
                Verdict::Invalid
            } else if seed % 5 == 0 {
                Verdict::Unknown
            } else {
                Verdict::Valid
            };
            SeedResult {
                verdict,
                run_dir: Some(dir),
                repro: format!("gauntlet run --seed {seed}"),
                error: None,
                interrupted: false,
                anomalies,
            }
        }
    }

    #[test]
    fn keeps_failing_runs_prunes_passing_ones_and_records_anomalies() {
        let root =
            std::env::temp_dir().join(format!("gauntlet-torture-loop-{}", std::process::id()));
        let mut p = Progress::new(Some(6), true, "torture");
        let opts = LoopOptions {
            budget: None,
            keep_all: false,
        };
        let recs = run_seeds(1..=6, opts, &mut p, fake(&root));
        let kept: Vec<(u64, bool)> = recs.iter().map(|r| (r.seed, r.kept)).collect();
        assert_eq!(
            kept,
            vec![
                (1, false),
                (2, false),
                (3, true),
                (4, false),
                (5, true),
                (6, true)
            ]
        );
        assert!(
            !root.join("seed1").exists()
                && root.join("seed3").exists()
                && root.join("seed5").exists()
        );
        assert_eq!(recs[2].anomalies.len(), 1, "{:?}", recs[2].anomalies);
        assert!(
            recs[2].anomalies[0].starts_with("locks: split-lock (ops 0 1 2 3) {"),
            "{:?}",
            recs[2].anomalies
        );
        let recs = run_seeds(
            7..=8,
            LoopOptions {
                budget: None,
                keep_all: true,
            },
            &mut p,
            fake(&root),
        );
        assert!(
            recs.iter().all(|r| r.kept) && root.join("seed7").exists(),
            "--keep-all keeps valid runs"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// Proves: a run cut short by SIGINT/SIGTERM ends the loop after it is recorded.
    #[test]
    fn an_interrupted_run_ends_the_loop() {
        let root =
            std::env::temp_dir().join(format!("gauntlet-torture-int-{}", std::process::id()));
        let mut p = Progress::new(Some(5), true, "torture");
        let mut inner = fake(&root);
        let opts = LoopOptions {
            budget: None,
            keep_all: false,
        };
        let recs = run_seeds(1..=5, opts, &mut p, |s| SeedResult {
            interrupted: s == 2,
            ..inner(s)
        });
        assert_eq!(recs.iter().map(|r| r.seed).collect::<Vec<_>>(), vec![1, 2]);
        let _ = std::fs::remove_dir_all(&root);
    }

    /// Proves: over an unbounded seed list the loop stops once the budget is spent, and
    /// starts no run after that (each run takes at least 20 ms, so at most 3 start in 50 ms).
    #[test]
    fn a_spent_budget_starts_no_new_run() {
        let root =
            std::env::temp_dir().join(format!("gauntlet-torture-budget-{}", std::process::id()));
        let mut p = Progress::new(None, true, "torture");
        let mut calls = 0;
        let mut inner = fake(&root);
        let opts = LoopOptions {
            budget: Some(Duration::from_millis(50)),
            keep_all: false,
        };
        let t0 = Instant::now();
        let recs = run_seeds(1.., opts, &mut p, |s| {
            calls += 1;
            std::thread::sleep(Duration::from_millis(20));
            inner(s)
        });
        assert!(
            t0.elapsed() >= Duration::from_millis(50),
            "stopped before the budget was spent"
        );
        assert!(
            (1..=3).contains(&recs.len()),
            "{} runs in a 50 ms budget of 20 ms runs",
            recs.len()
        );
        assert_eq!(calls, recs.len());
        let _ = std::fs::remove_dir_all(&root);
    }
}
