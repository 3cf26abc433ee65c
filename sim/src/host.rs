//! The simulated cluster: hosts (a core, its disk, its clocks), the network between them and
//! the clients, all on one event queue.

use crate::clock::{MonoClock, WallClock};
use crate::config::SimConfig;
use crate::queue::{EventQueue, Nanos};
use crate::trace::Trace;
use crate::{mix, Completion, FaultId, Outcome, ReqId, SimError};
use nemesis::Fault;
use node_bin::core::message::{Key, NodeId, PeerMsg};
use node_bin::core::node::{node_seed, ClientCmd, ClientResp, Config, Input, Node, Output};
use node_bin::core::taskread::{DurableTasks, Entry};
use node_bin::core::wal::{self, Record};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::time::Duration;

/// Quantiles of the unit exponential distribution, in thousandths, for 64 equal-probability
/// buckets: an integer inverse CDF (no libm on the simulated path).
const EXP_Q: [u64; 64] = [
    8, 24, 40, 56, 73, 90, 107, 125, 143, 161, 179, 198, 217, 237, 257, 277, 298, 319, 341, 363,
    386, 409, 433, 458, 483, 508, 535, 562, 589, 618, 647, 678, 709, 741, 774, 809, 845, 882, 920,
    960, 1002, 1045, 1091, 1138, 1188, 1241, 1297, 1356, 1418, 1485, 1556, 1633, 1717, 1808, 1908,
    2019, 2144, 2287, 2454, 2655, 2906, 3243, 3753, 4852,
];

/// What a power loss during the fsync of `records` leaves: their encoding (the acceptor log's
/// framing) cut after a random whole record plus a random part of the next, recovered through
/// `wal::replay` as a restarting node does.
fn torn_prefix(records: &[Record], rng: &mut ChaCha8Rng) -> Vec<Record> {
    let mut bytes = Vec::new();
    let mut ends = vec![0];
    for r in records {
        wal::encode(r, &mut bytes);
        ends.push(bytes.len());
    }
    let k = rng.gen_range(0..ends.len());
    let cut = if k + 1 < ends.len() {
        rng.gen_range(ends[k]..ends[k + 1])
    } else {
        ends[k]
    };
    let replayed = wal::replay(&bytes[..cut]);
    // Replay keeps the last record per key; the order between keys does not matter to a
    // restart (it too keeps the last record per key).
    replayed.slots.into_values().collect()
}

fn ns(d: Duration) -> Nanos {
    d.as_nanos() as Nanos
}

/// What the queue holds. Large variants (a peer message) are fine: an event is moved into
/// the queue's slab once and out once; the heap itself holds 24-byte keys.
#[allow(clippy::large_enum_variant)]
enum Event {
    Tick {
        node: usize,
        boot: u32,
        token: u64,
    },
    Deliver {
        to: usize,
        from: usize,
        msg: PeerMsg,
    },
    ClientArrive {
        req: u64,
    },
    ClientReply {
        req: u64,
        resp: ClientResp,
    },
    ClientTimeout {
        req: u64,
    },
    FetchArrive {
        reader: usize,
        read: u64,
        asked: usize,
    },
    FetchAnswer {
        reader: usize,
        read: u64,
        from: usize,
        snapshot: Option<Vec<Entry>>,
    },
    SyncDone {
        node: usize,
        boot: u32,
    },
}

impl Event {
    fn code(&self) -> (u64, u64) {
        match self {
            Event::Tick { node, .. } => (1, *node as u64),
            Event::Deliver { to, from, .. } => (2, (*to as u64) << 16 | *from as u64),
            Event::ClientArrive { req } => (3, *req),
            Event::ClientReply { req, .. } => (4, *req),
            Event::ClientTimeout { req } => (5, *req),
            Event::FetchArrive { reader, asked, .. } => (6, (*reader as u64) << 16 | *asked as u64),
            Event::FetchAnswer { reader, from, .. } => (7, (*reader as u64) << 16 | *from as u64),
            Event::SyncDone { node, .. } => (8, *node as u64),
        }
    }
}

/// What a paused node finds waiting when it resumes, in arrival order.
#[allow(clippy::large_enum_variant)]
enum Waiting {
    Input(Input),
    /// Acceptor replies whose records became durable while the process was stopped.
    Release(Vec<(NodeId, PeerMsg)>),
    /// A quorum-read fetch addressed to this node.
    Fetch {
        reader: usize,
        read: u64,
    },
}

