//! A first end-to-end driver, before the harness's `sim` system exists: clients run a mixed
//! tasks + locks workload through [`Sim::invoke`], a nemesis applies the nemesis crate's faults
//! one at a time, every op is recorded as a `histories::Op` on virtual time, and the real
//! checkers (`checkers::check_ops`: tasks, locks, stats) judge the history.
//!
//! The run: `duration` of workload and faults; then every fault is healed, the recovery wait
//! polls (unrecorded) quorum reads until every task is done or the budget ends, records the
//! `recovery` op the tasks checker reads, and a final recorded `read-tasks` decides lost tasks.
//! Everything is a function of the seed and the options.

use crate::{Completion, FaultId, Outcome, Sim, SimConfig};
use checkers::linearizable::{to_extra, LinOptions, ModelKind};
use checkers::{CheckOptions, Results};
use histories::{Op, OpType, Process};
use nemesis::{Fault, GrudgeKind, Link, NodeId};
use node_bin::core::kv::{KvOp, KvOutcome};
use node_bin::core::node::{ClientCmd, ClientResp};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const MS: u64 = 1_000_000;

/// The fault kinds the driver's nemesis draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    Partition,
    Kill,
    Pause,
    Loss,
    Slow,
    ClockBump,
    ClockStrobe,
    ClockDrift,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Partition,
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Loss,
        FaultKind::Slow,
        FaultKind::ClockBump,
        FaultKind::ClockStrobe,
        FaultKind::ClockDrift,
    ];
}

/// What the clients do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Submits and lock acquire/hold/release, half and half; then the recovery wait and the
    /// final read of every task.
    Mixed,
    /// Read, write and compare-and-set on a few KV registers at a time (keys rotate every
    /// [`KEY_SPAN_MS`], values in 0..5, as the harness's register workload), checked for
    /// linearizability (cas-register model).
    Register,
    /// Lock acquire/hold/release only (the harness's `locks` workload); no tasks, so no
    /// recovery wait or final read.
    Locks,
}

/// How long one set of register keys is in use (the harness's `register::KEY_SPAN_MS`).
pub const KEY_SPAN_MS: u64 = 2_000;

/// Options of one driven run.
#[derive(Debug, Clone)]
pub struct DriveOpts {
    pub sim: SimConfig,
    pub workload: Workload,
    /// Workload and faults last this long (virtual time).
    pub duration: Duration,
    /// Concurrent clients.
    pub workers: usize,
    /// Target client operations per second over all workers (each worker thinks a uniform
    /// 0..2*workers/rate between ops), as the harness's `--rate`.
    pub rate: f64,
    /// Locks the clients contend for.
    pub locks: usize,
    /// The TTL a lock client asks for (the harness's `--lease-ttl`).
    pub lease_ttl_ms: u64,
    /// A granted lock is held a uniform 100..`hold_max_ms` ms before its release.
    pub hold_max_ms: u64,
    /// How long each task runs on its node (the harness's `--task-work`).
    pub task_work_ms: u64,
    /// The nemesis draws from these (empty: no faults).
    pub faults: Vec<FaultKind>,
    /// Let faults overlap (the harness's `--overlap`): a new fault is drawn every 0.5-2 s
    /// while others are in force, at most one per mechanism (kill and pause share one, as do
    /// the three clock kinds, and loss and slow), so kills and pauses never stop more than a
    /// minority. Off: one fault at a time, exactly as before the option.
    pub overlap: bool,
    /// The most the recovery wait may take.
    pub recovery_budget: Duration,
    /// How long the node promises a healthy cluster needs to finish any acknowledged task
    /// (claim lease + detection + work), for the `recovery` op.
    pub task_liveness: Duration,
}

impl Default for DriveOpts {
    fn default() -> Self {
        DriveOpts {
            sim: SimConfig::default(),
            workload: Workload::Mixed,
            duration: Duration::from_secs(30),
            workers: 10,
            rate: 100.0,
            locks: 3,
            lease_ttl_ms: 2_000,
            hold_max_ms: 800,
            task_work_ms: 50,
            faults: FaultKind::ALL.to_vec(),
            overlap: false,
            recovery_budget: Duration::from_secs(20),
            task_liveness: Duration::from_secs(12),
        }
    }
}

/// What one driven run produced.
#[derive(Debug)]
pub struct DriveOutcome {
    pub seed: u64,
    pub history: Vec<Op>,
    pub results: Results,
    /// The simulator's event hash chain at the end.
    pub trace: crate::trace::Trace,
    /// Virtual time at the end, ns.
    pub virtual_ns: u64,
}

