//! The plumbing every system whose nodes are processes shares: one process per node in the
//! sandbox (its namespace, its address, its command line, its log), started, stopped, killed,
//! paused, resumed and restarted on the same data, faulted through the sandbox, its state
//! for `nodes.json`, and the teardown. gauntlet-node and etcd both hold a [`Procs`] and add
//! only what is their own (the command line, readiness, clients).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use nemesis::{Fault, FaultGuard, NodeId, NodeSpec, NodeState, Sandbox};
use serde_json::{json, Value};

use crate::cluster::{log_tail, NodeExit};

/// The [`Cluster`](crate::cluster::Cluster) methods a process-backed system hands straight to
/// its [`Procs`] (in the field named by the argument): nodes, start/stop/kill/pause/resume/
/// restart, faults, heal, logs, client address, exit status, node states and teardown. Used
/// inside `impl Cluster for ...`, so each system writes only what is its own (name,
/// readiness, clients, timing).
macro_rules! delegate_to_procs {
    ($procs:ident) => {
        fn nodes(&self) -> &[NodeId] {
            &self.$procs.nodes
        }

        fn start(&self, node: &NodeId) -> anyhow::Result<()> {
            self.$procs.start(node)
        }

        fn stop(&self, node: &NodeId) -> anyhow::Result<()> {
            self.$procs.stop(node)
        }

        fn kill(&self, node: &NodeId) -> anyhow::Result<Instant> {
            self.$procs.kill(node)
        }

        fn pause(&self, node: &NodeId) -> anyhow::Result<Instant> {
            self.$procs.pause(node)
        }

        fn resume(&self, node: &NodeId) -> anyhow::Result<Instant> {
            self.$procs.resume(node)
        }

        fn restart(&self, node: &NodeId) -> anyhow::Result<()> {
            self.$procs.restart(node)
        }

        fn apply(&self, fault: &Fault) -> anyhow::Result<FaultGuard> {
            self.$procs.apply(fault)
        }

        fn heal_all(&self) -> anyhow::Result<Instant> {
            self.$procs.heal_all()
        }

        fn log_files(&self, node: &NodeId) -> Vec<PathBuf> {
            self.$procs.log_files(node)
        }

        fn client_addr(&self, node: &NodeId) -> SocketAddr {
            self.$procs.addrs[node]
        }

        fn exited(&self, node: &NodeId) -> Option<NodeExit> {
            self.$procs.exited(node)
        }

        fn node_states(&self) -> Value {
            self.$procs.node_states()
        }

        fn teardown(self: Box<Self>) -> anyhow::Result<()> {
            self.$procs.teardown()
        }
    };
}
pub(crate) use delegate_to_procs;

/// How long a node gets to exit after SIGTERM at teardown.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// The nodes' processes in a sandbox.
#[derive(Debug)]
pub struct Procs {
    /// The sandbox (namespaces, partition backend, processes).
    pub sandbox: Sandbox,
    /// The nodes, `n1..nN`.
    pub nodes: Vec<NodeId>,
    /// Where each node's clients connect.
    pub addrs: BTreeMap<NodeId, SocketAddr>,
    /// Each node's command line and log.
    pub specs: BTreeMap<NodeId, NodeSpec>,
}

impl Procs {
    /// The nodes of `sandbox`, each serving clients on `port` at its own address; no specs
    /// yet (the system adds them with [`Procs::set_spec`]).
    pub fn new(sandbox: Sandbox, port: u16) -> anyhow::Result<Self> {
        let nodes = sandbox.nodes().to_vec();
        let mut addrs = BTreeMap::new();
        for n in &nodes {
            addrs.insert(n.clone(), SocketAddr::new(sandbox.node_addr(n)?, port));
        }
        Ok(Procs {
            sandbox,
            nodes,
            addrs,
            specs: BTreeMap::new(),
        })
    }

    /// Sets the command line of `node`.
    pub fn set_spec(&mut self, node: &NodeId, spec: NodeSpec) {
        self.specs.insert(node.clone(), spec);
    }

    /// Starts the node's process (first start).
    pub fn start(&self, node: &NodeId) -> anyhow::Result<()> {
        let spec = self
            .specs
            .get(node)
            .with_context(|| format!("unknown node {node}"))?;
        self.sandbox
            .spawn(node, spec.clone())
            .with_context(|| format!("starting {node} ({})", spec.program.display()))?;
        Ok(())
    }

