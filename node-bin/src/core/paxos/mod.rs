//! CASPaxos: per-key acceptors and a proposer that runs many concurrent proposals.
//!
//! Every change of a register is a compare-and-set: the proposer gathers promises from a
//! majority of the *configured* cluster, learns the current value (the one accepted with the
//! highest ballot), lets the caller decide the new value, and has a majority accept it.
//! Nothing here does IO: messages go into an output vector, time comes in as an argument and
//! the backoff RNG is seeded at construction.

use super::message::{Accepted, Ballot, Key, NodeId, PeerMsg, Value};
use super::wal::Record;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// One acceptor slot.
#[derive(Debug, Clone)]
pub struct Slot {
    pub promised: Ballot,
    pub accepted: Option<(Ballot, Value)>,
    /// When this acceptor first accepted the current value (local monotonic time). Not
    /// persisted: after a restart it is the restart time, which only makes leases look younger.
    pub since: Duration,
}

/// The acceptor half of a node.
#[derive(Debug, Default)]
pub struct Acceptor {
    pub slots: BTreeMap<Key, Slot>,
    /// Planted bug `early-lease-expiry`: lock ages are reported four times too large.
    pub early_lease_expiry: bool,
}

impl Acceptor {
    /// Rebuilds the acceptor from replayed records; every value's age starts at `now`.
    pub fn from_records(records: impl IntoIterator<Item = Record>, now: Duration) -> Self {
        let slots = records
            .into_iter()
            .map(|r| {
                let slot = Slot {
                    promised: r.promised,
                    accepted: r.accepted,
                    since: now,
                };
                (r.key, slot)
            })
            .collect();
        Acceptor {
            slots,
            early_lease_expiry: false,
        }
    }

    fn record(&self, key: &Key) -> Record {
        let s = &self.slots[key];
        Record {
            key: key.clone(),
            promised: s.promised.clone(),
            accepted: s.accepted.clone(),
        }
    }

    /// The elapsed time this acceptor reports for its current value of `key`.
    pub fn age_ms(&self, key: &Key, now: Duration) -> u64 {
        let Some(s) = self.slots.get(key) else {
            return 0;
        };
        let age = now.saturating_sub(s.since).as_millis() as u64;
        let is_lock = matches!(s.accepted, Some((_, Value::Lock(_))));
        if self.early_lease_expiry && is_lock {
            age.saturating_mul(4)
        } else {
            age
        }
    }

    /// Phase 1: promise `ballot` if it is higher than anything promised.
    pub fn on_prepare(
        &mut self,
        now: Duration,
        key: &Key,
        ballot: &Ballot,
        pid: u64,
    ) -> (PeerMsg, Option<Record>) {
        let slot = self.slots.entry(key.clone()).or_insert_with(|| Slot {
            promised: Ballot::zero(),
            accepted: None,
            since: now,
        });
        let ok = *ballot > slot.promised;
        if ok {
            slot.promised = ballot.clone();
        }
        let accepted = slot.accepted.clone();
        let promised = slot.promised.clone();
        let age_ms = self.age_ms(key, now);
        let reply = PeerMsg::Promise {
            key: key.clone(),
            ballot: ballot.clone(),
            pid,
            ok,
            promised,
            accepted: accepted.map(|(ballot, value)| Accepted {
                ballot,
                value,
                age_ms,
            }),
        };
        (reply, ok.then(|| self.record(key)))
    }

    /// Phase 2: accept `value` at `ballot` unless a higher ballot was promised. The value's age
    /// restarts unless it equals the value already held (a repair or an identity write).
    pub fn on_accept(
        &mut self,
        now: Duration,
        key: &Key,
        ballot: &Ballot,
        pid: u64,
        value: &Value,
    ) -> (PeerMsg, Option<Record>) {
        let slot = self.slots.entry(key.clone()).or_insert_with(|| Slot {
            promised: Ballot::zero(),
            accepted: None,
            since: now,
        });
        let ok = *ballot >= slot.promised;
        if ok {
            let same = matches!(&slot.accepted, Some((_, v)) if v == value);
            if !same {
                slot.since = now;
            }
            slot.promised = ballot.clone();
            slot.accepted = Some((ballot.clone(), value.clone()));
        }
        let reply = PeerMsg::Accepted {
            key: key.clone(),
            ballot: ballot.clone(),
            pid,
            ok,
            promised: slot.promised.clone(),
        };
        (reply, ok.then(|| self.record(key)))
    }

