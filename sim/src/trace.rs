//! The per-event hash chain (TigerBeetle's style): every event the simulator runs folds its
//! time, sequence, kind and node (and every client completion its outcome) into one u64, and
//! every [`CHECKPOINT_EVERY`] events the chain is saved, so two runs of one seed can be
//! compared and a divergence located in virtual time.

use crate::queue::Nanos;

/// Events between two checkpoints.
pub const CHECKPOINT_EVERY: u64 = 4096;

/// The chain so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    pub hash: u64,
    pub events: u64,
    /// (events so far, virtual time, hash) every [`CHECKPOINT_EVERY`] events.
    pub checkpoints: Vec<(u64, Nanos, u64)>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Trace {
    pub fn new() -> Trace {
        Trace {
            hash: FNV_OFFSET,
            ..Trace::default()
        }
    }

    /// Folds one word into the chain.
    pub fn fold(&mut self, x: u64) {
        for b in x.to_le_bytes() {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }

    /// Folds bytes (a reply's text) into the chain.
    pub fn fold_bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.hash = (self.hash ^ u64::from(*b)).wrapping_mul(FNV_PRIME);
        }
    }

    /// One event ran.
    pub fn event(&mut self, at: Nanos, seq: u64, kind: u64, node: u64) {
        self.fold(at);
        self.fold(seq);
        self.fold(kind << 32 | node);
        self.events += 1;
        if self.events % CHECKPOINT_EVERY == 0 {
            self.checkpoints.push((self.events, at, self.hash));
        }
    }
}

/// Where two runs of one seed parted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("non-determinism: the runs diverge {where_}")]
pub struct Divergence {
    pub where_: String,
}

/// Compares two traces; the error names the first checkpoint that differs (its event count
/// and virtual time), or the end.
pub fn compare(a: &Trace, b: &Trace) -> Result<(), Divergence> {
    for (x, y) in a.checkpoints.iter().zip(&b.checkpoints) {
        if x != y {
            return Err(Divergence {
                where_: format!(
                    "within the {} events before event {} (virtual time {} ns in the first run, {} ns in the second)",
                    CHECKPOINT_EVERY, x.0, x.1, y.1
                ),
            });
        }
    }
    if a.events != b.events || a.hash != b.hash {
        return Err(Divergence {
            where_: format!(
                "after the last checkpoint: {} events (hash {:016x}) against {} (hash {:016x})",
                a.events, a.hash, b.events, b.hash
            ),
        });
    }
    Ok(())
}

/// Runs `run` twice and compares the traces it returns: the helper behind a determinism
/// check. `run` must build everything it uses from its arguments (seed, options).
pub fn check_determinism<F: Fn() -> Trace>(run: F) -> Result<Trace, Divergence> {
    let a = run();
    let b = run();
    compare(&a, &b)?;
    Ok(a)
}
