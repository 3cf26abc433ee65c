//! The simulator's knobs and their defaults (docs/sim.md lists them with the reasons).

use node_bin::core::node::{Bugs, Timing};
use std::time::Duration;

/// Network model: every datagram draws its own latency, so datagrams reorder naturally.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// Smallest one-way latency.
    pub latency_min: Duration,
    /// Mean of the exponential tail added to `latency_min` (integer inverse CDF, no libm).
    pub latency_tail_mean: Duration,
    /// Chance that a datagram is lost (before any loss fault).
    pub loss: f64,
    /// Chance that a datagram is delivered twice (each copy draws its own latency).
    pub duplicate: f64,
    /// One-way latency between a client and a node.
    pub client_latency: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency_min: Duration::from_micros(100),
            latency_tail_mean: Duration::from_micros(400),
            loss: 0.0,
            duplicate: 0.0,
            client_latency: Duration::from_micros(200),
        }
    }
}

/// Disk model: one fsync at a time per node, with everything queued behind it in one group.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskConfig {
    /// Smallest fsync latency.
    pub fsync_min: Duration,
    /// Largest fsync latency (uniform in between).
    pub fsync_max: Duration,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            fsync_min: Duration::from_micros(200),
            fsync_max: Duration::from_millis(2),
        }
    }
}

/// The whole configuration of one simulated cluster.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of nodes, named `n1`..`nN`.
    pub nodes: usize,
    pub bugs: Bugs,
    pub timing: Timing,
    pub net: NetConfig,
    pub disk: DiskConfig,
    /// Each boot of each node draws its monotonic clock's rate error, in ppm, uniformly in
    /// this range (inclusive; quartz: tens of ppm either way). Values below -999,999 count as
    /// -999,999: a clock must run forward.
    pub drift_ppm: (i32, i32),
    /// A client gives up on a request after this long (and records it as unknown).
    pub client_timeout: Duration,
    /// Feed the core the node's wall clock instead of its monotonic clock (what a shell with
    /// the planted bug `lease-by-wall-clock` does); the wall clock is what clock faults move.
    pub feed_wall_clock: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 5,
            bugs: Bugs::default(),
            timing: Timing::default(),
            net: NetConfig::default(),
            disk: DiskConfig::default(),
            drift_ppm: (-100, 100),
            client_timeout: Duration::from_secs(2),
            feed_wall_clock: false,
        }
    }
}
