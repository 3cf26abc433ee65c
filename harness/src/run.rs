//! `gauntlet run`: one seeded torture run, from plan to verdict (DESIGN.md "Flow of one run").
//!
//! plan → run dir (test.json, plan.json) → sandbox up, nodes started → cluster ready →
//! main phase (clients + nemesis, `--time-limit`) → heal everything → recovery wait →
//! final reads → teardown → checkers → results.json, report.html, summary → exit code.
//!
//! Teardown is guaranteed: every step after the sandbox is up runs to the teardown whatever
//! happens, SIGINT/SIGTERM/SIGHUP included (they cut the current phase short: heal, tear down, check
//! what was recorded, exit with its verdict — or 2 when that is not invalid). A failure while
//! healing or tearing down is reported and never throws the verdict away. Nodes also die with
//! the controller when it is SIGKILLed (the sandbox's parent-death signal and namespaces).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use nemesis::NodeId;
use serde_json::json;
use tokio::sync::watch;

use crate::cli::{ExecFlags, PlanFlags};
use crate::cluster::{Cluster, NodeExit, Offers};
use crate::config::{FaultKind, NetMode, RunConfig};
use crate::exit::{bad_input, Exit};
use crate::nemesis_run;
pub use crate::outcome::RunOutcome;
use crate::outcome::{finish, Notes};
use crate::plan::{self, Plan};
use crate::recorder::Recorder;
use crate::workloads::{FinalCtx, OpRunner};
use crate::{store, summary, systems, workers};

/// Flags of `gauntlet run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// What the plan depends on.
    #[command(flatten)]
    pub plan: PlanFlags,
    /// What only the execution depends on.
    #[command(flatten)]
    pub exec: ExecFlags,
    /// Run this plan file (from `gauntlet plan` or a stored run's plan.json) instead of
    /// generating one; the plan's own options (seed, nodes, time limit, ...) apply, so a
    /// flag that shapes the plan (--seed, --nodes, ...) with it is an error, not ignored.
    #[arg(long = "plan", value_name = "FILE", conflicts_with_all = crate::cli::PLAN_FLAG_IDS)]
    pub plan_file: Option<PathBuf>,
    /// Simulated runs only: run the seed twice and compare every simulator event (a hash
    /// chain) and every history op; a difference exits 255 naming the first one.
    #[arg(long)]
    pub check_determinism: bool,
}

/// Runs `gauntlet run`.
pub fn main(args: RunArgs) -> anyhow::Result<Exit> {
    let cfg = resolve(&args)?;
    if args.check_determinism {
        if !systems::is_simulated(&cfg.system) {
            return Err(bad_input(format!(
                "--check-determinism: the {} system is not simulated (use --sim)",
                cfg.system
            )));
        }
        init_tracing();
        let _index = crate::index::RefreshOnDrop(cfg.store.clone());
        let (outcome, same) = systems::sim::check_determinism(&cfg)?;
        println!("{}", outcome.summary);
        return Ok(match same {
            Ok(what) => {
                println!("determinism: {what}");
                outcome.exit
            }
            Err(diff) => {
                println!("determinism: NOT DETERMINISTIC: {diff}");
                Exit::Crash
            }
        });
    }
    if !systems::is_simulated(&cfg.system) {
        enter_sandbox(cfg.net)?;
    }
    init_tracing();
    let _index = crate::index::RefreshOnDrop(cfg.store.clone());
    let outcome = run_once(&cfg)?;
    println!("{}", outcome.summary);
    Ok(outcome.exit)
}

/// Resolves the flags (bad values: exit 254 before anything starts).
pub fn resolve(args: &RunArgs) -> anyhow::Result<RunConfig> {
    let mut opts = match &args.plan_file {
        Some(path) => Plan::load(path)?.options,
        None => args.plan.resolve(args.plan.seed_or_random())?,
    };
    let system = crate::systems::by_name(&args.exec.system)?;
    system.check_workload(opts.workload)?;
    system.fit_nemesis(&mut opts, args.plan_file.is_some())?;
    let netted: Vec<FaultKind> = opts
        .nemesis
        .0
        .iter()
        .copied()
        .filter(|k| k.needs_namespaces())
        .collect();
    if args.exec.net == NetMode::Loopback && !netted.is_empty() {
        let names: Vec<String> = netted.iter().map(|k| k.to_string()).collect();
        if args.plan_file.is_some() || opts.nemesis != crate::config::NemesisSet::all() {
            return Err(bad_input(format!(
                "--nemesis: {} need(s) --net namespaces (loopback mode has kill, pause and clock only)",
                names.join(", ")
            )));
        }
        eprintln!(
            "gauntlet run: --net loopback: no {}; the nemesis is kill, pause and clock",
            names.join(", ")
        );
        for k in netted {
            opts.nemesis.0.remove(&k);
        }
    }
    args.exec.resolve(opts, args.plan_file.clone())
}

