//! A correct model of the tasks and locks workloads that synthesizes valid *concurrent*
//! histories from a seed, optionally with planted anomalies. It drives the property tests
//! (a correct model's history is valid; each planted anomaly is found, exactly) and the
//! benchmark generator `gauntlet-genhistory` (docs/performance-check.md).
//!
//! The model is an event simulation: each client slot alternates invoke and completion with
//! random latencies, so operations of different processes overlap. The services are
//! linearized at the invoke:
//! - a submit that will be `ok` lands at once; one that will `fail` never lands; one that ends
//!   `info` lands with probability one half;
//! - an acquire is granted iff the lock is free (released, or its server lease — granted at the
//!   invoke, for `ttl_ms` — has run out), with the next fencing token; a release by the holder
//!   frees the lock at its invoke. A certain hold then never overlaps the next grant.
//!
//! A client whose op ends in `info` goes on as a new process number, as in Jepsen. After the
//! last client op completes, one fresh process reads all tasks (the "final read").

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use histories::{Op, OpType, Process};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

/// An anomaly the model can plant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Plant {
    /// An acknowledged task missing from the final read.
    LostTask,
    /// A task whose submit failed, present in the final read.
    PhantomTask,
    /// A never-submitted task in the final read.
    UnexpectedTask,
    /// An acknowledged task left `running` in the final read.
    NotDoneTask,
    /// An acknowledged task with `runs` 2.
    DuplicatedTask,
    /// A grant of a lock while another process certainly holds it.
    SplitLock,
    /// A grant whose token is not larger than one completed before its invoke.
    TokenRegression,
}

impl Plant {
    /// Every kind.
    pub const ALL: [Plant; 7] = [
        Plant::LostTask,
        Plant::PhantomTask,
        Plant::UnexpectedTask,
        Plant::NotDoneTask,
        Plant::DuplicatedTask,
        Plant::SplitLock,
        Plant::TokenRegression,
    ];
}

/// The knobs of the model. Defaults describe a small mixed history.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// RNG seed: the same config gives the same history.
    pub seed: u64,
    /// Concurrent client slots. Default 5.
    pub clients: usize,
    /// Client invocations before the final read. Default 200.
    pub invocations: u64,
    /// Distinct lock names. Default 2.
    pub locks: usize,
    /// Share of invocations (not releases) that are submits. Default 0.6.
    pub submit_share: f64,
    /// Probability a submit or acquire fails outright. Default 0.05.
    pub fail_rate: f64,
    /// Probability an op ends `info`. Default 0.03.
    pub info_rate: f64,
    /// Probability a landed task ran twice (allowed unless exactly-once). Default 0.
    pub dup_rate: f64,
    /// Lease asked for by each acquire. Default 2000 ms.
    pub ttl_ms: u64,
    /// Longest a client keeps a lock before releasing it (it submits meanwhile). Default
    /// 1500 ms (within the lease).
    pub max_hold_ms: u64,
    /// Maximum op latency. Default 20 ms.
    pub max_latency_ms: u64,
    /// A nemesis `info` event every this many invocations (0: none). Default 50.
    pub nemesis_every: u64,
    /// The anomalies to plant (each at most once).
    pub plant: Vec<Plant>,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 0,
            clients: 5,
            invocations: 200,
            locks: 2,
            submit_share: 0.6,
            fail_rate: 0.05,
            info_rate: 0.03,
            dup_rate: 0.0,
            ttl_ms: 2000,
            max_hold_ms: 1500,
            max_latency_ms: 20,
            nemesis_every: 50,
            plant: Vec::new(),
        }
    }
}

/// What was planted, with the task id or the op index that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planted {
    /// The kind.
    pub kind: Plant,
    /// The task id (task anomalies) or the lock name (lock anomalies).
    pub what: String,
    /// For lock anomalies: the index of the planted acquire's ok op.
    pub index: Option<u64>,
}

/// The outcome of [`synthesize`].
#[derive(Debug, Clone, Default)]
pub struct SynthReport {
    /// Ops emitted.
    pub ops: u64,
    /// Anomalies actually planted (a plant needs an occasion, e.g. a failed submit).
    pub planted: Vec<Planted>,
}

const MS: u64 = 1_000_000;

#[derive(Clone)]
enum Call {
    Submit,
    Acquire {
        lock: usize,
        token: Option<u64>,
        planted: Option<usize>,
    },
    Release,
}

struct InFlight {
    f: &'static str,
    call: Call,
    kind: OpType,
    invoke_value: Value,
    complete_at: u64,
}

