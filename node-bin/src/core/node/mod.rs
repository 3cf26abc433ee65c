//! The whole node as one sans-IO state machine: `step(now, input, &mut out)`.
//!
//! It wires the acceptor, the proposer, SWIM membership, lock and task operations and the
//! task runner together. Outputs are messages, client replies, log records and the fetches of a
//! quorum read; timers are not outputs: [`Node::next_deadline`] says when a tick is next due.
//!
//! # Durability contract
//!
//! Written once, here; the shell (`shell/driver.rs`) and the simulator (`gauntlet-sim`) both
//! carry it out, and docs/sim.md links here.
//!
//! 1. A `Persist(record)` is *durable* once it is on stable storage (fsync'd). Records become
//!    durable in the order they were emitted, possibly many at once (group commit).
//! 2. A `Send` of an acceptor reply (`PeerMsg::Promise`, `PeerMsg::Accepted`), to a peer or to
//!    this node's own proposer, is held until every record emitted up to and including the
//!    `step` that emitted it is durable. So a proposer only ever counts durable promises and
//!    accepts, and an acknowledged change is durable on a majority.
//! 3. Every other `Send` (proposer requests, gossip, assignments) and every `Reply` may be
//!    carried out at once: none of them vouches for this acceptor's state.
//! 4. The answer to a `FetchTasks` (an `Input::Tasks`) holds the member's durable task
//!    registers only (`taskread::DurableTasks`, applied as records become durable).
//! 5. A crash loses everything not durable: the node restarts with `Node::new` from the
//!    replay of its durable records (`wal::replay`) and a higher `gen`. Records emitted but not
//!    yet durable may be lost in whole or in part (a torn tail); no reply that depended on
//!    them has left (rule 2).
//!
//! `impl Node` is split by concern, one file each:
//!
//! | module | what it adds to `Node` |
//! | --- | --- |
//! | this file | the types (`Config`, `Input`, `Output`, client commands and replies), `step`, timers, peer messages, proposals and their decisions |
//! | `client` | client requests: validation, dispatch (`on_client`), the lock paths and their planted-bug shortcuts, member views |
//! | `kv_client` | KV client requests (read, write, cas) and the `stale-read` bug |
//! | `failover` | task life on this node: assignment, claims, renew/done, the `ack-before-quorum` write-behind, the failover scan |
//! | `tests` | whole-node simulation of three nodes on an in-memory network |

mod client;
mod failover;
mod kv_client;
#[cfg(test)]
mod tests;

use super::decision::{Decision, Outcome};
use super::kv::{self, KvOp, KvOutcome};
use super::locks::{self, LockOp};
use super::membership::{Membership, SwimTiming};
use super::message::{
    lock_key, task_key, Ballot, Key, Liveness, NodeId, OpId, PeerMsg, TaskState, TaskVal, Value,
};
use super::paxos::{Acceptor, Event, Proposer, ProposerTiming, View};
use super::taskread::{Entry, Merged, Progress, TaskRead};
use super::tasks::{self, failover_rank, Job, Runner, TaskOp};
use super::wal::Record;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// The seed of a node's RNGs. With the run's seed (`--seed`): a mix of it, the id and the boot
/// generation, so a run is reproducible from its seed and every node and boot draws
/// differently. Without: a hash of the id and generation (the behaviour before `--seed`).
pub fn node_seed(run_seed: Option<u64>, id: &NodeId, gen: u64) -> u64 {
    match run_seed {
        Some(s) => super::wal::fnv1a(format!("{s}/{id}/{gen}").as_bytes()),
        None => super::wal::fnv1a(format!("{id}/{gen}").as_bytes()),
    }
}

/// Planted bugs (all off by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bugs {
    /// Ack a submit after an in-memory write only; replicate a second later.
    pub ack_before_quorum: bool,
    /// Grant and release locks from the local acceptor's state only.
    pub lock_without_quorum: bool,
    /// Acceptors report lock ages four times too large (leases expire at ttl/4).
    pub early_lease_expiry: bool,
    /// Failover re-claims from the local copy instead of the current value, ignores claim
    /// leases (only a holder dead for two claim leases is replaced), and a restarted node
    /// forgets its claims.
    pub failover_skips_cas: bool,
    /// KV reads are answered from the local acceptor's copy, without a quorum round.
    pub stale_read: bool,
    /// A submit that arrives while another submit's replication round is in flight on this
    /// node is acknowledged at once and buffered for the next replication flush
    /// ([`FLUSH_INTERVAL`] later), before it is written anywhere: the narrow-window version of
    /// `ack_before_quorum`. Only a kill of the node within those milliseconds loses it.
    pub ack_before_flush: bool,
    /// A restarted node that has heard from no peer for [`LONELY_GRACE`] since its boot
    /// assumes it is the only survivor and decides locks from its own replayed state (the
    /// `lock-without-quorum` path) until it hears from any peer. Only a restart while cut off
    /// from every peer (a partition overlapping a restart) reveals it.
    pub lonely_restart: bool,
}

