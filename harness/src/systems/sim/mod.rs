//! `sim`: gauntlet-node's real cores on the deterministic simulator (`sim/`, docs/sim.md),
//! behind the same seam as the real processes: the same plan, workloads, recorder, checkers
//! and store; `gauntlet run --sim` (`--system sim`).
//!
//! - [`client`]: the workloads' clients over `Sim::invoke`
//! - [`driver`]: the plan executed in virtual time
//!
//! The run is a function of the plan and the options: the same seed and options give a
//! byte-identical history.jsonl and results.json, on any thread, in any process
//! ([`check_determinism`] proves it for one seed). No root, no namespaces, no node process.
//!
//! The simulator's knobs are its defaults ([`sim::SimConfig::default`]) except what the run
//! sets: the node count, the planted bugs (`--node-arg=--bug=NAME`, as for the real node),
//! and the client timeout (`--op-timeout`); test.json records them all under `"sim"`.

pub mod client;
pub mod driver;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use node_bin::core::node::Bugs;
use serde_json::{json, Value};
use sim::SimConfig;

use crate::cluster::{Cluster, Offers};
use crate::config::RunConfig;
use crate::exit::bad_input;
use crate::outcome::RunOutcome;
use crate::plan::{self, Plan};
use crate::workloads::{locks, register, tasks};
use client::SimClient;

/// The system's registry name.
pub const NAME: &str = "sim";

/// The same promise as gauntlet-node's: the same core runs here.
pub const TASK_LIVENESS: Duration = crate::systems::gauntlet_node::TASK_LIVENESS;

/// `sim` in the registry: every workload gauntlet-node offers, no binary, run in-process.
pub const SYSTEM: crate::systems::System = crate::systems::System {
    name: NAME,
    clients: &[tasks::NAME, locks::NAME, register::NAME],
    default_bin,
    op_timeout: crate::defaults::OP_TIMEOUT,
    faults: &crate::config::FaultKind::ALL,
    bin_hint: "the sim system runs the node's cores in-process and needs no binary",
    check_bin: crate::systems::any_bin,
    check_config: |cfg| sim_config(cfg).map(|_| ()),
    open,
    simulate: Some(run_once),
};

/// No binary: the empty path (never started).
fn default_bin() -> anyhow::Result<PathBuf> {
    Ok(PathBuf::new())
}

fn open(_cfg: &RunConfig, _run_dir: &Path) -> anyhow::Result<Box<dyn Cluster>> {
    anyhow::bail!("the sim system has no processes to open: it runs through systems::sim::run_once")
}

/// The clients the simulated cluster offers.
pub fn offers(client: Arc<SimClient>) -> Offers {
    let o = tasks::offer(Offers::new(), client.clone());
    let o = locks::offer(o, client.clone());
    register::offer(o, client)
}

/// The planted bugs `gauntlet-node --bug` knows, with what each switches on in the core
/// (`lease-by-wall-clock` is a shell bug: the core is fed the wall clock).
pub const BUGS: [&str; 8] = [
    "ack-before-quorum",
    "lock-without-quorum",
    "early-lease-expiry",
    "failover-skips-cas",
    "stale-read",
    "lease-by-wall-clock",
    "ack-before-flush",
    "lonely-restart",
];

