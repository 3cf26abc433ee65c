//! The command `gauntlet shrink RUN_DIR`: checks its input, runs the search with real runs
//! as its oracle under the budgets, runs the final plan `--tries` more times to say how often
//! it reproduces (K of N), and writes `RUN_DIR/shrunk/`.
//!
//! Exit: 0 when the final plan is 1-minimal and reproduced at least once; 2 when it is not
//! proven minimal (a budget ran out, the command was interrupted, or the final plan
//! reproduced 0 of N times); 254 for bad input (no such run dir, no plan.json, a run that
//! showed no anomaly, an unknown system, an existing `shrunk/` without `--force`). Nothing
//! of RUN_DIR but `shrunk/` is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cli::parse_duration;
use crate::config::RunConfig;
use crate::exit::{bad_input, Exit};
use crate::plan::Plan;
use crate::repro::Signature;

use super::edits::Size;
use super::output::{Outputs, Progress, Step};
use super::Oracle;

/// The directory inside RUN_DIR the shrinker writes.
pub const SHRUNK_DIR: &str = "shrunk";

/// Flags of `gauntlet shrink`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShrinkArgs {
    /// The failing run to shrink (a directory with test.json, plan.json and results.json).
    pub run_dir: PathBuf,
    /// Runs per candidate: it still fails when any of them shows a target anomaly class
    /// (a deterministic system needs one). Also how often the final plan is rerun.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub tries: u32,
    /// Stop searching after this long (seconds, or e.g. 10m); the best plan so far is kept.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30m")]
    pub max_time: Duration,
    /// Stop searching after this many runs; the best plan so far is kept.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_runs: Option<u64>,
    /// Node binary (default: the stored one if it still exists, else the system's default).
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// Replace an existing RUN_DIR/shrunk/.
    #[arg(long)]
    pub force: bool,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub plain: bool,
}

/// What the command needs, checked before anything runs.
#[derive(Debug)]
pub struct Input {
    /// The failing run (canonical path).
    pub run_dir: PathBuf,
    /// Its plan.
    pub plan: Plan,
    /// What it showed.
    pub target: Signature,
    /// Its configuration, with the store of the tries under `shrunk/runs`.
    pub cfg: RunConfig,
}

/// What a shrink ended with.
#[derive(Debug)]
pub struct Done {
    /// 0 minimal, 2 not proven minimal.
    pub exit: Exit,
    /// `RUN_DIR/shrunk`.
    pub shrunk: PathBuf,
    /// Reruns of the final plan that reproduced (K of [`Done::runs`]).
    pub reproduced: u32,
    /// Reruns of the final plan.
    pub runs: u32,
}

/// Every bad-input check, before the sandbox or any write.
pub fn check_input(args: &ShrinkArgs) -> anyhow::Result<Input> {
    let run_dir = args
        .run_dir
        .canonicalize()
        .map_err(|e| bad_input(format!("{}: {e}", args.run_dir.display())))?;
    let plan_path = run_dir.join(crate::store::PLAN_JSON);
    if !plan_path.is_file() {
        return Err(bad_input(format!(
            "{}: missing; shrink needs the plan the run executed",
            plan_path.display()
        )));
    }
    let state = crate::run_marker::state(&run_dir);
    if !state.is_finished() {
        return Err(bad_input(format!(
            "{} is {}: its results cannot be trusted, nothing to shrink",
            run_dir.display(),
            state.describe()
        )));
    }
    let target = Signature::of_run(&run_dir);
    if target.classes.is_empty() {
        return Err(bad_input(format!(
            "{}: the run showed no anomaly (verdict {:?}); shrink needs a failing run",
            run_dir.display(),
            target.verdict
        )));
    }
    let shrunk = run_dir.join(SHRUNK_DIR);
    if shrunk.exists() && !args.force {
        return Err(bad_input(format!(
            "{}: exists (an earlier shrink); pass --force to replace it",
            shrunk.display()
        )));
    }
    let repro = crate::repro::ReproArgs {
        run_dir: run_dir.clone(),
        tries: 1,
        store: Some(shrunk.join("runs")),
        node_bin: args.node_bin.clone(),
        system: None,
    };
    let cfg = crate::repro::stored_config(&run_dir, &repro)?;
    let plan = Plan::load(&plan_path)?;
    Ok(Input {
        run_dir,
        plan,
        target,
        cfg,
    })
}

/// Runs `gauntlet shrink`.
pub fn main(args: ShrinkArgs) -> anyhow::Result<Exit> {
    crate::term::set_batch();
    let input = check_input(&args)?;
    // A simulated run needs no root and no namespace: its candidates run in-process.
    if !crate::systems::is_simulated(&input.cfg.system) {
        crate::run::enter_sandbox(input.cfg.net)?;
    }
    Ok(shrink_run(&input, &args)?.exit)
}

