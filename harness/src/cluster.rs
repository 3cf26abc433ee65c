//! The seam between the harness and the system under test, as Jepsen's `db` and `client`
//! protocols are.
//!
//! - [`Cluster`] runs the system's nodes in the sandbox: start, stop, kill, pause, resume,
//!   restart a node, apply a fault, say when the cluster is ready, where each node logs and
//!   where its clients connect.
//! - [`TasksClient`] and [`LocksClient`] turn the workloads' planned ops into requests and
//!   the responses into [`Reply`]: ok, fail (certainly did not happen) or info (unknown).
//!
//! `gauntlet-node` is the first implementation ([`crate::systems::gauntlet_node`]). Another
//! system is one module implementing [`Cluster`] plus its clients, registered in
//! [`crate::systems::open`]; the plan, the nemesis and the checkers do not change.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use nemesis::{Fault, FaultGuard, NodeId};

/// A boxed future, so the client traits stay object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a request came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply<T> {
    /// It happened; with what the response said.
    Ok(T),
    /// It certainly did not happen (refused before sending, or a definite error).
    Fail(String),
    /// It may or may not have happened (timeout after sending, indefinite error).
    Info(String),
}

/// The system's nodes inside the sandbox (Jepsen's `db`). Blocking methods: call them from
/// a plain thread or `spawn_blocking`.
pub trait Cluster: Send + Sync {
    /// The system's name, for logs and `test.json`.
    fn name(&self) -> &str;
    /// The nodes, `n1..nN`.
    fn nodes(&self) -> &[NodeId];
    /// Starts the node's process (first start).
    fn start(&self, node: &NodeId) -> anyhow::Result<()>;
    /// Stops the node gracefully (SIGTERM, then SIGKILL after a grace period).
    fn stop(&self, node: &NodeId) -> anyhow::Result<()>;
    /// SIGKILLs the node; returns when it is gone.
    fn kill(&self, node: &NodeId) -> anyhow::Result<Instant>;
    /// SIGSTOPs the node; returns when it is stopped.
    fn pause(&self, node: &NodeId) -> anyhow::Result<Instant>;
    /// SIGCONTs the node; returns when it runs again.
    fn resume(&self, node: &NodeId) -> anyhow::Result<Instant>;
    /// Starts the node again on the same data after a kill.
    fn restart(&self, node: &NodeId) -> anyhow::Result<()>;
    /// Applies a fault, verified; the guard says when it took effect and heals it.
    fn apply(&self, fault: &Fault) -> anyhow::Result<FaultGuard>;
    /// Heals every fault (restarts killed nodes, resumes paused ones, repairs the network).
    fn heal_all(&self) -> anyhow::Result<Instant>;
    /// The node's log files.
    fn log_files(&self, node: &NodeId) -> Vec<PathBuf>;
    /// Where the node's clients connect.
    fn client_addr(&self, node: &NodeId) -> SocketAddr;
    /// `Ok` once the node serves clients and sees every configured member alive;
    /// otherwise why not.
    fn ready<'a>(&'a self, node: &'a NodeId) -> BoxFuture<'a, Result<(), String>>;
    /// `Some` when the node's process exited on its own (not by a fault or teardown): how,
    /// and the last lines of its output. The run checks this while it waits for the cluster
    /// to become ready, so a node that cannot start stops the run at once, saying why.
    fn exited(&self, _node: &NodeId) -> Option<NodeExit> {
        None
    }
    /// How long a healthy cluster (every node ready) may take to finish any acknowledged
    /// task, failover included: a task still not done after the cluster was healthy this
    /// long is a liveness failure (`not-done`); before, it is only `unfinished`. `None` (the
    /// default) promises nothing, so only a recovery wait that saw every task done can prove
    /// a task not done.
    fn task_liveness(&self) -> Option<std::time::Duration> {
        None
    }
    /// The node's wall clock minus the controller's, in ms, as the node's own process reports
    /// it (what a clock fault did to the node, recorded in the history's nemesis op). The
    /// default: the system offers no way to ask.
    fn clock_offset<'a>(&'a self, _node: &'a NodeId) -> BoxFuture<'a, Result<f64, String>> {
        Box::pin(async { Err("the system does not report its clock".to_string()) })
    }
    /// Every node's process state, for `nodes.json` (pid, exit status, restarts).
    fn node_states(&self) -> serde_json::Value;
    /// The client of the tasks workload.
    fn tasks_client(&self) -> Arc<dyn TasksClient>;
    /// The client of the locks workload.
    fn locks_client(&self) -> Arc<dyn LocksClient>;
    /// The client of the register workload; `None` when the system has no registers.
    fn register_client(&self) -> Option<Arc<dyn RegisterClient>> {
        None
    }
    /// Tears everything down (nodes and sandbox); reports the first error.
    fn teardown(self: Box<Self>) -> anyhow::Result<()>;
}

/// How a node's process ended on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeExit {
    /// The exit status, as the OS said it (`exit status: 2`).
    pub status: String,
    /// True when the node refused its command line (a usage error: the user's to fix).
    pub usage_error: bool,
    /// The last lines of its output (stdout and stderr).
    pub output_tail: String,
}

/// The last `lines` lines of a log file (at most its last 16 KB), for error messages.
pub fn log_tail(path: &std::path::Path, lines: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return format!("(no output: {} cannot be read)", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The tasks workload's client. Each call is bounded by the client's op timeout.
pub trait TasksClient: Send + Sync {
    /// Submits a task.
    fn submit<'a>(
        &'a self,
        node: &'a NodeId,
        task: &'a str,
        work_ms: u64,
    ) -> BoxFuture<'a, Reply<()>>;
    /// Reads every task: `{id: {"state": .., "runs": N}}`.
    fn read_tasks<'a>(&'a self, node: &'a NodeId) -> BoxFuture<'a, Reply<serde_json::Value>>;
}

/// The locks workload's client. `client` names the process (`p7`).
pub trait LocksClient: Send + Sync {
    /// Acquires a lock; ok carries the fencing token.
    fn acquire<'a>(
        &'a self,
        node: &'a NodeId,
        lock: &'a str,
        client: &'a str,
        ttl_ms: u64,
    ) -> BoxFuture<'a, Reply<u64>>;
    /// Releases a lock held with `token`.
    fn release<'a>(
        &'a self,
        node: &'a NodeId,
        lock: &'a str,
        client: &'a str,
        token: u64,
    ) -> BoxFuture<'a, Reply<()>>;
}

/// The register workload's client: one linearizable register per key, holding integers
/// (absent keys read as `None`).
pub trait RegisterClient: Send + Sync {
    /// Reads a register.
    fn read<'a>(&'a self, node: &'a NodeId, key: &'a str) -> BoxFuture<'a, Reply<Option<u64>>>;
    /// Writes a register.
    fn write<'a>(&'a self, node: &'a NodeId, key: &'a str, value: u64) -> BoxFuture<'a, Reply<()>>;
    /// Compare-and-set; ok carries whether it swapped.
    fn cas<'a>(
        &'a self,
        node: &'a NodeId,
        key: &'a str,
        from: u64,
        to: u64,
    ) -> BoxFuture<'a, Reply<bool>>;
}