struct Slot {
    process: u64,
    tasks: u64,
    flight: Option<InFlight>,
    /// (lock, token, release at): a lock this client knows it holds.
    holding: Option<(usize, u64, u64)>,
}

#[derive(Clone, Copy, Default)]
struct LockSrv {
    /// (slot, token, server lease end)
    holder: Option<(usize, u64, u64)>,
    /// The largest token whose acquire completed ok.
    max_completed: Option<u64>,
    /// No grant before this time (set by a planted split).
    blocked_until: u64,
}

struct Model<'a, F: FnMut(Op)> {
    cfg: &'a SynthConfig,
    rng: ChaCha8Rng,
    emit: F,
    index: u64,
    next_process: u64,
    next_token: u64,
    slots: Vec<Slot>,
    locks: Vec<LockSrv>,
    /// Every submitted task: (id, outcome of the submit, landed).
    tasks: Vec<(String, OpType, bool)>,
    report: SynthReport,
    /// Lock plants still waiting for an occasion.
    pending_plants: Vec<Plant>,
}

/// Runs the model, handing each op to `emit` in order. Returns what was planted.
pub fn synthesize(cfg: &SynthConfig, emit: impl FnMut(Op)) -> SynthReport {
    let slots = (0..cfg.clients.max(1))
        .map(|i| Slot {
            process: i as u64,
            tasks: 0,
            flight: None,
            holding: None,
        })
        .collect::<Vec<_>>();
    let mut m = Model {
        cfg,
        rng: ChaCha8Rng::seed_from_u64(cfg.seed),
        emit,
        index: 0,
        next_process: slots.len() as u64,
        next_token: 1,
        locks: vec![LockSrv::default(); cfg.locks.max(1)],
        slots,
        tasks: Vec::new(),
        report: SynthReport::default(),
        pending_plants: cfg
            .plant
            .iter()
            .copied()
            .filter(|p| matches!(p, Plant::SplitLock | Plant::TokenRegression))
            .collect(),
    };
    m.run();
    m.report.ops = m.index;
    m.report
}