/// Planted bug `ack-before-flush`: how long an acknowledged submit waits in the node's
/// memory for the replication flush.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(10);

/// Planted bug `lonely-restart`: how long a restarted node waits to hear from a peer before it
/// goes on alone. Longer than a SWIM probe period, so a node restarted among reachable peers
/// always hears one first (its own probe's ack, or a peer's probe).
pub const LONELY_GRACE: Duration = Duration::from_millis(1_000);

/// Node timing.
#[derive(Debug, Clone)]
pub struct Timing {
    pub swim: SwimTiming,
    pub proposer: ProposerTiming,
    /// A claim not renewed for this long may be taken over. Default 3 s.
    pub claim_lease: Duration,
    /// How often the node scans for tasks to fail over. Default 250 ms.
    pub scan_period: Duration,
    /// Deadline of a client operation. Default 1.5 s.
    pub op_timeout: Duration,
    /// Deadline of a quorum read of every task (`ClientCmd::ReadTasks`). Default 5 s (the
    /// members' answers can be large).
    pub read_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            swim: SwimTiming::default(),
            proposer: ProposerTiming::default(),
            claim_lease: Duration::from_secs(3),
            scan_period: Duration::from_millis(250),
            op_timeout: Duration::from_millis(1500),
            read_timeout: Duration::from_secs(5),
        }
    }
}

/// Static configuration of a node.
#[derive(Debug, Clone)]
pub struct Config {
    pub id: NodeId,
    /// All configured members, this node included.
    pub members: Vec<NodeId>,
    /// Boot generation (grows with every start; persisted by the shell).
    pub gen: u64,
    pub seed: u64,
    pub bugs: Bugs,
    pub timing: Timing,
}

/// A client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCmd {
    Acquire {
        lock: String,
        client: String,
        ttl_ms: u64,
    },
    Release {
        lock: String,
        client: String,
        token: u64,
    },
    Submit {
        id: String,
        work_ms: u64,
    },
    GetTask {
        id: String,
    },
    Members,
    /// KV read, write and compare-and-set (`k/<key>` registers, see [`super::kv`]).
    Kv {
        key: String,
        op: KvOp,
    },
    /// This node's acceptor copy of every task register (one part of a quorum read).
    Snapshot,
    /// Every task register, read from a majority (`GET /tasks`, see [`super::taskread`]).
    ReadTasks,
}

/// Why a client request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Conflict,
    Unavailable,
    Timeout,
}

/// One member as `GET /members` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub id: NodeId,
    pub state: Liveness,
    pub incarnation: u64,
    pub load: u64,
}

/// A reply to a client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientResp {
    Granted {
        token: u64,
    },
    Released,
    Submitted,
    Task(Option<TaskVal>),
    Members(Vec<MemberView>),
    Snapshot(Vec<(String, Ballot, TaskVal)>),
    /// The merged result of a quorum read: id -> (state, runs).
    Tasks(Merged),
    Kv(KvOutcome),
    Error {
        kind: ErrorKind,
        message: String,
        definite: bool,
    },
}

/// Inputs of the state machine.
#[derive(Debug, Clone)]
pub enum Input {
    Tick,
    Peer {
        from: NodeId,
        msg: PeerMsg,
    },
    Client {
        req: u64,
        cmd: ClientCmd,
    },
    /// A member's durable task registers for the quorum read `read` (`None`: the member could
    /// not answer), in reply to [`Output::FetchTasks`].
    Tasks {
        read: u64,
        from: NodeId,
        snapshot: Option<Vec<Entry>>,
    },
}

/// Outputs of the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Send {
        to: NodeId,
        msg: PeerMsg,
    },
    Reply {
        req: u64,
        resp: ClientResp,
    },
    Persist(Record),
    /// Fetch `from`'s durable task registers (this node's own too) for the quorum read `read`
    /// and hand them back as [`Input::Tasks`].
    FetchTasks {
        read: u64,
        from: NodeId,
    },
}