    /// Writes `value` into the local slot only, at a ballot above anything it promised. Used
    /// solely by planted bugs that skip the quorum.
    pub fn write_local(
        &mut self,
        now: Duration,
        key: &Key,
        me: &NodeId,
        gen: u64,
        value: Value,
    ) -> (Ballot, Record) {
        let slot = self.slots.entry(key.clone()).or_insert_with(|| Slot {
            promised: Ballot::zero(),
            accepted: None,
            since: now,
        });
        let ballot = Ballot {
            round: slot.promised.round + 1,
            node: me.clone(),
            gen,
        };
        slot.promised = ballot.clone();
        slot.accepted = Some((ballot.clone(), value));
        slot.since = now;
        (ballot, self.record(key))
    }

    /// The locally accepted value of `key`.
    pub fn value(&self, key: &Key) -> Option<&Value> {
        self.slots
            .get(key)
            .and_then(|s| s.accepted.as_ref())
            .map(|(_, v)| v)
    }

    /// All slots as records (for log compaction).
    pub fn records(&self) -> Vec<Record> {
        self.slots.keys().map(|k| self.record(k)).collect()
    }
}

/// What the promise quorum saw, handed to the caller to decide the new value.
#[derive(Debug, Clone)]
pub struct View {
    /// The value accepted with the highest ballot among the promises (the current value).
    pub current: Option<Value>,
    /// Ages reported by the promisers that hold exactly the current value.
    pub ages_of_current: Vec<u64>,
    /// True when every promiser reported the same ballot (no repair needed).
    pub all_agree: bool,
    pub quorum: usize,
}

impl View {
    /// True when a majority of acceptors, each by its own clock, has held the current value for
    /// at least `ttl_ms`.
    pub fn expired(&self, ttl_ms: u64) -> bool {
        self.ages_of_current
            .iter()
            .filter(|a| **a >= ttl_ms)
            .count()
            >= self.quorum
    }
}

/// Something the proposer reports back to its caller.
#[derive(Debug, Clone)]
pub enum Event {
    /// A promise quorum was reached: call [`Proposer::accept`] or [`Proposer::finish`].
    Ready { pid: u64, view: View },
    /// The value sent with `accept` is chosen (a majority accepted it).
    Committed { pid: u64 },
    /// The deadline passed. `definite` when no accept carrying a real change was ever sent.
    Failed { pid: u64, definite: bool },
}

#[derive(Debug)]
enum Phase {
    Queued,
    Preparing {
        promises: BTreeMap<NodeId, Option<Accepted>>,
        nacks: BTreeSet<NodeId>,
    },
    Deciding,
    Accepting {
        oks: BTreeSet<NodeId>,
        nacks: BTreeSet<NodeId>,
    },
    Backoff {
        until: Duration,
    },
}

#[derive(Debug)]
struct Proposal {
    key: Key,
    ballot: Ballot,
    phase: Phase,
    accept_sent: bool,
    /// A one-round create at the zero ballot still in its first attempt.
    fast: Option<Value>,
    deadline: Duration,
    phase_deadline: Duration,
    attempts: u32,
}

/// Proposer timing.
#[derive(Debug, Clone)]
pub struct ProposerTiming {
    /// How long one prepare or accept round may take before it is retried. Default 300 ms.
    pub phase_timeout: Duration,
    /// Upper bound of the random backoff per attempt. Default 15 ms (grows with attempts).
    pub backoff: Duration,
}

impl Default for ProposerTiming {
    fn default() -> Self {
        ProposerTiming {
            phase_timeout: Duration::from_millis(300),
            backoff: Duration::from_millis(15),
        }
    }
}

/// The proposer half of a node. Proposals for one key from this node run one at a time.
#[derive(Debug)]
pub struct Proposer {
    me: NodeId,
    gen: u64,
    members: Vec<NodeId>,
    quorum: usize,
    round: u64,
    next_pid: u64,
    props: BTreeMap<u64, Proposal>,
    queues: BTreeMap<Key, VecDeque<u64>>,
    rng: ChaCha8Rng,
    timing: ProposerTiming,
}

impl Proposer {
    pub fn new(
        me: NodeId,
        gen: u64,
        members: Vec<NodeId>,
        rng: ChaCha8Rng,
        timing: ProposerTiming,
    ) -> Self {
        let quorum = members.len() / 2 + 1;
        Proposer {
            me,
            gen,
            members,
            quorum,
            round: 0,
            next_pid: 1,
            props: BTreeMap::new(),
            queues: BTreeMap::new(),
            rng,
            timing,
        }
    }

    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Number of proposals in flight (queued included).
    pub fn len(&self) -> usize {
        self.props.len()
    }