/// One batch's durable effects (as `shell/driver.rs` makes them).
#[derive(Default)]
struct Job {
    records: Vec<Record>,
    sends: Vec<(NodeId, PeerMsg)>,
}

struct Host {
    id: NodeId,
    /// The same name as the nemesis crate spells it (faults name nodes so).
    nid: nemesis::NodeId,
    node: Option<Node>,
    gen: u64,
    boot: u32,
    clock: MonoClock,
    wall: WallClock,
    paused: bool,
    waiting: Vec<Waiting>,
    tick_at: Option<Nanos>,
    tick_token: u64,
    last_fed: Nanos,
    /// Records on disk: synced, and (after a kill) written to the page cache.
    disk: Vec<Record>,
    durable: DurableTasks,
    /// The group being fsynced.
    syncing: Option<Job>,
    queued: Vec<Job>,
}

struct Pending {
    node: usize,
    invoked: Nanos,
    cmd: Option<ClientCmd>,
    /// (boot) once the request reached the core.
    arrived: Option<u32>,
}

/// The simulated cluster. See the crate docs and docs/sim.md.
pub struct Sim {
    cfg: SimConfig,
    seed: u64,
    now: Nanos,
    queue: EventQueue<Event>,
    hosts: Vec<Host>,
    index: BTreeMap<NodeId, usize>,
    net_rng: ChaCha8Rng,
    disk_rng: ChaCha8Rng,
    clock_rng: ChaCha8Rng,
    pending: BTreeMap<u64, Pending>,
    next_req: u64,
    done: Vec<Completion>,
    faults: BTreeMap<u64, (Fault, bool)>,
    next_fault: u64,
    trace: Trace,
    out: Vec<Output>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("now", &self.now)
            .field("nodes", &self.hosts.len())
            .field("queued_events", &self.queue.len())
            .field("events", &self.trace.events)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// A cluster of `cfg.nodes` fresh nodes at virtual time 0.
    pub fn new(cfg: SimConfig, seed: u64) -> Result<Sim, SimError> {
        if cfg.nodes == 0 {
            return Err(SimError::NoNodes);
        }
        let ids = nemesis::NodeId::cluster(cfg.nodes);
        let mut sim = Sim {
            seed,
            now: 0,
            queue: EventQueue::default(),
            hosts: Vec::new(),
            index: BTreeMap::new(),
            net_rng: ChaCha8Rng::seed_from_u64(mix(seed, 1)),
            disk_rng: ChaCha8Rng::seed_from_u64(mix(seed, 2)),
            clock_rng: ChaCha8Rng::seed_from_u64(mix(seed, 3)),
            pending: BTreeMap::new(),
            next_req: 0,
            done: Vec::new(),
            faults: BTreeMap::new(),
            next_fault: 0,
            trace: Trace::new(),
            out: Vec::new(),
            cfg,
        };
        for (i, id) in ids.iter().enumerate() {
            let id = NodeId::from(id.as_str());
            sim.index.insert(id.clone(), i);
            sim.hosts.push(Host {
                nid: nemesis::NodeId::from(id.0.as_str()),
                id,
                node: None,
                gen: 0,
                boot: 0,
                clock: MonoClock {
                    boot_at: 0,
                    drift_ppm: 0,
                },
                wall: WallClock::default(),
                paused: false,
                waiting: Vec::new(),
                tick_at: None,
                tick_token: 0,
                last_fed: 0,
                disk: Vec::new(),
                durable: DurableTasks::default(),
                syncing: None,
                queued: Vec::new(),
            });
        }
        for i in 0..sim.hosts.len() {
            sim.boot(i);
        }
        Ok(sim)
    }

    /// Virtual time now (ns since the start).
    pub fn now(&self) -> Nanos {
        self.now
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The nodes' names, `n1`..`nN`.
    pub fn node_ids(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.id.0.clone()).collect()
    }

    /// The hash chain of every event so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// When `node`'s next tick is scheduled (virtual time), if it is running.
    pub fn next_tick(&self, node: &str) -> Result<Option<Nanos>, SimError> {
        let i = self.host_index(node)?;
        Ok(self.hosts[i].tick_at)
    }

