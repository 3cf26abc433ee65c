//! The simulated run's driver: the plan (workers, ops, faults) executed on [`sim::Sim`] in
//! virtual time, recorded by the harness's [`Recorder`] on a [`VirtualClock`].
//!
//! - Setup: the nodes boot at virtual time 0; the driver polls `Members` on every node every
//!   50 ms until each sees every member alive (the real run's readiness check); that instant
//!   is the history's time 0.
//! - Main phase: each worker runs its planned ops through the workload's own session (the
//!   same code the real run uses; the transport is [`super::client::SimClient`]): an op
//!   starts at its planned time or, when the worker is late, at the first driver step after
//!   its previous op ended; no op starts at or after the time limit. The nemesis applies and
//!   heals the planned faults at their planned instants, in the real nemesis's order
//!   ([`crate::nemesis_run::schedule`]), every heal no later than the time limit.
//! - The driver advances in steps of at most [`STEP`] (sooner when a fault or a planned op is
//!   due); each completion is recorded at its own completion time, in completion order.
//! - After the time limit: every op in flight runs to its end (at most the client timeout),
//!   then the workload's final phase: the recovery wait (unrecorded reads every 250 ms until
//!   every task is done and every node ready, or the `--recovery` budget ends; its outcome
//!   recorded as the `recovery` op) and the recorded final read, the shared
//!   [`tasks::final_read`].
//!
//! The futures of the workloads' sessions are polled here only, with a no-op waker, in worker
//! order: nothing but the simulator's events decides what happens when.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use histories::OpType;
use nemesis::NodeId;
use node_bin::core::message::Liveness;
use node_bin::core::node::{ClientCmd, ClientResp};
use serde_json::{json, Value};
use sim::{FaultId, Sim, SimConfig};

use super::client::{lock, Shared, SimClient, World};
use crate::cluster::{BoxFuture, Reply};
use crate::config::RunConfig;
use crate::nemesis_run::{schedule, NemesisReport, Step};
use crate::outcome::Notes;
use crate::plan::{Plan, WorkerPlan};
use crate::recorder::{Clock, Completion, Counts, Recorder};
use crate::workers::Ctx;
use crate::workloads::tasks::{self, TasksClient};
use crate::workloads::{Call, OpRunner, Session};

const MS: u64 = 1_000_000;

/// The longest the driver advances virtual time without looking at its workers.
pub const STEP: u64 = MS;

/// How long the simulated cluster gets to become ready (as the real run's 60 s).
const READY_TIMEOUT: u64 = 60_000 * MS;

/// The recorder's clock in a simulated run: ns since the history's time 0, set by the driver.
#[derive(Debug, Clone, Default)]
pub struct VirtualClock(pub Arc<AtomicU64>);