/// Shrinks a checked input ([`check_input`]); for a system of real processes the process
/// must already be in its controller namespace (as for [`crate::run::run_once`]).
pub fn shrink_run(input: &Input, args: &ShrinkArgs) -> anyhow::Result<Done> {
    let shrunk = input.run_dir.join(SHRUNK_DIR);
    if shrunk.exists() {
        std::fs::remove_dir_all(&shrunk)
            .map_err(|e| anyhow::anyhow!("{}: cannot remove: {e}", shrunk.display()))?;
    }
    std::fs::create_dir_all(shrunk.join("work"))
        .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", shrunk.display()))?;
    let t0 = Instant::now();
    let classes: Vec<String> = input.target.classes.iter().cloned().collect();
    let original = Size::of(&input.plan);
    let deterministic = super::is_deterministic(&input.cfg.system);
    let tries = super::tries_per_candidate(&input.cfg.system, args.tries);
    eprintln!(
        "shrink: {} showed {}; {original}; {}; budget {}{}",
        input.run_dir.display(),
        classes.join(", "),
        if deterministic {
            "one deterministic run a candidate".to_string()
        } else {
            format!("{tries} tries a candidate")
        },
        humantime::format_duration(args.max_time),
        args.max_runs
            .map(|r| format!(", {r} runs"))
            .unwrap_or_default()
    );
    let mut oracle = RealRuns {
        cfg: input.cfg.clone(),
        target: input.target.clone(),
        tries,
        work: shrunk.join("work"),
        deadline: t0 + args.max_time,
        max_runs: args.max_runs,
        runs: 0,
        judged: BTreeMap::new(),
        failing_try: BTreeMap::new(),
        steps: Vec::new(),
        progress: Progress::new(args.plain, original),
        interrupted: false,
        t0,
    };
    let failed_by = failed_by_ms(&input.run_dir);
    let found = super::shrink_from(input.plan.clone(), failed_by, deterministic, &mut oracle);
    oracle.progress.finish();
    let search_runs = oracle.runs;
    let search_seconds = t0.elapsed().as_secs_f64();
    // How often the final plan reproduces: N more runs of it, all of them (one for a
    // deterministic system: it replays exactly).
    let verify = if oracle.interrupted {
        Verification::default()
    } else {
        oracle.verify(&found.plan, tries)
    };
    let evidence = verify
        .first_failing
        .clone()
        .or_else(|| oracle.failing_try.get(&found.plan.to_json()).cloned());
    let complete = found.complete && !oracle.interrupted;
    let exit = if complete && verify.reproduced > 0 {
        Exit::Valid
    } else {
        Exit::Unknown
    };
    let out = Outputs {
        shrunk: &shrunk,
        original_dir: &input.run_dir,
        cfg: &input.cfg,
        plan: &found.plan,
        classes: &classes,
        original,
        complete,
        deterministic,
        reproduced: verify.reproduced,
        verify_runs: verify.runs,
        search_runs,
        search_seconds,
        seconds: t0.elapsed().as_secs_f64(),
        steps: &oracle.steps,
        evidence: evidence.as_deref(),
        exit,
        interrupted: oracle.interrupted,
    };
    out.write()?;
    oracle.clean_work(evidence.as_deref(), &verify.dirs);
    print!("{}", out.summary());
    Ok(Done {
        exit,
        shrunk,
        reproduced: verify.reproduced,
        runs: verify.runs,
    })
}

/// By when (ms into the history) the run's first anomaly had happened: the earliest, over
/// its anomalies, of the time of the last op each cites. None when it cannot be read.
pub fn failed_by_ms(run_dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(run_dir.join(crate::store::RESULTS_JSON)).ok()?;
    let results: checkers::Results = serde_json::from_str(&text).ok()?;
    let anomalies = results.anomalies();
    let cited: std::collections::BTreeSet<u64> = anomalies
        .iter()
        .flat_map(|a| a.ops.iter().copied())
        .collect();
    let history = std::fs::read_to_string(run_dir.join(crate::store::HISTORY)).ok()?;
    let mut time = BTreeMap::new();
    for line in history.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let (Some(i), Some(t)) = (v["index"].as_u64(), v["time"].as_u64()) {
            if cited.contains(&i) {
                time.insert(i, t);
            }
        }
    }
    anomalies
        .iter()
        .filter_map(|a| a.ops.iter().filter_map(|i| time.get(i)).max())
        .min()
        .map(|ns| ns / 1_000_000)
}

/// What the final plan's reruns showed.
#[derive(Debug, Default)]
struct Verification {
    reproduced: u32,
    runs: u32,
    first_failing: Option<PathBuf>,
    dirs: Vec<PathBuf>,
}