impl DriveOutcome {
    /// The history as JSONL text (one op a line, as `history.jsonl` holds it).
    pub fn history_jsonl(&self) -> String {
        let mut s = String::new();
        for op in &self.history {
            s.push_str(&serde_json::to_string(op).expect("an op serializes"));
            s.push('\n');
        }
        s
    }
}

enum Doing {
    Register,
    Submit,
    Acquire { lock: String },
    Release,
}

struct Worker {
    process: u64,
    next_at: u64,
    busy: Option<(crate::ReqId, Doing)>,
    /// A lock this worker holds: (name, token, release at).
    holding: Option<(String, u64, u64)>,
    submitted: u64,
}

struct Recorder {
    ops: Vec<Op>,
}

impl Recorder {
    fn push(&mut self, time: u64, process: Process, kind: OpType, f: &str, value: Value) -> usize {
        let last = self.ops.last().map_or(0, |o| o.time);
        self.ops.push(Op {
            index: self.ops.len() as u64,
            time: time.max(last),
            process,
            kind,
            f: f.to_string(),
            value,
            node: None,
            error: None,
        });
        self.ops.len() - 1
    }
}

/// Runs the workload with faults on `seed` and checks the history.
pub fn run(opts: &DriveOpts, seed: u64) -> DriveOutcome {
    let s = simulate(opts, seed);
    let mut results = checkers::check_ops(s.history.iter().cloned(), &CheckOptions::default());
    if opts.workload == Workload::Register {
        // A step budget, not a wall-clock deadline, bounds the search: the verdict must be a
        // function of the history alone.
        let lin = LinOptions {
            model: ModelKind::CasRegister,
            timeout: None,
            ..LinOptions::default()
        };
        let extra = match checkers::linearizable::check_ops(&s.history, &lin) {
            Ok(r) => to_extra(&r),
            Err(e) => checkers::ExtraResult {
                valid: checkers::Verdict::Unknown,
                summary: format!("the history does not fit the model: {e}"),
                detail: Value::Null,
            },
        };
        results.add_extra("linearizable", extra);
    }
    DriveOutcome {
        seed,
        history: s.history,
        results,
        trace: s.trace,
        virtual_ns: s.virtual_ns,
    }
}

/// Runs `seed` twice and compares the event hash chains and the histories (what a
/// `--check-determinism` mode needs): the first run's outcome, or where the runs diverge.
pub fn check_determinism(
    opts: &DriveOpts,
    seed: u64,
) -> Result<Simulated, crate::trace::Divergence> {
    let a = simulate(opts, seed);
    let b = simulate(opts, seed);
    crate::trace::compare(&a.trace, &b.trace)?;
    if let Some(i) =
        (0..a.history.len().max(b.history.len())).find(|i| a.history.get(*i) != b.history.get(*i))
    {
        return Err(crate::trace::Divergence {
            where_: format!(
                "in the history at op {i} ({:?} against {:?})",
                a.history.get(i),
                b.history.get(i)
            ),
        });
    }
    Ok(a)
}

/// What a simulation produced, before any check.
#[derive(Debug)]
pub struct Simulated {
    pub history: Vec<Op>,
    pub trace: crate::trace::Trace,
    pub virtual_ns: u64,
}

