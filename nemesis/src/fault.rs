//! Faults as data: what the plan schedules and the history records. Applying one is the
//! sandbox's job ([`crate::Sandbox::apply`]); this module only says what a fault *is*.

use std::fmt;

use serde::{Deserialize, Serialize};

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

/// One fault. JSON: `{"kind": "partition", "grudge": {"n1": ["n2"]}}`,
/// `{"kind": "kill", "nodes": ["n3"]}`, `{"kind": "pause", "nodes": ["n2"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl Fault {
    /// The nodes the fault names (for validation and logs).
    pub fn nodes(&self) -> Vec<NodeId> {
        match self {
            Fault::Partition { grudge } => grudge.nodes().into_iter().collect(),
            Fault::Kill { nodes } | Fault::Pause { nodes } => nodes.clone(),
        }
    }

    /// The name of the history event that starts this fault (`start-partition`, `kill`, `pause`).
    pub fn start_event(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "start-partition",
            Fault::Kill { .. } => "kill",
            Fault::Pause { .. } => "pause",
        }
    }

    /// The name of the history event that heals it (`stop-partition`, `restart`, `resume`).
    pub fn heal_event(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "stop-partition",
            Fault::Kill { .. } => "restart",
            Fault::Pause { .. } => "resume",
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

    /// An unknown kind is a clear error, not a panic or a silent default.
    #[test]
    fn unknown_kind_is_rejected() {
        let err = serde_json::from_str::<Fault>(r#"{"kind":"flood","nodes":[]}"#).unwrap_err();
        assert!(err.to_string().contains("flood"), "{err}");
    }
}
