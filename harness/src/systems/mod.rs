//! The systems Gauntlet can test, each behind the [`crate::cluster::Cluster`] seam, and
//! their registry.
//!
//! Adding a system: its folder here (a [`System`] value, its `Cluster` and the clients of
//! the workloads it offers) and one line in [`REGISTRY`]. `--system NAME` picks it on every
//! command that runs a cluster; test.json, rerun commands and repro record and honour it.
//! A system opens its own world: [`sandbox`] brings up the namespaces for one whose nodes
//! are processes (gauntlet-node); a simulated one would need none.

pub mod etcd;
pub mod gauntlet_node;
pub mod procs;
pub mod sim;

use std::path::{Path, PathBuf};

use anyhow::Context;
use nemesis::{BackendChoice, Sandbox, SandboxConfig};

use crate::cluster::Cluster;
use crate::config::{FaultKind, NemesisSet, NetMode, PlanOptions, RunConfig};
use crate::exit::bad_input;
use crate::plan::node_ids;
use crate::workloads::{WorkloadName, REGISTRY as WORKLOADS};

/// A system under test, as the registry knows it (Jepsen's `db`, plus which workloads it
/// has clients for).
#[derive(Debug)]
pub struct System {
    /// Its name, as `--system` takes it and test.json records it.
    pub name: &'static str,
    /// The workloads it has clients for (a composite workload, such as mixed, is offered
    /// when all its parts are).
    pub clients: &'static [WorkloadName],
    /// The program its nodes run when `--node-bin` is not given.
    pub default_bin: fn() -> anyhow::Result<PathBuf>,
    /// Its default `--op-timeout` (a duration as the flag takes it).
    pub op_timeout: &'static str,
    /// The fault kinds it can be given (`--nemesis all` means these).
    pub faults: &'static [FaultKind],
    /// How to get that program, for the error when it is missing.
    pub bin_hint: &'static str,
    /// Bad input (254) when the program is not one the system can drive (the wrong
    /// program, an unsupported version); called before any namespace is made.
    pub check_bin: fn(&Path) -> anyhow::Result<()>,
    /// Bad input (254) when the resolved run is one the system cannot run (a node argument
    /// it does not model), checked when the flags are resolved: before anything starts, and
    /// once for a whole torture or bug-hunt.
    pub check_config: fn(&RunConfig) -> anyhow::Result<()>,
    /// Sets the system up for `cfg` in the run directory (no node started yet).
    pub open: fn(&RunConfig, &Path) -> anyhow::Result<Box<dyn Cluster>>,
    /// For a simulated system: the whole run, in-process (no binary, no namespaces, no
    /// [`Cluster`]); `None` for a system whose nodes are processes.
    pub simulate: Option<fn(&RunConfig) -> anyhow::Result<crate::outcome::RunOutcome>>,
}

/// Every system, by name: the registry.
pub static REGISTRY: &[System] = &[gauntlet_node::SYSTEM, etcd::SYSTEM, sim::SYSTEM];

/// The system a run tests when `--system` is not given.
pub const DEFAULT: &str = gauntlet_node::NAME;

/// [`DEFAULT`] as an owned name (serde's default for a test.json without `system`).
pub fn default_name() -> String {
    DEFAULT.to_string()
}

/// The system named `name`; bad input (254) naming the flag and the known ones otherwise.
pub fn by_name(name: &str) -> anyhow::Result<&'static System> {
    REGISTRY.iter().find(|s| s.name == name).ok_or_else(|| {
        let known: Vec<&str> = REGISTRY.iter().map(|s| s.name).collect();
        bad_input(format!(
            "--system: unknown system {name:?} (known: {})",
            known.join(", ")
        ))
    })
}

impl System {
    /// Whether it has every client `workload` needs.
    pub fn offers(&self, workload: WorkloadName) -> bool {
        workload
            .workload()
            .needs()
            .iter()
            .all(|n| self.clients.contains(n))
    }

