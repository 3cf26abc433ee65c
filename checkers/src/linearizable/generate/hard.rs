//! The hard set: single-key register histories shaped like those Jepsen records against etcd
//! during faults, for the side-by-side benchmark with Porcupine (docs/performance-lin.md).
//!
//! Each history has one key, 5-10 client workers, reads, writes and cas of values from a
//! small range (3-6 values), 10-40% of the writes and cas ending in `info` (the worker's
//! process crashes and a new process number continues, so `info` ops pile up as open
//! operations), some failed reads, and 200-2,000 operations. A third are linearizable; the
//! others carry a planted stale read or lost write on a marker value that no other op writes,
//! so each verdict is known by construction ([`HardHistory::linearizable`]). The last
//! [`HARDEST`] histories take the top of every range, as the histories that dominate a
//! fault-heavy night do.

use histories::Op;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{generate, GenConfig, Plant};

/// How many histories of the set take the top of every range.
pub const HARDEST: usize = 5;

/// One history of the hard set with how it was made.
#[derive(Debug, Clone)]
pub struct HardHistory {
    /// `hard-NNN` (the position in the set).
    pub name: String,
    /// The ops, in history order.
    pub ops: Vec<Op>,
    /// The verdict by construction: true unless an anomaly was planted.
    pub linearizable: bool,
    /// What was planted.
    pub plant: Plant,
    /// The generator's parameters.
    pub config: GenConfig,
    /// The generator's seed that gave this history.
    pub seed: u64,
}

/// The generator's parameters of history `i` of a set of `count`, drawn from `rng`.
fn config_of(i: usize, count: usize, rng: &mut ChaCha8Rng) -> GenConfig {
    let hardest = i + HARDEST >= count;
    let info: f64 = if hardest {
        0.4
    } else {
        rng.gen_range(0.10..=0.40)
    };
    // The planted anomaly comes after about `pending` info writes and cas (a quarter of the
    // lines completes a write or cas), at most halfway: what a WGL search must exhaust before
    // it can say "not linearizable" grows exponentially with them.
    let pending: f64 = if hardest {
        rng.gen_range(6.0..=7.0)
    } else {
        rng.gen_range(1.0..=5.0)
    };
    let ops = if hardest {
        rng.gen_range(1_600..=2_000)
    } else {
        rng.gen_range(200..=2_000)
    };
    GenConfig {
        ops,
        keys: 1,
        workers: if hardest { 10 } else { rng.gen_range(5..=10) },
        read_ratio: 0.5,
        cas_ratio: 0.5,
        info_ratio: 0.0,
        fail_ratio: 0.0,
        mutation_info_ratio: Some(info),
        read_fail_ratio: Some(0.05),
        values: if hardest { 3 } else { rng.gen_range(3..=6) },
        init: 0,
        marker: true,
        plant_after: Some(((pending / (0.25 * info)) as usize).min(ops)),
    }
}

/// The hard set: `count` histories, deterministic in (`seed`, `count`).
pub fn hard_set(seed: u64, count: usize) -> Vec<HardHistory> {
    (0..count).map(|i| hard_history(seed, i, count)).collect()
}

/// History `i` of the hard set of `count` made from `seed`.
pub fn hard_history(seed: u64, i: usize, count: usize) -> HardHistory {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9));
    let config = config_of(i, count, &mut rng);
    let plant = match i % 3 {
        0 => Plant::Nothing,
        1 => Plant::StaleRead,
        _ => Plant::LostWrite,
    };
    // A plant may not happen (no read came at the right time): the next seed is tried.
    let mut s = rng.gen::<u64>();
    loop {
        if let Some(ops) = generate(&config, s, plant) {
            return HardHistory {
                name: format!("hard-{i:03}"),
                ops,
                linearizable: plant == Plant::Nothing,
                plant,
                config,
                seed: s,
            };
        }
        s = s.wrapping_add(1);
    }
}