impl<F: FnMut(Op)> Model<'_, F> {
    fn op(&mut self, time: u64, process: Process, kind: OpType, f: &str, value: Value) {
        let node = (kind.is_completion() && process != Process::Nemesis)
            .then(|| format!("n{}", 1 + self.index % 5));
        let error = match kind {
            OpType::Fail => Some("definite failure".to_string()),
            OpType::Info => Some("timed out".to_string()),
            _ => None,
        };
        (self.emit)(Op {
            index: self.index,
            time,
            process,
            kind,
            f: f.to_string(),
            value,
            node: if process == Process::Nemesis {
                None
            } else {
                node
            },
            error: if process == Process::Nemesis {
                None
            } else {
                error
            },
        });
        self.index += 1;
    }

    fn run(&mut self) {
        let mut queue: BinaryHeap<Reverse<(u64, usize)>> = (0..self.slots.len())
            .map(|s| Reverse((s as u64 * 1000, s)))
            .collect();
        let mut invoked = 0u64;
        let mut last_time = 0;
        while let Some(Reverse((now, s))) = queue.pop() {
            last_time = now;
            if self.slots[s].flight.is_some() {
                let next = self.complete(now, s);
                queue.push(Reverse((next, s)));
            } else if invoked < self.cfg.invocations {
                invoked += 1;
                if self.cfg.nemesis_every > 0 && invoked % self.cfg.nemesis_every == 0 {
                    let f = if (invoked / self.cfg.nemesis_every) % 2 == 1 {
                        "start-partition"
                    } else {
                        "stop-partition"
                    };
                    self.op(
                        now,
                        Process::Nemesis,
                        OpType::Info,
                        f,
                        json!({"grudge": {}}),
                    );
                }
                let done = self.invoke(now, s);
                queue.push(Reverse((done, s)));
            }
        }
        self.final_read(last_time + 5_000 * MS);
    }

    /// Emits an invoke for slot `s` at `now`; returns its completion time.
    fn invoke(&mut self, now: u64, s: usize) -> u64 {
        let latency = self
            .rng
            .gen_range(MS / 10..=self.cfg.max_latency_ms.max(1) * MS);
        let roll: f64 = self.rng.gen();
        let kind = if roll < self.cfg.info_rate {
            OpType::Info
        } else if roll < self.cfg.info_rate + self.cfg.fail_rate {
            OpType::Fail
        } else {
            OpType::Ok
        };
        let (f, call, value, kind) = match self.slots[s].holding {
            Some((lock, token, at)) if now >= at => {
                self.slots[s].holding = None;
                let kind = self.release(now, s, lock, token, kind);
                let v = json!({"lock": lock_name(lock), "token": token});
                ("release", Call::Release, v, kind)
            }
            holding => {
                if holding.is_none() && self.rng.gen::<f64>() >= self.cfg.submit_share {
                    let lock = self.rng.gen_range(0..self.locks.len());
                    let (token, kind, planted) = self.acquire(now, now + latency, s, lock, kind);
                    let v = json!({"lock": lock_name(lock), "ttl_ms": self.cfg.ttl_ms});
                    let call = Call::Acquire {
                        lock,
                        token,
                        planted,
                    };
                    ("acquire", call, v, kind)
                } else {
                    let slot = &mut self.slots[s];
                    slot.tasks += 1;
                    let task = format!("t{s}-{}", slot.tasks);
                    let lands = match kind {
                        OpType::Ok => true,
                        OpType::Fail => false,
                        _ => self.rng.gen_bool(0.5),
                    };
                    self.tasks.push((task.clone(), kind, lands));
                    let v = json!({ "task": task });
                    ("submit", Call::Submit, v, kind)
                }
            }
        };
        let process = Process::Client(self.slots[s].process);
        self.op(now, process, OpType::Invoke, f, value.clone());
        self.slots[s].flight = Some(InFlight {
            f,
            call,
            kind,
            invoke_value: value,
            complete_at: now + latency,
        });
        now + latency
    }

    /// Linearizes an acquire at `now` (its ok would arrive at `ok_at`): the token if granted,
    /// the completion type, and the report entry if this grant is a planted anomaly.
    fn acquire(
        &mut self,
        now: u64,
        ok_at: u64,
        s: usize,
        lock: usize,
        kind: OpType,
    ) -> (Option<u64>, OpType, Option<usize>) {
        let srv = self.locks[lock];
        let free = srv.holder.is_none_or(|(_, _, end)| end <= now) && srv.blocked_until <= now;
        let lease_end = now + self.cfg.ttl_ms * MS;
        if kind != OpType::Ok {
            if kind == OpType::Info && free {
                // Granted, but the client never learns it: the server holds it for the lease.
                let token = self.take_token();
                self.locks[lock].holder = Some((s, token, lease_end));
                return (Some(token), kind, None);
            }
            return (None, kind, None);
        }
        if free {
            if let (Some(pos), Some(t)) =
                (self.plant_here(Plant::TokenRegression), srv.max_completed)
            {
                // Reuse the largest token already completed: not larger, so a regression.
                self.pending_plants.remove(pos);
                self.locks[lock].holder = Some((s, t, lease_end));
                return (
                    Some(t),
                    kind,
                    Some(self.record_lock_plant(Plant::TokenRegression, lock)),
                );
            }
            let token = self.take_token();
            self.locks[lock].holder = Some((s, token, lease_end));
            return (Some(token), kind, None);
        }
        if let Some(pos) = self.plant_here(Plant::SplitLock) {
            if self.split_possible(ok_at, lock) {
                self.pending_plants.remove(pos);
                let token = self.take_token();
                let (_, _, old_end) = srv.holder.expect("not free, so held");
                let l = &mut self.locks[lock];
                l.holder = Some((s, token, lease_end));
                // No third grant until the old holder's certain hold is surely over, so the
                // planted pair is the only overlap.
                l.blocked_until = old_end;
                return (
                    Some(token),
                    kind,
                    Some(self.record_lock_plant(Plant::SplitLock, lock)),
                );
            }
        }
        (None, OpType::Fail, None)
    }

    /// A split needs the current holder to know it holds the lock (its acquire completed ok)
    /// and its certain hold (until its acquire invoke + ttl) to outlast the new grant's ok at
    /// `ok_at`; its release is then put off until after `ok_at`.
    fn split_possible(&mut self, ok_at: u64, lock: usize) -> bool {
        let Some((holder, token, server_end)) = self.locks[lock].holder else {
            return false;
        };
        match self.slots[holder].holding {
            Some((l, t, release_at)) if l == lock && t == token && server_end > ok_at + MS => {
                self.slots[holder].holding = Some((l, t, release_at.max(ok_at + MS)));
                true
            }
            _ => false,
        }
    }

    fn plant_here(&self, p: Plant) -> Option<usize> {
        self.pending_plants.iter().position(|x| *x == p)
    }

    fn record_lock_plant(&mut self, kind: Plant, lock: usize) -> usize {
        self.report.planted.push(Planted {
            kind,
            what: lock_name(lock),
            index: None, // filled at the ok completion
        });
        self.report.planted.len() - 1
    }

    fn take_token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token - 1
    }

    /// Linearizes a release at `now`.
    fn release(&mut self, now: u64, s: usize, lock: usize, token: u64, kind: OpType) -> OpType {
        let srv = &mut self.locks[lock];
        match srv.holder {
            Some((slot, t, end)) if slot == s && t == token && end > now => {
                if kind == OpType::Fail {
                    return OpType::Fail;
                }
                srv.holder = None;
                kind
            }
            _ => OpType::Fail,
        }
    }

    /// Emits slot `s`'s completion; returns when it next invokes.
    fn complete(&mut self, now: u64, s: usize) -> u64 {
        let Some(fl) = self.slots[s].flight.take() else {
            return now;
        };
        debug_assert_eq!(fl.complete_at, now);
        let process = Process::Client(self.slots[s].process);
        let mut value = fl.invoke_value;
        match fl.call {
            Call::Acquire {
                lock,
                token: Some(token),
                planted,
            } if fl.kind == OpType::Ok => {
                value["token"] = json!(token);
                let srv = &mut self.locks[lock];
                srv.max_completed = srv.max_completed.max(Some(token));
                let hold_ms = self.rng.gen_range(1..=self.cfg.max_hold_ms.max(1));
                self.slots[s].holding = Some((lock, token, now + hold_ms * MS));
                if let Some(p) = planted {
                    self.report.planted[p].index = Some(self.index);
                }
            }
            Call::Submit | Call::Acquire { .. } | Call::Release => {}
        }
        self.op(now, process, fl.kind, fl.f, value);
        if fl.kind == OpType::Info {
            self.slots[s].process = self.next_process;
            self.next_process += 1;
            self.slots[s].holding = None;
        }
        now + self.rng.gen_range(0..=5 * MS)
    }

    fn final_read(&mut self, at: u64) {
        let plants = self.cfg.plant.clone();
        let want = |p: Plant| plants.contains(&p);
        let acked: Vec<usize> = (0..self.tasks.len())
            .filter(|&i| self.tasks[i].1 == OpType::Ok)
            .collect();
        let pick = |taken: &mut Vec<usize>, pool: &[usize], rng: &mut ChaCha8Rng| {
            let free: Vec<usize> = pool
                .iter()
                .copied()
                .filter(|i| !taken.contains(i))
                .collect();
            let i = *free.get(rng.gen_range(0..free.len().max(1)))?;
            taken.push(i);
            Some(i)
        };
        let mut taken = Vec::new();
        let mut plant_task = |p: Plant,
                              pool: &[usize],
                              rng: &mut ChaCha8Rng,
                              tasks: &[(String, OpType, bool)],
                              out: &mut Vec<Planted>| {
            if !want(p) {
                return None;
            }
            let i = pick(&mut taken, pool, rng)?;
            out.push(Planted {
                kind: p,
                what: tasks[i].0.clone(),
                index: None,
            });
            Some(i)
        };
        let failed: Vec<usize> = (0..self.tasks.len())
            .filter(|&i| self.tasks[i].1 == OpType::Fail)
            .collect();
        let out = &mut self.report.planted;
        let lost = plant_task(Plant::LostTask, &acked, &mut self.rng, &self.tasks, out);
        let phantom = plant_task(Plant::PhantomTask, &failed, &mut self.rng, &self.tasks, out);
        let not_done = plant_task(Plant::NotDoneTask, &acked, &mut self.rng, &self.tasks, out);
        let dup = plant_task(
            Plant::DuplicatedTask,
            &acked,
            &mut self.rng,
            &self.tasks,
            out,
        );
        let mut map = Map::new();
        for (i, (id, _, lands)) in self.tasks.iter().enumerate() {
            if (!lands && Some(i) != phantom) || Some(i) == lost {
                continue;
            }
            let runs = if Some(i) == dup || self.rng.gen_bool(self.cfg.dup_rate) {
                2
            } else {
                1
            };
            let state = if Some(i) == not_done {
                "running"
            } else {
                "done"
            };
            map.insert(id.clone(), json!({"state": state, "runs": runs}));
        }
        if want(Plant::UnexpectedTask) {
            map.insert("ghost-1".into(), json!({"state": "done", "runs": 1}));
            self.report.planted.push(Planted {
                kind: Plant::UnexpectedTask,
                what: "ghost-1".into(),
                index: None,
            });
        }
        let p = Process::Client(self.next_process);
        self.next_process += 1;
        self.op(at, p, OpType::Invoke, "read-tasks", Value::Null);
        self.op(
            at + 3 * MS,
            p,
            OpType::Ok,
            "read-tasks",
            json!({ "tasks": map }),
        );
    }
}

fn lock_name(lock: usize) -> String {
    format!("l{lock}")
}
