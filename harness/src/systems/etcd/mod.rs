//! etcd behind the [`Cluster`] seam: one member per node namespace, started from the Debian
//! `etcd` binary (`--node-bin` overrides it) as
//! `etcd --name n1 --data-dir RUN/data/n1 --listen-client-urls http://IP:2379
//! --listen-peer-urls http://IP:2380 --initial-cluster n1=http://IP1:2380,... [--node-arg...]`,
//! logging to `nodes/<id>.log`. Killed members restart on the same data (the
//! `--initial-cluster` flags are then ignored by etcd); a paused member is SIGSTOPped; a
//! partition cuts its peer and client traffic alike (both go through its namespace).
//!
//! Ready: every member answers `maintenance/status` and knows a leader. It offers the
//! register workload (linearizable range, put, txn) and the locks workload over leases
//! kept alive by the client (`lock/lock`, `lease/keepalive`, each keep-alive a `renew` op).
//! No task queue: `--workload tasks` (or mixed) is bad input naming what it offers.
//! Clock faults are not offered: etcd is a Go program, which reads the clock through the
//! vDSO, so libfaketime cannot move it.

pub mod client;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use nemesis::{Fault, FaultGuard, NodeId, NodeSpec, Sandbox};
use serde_json::Value;

use crate::cluster::{BoxFuture, Cluster, NodeExit, Offers};
use crate::config::{FaultKind, RunConfig};
use crate::exit::bad_input;
use crate::systems::procs::{delegate_to_procs, Procs};
use crate::workloads::{locks, register};
use client::EtcdClient;

/// The system's registry name.
pub const NAME: &str = "etcd";

/// etcd in the registry: registers and leased locks; every fault but clock faults.
pub const SYSTEM: crate::systems::System = crate::systems::System {
    name: NAME,
    clients: &[locks::NAME, register::NAME],
    // etcd's lock call waits in line while another client holds the lock, and a paused
    // member's late grant is what the locks workload must see (docs/systems/etcd.md): a
    // client gives up after 10 s, not gauntlet-node's 2 s.
    op_timeout: OP_TIMEOUT,
    faults: &[
        FaultKind::Partition,
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Lossy,
        FaultKind::Slow,
    ],
    default_bin,
    bin_hint: "install it with `apt-get install etcd-server` (Debian/Ubuntu: etcd 3.4), or \
               give its path with --node-bin",
    check_bin,
    check_config: crate::systems::any_config,
    open,
    simulate: None,
};

/// etcd's default `--op-timeout`.
pub const OP_TIMEOUT: &str = "10s";

/// The client port of every member (each has its own address).
pub const CLIENT_PORT: u16 = 2379;
/// The peer (raft) port of every member.
pub const PEER_PORT: u16 = 2380;

/// `etcd` on PATH, else Debian's `/usr/bin/etcd`.
pub fn default_bin() -> anyhow::Result<PathBuf> {
    Ok(nemesis::find_in_path("etcd").unwrap_or_else(|| PathBuf::from("/usr/bin/etcd")))
}

