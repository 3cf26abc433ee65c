//! Grudges: who drops whose packets. Pure functions of the node list and an RNG, as Jepsen's
//! `complete-grudge`, `bisect` and `majorities-ring` are, so a seed always gives the same cut.
//!
//! A [`Grudge`] maps a *receiver* to the set of *senders* whose packets it silently drops.
//! It is one-directional: `{n1: [n2]}` cuts n2 -> n1 only. (A TCP connection between them
//! still fails both ways, since its replies are lost; UDP shows the direction.)

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::fault::NodeId;

/// Receiver -> the senders whose packets it drops. JSON: `{"n1": ["n3", "n4"]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Grudge(pub BTreeMap<NodeId, BTreeSet<NodeId>>);

impl Grudge {
    /// Does `receiver` drop packets sent by `sender`?
    pub fn drops(&self, receiver: &NodeId, sender: &NodeId) -> bool {
        self.0.get(receiver).is_some_and(|s| s.contains(sender))
    }

    /// Every (sender, receiver) pair that is cut, in a stable order.
    pub fn cut_pairs(&self) -> BTreeSet<(NodeId, NodeId)> {
        let mut out = BTreeSet::new();
        for (receiver, senders) in &self.0 {
            for sender in senders {
                if sender != receiver {
                    out.insert((sender.clone(), receiver.clone()));
                }
            }
        }
        out
    }

    /// True when nothing is cut.
    pub fn is_empty(&self) -> bool {
        self.cut_pairs().is_empty()
    }

    /// Every node the grudge names, as receiver or sender.
    pub fn nodes(&self) -> BTreeSet<NodeId> {
        let mut out = BTreeSet::new();
        for (r, s) in &self.0 {
            out.insert(r.clone());
            out.extend(s.iter().cloned());
        }
        out
    }

    /// The union of two grudges: a pair is cut if either cuts it.
    pub fn union(&self, other: &Grudge) -> Grudge {
        let mut out = self.clone();
        for (r, s) in &other.0 {
            out.0
                .entry(r.clone())
                .or_default()
                .extend(s.iter().cloned());
        }
        out
    }

    /// The senders each node drops, keyed by *sender* instead: sender -> receivers it cannot
    /// reach. The route backend needs this view (it acts in the sender's namespace).
    pub fn by_sender(&self) -> BTreeMap<NodeId, BTreeSet<NodeId>> {
        let mut out: BTreeMap<NodeId, BTreeSet<NodeId>> = BTreeMap::new();
        for (sender, receiver) in self.cut_pairs() {
            out.entry(sender).or_default().insert(receiver);
        }
        out
    }
}

/// Every node in one component drops packets from every node in the others (Jepsen's
/// `complete-grudge`).
pub fn complete_grudge(components: &[Vec<NodeId>]) -> Grudge {
    let mut g = Grudge::default();
    for (i, comp) in components.iter().enumerate() {
        let others: BTreeSet<NodeId> = components
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, c)| c.iter().cloned())
            .collect();
        for n in comp {
            if !others.is_empty() {
                g.0.entry(n.clone())
                    .or_default()
                    .extend(others.iter().cloned());
            }
        }
    }
    g
}

/// Only the nodes of `receivers` drop packets from the nodes of `senders`; the other
/// direction still works.
pub fn one_way_grudge(receivers: &[NodeId], senders: &[NodeId]) -> Grudge {
    let mut g = Grudge::default();
    let s: BTreeSet<NodeId> = senders.iter().cloned().collect();
    for r in receivers {
        let from: BTreeSet<NodeId> = s.iter().filter(|x| *x != r).cloned().collect();
        if !from.is_empty() {
            g.0.insert(r.clone(), from);
        }
    }
    g
}

/// Splits the list into a smaller first half and a larger second half (Jepsen's `bisect`).
fn bisect(nodes: &[NodeId]) -> (Vec<NodeId>, Vec<NodeId>) {
    let mid = nodes.len() / 2;
    (nodes[..mid].to_vec(), nodes[mid..].to_vec())
}