#[derive(Debug, Clone)]
enum Origin {
    Client(u64),
    Claim,
    Renew,
    Done,
    Replicate,
}

#[derive(Debug, Clone)]
enum RegOp {
    Lock(LockOp),
    Task(TaskOp),
    Kv(KvOp),
}

#[derive(Debug)]
struct Pending {
    origin: Origin,
    key: Key,
    op: RegOp,
    /// What to report once the accept round commits.
    result: Option<Result<Outcome, String>>,
    written: Option<Value>,
    real_accept_sent: bool,
}

/// The node state machine.
#[derive(Debug)]
pub struct Node {
    cfg: Config,
    acceptor: Acceptor,
    proposer: Proposer,
    membership: Membership,
    runner: Runner,
    pending: BTreeMap<u64, Pending>,
    inbox: VecDeque<PeerMsg>,
    next_scan: Duration,
    unreplicated: BTreeMap<String, (u64, Duration)>,
    /// When this node first saw each member dead (for failover staggering).
    dead_since: BTreeMap<NodeId, Duration>,
    /// Quorum reads of every task in flight, by client request.
    reads: BTreeMap<u64, TaskRead>,
    /// When this boot started (on the clock `step` is given).
    boot_at: Duration,
    /// Planted bug `lonely-restart`: a restart that has not heard from any peer yet.
    unheard: bool,
}

const SCAN_CLAIMS_IN_FLIGHT: usize = 64;

impl Node {
    /// Builds a node from its configuration and the records replayed from its log.
    pub fn new(cfg: Config, records: Vec<Record>, now: Duration) -> Node {
        let mut acceptor = Acceptor::from_records(records, now);
        acceptor.early_lease_expiry = cfg.bugs.early_lease_expiry;
        let rng = |salt: u64| ChaCha8Rng::seed_from_u64(cfg.seed ^ salt);
        let proposer = Proposer::new(
            cfg.id.clone(),
            cfg.gen,
            cfg.members.clone(),
            rng(0x9e37_79b9),
            cfg.timing.proposer.clone(),
        );
        let others = cfg
            .members
            .iter()
            .filter(|m| **m != cfg.id)
            .cloned()
            .collect();
        let membership = Membership::new(
            cfg.id.clone(),
            cfg.gen,
            others,
            now,
            rng(0x85eb_ca6b),
            cfg.timing.swim.clone(),
        );
        Node {
            acceptor,
            proposer,
            membership,
            runner: Runner::default(),
            pending: BTreeMap::new(),
            inbox: VecDeque::new(),
            next_scan: now + cfg.timing.scan_period,
            unreplicated: BTreeMap::new(),
            dead_since: BTreeMap::new(),
            reads: BTreeMap::new(),
            boot_at: now,
            unheard: cfg.bugs.lonely_restart && cfg.gen > 1,
            cfg,
        }
    }

    /// Planted bug `lonely-restart`: this boot is a restart, no peer has been heard since it,
    /// and the grace is over, so the node believes it is alone and acts on its own state.
    pub(super) fn lonely(&self, now: Duration) -> bool {
        self.unheard && now.saturating_sub(self.boot_at) >= LONELY_GRACE
    }

    pub fn id(&self) -> &NodeId {
        &self.cfg.id
    }

    /// Current load: tasks running here plus claims in flight.
    pub fn load(&self) -> u64 {
        let claims = self
            .pending
            .values()
            .filter(|p| matches!(p.origin, Origin::Claim))
            .count();
        self.runner.load() + claims as u64
    }

    /// The acceptor's slots as log records (for compaction).
    pub fn records(&self) -> Vec<Record> {
        self.acceptor.records()
    }

    pub fn live_keys(&self) -> usize {
        self.acceptor.slots.len()
    }

    /// Membership changes since the last call (the shell logs them).
    pub fn take_membership_changes(&mut self) -> Vec<super::membership::Change> {
        self.membership.take_changes()
    }

