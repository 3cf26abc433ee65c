//! A seeded generator of concurrent register histories, for tests and benchmarks.
//!
//! Worker threads are simulated step by step: at each step a random worker invokes an op, lets
//! its pending op take effect on the true register state, or completes it. So every history is
//! linearizable by construction (each op takes effect atomically between its invoke and its
//! completion), unless an anomaly is planted. Outcomes follow Jepsen: `fail` ops do not take
//! effect; `info` ops may or may not have (the generator flips a coin); a worker whose op ended
//! in `info` continues as a new process (process + workers).

pub mod hard;

use std::collections::BTreeMap;

use histories::{Op, OpType, Process};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// What to generate. The defaults make a Jepsen-etcd-like single-key history.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Completed operations to generate (each is an invoke plus a completion).
    pub ops: usize,
    /// Number of keys (independent registers).
    pub keys: u64,
    /// Concurrent workers.
    pub workers: u64,
    /// Fraction of reads; the rest is split between writes and cas.
    pub read_ratio: f64,
    /// Fraction of cas among non-reads.
    pub cas_ratio: f64,
    /// Fraction of ops ending in `info`.
    pub info_ratio: f64,
    /// Fraction of ops ending in `fail`.
    pub fail_ratio: f64,
    /// Written values are drawn from `0..values`; 0 means every write is a fresh value.
    pub values: u64,
    /// Every register's initial value (also passed to the checker).
    pub init: i64,
    /// Fraction of writes and cas ending in `info`; `None`: `info_ratio`, as for reads.
    pub mutation_info_ratio: Option<f64>,
    /// Fraction of reads ending in `fail`; `None`: `fail_ratio`, as for writes and cas.
    pub read_fail_ratio: Option<f64>,
    /// Plant anomalies on a marker value no other op writes (see [`Plant`]), so that the
    /// planted history is non-linearizable by construction even when `values` is a small
    /// range whose values repeat. Default: false (the plant then needs fresh values).
    pub marker: bool,
    /// History lines written before a plant (or the marker) may happen; `None`: `ops / 2`
    /// (a quarter of the history's lines).
    pub plant_after: Option<usize>,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            ops: 80,
            keys: 1,
            workers: 5,
            read_ratio: 0.4,
            cas_ratio: 0.5,
            info_ratio: 0.15,
            fail_ratio: 0.02,
            values: 5,
            init: 0,
            mutation_info_ratio: None,
            read_fail_ratio: None,
            marker: false,
            plant_after: None,
        }
    }
}

/// An anomaly to plant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plant {
    /// None: the history is linearizable.
    Nothing,
    /// One read returns a value overwritten before the read was invoked (by a write that
    /// itself followed the one that had installed it, in real time). Needs fresh values, or
    /// [`GenConfig::marker`]: then the stale value is the marker, written once.
    StaleRead,
    /// One acknowledged write does not take effect, and a later read shows it. Needs fresh
    /// values, or [`GenConfig::marker`]: then the lost write is invoked after the marker write
    /// returned, and a read invoked after the lost write returned sees the marker.
    LostWrite,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Ok,
    Fail,
    Info { applied: bool },
}

#[derive(Debug, Clone)]
struct Pending {
    invoke: usize,
    key: u64,
    f: &'static str,
    value: Value,
    fate: Fate,
    result: Option<Value>,
    lost: bool,
}

/// One version of a key: its value, the invoke/ok positions of the op that installed it.
#[derive(Debug, Clone, Copy)]
struct Version {
    value: i64,
    invoked: usize,
    completed: Option<usize>,
}

struct Sim {
    cfg: GenConfig,
    rng: ChaCha8Rng,
    ops: Vec<Op>,
    versions: BTreeMap<u64, Vec<Version>>,
    /// version index installed by each pending invoke position
    installs: BTreeMap<usize, (u64, usize)>,
    fresh: i64,
    plant: Plant,
    planted: bool,
    lost: Option<(u64, usize, i64)>,
    /// The marker value (with [`GenConfig::marker`] and a plant), once written: its value and
    /// the position of its `ok` (`None` until it returned).
    marker: Option<(i64, Option<usize>)>,
}

impl Sim {
    fn emit(&mut self, process: u64, kind: OpType, f: &str, value: Value) -> usize {
        let index = self.ops.len();
        self.ops.push(Op {
            index: index as u64,
            time: index as u64 * 1000,
            process: Process::Client(process),
            kind,
            f: f.to_string(),
            value,
            node: None,
            error: None,
        });
        index
    }

    fn current(&self, key: u64) -> i64 {
        self.versions[&key]
            .last()
            .map_or(self.cfg.init, |v| v.value)
    }

    fn new_value(&mut self) -> i64 {
        if self.cfg.values == 0 {
            self.fresh += 1;
            self.cfg.init + self.fresh
        } else {
            self.rng.gen_range(0..self.cfg.values as i64)
        }
    }