impl Clock for VirtualClock {
    fn now_ns(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// What a driven run left for the end of the run.
#[derive(Debug)]
pub struct Driven {
    pub(crate) notes: Notes,
    pub(crate) counts: std::collections::BTreeMap<String, Counts>,
    /// The simulator's event hash chain at the end.
    pub trace: sim::trace::Trace,
}

type OpFuture = BoxFuture<'static, (Box<dyn Session>, Option<Completion>)>;

/// One client worker: its plan, where it is, its process and session.
struct Worker {
    plan: WorkerPlan,
    next: usize,
    process: u64,
    session: Option<Box<dyn Session>>,
    running: Option<(&'static str, OpFuture)>,
}

struct Driver {
    world: Shared,
    clock: VirtualClock,
    /// Virtual time of the history's time 0.
    t0: u64,
    nodes: Vec<NodeId>,
    client: Arc<SimClient>,
}

fn poll<T>(fut: std::pin::Pin<&mut (impl Future<Output = T> + ?Sized)>) -> Poll<T> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

impl Driver {
    fn now(&self) -> u64 {
        lock(&self.world).sim.now()
    }

    fn hist(&self, sim_ns: u64) -> u64 {
        sim_ns.saturating_sub(self.t0)
    }

    fn set_clock(&self, sim_ns: u64) {
        self.clock.0.store(self.hist(sim_ns), Ordering::SeqCst);
    }

    /// Runs the simulation to `until` and hands its completions over in completion order,
    /// calling `each` after each one with the clock at its completion time.
    fn advance(&self, until: u64, mut each: impl FnMut()) {
        let done = {
            let mut w = lock(&self.world);
            w.sim.run_until(until);
            w.sim.drain_completions()
        };
        for c in done {
            self.set_clock(c.completed);
            lock(&self.world).done.insert(c.req, c);
            each();
        }
        self.set_clock(until);
    }

    /// Polls `fut` to its end, advancing virtual time while it waits.
    fn block_on<T>(&self, fut: impl Future<Output = T>) -> T {
        let mut fut = std::pin::pin!(fut);
        let mut out = None;
        if let Poll::Ready(t) = poll(fut.as_mut()) {
            return t;
        }
        while out.is_none() {
            let next = self.now() + STEP;
            self.advance(next, || {
                if out.is_none() {
                    if let Poll::Ready(t) = poll(fut.as_mut()) {
                        out = Some(t);
                    }
                }
            });
        }
        out.expect("the loop ends with an output")
    }

    /// `Ok` once `node` answers and sees every member alive; otherwise why not (as the real
    /// readiness check words it).
    fn ready(&self, node: &NodeId) -> Result<(), String> {
        let r = self.block_on(self.client.request(node, ClientCmd::Members));
        let members = match r {
            Reply::Ok(ClientResp::Members(m)) => m,
            Reply::Ok(other) => return Err(format!("{node}: /members: unexpected {other:?}")),
            Reply::Fail(e) | Reply::Info(e) => return Err(format!("{node}: /members: {e}")),
        };
        let missing: Vec<&str> = self
            .nodes
            .iter()
            .map(|n| n.as_str())
            .filter(|n| {
                !members
                    .iter()
                    .any(|m| m.id.0 == *n && m.state == Liveness::Alive)
            })
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{node} does not see {} alive yet",
                missing.join(", ")
            ))
        }
    }

    /// Waits for every node to be ready: the virtual ms it took, or why not.
    fn wait_ready(&self) -> Result<u64, String> {
        let start = self.now();
        loop {
            let why = self.nodes.iter().find_map(|n| self.ready(n).err());
            let Some(why) = why else {
                return Ok((self.now() - start) / MS);
            };
            if self.now() - start > READY_TIMEOUT {
                return Err(format!(
                    "the cluster was not ready after {:?}: {why}",
                    Duration::from_nanos(READY_TIMEOUT)
                ));
            }
            self.advance(self.now() + 50 * MS, || {});
        }
    }
}

/// Runs `plan` on a simulated cluster of `simcfg` and records the history at `history`.
pub(crate) fn drive(
    cfg: &RunConfig,
    plan: &Plan,
    simcfg: SimConfig,
    history: &Path,
) -> anyhow::Result<Driven> {
    let sim = Sim::new(simcfg, plan.options.seed)?;
    let world: Shared = Arc::new(Mutex::new(World {
        sim,
        done: Default::default(),
    }));
    let client = Arc::new(SimClient::new(world.clone()));
    let mut d = Driver {
        world,
        clock: VirtualClock::default(),
        t0: 0,
        nodes: plan.nodes.clone(),
        client: client.clone(),
    };
    let mut notes = Notes {
        setup_ms: Some(0),
        ..Notes::default()
    };
    match d.wait_ready() {
        Ok(ms) => notes.ready_ms = Some(ms),
        Err(e) => notes.problems.push(e),
    }
    d.t0 = d.now();
    d.set_clock(d.t0);
    let rec = Arc::new(Recorder::with_clock(
        history,
        Instant::now(),
        Box::new(d.clock.clone()),
    )?);
    if notes.ready_ms.is_some() {
        main_phase(&d, cfg, plan, &rec, &mut notes);
        lock(&d.world).sim.heal_all();
        if notes.main_phase {
            final_phase(&d, cfg, &rec, &mut notes);
        }
    }
    let counts = rec.counts();
    if let Err(e) = rec.close() {
        notes.problems.push(format!("history: {e}"));
    }
    notes.written = rec.len();
    notes.history_loss = rec.loss();
    notes.virtual_run_ms = Some(d.now() / MS);
    let trace = lock(&d.world).sim.trace().clone();
    Ok(Driven {
        notes,
        counts,
        trace,
    })
}