    /// Bad input (254) when the system does not offer `workload`, naming those it does.
    pub fn check_workload(&self, workload: WorkloadName) -> anyhow::Result<()> {
        if self.offers(workload) {
            return Ok(());
        }
        let offered: Vec<&str> = WORKLOADS
            .iter()
            .map(|w| w.name())
            .filter(|w| self.offers(*w))
            .map(WorkloadName::as_str)
            .collect();
        Err(bad_input(format!(
            "--workload {workload}: the system {} offers {}",
            self.name,
            offered.join(", ")
        )))
    }
}

/// Whether the system `name` is simulated (runs in-process: no namespaces, no binary).
pub fn is_simulated(name: &str) -> bool {
    by_name(name).is_ok_and(|s| s.simulate.is_some())
}

/// A run check that accepts every run (a system that takes any node arguments).
pub fn any_config(_: &RunConfig) -> anyhow::Result<()> {
    Ok(())
}

/// A program check that accepts any program (a system whose binary has no version to check).
pub fn any_bin(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

impl System {
    /// Fits `--nemesis` to the faults the system can be given: `all` (from flags, not a plan
    /// file) becomes the kinds it supports, with a note on stderr; a kind it does not support,
    /// named explicitly or in a plan file, is bad input (254) naming the kinds it supports.
    pub fn fit_nemesis(&self, opts: &mut PlanOptions, from_plan_file: bool) -> anyhow::Result<()> {
        let unsupported: Vec<FaultKind> = opts
            .nemesis
            .0
            .iter()
            .copied()
            .filter(|k| !self.faults.contains(k))
            .collect();
        if unsupported.is_empty() {
            return Ok(());
        }
        let names = |ks: &[FaultKind]| {
            ks.iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if from_plan_file || opts.nemesis != NemesisSet::all() {
            return Err(bad_input(format!(
                "--nemesis: the system {} cannot be given {} faults (it supports {})",
                self.name,
                names(&unsupported),
                names(self.faults)
            )));
        }
        eprintln!(
            "gauntlet: --system {}: no {} faults; --nemesis all is {}",
            self.name,
            names(&unsupported),
            names(self.faults)
        );
        opts.nemesis.0.retain(|k| self.faults.contains(k));
        Ok(())
    }
}

/// Sets up the system `cfg` names (no node started yet).
pub fn open(cfg: &RunConfig, run_dir: &Path) -> anyhow::Result<Box<dyn Cluster>> {
    (by_name(&cfg.system)?.open)(cfg, run_dir)
}

/// Brings the sandbox up for `cfg`: one network namespace per node (or loopback), the
/// nemesis's partition backend. For systems whose nodes are processes.
pub fn sandbox(cfg: &RunConfig) -> anyhow::Result<Sandbox> {
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
    Sandbox::up(sc).context("bringing the sandbox up")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::{locks, tasks};

    #[test]
    fn the_registry_finds_each_system_and_names_the_known_ones_otherwise() {
        for s in REGISTRY {
            assert_eq!(by_name(s.name).unwrap().name, s.name);
        }
        assert!(by_name(DEFAULT).is_ok());
        let e = by_name("etcd-typo").unwrap_err();
        assert_eq!(crate::exit::exit_for_error(&e), crate::exit::Exit::BadInput);
        assert_eq!(
            format!("{e}"),
            "--system: unknown system \"etcd-typo\" (known: gauntlet-node, etcd, sim)"
        );
    }

    /// Proves a system without a task queue does not offer tasks, nor mixed (built from
    /// tasks and locks), and the error names what it does offer.
    #[test]
    fn a_workload_the_system_does_not_offer_is_bad_input_naming_those_it_does() {
        let s = by_name(DEFAULT).unwrap();
        for w in WORKLOADS {
            s.check_workload(w.name()).unwrap();
        }
        let only_locks = System {
            clients: &[locks::NAME],
            ..*s
        };
        let e = only_locks.check_workload(tasks::NAME).unwrap_err();
        assert_eq!(crate::exit::exit_for_error(&e), crate::exit::Exit::BadInput);
        assert_eq!(
            format!("{e}"),
            "--workload tasks: the system gauntlet-node offers locks"
        );
        assert!(!only_locks.offers(crate::workloads::mixed::NAME));
    }
}
