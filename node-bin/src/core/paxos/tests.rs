//! CASPaxos safety on an in-memory network with a seeded random scheduler: competing
//! proposers interleave, messages are reordered, dropped and duplicated, and every committed
//! compare-and-set increment must still return a distinct counter value.

use super::*;
use crate::core::message::{LockVal, OpId};
use rand::SeedableRng;
use std::collections::BTreeMap;

type Net = Vec<(NodeId, NodeId, PeerMsg)>;

struct Sim {
    now: Duration,
    rng: ChaCha8Rng,
    acceptors: BTreeMap<NodeId, Acceptor>,
    proposers: BTreeMap<NodeId, Proposer>,
    net: Net,
    /// (node, pid) -> token decided, waiting for commit.
    deciding: BTreeMap<(NodeId, u64), u64>,
    committed: Vec<(NodeId, u64, u64)>,
    failed: usize,
    in_flight: BTreeMap<NodeId, usize>,
    drop_p: f64,
    dup_p: f64,
}

fn ids(n: usize) -> Vec<NodeId> {
    (1..=n).map(|i| NodeId(format!("n{i}"))).collect()
}

fn counter(token: u64, op: OpId) -> Value {
    Value::Lock(LockVal {
        holder: None,
        token,
        ttl_ms: 0,
        op: Some(op),
    })
}

impl Sim {
    fn new(seed: u64, n: usize, drop_p: f64, dup_p: f64) -> Sim {
        let members = ids(n);
        let mut proposers = BTreeMap::new();
        let mut acceptors = BTreeMap::new();
        for (i, m) in members.iter().enumerate() {
            let rng = ChaCha8Rng::seed_from_u64(seed * 31 + i as u64);
            let p = Proposer::new(
                m.clone(),
                1,
                members.clone(),
                rng,
                ProposerTiming::default(),
            );
            proposers.insert(m.clone(), p);
            acceptors.insert(m.clone(), Acceptor::default());
        }
        Sim {
            now: Duration::ZERO,
            rng: ChaCha8Rng::seed_from_u64(seed),
            acceptors,
            proposers,
            net: Vec::new(),
            deciding: BTreeMap::new(),
            committed: Vec::new(),
            failed: 0,
            in_flight: BTreeMap::new(),
            drop_p,
            dup_p,
        }
    }

    fn push(&mut self, from: &NodeId, out: Vec<(NodeId, PeerMsg)>) {
        for (to, msg) in out {
            self.net.push((from.clone(), to, msg));
        }
    }

    fn start_op(&mut self, node: &NodeId) {
        let mut out = Vec::new();
        let deadline = self.now + Duration::from_secs(2);
        let p = self.proposers.get_mut(node).unwrap();
        p.start(self.now, "k".into(), deadline, None, &mut out);
        *self.in_flight.entry(node.clone()).or_default() += 1;
        self.push(node, out);
    }