fn shuffled(nodes: &[NodeId], rng: &mut impl Rng) -> Vec<NodeId> {
    let mut v = nodes.to_vec();
    v.shuffle(rng);
    v
}

/// One random node cut off from all others, both ways.
pub fn isolate_one(nodes: &[NodeId], rng: &mut impl Rng) -> Grudge {
    let Some(one) = nodes.choose(rng) else {
        return Grudge::default();
    };
    let rest: Vec<NodeId> = nodes.iter().filter(|n| *n != one).cloned().collect();
    complete_grudge(&[vec![one.clone()], rest])
}

/// The first `n/2` nodes (in list order) against the rest, both ways. Deterministic: the
/// RNG is not used, the argument is there so every grudge function has the same shape.
pub fn halves(nodes: &[NodeId], _rng: &mut impl Rng) -> Grudge {
    let (a, b) = bisect(nodes);
    complete_grudge(&[a, b])
}

/// A random minority against the majority, both ways.
pub fn random_halves(nodes: &[NodeId], rng: &mut impl Rng) -> Grudge {
    let (a, b) = bisect(&shuffled(nodes, rng));
    complete_grudge(&[a, b])
}

/// Jepsen's `majorities-ring`: nodes on a random ring; each sees the majority centred on
/// itself and drops the rest. Every node sees a majority, but no two see the same one.
pub fn majorities_ring(nodes: &[NodeId], rng: &mut impl Rng) -> Grudge {
    let ring = shuffled(nodes, rng);
    let n = ring.len();
    let m = n / 2 + 1;
    let mut g = Grudge::default();
    if n < 3 {
        return g;
    }
    let reach = (m - 1) / 2; // neighbours seen on each side
    let extra_right = (m - 1) % 2; // an even majority-1 takes one more on the right
    for (i, node) in ring.iter().enumerate() {
        let mut sees = BTreeSet::new();
        sees.insert(node.clone());
        for d in 1..=reach {
            sees.insert(ring[(i + d) % n].clone());
            sees.insert(ring[(i + n - d) % n].clone());
        }
        if extra_right == 1 {
            sees.insert(ring[(i + reach + 1) % n].clone());
        }
        let drops: BTreeSet<NodeId> = ring
            .iter()
            .filter(|x| !sees.contains(*x))
            .cloned()
            .collect();
        if !drops.is_empty() {
            g.0.insert(node.clone(), drops);
        }
    }
    g
}

/// Two halves that cannot talk, except through one bridge node that talks to both
/// (Jepsen's `bridge`). The bridge is the first node of the larger half of a random order.
pub fn bridge(nodes: &[NodeId], rng: &mut impl Rng) -> Grudge {
    let (a, b) = bisect(&shuffled(nodes, rng));
    let Some(bridge) = b.first().cloned() else {
        return Grudge::default();
    };
    let mut g = complete_grudge(&[a, b]);
    g.0.remove(&bridge);
    for s in g.0.values_mut() {
        s.remove(&bridge);
    }
    g.0.retain(|_, s| !s.is_empty());
    g
}

/// One-way isolation: a random node drops everything sent to it, but the others still
/// hear it (it can send, not receive).
pub fn one_way_isolate(nodes: &[NodeId], rng: &mut impl Rng) -> Grudge {
    let Some(one) = nodes.choose(rng) else {
        return Grudge::default();
    };
    let rest: Vec<NodeId> = nodes.iter().filter(|n| *n != one).cloned().collect();
    one_way_grudge(std::slice::from_ref(one), &rest)
}

/// One-way halves: a random minority drops the majority's packets; the majority still
/// receives from the minority.
pub fn one_way_halves(nodes: &[NodeId], rng: &mut impl Rng) -> Grudge {
    let (a, b) = bisect(&shuffled(nodes, rng));
    one_way_grudge(&a, &b)
}

