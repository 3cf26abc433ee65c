//! The clock the core measures time with: [`CoreClock::elapsed`] is the `now` every
//! `Node::step` gets.
//!
//! A correct node measures with the monotonic clock (`Instant`, CLOCK_MONOTONIC), which no
//! wall-clock fault moves: a bump, a strobe or a drift of CLOCK_REALTIME leaves its lease ages
//! and timers alone. The planted bug `lease-by-wall-clock` measures with the wall clock
//! instead (`SystemTime`, CLOCK_REALTIME, as code that stores "accepted at" timestamps from
//! `time()` does): a jump ahead makes every lease look old at once, a jump back makes time
//! stand still (never below the start: `elapsed` saturates at zero).

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// Where the core's `now` comes from.
#[derive(Debug, Clone, Copy)]
pub enum CoreClock {
    /// Time since `Instant` at start (correct).
    Monotonic(Instant),
    /// Wall time since `SystemTime` at start (the planted bug `lease-by-wall-clock`).
    Wall(SystemTime),
}

impl CoreClock {
    /// Starts a clock now: the wall clock when `wall` (the bug), else the monotonic one.
    pub fn start(wall: bool) -> CoreClock {
        if wall {
            CoreClock::Wall(SystemTime::now())
        } else {
            CoreClock::Monotonic(Instant::now())
        }
    }

    /// Time since the start, by this clock.
    pub fn elapsed(&self) -> Duration {
        match self {
            CoreClock::Monotonic(t) => t.elapsed(),
            CoreClock::Wall(t) => SystemTime::now()
                .duration_since(*t)
                .unwrap_or(Duration::ZERO),
        }
    }
}

/// The process's start on the monotonic clock, for `GET /time` (set by [`process_start`]'s
/// first call, which `shell::run` makes first thing).
static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// The monotonic instant the node process started at.
pub fn process_start() -> Instant {
    *PROCESS_START.get_or_init(Instant::now)
}

/// What `GET /time` answers: the wall clock (ms since the Unix epoch, as this process sees it:
/// under a clock fault, the faulted clock) and the monotonic time since the process started.
pub fn now_json() -> serde_json::Value {
    let wall = match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -(e.duration().as_secs_f64() * 1000.0),
    };
    serde_json::json!({
        "wall_ms": wall,
        "monotonic_ms": process_start().elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_clocks_advance_with_real_time() {
        // Proves both clocks start near zero and advance (no fault here, so they agree within
        // the scheduling noise of a few ms polls).
        let (m, w) = (CoreClock::start(false), CoreClock::start(true));
        assert!(matches!(m, CoreClock::Monotonic(_)) && matches!(w, CoreClock::Wall(_)));
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        for c in [m, w] {
            let e = c.elapsed();
            assert!(
                e >= Duration::from_millis(19) && e < Duration::from_secs(5),
                "{e:?}"
            );
        }
    }

    #[test]
    fn wall_clock_behind_the_start_saturates() {
        // Proves a wall clock that went back before the start reads as zero, not a panic.
        let ahead = CoreClock::Wall(SystemTime::now() + Duration::from_secs(3600));
        assert_eq!(ahead.elapsed(), Duration::ZERO);
    }
}