/// The workers and the nemesis, to the time limit and the end of every op in flight.
fn main_phase(d: &Driver, cfg: &RunConfig, plan: &Plan, rec: &Arc<Recorder>, notes: &mut Notes) {
    let offers = super::offers(d.client.clone());
    let Some(runner) = cfg.plan.workload.workload().runner(&offers) else {
        notes.problems.push(format!(
            "setup failed: the system offers no client for the {} workload",
            cfg.plan.workload
        ));
        return;
    };
    notes.main_phase = true;
    let deadline = cfg.plan.time_limit_ms * MS;
    let mut next_process = plan.workers.len() as u64;
    // What a session may record beside its planned op (a lock's keep-alives, none of which
    // the node's sessions have), under process numbers no worker reaches.
    let (ctx, _stop_tx) = session_ctx(rec, &runner, 2_000_000);
    let mut workers: Vec<Worker> = plan
        .workers
        .iter()
        .map(|w| Worker {
            plan: w.clone(),
            next: 0,
            process: w.worker as u64,
            session: Some(runner.session()),
            running: None,
        })
        .collect();
    let steps = schedule(&plan.faults);
    let step_at = |s: &(u64, Step)| match s.1 {
        Step::Heal(_) => s.0.min(deadline),
        Step::Apply(_) => s.0,
    };
    let mut report = NemesisReport {
        planned: plan.faults.len(),
        ..NemesisReport::default()
    };
    let mut active: std::collections::BTreeMap<usize, FaultId> = Default::default();
    let mut si = 0;
    let mut t = 0u64;
    loop {
        // The nemesis.
        while si < steps.len() && (step_at(&steps[si]) <= t || t >= deadline) {
            nemesis_step(
                d,
                plan,
                rec,
                &steps[si].1,
                t,
                deadline,
                &mut active,
                &mut report,
            );
            si += 1;
        }
        // The workers: start what is due.
        for w in &mut workers {
            start_due(w, rec, &ctx, &runner, t, deadline, &mut next_process);
        }
        let busy = workers.iter().any(|w| w.running.is_some());
        if t >= deadline && !busy && si >= steps.len() {
            break;
        }
        let mut next = t + STEP;
        if let Some(s) = steps.get(si) {
            next = next.min(step_at(s).max(t + 1));
        }
        if t < deadline {
            next = next.min(deadline);
            for w in workers.iter().filter(|w| w.running.is_none()) {
                if let Some(op) = w.plan.ops.get(w.next) {
                    next = next.min(op.at_ns.max(t + 1));
                }
            }
        }
        d.advance(d.t0 + next, || {
            for w in &mut workers {
                finish_op(w, rec, &runner, &mut next_process);
            }
        });
        t = next;
    }
    notes.nemesis = report;
    notes.main_phase_ms = Some(t / MS);
}