/// The grudge functions by name, so a plan or a CLI flag can pick one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GrudgeKind {
    /// [`isolate_one`]
    IsolateOne,
    /// [`halves`]
    Halves,
    /// [`random_halves`]
    RandomHalves,
    /// [`majorities_ring`]
    MajoritiesRing,
    /// [`bridge`]
    Bridge,
    /// [`one_way_isolate`]
    OneWayIsolate,
    /// [`one_way_halves`]
    OneWayHalves,
}

impl GrudgeKind {
    /// Every kind, in a stable order.
    pub const ALL: [GrudgeKind; 7] = [
        GrudgeKind::IsolateOne,
        GrudgeKind::Halves,
        GrudgeKind::RandomHalves,
        GrudgeKind::MajoritiesRing,
        GrudgeKind::Bridge,
        GrudgeKind::OneWayIsolate,
        GrudgeKind::OneWayHalves,
    ];

    /// The kebab-case name (`isolate-one`, `majorities-ring`, ...).
    pub fn name(self) -> &'static str {
        match self {
            GrudgeKind::IsolateOne => "isolate-one",
            GrudgeKind::Halves => "halves",
            GrudgeKind::RandomHalves => "random-halves",
            GrudgeKind::MajoritiesRing => "majorities-ring",
            GrudgeKind::Bridge => "bridge",
            GrudgeKind::OneWayIsolate => "one-way-isolate",
            GrudgeKind::OneWayHalves => "one-way-halves",
        }
    }

    /// Computes the grudge of this kind.
    pub fn generate(self, nodes: &[NodeId], rng: &mut impl Rng) -> Grudge {
        match self {
            GrudgeKind::IsolateOne => isolate_one(nodes, rng),
            GrudgeKind::Halves => halves(nodes, rng),
            GrudgeKind::RandomHalves => random_halves(nodes, rng),
            GrudgeKind::MajoritiesRing => majorities_ring(nodes, rng),
            GrudgeKind::Bridge => bridge(nodes, rng),
            GrudgeKind::OneWayIsolate => one_way_isolate(nodes, rng),
            GrudgeKind::OneWayHalves => one_way_halves(nodes, rng),
        }
    }
}

