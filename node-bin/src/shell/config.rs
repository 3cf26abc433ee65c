//! Command-line flags of `gauntlet-node` and their validation.

use crate::core::membership::SwimTiming;
use crate::core::message::NodeId;
use crate::core::node::{Bugs, Timing};
use crate::core::paxos::ProposerTiming;
use clap::{Parser, ValueEnum};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A planted bug (off unless named with `--bug`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BugName {
    /// Acknowledge a submit after an in-memory write; replicate a second later.
    AckBeforeQuorum,
    /// Grant/release locks from local state only, replicate afterwards.
    LockWithoutQuorum,
    /// Acceptors treat lock leases as expired at a quarter of their TTL.
    EarlyLeaseExpiry,
    /// Failover re-claims from a stale local copy without the compare-and-set and ignores
    /// claim leases (waits for the holder to be dead two leases); a restarted node forgets its
    /// claims.
    FailoverSkipsCas,
    /// KV reads come from the local acceptor's copy, without a quorum round.
    StaleRead,
    /// The core measures time (lease ages above all) with the wall clock instead of the
    /// monotonic one: a wall-clock jump ahead expires every lease at once.
    LeaseByWallClock,
    /// Rare (narrow interleaving): a submit arriving while another submit replicates is
    /// acknowledged once buffered for the next flush, 10 ms later; only a kill in those
    /// milliseconds loses it.
    AckBeforeFlush,
    /// Rare (two faults at once): a restarted node that hears from no peer within a second
    /// decides locks alone from its replayed state.
    LonelyRestart,
}

/// gauntlet-node: a leaderless cluster node (SWIM membership, CASPaxos locks and tasks).
#[derive(Debug, Parser)]
#[command(name = "gauntlet-node", version, about)]
pub struct Cli {
    /// This node's id; must be one of the --peer ids.
    #[arg(long)]
    pub id: String,
    /// Address to bind, exactly: HTTP (clients and peers) on TCP, gossip and consensus on UDP.
    #[arg(long)]
    pub listen: SocketAddr,
    /// A cluster member as ID=IP:PORT. Repeat for every configured member, this node included.
    #[arg(long = "peer", value_name = "ID=IP:PORT", required = true)]
    pub peers: Vec<String>,
    /// Directory for the acceptor log and the boot generation (created if missing).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Switch on a planted bug (repeatable).
    #[arg(long = "bug", value_enum)]
    pub bugs: Vec<BugName>,
    /// SWIM: one probe every this many ms.
    #[arg(long, default_value_t = 400)]
    pub probe_period_ms: u64,
    /// SWIM: wait this long for a direct ack before probing indirectly.
    #[arg(long, default_value_t = 200)]
    pub probe_timeout_ms: u64,
    /// SWIM: a suspect not refuting within this many ms is declared dead.
    #[arg(long, default_value_t = 1200)]
    pub suspicion_timeout_ms: u64,
    /// SWIM: members asked to probe indirectly.
    #[arg(long, default_value_t = 2)]
    pub indirect_probes: usize,
    /// A task claim not renewed for this many ms may be taken over by another node.
    #[arg(long, default_value_t = 3000)]
    pub claim_lease_ms: u64,
    /// How often the node looks for tasks to fail over, in ms.
    #[arg(long, default_value_t = 250)]
    pub scan_period_ms: u64,
    /// Deadline of one client operation, in ms (kept below typical client timeouts, so that a
    /// failure can still be reported as definite).
    #[arg(long, default_value_t = 1500)]
    pub op_timeout_ms: u64,
    /// A consensus round (prepare or accept) not answered by a majority within this many ms
    /// is retried with a higher ballot.
    #[arg(long, default_value_t = 300)]
    pub phase_timeout_ms: u64,
    /// Timer resolution of the core, in ms.
    #[arg(long, default_value_t = 10)]
    pub tick_ms: u64,
    /// The run's seed: the node's RNGs (probe order, backoffs) are seeded from it, the id and
    /// the boot generation. Without it, from a hash of the id and the generation.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: NodeId,
    pub listen: SocketAddr,
    pub peers: BTreeMap<NodeId, SocketAddr>,
    pub data_dir: PathBuf,
    pub bugs: Bugs,
    /// The planted bug `lease-by-wall-clock` (a shell bug: which clock the core is given).
    pub wall_clock_leases: bool,
    pub timing: Timing,
    pub tick: Duration,
    /// The run's seed (`--seed`), if given.
    pub seed: Option<u64>,
}

impl Cli {
    /// Checks the flags together; the error names the flag that is wrong.
    pub fn validate(&self) -> Result<NodeConfig, String> {
        let mut peers = BTreeMap::new();
        for p in &self.peers {
            let (id, addr) = p
                .split_once('=')
                .ok_or_else(|| format!("--peer {p:?}: expected ID=IP:PORT"))?;
            if id.is_empty() {
                return Err(format!("--peer {p:?}: empty id"));
            }
            let addr: SocketAddr = addr
                .parse()
                .map_err(|e| format!("--peer {p:?}: bad address {addr:?}: {e}"))?;
            if peers.insert(NodeId::from(id), addr).is_some() {
                return Err(format!("--peer {p:?}: id {id} given twice"));
            }
        }
        let id = NodeId(self.id.clone());
        match peers.get(&id) {
            None => return Err(format!("--id {}: not among the --peer ids", self.id)),
            Some(a) if *a != self.listen => {
                return Err(format!(
                    "--peer {}={a} disagrees with --listen {}",
                    self.id, self.listen
                ))
            }
            Some(_) => {}
        }
        for (flag, v) in [
            ("--probe-period-ms", self.probe_period_ms),
            ("--probe-timeout-ms", self.probe_timeout_ms),
            ("--suspicion-timeout-ms", self.suspicion_timeout_ms),
            ("--claim-lease-ms", self.claim_lease_ms),
            ("--scan-period-ms", self.scan_period_ms),
            ("--op-timeout-ms", self.op_timeout_ms),
            ("--phase-timeout-ms", self.phase_timeout_ms),
            ("--tick-ms", self.tick_ms),
        ] {
            if v == 0 {
                return Err(format!("{flag} must be at least 1"));
            }
        }
        if self.probe_timeout_ms >= self.probe_period_ms {
            return Err("--probe-timeout-ms must be less than --probe-period-ms".into());
        }
        let ms = Duration::from_millis;
        let timing = Timing {
            swim: SwimTiming {
                probe_period: ms(self.probe_period_ms),
                probe_timeout: ms(self.probe_timeout_ms),
                suspicion_timeout: ms(self.suspicion_timeout_ms),
                indirect_probes: self.indirect_probes,
            },
            proposer: ProposerTiming {
                phase_timeout: ms(self.phase_timeout_ms),
                ..ProposerTiming::default()
            },
            claim_lease: ms(self.claim_lease_ms),
            scan_period: ms(self.scan_period_ms),
            op_timeout: ms(self.op_timeout_ms),
            ..Timing::default()
        };
        let has = |b| self.bugs.contains(&b);
        let bugs = Bugs {
            ack_before_quorum: has(BugName::AckBeforeQuorum),
            lock_without_quorum: has(BugName::LockWithoutQuorum),
            early_lease_expiry: has(BugName::EarlyLeaseExpiry),
            failover_skips_cas: has(BugName::FailoverSkipsCas),
            stale_read: has(BugName::StaleRead),
            ack_before_flush: has(BugName::AckBeforeFlush),
            lonely_restart: has(BugName::LonelyRestart),
        };
        Ok(NodeConfig {
            id,
            listen: self.listen,
            peers,
            data_dir: self.data_dir.clone(),
            bugs,
            wall_clock_leases: has(BugName::LeaseByWallClock),
            timing,
            tick: ms(self.tick_ms),
            seed: self.seed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::node::node_seed;

    fn cli(extra: &[&str]) -> Result<NodeConfig, String> {
        let mut args = vec![
            "gauntlet-node",
            "--id",
            "n1",
            "--listen",
            "127.0.0.1:7001",
            "--peer",
            "n1=127.0.0.1:7001",
            "--data-dir",
            "/nonexistent",
        ];
        args.extend_from_slice(extra);
        Cli::try_parse_from(args)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn seed_flag_seeds_the_rngs_and_its_absence_keeps_the_old_seed() {
        assert_eq!(cli(&[]).unwrap().seed, None);
        assert_eq!(cli(&["--seed", "42"]).unwrap().seed, Some(42));
        assert!(cli(&["--seed", "-1"]).is_err());
        let n1 = NodeId::from("n1");
        // Without --seed: the hash of id and generation, exactly as before the flag.
        assert_eq!(
            node_seed(None, &n1, 3),
            crate::core::wal::fnv1a("n1/3".as_bytes())
        );
        // With it: a function of the run's seed, the id and the generation.
        let s = node_seed(Some(42), &n1, 3);
        assert_eq!(s, node_seed(Some(42), &n1, 3));
        assert_ne!(s, node_seed(Some(43), &n1, 3));
        assert_ne!(s, node_seed(Some(42), &NodeId::from("n2"), 3));
        assert_ne!(s, node_seed(Some(42), &n1, 4));
        assert_ne!(s, node_seed(None, &n1, 3));
    }
}