/// Runs the workload with faults on `seed`: the history, not checked.
pub fn simulate(opts: &DriveOpts, seed: u64) -> Simulated {
    let mut sim = Sim::new(opts.sim.clone(), seed).expect("the options name at least one node");
    let mut rng = ChaCha8Rng::seed_from_u64(crate::mix(seed, 10));
    let mut nem_rng = ChaCha8Rng::seed_from_u64(crate::mix(seed, 11));
    let names = sim.node_ids();
    let nodes: Vec<NodeId> = names.iter().map(|n| NodeId::from(n.as_str())).collect();
    let mut rec = Recorder { ops: Vec::new() };
    let mut next_process = opts.workers as u64;
    let mut workers: Vec<Worker> = (0..opts.workers)
        .map(|w| Worker {
            process: w as u64,
            next_at: rng.gen_range(0..50) * MS,
            busy: None,
            holding: None,
            submitted: 0,
        })
        .collect();
    // Invocations in flight: req -> (worker, op index of the invoke, f, invoke value).
    let mut inflight: BTreeMap<crate::ReqId, (usize, String, Value)> = BTreeMap::new();
    let end = opts.duration.as_nanos() as u64;
    let think_max = ((2.0 * opts.workers as f64 / opts.rate.max(0.001)) * 1e9) as u64;
    let mut next_fault_at = 1_000 * MS;
    let mut active: Option<(FaultId, Fault, u64)> = None;
    // With `overlap`: the faults in force, in the order applied.
    let mut many: Vec<(FaultKind, FaultId, Fault, u64)> = Vec::new();
    let mut t = 0u64;
    while t < end {
        t += MS;
        sim.run_until(t);
        complete(
            &mut sim,
            &mut rec,
            &mut workers,
            &mut inflight,
            &mut next_process,
            &mut rng,
            think_max,
            opts.hold_max_ms,
        );
        if opts.overlap {
            overlapping_nemesis(
                &mut sim,
                &mut rec,
                &mut many,
                &mut next_fault_at,
                t,
                opts,
                &nodes,
                &mut nem_rng,
            );
        // The nemesis: one fault at a time.
        } else if let Some((id, fault, heal_at)) = &active {
            if t >= *heal_at {
                sim.heal(*id).expect("applied above");
                let v = serde_json::to_value(fault).expect("a fault serializes");
                rec.push(t, Process::Nemesis, OpType::Info, fault.heal_event(), v);
                active = None;
                next_fault_at = t + nem_rng.gen_range(500..2_000) * MS;
            }
        } else if t >= next_fault_at && !opts.faults.is_empty() {
            let kind = *opts.faults.choose(&mut nem_rng).expect("not empty");
            let (fault, dur_ms) = draw_fault(kind, &nodes, &mut nem_rng);
            let id = sim.apply(&fault).expect("drawn faults are valid");
            let v = serde_json::to_value(&fault).expect("a fault serializes");
            rec.push(t, Process::Nemesis, OpType::Info, fault.start_event(), v);
            active = Some((id, fault, t + dur_ms * MS));
        }
        // The clients.
        for (w, wk) in workers.iter_mut().enumerate() {
            if wk.busy.is_some() || t < wk.next_at {
                continue;
            }
            let node = names.choose(&mut rng).expect("nodes").clone();
            let (f, value, cmd, doing) = match wk.holding.take() {
                Some((lock, token, release_at)) if t >= release_at => (
                    "release",
                    json!({"lock": lock, "token": token}),
                    ClientCmd::Release {
                        lock: lock.clone(),
                        client: format!("p{}", wk.process),
                        token,
                    },
                    Doing::Release,
                ),
                Some(h) => {
                    wk.next_at = h.2;
                    wk.holding = Some(h);
                    continue;
                }
                None if opts.workload == Workload::Register => {
                    let keys = opts.locks.max(1) as u64;
                    let span = t / (KEY_SPAN_MS * MS);
                    let key = format!("k{}", span * keys + rng.gen_range(0..keys));
                    let (f, value, op) = match rng.gen_range(0..3) {
                        0 => ("read", json!({ "key": key }), KvOp::Read),
                        1 => {
                            let v = rng.gen_range(0..5u64);
                            let op = KvOp::Write { value: json!(v) };
                            ("write", json!({"key": key, "value": v}), op)
                        }
                        _ => {
                            let (from, to) = (rng.gen_range(0..5u64), rng.gen_range(0..5u64));
                            let op = KvOp::Cas {
                                from: json!(from),
                                to: json!(to),
                            };
                            ("cas", json!({"key": key, "from": from, "to": to}), op)
                        }
                    };
                    (f, value, ClientCmd::Kv { key, op }, Doing::Register)
                }
                None if opts.workload == Workload::Mixed && rng.gen_bool(0.5) => {
                    wk.submitted += 1;
                    let id = format!("t{w}-{}", wk.submitted);
                    let work_ms = opts.task_work_ms;
                    (
                        "submit",
                        json!({"task": id}),
                        ClientCmd::Submit { id, work_ms },
                        Doing::Submit,
                    )
                }
                None => {
                    let lock = format!("l{}", rng.gen_range(0..opts.locks.max(1)));
                    let ttl_ms = opts.lease_ttl_ms;
                    (
                        "acquire",
                        json!({"lock": lock, "ttl_ms": ttl_ms}),
                        ClientCmd::Acquire {
                            lock: lock.clone(),
                            client: format!("p{}", wk.process),
                            ttl_ms,
                        },
                        Doing::Acquire { lock },
                    )
                }
            };
            let req = sim.invoke(t, &node, cmd, None).expect("known node");
            rec.push(
                t,
                Process::Client(wk.process),
                OpType::Invoke,
                f,
                value.clone(),
            );
            inflight.insert(req, (w, f.to_string(), value));
            wk.busy = Some((req, doing));
        }
    }
    // Heal everything (last applied first), then let the cluster recover.
    while let Some((_, id, fault, _)) = many.pop() {
        sim.heal(id).expect("applied above");
        let v = serde_json::to_value(&fault).expect("a fault serializes");
        rec.push(t, Process::Nemesis, OpType::Info, fault.heal_event(), v);
    }
    if let Some((id, fault, _)) = active.take() {
        sim.heal(id).expect("applied above");
        let v = serde_json::to_value(&fault).expect("a fault serializes");
        rec.push(t, Process::Nemesis, OpType::Info, fault.heal_event(), v);
    }
    let healed_at = t;
    // Let in-flight client requests finish (each ends by its timeout at the latest).
    let settle = t + opts.sim.client_timeout.as_nanos() as u64 + MS;
    while t < settle {
        t += 10 * MS;
        sim.run_until(t);
        complete(
            &mut sim,
            &mut rec,
            &mut workers,
            &mut inflight,
            &mut next_process,
            &mut rng,
            0,
            opts.hold_max_ms,
        );
    }
    if opts.workload != Workload::Mixed {
        return Simulated {
            history: rec.ops,
            trace: sim.trace().clone(),
            virtual_ns: sim.now(),
        };
    }
    let budget_end = healed_at + opts.recovery_budget.as_nanos() as u64;
    let read_timeout = opts.sim.timing.read_timeout + Duration::from_secs(1);
    // As the harness's final phase (`harness::workloads::tasks::recover_and_read`): when the
    // final read shows a task not done that the wait's reads had not seen (a submit whose
    // value reached only a minority of acceptors), the wait resumes until that task shows up
    // done, then a new final read follows; at most `MAX_FINAL_READS` in all.
    const MAX_FINAL_READS: usize = 5;
    let mut seen_open: BTreeSet<String> = BTreeSet::new();
    let mut reads = 0usize;
    loop {
        let wait_start = t;
        let mut outcome = "budget";
        let mut poll = 0usize;
        while t < budget_end {
            let via = names[poll % names.len()].clone();
            poll += 1;
            let req = sim
                .invoke(t, &via, ClientCmd::ReadTasks, Some(read_timeout))
                .expect("known node");
            let mut answer = None;
            while answer.is_none() && t < budget_end + read_timeout.as_nanos() as u64 {
                t += 10 * MS;
                sim.run_until(t);
                answer = sim.drain_completions().into_iter().find(|c| c.req == req);
            }
            if let Some(Completion {
                outcome: Outcome::Reply(ClientResp::Tasks(m)),
                ..
            }) = answer
            {
                let all_done = m
                    .values()
                    .all(|(s, _)| *s == node_bin::core::message::TaskState::Done);
                if all_done && seen_open.iter().all(|id| m.contains_key(id)) {
                    outcome = "done";
                    break;
                }
            }
            t += 500 * MS;
            sim.run_until(t);
            sim.drain_completions();
        }
        let from = if reads == 0 { healed_at } else { wait_start };
        let waited = (t - from) / MS;
        rec.push(
            t,
            Process::Nemesis,
            OpType::Info,
            checkers::tasks::RECOVERY,
            json!({"outcome": outcome, "waited_ms": waited, "healthy_ms": waited,
                   "liveness_ms": opts.task_liveness.as_millis() as u64}),
        );
        // The final read: through each node in turn until one answers ok; every try is
        // recorded.
        let mut open = Vec::new();
        for via in &names {
            let p = next_process;
            next_process += 1;
            rec.push(
                t,
                Process::Client(p),
                OpType::Invoke,
                "read-tasks",
                Value::Null,
            );
            let req = sim
                .invoke(t, via, ClientCmd::ReadTasks, Some(read_timeout))
                .expect("known node");
            let mut answer = None;
            while answer.is_none() {
                t += MS;
                sim.run_until(t);
                answer = sim.drain_completions().into_iter().find(|c| c.req == req);
            }
            let c = answer.expect("the loop ends with an answer");
            let (kind, value, error) = match c.outcome {
                Outcome::Reply(ClientResp::Tasks(m)) => {
                    open = m
                        .iter()
                        .filter(|(_, (s, _))| *s != node_bin::core::message::TaskState::Done)
                        .map(|(id, _)| id.clone())
                        .collect();
                    let tasks: serde_json::Map<String, Value> = m
                        .into_iter()
                        .map(|(id, (s, runs))| (id, json!({"state": s.as_str(), "runs": runs})))
                        .collect();
                    (OpType::Ok, json!({ "tasks": tasks }), None)
                }
                other => (OpType::Fail, Value::Null, Some(format!("{other:?}"))),
            };
            let i = rec.push(c.completed, Process::Client(p), kind, "read-tasks", value);
            rec.ops[i].node = Some(c.node);
            rec.ops[i].error = error;
            if kind == OpType::Ok {
                break;
            }
        }
        reads += 1;
        if outcome != "done" || open.is_empty() || reads >= MAX_FINAL_READS || t >= budget_end {
            break;
        }
        seen_open.extend(open);
    }
    Simulated {
        history: rec.ops,
        trace: sim.trace().clone(),
        virtual_ns: sim.now(),
    }
}

