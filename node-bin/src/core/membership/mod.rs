//! SWIM membership: direct and indirect probes, suspicion, incarnations, piggybacked gossip.
//!
//! Each probe period the node pings one member (round robin over a shuffled list, so every
//! member is probed within two periods). No ack within `probe_timeout` → it asks
//! `indirect_probes` others to ping the target for it. No ack by the end of the period → the
//! target becomes *suspect*, and *dead* if it does not refute within `suspicion_timeout`. A
//! member refutes a suspicion of itself by raising its incarnation. Dead members are still
//! probed, so a partitioned or restarted node that is alive again learns it was declared dead,
//! refutes, and rejoins on its own. Loads ride on every ping and ack.

use super::message::{Liveness, NodeId, PeerMsg, Update};
use super::suspicion::Suspicion;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::time::Duration;

/// SWIM timing.
#[derive(Debug, Clone)]
pub struct SwimTiming {
    /// One probe per period. Default 400 ms.
    pub probe_period: Duration,
    /// Wait for a direct ack before asking others. Default 200 ms.
    pub probe_timeout: Duration,
    /// Suspect -> dead unless refuted. Default 1200 ms.
    pub suspicion_timeout: Duration,
    /// Members asked to probe indirectly. Default 2.
    pub indirect_probes: usize,
}

impl Default for SwimTiming {
    fn default() -> Self {
        SwimTiming {
            probe_period: Duration::from_millis(400),
            probe_timeout: Duration::from_millis(200),
            suspicion_timeout: Duration::from_millis(1200),
            indirect_probes: 2,
        }
    }
}

/// What this node believes about another member.
#[derive(Debug, Clone)]
pub struct Member {
    pub state: Liveness,
    pub incarnation: u64,
    pub load: u64,
    /// When `state` last changed (local time).
    pub since: Duration,
}

#[derive(Debug)]
struct Probe {
    target: NodeId,
    seq: u64,
    sent_at: Duration,
    indirect: bool,
}

#[derive(Debug)]
struct Relay {
    requester: NodeId,
    their_seq: u64,
    target: NodeId,
    until: Duration,
}

/// A membership change worth telling the node about (for logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: NodeId,
    pub state: Liveness,
    pub incarnation: u64,
}

/// The SWIM state machine of one node.
#[derive(Debug)]
pub struct Membership {
    me: NodeId,
    inc: u64,
    members: BTreeMap<NodeId, Member>,
    order: Vec<NodeId>,
    idx: usize,
    probe: Option<Probe>,
    next_probe: Duration,
    seq: u64,
    relays: BTreeMap<u64, Relay>,
    gossip: BTreeMap<NodeId, (Update, u32)>,
    suspicion: Suspicion,
    rng: ChaCha8Rng,
    timing: SwimTiming,
    retransmits: u32,
    /// Changes since the last [`Membership::take_changes`].
    changes: Vec<Change>,
}

const MAX_UPDATES: usize = 8;

impl Membership {
    /// All `others` start alive at incarnation 0; this node starts at `inc`.
    pub fn new(
        me: NodeId,
        inc: u64,
        others: Vec<NodeId>,
        now: Duration,
        rng: ChaCha8Rng,
        timing: SwimTiming,
    ) -> Self {
        let members = others
            .iter()
            .map(|id| {
                let m = Member {
                    state: Liveness::Alive,
                    incarnation: 0,
                    load: 0,
                    since: now,
                };
                (id.clone(), m)
            })
            .collect();
        let n = others.len() as f64 + 1.0;
        let retransmits = 3 * ((n + 1.0).log2().ceil() as u32).max(1);
        let mut m = Membership {
            me: me.clone(),
            inc,
            members,
            order: others,
            idx: 0,
            probe: None,
            next_probe: now,
            seq: 0,
            relays: BTreeMap::new(),
            gossip: BTreeMap::new(),
            suspicion: Suspicion::default(),
            rng,
            timing,
            retransmits,
            changes: Vec::new(),
        };
        m.order.shuffle(&mut m.rng);
        let alive = Update {
            id: me,
            state: Liveness::Alive,
            incarnation: inc,
        };
        m.enqueue(alive);
        m
    }

    pub fn incarnation(&self) -> u64 {
        self.inc
    }

    pub fn members(&self) -> &BTreeMap<NodeId, Member> {
        &self.members
    }

    /// The state this node believes `id` is in (itself: always alive).
    pub fn state_of(&self, id: &NodeId) -> Liveness {
        if *id == self.me {
            return Liveness::Alive;
        }
        self.members.get(id).map_or(Liveness::Dead, |m| m.state)
    }