/// Applies or heals one planned fault at history time `t`, recording it.
#[allow(clippy::too_many_arguments)]
fn nemesis_step(
    d: &Driver,
    plan: &Plan,
    rec: &Recorder,
    step: &Step,
    t: u64,
    deadline: u64,
    active: &mut std::collections::BTreeMap<usize, FaultId>,
    report: &mut NemesisReport,
) {
    match *step {
        Step::Heal(std::cmp::Reverse(i)) => {
            let Some(id) = active.remove(&i) else {
                return;
            };
            let pf = &plan.faults[i];
            match lock(&d.world).sim.heal(id) {
                Ok(()) => {
                    let v = serde_json::to_value(&pf.fault).unwrap_or(Value::Null);
                    rec.nemesis_at(pf.fault.heal_event(), v, t);
                }
                Err(e) => report
                    .errors
                    .push(format!("faults[{i}] ({}): heal failed: {e}", pf.name)),
            }
        }
        Step::Apply(i) => {
            let pf = &plan.faults[i];
            report.due += 1;
            if t >= deadline {
                report.errors.push(format!(
                    "faults[{i}] ({}): its time came after the main phase ended",
                    pf.name
                ));
                return;
            }
            match lock(&d.world).sim.apply(&pf.fault) {
                Ok(id) => {
                    let v = serde_json::to_value(&pf.fault).unwrap_or(Value::Null);
                    rec.nemesis_at(pf.fault.start_event(), v, t);
                    report.applied.push(pf.name.clone());
                    active.insert(i, id);
                }
                Err(e) => report
                    .errors
                    .push(format!("faults[{i}] ({}): not applied: {e}", pf.name)),
            }
        }
    }
}

/// Starts the worker's ops that are due at `t` (one at a time: a skipped op ends at once).
#[allow(clippy::too_many_arguments)]
fn start_due(
    w: &mut Worker,
    rec: &Arc<Recorder>,
    ctx: &Ctx,
    runner: &Arc<dyn OpRunner>,
    t: u64,
    deadline: u64,
    next_process: &mut u64,
) {
    while w.running.is_none() && t < deadline {
        let Some(op) = w.plan.ops.get(w.next) else {
            return;
        };
        if op.at_ns >= deadline || op.at_ns > t {
            return;
        }
        w.next += 1;
        let mut session = w.session.take().unwrap_or_else(|| runner.session());
        let (rec2, ctx, node, op, process) = (
            rec.clone(),
            ctx.clone(),
            w.plan.node.clone(),
            op.op.clone(),
            w.process,
        );
        let f = op.f();
        let fut: OpFuture = Box::pin(async move {
            let call = Call {
                rec: &rec2,
                process,
                node: &node,
                op: &op,
                ctx: &ctx,
            };
            let c = session.run(call).await;
            (session, c)
        });
        w.running = Some((f, fut));
        finish_op(w, rec, runner, next_process);
    }
}

/// Polls the worker's op; when it ended, records its completion (and retires an `info`
/// process, as the real worker does).
fn finish_op(w: &mut Worker, rec: &Recorder, runner: &Arc<dyn OpRunner>, next_process: &mut u64) {
    let Some((f, fut)) = w.running.as_mut() else {
        return;
    };
    let Poll::Ready((session, c)) = poll(fut.as_mut()) else {
        return;
    };
    let f = *f;
    w.running = None;
    w.session = Some(session);
    let Some(c) = c else {
        return;
    };
    let info = c.kind == OpType::Info;
    rec.complete(w.process, f, c, Some(w.plan.node.as_str()));
    if info {
        w.process = *next_process;
        *next_process += 1;
        w.session = Some(runner.session());
    }
}

