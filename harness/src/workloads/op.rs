//! The planned ops of every workload, as data: what `plan.json` holds for each client op
//! (`{"at_ns": .., "f": "submit", "task": .., "work_ms": ..}`), and the checks a hand-edited
//! op gets. A workload's ops are a variant each here; the workload's own file plans and runs
//! them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::config::MAX_DURATION_MS;

/// One planned client operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedOp {
    /// Planned start, ns since the main phase began. A worker that is late starts it at once.
    pub at_ns: u64,
    /// What to do.
    #[serde(flatten)]
    pub op: ClientOp,
}

/// The arguments of a client operation. The `f` tag is the history's `f`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "kebab-case")]
pub enum ClientOp {
    /// Submit a task with a unique id.
    Submit {
        /// Task id, unique in the plan.
        task: String,
        /// How long the task runs.
        work_ms: u64,
    },
    /// Acquire a lock with a lease.
    Acquire {
        /// Lock name.
        lock: String,
        /// Lease TTL asked for.
        ttl_ms: u64,
    },
    /// Release the lock this worker's last ok acquire of it got (skipped when that acquire
    /// did not succeed).
    Release {
        /// Lock name.
        lock: String,
    },
    /// Read a register (register workload).
    Read {
        /// Register key.
        key: String,
    },
    /// Write a register.
    Write {
        /// Register key.
        key: String,
        /// The value written.
        value: u64,
    },
    /// Compare-and-set a register.
    Cas {
        /// Register key.
        key: String,
        /// Expected value.
        from: u64,
        /// New value.
        to: u64,
    },
}

impl ClientOp {
    /// The history's `f` of this op.
    pub fn f(&self) -> &'static str {
        match self {
            ClientOp::Submit { .. } => "submit",
            ClientOp::Acquire { .. } => "acquire",
            ClientOp::Release { .. } => "release",
            ClientOp::Read { .. } => "read",
            ClientOp::Write { .. } => "write",
            ClientOp::Cas { .. } => "cas",
        }
    }
}

/// One op's arguments.
pub fn validate_op(op: &ClientOp, tasks: &mut BTreeSet<String>) -> Result<(), String> {
    let name = match op {
        ClientOp::Submit { task, work_ms } => {
            if *work_ms > MAX_DURATION_MS {
                return Err(format!("work_ms {work_ms}; expected at most 24h"));
            }
            if !task.is_empty() && !tasks.insert(task.clone()) {
                return Err(format!("task {task} submitted twice"));
            }
            ("task", task)
        }
        ClientOp::Acquire { lock, ttl_ms } => {
            if !(1..=MAX_DURATION_MS).contains(ttl_ms) {
                return Err(format!(
                    "ttl_ms {ttl_ms}; expected at least 1 and at most 24h"
                ));
            }
            ("lock", lock)
        }
        ClientOp::Release { lock } => ("lock", lock),
        ClientOp::Read { key } | ClientOp::Write { key, .. } | ClientOp::Cas { key, .. } => {
            ("key", key)
        }
    };
    if name.1.is_empty() {
        return Err(format!("empty {}", name.0));
    }
    Ok(())
}
