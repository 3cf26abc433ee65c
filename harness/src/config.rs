//! The options of a run, resolved: what the plan depends on ([`PlanOptions`]) and what only the
//! execution depends on ([`RunConfig`]). Both are serialized into the run directory
//! (`plan.json` and `test.json`), so a stored run says exactly how to rerun it.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::workloads::WorkloadName;

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
    /// Wall-clock faults (bump, strobe, drift) with libfaketime, healed by resetting the
    /// clock. Nodes run under the preload only in runs whose plan has them.
    Clock,
    /// Random loss on directed links (iptables `statistic`), healed by removing the rule.
    Lossy,
    /// A rate limit on nodes' egress (`tc tbf`), healed by removing the qdisc.
    Slow,
}

impl FaultKind {
    /// Every kind, in the order `all` lists them.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Partition,
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Clock,
        FaultKind::Lossy,
        FaultKind::Slow,
    ];

    /// The kind of a fault the plan holds (`clock-bump`, `clock-strobe` and `clock-drift`
    /// are all `clock`; `netem` is no run kind: the kernel here has no `sch_netem`).
    pub fn of(fault: &crate::faults::Fault) -> Option<FaultKind> {
        use crate::faults::Fault;
        Some(match fault {
            Fault::Partition { .. } => FaultKind::Partition,
            Fault::Kill { .. } => FaultKind::Kill,
            Fault::Pause { .. } => FaultKind::Pause,
            Fault::ClockBump { .. } | Fault::ClockStrobe { .. } | Fault::ClockDrift { .. } => {
                FaultKind::Clock
            }
            Fault::Loss { .. } => FaultKind::Lossy,
            Fault::Slow { .. } => FaultKind::Slow,
            Fault::Netem { .. } => return None,
        })
    }

    /// Whether faults of this kind need the node namespaces (not `--net loopback`).
    pub fn needs_namespaces(self) -> bool {
        matches!(
            self,
            FaultKind::Partition | FaultKind::Lossy | FaultKind::Slow
        )
    }
}

/// The set of fault kinds of a run: `none`, `all`, or a comma list of kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NemesisSet(pub BTreeSet<FaultKind>);

impl NemesisSet {
    /// Every fault kind.
    pub fn all() -> Self {
        NemesisSet(FaultKind::ALL.into())
    }

    /// Whether the plan may hold clock faults (the sandbox then starts nodes under the
    /// libfaketime preload).
    pub fn has_clock(&self) -> bool {
        self.0.contains(&FaultKind::Clock)
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
            FaultKind::Clock => "clock",
            FaultKind::Lossy => "lossy",
            FaultKind::Slow => "slow",
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
                other => match FaultKind::ALL.iter().find(|k| k.to_string() == other) {
                    Some(k) => {
                        set.insert(*k);
                    }
                    None => {
                        return Err(format!(
                            "unknown nemesis {other:?} (expected none, partition, kill, pause, \
                             clock, lossy, slow, all or a comma list)"
                        ))
                    }
                },
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
    pub workload: WorkloadName,
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
    /// Whether faults of different kinds may overlap (`--overlap`). Default false: one
    /// fault at a time. Absent in plan files written before the knob (read as false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overlap: bool,
}

/// How the node processes are networked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetMode {
    /// Each node in its own network namespace on a private bridge (all faults).
    Namespaces,
    /// Nodes on 127.0.0.x in the controller's namespace (kill, pause and clock faults only).
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
    /// The system under test, by its registry name (`--system`, default `gauntlet-node`;
    /// a test.json written before the flag existed has none and means `gauntlet-node`).
    #[serde(default = "crate::systems::default_name")]
    pub system: String,
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
    /// When a lock hold ends for the locks checker (`--lock-model`; a test.json written
    /// before the flag existed has none and means `lease`).
    #[serde(default)]
    pub lock_model: checkers::locks::LockModel,
}

/// The most nodes a run has (the `--nodes` flag's range, and a plan file's `options.nodes`).
pub const MAX_NODES: usize = 32;

/// The longest main phase, lease or fault interval: 24 hours, in ms.
pub const MAX_DURATION_MS: u64 = 24 * 3600 * 1000;

/// The most client workers (`--concurrency`).
pub const MAX_CONCURRENCY: usize = 1024;

