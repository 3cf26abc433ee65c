//! Faults as data: what the plan schedules and the history records. Applying one is the
//! sandbox's job ([`crate::Sandbox::apply`]); this module only says what a fault *is*.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::grudge::Grudge;

/// A node's name, `"n1"`..`"nN"` by convention. Serialized as a plain string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl NodeId {
    /// The conventional names `n1`..`nN` for an `n`-node cluster.
    pub fn cluster(n: usize) -> Vec<NodeId> {
        (1..=n).map(|i| NodeId(format!("n{i}"))).collect()
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        NodeId(s.to_owned())
    }
}

/// A directed link between two nodes: packets `from` → `to`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    /// The sender.
    pub from: NodeId,
    /// The receiver (whose namespace drops the packets).
    pub to: NodeId,
}

impl Link {
    /// The link `from` → `to`.
    pub fn new(from: impl Into<NodeId>, to: impl Into<NodeId>) -> Self {
        Link {
            from: from.into(),
            to: to.into(),
        }
    }
}

impl From<&str> for Link {
    /// `"n1->n2"`; anything else becomes a link whose `to` is empty (rejected by validation).
    fn from(s: &str) -> Self {
        let (a, b) = s.split_once("->").unwrap_or((s, ""));
        Link::new(NodeId::from(a), NodeId::from(b))
    }
}

/// The largest clock offset a fault may plan (either direction): 10 years, far beyond the
/// "milliseconds to hours" the faults are for, and far inside what `time_t` and
/// libfaketime's parser hold.
pub const MAX_CLOCK_OFFSET_MS: i64 = 10 * 365 * 24 * 3_600_000;

/// The clock rates a drift may plan: a node's clock runs at `rate` × real speed.
pub const CLOCK_RATE_RANGE: (f64, f64) = (0.001, 1000.0);

/// One fault. JSON: `{"kind": "partition", "grudge": {"n1": ["n2"]}}`,
/// `{"kind": "kill", "nodes": ["n3"]}`, `{"kind": "pause", "nodes": ["n2"]}`,
/// `{"kind": "loss", "links": [{"from": "n1", "to": "n2"}], "probability": 0.3}`,
/// `{"kind": "slow", "nodes": ["n1"], "rate_kbit": 8000, "burst_bytes": 32768, "latency_ms": 50}`,
/// `{"kind": "clock-bump", "nodes": ["n1"], "offset_ms": -5000}`, ... (see each variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    /// Silently drop packets per the grudge (receiver -> the senders it drops).
    Partition {
        /// Who drops whose packets.
        grudge: Grudge,
    },
    /// SIGKILL the nodes' processes; healing restarts them on the same data dir.
    Kill {
        /// The nodes to kill.
        nodes: Vec<NodeId>,
    },
    /// SIGSTOP the nodes' processes; healing sends SIGCONT.
    Pause {
        /// The nodes to pause.
        nodes: Vec<NodeId>,
    },
    /// Drop each packet on the directed links with `probability` (iptables `statistic` in
    /// the receiver's namespace). Two loss faults on one link compound: 1 - (1-p)(1-q).
    Loss {
        /// The directed links that lose packets.
        links: Vec<Link>,
        /// The chance that one packet is dropped, in [0, 1].
        probability: f64,
    },
    /// Rate-limit the nodes' egress (`tc tbf` on their `eth0`). With two slow faults on one
    /// node the slower rate is in force.
    Slow {
        /// The nodes whose sending is limited.
        nodes: Vec<NodeId>,
        /// The rate, kbit/s (1000 bit/s), at least 1.
        rate_kbit: u64,
        /// The bucket size in bytes (what may leave at line speed), at least 1600.
        burst_bytes: u64,
        /// How long a packet may wait in the queue before it is dropped, ms, at least 1.
        latency_ms: u64,
    },
    /// Delay, duplicate or reorder the nodes' egress with `tc netem`. Only where the
    /// kernel has `sch_netem` ([`crate::Sandbox::netem_available`]); otherwise applying it
    /// is [`Error::NetemUnavailable`].
    Netem {
        /// The nodes whose sending is disturbed.
        nodes: Vec<NodeId>,
        /// Added delay, ms.
        delay_ms: u64,
        /// Chance that a packet is duplicated, in [0, 1].
        duplicate: f64,
        /// Chance that a packet is sent at once, ahead of delayed ones, in [0, 1].
        reorder: f64,
    },
    /// Jump the nodes' wall clock (CLOCK_REALTIME) by `offset_ms` (+ ahead, - back). Needs
    /// a sandbox with [`crate::SandboxConfig::clock_faults`]. Bumps on one node add up.
    ClockBump {
        /// The nodes whose clock jumps.
        nodes: Vec<NodeId>,
        /// The jump, ms, within ±[`MAX_CLOCK_OFFSET_MS`].
        offset_ms: i64,
    },
    /// Flip the nodes' wall clock between two offsets every `period_ms` for `duration_ms`
    /// (then it rests at offset 0 until healed).
    ClockStrobe {
        /// The nodes whose clock strobes.
        nodes: Vec<NodeId>,
        /// The first offset, ms.
        a_ms: i64,
        /// The second offset, ms.
        b_ms: i64,
        /// Time between flips, ms, at least 1.
        period_ms: u64,
        /// How long to strobe, ms.
        duration_ms: u64,
    },
    /// Make the nodes' wall clock run at `rate` × real speed (libfaketime's `x` syntax):
    /// elapsed wall time inside a process, measured from the moment the process started,
    /// is scaled. The monotonic clock is untouched.
    ClockDrift {
        /// The nodes whose clock drifts.
        nodes: Vec<NodeId>,
        /// The speed, e.g. 1.01; within [`CLOCK_RATE_RANGE`].
        rate: f64,
    },
}

