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

use crate::clock::Clocks;
use crate::error::{Error, Result};
use crate::fault::{Fault, Link, NodeId};
use crate::grudge::Grudge;
use crate::guard::Observed;
use crate::guard::{FaultGuard, GuardKind};
use crate::net::{build_net, node_ip, Net};
pub use crate::net::{BRIDGE, CONTROLLER_ADDR};
use crate::netns;
use crate::partition::{BackendChoice, PartitionBackend};
use crate::process::{NodeProc, NodeSpec, NodeState, Spawner};
use crate::shaping::Shape;

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
    /// Start every node under libfaketime so clock faults can be applied (default false:
    /// nodes run with the real clock and no preload). `up` fails with
    /// [`Error::ClockUnavailable`] when libfaketime is not installed.
    pub clock_faults: bool,
}

impl SandboxConfig {
    /// Namespace mode, route backend, 2 s verification timeout.
    pub fn new(nodes: Vec<NodeId>) -> Self {
        SandboxConfig {
            nodes,
            net: NetMode::Namespaces,
            backend: BackendChoice::Route,
            verify_timeout: Duration::from_secs(2),
            clock_faults: false,
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
    /// The libfaketime files and strobes (when configured with clock faults).
    clocks: Mutex<Option<Clocks>>,
    /// Whether the kernel has netem, found out once (Err: what `tc` said).
    netem: std::sync::OnceLock<std::result::Result<(), String>>,
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
        let clocks = if cfg.clock_faults {
            Some(Clocks::new(cfg.nodes.len())?)
        } else {
            None
        };
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
                clocks: Mutex::new(clocks),
                netem: std::sync::OnceLock::new(),
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
    /// In loopback mode it runs in the controller's. With clock faults configured it runs
    /// under the node's libfaketime preload, so it sees the node's clock.
    pub fn run_in(&self, node: &NodeId, mut cmd: Command) -> Result<Output> {
        let i = self.inner.idx(node)?;
        if let Some(c) = lock(&self.inner.clocks).as_ref() {
            cmd.envs(c.env(i));
        }
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
        fault.validate(&self.inner.nodes)?;
        let mut observed = Vec::new();
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
            Fault::Loss { links, probability } => {
                let (id, at, obs) = self.inner.loss(links, *probability)?;
                observed = obs;
                (GuardKind::Net(id), at)
            }
            Fault::Slow {
                nodes,
                rate_kbit,
                burst_bytes,
                latency_ms,
            } => {
                let shape = Shape::Tbf {
                    rate_kbit: *rate_kbit,
                    burst_bytes: *burst_bytes,
                    latency_ms: *latency_ms,
                };
                let (id, at, obs) = self.inner.shape(fault.kind(), nodes, shape)?;
                observed = obs;
                (GuardKind::Net(id), at)
            }
            Fault::Netem {
                nodes,
                delay_ms,
                duplicate,
                reorder,
            } => {
                if let Err(detail) = self.netem_available() {
                    return Err(Error::NetemUnavailable {
                        kind: fault.kind(),
                        detail,
                    });
                }
                let shape = Shape::Netem {
                    delay_ms: *delay_ms,
                    duplicate: *duplicate,
                    reorder: *reorder,
                };
                let (id, at, obs) = self.inner.shape(fault.kind(), nodes, shape)?;
                observed = obs;
                (GuardKind::Net(id), at)
            }
            Fault::ClockBump { nodes, offset_ms } => {
                let (id, at, obs) =
                    self.inner
                        .clock(fault.kind(), nodes, ClockChange::Bump(*offset_ms))?;
                observed = obs;
                (GuardKind::Clock(id), at)
            }
            Fault::ClockDrift { nodes, rate } => {
                let (id, at, obs) =
                    self.inner
                        .clock(fault.kind(), nodes, ClockChange::Drift(*rate))?;
                observed = obs;
                (GuardKind::Clock(id), at)
            }
            Fault::ClockStrobe {
                nodes,
                a_ms,
                b_ms,
                period_ms,
                duration_ms,
            } => {
                let change = ClockChange::Strobe {
                    a: *a_ms,
                    b: *b_ms,
                    period: Duration::from_millis(*period_ms),
                    duration: Duration::from_millis(*duration_ms),
                };
                let (id, at, obs) = self.inner.clock(fault.kind(), nodes, change)?;
                observed = obs;
                (GuardKind::Clock(id), at)
            }
        };
        let generation = self.inner.generation.load(Ordering::SeqCst);
        let mut g = FaultGuard::new(self.inner.clone(), fault.clone(), kind, at, generation);
        g.set_observed(observed);
        Ok(g)
    }

    /// Whether the kernel has the `netem` qdisc: tried once per sandbox by adding one to
    /// `lo` of a scratch namespace the sandbox makes (and removes at once). Err says what
    /// `tc` answered. In loopback mode it is never available.
    pub fn netem_available(&self) -> std::result::Result<(), String> {
        self.inner
            .netem
            .get_or_init(|| {
                if self.inner.mode == NetMode::Loopback {
                    return Err("loopback mode has no node namespaces to shape".into());
                }
                let ns = netns::make_node_namespaces(1).map_err(|e| e.to_string())?;
                let r = crate::shaping::try_netem(ns[0].fd.as_raw_fd());
                drop(ns);
                r
            })
            .clone()
    }

    /// The directory holding the nodes' libfaketime timestamp files (None without clock
    /// faults). Removed at `down`.
    pub fn clock_dir(&self) -> Option<std::path::PathBuf> {
        lock(&self.inner.clocks)
            .as_ref()
            .map(|c| c.dir().to_owned())
    }

    /// The node's clock as a process under its preload sees it: the offset from the real
    /// wall clock in ms, and the measurement's uncertainty (half the time `date` took).
    pub fn observe_clock(&self, node: &NodeId) -> Result<(f64, f64)> {
        let i = self.inner.idx(node)?;
        match lock(&self.inner.clocks).as_ref() {
            Some(c) => c.observe(i),
            None => Err(Error::ClockFaultsDisabled {
                kind: "observe-clock",
            }),
        }
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

/// The accepted band of a measured rate against the planned one. Loose on purpose: the
/// check is that the limit is in force (an unshaped veth carries gigabits, 100x beyond),
/// and the measurement runs on a loaded machine whose scheduling adds noise both ways.
const RATE_LOW: f64 = 0.5;
const RATE_HIGH: f64 = 1.3;

/// What a clock fault changes.
#[derive(Debug, Clone, Copy)]
enum ClockChange {
    Bump(i64),
    Drift(f64),
    Strobe {
        a: i64,
        b: i64,
        period: Duration,
        duration: Duration,
    },
}

/// Slack for a clock check beyond the measurement's own interval: libfaketime's
/// millisecond-rounded file plus `date`'s startup.
const CLOCK_SLACK_MS: f64 = 5.0;

/// Checks that a process under node `i`'s preload sees the planned offset (or, during a
/// strobe, the offset with either phase).
fn verify_clock(
    c: &Clocks,
    i: usize,
    node: &NodeId,
    planned: i64,
    rate: f64,
    strobe: Option<(i64, i64)>,
) -> Result<Observed> {
    let (seen, half) = c.observe(i)?;
    // With a drift, the probe's own run time (a few ms) is scaled too.
    let tol = half + CLOCK_SLACK_MS + 2.0 * half * (rate - 1.0).abs();
    let mut ok = (seen - planned as f64).abs() <= tol;
    if let Some((a, b)) = strobe {
        // `planned` includes the phase now in the table; the thread may have flipped since.
        let other = planned - a + b;
        let other2 = planned - b + a;
        ok |= (seen - other as f64).abs() <= tol || (seen - other2 as f64).abs() <= tol;
    }
    if !ok {
        return Err(Error::NotVerified(format!(
            "node {node}: clock offset seen by `date` under libfaketime is {seen:.1} ms, planned {planned} ms (± {tol:.1})"
        )));
    }
    Ok(Observed::Clock {
        node: node.clone(),
        planned_offset_ms: planned,
        observed_offset_ms: seen,
        rate,
    })
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

    fn spawn(&self, node: &NodeId, mut spec: NodeSpec) -> Result<u32> {
        let i = self.idx(node)?;
        let fd = self.ns_fd(i)?;
        // Under clock faults the node runs (and restarts, with the stored spec) under its
        // libfaketime preload; without them, with none.
        if let Some(c) = lock(&self.clocks).as_ref() {
            spec.env.extend(c.env(i));
        }
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

    fn links_of(&self, links: &[Link]) -> Result<BTreeSet<(usize, usize)>> {
        links
            .iter()
            .map(|l| Ok((self.idx(&l.from)?, self.idx(&l.to)?)))
            .collect()
    }

    /// Measures the loss of each link not cut by a partition and checks it against the
    /// loss planned by every active loss fault.
    fn verify_loss(&self, net: &Net, pairs: &BTreeSet<(usize, usize)>) -> Result<Vec<Observed>> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for &pair in pairs {
            if net.is_cut(pair) {
                continue;
            }
            let planned = net.planned_loss(pair);
            let got = net.delivered(pair, self.verify_timeout);
            let n = crate::net::LOSS_PROBES;
            let measured = 1.0 - f64::from(got) / f64::from(n);
            let tolerance = crate::net::loss_tolerance(planned, n);
            let (from, to) = (self.nodes[pair.0].clone(), self.nodes[pair.1].clone());
            if (measured - planned).abs() > tolerance {
                bad.push(format!(
                    "{from} -> {to}: measured loss {measured:.3} over {n} probes, planned {planned:.3} ± {tolerance:.3}"
                ));
            }
            out.push(Observed::Loss {
                from,
                to,
                planned,
                measured,
                probes: n,
                tolerance,
            });
        }
        if bad.is_empty() {
            Ok(out)
        } else {
            Err(Error::NotVerified(bad.join("; ")))
        }
    }

    /// Adds a loss fault, installs it with the rest and measures it; rolled back on failure.
    fn loss(&self, links: &[Link], p: f64) -> Result<(u64, Instant, Vec<Observed>)> {
        if self.mode == NetMode::Loopback {
            return Err(Error::Unsupported {
                what: "a loss fault".into(),
            });
        }
        if crate::netns::find_in_path(crate::partition::iptables::RESTORE).is_none() {
            return Err(Error::BackendUnavailable {
                backend: "iptables (loss faults)".into(),
                detail: format!(
                    "`{}` is not on PATH; install iptables",
                    crate::partition::iptables::RESTORE
                ),
            });
        }
        let pairs = self.links_of(links)?;
        let id = self.next_guard.fetch_add(1, Ordering::SeqCst);
        let mut guard = lock(&self.net);
        let net = guard.as_mut().ok_or(Error::Down)?;
        net.losses.insert(id, (pairs.clone(), p));
        let r = net
            .install(&self.nodes, self.verify_timeout)
            .and_then(|at| Ok((at, self.verify_loss(net, &pairs)?)));
        match r {
            Ok((at, obs)) => Ok((id, at, obs)),
            Err(e) => {
                net.losses.remove(&id);
                if let Err(e2) = net.install(&self.nodes, self.verify_timeout) {
                    tracing::error!("rolling back a failed loss fault: {e2}");
                }
                Err(e)
            }
        }
    }

    /// Checks the shape `tc` shows on each node, and for a token bucket the throughput.
    fn verify_shape(&self, net: &Net, idx: &[usize], shape: &Shape) -> Result<Vec<Observed>> {
        let mut out = Vec::new();
        for &i in idx {
            let shown = net.qdisc_of(i)?;
            if !shown.contains(shape.qdisc()) {
                return Err(Error::NotVerified(format!(
                    "node {}: `tc qdisc show dev eth0` shows no {}: {}",
                    self.nodes[i],
                    shape.qdisc(),
                    shown.trim()
                )));
            }
            if let Shape::Tbf {
                rate_kbit,
                burst_bytes,
                ..
            } = shape
            {
                // Enough time for ~15 full datagrams at the planned rate, 20 ms to 2 s.
                let bits = 15.0 * (crate::probe::RATE_DATAGRAM as f64 + 28.0) * 8.0;
                let window =
                    Duration::from_secs_f64((bits / (*rate_kbit as f64 * 1000.0)).clamp(0.02, 2.0));
                let (measured, datagrams) = net
                    .egress_rate(i, *burst_bytes, window)
                    .ok_or_else(|| {
                        Error::NotVerified(format!(
                            "node {}: too few datagrams arrived within {window:?} to measure the rate",
                            self.nodes[i]
                        ))
                    })?;
                let planned = *rate_kbit as f64;
                let (lo, hi) = (planned * RATE_LOW, planned * RATE_HIGH);
                if !(lo..=hi).contains(&measured) {
                    return Err(Error::NotVerified(format!(
                        "node {}: measured egress {measured:.0} kbit/s over {datagrams} datagrams, planned {planned} (accepted {lo:.0}..{hi:.0})",
                        self.nodes[i]
                    )));
                }
                out.push(Observed::Rate {
                    node: self.nodes[i].clone(),
                    planned_kbit: planned,
                    measured_kbit: measured,
                    datagrams,
                });
            }
        }
        Ok(out)
    }

    /// Adds a slow or netem fault, installs it and verifies it; rolled back on failure.
    fn shape(
        &self,
        kind: &'static str,
        nodes: &[NodeId],
        shape: Shape,
    ) -> Result<(u64, Instant, Vec<Observed>)> {
        if self.mode == NetMode::Loopback {
            return Err(Error::Unsupported {
                what: format!("a {kind} fault"),
            });
        }
        let idx = self.indexes(nodes)?;
        let id = self.next_guard.fetch_add(1, Ordering::SeqCst);
        let mut guard = lock(&self.net);
        let net = guard.as_mut().ok_or(Error::Down)?;
        for (&i, n) in idx.iter().zip(nodes) {
            if let Some(have) = net.shape_kind_of(i) {
                if have != shape.qdisc() {
                    return Err(Error::Conflict {
                        kind,
                        node: n.clone(),
                        detail: format!(
                            "its eth0 already has a {have} fault; tbf and netem cannot both be the root qdisc"
                        ),
                    });
                }
            }
        }
        net.shapes
            .insert(id, (idx.iter().copied().collect(), shape));
        let want: Vec<(usize, Shape)> = idx
            .iter()
            .filter_map(|&i| net.wanted_shape(i).map(|s| (i, s)))
            .collect();
        let r = net
            .install(&self.nodes, self.verify_timeout)
            .and_then(|at| {
                let mut obs = Vec::new();
                for (i, s) in &want {
                    obs.extend(self.verify_shape(net, &[*i], s)?);
                }
                Ok((at, obs))
            });
        match r {
            Ok((at, obs)) => Ok((id, at, obs)),
            Err(e) => {
                net.shapes.remove(&id);
                if let Err(e2) = net.install(&self.nodes, self.verify_timeout) {
                    tracing::error!("rolling back a failed {kind} fault: {e2}");
                }
                Err(e)
            }
        }
    }

    /// Removes one loss, slow or netem fault (a guard's heal) and verifies what is left:
    /// the healed links' loss measured against what other faults still plan, the healed
    /// nodes' qdisc gone (or back to the remaining fault's). A no-op when already gone.
    pub(crate) fn unshape(&self, id: u64) -> Result<Instant> {
        let mut guard = lock(&self.net);
        let Some(net) = guard.as_mut() else {
            return Ok(Instant::now());
        };
        let lossy = net.losses.remove(&id).map(|(p, _)| p);
        let shaped = net.shapes.remove(&id).map(|(n, _)| n);
        if lossy.is_none() && shaped.is_none() {
            return Ok(Instant::now());
        }
        let at = net.install(&self.nodes, self.verify_timeout)?;
        if let Some(pairs) = lossy {
            self.verify_loss(net, &pairs)?;
        }
        for i in shaped.into_iter().flatten() {
            let shown = net.qdisc_of(i)?;
            let ok = match net.wanted_shape(i) {
                Some(s) => shown.contains(s.qdisc()),
                None => !shown.contains("tbf") && !shown.contains("netem"),
            };
            if !ok {
                return Err(Error::NotVerified(format!(
                    "node {}: after heal `tc qdisc show dev eth0` shows {}",
                    self.nodes[i],
                    shown.trim()
                )));
            }
        }
        Ok(at)
    }

    /// Adds a clock fault to the nodes' files and verifies it on each node by running
    /// `date` under its preload. Rolled back on failure.
    fn clock(
        &self,
        kind: &'static str,
        nodes: &[NodeId],
        change: ClockChange,
    ) -> Result<(u64, Instant, Vec<Observed>)> {
        let idx = self.indexes(nodes)?;
        let clocks = lock(&self.clocks);
        let c = clocks.as_ref().ok_or(Error::ClockFaultsDisabled { kind })?;
        let id = self.next_guard.fetch_add(1, Ordering::SeqCst);
        // The strobe's other phase, which a verification racing a flip may see instead.
        let mut alt: Option<(i64, i64)> = None;
        match change {
            ClockChange::Bump(ms) => c.add(id, &idx, Some(ms), None)?,
            ClockChange::Drift(r) => c.add(id, &idx, None, Some(r))?,
            ClockChange::Strobe {
                a,
                b,
                period,
                duration,
            } => {
                alt = Some((a, b));
                c.strobe(id, &idx, a, b, period, duration)?;
            }
        }
        let at = Instant::now();
        let mut out = Vec::new();
        for (&i, n) in idx.iter().zip(nodes) {
            let (planned, rate) = c.planned(i);
            let r = verify_clock(c, i, n, planned, rate, alt);
            match r {
                Ok(o) => out.push(o),
                Err(e) => {
                    if let Err(e2) = c.remove(id) {
                        tracing::error!("rolling back a failed {kind}: {e2}");
                    }
                    return Err(e);
                }
            }
        }
        Ok((id, at, out))
    }

    /// Removes one clock fault (a guard's heal) and verifies each node it touched is back
    /// to what the remaining faults plan.
    pub(crate) fn unclock(&self, id: u64, nodes: &[NodeId]) -> Result<Instant> {
        let clocks = lock(&self.clocks);
        let Some(c) = clocks.as_ref() else {
            return Ok(Instant::now());
        };
        c.remove(id)?;
        let at = Instant::now();
        for n in nodes {
            let i = self.idx(n)?;
            let (planned, rate) = c.planned(i);
            verify_clock(c, i, n, planned, rate, None)?;
        }
        Ok(at)
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
            net.losses.clear();
            net.shapes.clear();
            result = net.install(&self.nodes, self.verify_timeout);
        }
        if let Some(c) = lock(&self.clocks).as_ref() {
            if let Err(e) = c.clear() {
                if result.is_ok() {
                    result = Err(e);
                }
            }
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
        // Stops the strobes and removes the timestamp files with their dir.
        drop(lock(&self.clocks).take());
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
