//! The flags of `gauntlet run` and `gauntlet plan`, and their resolution into
//! [`PlanOptions`] and [`RunConfig`]. Every bad value is an error naming its flag (exit 254).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{NemesisSet, NetMode, PlanOptions, RunConfig, Workload};
use crate::exit::bad_input;

/// The flags the plan depends on (shared by `run` and `plan`).
#[derive(Debug, Clone, clap::Args)]
pub struct PlanFlags {
    /// Number of nodes (n1..nN).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub nodes: u16,
    /// Length of the main phase: seconds (60) or with a unit (30s, 2m).
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    pub time_limit: Duration,
    /// Concurrent client workers: a number, or `Kn` for K per node.
    #[arg(long, default_value = "2n")]
    pub concurrency: String,
    /// Workload: tasks, locks, mixed or register (read/write/cas, checked for linearizability).
    #[arg(long, default_value = "mixed")]
    pub workload: Workload,
    /// Faults: none, partition, kill, pause, all, or a comma list.
    #[arg(long, default_value = "all")]
    pub nemesis: NemesisSet,
    /// Mean time between faults and mean length of a fault.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = parse_duration)]
    pub nemesis_interval: Duration,
    /// Seed of the plan (random when absent; always printed and stored).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Target client operations per second, over all workers.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Number of distinct locks the lock workload contends on (register workload: registers
    /// in use at a time).
    #[arg(long, default_value_t = 3)]
    pub locks: usize,
    /// Lease TTL a lock client asks for.
    #[arg(long, default_value = "2s", value_name = "DURATION", value_parser = parse_duration)]
    pub lease_ttl: Duration,
    /// How long each task runs on its node.
    #[arg(long, default_value = "50ms", value_name = "DURATION", value_parser = parse_duration)]
    pub task_work: Duration,
}

/// The flags only the execution of a run depends on.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecFlags {
    /// Store root: runs go to STORE/<workload>-<nemesis>/<time>-seed<seed>/.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// The node binary (default: gauntlet-node beside the gauntlet binary).
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// An argument passed to every node (repeatable), e.g. --node-arg=--bug=lock-without-quorum.
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    pub node_args: Vec<String>,
    /// Network: namespaces (all faults) or loopback (kill and pause only).
    #[arg(long, default_value = "namespaces")]
    pub net: NetMode,
    /// Partition backend: route (kernel-only, the default), iptables, or auto (iptables when
    /// installed).
    #[arg(long)]
    pub net_backend: Option<String>,
    /// Longest wait after healing before the final read (ends early once all tasks are done).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub recovery: Duration,
    /// How long a client waits for a response before recording the op as info.
    #[arg(long, default_value = "2s", value_name = "DURATION", value_parser = parse_duration)]
    pub op_timeout: Duration,
    /// Fewest ok client operations for a verdict (fewer: unknown).
    #[arg(long, default_value_t = 10)]
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

fn millis(flag: &str, d: Duration) -> anyhow::Result<u64> {
    let ms = u64::try_from(d.as_millis()).map_err(|_| bad_input(format!("{flag}: too large")))?;
    if ms == 0 {
        return Err(bad_input(format!("{flag}: must be at least 1ms")));
    }
    Ok(ms)
}

/// Parses `--concurrency`: `K` or `Kn` (K per node).
fn concurrency(value: &str, nodes: usize) -> anyhow::Result<usize> {
    let bad = || {
        bad_input(format!(
            "--concurrency: {value:?} is not a positive number or Kn (K clients per node)"
        ))
    };
    let n = match value.strip_suffix('n') {
        Some(k) => k.parse::<usize>().map_err(|_| bad())? * nodes,
        None => value.parse::<usize>().map_err(|_| bad())?,
    };
    if n == 0 || n > 1024 {
        return Err(bad_input(format!(
            "--concurrency: {n} clients; expected 1 to 1024"
        )));
    }
    Ok(n)
}

impl PlanFlags {
    /// Resolves the flags into plan options; `seed` is the one to use (given or drawn).
    pub fn resolve(&self, seed: u64) -> anyhow::Result<PlanOptions> {
        let nodes = usize::from(self.nodes);
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= 100_000.0) {
            return Err(bad_input(format!(
                "--rate: {} ops/s; expected more than 0 and at most 100000",
                self.rate
            )));
        }
        if self.locks == 0 || self.locks > 10_000 {
            return Err(bad_input(format!(
                "--locks: {}; expected 1 to 10000",
                self.locks
            )));
        }
        let time_limit_ms = millis("--time-limit", self.time_limit)?;
        if time_limit_ms > 24 * 3600 * 1000 {
            return Err(bad_input("--time-limit: at most 24h"));
        }
        Ok(PlanOptions {
            seed,
            nodes,
            time_limit_ms,
            concurrency: concurrency(&self.concurrency, nodes)?,
            workload: self.workload,
            nemesis: self.nemesis.clone(),
            nemesis_interval_ms: millis("--nemesis-interval", self.nemesis_interval)?,
            rate: self.rate,
            locks: self.locks,
            lease_ttl_ms: millis("--lease-ttl", self.lease_ttl)?,
            task_work_ms: u64::try_from(self.task_work.as_millis())
                .map_err(|_| bad_input("--task-work: too large"))?,
        })
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
    /// Resolves the execution flags into a run configuration around `plan`.
    pub fn resolve(
        &self,
        plan: PlanOptions,
        plan_file: Option<PathBuf>,
    ) -> anyhow::Result<RunConfig> {
        let node_bin = match &self.node_bin {
            Some(p) => p.clone(),
            None => default_node_bin()?,
        };
        if !node_bin.is_file() {
            return Err(bad_input(format!(
                "--node-bin: {} is not a file (build it with `cargo build --release -p node-bin`, \
                 or `cargo build -p node-bin` for a debug build)",
                node_bin.display()
            )));
        }
        if let Some(b) = &self.net_backend {
            b.parse::<nemesis::BackendChoice>()
                .map_err(|e| bad_input(format!("--net-backend: {e}")))?;
        }
        Ok(RunConfig {
            plan,
            plan_file,
            store: self.store.clone(),
            node_bin,
            node_args: self.node_args.clone(),
            net: self.net,
            net_backend: self.net_backend.clone(),
            recovery_ms: u64::try_from(self.recovery.as_millis())
                .map_err(|_| bad_input("--recovery: too large"))?,
            op_timeout_ms: millis("--op-timeout", self.op_timeout)?,
            min_ok_ops: self.min_ok_ops,
        })
    }
}

/// `gauntlet-node` in the directory of the running `gauntlet` binary; failing that, on PATH.
pub fn default_node_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()
        .map_err(|e| bad_input(format!("--node-bin: cannot find own binary: {e}")))?;
    let beside = beside(&exe, "gauntlet-node");
    if beside.is_file() {
        return Ok(beside);
    }
    Ok(nemesis::find_in_path("gauntlet-node").unwrap_or(beside))
}

fn beside(exe: &Path, name: &str) -> PathBuf {
    exe.parent().unwrap_or(Path::new(".")).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_accepts_numbers_and_per_node() {
        assert_eq!(concurrency("7", 5).unwrap(), 7);
        assert_eq!(concurrency("2n", 5).unwrap(), 10);
        for bad in ["0", "x", "n", "-1", "0n", "5000"] {
            let err = concurrency(bad, 5).unwrap_err().to_string();
            assert!(err.contains("--concurrency"), "{bad}: {err}");
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
    }
}