/// The highest target rate (`--rate`), in ops/s over all workers.
pub const MAX_RATE: f64 = 100_000.0;

/// The most locks (or registers at a time) a workload contends on (`--locks`).
pub const MAX_LOCKS: usize = 10_000;

/// The most client ops a plan may hold, as `time limit × rate` estimates them: 1.5 million.
///
/// The plan is made whole in memory before a run and written to `plan.json`; at 2 million a
/// tasks plan measured 270 MB, over [`crate::plan::MAX_PLAN_BYTES`], so the bound is 1.5
/// million (about 203 MB; docs/run.md has the measured sizes and memory).
/// `--time-limit 1h --rate 100000` (360 million ops) is refused; the default rate of 100
/// ops/s allows up to 4 h 10 min.
pub const MAX_PLANNED_OPS: f64 = 1_500_000.0;

/// A plan option out of range: which one (as a flag and as a field of `plan.json`) and why.
/// The same check serves the flags of `gauntlet run`/`plan` and a plan file
/// ([`PlanOptions::validate`]), so a plan file is held to exactly the flags' limits.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionError {
    /// The flag(s) that set it, e.g. `--rate`.
    pub flags: &'static str,
    /// The field(s) of `plan.json`'s `options`, e.g. `rate`.
    pub fields: &'static str,
    /// What is wrong, e.g. `0 ops/s; expected more than 0 and at most 100000`.
    pub problem: String,
}

impl OptionError {
    /// The message for a flag: `--rate: 0 ops/s; ...`.
    pub fn for_flags(&self) -> String {
        format!("{}: {}", self.flags, self.problem)
    }

    /// The message for a plan file: `options.rate: 0 ops/s; ...`.
    pub fn for_plan(&self) -> String {
        format!("options.{}: {}", self.fields, self.problem)
    }
}

impl PlanOptions {
    /// Checks every option against the limits of the flags; the first one out of range.
    pub fn validate(&self) -> Result<(), OptionError> {
        let err = |flags, fields, problem: String| {
            Err(OptionError {
                flags,
                fields,
                problem,
            })
        };
        if !(1..=MAX_NODES).contains(&self.nodes) {
            return err(
                "--nodes",
                "nodes",
                format!("{} nodes; expected 1 to {MAX_NODES}", self.nodes),
            );
        }
        for (flags, fields, ms) in [
            ("--time-limit", "time_limit_ms", self.time_limit_ms),
            (
                "--nemesis-interval",
                "nemesis_interval_ms",
                self.nemesis_interval_ms,
            ),
            ("--lease-ttl", "lease_ttl_ms", self.lease_ttl_ms),
        ] {
            if !(1..=MAX_DURATION_MS).contains(&ms) {
                return err(
                    flags,
                    fields,
                    format!("{ms} ms; expected at least 1ms and at most 24h"),
                );
            }
        }
        if self.task_work_ms > MAX_DURATION_MS {
            return err(
                "--task-work",
                "task_work_ms",
                format!("{} ms; expected at most 24h", self.task_work_ms),
            );
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return err(
                "--concurrency",
                "concurrency",
                format!(
                    "{} clients; expected 1 to {MAX_CONCURRENCY}",
                    self.concurrency
                ),
            );
        }
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= MAX_RATE) {
            return err(
                "--rate",
                "rate",
                format!(
                    "{} ops/s; expected more than 0 and at most {MAX_RATE}",
                    self.rate
                ),
            );
        }
        if !(1..=MAX_LOCKS).contains(&self.locks) {
            return err(
                "--locks",
                "locks",
                format!("{}; expected 1 to {MAX_LOCKS}", self.locks),
            );
        }
        let planned = self.time_limit_ms as f64 / 1000.0 * self.rate;
        if planned > MAX_PLANNED_OPS {
            return err(
                "--time-limit × --rate",
                "time_limit_ms × rate",
                format!(
                    "{} s at {} ops/s plans about {planned:.0} client ops; at most {MAX_PLANNED_OPS} \
                     (the plan is made whole before the run: lower the rate or the time limit)",
                    self.time_limit_ms as f64 / 1000.0,
                    self.rate
                ),
            );
        }
        Ok(())
    }
}