    fn invoke(&mut self, process: u64) -> Pending {
        let key = self.rng.gen_range(0..self.cfg.keys);
        self.versions.entry(key).or_insert_with(|| {
            vec![Version {
                value: self.cfg.init,
                invoked: 0,
                completed: Some(0),
            }]
        });
        let r: f64 = self.rng.gen();
        let (f, value) = if r < self.cfg.read_ratio {
            ("read", json!({"key": key}))
        } else if self.rng.gen_bool(self.cfg.cas_ratio) {
            let from = if self.rng.gen_bool(0.5) {
                self.current(key)
            } else {
                self.new_value() - i64::from(self.cfg.values == 0)
            };
            (
                "cas",
                json!({"key": key, "from": from, "to": self.new_value()}),
            )
        } else {
            ("write", json!({"key": key, "value": self.new_value()}))
        };
        let (info, fail) = if f == "read" {
            (
                self.cfg.info_ratio,
                self.cfg.read_fail_ratio.unwrap_or(self.cfg.fail_ratio),
            )
        } else {
            (
                self.cfg.mutation_info_ratio.unwrap_or(self.cfg.info_ratio),
                self.cfg.fail_ratio,
            )
        };
        let r: f64 = self.rng.gen();
        let fate = if r < info {
            Fate::Info {
                applied: self.rng.gen_bool(0.5),
            }
        } else if r < info + fail {
            Fate::Fail
        } else {
            Fate::Ok
        };
        let mut value = value;
        if f == "write" && fate == Fate::Ok && self.wants_marker() {
            let m = self.cfg.values as i64 + self.cfg.init.abs() + 1;
            value["value"] = json!(m);
            self.marker = Some((m, None));
        }
        let invoke = self.emit(process, OpType::Invoke, f, value.clone());
        Pending {
            invoke,
            key,
            f,
            value,
            fate,
            result: None,
            lost: false,
        }
    }

    /// True when the next ok write should write the marker: asked for, a plant, none yet,
    /// and past the first quarter of the history.
    fn wants_marker(&self) -> bool {
        self.cfg.marker
            && self.plant != Plant::Nothing
            && self.marker.is_none()
            && self.past_plant_point()
    }

    /// True once the history is long enough for a plant.
    fn past_plant_point(&self) -> bool {
        self.ops.len() > self.cfg.plant_after.unwrap_or(self.cfg.ops / 2)
    }

    /// With a marker: whether an op invoked at `invoke` may be the planted one (the marker
    /// returned before it was invoked). Without: always.
    fn after_marker(&self, invoke: usize) -> bool {
        !self.cfg.marker || matches!(self.marker, Some((_, Some(done))) if done < invoke)
    }

    /// The op takes effect on the true state (or, when planted, pretends to).
    fn take_effect(&mut self, p: &mut Pending) {
        let applied = matches!(p.fate, Fate::Ok | Fate::Info { applied: true });
        let cur = self.current(p.key);
        match p.f {
            "read" => {
                let mut v = cur;
                if self.plant == Plant::StaleRead
                    && !self.planted
                    && p.fate == Fate::Ok
                    && self.after_marker(p.invoke)
                {
                    if let Some(stale) = self.stale_value(p.key, p.invoke) {
                        v = stale;
                        self.planted = true;
                    }
                }
                p.result = Some(json!({"key": p.key, "value": v}));
            }
            "write" => {
                let v = p.value["value"].as_i64().unwrap_or_default();
                if self.plant == Plant::LostWrite
                    && !self.planted
                    && p.fate == Fate::Ok
                    && self.past_plant_point()
                    && self.after_marker(p.invoke)
                    && !self.is_marker(p.invoke)
                {
                    p.lost = true;
                    self.planted = true;
                    self.lost = Some((p.key, p.invoke, v));
                } else if applied {
                    self.install(p.key, v, p.invoke);
                }
                p.result = Some(p.value.clone());
            }
            _ => {
                let (from, to) = (
                    p.value["from"].as_i64().unwrap_or_default(),
                    p.value["to"].as_i64().unwrap_or_default(),
                );
                let swapped = cur == from;
                if swapped && applied {
                    self.install(p.key, to, p.invoke);
                }
                let mut out = p.value.clone();
                out["swapped"] = json!(swapped);
                p.result = Some(out);
            }
        }
    }

    fn install(&mut self, key: u64, value: i64, invoked: usize) {
        let vs = self
            .versions
            .get_mut(&key)
            .expect("key initialized at invoke");
        vs.push(Version {
            value,
            invoked,
            completed: None,
        });
        self.installs.insert(invoked, (key, vs.len() - 1));
    }