    fn on_event(&mut self, node: &NodeId, ev: Event) {
        let mut out = Vec::new();
        let p = self.proposers.get_mut(node).unwrap();
        match ev {
            Event::Ready { pid, view } => {
                let me = OpId {
                    node: node.clone(),
                    gen: 1,
                    seq: pid,
                };
                let cur = match &view.current {
                    Some(Value::Lock(l)) => Some(l.clone()),
                    _ => None,
                };
                match cur {
                    // Our own earlier attempt was chosen (all promisers agree): done.
                    Some(l) if l.op.as_ref() == Some(&me) && view.all_agree => {
                        p.finish(self.now, pid, &mut out);
                        self.committed.push((node.clone(), pid, l.token));
                        *self.in_flight.get_mut(node).unwrap() -= 1;
                    }
                    // Our own earlier attempt is visible but maybe not chosen: write it back
                    // (the repair the node does), report its token once that commits.
                    Some(l) if l.op.as_ref() == Some(&me) => {
                        self.deciding.insert((node.clone(), pid), l.token);
                        let v = view.current.clone().unwrap();
                        p.accept(self.now, pid, v, false, &mut out);
                    }
                    _ => {
                        let token = cur.map_or(1, |l| l.token + 1);
                        self.deciding.insert((node.clone(), pid), token);
                        p.accept(self.now, pid, counter(token, me), true, &mut out);
                    }
                }
            }
            Event::Committed { pid } => {
                let token = self.deciding.remove(&(node.clone(), pid)).unwrap();
                self.committed.push((node.clone(), pid, token));
                *self.in_flight.get_mut(node).unwrap() -= 1;
            }
            Event::Failed { .. } => {
                self.failed += 1;
                *self.in_flight.get_mut(node).unwrap() -= 1;
            }
        }
        self.push(node, out);
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, msg: PeerMsg) {
        let now = self.now;
        match msg {
            PeerMsg::Prepare { key, ballot, pid } => {
                let (reply, _) = self
                    .acceptors
                    .get_mut(&to)
                    .unwrap()
                    .on_prepare(now, &key, &ballot, pid);
                self.net.push((to, from, reply));
            }
            PeerMsg::Accept {
                key,
                ballot,
                pid,
                value,
            } => {
                let a = self.acceptors.get_mut(&to).unwrap();
                let (reply, _) = a.on_accept(now, &key, &ballot, pid, &value);
                self.net.push((to, from, reply));
            }
            PeerMsg::Promise {
                ballot,
                pid,
                ok,
                promised,
                accepted,
                ..
            } => {
                let p = self.proposers.get_mut(&to).unwrap();
                if let Some(ev) = p.on_promise(now, &from, pid, &ballot, ok, &promised, accepted) {
                    self.on_event(&to, ev);
                }
            }
            PeerMsg::Accepted {
                ballot,
                pid,
                ok,
                promised,
                ..
            } => {
                let mut out = Vec::new();
                let p = self.proposers.get_mut(&to).unwrap();
                let ev = p.on_accepted(now, &from, pid, &ballot, ok, &promised, &mut out);
                self.push(&to, out);
                if let Some(ev) = ev {
                    self.on_event(&to, ev);
                }
            }
            other => panic!("unexpected message {other:?}"),
        }
    }

    fn tick(&mut self) {
        self.now += Duration::from_millis(self.rng.gen_range(1..30));
        let nodes: Vec<NodeId> = self.proposers.keys().cloned().collect();
        for n in nodes {
            let mut out = Vec::new();
            let evs = self.proposers.get_mut(&n).unwrap().tick(self.now, &mut out);
            self.push(&n, out);
            for ev in evs {
                self.on_event(&n, ev);
            }
        }
    }

    /// Runs `ops` increments per node (two at a time per node) to completion.
    fn run(&mut self, ops: usize) {
        let nodes: Vec<NodeId> = self.proposers.keys().cloned().collect();
        let mut left: BTreeMap<NodeId, usize> = nodes.iter().map(|n| (n.clone(), ops)).collect();
        for _ in 0..200_000 {
            for n in &nodes {
                if left[n] > 0
                    && self.in_flight.get(n).copied().unwrap_or(0) < 2
                    && self.rng.gen_bool(0.3)
                {
                    *left.get_mut(n).unwrap() -= 1;
                    self.start_op(n);
                }
            }
            let busy = self.in_flight.values().any(|v| *v > 0);
            if !busy && left.values().all(|v| *v == 0) {
                return;
            }
            if !self.net.is_empty() && self.rng.gen_bool(0.85) {
                let i = self.rng.gen_range(0..self.net.len());
                let (from, to, msg) = self.net.swap_remove(i);
                if self.rng.gen_bool(self.dup_p) {
                    self.net.push((from.clone(), to.clone(), msg.clone()));
                }
                if !self.rng.gen_bool(self.drop_p) {
                    self.deliver(from, to, msg);
                }
            } else {
                self.tick();
            }
        }
        panic!("simulation did not finish");
    }

