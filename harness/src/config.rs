//! The options of a run, resolved: what the plan depends on ([`PlanOptions`]) and what only the
//! execution depends on ([`RunConfig`]). Both are serialized into the run directory
//! (`plan.json` and `test.json`), so a stored run says exactly how to rerun it.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which client workload runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// Submit tasks; the final read checks none was lost.
    Tasks,
    /// Acquire and release locks; the checker looks for split locks.
    Locks,
    /// Both, chosen per operation.
    Mixed,
    /// Read, write and compare-and-set on a few registers; checked for linearizability.
    Register,
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tasks" => Ok(Workload::Tasks),
            "locks" => Ok(Workload::Locks),
            "mixed" => Ok(Workload::Mixed),
            "register" => Ok(Workload::Register),
            _ => Err(format!(
                "unknown workload {s:?} (expected tasks, locks, mixed or register)"
            )),
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Workload::Tasks => "tasks",
            Workload::Locks => "locks",
            Workload::Mixed => "mixed",
            Workload::Register => "register",
        })
    }
}

/// One kind of fault the nemesis may inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// Network partitions (grudges), healed by repairing the network.
    Partition,
    /// SIGKILL of a minority of nodes, healed by restarting them on the same data dir.
    Kill,
    /// SIGSTOP of a minority of nodes, healed by SIGCONT.
    Pause,
}

/// The set of fault kinds of a run: `none`, `all`, or a comma list of kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NemesisSet(pub BTreeSet<FaultKind>);

impl NemesisSet {
    /// Every fault kind.
    pub fn all() -> Self {
        NemesisSet([FaultKind::Partition, FaultKind::Kill, FaultKind::Pause].into())
    }

    /// The name used in the store path: `none`, `all`, or the kinds joined by `+`.
    pub fn label(&self) -> String {
        if self.0.is_empty() {
            "none".into()
        } else if *self == NemesisSet::all() {
            "all".into()
        } else {
            self.0
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join("+")
        }
    }

    /// The value `--nemesis` accepts back.
    pub fn flag_value(&self) -> String {
        self.label().replace('+', ",")
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultKind::Partition => "partition",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
        })
    }
}

impl FromStr for NemesisSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut set = BTreeSet::new();
        for part in s.split(',').map(str::trim) {
            match part {
                "none" => {}
                "all" => set.extend(NemesisSet::all().0),
                "partition" => {
                    set.insert(FaultKind::Partition);
                }
                "kill" => {
                    set.insert(FaultKind::Kill);
                }
                "pause" => {
                    set.insert(FaultKind::Pause);
                }
                other => {
                    return Err(format!(
                        "unknown nemesis {other:?} (expected none, partition, kill, pause, all or a comma list)"
                    ))
                }
            }
        }
        Ok(NemesisSet(set))
    }
}

/// Everything the plan depends on. The same `PlanOptions` always give a byte-identical plan.
/// Durations are whole milliseconds so that the JSON is exact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanOptions {
    /// The seed of the plan's RNG (ChaCha8).
    pub seed: u64,
    /// Number of nodes, `n1..nN`. Default 5.
    pub nodes: usize,
    /// Length of the main phase in ms. Default 30 000.
    pub time_limit_ms: u64,
    /// Number of concurrent client workers. Default 2 per node.
    pub concurrency: usize,
    /// Which workload. Default mixed.
    pub workload: Workload,
    /// Which faults the nemesis may inject. Default all.
    pub nemesis: NemesisSet,
    /// Mean time between faults, and mean length of a fault, in ms. Default 5 000.
    pub nemesis_interval_ms: u64,
    /// Target client operations per second over all workers. Default 100.
    pub rate: f64,
    /// Number of distinct locks the lock workload contends on. Default 3.
    pub locks: usize,
    /// Lease TTL a lock client asks for, in ms. Default 2 000.
    pub lease_ttl_ms: u64,
    /// How long a task runs on its node, in ms. Default 50.
    pub task_work_ms: u64,
}

/// How the node processes are networked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetMode {
    /// Each node in its own network namespace on a private bridge (all faults).
    Namespaces,
    /// Nodes on 127.0.0.x in the controller's namespace (kill and pause only).
    Loopback,
}

impl FromStr for NetMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "namespaces" => Ok(NetMode::Namespaces),
            "loopback" => Ok(NetMode::Loopback),
            _ => Err(format!(
                "unknown net mode {s:?} (expected namespaces or loopback)"
            )),
        }
    }
}

impl fmt::Display for NetMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetMode::Namespaces => "namespaces",
            NetMode::Loopback => "loopback",
        })
    }
}

/// The whole resolved configuration of one run (written to `test.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    /// What the plan depends on.
    pub plan: PlanOptions,
    /// A given plan file (`--plan`), when the plan is not generated from `plan`.
    pub plan_file: Option<PathBuf>,
    /// The store root. Default `./store`.
    pub store: PathBuf,
    /// The node binary. Default: `gauntlet-node` beside the `gauntlet` binary.
    pub node_bin: PathBuf,
    /// Extra arguments passed to every node (`--node-arg`).
    pub node_args: Vec<String>,
    /// Network mode. Default namespaces.
    pub net: NetMode,
    /// Partition backend name passed to the nemesis (`--net-backend`); `None` = its default.
    pub net_backend: Option<String>,
    /// Longest wait after healing for the cluster to settle before the final read, in ms.
    /// The wait ends early once every task the cluster knows is done. Default 10 000.
    pub recovery_ms: u64,
    /// How long a client waits for a response before recording `info`, in ms. Default 2 000.
    pub op_timeout_ms: u64,
    /// Fewest ok client operations for a run to be judged at all (else unknown). Default 10.
    pub min_ok_ops: u64,
}
