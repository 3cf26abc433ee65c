//! The sandbox: N node namespaces on a bridge in the controller namespace, the node
//! processes in them, and the faults applied to them.
//!
//! Layout (namespace mode), inside the controller namespace only:
//!
//! ```text
//!   controller ns:  gnt-br 10.77.0.1/24 ── gnt-v1 ══ veth ══ eth0 10.77.0.11/24  (node ns n1)
//!                                       ── gnt-v2 ══ veth ══ eth0 10.77.0.12/24  (node ns n2)
//!                                       ...
//! ```
//!
//! Every method takes `&self` and blocks (it forks `ip`, waits for signals to land, probes
//! the network): call it from a plain thread or `tokio::task::spawn_blocking`. The type is
//! `Send + Sync`; share it with an `Arc`. Faults on different nodes may be applied from
//! different threads at overlapping times: partitions and processes have separate locks.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, ExitStatus, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fault::{Fault, NodeId};
use crate::grudge::Grudge;
use crate::guard::{FaultGuard, GuardKind};
use crate::net::{build_net, node_ip, Net};
pub use crate::net::{BRIDGE, CONTROLLER_ADDR};
use crate::netns;
use crate::partition::{BackendChoice, PartitionBackend};
use crate::process::{NodeProc, NodeSpec, NodeState, Spawner};

/// The most nodes a sandbox holds (addresses .11 to .210 of the /24).
pub const MAX_NODES: usize = 200;

/// Whether the nodes get network namespaces or share the controller's loopback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetMode {
    /// Each node in its own network namespace on a bridge (the default).
    #[default]
    Namespaces,
    /// All nodes on 127.0.0.11.. in the controller's namespace: kill and pause only,
    /// partitions are refused. For machines without namespaces.
    Loopback,
}

/// How to build a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// The nodes, in address order: the i-th (from 0) gets `.{11+i}`.
    pub nodes: Vec<NodeId>,
    /// Namespaces (default) or loopback.
    pub net: NetMode,
    /// Partition backend (default: the kernel-only route backend).
    pub backend: BackendChoice,
    /// How long a verification waits for allowed probes to arrive (default 2 s).
    pub verify_timeout: Duration,
}