    /// The earliest time (on the clock `step` is given) at which an [`Input::Tick`] would do
    /// anything: a membership or proposer timer, a task's renew or finish, a write-behind
    /// replication, or the failover scan. A tick before it changes nothing (a property tested
    /// in `node/tests.rs`), so a simulator jumps from deadline to deadline and a shell may
    /// sleep until then. Inputs other than ticks may move it earlier: ask again after each.
    pub fn next_deadline(&self) -> Duration {
        let mut d = self.next_scan;
        let mut at = |t: Duration| d = d.min(t);
        if let Some(t) = self.membership.next_deadline() {
            at(t);
        }
        if let Some(t) = self.proposer.next_deadline() {
            at(t);
        }
        for j in self.runner.jobs.values().filter(|j| !j.in_flight) {
            at(j.finish_at.min(j.next_renew));
        }
        for (_, due) in self.unreplicated.values() {
            at(*due);
        }
        for r in self.reads.values() {
            at(r.deadline);
        }
        d
    }

    /// Advances the state machine by one input.
    pub fn step(&mut self, now: Duration, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Tick => self.tick(now, out),
            Input::Peer { from, msg } => self.on_peer(now, &from, msg, out),
            Input::Client { req, cmd } => self.on_client(now, req, cmd, out),
            Input::Tasks {
                read,
                from,
                snapshot,
            } => self.on_tasks(read, from, snapshot, out),
        }
        while let Some(msg) = self.inbox.pop_front() {
            let me = self.cfg.id.clone();
            self.on_peer(now, &me, msg, out);
        }
    }

    fn send_all(&mut self, msgs: Vec<(NodeId, PeerMsg)>, out: &mut Vec<Output>) {
        for (to, msg) in msgs {
            let acceptor_reply = matches!(msg, PeerMsg::Promise { .. } | PeerMsg::Accepted { .. });
            if to == self.cfg.id && !acceptor_reply {
                self.inbox.push_back(msg);
            } else {
                // Acceptor replies, to this node's own proposer too, leave through the shell,
                // which releases them only once the acceptor's log record is durable.
                out.push(Output::Send { to, msg });
            }
        }
    }

    fn tick(&mut self, now: Duration, out: &mut Vec<Output>) {
        let mut msgs = Vec::new();
        let load = self.load();
        self.membership.tick(now, load, &mut msgs);
        for ev in self.proposer.tick(now, &mut msgs) {
            self.on_event(now, ev, &mut msgs, out);
        }
        self.tick_runner(now, &mut msgs, out);
        self.tick_unreplicated(now, &mut msgs);
        if now >= self.next_scan {
            self.next_scan = now + self.cfg.timing.scan_period;
            self.scan(now, &mut msgs);
        }
        self.expire_reads(now, out);
        self.send_all(msgs, out);
    }

    /// Starts a quorum read of every task for client request `req`.
    fn start_read(&mut self, now: Duration, req: u64, out: &mut Vec<Output>) {
        let n = self.cfg.members.len();
        let deadline = now + self.cfg.timing.read_timeout;
        self.reads.insert(req, TaskRead::new(n, deadline));
        for m in &self.cfg.members {
            out.push(Output::FetchTasks {
                read: req,
                from: m.clone(),
            });
        }
    }

    fn on_tasks(
        &mut self,
        read: u64,
        from: NodeId,
        snapshot: Option<Vec<Entry>>,
        out: &mut Vec<Output>,
    ) {
        let Some(r) = self.reads.get_mut(&read) else {
            return; // answered or expired already
        };
        let resp = match r.on_answer(from, snapshot) {
            Progress::Waiting => return,
            Progress::Done(merged) => ClientResp::Tasks(merged),
            Progress::Failed(message) => ClientResp::Error {
                kind: ErrorKind::Unavailable,
                message,
                definite: true,
            },
        };
        self.reads.remove(&read);
        out.push(Output::Reply { req: read, resp });
    }

    fn expire_reads(&mut self, now: Duration, out: &mut Vec<Output>) {
        let due: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        for req in due {
            let r = self.reads.remove(&req).expect("listed above");
            let resp = ClientResp::Error {
                kind: ErrorKind::Unavailable,
                message: r.failure(),
                definite: true,
            };
            out.push(Output::Reply { req, resp });
        }
    }

    fn on_peer(&mut self, now: Duration, from: &NodeId, msg: PeerMsg, out: &mut Vec<Output>) {
        if *from != self.cfg.id {
            self.unheard = false;
        }
        let mut msgs = Vec::new();
        match msg {
            PeerMsg::Prepare { key, ballot, pid } => {
                let (reply, rec) = self.acceptor.on_prepare(now, &key, &ballot, pid);
                out.extend(rec.map(Output::Persist));
                msgs.push((from.clone(), reply));
            }
            PeerMsg::Accept {
                key,
                ballot,
                pid,
                value,
            } => {
                let (reply, rec) = self.acceptor.on_accept(now, &key, &ballot, pid, &value);
                out.extend(rec.map(Output::Persist));
                msgs.push((from.clone(), reply));
            }
            PeerMsg::Promise {
                ballot,
                pid,
                ok,
                promised,
                accepted,
                ..
            } => {
                if let Some(ev) = self
                    .proposer
                    .on_promise(now, from, pid, &ballot, ok, &promised, accepted)
                {
                    self.on_event(now, ev, &mut msgs, out);
                }
            }
            PeerMsg::Accepted {
                ballot,
                pid,
                ok,
                promised,
                ..
            } => {
                if let Some(ev) = self
                    .proposer
                    .on_accepted(now, from, pid, &ballot, ok, &promised, &mut msgs)
                {
                    self.on_event(now, ev, &mut msgs, out);
                }
            }
            PeerMsg::Assign { id } => self.start_claim(now, &id, true, false, &mut msgs),
            other => {
                let load = self.load();
                self.membership
                    .on_message(now, from, &other, load, &mut msgs);
            }
        }
        self.send_all(msgs, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn start(
        &mut self,
        now: Duration,
        origin: Origin,
        key: Key,
        op: RegOp,
        fast: Option<Value>,
        deadline: Duration,
        msgs: &mut Vec<(NodeId, PeerMsg)>,
    ) -> u64 {
        let real = fast.is_some();
        let pid = self.proposer.start(now, key.clone(), deadline, fast, msgs);
        let p = Pending {
            origin,
            key,
            op,
            result: None,
            written: None,
            real_accept_sent: real,
        };
        self.pending.insert(pid, p);
        pid
    }

    fn on_event(
        &mut self,
        now: Duration,
        ev: Event,
        msgs: &mut Vec<(NodeId, PeerMsg)>,
        out: &mut Vec<Output>,
    ) {
        match ev {
            Event::Ready { pid, view } => self.decide(now, pid, view, msgs, out),
            Event::Committed { pid } => {
                if let Some(p) = self.pending.remove(&pid) {
                    let result = p.result.clone().unwrap_or(Ok(Outcome::Submitted));
                    self.complete(now, p, result, msgs, out);
                }
            }
            Event::Failed { pid, .. } => {
                if let Some(p) = self.pending.remove(&pid) {
                    self.failed(p, out);
                }
            }
        }
    }

    fn decide(
        &mut self,
        now: Duration,
        pid: u64,
        view: View,
        msgs: &mut Vec<(NodeId, PeerMsg)>,
        out: &mut Vec<Output>,
    ) {
        let Some(p) = self.pending.get(&pid) else {
            self.proposer.finish(now, pid, msgs);
            return;
        };
        let me = OpId {
            node: self.cfg.id.clone(),
            gen: self.cfg.gen,
            seq: pid,
        };
        let decision = match &p.op {
            RegOp::Lock(op) => locks::decide(op, &view, &me),
            RegOp::Task(op) => self.decide_task(op, &view, &p.key),
            RegOp::Kv(op) => kv::decide(op, &view, &me, p.real_accept_sent),
        };
        let p = self.pending.get_mut(&pid).expect("looked up above");
        let (result, write) = match decision {
            Decision::Write(v, o) => (Ok(o), Some((v, true))),
            Decision::Keep(o) => (Ok(o), None),
            Decision::Reject(why) => (Err(why), None),
        };
        // Write the current value back when the quorum disagreed, so lagging acceptors catch
        // up (an identity write: it changes nothing and keeps every acceptor's lease age).
        let write = write.or_else(|| {
            (!view.all_agree)
                .then(|| view.current.clone().map(|v| (v, false)))
                .flatten()
        });
        match write {
            Some((value, real)) => {
                p.real_accept_sent |= real;
                p.result = Some(result);
                if real {
                    p.written = Some(value.clone());
                }
                self.proposer.accept(now, pid, value, real, msgs);
            }
            None => {
                self.proposer.finish(now, pid, msgs);
                let p = self.pending.remove(&pid).expect("looked up above");
                self.complete(now, p, result, msgs, out);
            }
        }
    }

    fn decide_task(&self, op: &TaskOp, view: &View, key: &Key) -> Decision {
        if self.cfg.bugs.failover_skips_cas {
            if let TaskOp::Claim {
                owner_dead: true,
                by,
                ..
            } = op
            {
                // Planted bug: trust the local copy instead of the value the quorum returned.
                if let Some(Value::Task(local)) = self.acceptor.value(key) {
                    let mut t = local.clone();
                    t.state = TaskState::Running;
                    t.owner = Some(by.clone());
                    t.runs += 1;
                    t.claim += 1;
                    let c = t.claim;
                    return Decision::Write(Value::Task(t), Outcome::Claimed(c));
                }
            }
        }
        tasks::decide(op, view)
    }

    fn complete(
        &mut self,
        now: Duration,
        p: Pending,
        result: Result<Outcome, String>,
        msgs: &mut Vec<(NodeId, PeerMsg)>,
        out: &mut Vec<Output>,
    ) {
        let id = p.key.strip_prefix("t/").unwrap_or(&p.key).to_string();
        match p.origin {
            Origin::Client(req) => {
                let resp = client_resp(result, p.real_accept_sent);
                if resp == ClientResp::Submitted {
                    self.assign(now, &id, msgs);
                }
                out.push(Output::Reply { req, resp });
            }
            Origin::Replicate => {
                if result.is_ok() {
                    self.assign(now, &id, msgs);
                }
            }
            Origin::Claim => {
                if let (Ok(Outcome::Claimed(claim)), Some(Value::Task(t))) = (&result, &p.written) {
                    let job = Job {
                        claim: *claim,
                        finish_at: now + Duration::from_millis(t.work_ms),
                        next_renew: now + self.cfg.timing.claim_lease / 3,
                        in_flight: false,
                    };
                    self.runner.jobs.insert(id, job);
                }
            }
            Origin::Renew => match result {
                Ok(Outcome::Renewed(c)) => {
                    if let Some(j) = self.runner.jobs.get_mut(&id) {
                        j.claim = c;
                        j.next_renew = now + self.cfg.timing.claim_lease / 3;
                        j.in_flight = false;
                    }
                }
                _ => {
                    self.runner.jobs.remove(&id);
                }
            },
            Origin::Done => {
                self.runner.jobs.remove(&id);
            }
        }
    }

    fn failed(&mut self, p: Pending, out: &mut Vec<Output>) {
        let id = p.key.strip_prefix("t/").unwrap_or(&p.key).to_string();
        match p.origin {
            Origin::Client(req) => {
                let resp = if p.real_accept_sent {
                    ClientResp::Error {
                        kind: ErrorKind::Timeout,
                        message:
                            "timed out after sending accepts; the operation may have taken effect"
                                .into(),
                        definite: false,
                    }
                } else {
                    ClientResp::Error {
                        kind: ErrorKind::Unavailable,
                        message: "no quorum reached before the deadline; nothing was written"
                            .into(),
                        definite: true,
                    }
                };
                out.push(Output::Reply { req, resp });
            }
            Origin::Renew | Origin::Done => {
                if let Some(j) = self.runner.jobs.get_mut(&id) {
                    j.in_flight = false;
                }
            }
            Origin::Replicate => {
                let due = Duration::ZERO;
                if let RegOp::Task(TaskOp::Submit { work_ms }) = p.op {
                    self.unreplicated.insert(id, (work_ms, due));
                }
            }
            Origin::Claim => {}
        }
    }
}

fn client_resp(result: Result<Outcome, String>, real_accept_sent: bool) -> ClientResp {
    match result {
        Ok(Outcome::Granted(token)) => ClientResp::Granted { token },
        Ok(Outcome::Released) => ClientResp::Released,
        Ok(Outcome::Submitted) => ClientResp::Submitted,
        Ok(Outcome::Read(v)) => ClientResp::Task(match v {
            Some(Value::Task(t)) => Some(t),
            _ => None,
        }),
        Ok(Outcome::Kv(o)) => ClientResp::Kv(o),
        Ok(other) => ClientResp::Error {
            kind: ErrorKind::Unavailable,
            message: format!("unexpected outcome {other:?}"),
            definite: false,
        },
        Err(why) if real_accept_sent => ClientResp::Error {
            kind: ErrorKind::Unavailable,
            message: format!("{why}; an earlier attempt of this operation may have taken effect"),
            definite: false,
        },
        Err(why) => ClientResp::Error {
            kind: ErrorKind::Conflict,
            message: why,
            definite: true,
        },
    }
}