/// The oracle of real runs: each candidate plan written to a file and run with
/// `gauntlet run --plan` semantics ([`crate::torture::run_config`]) into `shrunk/runs/`.
struct RealRuns {
    cfg: RunConfig,
    target: Signature,
    tries: u32,
    work: PathBuf,
    deadline: Instant,
    max_runs: Option<u64>,
    runs: u64,
    /// Candidates already judged, by their plan.json text: each is judged once.
    judged: BTreeMap<String, bool>,
    /// The run dir of a try that failed, by the plan's text.
    failing_try: BTreeMap<String, PathBuf>,
    steps: Vec<Step>,
    progress: Progress,
    interrupted: bool,
    t0: Instant,
}

impl RealRuns {
    fn spent(&self) -> bool {
        self.interrupted
            || Instant::now() >= self.deadline
            || self.max_runs.is_some_and(|m| self.runs >= m)
    }

    /// One run of `plan`: whether it showed a target class, and its run dir.
    fn run(&mut self, plan: &Plan) -> (bool, Option<PathBuf>) {
        let file = self.work.join(format!("candidate-{}.json", self.runs + 1));
        if let Err(e) = crate::store::write_atomic(&file, plan.to_json().as_bytes()) {
            tracing::error!("{e:#}");
            return (false, None);
        }
        let mut cfg = self.cfg.clone();
        // As `gauntlet run --plan` resolves it: the run takes its options (time limit,
        // nodes, workload) from the plan's, never from the original's.
        cfg.plan = plan.options.clone();
        cfg.plan_file = Some(file.clone());
        self.runs += 1;
        let outcome = crate::torture::run_config(&cfg);
        let _ = std::fs::remove_file(&file);
        if outcome.interrupted {
            self.interrupted = true;
        }
        if let Some(e) = &outcome.error {
            tracing::warn!("a try could not run: {e}");
        }
        let sig = match &outcome.run_dir {
            Some(d) => Signature::of_run(d),
            None => return (false, None),
        };
        (self.target.reproduced_by(&sig), outcome.run_dir)
    }

    /// Runs the final plan `tries` times (not bounded by the budget).
    fn verify(&mut self, plan: &Plan, tries: u32) -> Verification {
        let mut v = Verification::default();
        for i in 1..=tries {
            let (failed, dir) = self.run(plan);
            v.runs += 1;
            if failed {
                v.reproduced += 1;
                if v.first_failing.is_none() {
                    v.first_failing = dir.clone();
                }
            }
            v.dirs.extend(dir);
            self.progress.line(format!(
                "final plan: try {i}/{tries}: {}",
                if failed {
                    "reproduced"
                } else {
                    "did not reproduce"
                }
            ));
            if self.interrupted {
                break;
            }
        }
        v
    }

    /// Removes the search's run dirs, except `keep` and the final plan's reruns.
    fn clean_work(&self, keep: Option<&Path>, verified: &[PathBuf]) {
        let _ = std::fs::remove_dir_all(&self.work);
        for d in self.failing_try.values() {
            if Some(d.as_path()) != keep && !verified.contains(d) {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
}

impl Oracle for RealRuns {
    fn fails(&mut self, plan: &Plan, pass: &str, change: &str) -> Option<bool> {
        let key = plan.to_json();
        if let Some(&r) = self.judged.get(&key) {
            return Some(r);
        }
        let mut failed = false;
        let mut runs = 0;
        for _ in 0..self.tries {
            if self.spent() {
                return None;
            }
            let (f, dir) = self.run(plan);
            runs += 1;
            if self.interrupted {
                if let Some(d) = dir {
                    let _ = std::fs::remove_dir_all(d);
                }
                return None;
            }
            match (f, dir) {
                (true, Some(d)) => {
                    self.failing_try.insert(key.clone(), d);
                    failed = true;
                    break;
                }
                (_, Some(d)) => {
                    let _ = std::fs::remove_dir_all(d);
                }
                (_, None) => {}
            }
        }
        self.judged.insert(key, failed);
        let step = Step {
            step: self.steps.len() + 1,
            pass: pass.to_string(),
            change: change.to_string(),
            still_fails: failed,
            tries: runs,
            size: Size::of(plan),
            runs_so_far: self.runs,
            seconds: self.t0.elapsed().as_secs_f64(),
        };
        self.progress.step(&step);
        self.steps.push(step);
        Some(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the hint is read from the real checkers' results and the history: the split
    /// lock of the fixture is complete at its 4th op, 40 ms in (10 ms an op).
    #[test]
    fn failed_by_is_the_time_of_the_first_anomaly() {
        let dir = tempfile::tempdir().unwrap();
        crate::fixtures::split_lock_run(dir.path(), 10);
        assert_eq!(failed_by_ms(dir.path()), Some(40));
        std::fs::remove_file(dir.path().join("history.jsonl")).unwrap();
        assert_eq!(failed_by_ms(dir.path()), None);
    }
}
