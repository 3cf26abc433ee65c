//! The flags of `gauntlet run` and `gauntlet plan`, and their resolution into
//! [`PlanOptions`] and [`RunConfig`]. Every bad value is an error naming its flag (exit 254).

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{NemesisSet, NetMode, PlanOptions, RunConfig};
use crate::defaults;
use crate::exit::bad_input;
use crate::workloads::WorkloadName;

/// The ids of every [`PlanFlags`] flag: what `run --plan FILE` conflicts with (the plan
/// file has its own options; a flag given with it would be silently ignored).
pub const PLAN_FLAG_IDS: [&str; 12] = [
    "nodes",
    "time_limit",
    "concurrency",
    "workload",
    "nemesis",
    "nemesis_interval",
    "seed",
    "rate",
    "locks",
    "lease_ttl",
    "task_work",
    "overlap",
];

/// The flags the plan depends on (shared by `run` and `plan`).
#[derive(Debug, Clone, clap::Args)]
pub struct PlanFlags {
    /// Number of nodes (n1..nN).
    #[arg(long, default_value = defaults::NODES, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub nodes: u16,
    /// Length of the main phase: seconds (60) or with a unit (30s, 2m).
    #[arg(long, default_value = defaults::TIME_LIMIT, value_name = "DURATION", value_parser = parse_duration)]
    pub time_limit: Duration,
    /// Concurrent client workers: a number, or `Kn` for K per node.
    #[arg(long, default_value = defaults::CONCURRENCY)]
    pub concurrency: String,
    /// Workload: tasks, locks, mixed or register (read/write/cas, checked for linearizability).
    #[arg(long, default_value = defaults::WORKLOAD)]
    pub workload: WorkloadName,
    /// Faults: none, partition, kill, pause, clock, lossy, slow, all, or a comma list.
    #[arg(long, default_value = defaults::NEMESIS)]
    pub nemesis: NemesisSet,
    /// Mean time between faults and mean length of a fault.
    #[arg(long, default_value = defaults::NEMESIS_INTERVAL, value_name = "DURATION", value_parser = parse_duration)]
    pub nemesis_interval: Duration,
    /// Seed of the plan (random when absent; always printed and stored).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Target client operations per second, over all workers.
    #[arg(long, default_value = defaults::RATE)]
    pub rate: f64,
    /// Number of distinct locks the lock workload contends on (register workload: registers
    /// in use at a time).
    #[arg(long, default_value = defaults::LOCKS)]
    pub locks: usize,
    /// Lease TTL a lock client asks for.
    #[arg(long, default_value = defaults::LEASE_TTL, value_name = "DURATION", value_parser = parse_duration)]
    pub lease_ttl: Duration,
    /// How long each task runs on its node.
    #[arg(long, default_value = defaults::TASK_WORK, value_name = "DURATION", value_parser = parse_duration)]
    pub task_work: Duration,
    /// Let faults of different kinds overlap (a partition during a pause during a clock
    /// bump); without it one fault at a time. Healing order: docs/run.md "Faults".
    #[arg(long)]
    pub overlap: bool,
}