impl fmt::Display for GrudgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GrudgeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GrudgeKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = GrudgeKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown grudge {s:?}; expected one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn nodes(n: usize) -> Vec<NodeId> {
        NodeId::cluster(n)
    }

    /// Nodes reachable from `a` in one hop, both directions open.
    fn talks_both_ways(g: &Grudge, a: &NodeId, b: &NodeId) -> bool {
        !g.drops(a, b) && !g.drops(b, a)
    }

    #[test]
    fn complete_grudge_cuts_exactly_across_components() {
        let n = nodes(5);
        let g = complete_grudge(&[n[..2].to_vec(), n[2..].to_vec()]);
        for a in &n {
            for b in &n {
                let across = (a.0 < "n3".into()) != (b.0 < "n3".into());
                assert_eq!(g.drops(a, b), across, "{a} drops {b}?");
            }
        }
    }

    #[test]
    fn isolate_one_cuts_one_node_both_ways() {
        for seed in 0..20u64 {
            let n = nodes(5);
            let g = isolate_one(&n, &mut ChaCha8Rng::seed_from_u64(seed));
            assert_eq!(g.cut_pairs().len(), 8, "seed {seed}: {g:?}");
            let isolated: Vec<&NodeId> = n
                .iter()
                .filter(|a| n.iter().all(|b| *a == b || !talks_both_ways(&g, a, b)))
                .collect();
            assert_eq!(isolated.len(), 1, "seed {seed}: {g:?}");
        }
    }

    #[test]
    fn halves_is_deterministic_minority_first() {
        let n = nodes(5);
        let g = halves(&n, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(g, complete_grudge(&[n[..2].to_vec(), n[2..].to_vec()]));
        assert_eq!(g, halves(&n, &mut ChaCha8Rng::seed_from_u64(99)));
    }

    #[test]
    fn random_halves_is_a_bipartition_and_seeded() {
        let n = nodes(5);
        for seed in 0..20u64 {
            let g = random_halves(&n, &mut ChaCha8Rng::seed_from_u64(seed));
            assert_eq!(g, random_halves(&n, &mut ChaCha8Rng::seed_from_u64(seed)));
            // 2 x 3 nodes, both directions: 12 cut pairs, symmetric.
            assert_eq!(g.cut_pairs().len(), 12, "seed {seed}");
            for (s, r) in g.cut_pairs() {
                assert!(g.drops(&s, &r), "seed {seed}: not symmetric");
            }
        }
    }

    #[test]
    fn majorities_ring_every_node_sees_a_distinct_majority() {
        for size in [3usize, 4, 5, 6, 7] {
            for seed in 0..10u64 {
                let n = nodes(size);
                let g = majorities_ring(&n, &mut ChaCha8Rng::seed_from_u64(seed));
                let mut seen = BTreeSet::new();
                for a in &n {
                    let sees: BTreeSet<&NodeId> = n.iter().filter(|b| !g.drops(a, b)).collect();
                    assert_eq!(sees.len(), size / 2 + 1, "size {size} seed {seed}");
                    seen.insert(sees);
                }
                if size >= 4 {
                    assert_eq!(seen.len(), size, "size {size} seed {seed}: views repeat");
                }
            }
        }
    }

    #[test]
    fn bridge_node_talks_to_all_halves_do_not() {
        let n = nodes(5);
        for seed in 0..20u64 {
            let g = bridge(&n, &mut ChaCha8Rng::seed_from_u64(seed));
            let bridges: Vec<&NodeId> = n
                .iter()
                .filter(|a| n.iter().all(|b| talks_both_ways(&g, a, b)))
                .collect();
            assert_eq!(bridges.len(), 1, "seed {seed}: {g:?}");
            // Without the bridge: 2 + 2 nodes cut both ways = 8 pairs.
            assert_eq!(g.cut_pairs().len(), 8, "seed {seed}: {g:?}");
        }
    }

    #[test]
    fn one_way_variants_cut_one_direction_only() {
        let n = nodes(5);
        for seed in 0..20u64 {
            let g = one_way_isolate(&n, &mut ChaCha8Rng::seed_from_u64(seed));
            assert_eq!(g.cut_pairs().len(), 4, "seed {seed}");
            for (s, r) in g.cut_pairs() {
                assert!(!g.drops(&s, &r), "seed {seed}: {s}<->{r} cut both ways");
            }
            let h = one_way_halves(&n, &mut ChaCha8Rng::seed_from_u64(seed));
            assert_eq!(h.cut_pairs().len(), 6, "seed {seed}");
            for (s, r) in h.cut_pairs() {
                assert!(!h.drops(&s, &r), "seed {seed}: {s}<->{r} cut both ways");
            }
        }
    }

    #[test]
    fn union_and_by_sender_views_agree() {
        let n = nodes(5);
        let a = one_way_grudge(&n[..1], &n[1..2]);
        let b = one_way_grudge(&n[2..3], &n[1..2]);
        let u = a.union(&b);
        assert!(u.drops(&n[0], &n[1]) && u.drops(&n[2], &n[1]));
        let bs = u.by_sender();
        assert_eq!(bs.len(), 1);
        assert_eq!(bs[&n[1]], BTreeSet::from([n[0].clone(), n[2].clone()]));
    }

    #[test]
    fn kinds_round_trip_by_name() {
        for k in GrudgeKind::ALL {
            assert_eq!(k.name().parse::<GrudgeKind>().unwrap(), k);
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name()));
        }
        let err = "flood".parse::<GrudgeKind>().unwrap_err();
        assert!(
            err.contains("flood") && err.contains("isolate-one"),
            "{err}"
        );
    }

    #[test]
    fn tiny_clusters_do_not_panic() {
        for size in 0..3 {
            let n = nodes(size);
            for k in GrudgeKind::ALL {
                let _ = k.generate(&n, &mut ChaCha8Rng::seed_from_u64(0));
            }
        }
    }
}