/// The simulator's configuration for `cfg`: bad node arguments are bad input (254).
pub fn sim_config(cfg: &RunConfig) -> anyhow::Result<SimConfig> {
    let mut c = SimConfig {
        nodes: cfg.plan.nodes,
        client_timeout: Duration::from_millis(cfg.op_timeout_ms),
        ..SimConfig::default()
    };
    let mut bugs = Bugs::default();
    let mut args = cfg.node_args.iter();
    while let Some(a) = args.next() {
        let name = match a.strip_prefix("--bug=") {
            Some(n) => n.to_string(),
            None if a == "--bug" => args.next().cloned().ok_or_else(|| {
                bad_input("--node-arg: --bug needs a name (the sim system takes --bug=NAME)")
            })?,
            None => {
                return Err(bad_input(format!(
                    "--node-arg: the sim system takes only --bug=NAME (got {a:?})"
                )))
            }
        };
        match name.as_str() {
            "ack-before-quorum" => bugs.ack_before_quorum = true,
            "lock-without-quorum" => bugs.lock_without_quorum = true,
            "early-lease-expiry" => bugs.early_lease_expiry = true,
            "failover-skips-cas" => bugs.failover_skips_cas = true,
            "stale-read" => bugs.stale_read = true,
            "lease-by-wall-clock" => c.feed_wall_clock = true,
            "ack-before-flush" => bugs.ack_before_flush = true,
            "lonely-restart" => bugs.lonely_restart = true,
            other => {
                return Err(bad_input(format!(
                    "--node-arg: unknown bug {other:?} (expected {})",
                    BUGS.join(", ")
                )))
            }
        }
    }
    c.bugs = bugs;
    Ok(c)
}

/// The simulator's configuration as test.json records it.
pub fn sim_json(c: &SimConfig) -> Value {
    let us = |d: Duration| d.as_micros() as u64;
    json!({
        "nodes": c.nodes,
        "bugs": format!("{:?}", c.bugs),
        "feed_wall_clock": c.feed_wall_clock,
        "net": {
            "latency_min_us": us(c.net.latency_min),
            "latency_tail_mean_us": us(c.net.latency_tail_mean),
            "loss": c.net.loss,
            "duplicate": c.net.duplicate,
            "client_latency_us": us(c.net.client_latency),
        },
        "disk": {"fsync_min_us": us(c.disk.fsync_min), "fsync_max_us": us(c.disk.fsync_max)},
        "drift_ppm": [c.drift_ppm.0, c.drift_ppm.1],
        "client_timeout_ms": c.client_timeout.as_millis() as u64,
        "timing": format!("{:?}", c.timing),
        "driver_step_us": driver::STEP / 1_000,
    })
}

/// Checks that the simulator can run `plan` (its nodes are the cluster's, every fault is one
/// the simulator applies): bad input (254) naming the first that is not, before anything is
/// written.
pub fn check_plan(plan: &Plan, c: &SimConfig) -> anyhow::Result<()> {
    let expected = plan::node_ids(c.nodes);
    if plan.nodes != expected {
        return Err(bad_input(format!(
            "plan: nodes {:?}; the sim system runs {} nodes named n1..n{}",
            plan.nodes.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
            c.nodes,
            c.nodes
        )));
    }
    // Every fault applied (and healed) once on a scratch cluster: the simulator's own
    // validation, so nothing it would refuse reaches a run.
    let mut scratch = sim::Sim::new(c.clone(), 0).context("a scratch simulation")?;
    for (i, pf) in plan.faults.iter().enumerate() {
        let id = scratch.apply(&pf.fault).map_err(|e| {
            bad_input(format!(
                "plan: faults[{i}] ({}): the sim system cannot apply it: {e}",
                pf.name
            ))
        })?;
        scratch
            .heal(id)
            .map_err(|e| bad_input(format!("plan: faults[{i}] ({}): {e}", pf.name)))?;
    }
    Ok(())
}

/// One simulated run of `cfg`, stored as a real run is (test.json with `"system": "sim"` and
/// the simulator's configuration, plan.json, history.jsonl, results.json, report.html).
/// Bad input (bad node arguments, a plan the simulator cannot run) is refused before the run
/// directory exists.
pub fn run_once(cfg: &RunConfig) -> anyhow::Result<RunOutcome> {
    run_traced(cfg).map(|(outcome, _)| outcome)
}