    /// The value a majority-read would return now (highest ballot among all acceptors that
    /// accepted something, which is at least every chosen value).
    fn final_token(&self) -> u64 {
        self.acceptors
            .values()
            .filter_map(|a| a.slots.get("k").and_then(|s| s.accepted.clone()))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map_or(0, |(_, v)| match v {
                Value::Lock(l) => l.token,
                _ => 0,
            })
    }
}

fn check(seed: u64, n: usize, drop_p: f64, dup_p: f64) {
    let mut sim = Sim::new(seed, n, drop_p, dup_p);
    sim.run(6);
    let rerun = format!("rerun: seed {seed}, n {n}, drop {drop_p}, dup {dup_p}");
    let mut tokens: Vec<u64> = sim.committed.iter().map(|c| c.2).collect();
    tokens.sort();
    let before = tokens.len();
    tokens.dedup();
    assert_eq!(
        before,
        tokens.len(),
        "two committed increments returned the same value; {rerun}: {:?}",
        sim.committed
    );
    let max = tokens.last().copied().unwrap_or(0);
    assert!(
        sim.final_token() >= max,
        "a committed value was lost; {rerun}"
    );
    assert!(sim.failed + before == 6 * n, "every op ends once; {rerun}");
}

#[test]
fn competing_proposers_never_commit_the_same_increment() {
    for seed in 0..150 {
        check(seed, 3, 0.1, 0.05);
    }
}

#[test]
fn five_acceptors_with_heavy_loss() {
    for seed in 1000..1060 {
        check(seed, 5, 0.3, 0.1);
    }
}

#[test]
fn lossless_network_commits_everything() {
    for seed in 0..20 {
        let mut sim = Sim::new(seed, 3, 0.0, 0.0);
        sim.run(5);
        // A retried increment may apply twice (its first attempt was chosen after it timed
        // out), never less than once.
        assert_eq!(sim.failed, 0, "rerun: seed {seed}");
        assert!(sim.final_token() >= 15, "rerun: seed {seed}");
    }
}

#[test]
fn acceptor_rejects_lower_ballots_and_keeps_age_on_identity_writes() {
    let mut a = Acceptor::default();
    let b = |r| Ballot {
        round: r,
        node: NodeId::from("n1"),
        gen: 1,
    };
    let v = counter(
        1,
        OpId {
            node: NodeId::from("n1"),
            gen: 1,
            seq: 1,
        },
    );
    let key: Key = "k".into();
    let (_, rec) = a.on_prepare(Duration::ZERO, &key, &b(2), 1);
    assert!(rec.is_some());
    let (reply, rec) = a.on_prepare(Duration::ZERO, &key, &b(1), 2);
    assert!(rec.is_none());
    assert!(matches!(reply, PeerMsg::Promise { ok: false, .. }));
    let (_, rec) = a.on_accept(Duration::from_millis(10), &key, &b(2), 1, &v);
    assert!(rec.is_some());
    // Writing the same value back at a higher ballot keeps the acceptor's age of it.
    a.on_prepare(Duration::from_millis(20), &key, &b(3), 3);
    a.on_accept(Duration::from_millis(500), &key, &b(3), 3, &v);
    assert_eq!(a.age_ms(&key, Duration::from_millis(1010)), 1000);
    // The zero ballot (one-round create) is refused once anything was promised.
    let (reply, _) = a.on_accept(Duration::ZERO, &key, &Ballot::zero(), 9, &v);
    assert!(matches!(reply, PeerMsg::Accepted { ok: false, .. }));
}

#[test]
fn early_lease_expiry_bug_inflates_lock_ages() {
    let mut a = Acceptor {
        early_lease_expiry: true,
        ..Acceptor::default()
    };
    let key: Key = "k".into();
    let v = counter(
        1,
        OpId {
            node: NodeId::from("n1"),
            gen: 1,
            seq: 1,
        },
    );
    a.on_accept(Duration::ZERO, &key, &Ballot::zero(), 1, &v);
    assert_eq!(a.age_ms(&key, Duration::from_millis(250)), 1000);
}