    /// Events still scheduled.
    pub fn queued_events(&self) -> usize {
        self.queue.len()
    }

    fn host_index(&self, node: &str) -> Result<usize, SimError> {
        self.index
            .get(&NodeId::from(node))
            .copied()
            .ok_or_else(|| SimError::UnknownNode(node.to_string()))
    }

    /// Sends `cmd` to `node` at virtual time `at` (now, if `at` is earlier); it completes with
    /// the node's reply, or `Timeout` after `timeout` (default: the config's client timeout).
    pub fn invoke(
        &mut self,
        at: Nanos,
        node: &str,
        cmd: ClientCmd,
        timeout: Option<Duration>,
    ) -> Result<ReqId, SimError> {
        let i = self.host_index(node)?;
        let at = at.max(self.now);
        self.next_req += 1;
        let req = self.next_req;
        self.pending.insert(
            req,
            Pending {
                node: i,
                invoked: at,
                cmd: Some(cmd),
                arrived: None,
            },
        );
        let lat = ns(self.cfg.net.client_latency);
        self.queue.push(at + lat, Event::ClientArrive { req });
        let timeout = timeout.unwrap_or(self.cfg.client_timeout);
        self.queue
            .push(at + ns(timeout), Event::ClientTimeout { req });
        Ok(ReqId(req))
    }

    /// The requests finished since the last call, in completion order.
    pub fn drain_completions(&mut self) -> Vec<Completion> {
        std::mem::take(&mut self.done)
    }

    /// Runs every event due at or before `until`; then `now() == until`.
    pub fn run_until(&mut self, until: Nanos) {
        while let Some((at, seq, ev)) = self.queue.pop_until(until) {
            self.now = at;
            let (kind, node) = ev.code();
            self.trace.event(at, seq, kind, node);
            self.handle(ev);
        }
        self.now = self.now.max(until);
    }

    /// Applies a fault (the nemesis's vocabulary; `slow` and `netem` become added latency,
    /// duplication and reordering). Returns its id, for [`Sim::heal`].
    pub fn apply(&mut self, fault: &Fault) -> Result<FaultId, SimError> {
        self.apply_inner(fault, false)
    }

    /// A kill that also loses every record written but not yet fsynced (a power loss, or what
    /// LazyFS does for Jepsen). Healing it restarts the nodes.
    pub fn apply_power_loss(&mut self, nodes: &[&str]) -> Result<FaultId, SimError> {
        let nodes = nodes.iter().map(|n| nemesis::NodeId::from(*n)).collect();
        self.apply_inner(&Fault::Kill { nodes }, true)
    }

    fn apply_inner(&mut self, fault: &Fault, power_loss: bool) -> Result<FaultId, SimError> {
        let known: Vec<nemesis::NodeId> = self
            .hosts
            .iter()
            .map(|h| nemesis::NodeId::from(h.id.0.as_str()))
            .collect();
        fault.validate(&known)?;
        // The nemesis leaves partition, kill and pause nodes to the sandbox; check them here.
        if let Some(n) = fault.nodes().into_iter().find(|n| !known.contains(n)) {
            return Err(SimError::UnknownNode(n.0));
        }
        self.next_fault += 1;
        let id = self.next_fault;
        let idx = |n: &nemesis::NodeId| self.index[&NodeId::from(n.as_str())];
        match fault {
            Fault::Kill { nodes } => {
                let list: Vec<usize> = nodes.iter().map(idx).collect();
                for i in list {
                    self.kill(i, power_loss);
                }
            }
            Fault::Pause { nodes } => {
                for n in nodes {
                    let i = idx(n);
                    self.hosts[i].paused = true;
                }
            }
            Fault::ClockBump { nodes, offset_ms } => {
                for n in nodes {
                    let i = idx(n);
                    self.hosts[i].wall.bumps.push((id, *offset_ms));
                }
            }
            Fault::ClockStrobe {
                nodes,
                a_ms,
                b_ms,
                period_ms,
                duration_ms,
            } => {
                for n in nodes {
                    let i = idx(n);
                    let s = (id, self.now, *a_ms, *b_ms, *period_ms, *duration_ms);
                    self.hosts[i].wall.strobes.push(s);
                }
            }
            Fault::ClockDrift { nodes, rate } => {
                for n in nodes {
                    let i = idx(n);
                    self.hosts[i].wall.drifts.push((id, self.now, *rate));
                }
            }
            // Checked where they act: at each datagram (loss, latency) or delivery (grudge).
            Fault::Partition { .. } | Fault::Loss { .. } | Fault::Slow { .. } => {}
            Fault::Netem { .. } => {}
        }
        self.faults.insert(id, (fault.clone(), power_loss));
        if matches!(
            fault,
            Fault::ClockBump { .. } | Fault::ClockStrobe { .. } | Fault::ClockDrift { .. }
        ) && self.cfg.feed_wall_clock
        {
            for i in 0..self.hosts.len() {
                self.reschedule_tick(i);
            }
        }
        Ok(FaultId(id))
    }