/// Records the completions the last `run_until` produced and frees their workers.
#[allow(clippy::too_many_arguments)]
fn complete(
    sim: &mut Sim,
    rec: &mut Recorder,
    workers: &mut [Worker],
    inflight: &mut BTreeMap<crate::ReqId, (usize, String, Value)>,
    next_process: &mut u64,
    rng: &mut ChaCha8Rng,
    think_max: u64,
    hold_max_ms: u64,
) {
    for c in sim.drain_completions() {
        let Some((w, f, value)) = inflight.remove(&c.req) else {
            continue;
        };
        let wk = &mut workers[w];
        let Some((_, doing)) = wk.busy.take() else {
            continue;
        };
        let (kind, value, error) = match (&c.outcome, &doing) {
            (Outcome::Reply(ClientResp::Granted { token }), Doing::Acquire { lock }) => {
                let hold = rng.gen_range(100..hold_max_ms.max(101)) * MS;
                wk.holding = Some((lock.clone(), *token, c.completed + hold));
                let mut v = value;
                v["token"] = json!(token);
                (OpType::Ok, v, None)
            }
            (Outcome::Reply(ClientResp::Kv(k)), Doing::Register) => {
                let mut v = value;
                match k {
                    KvOutcome::Read(x) => v["value"] = x.clone(),
                    KvOutcome::Written => {}
                    KvOutcome::Cas(swapped) => v["swapped"] = json!(swapped),
                }
                (OpType::Ok, v, None)
            }
            (Outcome::Reply(ClientResp::Submitted), Doing::Submit)
            | (Outcome::Reply(ClientResp::Released), Doing::Release) => (OpType::Ok, value, None),
            (
                Outcome::Reply(ClientResp::Error {
                    message, definite, ..
                }),
                _,
            ) => {
                let kind = if *definite {
                    OpType::Fail
                } else {
                    OpType::Info
                };
                (kind, value, Some(message.clone()))
            }
            (Outcome::Refused, _) => (OpType::Fail, value, Some("connect: refused".into())),
            (Outcome::Timeout, _) => (OpType::Info, value, Some("timeout".into())),
            (Outcome::Reset, _) => (OpType::Info, value, Some("connection reset".into())),
            (other, _) => (
                OpType::Info,
                value,
                Some(format!("unexpected reply {other:?}")),
            ),
        };
        let i = rec.push(c.completed, Process::Client(wk.process), kind, &f, value);
        rec.ops[i].node = Some(c.node.clone());
        rec.ops[i].error = error;
        if kind == OpType::Info {
            // An unknown outcome retires the process (and whatever lock it may hold).
            wk.process = *next_process;
            *next_process += 1;
            wk.holding = None;
        }
        if kind == OpType::Fail && f == "release" {
            wk.holding = None;
        }
        wk.next_at = c.completed + rng.gen_range(0..=think_max);
    }
}