/// Puts this process into its private controller network namespace (namespace mode). Must
/// be called before any thread starts: first thing in a subcommand's `main`. `torture` and
/// `repro` call it once before their runs.
pub fn enter_sandbox(net: NetMode) -> anyhow::Result<()> {
    match (net, nemesis::enter_controller_namespace()) {
        (_, Ok(())) => Ok(()),
        (NetMode::Loopback, Err(e)) => {
            eprintln!("gauntlet run: no private namespace ({e}); loopback nodes share the host's 127.0.0.x");
            Ok(())
        }
        (NetMode::Namespaces, Err(e)) => Err(anyhow::Error::new(e)
            .context("cannot enter a private network namespace (try as root, or --net loopback)")),
    }
}

/// Logs to stderr, filtered by `GAUNTLET_LOG` (default `warn`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GAUNTLET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// One complete run of `cfg` (plan, cluster, clients, nemesis, checks, store). The process
/// must already be in its controller namespace for namespace mode ([`enter_sandbox`]).
/// `Err` only when the run could not even be set up (no run directory, no runtime).
pub fn run_once(cfg: &RunConfig) -> anyhow::Result<RunOutcome> {
    if let Some(simulate) = systems::by_name(&cfg.system)?.simulate {
        return simulate(cfg);
    }
    let plan = match &cfg.plan_file {
        Some(p) => Plan::load(p)?,
        None => plan::generate(&cfg.plan),
    };
    let run_dir = store::create_run_dir(&cfg.store, &cfg.plan)?;
    crate::run_marker::create(&run_dir)?;
    store::write_json(&run_dir.join(store::TEST_JSON), &test_json(cfg, &run_dir))?;
    store::write_atomic(&run_dir.join(store::PLAN_JSON), plan.to_json().as_bytes())?;
    crate::term::status(format!(
        "gauntlet run: seed {} · {} nodes · {} · nemesis {} · {} s · {}",
        cfg.plan.seed,
        cfg.plan.nodes,
        cfg.plan.workload,
        cfg.plan.nemesis.label(),
        cfg.plan.time_limit_ms as f64 / 1000.0,
        run_dir.display()
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = rt.block_on(lifecycle(cfg, plan, run_dir));
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(outcome)
}

pub(crate) fn test_json(cfg: &RunConfig, run_dir: &std::path::Path) -> serde_json::Value {
    json!({
        "config": cfg,
        "system": cfg.system,
        "gauntlet_version": env!("CARGO_PKG_VERSION"),
        "repro": summary::rerun_command(cfg, run_dir),
        "argv": std::env::args().collect::<Vec<_>>(),
    })
}

async fn lifecycle(cfg: &RunConfig, plan: Plan, run_dir: PathBuf) -> RunOutcome {
    let started = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_flag = Arc::new(AtomicBool::new(false));
    spawn_signal_watch(stop_tx, stop_flag.clone());
    let mut notes = Notes::default();
    let history = run_dir.join(store::HISTORY);

    let t_setup = Instant::now();
    let cluster = setup(cfg, &run_dir).await;
    notes.setup_ms = Some(t_setup.elapsed().as_millis() as u64);
    let mut rec: Option<Arc<Recorder>> = None;
    match cluster {
        Err(ref e) => notes.problems.push(format!("setup failed: {e:#}")),
        Ok(ref c) => {
            match wait_ready(c, stop_rx.clone()).await {
                Ok(ms) => {
                    notes.ready_ms = Some(ms);
                    crate::term::status(format!("gauntlet run: cluster ready in {ms} ms"));
                }
                Err(e) => note_not_ready(&mut notes, e),
            }
            if notes.ready_ms.is_some() && !*stop_rx.borrow() {
                match Recorder::create(&history) {
                    Ok(r) => {
                        let r = Arc::new(r);
                        rec = Some(r.clone());
                        main_phase(cfg, &plan, c, r, &stop_rx, &stop_flag, &mut notes).await;
                    }
                    Err(e) => notes
                        .problems
                        .push(format!("cannot write the history: {e}")),
                }
            }
            let c2 = c.clone();
            match tokio::task::spawn_blocking(move || c2.heal_all()).await {
                Ok(Ok(at)) => {
                    // After a fault the nemesis could not heal, say when all was healed.
                    if let Some(r) = rec.as_ref().filter(|_| !notes.nemesis.errors.is_empty()) {
                        r.nemesis("heal-all", json!({}), at);
                    }
                }
                Ok(Err(e)) => notes.problems.push(format!("healing: {e:#}")),
                Err(e) => notes.problems.push(format!("healing: {e}")),
            }
            if let Some(r) = &rec {
                if notes.main_phase && !*stop_rx.borrow() {
                    recover_and_read(cfg, c, r, &stop_rx, &mut notes).await;
                }
            }
            let _ = store::write_json(&run_dir.join(store::NODES_JSON), &c.node_states());
        }
    }
    let recorded = rec.as_ref().map(|r| r.counts()).unwrap_or_default();
    match &rec {
        Some(r) => {
            if let Err(e) = r.close() {
                notes.problems.push(format!("history: {e}"));
            }
            notes.written = r.len();
            notes.history_loss = r.loss();
        }
        None => {
            if let Err(e) = store::create_empty(&history) {
                notes.problems.push(format!("history: {e:#}"));
            }
        }
    }
    drop(rec);
    if let Ok(c) = cluster {
        teardown(c, &mut notes).await;
    }
    let interrupted = *stop_rx.borrow();
    finish(
        cfg,
        &run_dir,
        &history,
        notes,
        recorded,
        interrupted,
        started,
    )
    .await
}

/// Sandbox up and every node started, off the async threads.
async fn setup(
    cfg: &RunConfig,
    run_dir: &std::path::Path,
) -> anyhow::Result<Arc<Box<dyn Cluster>>> {
    let (cfg, dir) = (cfg.clone(), run_dir.to_path_buf());
    tokio::task::spawn_blocking(move || -> anyhow::Result<Arc<Box<dyn Cluster>>> {
        let c = systems::open(&cfg, &dir)?;
        for n in c.nodes().to_vec() {
            c.start(&n)?;
        }
        Ok(Arc::new(c))
    })
    .await
    .context("setup thread")?
}

async fn teardown(c: Arc<Box<dyn Cluster>>, notes: &mut Notes) {
    let Some(c) = Arc::into_inner(c) else {
        notes
            .problems
            .push("teardown: the cluster is still in use; it is torn down on drop".into());
        return;
    };
    match tokio::task::spawn_blocking(move || c.teardown()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => notes.problems.push(format!("teardown: {e:#}")),
        Err(e) => notes.problems.push(format!("teardown: {e}")),
    }
}

/// How long the cluster gets to become ready (every node healthy and seeing all alive).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the cluster never became ready.
#[derive(Debug)]
enum NotReady {
    /// Still not ready at the timeout, or interrupted: why.
    Late(String),
    /// A node's process exited on its own: there is no point waiting.
    Exited(NodeId, NodeExit),
}

async fn wait_ready(
    c: &Arc<Box<dyn Cluster>>,
    mut stop: watch::Receiver<bool>,
) -> Result<u64, NotReady> {
    let t0 = Instant::now();
    loop {
        if let Some((n, exit)) = c.nodes().iter().find_map(|n| Some((n, c.exited(n)?))) {
            return Err(NotReady::Exited(n.clone(), exit));
        }
        let mut why = None;
        for n in c.nodes() {
            if let Err(e) = c.ready(n).await {
                why = Some(e);
                break;
            }
        }
        let Some(why) = why else {
            return Ok(t0.elapsed().as_millis() as u64);
        };
        if t0.elapsed() > READY_TIMEOUT {
            return Err(NotReady::Late(format!(
                "the cluster was not ready after {READY_TIMEOUT:?}: {why}"
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = stop.wait_for(|s| *s) => return Err(NotReady::Late("interrupted before the cluster was ready".into())),
        }
    }
}

/// Notes why the cluster never became ready; a node that refused its command line makes
/// the run the user's error (exit 254).
fn note_not_ready(notes: &mut Notes, e: NotReady) {
    match e {
        NotReady::Late(why) => notes.problems.push(why),
        NotReady::Exited(node, exit) => {
            let why = format!(
                "setup failed: {node} exited before the cluster was ready ({}){}; its last output:\n{}",
                exit.status,
                if exit.usage_error {
                    ", refusing its command line (check --node-arg)"
                } else {
                    ""
                },
                exit.output_tail
            );
            if exit.usage_error {
                notes.bad_usage = Some(why.clone());
            }
            notes.problems.push(why);
        }
    }
}

fn ctx(
    runner: &Arc<dyn OpRunner>,
    rec: &Arc<Recorder>,
    deadline: Instant,
    stop: &watch::Receiver<bool>,
    next: u64,
) -> workers::Ctx {
    workers::Ctx {
        rec: rec.clone(),
        runner: runner.clone(),
        deadline,
        stop: stop.clone(),
        next_process: Arc::new(AtomicU64::new(next)),
    }
}

/// The workload's runner on this system; `None` (with the problem noted) when the system
/// does not offer what the workload needs (the flags were checked against the system's
/// list, so this is the system's list and its clients disagreeing).
fn runner(cfg: &RunConfig, offers: &Offers, notes: &mut Notes) -> Option<Arc<dyn OpRunner>> {
    let runner = cfg.plan.workload.workload().runner(offers);
    if runner.is_none() {
        notes.problems.push(format!(
            "setup failed: the system offers no client for the {} workload (it offers: {:?})",
            cfg.plan.workload, offers
        ));
    }
    runner
}

async fn main_phase(
    cfg: &RunConfig,
    plan: &Plan,
    c: &Arc<Box<dyn Cluster>>,
    rec: Arc<Recorder>,
    stop: &watch::Receiver<bool>,
    stop_flag: &Arc<AtomicBool>,
    notes: &mut Notes,
) {
    let Some(runner) = runner(cfg, &c.offers(), notes) else {
        return;
    };
    notes.main_phase = true;
    let deadline = rec.start() + Duration::from_millis(cfg.plan.time_limit_ms);
    let ctx = ctx(&runner, &rec, deadline, stop, plan.workers.len() as u64);
    let progress = spawn_progress(rec.clone(), deadline);
    let workers: Vec<_> = plan
        .workers
        .iter()
        .map(|w| tokio::spawn(workers::run_worker(w.clone(), ctx.clone())))
        .collect();
    let (c2, rec2, faults, flag) = (
        c.clone(),
        rec.clone(),
        plan.faults.clone(),
        stop_flag.clone(),
    );
    let nemesis = tokio::task::spawn_blocking(move || {
        nemesis_run::run(&**c2, &faults, &rec2, deadline, &flag)
    });
    for w in workers {
        if let Err(e) = w.await {
            notes.problems.push(format!("a client worker failed: {e}"));
        }
    }
    match nemesis.await {
        Ok(report) => notes.nemesis = report,
        Err(e) => notes.problems.push(format!("the nemesis failed: {e}")),
    }
    // Workers leave early only when stopped; otherwise wait out the phase.
    let mut s = stop.clone();
    tokio::select! {
        _ = tokio::time::sleep_until(deadline.into()) => {}
        _ = s.wait_for(|v| *v) => {}
    }
    progress.abort();
    notes.main_phase_ms = Some(rec.start().elapsed().as_millis() as u64);
}

/// One line on stderr every 5 s of the main phase, so a long run shows it is alive.
fn spawn_progress(rec: Arc<Recorder>, deadline: Instant) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.tick().await;
        loop {
            tick.tick().await;
            if Instant::now() >= deadline {
                return;
            }
            let c = rec.counts();
            let (ok, fail, info) = c
                .values()
                .fold((0, 0, 0), |(o, f, i), c| (o + c.ok, f + c.fail, i + c.info));
            crate::term::status(format!(
                "gauntlet run: t={:.0}s: {ok} ok, {fail} fail, {info} info",
                rec.start().elapsed().as_secs_f64()
            ));
        }
    })
}

/// The workload's final phase (the tasks' recovery wait and final read), after every fault
/// was healed.
async fn recover_and_read(
    cfg: &RunConfig,
    c: &Arc<Box<dyn Cluster>>,
    rec: &Arc<Recorder>,
    stop: &watch::Receiver<bool>,
    notes: &mut Notes,
) {
    let offers = c.offers();
    let Some(runner) = runner(cfg, &offers, notes) else {
        return;
    };
    let ctx = ctx(&runner, rec, Instant::now(), stop, 1_000_000);
    let report = cfg
        .plan
        .workload
        .workload()
        .final_phase(FinalCtx {
            ctx: &ctx,
            cluster: &***c,
            offers: &offers,
            budget: Duration::from_millis(cfg.recovery_ms),
        })
        .await;
    notes.recovery = report.recovery;
    notes.final_read = report.final_read;
    notes.problems.extend(report.problems);
}

/// SIGINT, SIGTERM and SIGHUP (a closed terminal or SSH session) all stop the run the same
/// way: heal, tear down, check what was recorded, exit 2 unless invalid.
fn spawn_signal_watch(tx: watch::Sender<bool>, flag: Arc<AtomicBool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot watch SIGINT/SIGTERM/SIGHUP");
        return;
    };
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
        };
        eprintln!("gauntlet run: {name}: healing, tearing down, checking what was recorded");
        flag.store(true, Ordering::SeqCst);
        let _ = tx.send(true);
        // A second signal: give up at once. The nodes die with this process (parent-death
        // signal) and the namespaces with them; the history on disk stays checkable.
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
        eprintln!("gauntlet run: second signal: exiting without teardown or check (exit 2)");
        std::process::exit(i32::from(Exit::Unknown.code()));
    });
}
