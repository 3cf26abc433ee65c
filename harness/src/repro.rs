//! `gauntlet repro RUN_DIR [--tries N]`: reruns exactly a stored run (its test.json
//! configuration and its plan.json) until a try shows the same anomaly class, and says how
//! many tries that took and where each try is stored.
//!
//! "The same anomaly class" is a `checker: class` pair (e.g. `locks: split-lock`, the
//! classes of [`checkers::anomaly`]) found in both the original results.json and the try's,
//! both read as typed checker results. A stored run without anomalies (unknown, say)
//! is reproduced by a try with the same verdict. Exit: the verdict of the reproducing try;
//! when none reproduces, the worst verdict among the tries (so a different anomaly found on
//! the way still exits 1).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use checkers::{Results, Verdict};
use serde_json::Value;

use crate::config::RunConfig;
use crate::exit::{bad_input, Exit};

/// Flags of `gauntlet repro`.
#[derive(Debug, clap::Args)]
pub struct ReproArgs {
    /// The stored run to reproduce (a directory with test.json and plan.json).
    pub run_dir: PathBuf,
    /// Most tries before giving up.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub tries: u32,
    /// Store root for the tries (default: the store the run is in).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Node binary (default: the stored one if it still exists, else the system's default).
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// The system to rerun on (default: the one the stored run tested, `gauntlet-node` for a
    /// run stored before `--system` existed).
    #[arg(long)]
    pub system: Option<String>,
}

/// What a run showed: its verdict and its anomaly classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The run's verdict.
    pub verdict: Verdict,
    /// `checker: class` of each anomaly.
    pub classes: BTreeSet<String>,
}

impl Signature {
    /// Reads a run directory's results.json as the checkers' typed results (missing,
    /// unreadable, not results, or in a run directory that is not finished, such as an
    /// aborted one: unknown, no classes).
    pub fn of_run(run_dir: &Path) -> Signature {
        let results = std::fs::read_to_string(run_dir.join("results.json"))
            .ok()
            .filter(|_| crate::run_marker::state(run_dir).is_finished())
            .and_then(|t| serde_json::from_str::<Results>(&t).ok());
        match results {
            Some(r) => Signature::of_results(&r),
            None => Signature {
                verdict: Verdict::Unknown,
                classes: BTreeSet::new(),
            },
        }
    }

    /// The verdict and anomaly classes of typed results.
    pub fn of_results(results: &Results) -> Signature {
        Signature {
            verdict: results.valid,
            classes: results.anomalies().iter().map(|a| a.signature()).collect(),
        }
    }

    /// Whether `try_` shows what `self` (the original) showed.
    pub fn reproduced_by(&self, try_: &Signature) -> bool {
        if self.classes.is_empty() {
            self.verdict == try_.verdict
        } else {
            !self.classes.is_disjoint(&try_.classes)
        }
    }
}

/// Reads the stored configuration and points it at the stored plan.
pub fn stored_config(run_dir: &Path, args: &ReproArgs) -> anyhow::Result<RunConfig> {
    let test = run_dir.join("test.json");
    let text = std::fs::read_to_string(&test)
        .map_err(|e| bad_input(format!("{}: {e}", test.display())))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| bad_input(format!("{}: not JSON: {e}", test.display())))?;
    let inner = value.get("config").cloned().unwrap_or(value);
    let mut cfg: RunConfig = serde_json::from_value(inner)
        .map_err(|e| bad_input(format!("{}: not a run configuration: {e}", test.display())))?;
    let plan = run_dir.join("plan.json");
    if !plan.is_file() {
        return Err(bad_input(format!(
            "{}: missing; cannot rerun the same plan",
            plan.display()
        )));
    }
    // A garbage plan is bad input, found before any try (not an unknown verdict per try).
    crate::plan::Plan::load(&plan).context("the stored plan cannot be rerun")?;
    cfg.plan_file = Some(plan);
    cfg.store = match &args.store {
        Some(s) => s.clone(),
        // RUN_DIR is STORE/<workload>-<nemesis>/<time>-seed<seed>.
        None => run_dir
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| cfg.store.clone()),
    };
    if let Some(system) = &args.system {
        if *system != cfg.system && args.node_bin.is_none() {
            cfg.node_bin = (crate::systems::by_name(system)?.default_bin)()?;
        }
        cfg.system = system.clone();
    }
    crate::systems::by_name(&cfg.system)?.check_workload(cfg.plan.workload)?;
    if let Some(bin) = &args.node_bin {
        cfg.node_bin = bin.clone();
    } else if !cfg.node_bin.is_file() && !crate::systems::is_simulated(&cfg.system) {
        let fallback = (crate::systems::by_name(&cfg.system)?.default_bin)()?;
        eprintln!(
            "repro: stored node binary {} is gone; using {}",
            cfg.node_bin.display(),
            fallback.display()
        );
        cfg.node_bin = fallback;
    }
    Ok(cfg)
}