/// The major and minor version `etcd --version` prints (`etcd Version: 3.4.23`).
pub fn parse_version(out: &str) -> Option<(u32, u32)> {
    let v = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("etcd Version:"))?
        .trim();
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Bad input (254) unless `bin` is an etcd this client can drive: 3.4 or a later 3.x (the
/// `/v3` gateway paths it uses exist from 3.4 on).
fn check_bin(bin: &Path) -> anyhow::Result<()> {
    let out = std::process::Command::new(bin)
        .arg("--version")
        .output()
        .map_err(|e| {
            bad_input(format!(
                "--node-bin: cannot run {} --version: {e}",
                bin.display()
            ))
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    match parse_version(&text) {
        Some((3, minor)) if minor >= 4 => Ok(()),
        Some((major, minor)) => Err(bad_input(format!(
            "--node-bin: {} is etcd {major}.{minor}; Gauntlet drives etcd 3.4 or a later 3.x",
            bin.display()
        ))),
        None => Err(bad_input(format!(
            "--node-bin: {} does not say an etcd version (`--version` printed {:?})",
            bin.display(),
            text.lines().next().unwrap_or("")
        ))),
    }
}

/// The sandbox up, the member commands ready (nothing started).
fn open(cfg: &RunConfig, run_dir: &Path) -> anyhow::Result<Box<dyn Cluster>> {
    let sandbox = crate::systems::sandbox(cfg)?;
    Ok(Box::new(Etcd::new(
        sandbox,
        &cfg.node_bin,
        &cfg.node_args,
        run_dir,
        Duration::from_millis(cfg.op_timeout_ms),
    )?))
}

/// An etcd cluster in a sandbox.
#[derive(Debug)]
pub struct Etcd {
    procs: Procs,
    client: Arc<EtcdClient>,
    probe: EtcdClient,
}

impl Etcd {
    /// Prepares the member commands for `sandbox` (nothing is started yet). Logs go to
    /// `run_dir/nodes/<id>.log`, data to `run_dir/data/<id>/` (etcd creates it).
    pub fn new(
        sandbox: Sandbox,
        bin: &Path,
        node_args: &[String],
        run_dir: &Path,
        op_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut procs = Procs::new(sandbox, CLIENT_PORT)?;
        let peer_url = |a: &SocketAddr| format!("http://{}:{PEER_PORT}", a.ip());
        let initial: Vec<String> = procs
            .addrs
            .iter()
            .map(|(n, a)| format!("{n}={}", peer_url(a)))
            .collect();
        let data_root = run_dir.join("data");
        std::fs::create_dir_all(&data_root)
            .with_context(|| format!("creating {}", data_root.display()))?;
        for n in procs.nodes.clone() {
            let a = procs.addrs[&n];
            let client_url = format!("http://{a}");
            let mut args = vec![
                format!("--name={n}"),
                format!("--data-dir={}", data_root.join(&n.0).display()),
                format!("--listen-client-urls={client_url}"),
                format!("--advertise-client-urls={client_url}"),
                format!("--listen-peer-urls={}", peer_url(&a)),
                format!("--initial-advertise-peer-urls={}", peer_url(&a)),
                format!("--initial-cluster={}", initial.join(",")),
                "--initial-cluster-state=new".into(),
                "--initial-cluster-token=gauntlet".into(),
                "--logger=zap".into(),
                "--log-outputs=stderr".into(),
            ];
            args.extend(node_args.iter().cloned());
            let log = run_dir.join("nodes").join(format!("{n}.log"));
            procs.set_spec(&n, NodeSpec::new(bin, args, log));
        }
        Ok(Etcd {
            client: Arc::new(EtcdClient::new(procs.addrs.clone(), op_timeout)?),
            probe: EtcdClient::new(procs.addrs.clone(), Duration::from_millis(1000))?,
            procs,
        })
    }
}

impl Cluster for Etcd {
    delegate_to_procs!(procs);

    fn name(&self) -> &str {
        NAME
    }

    fn ready<'a>(&'a self, node: &'a NodeId) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(client::leader_of(&self.probe, node))
    }

    fn offers(&self) -> Offers {
        let offers = register::offer(Offers::new(), self.client.clone());
        locks::offer_leased(offers, self.client.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_line_is_read_and_anything_else_refused() {
        let debian = "etcd Version: 3.4.23\nGit SHA: Not provided\nGo Version: go1.19.8\n";
        assert_eq!(parse_version(debian), Some((3, 4)));
        assert_eq!(parse_version("etcd Version: 3.5.9\n"), Some((3, 5)));
        assert_eq!(parse_version("gauntlet-node 0.1.0\n"), None);
        let e = check_bin(Path::new("/nonexistent/etcd")).unwrap_err();
        assert_eq!(crate::exit::exit_for_error(&e), crate::exit::Exit::BadInput);
        assert!(
            format!("{e}").starts_with("--node-bin: cannot run /nonexistent/etcd"),
            "{e}"
        );
    }
}