    /// SIGTERM, then SIGKILL after [`STOP_GRACE`].
    pub fn stop(&self, node: &NodeId) -> anyhow::Result<()> {
        self.sandbox
            .terminate(node, STOP_GRACE)
            .with_context(|| format!("stopping {node}"))?;
        Ok(())
    }

    /// SIGKILL; returns when the process is gone.
    pub fn kill(&self, node: &NodeId) -> anyhow::Result<Instant> {
        Ok(self.sandbox.kill(node)?)
    }

    /// SIGSTOP.
    pub fn pause(&self, node: &NodeId) -> anyhow::Result<Instant> {
        Ok(self.sandbox.pause(node)?)
    }

    /// SIGCONT.
    pub fn resume(&self, node: &NodeId) -> anyhow::Result<Instant> {
        Ok(self.sandbox.resume(node)?)
    }

    /// The same command line again, on the same data.
    pub fn restart(&self, node: &NodeId) -> anyhow::Result<()> {
        self.sandbox.restart(node)?;
        Ok(())
    }

    /// A fault, through the sandbox.
    pub fn apply(&self, fault: &Fault) -> anyhow::Result<FaultGuard> {
        Ok(self.sandbox.apply(fault)?)
    }

    /// Heals every fault.
    pub fn heal_all(&self) -> anyhow::Result<Instant> {
        Ok(self.sandbox.heal_all()?)
    }

    /// The node's log file.
    pub fn log_files(&self, node: &NodeId) -> Vec<PathBuf> {
        self.specs
            .get(node)
            .map(|s| s.log.clone())
            .into_iter()
            .collect()
    }

    /// `Some` when the node's process exited on its own. Exit code 2 is a usage error (clap
    /// and Go's `flag` package both exit 2 on a bad command line).
    pub fn exited(&self, node: &NodeId) -> Option<NodeExit> {
        let Ok(NodeState::Exited {
            status,
            killed_by_sandbox: false,
        }) = self.sandbox.state(node)
        else {
            return None;
        };
        let log = self.specs.get(node).map(|s| s.log.clone())?;
        Some(NodeExit {
            status: status.to_string(),
            usage_error: status.code() == Some(2),
            output_tail: log_tail(&log, 12),
        })
    }

    /// Every node's process state, for `nodes.json`.
    pub fn node_states(&self) -> Value {
        let mut out = serde_json::Map::new();
        for n in &self.nodes {
            let state = self
                .sandbox
                .state(n)
                .map(|s| state_json(&s))
                .unwrap_or_else(|e| json!({"error": e.to_string()}));
            let restarts = self.sandbox.restarts(n).unwrap_or(0);
            out.insert(
                n.0.clone(),
                json!({"addr": self.addrs[n].to_string(), "last": state, "restarts": restarts}),
            );
        }
        Value::Object(out)
    }

    /// Stops every live node and takes the sandbox down; reports the first error.
    pub fn teardown(self) -> anyhow::Result<()> {
        let mut first: Option<anyhow::Error> = None;
        for n in &self.nodes {
            if matches!(
                self.sandbox.state(n),
                Ok(NodeState::Running { .. } | NodeState::Paused { .. })
            ) {
                if let Err(e) = self.stop(n) {
                    first.get_or_insert(e);
                }
            }
        }
        if let Err(e) = self.sandbox.down() {
            first.get_or_insert(anyhow::Error::new(e).context("taking the sandbox down"));
        }
        first.map_or(Ok(()), Err)
    }
}

/// A node's process state as `nodes.json` shows it.
pub fn state_json(s: &NodeState) -> Value {
    match s {
        NodeState::NotStarted => json!({"state": "not-started"}),
        NodeState::Running { pid } => json!({"state": "running", "pid": pid}),
        NodeState::Paused { pid } => json!({"state": "paused", "pid": pid}),
        NodeState::Exited {
            status,
            killed_by_sandbox,
        } => json!({
            "state": "exited",
            "exit": status.to_string(),
            "killed_by_sandbox": killed_by_sandbox,
        }),
    }
}