/// Runs `gauntlet repro`.
pub fn main(args: ReproArgs) -> anyhow::Result<Exit> {
    let run_dir = args
        .run_dir
        .canonicalize()
        .map_err(|e| bad_input(format!("{}: {e}", args.run_dir.display())))?;
    let target = Signature::of_run(&run_dir);
    let state = crate::run_marker::state(&run_dir);
    if !state.is_finished() {
        println!(
            "repro: {} is {}; its results are not trusted",
            run_dir.display(),
            state.describe()
        );
    }
    let cfg = stored_config(&run_dir, &args)?;
    let wanted = if target.classes.is_empty() {
        format!("verdict {}", verdict_name(target.verdict))
    } else {
        target
            .classes
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    let simulated = crate::systems::is_simulated(&cfg.system);
    if !simulated {
        crate::run::enter_sandbox(cfg.net)?;
    }
    // A simulated run replays exactly: one try says all.
    let tries = if simulated { 1 } else { args.tries };
    let _index = crate::index::RefreshOnDrop(cfg.store.clone());
    if simulated {
        println!(
            "repro: {} showed {wanted}; a simulated run replays exactly: one try",
            run_dir.display()
        );
        if let Some(d) = crate::systems::sim::config_drift(&run_dir, &cfg) {
            println!("repro: {d}");
        }
    } else {
        println!(
            "repro: {} showed {wanted}; up to {tries} tries",
            run_dir.display()
        );
    }
    let mut worst = Exit::Valid;
    let mut stored = Vec::new();
    for i in 1..=tries {
        let outcome = crate::torture::run_config(&cfg);
        let sig = match &outcome.run_dir {
            Some(d) => Signature::of_run(d),
            None => Signature {
                verdict: outcome.verdict.checked().unwrap_or(Verdict::Unknown),
                classes: BTreeSet::new(),
            },
        };
        let dir = outcome
            .run_dir
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| "(not stored)".into());
        println!(
            "repro: try {i}/{}: {}{} — stored in {dir}",
            tries,
            verdict_name(sig.verdict),
            if sig.classes.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    sig.classes.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            }
        );
        if let Some(e) = &outcome.error {
            println!("repro: try {i} failed to run: {e}");
        }
        if simulated {
            if let Some(d) = &outcome.run_dir {
                println!("repro: {}", exactness(&run_dir, d));
            }
        }
        stored.push(dir);
        let exit = Exit::of(sig.verdict);
        if outcome.interrupted {
            println!("repro: interrupted on try {i}; stopping");
            return Ok(worst.worse(exit));
        }
        if target.reproduced_by(&sig) {
            println!("repro: reproduced on try {i} of {}", tries);
            return Ok(exit);
        }
        worst = worst.worse(exit);
    }
    println!("repro: not reproduced in {} tries; tries stored in:", tries);
    for d in &stored {
        println!("  {d}");
    }
    Ok(worst)
}

