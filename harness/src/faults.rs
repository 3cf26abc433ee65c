//! The fault vocabulary the plan uses. TEMPORARY: mirrors the agreed `nemesis` types
//! (interfaces.md) until the nemesis crate publishes them; then this file re-exports them.

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A node's id, `n1`..`nN`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// node -> the nodes whose packets it drops (one direction).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Grudge(pub BTreeMap<NodeId, BTreeSet<NodeId>>);

/// A fault, as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    /// Drop packets per the grudge.
    Partition {
        /// Who drops whom.
        grudge: Grudge,
    },
    /// SIGKILL these nodes (healed by restart).
    Kill {
        /// The victims.
        nodes: Vec<NodeId>,
    },
    /// SIGSTOP these nodes (healed by SIGCONT).
    Pause {
        /// The victims.
        nodes: Vec<NodeId>,
    },
}

/// Grudge constructors: pure functions of the node list and an RNG.
pub mod grudge {
    use super::*;

    fn complete(sides: &[Vec<NodeId>]) -> Grudge {
        let mut g = Grudge::default();
        for (i, side) in sides.iter().enumerate() {
            for n in side {
                let others: BTreeSet<NodeId> = sides
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .flat_map(|(_, s)| s.iter().cloned())
                    .collect();
                if !others.is_empty() {
                    g.0.insert(n.clone(), others);
                }
            }
        }
        g
    }

    /// One random node cut off from all others.
    pub fn isolate_one(nodes: &[NodeId], rng: &mut impl Rng) -> Grudge {
        let i = rng.gen_range(0..nodes.len());
        let rest: Vec<NodeId> = nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, n)| n.clone())
            .collect();
        complete(&[vec![nodes[i].clone()], rest])
    }

    /// A random minority cut off from the majority.
    pub fn random_halves(nodes: &[NodeId], rng: &mut impl Rng) -> Grudge {
        let mut shuffled = nodes.to_vec();
        shuffled.shuffle(rng);
        let (a, b) = shuffled.split_at(nodes.len() / 2);
        complete(&[a.to_vec(), b.to_vec()])
    }
}