/// A probability field: in [0, 1] and not NaN.
fn check_probability(kind: &'static str, field: &'static str, p: f64) -> Result<()> {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return Err(Error::BadFault {
            kind,
            field,
            detail: format!("{p} is not a probability in [0, 1]"),
        });
    }
    Ok(())
}

fn check_offset(kind: &'static str, field: &'static str, ms: i64) -> Result<()> {
    if ms.unsigned_abs() > MAX_CLOCK_OFFSET_MS.unsigned_abs() {
        return Err(Error::BadFault {
            kind,
            field,
            detail: format!(
                "{ms} ms is beyond the largest clock offset, ±{MAX_CLOCK_OFFSET_MS} ms (10 years)"
            ),
        });
    }
    Ok(())
}

fn check_min(kind: &'static str, field: &'static str, v: u64, min: u64) -> Result<()> {
    if v < min {
        return Err(Error::BadFault {
            kind,
            field,
            detail: format!("{v} is below the minimum, {min}"),
        });
    }
    Ok(())
}

impl Fault {
    /// The nodes the fault names (for validation and logs).
    pub fn nodes(&self) -> Vec<NodeId> {
        match self {
            Fault::Partition { grudge } => grudge.nodes().into_iter().collect(),
            Fault::Kill { nodes }
            | Fault::Pause { nodes }
            | Fault::Slow { nodes, .. }
            | Fault::Netem { nodes, .. }
            | Fault::ClockBump { nodes, .. }
            | Fault::ClockStrobe { nodes, .. }
            | Fault::ClockDrift { nodes, .. } => nodes.clone(),
            Fault::Loss { links, .. } => {
                let set: std::collections::BTreeSet<NodeId> = links
                    .iter()
                    .flat_map(|l| [l.from.clone(), l.to.clone()])
                    .collect();
                set.into_iter().collect()
            }
        }
    }