/// Whether a simulated try's history is the stored run's, byte for byte (replay holds for
/// the same build: a changed node or simulator changes runs).
fn exactness(original: &Path, try_dir: &Path) -> String {
    let read = |d: &Path| std::fs::read_to_string(d.join(crate::store::HISTORY));
    match (read(original), read(try_dir)) {
        (Ok(a), Ok(b)) => match crate::systems::sim::first_difference(&a, &b) {
            None => format!(
                "the try's history.jsonl is byte-identical to the stored run's ({} ops)",
                a.lines().count()
            ),
            Some(d) => format!(
                "the try's history differs from the stored run's ({d}): was the stored run made by another build?"
            ),
        },
        (Err(e), _) | (_, Err(e)) => format!("cannot compare the histories: {e}"),
    }
}

/// The verdict as repro prints it: `valid`, `invalid`, `unknown`.
fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Valid => "valid",
        Verdict::Invalid => "invalid",
        Verdict::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(verdict: Verdict, classes: &[&str]) -> Signature {
        Signature {
            verdict,
            classes: classes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn same_class_reproduces_other_classes_do_not() {
        let orig = sig(Verdict::Invalid, &["locks: split-lock"]);
        assert!(orig.reproduced_by(&sig(
            Verdict::Invalid,
            &["tasks: lost", "locks: split-lock"]
        )));
        assert!(!orig.reproduced_by(&sig(Verdict::Invalid, &["tasks: lost"])));
        assert!(!orig.reproduced_by(&sig(Verdict::Valid, &[])));
        let unknown = sig(Verdict::Unknown, &[]);
        assert!(unknown.reproduced_by(&sig(Verdict::Unknown, &[])));
        assert!(!unknown.reproduced_by(&sig(Verdict::Valid, &[])));
    }

    #[test]
    fn signature_reads_results_json() {
        let dir = std::env::temp_dir().join(format!("gauntlet-repro-sig-{}", std::process::id()));
        crate::fixtures::split_lock_run(&dir, 1);
        assert_eq!(
            Signature::of_run(&dir),
            sig(Verdict::Invalid, &["locks: split-lock"])
        );
        // Proves: the same results in a run dir whose controller died before confirming them
        // (RUNNING naming a dead pid) are not trusted: unknown, no classes.
        std::fs::write(dir.join(crate::run_marker::RUNNING), "4194305:1\n").unwrap();
        assert_eq!(Signature::of_run(&dir), sig(Verdict::Unknown, &[]));
        crate::run_marker::mark_aborted(&dir).unwrap();
        assert_eq!(Signature::of_run(&dir), sig(Verdict::Unknown, &[]));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            Signature::of_run(&dir).verdict,
            Verdict::Unknown,
            "no results: unknown"
        );
    }

    /// Proves repro honours the stored system (a test.json from before `--system` means
    /// gauntlet-node) and that `--system` naming an unknown system is bad input naming the
    /// flag, before any try.
    #[test]
    fn the_stored_system_is_honoured_and_an_unknown_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("node");
        std::fs::write(&bin, "").unwrap();
        let plan = crate::plan::generate(&crate::plan::tests_support::opts(5));
        std::fs::write(dir.path().join("plan.json"), plan.to_json()).unwrap();
        let cfg = serde_json::json!({"config": {
            "plan": plan.options, "plan_file": null, "store": "store", "node_bin": bin,
            "node_args": [], "net": "namespaces", "net_backend": null, "recovery_ms": 20000,
            "op_timeout_ms": 2000, "min_ok_ops": 10,
        }});
        std::fs::write(dir.path().join("test.json"), cfg.to_string()).unwrap();
        let args = |system: Option<&str>| ReproArgs {
            run_dir: dir.path().into(),
            tries: 1,
            store: None,
            node_bin: None,
            system: system.map(String::from),
        };
        let got = stored_config(dir.path(), &args(None)).unwrap();
        assert_eq!(got.system, "gauntlet-node");
        assert_eq!(got.node_bin, bin);
        let e = stored_config(dir.path(), &args(Some("etcd-typo"))).unwrap_err();
        assert_eq!(crate::exit::exit_for_error(&e), Exit::BadInput);
        assert!(
            format!("{e}").starts_with("--system: unknown system"),
            "{e}"
        );
    }
}