    /// Heals one applied fault: killed nodes restart (from their disks), paused ones resume
    /// (their timers fire late), partitions, loss, latency and clock faults end.
    pub fn heal(&mut self, id: FaultId) -> Result<(), SimError> {
        let (fault, _) = self
            .faults
            .remove(&id.0)
            .ok_or(SimError::UnknownFault(id))?;
        let still = |faults: &BTreeMap<u64, (Fault, bool)>, n: &nemesis::NodeId, kill: bool| {
            faults.values().any(|(f, _)| match f {
                Fault::Kill { nodes } if kill => nodes.contains(n),
                Fault::Pause { nodes } if !kill => nodes.contains(n),
                _ => false,
            })
        };
        match &fault {
            Fault::Kill { nodes } => {
                for n in nodes {
                    let i = self.index[&NodeId::from(n.as_str())];
                    if !still(&self.faults, n, true) && self.hosts[i].node.is_none() {
                        self.boot(i);
                    }
                }
            }
            Fault::Pause { nodes } => {
                for n in nodes {
                    let i = self.index[&NodeId::from(n.as_str())];
                    if !still(&self.faults, n, false) && self.hosts[i].paused {
                        self.resume(i);
                    }
                }
            }
            _ => {
                for h in &mut self.hosts {
                    h.wall.heal(id.0);
                }
                if self.cfg.feed_wall_clock {
                    // The clock the core is fed moved: its deadlines are due at other times.
                    for i in 0..self.hosts.len() {
                        self.reschedule_tick(i);
                    }
                }
            }
        }
        Ok(())
    }

    /// Heals every applied fault, oldest first.
    pub fn heal_all(&mut self) {
        let ids: Vec<u64> = self.faults.keys().copied().collect();
        for id in ids {
            let _ = self.heal(FaultId(id));
        }
    }

    // ---- nodes ----

    fn boot(&mut self, i: usize) {
        let (lo, hi) = self.cfg.drift_ppm;
        let (lo, hi) = (lo.max(-999_999), hi.max(-999_999));
        let drift_ppm = if lo >= hi {
            lo
        } else {
            self.clock_rng.gen_range(lo..=hi)
        };
        let h = &mut self.hosts[i];
        h.gen += 1;
        h.boot += 1;
        h.clock = MonoClock {
            boot_at: self.now,
            drift_ppm,
        };
        h.last_fed = 0;
        h.paused = false;
        h.waiting.clear();
        h.tick_at = None;
        let mut last: BTreeMap<Key, Record> = BTreeMap::new();
        for r in &h.disk {
            last.insert(r.key.clone(), r.clone());
        }
        let cfg = Config {
            id: h.id.clone(),
            members: self.index.keys().cloned().collect(),
            gen: h.gen,
            seed: node_seed(Some(self.seed), &h.id, h.gen),
            bugs: self.cfg.bugs.clone(),
            timing: self.cfg.timing.clone(),
        };
        h.node = Some(Node::new(cfg, last.into_values().collect(), Duration::ZERO));
        self.reschedule_tick(i);
    }