    pub fn is_empty(&self) -> bool {
        self.props.is_empty()
    }

    /// True when this node has a proposal for `key` in flight.
    pub fn busy(&self, key: &Key) -> bool {
        self.queues.get(key).is_some_and(|q| !q.is_empty())
    }

    /// Starts a proposal for `key`. With `fast`, the first attempt is a single accept round at
    /// the zero ballot (create-if-absent); if that is refused it falls back to a full round.
    pub fn start(
        &mut self,
        now: Duration,
        key: Key,
        deadline: Duration,
        fast: Option<Value>,
        out: &mut Vec<(NodeId, PeerMsg)>,
    ) -> u64 {
        let pid = self.next_pid;
        self.next_pid += 1;
        let prop = Proposal {
            key: key.clone(),
            ballot: Ballot::zero(),
            phase: Phase::Queued,
            accept_sent: false,
            fast,
            deadline,
            phase_deadline: deadline,
            attempts: 0,
        };
        self.props.insert(pid, prop);
        let q = self.queues.entry(key).or_default();
        q.push_back(pid);
        if q.len() == 1 {
            self.begin(now, pid, out);
        }
        pid
    }

    fn begin(&mut self, now: Duration, pid: u64, out: &mut Vec<(NodeId, PeerMsg)>) {
        let phase_deadline = now + self.timing.phase_timeout;
        let p = self.props.get_mut(&pid).expect("begin of a live proposal");
        p.attempts += 1;
        p.phase_deadline = phase_deadline;
        if let Some(value) = p.fast.clone() {
            p.ballot = Ballot::zero();
            p.accept_sent = true;
            p.phase = Phase::Accepting {
                oks: BTreeSet::new(),
                nacks: BTreeSet::new(),
            };
            for m in &self.members {
                let msg = PeerMsg::Accept {
                    key: p.key.clone(),
                    ballot: p.ballot.clone(),
                    pid,
                    value: value.clone(),
                };
                out.push((m.clone(), msg));
            }
            return;
        }
        self.round += 1;
        p.ballot = Ballot {
            round: self.round,
            node: self.me.clone(),
            gen: self.gen,
        };
        p.phase = Phase::Preparing {
            promises: BTreeMap::new(),
            nacks: BTreeSet::new(),
        };
        for m in &self.members {
            let msg = PeerMsg::Prepare {
                key: p.key.clone(),
                ballot: p.ballot.clone(),
                pid,
            };
            out.push((m.clone(), msg));
        }
    }

    fn note_round(&mut self, seen: &Ballot) {
        self.round = self.round.max(seen.round);
    }

    fn backoff(&mut self, now: Duration, pid: u64) {
        let cap = self.timing.backoff.as_micros() as u64;
        let Some(p) = self.props.get_mut(&pid) else {
            return;
        };
        let max = cap.saturating_mul(u64::from(p.attempts.min(8))).max(1);
        let wait = Duration::from_micros(self.rng.gen_range(0..=max));
        p.fast = None;
        p.phase = Phase::Backoff { until: now + wait };
    }

    /// Handles a promise. Returns `Ready` once a majority promised.
    #[allow(clippy::too_many_arguments)]
    pub fn on_promise(
        &mut self,
        now: Duration,
        from: &NodeId,
        pid: u64,
        ballot: &Ballot,
        ok: bool,
        promised: &Ballot,
        accepted: Option<Accepted>,
    ) -> Option<Event> {
        self.note_round(promised);
        if let Some(a) = &accepted {
            self.note_round(&a.ballot);
        }
        let quorum = self.quorum;
        let n = self.members.len();
        let p = self.props.get_mut(&pid)?;
        if p.ballot != *ballot {
            return None;
        }
        let Phase::Preparing { promises, nacks } = &mut p.phase else {
            return None;
        };
        if !ok {
            nacks.insert(from.clone());
            if nacks.len() > n - quorum {
                self.backoff(now, pid);
            }
            return None;
        }
        promises.insert(from.clone(), accepted);
        if promises.len() < quorum {
            return None;
        }
        let view = make_view(promises, quorum);
        p.phase = Phase::Deciding;
        Some(Event::Ready { pid, view })
    }

