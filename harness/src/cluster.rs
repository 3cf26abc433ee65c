//! The seam between the harness and the system under test, as Jepsen's `db` and `client`
//! protocols are.
//!
//! - [`Cluster`] runs the system's nodes in the sandbox: start, stop, kill, pause, resume,
//!   restart a node, apply a fault, say when the cluster is ready, where each node logs and
//!   where its clients connect.
//! - [`Offers`]: the clients of the workloads the system offers, each implementing its
//!   workload's client trait (`workloads::tasks::TasksClient`, ...), which turns planned ops
//!   into requests and the responses into [`Reply`]: ok, fail (certainly did not happen) or
//!   info (unknown).
//!
//! `gauntlet-node` is the first implementation ([`crate::systems::gauntlet_node`]). Another
//! system is one folder under `systems/` implementing [`Cluster`] plus the clients of the
//! workloads it offers, registered in [`crate::systems::REGISTRY`]; the plan, the nemesis,
//! the workloads and the checkers do not change.

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
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

impl<T> Reply<T> {
    /// Reads an ok reply's body with `f`; a body that cannot be read is `Info` (something
    /// happened, what cannot be said). Fail and info pass through.
    pub fn read_ok<U>(self, f: impl FnOnce(T) -> Result<U, String>) -> Reply<U> {
        match self {
            Reply::Ok(v) => match f(v) {
                Ok(u) => Reply::Ok(u),
                Err(e) => Reply::Info(e),
            },
            Reply::Fail(e) => Reply::Fail(e),
            Reply::Info(e) => Reply::Info(e),
        }
    }
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
    /// The clients of the workloads it offers, built on its own API.
    fn offers(&self) -> Offers;
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

/// The clients a system offers, by workload name: a typed map (as `http::Extensions` is), so
/// the seam does not grow a method per client kind and a system without, say, a task queue
/// simply offers no tasks client. Each workload file puts its client in and takes it out
/// with the same type (`workloads::tasks::offer` and `workloads::tasks::client`).
#[derive(Default)]
pub struct Offers {
    clients: std::collections::BTreeMap<&'static str, Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Offers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.clients.keys()).finish()
    }
}

impl Offers {
    /// Offers nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the client of `workload`.
    pub fn with<C: Any + Send + Sync>(mut self, workload: &'static str, client: C) -> Self {
        self.clients.insert(workload, Box::new(client));
        self
    }

    /// The client of `workload`, when one of type `C` is offered.
    pub fn get<C: Any>(&self, workload: &str) -> Option<&C> {
        self.clients.get(workload)?.downcast_ref::<C>()
    }

    /// The workloads offered.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.clients.keys().copied()
    }
}