/// The flags only the execution of a run depends on.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecFlags {
    /// The system under test (docs/extending.md says how to add one).
    #[arg(long, default_value = defaults::SYSTEM)]
    pub system: String,
    /// Run on the deterministic simulator: the same as --system sim (docs/sim.md). No root,
    /// no namespaces, no node binary; the same seed gives the same history, byte for byte.
    #[arg(long, conflicts_with = "system")]
    pub sim: bool,
    /// Store root: runs go to STORE/<workload>-<nemesis>/<time>-seed<seed>/.
    #[arg(long, default_value = defaults::STORE)]
    pub store: PathBuf,
    /// The node binary (default: the system's, e.g. gauntlet-node beside the gauntlet binary).
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// An argument passed to every node (repeatable), e.g. --node-arg=--bug=lock-without-quorum.
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    pub node_args: Vec<String>,
    /// Network: namespaces (all faults) or loopback (kill, pause and clock faults only).
    #[arg(long, default_value = defaults::NET)]
    pub net: NetMode,
    /// Partition backend: route (kernel-only, the default), iptables, or auto (iptables when
    /// installed).
    #[arg(long)]
    pub net_backend: Option<String>,
    /// Longest wait after healing before the final read (ends early once all tasks are done).
    /// Longer than the system's task liveness bound (10 s for gauntlet-node) plus the time to
    /// become healthy, so a task the cluster never finishes is proven not-done.
    #[arg(long, default_value = defaults::RECOVERY, value_name = "DURATION", value_parser = parse_duration)]
    pub recovery: Duration,
    /// How long a client waits for a response before recording the op as info [default: the
    /// system's: 2s for gauntlet-node and sim, 10s for etcd, whose lock call waits in line].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub op_timeout: Option<Duration>,
    /// When a lock hold ends for the locks checker: lease (until the release or the lease's
    /// certain end, renewals counted) or mutex (Jepsen's: until the release).
    #[arg(long, default_value = defaults::LOCK_MODEL, value_name = "lease|mutex")]
    pub lock_model: checkers::locks::LockModel,
    /// Fewest ok client operations for a verdict (fewer: unknown).
    #[arg(long, default_value = defaults::MIN_OK_OPS)]
    pub min_ok_ops: u64,
}

/// Parses a duration flag for clap, as Jepsen users type them: a bare number is seconds
/// (`60`, `0.5`), a number with a unit is read by humantime (`500ms`, `30s`, `2m`, `1h 30m`).
/// Every duration flag uses this parser (and `value_name = "DURATION"`, which the CLI test
/// looks for), so the rule lives here only. clap puts the flag's name before the message.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bare = t
        .parse::<f64>()
        .ok()
        .filter(|_| t.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    let parsed = match bare {
        Some(secs) => Duration::try_from_secs_f64(secs).map_err(|e| e.to_string()),
        None => humantime::parse_duration(t).map_err(|e| e.to_string()),
    };
    parsed.map_err(|e| {
        format!("{e}; expected seconds as a bare number (60, 0.5) or a number with a unit (500ms, 30s, 2m)")
    })
}

/// A duration in whole ms; its range is [`PlanOptions::validate`]'s to check.
fn millis(flag: &str, d: Duration) -> anyhow::Result<u64> {
    u64::try_from(d.as_millis()).map_err(|_| bad_input(format!("{flag}: too large")))
}

/// Parses `--concurrency`: `K` or `Kn` (K per node). Its range is checked with the other
/// options ([`PlanOptions::validate`]).
fn concurrency(value: &str, nodes: usize) -> anyhow::Result<usize> {
    let bad = || {
        bad_input(format!(
            "--concurrency: {value:?} is not a positive number or Kn (K clients per node)"
        ))
    };
    Ok(match value.strip_suffix('n') {
        Some(k) => k.parse::<usize>().map_err(|_| bad())?.saturating_mul(nodes),
        None => value.parse::<usize>().map_err(|_| bad())?,
    })
}

impl PlanFlags {
    /// Resolves the flags into plan options; `seed` is the one to use (given or drawn).
    /// Every range is checked by [`PlanOptions::validate`], the check a plan file gets too.
    pub fn resolve(&self, seed: u64) -> anyhow::Result<PlanOptions> {
        let nodes = usize::from(self.nodes);
        let opts = PlanOptions {
            seed,
            nodes,
            time_limit_ms: millis("--time-limit", self.time_limit)?,
            concurrency: concurrency(&self.concurrency, nodes)?,
            workload: self.workload,
            nemesis: self.nemesis.clone(),
            nemesis_interval_ms: millis("--nemesis-interval", self.nemesis_interval)?,
            rate: self.rate,
            locks: self.locks,
            lease_ttl_ms: millis("--lease-ttl", self.lease_ttl)?,
            task_work_ms: millis("--task-work", self.task_work)?,
            overlap: self.overlap,
        };
        opts.validate().map_err(|e| bad_input(e.for_flags()))?;
        Ok(opts)
    }