    /// The kind as it appears in JSON (`"loss"`, `"clock-bump"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::Kill { .. } => "kill",
            Fault::Pause { .. } => "pause",
            Fault::Loss { .. } => "loss",
            Fault::Slow { .. } => "slow",
            Fault::Netem { .. } => "netem",
            Fault::ClockBump { .. } => "clock-bump",
            Fault::ClockStrobe { .. } => "clock-strobe",
            Fault::ClockDrift { .. } => "clock-drift",
        }
    }

    /// Checks the fault against the sandbox's nodes before anything is touched: every node
    /// known, no link from a node to itself, probabilities in [0, 1], offsets and rates in
    /// range. The error names the kind and the field.
    pub fn validate(&self, known: &[NodeId]) -> Result<()> {
        let kind = self.kind();
        let check_nodes = |field: &'static str, nodes: &[&NodeId]| -> Result<()> {
            if nodes.is_empty() {
                return Err(Error::BadFault {
                    kind,
                    field,
                    detail: "names no node".into(),
                });
            }
            for n in nodes {
                if !known.contains(n) {
                    return Err(Error::BadFault {
                        kind,
                        field,
                        detail: format!(
                            "node \"{n}\" is not in the sandbox ({})",
                            known
                                .iter()
                                .map(NodeId::as_str)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                }
            }
            Ok(())
        };
        match self {
            Fault::Partition { .. } | Fault::Kill { .. } | Fault::Pause { .. } => Ok(()),
            Fault::Loss { links, probability } => {
                let ends: Vec<&NodeId> = links.iter().flat_map(|l| [&l.from, &l.to]).collect();
                check_nodes("links", &ends)?;
                if let Some(l) = links.iter().find(|l| l.from == l.to) {
                    return Err(Error::BadFault {
                        kind,
                        field: "links",
                        detail: format!("{} -> {} links a node with itself", l.from, l.to),
                    });
                }
                check_probability(kind, "probability", *probability)
            }
            Fault::Slow {
                nodes,
                rate_kbit,
                burst_bytes,
                latency_ms,
            } => {
                check_nodes("nodes", &nodes.iter().collect::<Vec<_>>())?;
                check_min(kind, "rate_kbit", *rate_kbit, 1)?;
                check_min(kind, "burst_bytes", *burst_bytes, 1600)?;
                check_min(kind, "latency_ms", *latency_ms, 1)
            }
            Fault::Netem {
                nodes,
                duplicate,
                reorder,
                ..
            } => {
                check_nodes("nodes", &nodes.iter().collect::<Vec<_>>())?;
                check_probability(kind, "duplicate", *duplicate)?;
                check_probability(kind, "reorder", *reorder)
            }
            Fault::ClockBump { nodes, offset_ms } => {
                check_nodes("nodes", &nodes.iter().collect::<Vec<_>>())?;
                check_offset(kind, "offset_ms", *offset_ms)
            }
            Fault::ClockStrobe {
                nodes,
                a_ms,
                b_ms,
                period_ms,
                ..
            } => {
                check_nodes("nodes", &nodes.iter().collect::<Vec<_>>())?;
                check_offset(kind, "a_ms", *a_ms)?;
                check_offset(kind, "b_ms", *b_ms)?;
                check_min(kind, "period_ms", *period_ms, 1)
            }
            Fault::ClockDrift { nodes, rate } => {
                check_nodes("nodes", &nodes.iter().collect::<Vec<_>>())?;
                let (lo, hi) = CLOCK_RATE_RANGE;
                if rate.is_nan() || !(lo..=hi).contains(rate) {
                    return Err(Error::BadFault {
                        kind,
                        field: "rate",
                        detail: format!("{rate} is outside [{lo}, {hi}]"),
                    });
                }
                Ok(())
            }
        }
    }

    /// The name of the history event that starts this fault (`start-partition`, `kill`, `pause`).
    pub fn start_event(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "start-partition",
            Fault::Kill { .. } => "kill",
            Fault::Pause { .. } => "pause",
            Fault::Loss { .. } => "start-loss",
            Fault::Slow { .. } => "start-slow",
            Fault::Netem { .. } => "start-netem",
            Fault::ClockBump { .. } => "clock-bump",
            Fault::ClockStrobe { .. } => "start-clock-strobe",
            Fault::ClockDrift { .. } => "start-clock-drift",
        }
    }

    /// The name of the history event that heals it (`stop-partition`, `restart`, `resume`).
    pub fn heal_event(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "stop-partition",
            Fault::Kill { .. } => "restart",
            Fault::Pause { .. } => "resume",
            Fault::Loss { .. } => "stop-loss",
            Fault::Slow { .. } => "stop-slow",
            Fault::Netem { .. } => "stop-netem",
            Fault::ClockBump { .. } => "clock-reset",
            Fault::ClockStrobe { .. } => "stop-clock-strobe",
            Fault::ClockDrift { .. } => "stop-clock-drift",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "{self:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// The JSON shape is the contract with the plan and history: it must not drift.
    #[test]
    fn fault_json_shape_is_tagged_kebab_case() {
        let mut g = BTreeMap::new();
        g.insert(NodeId::from("n1"), BTreeSet::from([NodeId::from("n2")]));
        let p = Fault::Partition { grudge: Grudge(g) };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"kind":"partition","grudge":{"n1":["n2"]}}"#
        );
        let k = Fault::Kill {
            nodes: vec!["n3".into()],
        };
        assert_eq!(
            serde_json::to_string(&k).unwrap(),
            r#"{"kind":"kill","nodes":["n3"]}"#
        );
        let back: Fault = serde_json::from_str(r#"{"kind":"pause","nodes":["n2"]}"#).unwrap();
        assert_eq!(
            back,
            Fault::Pause {
                nodes: vec!["n2".into()]
            }
        );
        assert_eq!(back.start_event(), "pause");
        assert_eq!(p.heal_event(), "stop-partition");
    }

    /// The new kinds keep the kebab-case tag, and each bad field is named.
    #[test]
    fn new_kinds_serialize_and_bad_fields_are_named() {
        let nodes = NodeId::cluster(3);
        let loss = Fault::Loss {
            links: vec![Link::from("n1->n2")],
            probability: 0.25,
        };
        assert_eq!(
            serde_json::to_string(&loss).unwrap(),
            r#"{"kind":"loss","links":[{"from":"n1","to":"n2"}],"probability":0.25}"#
        );
        loss.validate(&nodes).unwrap();
        let bump: Fault =
            serde_json::from_str(r#"{"kind":"clock-bump","nodes":["n2"],"offset_ms":-5000}"#)
                .unwrap();
        assert_eq!(bump.kind(), "clock-bump");
        bump.validate(&nodes).unwrap();
        let bad = |f: Fault, field: &str, what: &str| {
            let e = f.validate(&nodes).unwrap_err();
            let s = e.to_string();
            assert!(matches!(e, Error::BadFault { .. }), "{s}");
            assert!(s.contains(&format!("`{field}`")) && s.contains(what), "{s}");
        };
        for p in [1.5, -0.1, f64::NAN] {
            bad(
                Fault::Loss {
                    links: vec![Link::from("n1->n2")],
                    probability: p,
                },
                "probability",
                "[0, 1]",
            );
        }
        bad(
            Fault::Loss {
                links: vec![Link::from("n1->n9")],
                probability: 0.5,
            },
            "links",
            "\"n9\"",
        );
        bad(
            Fault::Loss {
                links: vec![Link::from("n2->n2")],
                probability: 0.5,
            },
            "links",
            "itself",
        );
        bad(
            Fault::ClockBump {
                nodes: vec!["n1".into()],
                offset_ms: i64::MIN,
            },
            "offset_ms",
            "10 years",
        );
        bad(
            Fault::ClockDrift {
                nodes: vec!["n1".into()],
                rate: 0.0,
            },
            "rate",
            "outside",
        );
        bad(
            Fault::Slow {
                nodes: vec!["n1".into()],
                rate_kbit: 0,
                burst_bytes: 4096,
                latency_ms: 10,
            },
            "rate_kbit",
            "minimum",
        );
        bad(
            Fault::Netem {
                nodes: vec!["n1".into()],
                delay_ms: 5,
                duplicate: 2.0,
                reorder: 0.0,
            },
            "duplicate",
            "[0, 1]",
        );
    }

    /// An unknown kind is a clear error, not a panic or a silent default.
    #[test]
    fn unknown_kind_is_rejected() {
        let err = serde_json::from_str::<Fault>(r#"{"kind":"flood","nodes":[]}"#).unwrap_err();
        assert!(err.to_string().contains("flood"), "{err}");
    }
}