impl SandboxConfig {
    /// Namespace mode, route backend, 2 s verification timeout.
    pub fn new(nodes: Vec<NodeId>) -> Self {
        SandboxConfig {
            nodes,
            net: NetMode::Namespaces,
            backend: BackendChoice::Route,
            verify_timeout: Duration::from_secs(2),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.nodes.is_empty() || self.nodes.len() > MAX_NODES {
            return Err(Error::Config(format!(
                "{} nodes requested; a sandbox holds 1 to {MAX_NODES}",
                self.nodes.len()
            )));
        }
        let mut seen = BTreeSet::new();
        for n in &self.nodes {
            if n.0.is_empty() || !seen.insert(n) {
                return Err(Error::Config(format!(
                    "node names must be unique and non-empty; got {:?}",
                    n.0
                )));
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    nodes: Vec<NodeId>,
    index: BTreeMap<NodeId, usize>,
    mode: NetMode,
    backend: Option<PartitionBackend>,
    verify_timeout: Duration,
    net: Mutex<Option<Net>>,
    procs: Mutex<Procs>,
    spawner: Mutex<Spawner>,
    /// Bumped by heal_all: guards from before it have nothing left to heal.
    generation: std::sync::atomic::AtomicU64,
    next_guard: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct Procs {
    down: bool,
    by_node: BTreeMap<usize, NodeProc>,
}

/// One sandbox per process at a time: they would share the subnet and link names.
static UP: AtomicBool = AtomicBool::new(false);

/// A running sandbox. Dropping it tears it down (logging errors); prefer [`Sandbox::down`],
/// which reports them.
#[derive(Debug)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sandbox {
    /// Brings the sandbox up: in namespace mode, one namespace per node with its address on
    /// the bridge, checked by probing every pair (so it is ready when this returns). No node
    /// process is started: see [`Sandbox::spawn`].
    ///
    /// Namespace mode needs [`crate::enter_controller_namespace`] to have been called first;
    /// without it this fails with [`Error::NotInControllerNamespace`] rather than touching
    /// the host's network.
    pub fn up(cfg: SandboxConfig) -> Result<Sandbox> {
        cfg.validate()?;
        if UP.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadyUp);
        }
        match Self::build(&cfg) {
            Ok(s) => Ok(s),
            Err(e) => {
                UP.store(false, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    fn build(cfg: &SandboxConfig) -> Result<Sandbox> {
        let spawner = Spawner::start()?;
        let (net, backend) = match cfg.net {
            NetMode::Loopback => {
                tracing::warn!("loopback mode: nodes share 127.0.0.x; partitions unavailable");
                (None, None)
            }
            NetMode::Namespaces => {
                let backend = cfg.backend.resolve()?;
                let net = build_net(cfg.nodes.len(), backend, cfg.verify_timeout, &cfg.nodes)?;
                (Some(net), Some(backend))
            }
        };
        let index = cfg
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Ok(Sandbox {
            inner: Arc::new(Inner {
                nodes: cfg.nodes.clone(),
                index,
                mode: cfg.net,
                backend,
                verify_timeout: cfg.verify_timeout,
                net: Mutex::new(net),
                procs: Mutex::new(Procs::default()),
                spawner: Mutex::new(spawner),
                generation: 0.into(),
                next_guard: 0.into(),
            }),
        })
    }

    /// Tears down: SIGKILLs every node process, removes the links, closes the namespaces.
    /// Reports the first error; everything is attempted regardless.
    pub fn down(self) -> Result<()> {
        self.inner.teardown()
    }

    /// The nodes, in address order.
    pub fn nodes(&self) -> &[NodeId] {
        &self.inner.nodes
    }

    /// Namespaces or loopback.
    pub fn net_mode(&self) -> NetMode {
        self.inner.mode
    }

    /// The partition backend in use (None in loopback mode).
    pub fn backend(&self) -> Option<PartitionBackend> {
        self.inner.backend
    }

    /// The node's address: 10.77.0.{11+i} in namespace mode, 127.0.0.{11+i} in loopback.
    pub fn node_addr(&self, node: &NodeId) -> Result<IpAddr> {
        Ok(IpAddr::V4(node_ip(self.inner.mode, self.inner.idx(node)?)))
    }

    /// The controller's own address as nodes see it (the bridge), or 127.0.0.1 in loopback.
    pub fn controller_addr(&self) -> IpAddr {
        match self.inner.mode {
            NetMode::Namespaces => IpAddr::V4(CONTROLLER_ADDR),
            NetMode::Loopback => IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }

    /// Starts the node's process in its namespace (stdout and stderr appended to
    /// `spec.log`, killed by the kernel if the controller dies). Returns its pid. A node
    /// that already has a live process is refused; use [`Sandbox::restart`] after a kill.
    pub fn spawn(&self, node: &NodeId, spec: NodeSpec) -> Result<u32> {
        self.inner.spawn(node, spec)
    }

    /// SIGKILLs the node's process and reaps it; returns when the pid is gone. A node that
    /// is not running is left alone.
    pub fn kill(&self, node: &NodeId) -> Result<Instant> {
        let i = self.inner.idx(node)?;
        self.inner.with_proc(node, i, |p| p.kill())
    }

    /// SIGTERM, then SIGKILL after `grace` if it has not exited.
    pub fn terminate(&self, node: &NodeId, grace: Duration) -> Result<Instant> {
        let i = self.inner.idx(node)?;
        self.inner.with_proc(node, i, |p| p.terminate(grace))
    }

    /// Starts the node again with the same spec (same args, same data dir) into the same
    /// namespace; a no-op returning the pid when it is running. Returns the pid.
    pub fn restart(&self, node: &NodeId) -> Result<u32> {
        self.inner.restart(node)
    }

    /// SIGSTOPs the node's process; returns once /proc shows it stopped.
    pub fn pause(&self, node: &NodeId) -> Result<Instant> {
        let i = self.inner.idx(node)?;
        self.inner.with_proc(node, i, |p| p.pause(node))
    }

    /// SIGCONTs the node's process; returns once /proc shows it running again.
    pub fn resume(&self, node: &NodeId) -> Result<Instant> {
        let i = self.inner.idx(node)?;
        self.inner.with_proc(node, i, |p| p.resume(node))
    }

    /// What the node's process is doing (reaps it if it exited).
    pub fn state(&self, node: &NodeId) -> Result<NodeState> {
        let i = self.inner.idx(node)?;
        let mut procs = lock(&self.inner.procs);
        Ok(procs
            .by_node
            .get_mut(&i)
            .map(NodeProc::state)
            .unwrap_or(NodeState::NotStarted))
    }

    /// The pid of the node's live (running or paused) process.
    pub fn pid(&self, node: &NodeId) -> Result<Option<u32>> {
        Ok(match self.state(node)? {
            NodeState::Running { pid } | NodeState::Paused { pid } => Some(pid),
            _ => None,
        })
    }

    /// How the node's last process ended, if it has.
    pub fn exit_status(&self, node: &NodeId) -> Result<Option<ExitStatus>> {
        Ok(match self.state(node)? {
            NodeState::Exited { status, .. } => Some(status),
            _ => None,
        })
    }

    /// How many times the node was restarted.
    pub fn restarts(&self, node: &NodeId) -> Result<u32> {
        let i = self.inner.idx(node)?;
        Ok(lock(&self.inner.procs)
            .by_node
            .get(&i)
            .map_or(0, |p| p.restarts))
    }

    /// Runs a short command to completion inside the node's namespace (diagnostics, tests).
    /// In loopback mode it runs in the controller's.
    pub fn run_in(&self, node: &NodeId, mut cmd: Command) -> Result<Output> {
        let i = self.inner.idx(node)?;
        let fd = self.inner.ns_fd(i)?;
        if let Some(fd) = &fd {
            netns::pin_to_ns(&mut cmd, fd.as_raw_fd());
        }
        cmd.output()
            .map_err(|e| Error::io(format!("run {:?} in node {node}", cmd.get_program()), e))
    }

    /// Applies a fault and checks that it took effect: a partition by probing every pair
    /// (cut pairs silent, the others delivering), a kill by reaping the pid, a pause by
    /// seeing state `T` in /proc. The guard reports when ([`FaultGuard::effective_at`]);
    /// [`FaultGuard::heal`] undoes it, and dropping the guard heals as a backstop.
    ///
    /// Partitions compose: while several partition guards are alive, the union of their
    /// grudges is in force. A fault that could not be verified is an error, and a partition
    /// that fails is rolled back.
    pub fn apply(&self, fault: &Fault) -> Result<FaultGuard> {
        let (kind, at) = match fault {
            Fault::Partition { grudge } => {
                let (id, at) = self.inner.partition(grudge)?;
                (GuardKind::Partition(id), at)
            }
            Fault::Kill { nodes } => {
                let idx = self.inner.indexes(nodes)?;
                self.inner.precheck(nodes, &idx, false)?;
                let mut at = Instant::now();
                for (n, i) in nodes.iter().zip(&idx) {
                    at = self.inner.with_proc(n, *i, |p| p.kill())?;
                }
                (GuardKind::Kill(nodes.clone()), at)
            }
            Fault::Pause { nodes } => {
                let idx = self.inner.indexes(nodes)?;
                self.inner.precheck(nodes, &idx, true)?;
                let mut at = Instant::now();
                for (n, i) in nodes.iter().zip(&idx) {
                    at = self.inner.with_proc(n, *i, |p| p.pause(n))?;
                }
                (GuardKind::Pause(nodes.clone()), at)
            }
        };
        let generation = self.inner.generation.load(Ordering::SeqCst);
        Ok(FaultGuard::new(
            self.inner.clone(),
            fault.clone(),
            kind,
            at,
            generation,
        ))
    }

    /// Heals everything: removes every partition (verified), resumes paused nodes, restarts
    /// nodes the sandbox killed. Guards alive before this have nothing left to heal.
    /// Returns when full connectivity was verified.
    pub fn heal_all(&self) -> Result<Instant> {
        self.inner.heal_all()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Err(e) = self.inner.teardown() {
            tracing::error!("sandbox teardown: {e}");
        }
    }
}

impl Inner {
    pub(crate) fn idx(&self, node: &NodeId) -> Result<usize> {
        self.index
            .get(node)
            .copied()
            .ok_or_else(|| Error::UnknownNode(node.clone()))
    }

    fn indexes(&self, nodes: &[NodeId]) -> Result<Vec<usize>> {
        nodes.iter().map(|n| self.idx(n)).collect()
    }

    /// The node's namespace fd (None in loopback mode); an error once the sandbox is down.
    fn ns_fd(&self, i: usize) -> Result<Option<Arc<OwnedFd>>> {
        match self.mode {
            NetMode::Loopback => Ok(None),
            NetMode::Namespaces => lock(&self.net)
                .as_ref()
                .map(|n| Some(n.ns[i].clone()))
                .ok_or(Error::Down),
        }
    }

    fn spawn(&self, node: &NodeId, spec: NodeSpec) -> Result<u32> {
        let i = self.idx(node)?;
        let fd = self.ns_fd(i)?;
        let mut procs = lock(&self.procs);
        if procs.down {
            return Err(Error::Down);
        }
        if let Some(p) = procs.by_node.get_mut(&i) {
            if let NodeState::Running { pid } | NodeState::Paused { pid } = p.state() {
                return Err(Error::Config(format!(
                    "node {node} already runs pid {pid}; kill it or use restart"
                )));
            }
        }
        let spawner = lock(&self.spawner);
        let raw = fd.as_ref().map(|f| f.as_raw_fd());
        let restarts = procs.by_node.get(&i).map_or(0, |p| p.restarts);
        let mut p = NodeProc::start(node, spec, raw, &spawner)?;
        p.restarts = restarts;
        let pid = match p.state() {
            NodeState::Running { pid } => pid,
            _ => 0,
        };
        procs.by_node.insert(i, p);
        Ok(pid)
    }

    pub(crate) fn restart(&self, node: &NodeId) -> Result<u32> {
        let i = self.idx(node)?;
        let fd = self.ns_fd(i)?;
        let mut procs = lock(&self.procs);
        if procs.down {
            return Err(Error::Down);
        }
        let p = procs
            .by_node
            .get_mut(&i)
            .ok_or_else(|| Error::NotSpawned(node.clone()))?;
        let spawner = lock(&self.spawner);
        p.restart(node, fd.as_ref().map(|f| f.as_raw_fd()), &spawner)
    }

    /// Checks every node of a kill or pause before touching any, so a bad node list does
    /// not leave half the fault applied without a guard to heal it.
    fn precheck(&self, nodes: &[NodeId], idx: &[usize], need_live: bool) -> Result<()> {
        for (n, i) in nodes.iter().zip(idx) {
            self.with_proc(n, *i, |p| match p.state() {
                NodeState::Running { .. } | NodeState::Paused { .. } => Ok(()),
                NodeState::Exited { status, .. } if need_live => Err(Error::NotRunning {
                    node: n.clone(),
                    exit: Some(status.to_string()),
                }),
                _ => Ok(()),
            })?;
        }
        Ok(())
    }

    pub(crate) fn with_proc<T>(
        &self,
        node: &NodeId,
        i: usize,
        f: impl FnOnce(&mut NodeProc) -> Result<T>,
    ) -> Result<T> {
        let mut procs = lock(&self.procs);
        let p = procs
            .by_node
            .get_mut(&i)
            .ok_or_else(|| Error::NotSpawned(node.clone()))?;
        f(p)
    }

    fn cut_pairs(&self, grudge: &Grudge) -> Result<BTreeSet<(usize, usize)>> {
        let mut out = BTreeSet::new();
        for (s, r) in grudge.cut_pairs() {
            out.insert((self.idx(&s)?, self.idx(&r)?));
        }
        Ok(out)
    }

    /// Adds a partition and installs the union; rolls back when it cannot be verified.
    fn partition(&self, grudge: &Grudge) -> Result<(u64, Instant)> {
        if self.mode == NetMode::Loopback {
            return Err(Error::Unsupported {
                what: "a partition".into(),
            });
        }
        let cut = self.cut_pairs(grudge)?;
        let id = self.next_guard.fetch_add(1, Ordering::SeqCst);
        let mut guard = lock(&self.net);
        let net = guard.as_mut().ok_or(Error::Down)?;
        net.partitions.insert(id, cut);
        match net.install(&self.nodes, self.verify_timeout) {
            Ok(at) => Ok((id, at)),
            Err(e) => {
                net.partitions.remove(&id);
                if let Err(e2) = net.install(&self.nodes, self.verify_timeout) {
                    tracing::error!("rolling back a failed partition: {e2}");
                }
                Err(e)
            }
        }
    }

    /// Removes one partition (a guard's heal); a no-op when it is already gone.
    pub(crate) fn unpartition(&self, id: u64) -> Result<Instant> {
        let mut guard = lock(&self.net);
        let Some(net) = guard.as_mut() else {
            return Ok(Instant::now());
        };
        if net.partitions.remove(&id).is_none() {
            return Ok(Instant::now());
        }
        net.install(&self.nodes, self.verify_timeout)
    }

    fn heal_all(&self) -> Result<Instant> {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let mut result = Ok(Instant::now());
        if let Some(net) = lock(&self.net).as_mut() {
            net.partitions.clear();
            result = net.install(&self.nodes, self.verify_timeout);
        }
        let fds: Vec<Option<Arc<OwnedFd>>> = (0..self.nodes.len())
            .map(|i| self.ns_fd(i).ok().flatten())
            .collect();
        let mut procs = lock(&self.procs);
        let spawner = lock(&self.spawner);
        for (i, p) in procs.by_node.iter_mut() {
            let node = &self.nodes[*i];
            let r = match p.state() {
                NodeState::Paused { .. } => p.resume(node).map(|_| ()),
                NodeState::Exited {
                    killed_by_sandbox: true,
                    ..
                } => p
                    .restart(node, fds[*i].as_ref().map(|f| f.as_raw_fd()), &spawner)
                    .map(|_| ()),
                _ => Ok(()),
            };
            if let Err(e) = r {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        result.map(|at| at.max(Instant::now()))
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Kills every node, stops the spawner, deletes the links, closes the namespaces.
    /// Idempotent.
    fn teardown(&self) -> Result<()> {
        let mut first_err: Option<Error> = None;
        {
            let mut procs = lock(&self.procs);
            if procs.down {
                return Ok(());
            }
            procs.down = true;
            for p in procs.by_node.values_mut() {
                if let Err(e) = p.kill() {
                    first_err.get_or_insert(e);
                }
            }
        }
        lock(&self.spawner).stop();
        if let Some(net) = lock(&self.net).take() {
            let script = net.teardown_script();
            match netns::controller_fd() {
                Ok(ctl) => {
                    if let Err(e) = netns::run_in(ctl, "ip", &["-batch", "-"], Some(&script)) {
                        first_err.get_or_insert(e);
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
            drop(net);
        }
        UP.store(false, Ordering::SeqCst);
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    /// The harness shares one sandbox between threads and holds guards across them.
    #[test]
    fn sandbox_and_guards_are_send_and_sync() {
        assert_send_sync::<Sandbox>();
        assert_send_sync::<FaultGuard>();
    }

    /// Without a controller namespace, namespace mode refuses to start instead of building
    /// its bridge in the host's network (this test process never entered one).
    #[test]
    fn up_without_a_controller_namespace_refuses_and_touches_nothing() {
        let links = |_: ()| {
            Command::new("ip")
                .args(["-o", "link"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        let before = links(());
        let err = Sandbox::up(SandboxConfig::new(NodeId::cluster(3))).unwrap_err();
        assert!(
            matches!(err, Error::NotInControllerNamespace),
            "expected a refusal, got {err}"
        );
        assert!(
            err.to_string().contains("enter_controller_namespace"),
            "{err}"
        );
        assert_eq!(before, links(()), "host links changed");
        assert!(!before.contains(BRIDGE));
    }

    /// Bad configurations are errors that say what is wrong.
    #[test]
    fn bad_configs_are_named() {
        let empty = SandboxConfig::new(vec![]).validate().unwrap_err();
        assert!(empty.to_string().contains("0 nodes"), "{empty}");
        let dup = SandboxConfig::new(vec!["n1".into(), "n1".into()])
            .validate()
            .unwrap_err();
        assert!(dup.to_string().contains("\"n1\""), "{dup}");
        let big = SandboxConfig::new(NodeId::cluster(MAX_NODES + 1))
            .validate()
            .unwrap_err();
        assert!(big.to_string().contains("201 nodes"), "{big}");
    }
}