/// [`run_once`], with the simulator's event hash chain at the end.
pub fn run_traced(cfg: &RunConfig) -> anyhow::Result<(RunOutcome, ::sim::trace::Trace)> {
    let simcfg = sim_config(cfg)?;
    let plan = match &cfg.plan_file {
        Some(p) => Plan::load(p)?,
        None => plan::generate(&cfg.plan),
    };
    check_plan(&plan, &simcfg)?;
    let started = Instant::now();
    let run_dir = crate::store::create_run_dir(&cfg.store, &cfg.plan)?;
    crate::run_marker::create(&run_dir)?;
    let mut test = crate::run::test_json(cfg, &run_dir);
    test["sim"] = sim_json(&simcfg);
    crate::store::write_json(&run_dir.join(crate::store::TEST_JSON), &test)?;
    crate::store::write_atomic(
        &run_dir.join(crate::store::PLAN_JSON),
        plan.to_json().as_bytes(),
    )?;
    crate::term::sim_run_header(format!(
        "gauntlet run --sim: seed {} · {} nodes · {} · nemesis {} · {} s simulated · {}",
        cfg.plan.seed,
        cfg.plan.nodes,
        cfg.plan.workload,
        cfg.plan.nemesis.label(),
        cfg.plan.time_limit_ms as f64 / 1000.0,
        run_dir.display()
    ));
    let history = run_dir.join(crate::store::HISTORY);
    let driven = driver::drive(cfg, &plan, simcfg, &history)?;
    let nodes: serde_json::Map<String, Value> = plan
        .nodes
        .iter()
        .map(|n| (n.0.clone(), json!({"simulated": true})))
        .collect();
    let _ = crate::store::write_json(
        &run_dir.join(crate::store::NODES_JSON),
        &Value::Object(nodes),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("starting the async runtime")?;
    let trace = driven.trace.clone();
    let outcome = rt.block_on(crate::outcome::finish(
        cfg,
        &run_dir,
        &history,
        driven.notes,
        driven.counts,
        false,
        started,
    ));
    Ok((outcome, trace))
}

/// `--check-determinism`: the run of `cfg`, stored as usual, then the same plan simulated
/// again (its history into a temporary file, removed after) and the two compared: the
/// simulator's hash chains (every event folded in, a checkpoint every 4,096 events, so a
/// difference is placed within a window of virtual time) and the histories, op by op. The
/// outcome of the stored run, and `Err` naming the first difference, if any.
pub fn check_determinism(cfg: &RunConfig) -> anyhow::Result<(RunOutcome, Result<String, String>)> {
    let (outcome, first) = run_traced(cfg)?;
    let simcfg = sim_config(cfg)?;
    let plan = Plan::load(&outcome.run_dir.join(crate::store::PLAN_JSON))?;
    let tmp = std::env::temp_dir().join(format!(
        "gauntlet-determinism-{}-seed{}",
        std::process::id(),
        cfg.plan.seed
    ));
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let again = tmp.join(crate::store::HISTORY);
    let second = driver::drive(cfg, &plan, simcfg, &again);
    let a = std::fs::read_to_string(outcome.run_dir.join(crate::store::HISTORY));
    let b = std::fs::read_to_string(&again);
    let _ = std::fs::remove_dir_all(&tmp);
    let second = second?;
    let (a, b) = (
        a.context("reading the history")?,
        b.context("reading the second history")?,
    );
    let verdict = match ::sim::trace::compare(&first, &second.trace) {
        Err(d) => Err(format!("the simulator's event hash chains differ {}", d.where_)),
        Ok(()) => match first_difference(&a, &b) {
            Some(d) => Err(d),
            None => Ok(format!(
                "two runs of seed {}: the same {} simulator events (hash {:016x}) and the same {} history ops",
                cfg.plan.seed,
                first.events,
                first.hash,
                a.lines().count()
            )),
        },
    };
    Ok((outcome, verdict))
}

/// Whether the simulator's configuration for `cfg` differs from the one the stored run in
/// `run_dir` recorded in its test.json (a changed default would change the run): what
/// differs, in words; `None` when they agree or the stored run recorded none.
pub fn config_drift(run_dir: &Path, cfg: &RunConfig) -> Option<String> {
    let text = std::fs::read_to_string(run_dir.join(crate::store::TEST_JSON)).ok()?;
    let stored = serde_json::from_str::<Value>(&text)
        .ok()?
        .get("sim")?
        .clone();
    let now = sim_json(&sim_config(cfg).ok()?);
    (stored != now).then(|| {
        format!("the simulator's configuration differs from the stored run's (stored {stored}, now {now}): the try cannot be the same run")
    })
}

/// The first op where two histories (JSONL text) differ, in words; `None` when equal.
pub fn first_difference(a: &str, b: &str) -> Option<String> {
    let (mut la, mut lb) = (a.lines(), b.lines());
    for i in 0.. {
        match (la.next(), lb.next()) {
            (None, None) => return None,
            (x, y) if x == y => continue,
            (x, y) => {
                return Some(format!(
                    "the histories differ at op {i}: {} against {}",
                    x.unwrap_or("(end of history)"),
                    y.unwrap_or("(end of history)")
                ))
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_names_the_op_and_both_lines() {
        assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
        assert_eq!(
            first_difference("a\nb\n", "a\nc\n").unwrap(),
            "the histories differ at op 1: b against c"
        );
        assert_eq!(
            first_difference("a\n", "a\nc\n").unwrap(),
            "the histories differ at op 1: (end of history) against c"
        );
    }

    /// Proves a stored run whose recorded simulator configuration is not what the options
    /// give now is named (repro says the try cannot be the same run), and an equal one not.
    #[test]
    fn a_changed_simulator_configuration_is_named() {
        let cfg = test_config();
        let dir = tempfile::tempdir().unwrap();
        let mut test = json!({"sim": sim_json(&sim_config(&cfg).unwrap())});
        let write = |v: &Value| {
            std::fs::write(dir.path().join(crate::store::TEST_JSON), v.to_string()).unwrap()
        };
        write(&test);
        assert_eq!(config_drift(dir.path(), &cfg), None);
        test["sim"]["net"]["latency_min_us"] = json!(50);
        write(&test);
        let d = config_drift(dir.path(), &cfg).unwrap();
        assert!(
            d.contains("\"latency_min_us\":50") && d.contains("\"latency_min_us\":100"),
            "{d}"
        );
    }

    /// A run configuration of the sim system for these tests.
    fn test_config() -> RunConfig {
        RunConfig {
            system: NAME.into(),
            plan: crate::plan::tests_support::opts(5),
            plan_file: None,
            store: "store".into(),
            node_bin: PathBuf::new(),
            node_args: Vec::new(),
            net: crate::config::NetMode::Namespaces,
            net_backend: None,
            recovery_ms: 20_000,
            op_timeout_ms: 2_000,
            min_ok_ops: 10,
            lock_model: Default::default(),
        }
    }

    /// Proves the simulated node knows every planted bug bug-hunt knows (which a CLI test
    /// compares with gauntlet-node's `--bug` values), so none is refused on `--sim` alone.
    #[test]
    fn every_planted_bug_runs_on_the_simulator() {
        let ours: std::collections::BTreeSet<&str> = BUGS.into_iter().collect();
        let hunted: std::collections::BTreeSet<&str> = crate::bughunt::PLANTED_BUGS
            .iter()
            .map(|b| b.name)
            .collect();
        assert_eq!(ours, hunted);
    }

    /// Proves node arguments other than planted bugs are refused (254) naming the argument,
    /// and each known bug is taken.
    #[test]
    fn node_args_are_planted_bugs_only() {
        let mut cfg = test_config();
        for b in BUGS {
            cfg.node_args = vec![format!("--bug={b}")];
            sim_config(&cfg).unwrap();
        }
        cfg.node_args = vec!["--bug".into(), "stale-read".into()];
        assert!(sim_config(&cfg).unwrap().bugs.stale_read);
        cfg.node_args = vec!["--tick-ms=5".into()];
        let e = sim_config(&cfg).unwrap_err();
        assert_eq!(crate::exit::exit_for_error(&e), crate::exit::Exit::BadInput);
        assert_eq!(
            e.to_string(),
            "--node-arg: the sim system takes only --bug=NAME (got \"--tick-ms=5\")"
        );
        cfg.node_args = vec!["--bug=typo".into()];
        assert!(sim_config(&cfg)
            .unwrap_err()
            .to_string()
            .contains("unknown bug \"typo\""));
    }
}