    /// True if the op invoked at `invoke` is the marker write.
    fn is_marker(&self, invoke: usize) -> bool {
        self.marker.is_some()
            && self.ops[invoke].value["value"].as_i64() == self.marker.map(|(m, _)| m)
    }

    /// A value of `key` that is provably stale for a read invoked at `read_inv` (with a
    /// marker: only the marker, the one value no other op writes).
    fn stale_value(&self, key: u64, read_inv: usize) -> Option<i64> {
        let vs = &self.versions[&key];
        let marker = self.cfg.marker.then(|| self.marker.map(|(m, _)| m));
        (1..vs.len()).rev().find_map(|i| {
            let (prev, next) = (vs[i - 1], vs[i]);
            let ordered = prev.completed.is_some_and(|c| c < next.invoked)
                && next.completed.is_some_and(|c| c < read_inv)
                && marker.is_none_or(|m| m == Some(prev.value));
            ordered.then_some(prev.value)
        })
    }

    fn complete(&mut self, worker_process: &mut u64, p: Pending) {
        let (kind, value) = match p.fate {
            Fate::Ok => (OpType::Ok, p.result.clone().unwrap_or(Value::Null)),
            Fate::Fail => (OpType::Fail, p.value.clone()),
            Fate::Info { .. } => (OpType::Info, p.value.clone()),
        };
        let at = self.emit(*worker_process, kind, p.f, value);
        if kind == OpType::Ok {
            if let Some(&(key, i)) = self.installs.get(&p.invoke) {
                if let Some(v) = self.versions.get_mut(&key).and_then(|vs| vs.get_mut(i)) {
                    v.completed = Some(at);
                }
            }
            if p.lost {
                self.lost = self.lost.map(|(k, _, v)| (k, at, v));
            }
            if self.is_marker(p.invoke) {
                self.marker = self.marker.map(|(m, _)| (m, Some(at)));
            }
        }
        if kind == OpType::Info {
            *worker_process += self.cfg.workers;
        }
    }
}

/// Generates a history. Deterministic in (`cfg`, `seed`, `plant`).
///
/// Returns `None` when the planted anomaly did not happen or cannot be shown (no read saw the
/// lost write's absence): try another seed.
pub fn generate(cfg: &GenConfig, seed: u64, plant: Plant) -> Option<Vec<Op>> {
    let mut sim = Sim {
        cfg: cfg.clone(),
        rng: ChaCha8Rng::seed_from_u64(seed),
        ops: Vec::with_capacity(cfg.ops * 2),
        versions: BTreeMap::new(),
        installs: BTreeMap::new(),
        fresh: 0,
        plant,
        planted: false,
        lost: None,
        marker: None,
    };
    let mut workers: Vec<(u64, Option<Pending>)> = (0..cfg.workers).map(|w| (w, None)).collect();
    let mut started = 0usize;
    while started < cfg.ops || workers.iter().any(|(_, p)| p.is_some()) {
        let w = sim.rng.gen_range(0..workers.len());
        let (mut process, pending) = (workers[w].0, workers[w].1.take());
        workers[w].1 = match pending {
            None if started < cfg.ops => {
                started += 1;
                Some(sim.invoke(process))
            }
            None => None,
            Some(mut p) if p.result.is_none() && p.fate != Fate::Fail => {
                sim.take_effect(&mut p);
                Some(p)
            }
            Some(p) => {
                sim.complete(&mut process, p);
                None
            }
        };
        workers[w].0 = process;
    }
    match plant {
        Plant::Nothing => Some(sim.ops),
        Plant::StaleRead => sim.planted.then_some(sim.ops),
        Plant::LostWrite => lost_write_shown(&sim).then_some(sim.ops),
    }
}

/// True if some read invoked after the lost write returned shows it lost: it returned a value
/// whose installing op had returned before the lost write was invoked.
fn lost_write_shown(sim: &Sim) -> bool {
    let Some((key, lost_done, _)) = sim.lost else {
        return false;
    };
    let lost_inv = sim.ops[..lost_done]
        .iter()
        .rposition(|o| o.kind == OpType::Invoke && o.process == sim.ops[lost_done].process)
        .unwrap_or(0);
    let vs = &sim.versions[&key];
    sim.ops[lost_done..].iter().enumerate().any(|(off, o)| {
        o.kind == OpType::Ok && o.f == "read" && o.value["key"] == json!(key) && {
            let read_inv = sim.ops[..lost_done + off]
                .iter()
                .rposition(|x| x.kind == OpType::Invoke && x.process == o.process)
                .unwrap_or(0);
            let v = o.value["value"].as_i64();
            let marker_ok = !sim.cfg.marker || v == sim.marker.map(|(m, _)| m);
            marker_ok
                && read_inv > lost_done
                && vs
                    .iter()
                    .any(|ver| Some(ver.value) == v && ver.completed.is_some_and(|c| c < lost_inv))
        }
    })
}