    /// The seed given, or a fresh random one.
    pub fn seed_or_random(&self) -> u64 {
        self.seed.unwrap_or_else(random_seed)
    }
}

/// A random seed from the OS (only ever used when `--seed` is absent; it is printed and stored).
pub fn random_seed() -> u64 {
    use rand::RngCore;
    // Keep seeds short enough to type: 0 .. 10^12.
    rand::rngs::OsRng.next_u64() % 1_000_000_000_000
}

impl ExecFlags {
    /// The system asked for: `sim` with `--sim`, else `--system`.
    pub fn system_name(&self) -> &str {
        if self.sim {
            crate::systems::sim::NAME
        } else {
            &self.system
        }
    }

    /// Resolves the execution flags into a run configuration around `plan`.
    pub fn resolve(
        &self,
        plan: PlanOptions,
        plan_file: Option<PathBuf>,
    ) -> anyhow::Result<RunConfig> {
        let system = crate::systems::by_name(self.system_name())?;
        system.check_workload(plan.workload)?;
        if system.simulate.is_some() && self.node_bin.is_some() {
            return Err(bad_input(format!(
                "--node-bin: the {} system runs no node binary",
                system.name
            )));
        }
        let mut plan = plan;
        system.fit_nemesis(&mut plan, plan_file.is_some())?;
        let op_timeout = match self.op_timeout {
            Some(d) => d,
            None => parse_duration(system.op_timeout).map_err(|e| {
                anyhow::anyhow!("the {} system's default op timeout: {e}", system.name)
            })?,
        };
        let node_bin = match &self.node_bin {
            Some(p) => p.clone(),
            None => (system.default_bin)()?,
        };
        if system.simulate.is_none() && !node_bin.is_file() {
            return Err(bad_input(format!(
                "--node-bin: {} is not a file ({})",
                node_bin.display(),
                system.bin_hint
            )));
        }
        (system.check_bin)(&node_bin)?;
        if let Some(b) = &self.net_backend {
            b.parse::<nemesis::BackendChoice>()
                .map_err(|e| bad_input(format!("--net-backend: {e}")))?;
        }
        let cfg = RunConfig {
            system: system.name.to_string(),
            plan,
            plan_file,
            store: self.store.clone(),
            node_bin,
            node_args: self.node_args.clone(),
            net: self.net,
            net_backend: self.net_backend.clone(),
            recovery_ms: u64::try_from(self.recovery.as_millis())
                .map_err(|_| bad_input("--recovery: too large"))?,
            op_timeout_ms: millis("--op-timeout", op_timeout)?,
            min_ok_ops: self.min_ok_ops,
            lock_model: self.lock_model,
        };
        (system.check_config)(&cfg)?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// `PlanFlags` parsed from `args` as clap parses them.
    fn flags(args: &[&str]) -> PlanFlags {
        #[derive(clap::Parser)]
        struct Cmd {
            #[command(flatten)]
            flags: PlanFlags,
        }
        let args = std::iter::once("plan").chain(args.iter().copied());
        <Cmd as clap::Parser>::try_parse_from(args).unwrap().flags
    }

    #[test]
    fn concurrency_accepts_numbers_and_per_node() {
        assert_eq!(concurrency("7", 5).unwrap(), 7);
        assert_eq!(concurrency("2n", 5).unwrap(), 10);
        for bad in ["0", "x", "n", "-1", "0n", "5000", "9223372036854775807n"] {
            let err = flags(&[&format!("--concurrency={bad}")])
                .resolve(1)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("--concurrency: "), "{bad}: {err}");
        }
    }