fn some_nodes(nodes: &[NodeId], rng: &mut ChaCha8Rng, max: usize) -> Vec<NodeId> {
    let k = rng.gen_range(1..=max.min(nodes.len()).max(1));
    let mut v: Vec<NodeId> = nodes.choose_multiple(rng, k).cloned().collect();
    v.sort();
    v
}

/// One fault of `kind` and how long it lasts (ms); the shapes the real nemesis plans.
/// The mechanism a kind uses; overlapping faults never share one (see [`DriveOpts::overlap`]).
fn mechanism(kind: FaultKind) -> FaultKind {
    match kind {
        FaultKind::Pause => FaultKind::Kill,
        FaultKind::Slow => FaultKind::Loss,
        FaultKind::ClockStrobe | FaultKind::ClockDrift => FaultKind::ClockBump,
        k => k,
    }
}

/// One millisecond of the overlapping nemesis: heal what is due, then, when the next fault is
/// due, apply a fault of a kind whose mechanism is free (a kind in use is skipped, not retried).
#[allow(clippy::too_many_arguments)]
fn overlapping_nemesis(
    sim: &mut Sim,
    rec: &mut Recorder,
    many: &mut Vec<(FaultKind, FaultId, Fault, u64)>,
    next_fault_at: &mut u64,
    t: u64,
    opts: &DriveOpts,
    nodes: &[NodeId],
    rng: &mut ChaCha8Rng,
) {
    let mut k = 0;
    while k < many.len() {
        if t >= many[k].3 {
            let (_, id, fault, _) = many.remove(k);
            sim.heal(id).expect("applied above");
            let v = serde_json::to_value(&fault).expect("a fault serializes");
            rec.push(t, Process::Nemesis, OpType::Info, fault.heal_event(), v);
        } else {
            k += 1;
        }
    }
    if t < *next_fault_at || opts.faults.is_empty() {
        return;
    }
    *next_fault_at = t + rng.gen_range(500..2_000) * MS;
    let kind = *opts.faults.choose(rng).expect("not empty");
    if many.iter().any(|(k, ..)| mechanism(*k) == mechanism(kind)) {
        return;
    }
    let (fault, dur_ms) = draw_fault(kind, nodes, rng);
    let id = sim.apply(&fault).expect("drawn faults are valid");
    let v = serde_json::to_value(&fault).expect("a fault serializes");
    rec.push(t, Process::Nemesis, OpType::Info, fault.start_event(), v);
    many.push((kind, id, fault, t + dur_ms * MS));
}

