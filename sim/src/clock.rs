//! Per-node clocks. The core is fed a monotonic clock (the shell passes `start.elapsed()`),
//! which restarts at 0 with every boot and may run at a slightly wrong rate (quartz drift, in
//! ppm). The wall clock is separate: the nemesis's clock faults (bump, strobe, drift) move only
//! the wall clock, as libfaketime does for real nodes, so a plan means the same in both.
//! Integer arithmetic only (no floats on the simulated path except the rate of a drift fault,
//! applied through one multiplication).

use crate::queue::Nanos;

/// A node's monotonic clock for one boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonoClock {
    /// Global time of the boot.
    pub boot_at: Nanos,
    /// Rate error in parts per million (+100: runs 100 ppm fast).
    pub drift_ppm: i32,
}

const MILLION: i128 = 1_000_000;

impl MonoClock {
    /// Local elapsed time since boot at global time `t` (never before the boot).
    pub fn local(&self, t: Nanos) -> Nanos {
        let e = i128::from(t.saturating_sub(self.boot_at));
        (e * (MILLION + i128::from(self.drift_ppm)) / MILLION) as Nanos
    }

    /// The earliest global time at which the local clock reads at least `local`.
    pub fn global(&self, local: Nanos) -> Nanos {
        let rate = MILLION + i128::from(self.drift_ppm);
        let e = (i128::from(local) * MILLION + rate - 1) / rate;
        let mut t = self.boot_at + e as Nanos;
        // Rounding: step forward until the local clock has reached `local`.
        while self.local(t) < local {
            t += 1;
        }
        t
    }
}

/// The wall clock's faults on one node (the nemesis's clock-bump, clock-strobe, clock-drift).
#[derive(Debug, Clone, Default)]
pub struct WallClock {
    /// Sum of the active bumps, ms.
    pub bumps: Vec<(u64, i64)>,
    /// Active strobes: (fault, start, a_ms, b_ms, period_ms, duration_ms).
    pub strobes: Vec<(u64, Nanos, i64, i64, u64, u64)>,
    /// Active drifts: (fault, since, rate).
    pub drifts: Vec<(u64, Nanos, f64)>,
}

impl WallClock {
    /// The wall clock's offset from true time at global time `t`, in ns.
    pub fn offset_ns(&self, t: Nanos) -> i128 {
        let mut off: i128 = self
            .bumps
            .iter()
            .map(|(_, ms)| i128::from(*ms))
            .sum::<i128>()
            * 1_000_000;
        for (_, start, a, b, period, duration) in &self.strobes {
            let e = t.saturating_sub(*start) / 1_000_000;
            if e < *duration {
                let ms = if (e / (*period).max(1)) % 2 == 0 {
                    *a
                } else {
                    *b
                };
                off += i128::from(ms) * 1_000_000;
            }
        }
        for (_, since, rate) in &self.drifts {
            let e = t.saturating_sub(*since) as f64;
            off += (e * (rate - 1.0)) as i128;
        }
        off
    }

    /// Removes the contributions of fault `id`.
    pub fn heal(&mut self, id: u64) {
        self.bumps.retain(|b| b.0 != id);
        self.strobes.retain(|s| s.0 != id);
        self.drifts.retain(|d| d.0 != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_for_every_drift_and_global_inverts_local() {
        for ppm in [-500, -100, 0, 1, 100, 500, 300_000] {
            let c = MonoClock {
                boot_at: 7_000,
                drift_ppm: ppm,
            };
            let mut last = 0;
            for t in (7_000..7_000 + 5_000_000).step_by(99_991) {
                let l = c.local(t);
                assert!(l >= last, "ppm {ppm}");
                last = l;
                let g = c.global(l);
                assert!(g <= t && c.local(g) >= l, "ppm {ppm} t {t}");
            }
        }
    }

    #[test]
    fn strobe_flips_then_rests() {
        let mut w = WallClock::default();
        w.strobes.push((1, 0, 100, -100, 10, 40));
        assert_eq!(w.offset_ns(0), 100_000_000);
        assert_eq!(w.offset_ns(10_000_000), -100_000_000);
        assert_eq!(w.offset_ns(50_000_000), 0);
        w.bumps.push((2, 5));
        w.heal(1);
        assert_eq!(w.offset_ns(0), 5_000_000);
    }
}
