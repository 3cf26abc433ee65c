//! The systems Gauntlet can test, each behind the [`crate::cluster::Cluster`] seam.
//! Adding one: a module here implementing `Cluster` and its workload clients, and a line in
//! [`open`].

pub mod gauntlet_node;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use nemesis::{BackendChoice, Sandbox, SandboxConfig};

use crate::cluster::Cluster;
use crate::config::{NetMode, RunConfig};
use crate::exit::bad_input;
use crate::plan::node_ids;

/// Brings the sandbox up for `cfg` and wraps the system under test around it (no node
/// started yet).
pub fn open(cfg: &RunConfig, run_dir: &Path) -> anyhow::Result<Box<dyn Cluster>> {
    let mut sc = SandboxConfig::new(node_ids(cfg.plan.nodes));
    sc.net = match cfg.net {
        NetMode::Namespaces => nemesis::NetMode::Namespaces,
        NetMode::Loopback => nemesis::NetMode::Loopback,
    };
    if let Some(b) = &cfg.net_backend {
        sc.backend = b
            .parse::<BackendChoice>()
            .map_err(|e| bad_input(format!("--net-backend: {e}")))?;
    }
    // Nodes run under the libfaketime preload only when the plan may bump their clocks.
    sc.clock_faults = cfg.plan.nemesis.has_clock();
    let sandbox = Sandbox::up(sc).context("bringing the sandbox up")?;
    let cluster = gauntlet_node::GauntletNode::new(
        sandbox,
        &cfg.node_bin,
        &cfg.node_args,
        run_dir,
        Duration::from_millis(cfg.op_timeout_ms),
    )?;
    Ok(Box::new(cluster))
}
