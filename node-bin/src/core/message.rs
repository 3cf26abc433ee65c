//! Identifiers, register values and the peer-to-peer messages.
//!
//! Everything here is plain data (serde), shared by the pure core and the shell that puts it
//! on the wire. Registers are keyed by strings: `l/<name>` for locks, `t/<id>` for tasks.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A member of the configured cluster ("n1".."nN").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        NodeId(s.to_string())
    }
}

/// A register key (`l/<lock>` or `t/<task>`).
pub type Key = String;

/// Key of the register that holds lock `name`.
pub fn lock_key(name: &str) -> Key {
    format!("l/{name}")
}

/// Key of the register that holds task `id`.
pub fn task_key(id: &str) -> Key {
    format!("t/{id}")
}

/// A CASPaxos ballot. Unique per proposer: `node` breaks ties between nodes and `gen` (the
/// node's boot generation, persisted in its data dir) keeps a restarted node from reusing
/// a ballot of its previous life. Ordered by (round, node, gen).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Ballot {
    pub round: u64,
    pub node: NodeId,
    pub gen: u64,
}

impl Ballot {
    /// The pre-agreed ballot of the one-round-trip create path: acceptors accept it only for a
    /// register that has never promised anything, and every proposer sends the same value for a
    /// given key at this ballot (see `tasks::fresh_task`).
    pub fn zero() -> Ballot {
        Ballot::default()
    }
}

/// Identifies one client operation, so a retried proposal recognises its own earlier write.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OpId {
    pub node: NodeId,
    pub gen: u64,
    pub seq: u64,
}

/// State of a lock register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockVal {
    /// The client holding the lock, `None` when released.
    pub holder: Option<String>,
    /// Fencing token of the latest grant; grows by one with every grant.
    pub token: u64,
    /// Lease of the latest grant.
    pub ttl_ms: u64,
    /// The operation that wrote this value (grant or release).
    pub op: Option<OpId>,
}

/// Life cycle of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Pending,
    Running,
    Done,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Done => "done",
        }
    }
}

/// State of a task register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskVal {
    pub work_ms: u64,
    pub state: TaskState,
    /// How many times the task was claimed to run.
    pub runs: u32,
    /// The node that holds (or last held) the claim.
    pub owner: Option<NodeId>,
    /// Claim epoch: grows with every claim and renewal, so a stale holder's renewal fails.
    pub claim: u64,
}

/// A register value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum Value {
    Lock(LockVal),
    Task(TaskVal),
    /// A key-value register (`k/<key>`, see [`super::kv`]).
    Kv(super::kv::KvVal),
}

/// What an acceptor has accepted for a key, as reported in a promise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub ballot: Ballot,
    pub value: Value,
    /// The acceptor's own monotonic elapsed time since it first accepted this value.
    pub age_ms: u64,
}

/// Liveness as SWIM sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Liveness {
    Alive,
    Suspect,
    Dead,
}

impl Liveness {
    pub fn as_str(self) -> &'static str {
        match self {
            Liveness::Alive => "alive",
            Liveness::Suspect => "suspect",
            Liveness::Dead => "dead",
        }
    }
}

/// A membership rumour piggybacked on probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    pub id: NodeId,
    pub state: Liveness,
    pub incarnation: u64,
}

/// Messages between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "m", rename_all = "snake_case")]
pub enum PeerMsg {
    Prepare {
        key: Key,
        ballot: Ballot,
        pid: u64,
    },
    Promise {
        key: Key,
        ballot: Ballot,
        pid: u64,
        ok: bool,
        /// The acceptor's promised ballot (tells a rejected proposer how high to go).
        promised: Ballot,
        accepted: Option<Accepted>,
    },
    Accept {
        key: Key,
        ballot: Ballot,
        pid: u64,
        value: Value,
    },
    Accepted {
        key: Key,
        ballot: Ballot,
        pid: u64,
        ok: bool,
        promised: Ballot,
    },
    /// SWIM direct probe. `inc` and `load` are the sender's own.
    Ping {
        seq: u64,
        inc: u64,
        load: u64,
        updates: Vec<Update>,
    },
    /// Answer to a ping (direct, or forwarded for an indirect probe).
    Ack {
        seq: u64,
        inc: u64,
        load: u64,
        updates: Vec<Update>,
    },
    /// Ask the receiver to probe `target` and forward the ack.
    PingReq {
        seq: u64,
        target: NodeId,
        updates: Vec<Update>,
    },
    /// Forwarded ack of an indirect probe of `target`.
    IndirectAck {
        seq: u64,
        target: NodeId,
    },
    /// "Please claim and run this task" (a hint; losing it only delays the task).
    Assign {
        id: String,
    },
}

/// A batch of messages from one node to another (one datagram).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub from: NodeId,
    pub to: NodeId,
    pub msgs: Vec<PeerMsg>,
}