    /// Members believed alive, itself included.
    pub fn alive(&self) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self
            .members
            .iter()
            .filter(|(_, m)| m.state == Liveness::Alive)
            .map(|(id, _)| id.clone())
            .collect();
        v.push(self.me.clone());
        v.sort();
        v
    }

    /// The less loaded of two random alive members (itself included, with `my_load`).
    pub fn pick_by_load(&mut self, my_load: u64) -> NodeId {
        let alive = self.alive();
        let a = alive.choose(&mut self.rng).expect("self is alive").clone();
        let b = alive.choose(&mut self.rng).expect("self is alive").clone();
        let load = |id: &NodeId| {
            if *id == self.me {
                my_load
            } else {
                self.members.get(id).map_or(u64::MAX, |m| m.load)
            }
        };
        if load(&b) < load(&a) {
            b
        } else {
            a
        }
    }

    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    fn enqueue(&mut self, u: Update) {
        self.gossip.insert(u.id.clone(), (u, self.retransmits));
    }

    /// Rumours to piggyback on a message to `to`; always tells a member we do not believe
    /// alive what we believe, so that it can refute.
    fn updates_for(&mut self, to: &NodeId) -> Vec<Update> {
        let mut out = Vec::new();
        if let Some(m) = self.members.get(to) {
            if m.state != Liveness::Alive {
                out.push(Update {
                    id: to.clone(),
                    state: m.state,
                    incarnation: m.incarnation,
                });
            }
        }
        let mut spent = Vec::new();
        for (id, (u, left)) in self.gossip.iter_mut() {
            if out.len() >= MAX_UPDATES {
                break;
            }
            if out.iter().any(|o| o.id == *id) {
                continue;
            }
            out.push(u.clone());
            *left -= 1;
            if *left == 0 {
                spent.push(id.clone());
            }
        }
        for id in spent {
            self.gossip.remove(&id);
        }
        out
    }

    fn set_state(&mut self, now: Duration, id: &NodeId, state: Liveness, inc: u64) {
        let Some(m) = self.members.get_mut(id) else {
            return;
        };
        let changed = m.state != state;
        m.state = state;
        m.incarnation = inc;
        if changed {
            m.since = now;
        }
        if changed {
            self.changes.push(Change {
                id: id.clone(),
                state,
                incarnation: inc,
            });
        }
        match state {
            Liveness::Suspect => self
                .suspicion
                .start(id, inc, now, self.timing.suspicion_timeout),
            _ => self.suspicion.cancel(id),
        }
        self.enqueue(Update {
            id: id.clone(),
            state,
            incarnation: inc,
        });
    }

    /// Applies one rumour (SWIM's precedence rules).
    pub fn apply(&mut self, now: Duration, u: &Update) {
        if u.id == self.me {
            if u.state != Liveness::Alive && u.incarnation >= self.inc {
                self.inc = u.incarnation + 1;
                let me = self.me.clone();
                self.enqueue(Update {
                    id: me,
                    state: Liveness::Alive,
                    incarnation: self.inc,
                });
            } else if u.incarnation > self.inc {
                self.inc = u.incarnation;
            }
            return;
        }
        let Some(m) = self.members.get(&u.id) else {
            return;
        };
        let (state, inc) = (m.state, m.incarnation);
        let take = match u.state {
            Liveness::Alive => u.incarnation > inc,
            Liveness::Suspect => {
                u.incarnation > inc || (u.incarnation == inc && state == Liveness::Alive)
            }
            Liveness::Dead => u.incarnation >= inc && state != Liveness::Dead,
        };
        if take {
            self.set_state(now, &u.id, u.state, u.incarnation);
        }
    }

    fn apply_all(&mut self, now: Duration, updates: &[Update]) {
        for u in updates {
            self.apply(now, u);
        }
    }

    /// Direct contact: record the sender's load and incarnation.
    fn heard_from(&mut self, now: Duration, from: &NodeId, inc: u64, load: u64) {
        let Some(m) = self.members.get_mut(from) else {
            return;
        };
        m.load = load;
        if inc > m.incarnation {
            self.set_state(now, from, Liveness::Alive, inc);
        }
    }

    /// Handles a membership message; ignores others.
    pub fn on_message(
        &mut self,
        now: Duration,
        from: &NodeId,
        msg: &PeerMsg,
        my_load: u64,
        out: &mut Vec<(NodeId, PeerMsg)>,
    ) {
        match msg {
            PeerMsg::Ping {
                seq,
                inc,
                load,
                updates,
            } => {
                self.apply_all(now, updates);
                self.heard_from(now, from, *inc, *load);
                let updates = self.updates_for(from);
                let ack = PeerMsg::Ack {
                    seq: *seq,
                    inc: self.inc,
                    load: my_load,
                    updates,
                };
                out.push((from.clone(), ack));
            }
            PeerMsg::Ack {
                seq,
                inc,
                load,
                updates,
            } => {
                self.apply_all(now, updates);
                self.heard_from(now, from, *inc, *load);
                if self.probe.as_ref().is_some_and(|p| p.seq == *seq) {
                    self.probe = None;
                }
                if let Some(r) = self.relays.remove(seq) {
                    let fwd = PeerMsg::IndirectAck {
                        seq: r.their_seq,
                        target: r.target,
                    };
                    out.push((r.requester, fwd));
                }
            }
            PeerMsg::PingReq {
                seq,
                target,
                updates,
            } => {
                self.apply_all(now, updates);
                self.seq += 1;
                let my_seq = self.seq;
                let ping = self.ping(target, my_seq, my_load);
                out.push((target.clone(), ping));
                let relay = Relay {
                    requester: from.clone(),
                    their_seq: *seq,
                    target: target.clone(),
                    until: now + self.timing.probe_period,
                };
                self.relays.insert(my_seq, relay);
            }
            PeerMsg::IndirectAck { seq, target }
                if self
                    .probe
                    .as_ref()
                    .is_some_and(|p| p.seq == *seq && p.target == *target) =>
            {
                self.probe = None;
            }
            _ => {}
        }
    }

    fn ping(&mut self, to: &NodeId, seq: u64, my_load: u64) -> PeerMsg {
        PeerMsg::Ping {
            seq,
            inc: self.inc,
            load: my_load,
            updates: self.updates_for(to),
        }
    }

    /// The earliest local time at which [`Membership::tick`] would change anything: a
    /// suspicion deadline, a relay's end, the probe's indirect or final timeout, or the next
    /// probe. A tick before it is a no-op (`node/tests.rs` checks this as a property).
    pub fn next_deadline(&self) -> Option<Duration> {
        let mut d = self.suspicion.next_deadline();
        let mut at = |t: Duration| d = Some(d.map_or(t, |x: Duration| x.min(t)));
        for r in self.relays.values() {
            at(r.until);
        }
        match &self.probe {
            Some(p) => {
                at(p.sent_at + self.timing.probe_period);
                if !p.indirect {
                    at(p.sent_at + self.timing.probe_timeout);
                }
            }
            None if !self.order.is_empty() => at(self.next_probe),
            None => {}
        }
        d
    }

    /// Advances probes and suspicion timers.
    pub fn tick(&mut self, now: Duration, my_load: u64, out: &mut Vec<(NodeId, PeerMsg)>) {
        for (id, inc) in self.suspicion.expired(now) {
            if self
                .members
                .get(&id)
                .is_some_and(|m| m.state == Liveness::Suspect && m.incarnation == inc)
            {
                self.set_state(now, &id, Liveness::Dead, inc);
            }
        }
        self.relays.retain(|_, r| r.until > now);
        self.advance_probe(now, out);
        if self.probe.is_none() && now >= self.next_probe && !self.order.is_empty() {
            self.next_probe = now + self.timing.probe_period;
            if self.idx >= self.order.len() {
                self.idx = 0;
                self.order.shuffle(&mut self.rng);
            }
            let target = self.order[self.idx].clone();
            self.idx += 1;
            self.seq += 1;
            let seq = self.seq;
            let ping = self.ping(&target, seq, my_load);
            out.push((target.clone(), ping));
            self.probe = Some(Probe {
                target,
                seq,
                sent_at: now,
                indirect: false,
            });
        }
    }

    fn advance_probe(&mut self, now: Duration, out: &mut Vec<(NodeId, PeerMsg)>) {
        let Some(p) = &self.probe else {
            return;
        };
        if now >= p.sent_at + self.timing.probe_period {
            let target = p.target.clone();
            self.probe = None;
            let m = &self.members[&target];
            if m.state == Liveness::Alive {
                let inc = m.incarnation;
                self.set_state(now, &target, Liveness::Suspect, inc);
            }
            return;
        }
        if !p.indirect && now >= p.sent_at + self.timing.probe_timeout {
            let (target, seq) = (p.target.clone(), p.seq);
            let mut helpers: Vec<NodeId> = self
                .members
                .iter()
                .filter(|(id, m)| **id != target && m.state == Liveness::Alive)
                .map(|(id, _)| id.clone())
                .collect();
            helpers.shuffle(&mut self.rng);
            helpers.truncate(self.timing.indirect_probes);
            for h in helpers {
                let updates = self.updates_for(&h);
                let req = PeerMsg::PingReq {
                    seq,
                    target: target.clone(),
                    updates,
                };
                out.push((h, req));
            }
            if let Some(p) = &mut self.probe {
                p.indirect = true;
            }
        }
    }
}

#[cfg(test)]
mod tests;
