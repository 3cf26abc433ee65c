//! Which clock errors the correct node survives, and which it cannot (docs/sim.md, "Clocks").
//!
//! Leases are judged by each acceptor's own monotonic clock, so the correct node is safe while
//! `ttl × ρ` (ρ: how much faster an acceptor's clock runs) stays below the time from a client's
//! invoke to the acceptors' accept. Quartz drift (±100 ppm) is far inside; a clock running at
//! up to 1.9× real speed is far outside and must break leases. Wall-clock faults (bump, strobe,
//! drift) do not touch the monotonic clock, so they cannot hurt the correct node, unless a
//! shell feeds the core its wall clock (what the planted bug `lease-by-wall-clock` does).

use checkers::Verdict;
use sim::drive::{run, DriveOpts, FaultKind};
use std::time::Duration;

/// Lock-heavy 10 s runs: holds up to 1.8 s of a 2 s lease.
fn long_holds() -> DriveOpts {
    DriveOpts {
        duration: Duration::from_secs(10),
        hold_max_ms: 1_800,
        ..DriveOpts::default()
    }
}

fn split_seeds(o: &DriveOpts, seeds: std::ops::Range<u64>) -> Vec<u64> {
    seeds
        .filter(|s| {
            let r = run(o, *s);
            assert!(
                r.results.valid == Verdict::Valid
                    || r.results.reasons.iter().any(|x| x.contains("split lock")),
                "seed {s}: {:?}",
                r.results.reasons
            );
            r.results.valid != Verdict::Valid
        })
        .collect()
}

#[test]
fn quartz_drift_is_survived_and_clocks_far_too_fast_are_not() {
    let mut o = long_holds();
    o.sim.drift_ppm = (-100, 100);
    assert_eq!(split_seeds(&o, 0..10), Vec::<u64>::new(), "±100 ppm");
    // Every clock 50-90% fast: a 2 s lease ends after 1.05-1.33 s of true time.
    o.sim.drift_ppm = (500_000, 900_000);
    let bad = split_seeds(&o, 0..10);
    assert_eq!(bad.len(), 10, "+50..90%: {bad:?}");
}

#[test]
fn wall_clock_faults_hurt_only_a_node_fed_its_wall_clock() {
    let mut o = long_holds();
    o.faults = vec![
        FaultKind::ClockBump,
        FaultKind::ClockStrobe,
        FaultKind::ClockDrift,
    ];
    assert_eq!(split_seeds(&o, 0..10), Vec::<u64>::new(), "monotonic feed");
    o.sim.feed_wall_clock = true;
    let bad = split_seeds(&o, 0..10);
    assert_eq!(
        bad.len(),
        8,
        "wall-clock feed: split locks on {bad:?}, measured 8 of 10"
    );
}
