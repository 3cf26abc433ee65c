//! `gauntlet-node` behind the [`Cluster`] seam: one process per node in the sandbox,
//! started as
//! `gauntlet-node --id n1 --listen IP:7000 --peer n1=IP:7000 ... --data-dir DIR [--node-arg...]`,
//! logging to `nodes/<id>.log` in the run directory, data in `data/<id>/`.

pub mod client;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use nemesis::{Fault, FaultGuard, NodeId, NodeSpec, NodeState, Sandbox};

use crate::systems::procs::{delegate_to_procs, state_json, Procs};
use reqwest::Method;
use serde_json::Value;

use crate::cluster::{BoxFuture, Cluster, NodeExit, Offers, Reply};
use crate::config::RunConfig;
use crate::exit::bad_input;
use crate::workloads::{locks, register, tasks};
use client::NodeClient;

/// The system's registry name.
pub const NAME: &str = "gauntlet-node";

/// `gauntlet-node` in the registry: tasks, locks and registers (so every workload), its
/// binary beside `gauntlet`.
pub const SYSTEM: crate::systems::System = crate::systems::System {
    name: NAME,
    clients: &[tasks::NAME, locks::NAME, register::NAME],
    op_timeout: crate::defaults::OP_TIMEOUT,
    faults: &crate::config::FaultKind::ALL,
    default_bin,
    bin_hint: "build it with `cargo build --release -p node-bin`, or `cargo build -p node-bin` \
               for a debug build",
    check_bin: crate::systems::any_bin,
    check_config: crate::systems::any_config,
    open,
    simulate: None,
};

/// `gauntlet-node` in the directory of the running `gauntlet` binary; failing that, on PATH.
pub fn default_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()
        .map_err(|e| bad_input(format!("--node-bin: cannot find own binary: {e}")))?;
    let beside = exe.parent().unwrap_or(Path::new(".")).join(NAME);
    if beside.is_file() {
        return Ok(beside);
    }
    Ok(nemesis::find_in_path(NAME).unwrap_or(beside))
}

/// The sandbox up, the node commands ready (nothing started).
fn open(cfg: &RunConfig, run_dir: &Path) -> anyhow::Result<Box<dyn Cluster>> {
    let sandbox = crate::systems::sandbox(cfg)?;
    Ok(Box::new(GauntletNode::new(
        sandbox,
        &cfg.node_bin,
        &cfg.node_args,
        run_dir,
        Duration::from_millis(cfg.op_timeout_ms),
    )?))
}

/// The port every node listens on (each node has its own address).
pub const PORT: u16 = 7000;

/// How long a healthy gauntlet-node cluster may take to finish an acknowledged task: failure
/// detection (about 2 s), a claim lease running out twice (2 x 3 s: a claim taken by a node
/// that then died, and a claim in flight), the scan period and the task's own work, with
/// margin (docs/node-design.md "Tasks").
pub const TASK_LIVENESS: Duration = Duration::from_secs(10);

/// A `gauntlet-node` cluster in a sandbox.
#[derive(Debug)]
pub struct GauntletNode {
    procs: Procs,
    client: Arc<NodeClient>,
    probe: NodeClient,
}

