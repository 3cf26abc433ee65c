//! gauntlet-sim: N real `gauntlet-node` cores ([`node_bin::core::node::Node`]) in one process,
//! on virtual time, driven by one event queue and seeded RNGs, so that a seed replays exactly.
//!
//! - [`Sim`]: the cluster, its network, disks and clocks; clients invoke requests and get
//!   completions; faults are the nemesis crate's [`Fault`]s (docs/sim.md: the model)
//! - [`queue`]: the event queue keyed by (virtual time, sequence)
//! - [`clock`]: per-node monotonic clocks with drift, wall clocks moved by clock faults
//! - [`trace`]: the per-event hash chain and [`trace::check_determinism`]
//! - [`drive`]: a first end-to-end driver (tasks + locks through the client API, faults,
//!   a `histories` history on virtual time, the real checkers)
//!
//! Nothing here reads the wall clock, uses a thread RNG or iterates a `HashMap`: every choice
//! comes from a `ChaCha8Rng` stream derived from the seed, every collection iterated is a
//! `BTreeMap` or a `Vec`.

pub mod clock;
pub mod config;
pub mod drive;
mod host;
pub mod queue;
pub mod trace;

pub use config::{DiskConfig, NetConfig, SimConfig};
pub use host::Sim;
pub use nemesis::Fault;
pub use queue::Nanos;

use node_bin::core::node::ClientResp;

/// A client request's id, unique within one [`Sim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReqId(pub u64);

/// An applied fault, to heal later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FaultId(pub u64);

/// How a client request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The node answered (which may be an error reply, definite or not).
    Reply(ClientResp),
    /// No answer within the client timeout: the request may still take effect.
    Timeout,
    /// The node was down when the request arrived: nothing was sent to the core.
    Refused,
    /// The node died while the request was in its core: it may have taken effect.
    Reset,
}

/// A finished client request, with virtual times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub req: ReqId,
    /// The node the request was sent to.
    pub node: String,
    pub invoked: Nanos,
    pub completed: Nanos,
    pub outcome: Outcome,
}

/// Errors of the simulator's API (bad input from its caller).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("no simulation node named {0:?}")]
    UnknownNode(String),
    #[error("bad fault: {0}")]
    BadFault(#[from] nemesis::Error),
    #[error("no applied fault {0:?}")]
    UnknownFault(FaultId),
    #[error("a simulation needs at least one node")]
    NoNodes,
}

/// Mixes a seed with a stream number (SplitMix64's finalizer): each subsystem and node gets an
/// independent stream, so a change in how one draws leaves the others' draws unchanged.
pub fn mix(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