    #[test]
    fn each_range_is_checked_naming_its_flag() {
        // Proves the flags go through the one range check (PlanOptions::validate), each
        // error naming the flag, the product of time limit and rate included.
        for (args, flag) in [
            (&["--time-limit", "0s"][..], "--time-limit: "),
            (&["--time-limit", "25h"], "--time-limit: "),
            (&["--nemesis-interval", "0s"], "--nemesis-interval: "),
            (&["--lease-ttl", "30000000000s"], "--lease-ttl: "),
            (&["--task-work", "2days"], "--task-work: "),
            (&["--rate", "0"], "--rate: "),
            (&["--rate", "NaN"], "--rate: "),
            (&["--locks", "0"], "--locks: "),
            (
                &["--time-limit", "1h", "--rate", "100000"],
                "--time-limit × --rate: 3600 s at 100000 ops/s plans about 360000000 client ops",
            ),
        ] {
            let err = flags(args).resolve(1).unwrap_err().to_string();
            assert!(err.starts_with(flag), "{args:?}: {err}");
        }
        flags(&["--time-limit", "4h", "--rate", "100"])
            .resolve(1)
            .unwrap();
    }

    #[test]
    fn every_plan_flag_conflicts_with_a_plan_file() {
        // Proves `run --plan FILE` refuses each flag that shapes the plan (it would be
        // ignored), that the list is every flag of PlanFlags (a flag added later is covered
        // or this fails), and that the flags' defaults alone do not conflict.
        use clap::{Args, CommandFactory, Parser};
        #[derive(Parser)]
        struct Cmd {
            #[command(flatten)]
            run: crate::run::RunArgs,
        }
        let ids: BTreeSet<String> = PlanFlags::augment_args(clap::Command::new("x"))
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        let listed: BTreeSet<String> = PLAN_FLAG_IDS.iter().map(|s| s.to_string()).collect();
        assert_eq!(ids, listed);
        Cmd::try_parse_from(["run", "--plan=p.json"]).unwrap();
        for arg in Cmd::command().get_arguments() {
            if !listed.contains(arg.get_id().as_str()) {
                continue;
            }
            let long = format!("--{}", arg.get_long().unwrap());
            let value = arg
                .get_default_values()
                .first()
                .map_or("5".into(), |v| v.to_string_lossy().into_owned());
            // A switch (--overlap) takes no value.
            let mut argv = vec!["run", "--plan=p.json", &long];
            if arg.get_action().takes_values() {
                argv.push(&value);
            }
            let err = Cmd::try_parse_from(argv)
                .err()
                .unwrap_or_else(|| panic!("{long} was accepted with --plan"));
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{long}"
            );
            let msg = err.to_string();
            assert!(msg.contains("--plan") && msg.contains(&long), "{msg}");
        }
    }

    #[test]
    fn durations_are_seconds_when_bare_and_keep_their_units() {
        let ok = |s: &str| parse_duration(s).unwrap();
        assert_eq!(ok("60"), Duration::from_secs(60));
        assert_eq!(ok("0.5"), Duration::from_millis(500));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("30s"), Duration::from_secs(30));
        for bad in ["", "-1", "1e3", "x", "5 parsecs", "1..2"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(
                err.contains("bare number (60, 0.5)") && err.contains("500ms"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn nemesis_set_parses_lists() {
        let s: NemesisSet = "kill,pause".parse().unwrap();
        assert_eq!(s.label(), "kill+pause");
        assert_eq!(s.flag_value(), "kill,pause");
        assert_eq!("all".parse::<NemesisSet>().unwrap().label(), "all");
        assert_eq!("none".parse::<NemesisSet>().unwrap().label(), "none");
        assert!("kill,boom".parse::<NemesisSet>().is_err());
        let s: NemesisSet = "clock,lossy,slow".parse().unwrap();
        assert_eq!(s.label(), "clock+lossy+slow");
        assert!(s.has_clock());
        let all: NemesisSet = "partition,kill,pause,clock,lossy,slow".parse().unwrap();
        assert_eq!(all.label(), "all");
        let e = "clock,skew".parse::<NemesisSet>().unwrap_err();
        assert!(e.contains("\"skew\"") && e.contains("lossy"), "{e}");
    }
}
