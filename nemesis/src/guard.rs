//! The guard an applied fault returns. It owns a handle to the sandbox (not a borrow), so
//! the harness can hold a partition guard and a kill guard at once and heal them in any
//! order, from any thread.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::error::Result;
use crate::fault::{Fault, NodeId};
use crate::sandbox::Inner;

#[derive(Debug)]
pub(crate) enum GuardKind {
    Partition(u64),
    Kill(Vec<NodeId>),
    Pause(Vec<NodeId>),
    /// A loss, slow or netem fault, by its id in the network state.
    Net(u64),
    /// A clock fault, by its id in the clock table.
    Clock(u64),
}

/// What the verification of an applied fault measured, for the history and the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Observed {
    /// A lossy link: the loss measured over `probes` datagrams against the loss planned
    /// by every active loss fault on that link.
    Loss {
        /// The sender.
        from: NodeId,
        /// The receiver.
        to: NodeId,
        /// The planned probability (compounded over the link's loss faults).
        planned: f64,
        /// The measured fraction lost.
        measured: f64,
        /// How many datagrams were sent.
        probes: u32,
        /// The accepted |measured - planned|: 4 binomial standard deviations + 1/probes.
        tolerance: f64,
    },
    /// A slow node: the egress rate measured after the token bucket's burst.
    Rate {
        /// The node.
        node: NodeId,
        /// The planned rate, kbit/s.
        planned_kbit: f64,
        /// The measured rate, kbit/s.
        measured_kbit: f64,
        /// How many datagrams the measurement rests on.
        datagrams: usize,
    },
    /// A node's clock as a process under its preload saw it.
    Clock {
        /// The node.
        node: NodeId,
        /// The planned total offset, ms.
        planned_offset_ms: i64,
        /// The offset `date` showed against the real clock, ms.
        observed_offset_ms: f64,
        /// The planned rate (1 without a drift).
        rate: f64,
    },
}

/// An applied fault. [`FaultGuard::heal`] undoes it and reports errors; dropping the guard
/// heals as a backstop (errors are logged, never panicked on). After
/// [`crate::Sandbox::heal_all`] the guard has nothing left to heal.
#[must_use = "dropping the guard heals the fault"]
pub struct FaultGuard {
    inner: Arc<Inner>,
    fault: Fault,
    kind: GuardKind,
    effective_at: Instant,
    generation: u64,
    healed: bool,
    observed: Vec<Observed>,
}

impl fmt::Debug for FaultGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultGuard")
            .field("fault", &self.fault)
            .field("effective_at", &self.effective_at)
            .field("healed", &self.healed)
            .field("observed", &self.observed)
            .finish()
    }
}

impl FaultGuard {
    pub(crate) fn new(
        inner: Arc<Inner>,
        fault: Fault,
        kind: GuardKind,
        effective_at: Instant,
        generation: u64,
    ) -> Self {
        FaultGuard {
            inner,
            fault,
            kind,
            effective_at,
            generation,
            healed: false,
            observed: Vec::new(),
        }
    }

    pub(crate) fn set_observed(&mut self, o: Vec<Observed>) {
        self.observed = o;
    }

    /// What verification measured when the fault was applied: the loss per link, the rate
    /// per node, the clock offset per node (empty for partitions, kills and pauses).
    pub fn observed(&self) -> &[Observed] {
        &self.observed
    }

    /// The fault as applied.
    pub fn fault(&self) -> &Fault {
        &self.fault
    }

    /// When the fault was in force, as verified: for a partition, the moment the rules
    /// were installed (the probes sent after it confirmed them); for a kill, the moment the
    /// last pid was reaped; for a pause, the moment the last process was seen stopped.
    pub fn effective_at(&self) -> Instant {
        self.effective_at
    }

    /// Undoes the fault (partition removed and verified, killed nodes restarted with the
    /// same spec, paused nodes resumed) and returns when that took effect. Healing a fault
    /// already healed by [`crate::Sandbox::heal_all`] is a no-op.
    pub fn heal(mut self) -> Result<Instant> {
        self.healed = true;
        self.heal_inner()
    }

    fn heal_inner(&self) -> Result<Instant> {
        if self.inner.generation() != self.generation {
            return Ok(Instant::now());
        }
        match &self.kind {
            GuardKind::Partition(id) => self.inner.unpartition(*id),
            GuardKind::Net(id) => self.inner.unshape(*id),
            GuardKind::Clock(id) => self.inner.unclock(*id, &self.fault.nodes()),
            GuardKind::Kill(nodes) => {
                for n in nodes {
                    match self.inner.restart(n) {
                        Ok(_) => {}
                        // Taken down meanwhile: nothing left to restart.
                        Err(crate::Error::Down) => return Ok(Instant::now()),
                        Err(e) => return Err(e),
                    }
                }
                Ok(Instant::now())
            }
            GuardKind::Pause(nodes) => {
                let mut at = Instant::now();
                for n in nodes {
                    let i = self.inner.idx(n)?;
                    match self.inner.with_proc(n, i, |p| p.resume(n)) {
                        Ok(t) => at = t,
                        // Killed meanwhile: nothing to resume, and that is not this guard's error.
                        Err(crate::Error::NotRunning { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(at)
            }
        }
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        if !self.healed {
            self.healed = true;
            if let Err(e) = self.heal_inner() {
                tracing::error!(fault = %self.fault, "healing a dropped fault guard: {e}");
            }
        }
    }
}