    fn kill(&mut self, i: usize, power_loss: bool) {
        let now = self.now;
        let h = &mut self.hosts[i];
        if h.node.is_none() {
            return;
        }
        h.node = None;
        h.boot += 1;
        h.tick_at = None;
        h.paused = false;
        h.waiting.clear();
        h.queued.clear();
        if let Some(group) = h.syncing.take() {
            // Written to the page cache before the fsync: a SIGKILL keeps it all. A power loss
            // keeps what reached the disk: the records before a random boundary, and a random
            // part of the next one, which the real replay then cuts as a torn tail.
            let kept = if power_loss {
                torn_prefix(&group.records, &mut self.disk_rng)
            } else {
                group.records
            };
            let h = &mut self.hosts[i];
            h.durable.apply(&kept);
            h.disk.extend(kept);
        }
        let reset: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.node == i && p.arrived.is_some())
            .map(|(r, _)| *r)
            .collect();
        for req in reset {
            self.complete(req, now, Outcome::Reset);
        }
    }

    fn resume(&mut self, i: usize) {
        self.hosts[i].paused = false;
        let waiting = std::mem::take(&mut self.hosts[i].waiting);
        for w in waiting {
            if self.hosts[i].node.is_none() || self.hosts[i].paused {
                break;
            }
            match w {
                Waiting::Input(input) => {
                    if let Input::Client { req, .. } = &input {
                        let boot = self.hosts[i].boot;
                        if let Some(p) = self.pending.get_mut(req) {
                            p.arrived = Some(boot);
                        }
                    }
                    self.step(i, input);
                }
                Waiting::Release(sends) => self.release(i, sends),
                Waiting::Fetch { reader, read } => self.answer_fetch(i, reader, read),
            }
        }
        self.reschedule_tick(i);
    }

    /// The time the core is given: its monotonic clock (or, with `feed_wall_clock`, its wall
    /// clock, kept from going backwards as `Duration` cannot).
    fn fed_now(&mut self, i: usize) -> Duration {
        let h = &mut self.hosts[i];
        let mono = h.clock.local(self.now);
        let t = if self.cfg.feed_wall_clock {
            let w = i128::from(mono) + h.wall.offset_ns(self.now);
            (w.max(0) as Nanos).max(h.last_fed)
        } else {
            mono
        };
        h.last_fed = t;
        Duration::from_nanos(t)
    }

    fn step(&mut self, i: usize, input: Input) {
        let now = self.fed_now(i);
        let mut out = std::mem::take(&mut self.out);
        let Some(node) = self.hosts[i].node.as_mut() else {
            return;
        };
        node.step(now, input, &mut out);
        let _ = node.take_membership_changes();
        // How much a step did is part of the chain: a divergence inside a node shows at once.
        self.trace.fold(out.len() as u64);
        self.absorb(i, &mut out);
        self.out = out;
        self.reschedule_tick(i);
    }

    fn reschedule_tick(&mut self, i: usize) {
        let now = self.now;
        let fed = if self.cfg.feed_wall_clock {
            Some(self.fed_now(i))
        } else {
            None
        };
        let h = &mut self.hosts[i];
        let Some(node) = h.node.as_ref() else {
            return;
        };
        if h.paused {
            return;
        }
        let d = ns(node.next_deadline());
        let at = match fed {
            None => h.clock.global(d),
            Some(fed) => {
                // Wall-fed: wait the remaining local time on the monotonic clock.
                let left = d.saturating_sub(ns(fed));
                h.clock.global(h.clock.local(now) + left)
            }
        }
        .max(now);
        if h.tick_at == Some(at) {
            return;
        }
        h.tick_token += 1;
        h.tick_at = Some(at);
        let (boot, token) = (h.boot, h.tick_token);
        self.queue.push(
            at,
            Event::Tick {
                node: i,
                boot,
                token,
            },
        );
    }

    fn absorb(&mut self, i: usize, out: &mut Vec<Output>) {
        let mut job = Job::default();
        for o in out.drain(..) {
            match o {
                Output::Send { to, msg } => {
                    if matches!(msg, PeerMsg::Promise { .. } | PeerMsg::Accepted { .. }) {
                        job.sends.push((to, msg));
                    } else if let Some(&j) = self.index.get(&to) {
                        self.send_datagram(i, j, msg);
                    }
                }
                Output::Reply { req, resp } => {
                    if self.pending.contains_key(&req) {
                        let at = self.now + ns(self.cfg.net.client_latency);
                        self.queue.push(at, Event::ClientReply { req, resp });
                    }
                }
                Output::Persist(r) => job.records.push(r),
                Output::FetchTasks { read, from } => {
                    let Some(&asked) = self.index.get(&from) else {
                        continue;
                    };
                    let at = if asked == i {
                        self.now
                    } else {
                        self.now + self.latency(i)
                    };
                    let ev = Event::FetchArrive {
                        reader: i,
                        read,
                        asked,
                    };
                    self.queue.push(at, ev);
                }
            }
        }
        if !job.records.is_empty() || !job.sends.is_empty() {
            self.hosts[i].queued.push(job);
            self.start_sync(i);
        }
    }

    /// Group commit: when no fsync is running, everything queued goes into one.
    fn start_sync(&mut self, i: usize) {
        let h = &mut self.hosts[i];
        if h.syncing.is_some() || h.queued.is_empty() {
            return;
        }
        let mut group = Job::default();
        for mut j in h.queued.drain(..) {
            group.records.append(&mut j.records);
            group.sends.append(&mut j.sends);
        }
        h.syncing = Some(group);
        let (lo, hi) = (ns(self.cfg.disk.fsync_min), ns(self.cfg.disk.fsync_max));
        let lat = if hi > lo {
            self.disk_rng.gen_range(lo..=hi)
        } else {
            lo
        };
        let boot = h.boot;
        self.queue
            .push(self.now + lat, Event::SyncDone { node: i, boot });
    }

    fn release(&mut self, i: usize, sends: Vec<(NodeId, PeerMsg)>) {
        for (to, msg) in sends {
            if to == self.hosts[i].id {
                let from = to;
                self.step(i, Input::Peer { from, msg });
            } else if let Some(&j) = self.index.get(&to) {
                self.send_datagram(i, j, msg);
            }
        }
    }

    // ---- network ----

    fn latency(&mut self, from: usize) -> Nanos {
        let net = &self.cfg.net;
        let tail = ns(net.latency_tail_mean);
        let bucket = (self.net_rng.gen::<u32>() >> 26) as usize;
        let mut lat = ns(net.latency_min) + tail * EXP_Q[bucket] / 1000;
        let me = &self.hosts[from].nid;
        let mut reorder = 0.0;
        let mut extra = 0;
        for (f, _) in self.faults.values() {
            match f {
                Fault::Slow {
                    nodes, latency_ms, ..
                } if nodes.contains(me) => extra = extra.max(latency_ms * 1_000_000 / 2),
                Fault::Netem {
                    nodes,
                    delay_ms,
                    reorder: r,
                    ..
                } if nodes.contains(me) => {
                    extra = extra.max(delay_ms * 1_000_000);
                    reorder = f64::max(reorder, *r);
                }
                _ => {}
            }
        }
        if extra > 0 && !(reorder > 0.0 && self.net_rng.gen_bool(reorder)) {
            lat += extra;
        }
        lat
    }

    fn send_datagram(&mut self, from: usize, to: usize, msg: PeerMsg) {
        let (a, b) = (&self.hosts[from].nid, &self.hosts[to].nid);
        let mut keep = 1.0 - self.cfg.net.loss;
        let mut dup = self.cfg.net.duplicate;
        for (f, _) in self.faults.values() {
            match f {
                Fault::Loss { links, probability }
                    if links.iter().any(|l| l.from == *a && l.to == *b) =>
                {
                    keep *= 1.0 - probability;
                }
                Fault::Netem {
                    nodes, duplicate, ..
                } if nodes.contains(a) => dup = f64::max(dup, *duplicate),
                _ => {}
            }
        }
        if keep < 1.0 && !self.net_rng.gen_bool(keep.clamp(0.0, 1.0)) {
            return;
        }
        if dup > 0.0 && self.net_rng.gen_bool(dup.clamp(0.0, 1.0)) {
            let at = self.now + self.latency(from);
            let m = msg.clone();
            self.queue.push(at, Event::Deliver { to, from, msg: m });
        }
        let at = self.now + self.latency(from);
        self.queue.push(at, Event::Deliver { to, from, msg });
    }

    /// Does `receiver` drop what `sender` sends, under the partitions in force?
    fn cut(&self, receiver: usize, sender: usize) -> bool {
        if receiver == sender {
            return false;
        }
        let (r, s) = (&self.hosts[receiver].nid, &self.hosts[sender].nid);
        self.faults.values().any(|(f, _)| match f {
            Fault::Partition { grudge } => grudge.drops(r, s),
            _ => false,
        })
    }

    // ---- clients ----

    fn complete(&mut self, req: u64, at: Nanos, outcome: Outcome) {
        let Some(p) = self.pending.remove(&req) else {
            return;
        };
        self.trace.fold(req);
        self.trace.fold(at);
        match &outcome {
            Outcome::Reply(r) => self.trace.fold_bytes(format!("{r:?}").as_bytes()),
            Outcome::Timeout => self.trace.fold(1),
            Outcome::Refused => self.trace.fold(2),
            Outcome::Reset => self.trace.fold(3),
        }
        self.done.push(Completion {
            req: ReqId(req),
            node: self.hosts[p.node].id.0.clone(),
            invoked: p.invoked,
            completed: at,
            outcome,
        });
    }

    fn answer_fetch(&mut self, asked: usize, reader: usize, read: u64) {
        let snapshot = self.hosts[asked]
            .node
            .as_ref()
            .map(|_| self.hosts[asked].durable.snapshot());
        let at = if asked == reader {
            self.now
        } else {
            self.now + self.latency(asked)
        };
        let ev = Event::FetchAnswer {
            reader,
            read,
            from: asked,
            snapshot,
        };
        self.queue.push(at, ev);
    }

    // ---- events ----

    fn handle(&mut self, ev: Event) {
        let now = self.now;
        match ev {
            Event::Tick { node, boot, token } => {
                let h = &mut self.hosts[node];
                if h.boot != boot || h.tick_token != token || h.node.is_none() {
                    return; // a tick of an earlier boot, or superseded
                }
                if h.paused {
                    // Frozen: the tick is owed; `resume` schedules it again.
                    h.tick_at = None;
                    return;
                }
                self.hosts[node].tick_at = None;
                self.step(node, Input::Tick);
            }
            Event::Deliver { to, from, msg } => {
                if self.cut(to, from) || self.hosts[to].node.is_none() {
                    return;
                }
                let from = self.hosts[from].id.clone();
                let input = Input::Peer { from, msg };
                if self.hosts[to].paused {
                    self.hosts[to].waiting.push(Waiting::Input(input));
                } else {
                    self.step(to, input);
                }
            }
            Event::ClientArrive { req } => {
                let Some(p) = self.pending.get_mut(&req) else {
                    return; // timed out on the way
                };
                let i = p.node;
                let h = &self.hosts[i];
                if h.node.is_none() {
                    self.complete(req, now, Outcome::Refused);
                    return;
                }
                let cmd = p.cmd.take().expect("arrives once");
                let input = Input::Client { req, cmd };
                if h.paused {
                    self.hosts[i].waiting.push(Waiting::Input(input));
                } else {
                    p.arrived = Some(h.boot);
                    self.step(i, input);
                }
            }
            Event::ClientReply { req, resp } => self.complete(req, now, Outcome::Reply(resp)),
            Event::ClientTimeout { req } => self.complete(req, now, Outcome::Timeout),
            Event::FetchArrive {
                reader,
                read,
                asked,
            } => {
                if self.cut(asked, reader) {
                    return; // the connection never opens; the read's deadline decides
                }
                if self.hosts[asked].paused && self.hosts[asked].node.is_some() {
                    let w = Waiting::Fetch { reader, read };
                    self.hosts[asked].waiting.push(w);
                } else {
                    self.answer_fetch(asked, reader, read);
                }
            }
            Event::FetchAnswer {
                reader,
                read,
                from,
                snapshot,
            } => {
                if self.cut(reader, from) || self.hosts[reader].node.is_none() {
                    return;
                }
                let from = self.hosts[from].id.clone();
                let input = Input::Tasks {
                    read,
                    from,
                    snapshot,
                };
                if self.hosts[reader].paused {
                    self.hosts[reader].waiting.push(Waiting::Input(input));
                } else {
                    self.step(reader, input);
                }
            }
            Event::SyncDone { node, boot } => {
                let h = &mut self.hosts[node];
                if h.boot != boot {
                    return;
                }
                let Some(group) = h.syncing.take() else {
                    return;
                };
                h.durable.apply(&group.records);
                h.disk.extend(group.records);
                if h.paused {
                    h.waiting.push(Waiting::Release(group.sends));
                } else {
                    self.release(node, group.sends);
                }
                self.start_sync(node);
            }
        }
    }
}