    /// Sends `value` for acceptance at the proposal's ballot. `real` marks a value that
    /// changes the register (as opposed to writing the current value back to repair it); it
    /// makes a later failure indefinite.
    pub fn accept(
        &mut self,
        now: Duration,
        pid: u64,
        value: Value,
        real: bool,
        out: &mut Vec<(NodeId, PeerMsg)>,
    ) {
        let Some(p) = self.props.get_mut(&pid) else {
            return;
        };
        p.accept_sent |= real;
        p.phase_deadline = now + self.timing.phase_timeout;
        for m in &self.members {
            let msg = PeerMsg::Accept {
                key: p.key.clone(),
                ballot: p.ballot.clone(),
                pid,
                value: value.clone(),
            };
            out.push((m.clone(), msg));
        }
        p.phase = Phase::Accepting {
            oks: BTreeSet::new(),
            nacks: BTreeSet::new(),
        };
    }

    /// Handles an accept reply. Returns `Committed` once a majority accepted.
    #[allow(clippy::too_many_arguments)]
    pub fn on_accepted(
        &mut self,
        now: Duration,
        from: &NodeId,
        pid: u64,
        ballot: &Ballot,
        ok: bool,
        promised: &Ballot,
        out: &mut Vec<(NodeId, PeerMsg)>,
    ) -> Option<Event> {
        self.note_round(promised);
        let quorum = self.quorum;
        let n = self.members.len();
        let p = self.props.get_mut(&pid)?;
        if p.ballot != *ballot {
            return None;
        }
        let Phase::Accepting { oks, nacks, .. } = &mut p.phase else {
            return None;
        };
        if !ok {
            nacks.insert(from.clone());
            if nacks.len() > n - quorum {
                self.backoff(now, pid);
            }
            return None;
        }
        oks.insert(from.clone());
        if oks.len() < quorum {
            return None;
        }
        self.finish(now, pid, out);
        Some(Event::Committed { pid })
    }

    /// Ends a proposal (decided without a write, or committed) and starts the next one
    /// queued for the same key.
    pub fn finish(&mut self, now: Duration, pid: u64, out: &mut Vec<(NodeId, PeerMsg)>) {
        let Some(p) = self.props.remove(&pid) else {
            return;
        };
        let next = match self.queues.get_mut(&p.key) {
            Some(q) => {
                q.retain(|x| *x != pid);
                q.front().copied()
            }
            None => None,
        };
        match next {
            Some(n) => self.begin(now, n, out),
            None => {
                self.queues.remove(&p.key);
            }
        }
    }

    /// The earliest local time at which [`Proposer::tick`] would change anything: a
    /// proposal's deadline, a round's timeout or the end of a backoff.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.props
            .values()
            .filter_map(|p| match p.phase {
                Phase::Queued => Some(p.deadline),
                Phase::Deciding => None,
                Phase::Preparing { .. } | Phase::Accepting { .. } => {
                    Some(p.deadline.min(p.phase_deadline))
                }
                Phase::Backoff { until } => Some(p.deadline.min(until)),
            })
            .min()
    }

    /// Expires deadlines, retries timed-out rounds and ends backoffs.
    pub fn tick(&mut self, now: Duration, out: &mut Vec<(NodeId, PeerMsg)>) -> Vec<Event> {
        let mut events = Vec::new();
        let pids: Vec<u64> = self.props.keys().copied().collect();
        for pid in pids {
            let Some(p) = self.props.get(&pid) else {
                continue;
            };
            if matches!(p.phase, Phase::Queued) {
                if now >= p.deadline {
                    let definite = !p.accept_sent;
                    self.finish(now, pid, out);
                    events.push(Event::Failed { pid, definite });
                }
                continue;
            }
            if now >= p.deadline && !matches!(p.phase, Phase::Deciding) {
                let definite = !p.accept_sent;
                self.finish(now, pid, out);
                events.push(Event::Failed { pid, definite });
                continue;
            }
            match p.phase {
                Phase::Preparing { .. } | Phase::Accepting { .. } if now >= p.phase_deadline => {
                    self.backoff(now, pid)
                }
                Phase::Backoff { until } if now >= until => self.begin(now, pid, out),
                _ => {}
            }
        }
        events
    }
}

fn make_view(promises: &BTreeMap<NodeId, Option<Accepted>>, quorum: usize) -> View {
    let best = promises
        .values()
        .flatten()
        .max_by(|a, b| a.ballot.cmp(&b.ballot));
    let current = best.map(|a| a.value.clone());
    let best_ballot = best.map(|a| a.ballot.clone());
    let all_agree = promises
        .values()
        .all(|a| a.as_ref().map(|a| a.ballot.clone()) == best_ballot);
    let ages_of_current = promises
        .values()
        .flatten()
        .filter(|a| Some(&a.value) == current.as_ref())
        .map(|a| a.age_ms)
        .collect();
    View {
        current,
        ages_of_current,
        all_agree,
        quorum,
    }
}

#[cfg(test)]
mod tests;