fn draw_fault(kind: FaultKind, nodes: &[NodeId], rng: &mut ChaCha8Rng) -> (Fault, u64) {
    let minority = nodes.len().saturating_sub(1) / 2;
    match kind {
        FaultKind::Partition => {
            let g = *GrudgeKind::ALL.choose(rng).expect("kinds");
            let grudge = g.generate(nodes, rng);
            (Fault::Partition { grudge }, rng.gen_range(1_000..4_000))
        }
        FaultKind::Kill => (
            Fault::Kill {
                nodes: some_nodes(nodes, rng, minority.max(1)),
            },
            rng.gen_range(2_500..7_500),
        ),
        FaultKind::Pause => (
            Fault::Pause {
                nodes: some_nodes(nodes, rng, minority.max(1)),
            },
            rng.gen_range(1_000..4_000),
        ),
        FaultKind::Loss => {
            let mut links = Vec::new();
            for a in nodes {
                for b in nodes {
                    if a != b && rng.gen_bool(0.5) {
                        links.push(Link::new(a.clone(), b.clone()));
                    }
                }
            }
            if links.is_empty() {
                links.push(Link::new(nodes[0].clone(), nodes[nodes.len() - 1].clone()));
            }
            let probability = [0.1, 0.3, 0.5][rng.gen_range(0..3)];
            (
                Fault::Loss { links, probability },
                rng.gen_range(1_000..4_000),
            )
        }
        FaultKind::Slow => (
            Fault::Slow {
                nodes: some_nodes(nodes, rng, nodes.len()),
                rate_kbit: 8_000,
                burst_bytes: 32_768,
                latency_ms: rng.gen_range(20..200),
            },
            rng.gen_range(1_000..4_000),
        ),
        FaultKind::ClockBump => (
            Fault::ClockBump {
                nodes: some_nodes(nodes, rng, nodes.len()),
                offset_ms: rng.gen_range(-10_000..10_000),
            },
            rng.gen_range(1_000..4_000),
        ),
        FaultKind::ClockStrobe => (
            Fault::ClockStrobe {
                nodes: some_nodes(nodes, rng, nodes.len()),
                a_ms: rng.gen_range(-5_000..0),
                b_ms: rng.gen_range(0..5_000),
                period_ms: rng.gen_range(10..200),
                duration_ms: 2_000,
            },
            rng.gen_range(1_000..4_000),
        ),
        FaultKind::ClockDrift => (
            Fault::ClockDrift {
                nodes: some_nodes(nodes, rng, nodes.len()),
                rate: [0.5, 0.9, 1.1, 2.0][rng.gen_range(0..4)],
            },
            rng.gen_range(1_000..4_000),
        ),
    }
}