impl GauntletNode {
    /// Prepares the node commands for `sandbox` (nothing is started yet). Logs go to
    /// `run_dir/nodes/<id>.log`, data to `run_dir/data/<id>/`.
    pub fn new(
        sandbox: Sandbox,
        node_bin: &Path,
        node_args: &[String],
        run_dir: &Path,
        op_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut procs = Procs::new(sandbox, PORT)?;
        let peers: Vec<String> = procs
            .addrs
            .iter()
            .map(|(n, a)| format!("--peer={n}={a}"))
            .collect();
        for n in procs.nodes.clone() {
            let data = run_dir.join("data").join(&n.0);
            std::fs::create_dir_all(&data)
                .with_context(|| format!("creating {}", data.display()))?;
            let mut args = vec![
                format!("--id={n}"),
                format!("--listen={}", procs.addrs[&n]),
                format!("--data-dir={}", data.display()),
            ];
            args.extend(peers.iter().cloned());
            args.extend(node_args.iter().cloned());
            let log = run_dir.join("nodes").join(format!("{n}.log"));
            let mut spec = NodeSpec::new(node_bin, args, log);
            spec.env.push((
                "RUST_LOG".into(),
                std::env::var_os("GAUNTLET_NODE_LOG").unwrap_or("info".into()),
            ));
            procs.set_spec(&n, spec);
        }
        Ok(GauntletNode {
            client: Arc::new(NodeClient::new(procs.addrs.clone(), op_timeout)?),
            probe: NodeClient::new(procs.addrs.clone(), Duration::from_millis(1000))?,
            procs,
        })
    }

    async fn check_ready(&self, node: &NodeId) -> Result<(), String> {
        match self.probe.call(node, Method::GET, "/health", None).await {
            Reply::Ok(v) if v.get("ok") == Some(&Value::Bool(true)) => {}
            Reply::Ok(v) => return Err(format!("{node}: /health says {v}")),
            Reply::Fail(e) | Reply::Info(e) => return Err(format!("{node}: /health: {e}")),
        }
        let members = match self.probe.call(node, Method::GET, "/members", None).await {
            Reply::Ok(v) => v,
            Reply::Fail(e) | Reply::Info(e) => return Err(format!("{node}: /members: {e}")),
        };
        let alive: Vec<&str> = members
            .get("members")
            .and_then(Value::as_array)
            .map(|ms| {
                ms.iter()
                    .filter(|m| m.get("state").and_then(Value::as_str) == Some("alive"))
                    .filter_map(|m| m.get("id").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        let missing: Vec<&str> = self
            .procs
            .nodes
            .iter()
            .map(|n| n.as_str())
            .filter(|n| !alive.contains(n))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{node} does not see {} alive yet",
                missing.join(", ")
            ))
        }
    }
}

impl GauntletNode {
    /// `GET /time` on a running node: its wall clock against the controller's, taken at the
    /// midpoint of the request (a round trip of a few ms on the bridge). A stopped or dead
    /// node is not asked (it could not answer before the probe's timeout).
    async fn ask_clock(&self, node: &NodeId) -> Result<f64, String> {
        match self.procs.sandbox.state(node) {
            Ok(NodeState::Running { .. }) => {}
            Ok(s) => {
                return Err(format!(
                    "not asked: the node is {}",
                    state_json(&s)["state"]
                ))
            }
            Err(e) => return Err(e.to_string()),
        }
        let real_ms = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let before = real_ms();
        let reply = self.probe.call(node, Method::GET, "/time", None).await;
        let after = real_ms();
        match reply {
            Reply::Ok(v) => v
                .get("wall_ms")
                .and_then(Value::as_f64)
                .map(|w| w - (before + after) / 2.0)
                .ok_or_else(|| format!("GET /time said {v}")),
            Reply::Fail(e) | Reply::Info(e) => Err(format!("GET /time: {e}")),
        }
    }
}

impl Cluster for GauntletNode {
    delegate_to_procs!(procs);

    fn name(&self) -> &str {
        NAME
    }

    fn ready<'a>(&'a self, node: &'a NodeId) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.check_ready(node))
    }

    fn task_liveness(&self) -> Option<Duration> {
        Some(TASK_LIVENESS)
    }

    fn clock_offset<'a>(&'a self, node: &'a NodeId) -> BoxFuture<'a, Result<f64, String>> {
        Box::pin(self.ask_clock(node))
    }

    fn offers(&self) -> Offers {
        let c = &self.client;
        let offers = tasks::offer(Offers::new(), c.clone());
        let offers = locks::offer(offers, c.clone());
        register::offer(offers, c.clone())
    }
}