/// The workload's final phase in virtual time: the recovery wait and the final read, when
/// the workload has them.
fn final_phase(d: &Driver, cfg: &RunConfig, rec: &Arc<Recorder>, notes: &mut Notes) {
    let workload = cfg.plan.workload.workload();
    if !workload.recovers_tasks() {
        notes.recovery = format!("none needed ({} workload)", workload.name());
        return;
    }
    let start = d.now();
    let until = start + cfg.recovery_ms * MS;
    let offers = super::offers(d.client.clone());
    let Some(runner) = workload.runner(&offers) else {
        return;
    };
    let (ctx, _stop_tx) = session_ctx(rec, &runner, 1_000_000);
    let client: &dyn TasksClient = &*d.client;
    // As `tasks::recover_and_read`: the wait resumes while the final read shows a task the
    // wait's reads had not seen done.
    let mut reads = 0usize;
    let mut seen_open = BTreeSet::new();
    loop {
        let (outcome, text) = recovery_wait(d, rec, start, until, &seen_open);
        notes.recovery = text;
        let read = d.block_on(tasks::final_read(&ctx, client, &d.nodes, 2));
        reads += 1;
        notes.final_read = read.as_ref().map(|r| r.node.0.clone());
        let Some(read) = read else {
            notes
                .problems
                .push("no node answered the final read".into());
            return;
        };
        if !tasks::resume_wait(outcome, &read, reads, d.now() < until) {
            if reads > 1 {
                notes.recovery = format!("{} ({})", notes.recovery, tasks::reread_note(reads));
            }
            return;
        }
        seen_open.extend(read.open);
    }
}

/// The workers' context the workloads' code takes, for code that runs in virtual time: its
/// deadline and stop signal are never consulted here (the driver decides when ops start and
/// when the run ends); fresh processes count from `first_process`. Keep the sender while the
/// context is in use: a dropped one would read as a closed stop channel.
fn session_ctx(
    rec: &Arc<Recorder>,
    runner: &Arc<dyn OpRunner>,
    first_process: u64,
) -> (Ctx, tokio::sync::watch::Sender<bool>) {
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let ctx = Ctx {
        rec: rec.clone(),
        runner: runner.clone(),
        deadline: Instant::now(),
        stop,
        next_process: Arc::new(AtomicU64::new(first_process)),
    };
    (ctx, stop_tx)
}

/// [`tasks::await_tasks_done`] in virtual time: the same reads, readiness checks, outcome
/// and `recovery` op. The final phase's budget runs from `first` (its first wait) to
/// `until`; returns the outcome and the summary text.
fn recovery_wait(
    d: &Driver,
    rec: &Recorder,
    first: u64,
    until: u64,
    seen_open: &BTreeSet<String>,
) -> (&'static str, String) {
    let liveness = super::TASK_LIVENESS;
    let start = d.now();
    let budget = until - first;
    let mut i = 0usize;
    let mut healthy_since: Option<u64> = None;
    let end =
        |outcome: &'static str, healthy_since: Option<u64>, text: String, unready: &[String]| {
            let now = d.now();
            let mut v = json!({
                "outcome": outcome,
                "waited_ms": (now - start) / MS,
                "healthy_ms": healthy_since.map_or(0, |h| (now - h) / MS),
                "liveness_ms": liveness.as_millis() as u64,
            });
            if !unready.is_empty() {
                v["unready"] = json!(unready);
            }
            rec.nemesis_at(checkers::tasks::RECOVERY, v, d.hist(now));
            (outcome, text)
        };
    loop {
        let unready: Vec<String> = d.nodes.iter().filter_map(|n| d.ready(n).err()).collect();
        let all_ready = unready.is_empty();
        healthy_since = if all_ready {
            healthy_since.or(Some(d.now()))
        } else {
            None
        };
        let node = &d.nodes[i % d.nodes.len()];
        i += 1;
        if let Reply::Ok(Value::Object(tasks)) = d.block_on(d.client.read_tasks(node)) {
            if tasks::recovered(&tasks, seen_open) && all_ready {
                let text = format!("all {} tasks done", tasks.len());
                return end("done", healthy_since, text, &unready);
            }
        }
        let next = d.now() + 250 * MS;
        if next >= until {
            let healthy = healthy_since.map_or(0, |h| d.now() - h);
            let wrong = if unready.is_empty() {
                String::new()
            } else {
                format!("; not ready: {}", unready.join("; "))
            };
            let text = format!(
                "recovery wait of {:?} elapsed (cluster healthy for the last {:.1} s{wrong})",
                Duration::from_nanos(budget),
                healthy as f64 / 1e9
            );
            return end("budget", healthy_since, text, &unready);
        }
        d.advance(next, || {});
    }
}
