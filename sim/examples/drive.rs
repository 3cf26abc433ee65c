//! Runs the end-to-end driver on a range of seeds and prints each verdict, the wall time and
//! the simulated time: `cargo run --release -p gauntlet-sim --example drive -- [FIRST [COUNT [BUG]]]`
//! (BUG: ack-before-quorum, lock-without-quorum, early-lease-expiry, failover-skips-cas, or
//! stale-read, which runs the register workload; `register`: the register workload, no bug).

use sim::drive::{run, DriveOpts};
use std::time::Instant;

// Timing a run is this example's purpose; the simulation itself never reads the clock.
#[allow(clippy::disallowed_methods)]
fn wall() -> Instant {
    Instant::now()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let first: u64 = args
        .first()
        .map_or(0, |s| s.parse().expect("FIRST: a number"));
    let count: u64 = args
        .get(1)
        .map_or(1, |s| s.parse().expect("COUNT: a number"));
    let mut opts = DriveOpts::default();
    match args.get(2).map(String::as_str) {
        None => {}
        Some("ack-before-quorum") => opts.sim.bugs.ack_before_quorum = true,
        Some("lock-without-quorum") => opts.sim.bugs.lock_without_quorum = true,
        Some("early-lease-expiry") => opts.sim.bugs.early_lease_expiry = true,
        Some("failover-skips-cas") => opts.sim.bugs.failover_skips_cas = true,
        Some("stale-read") => {
            opts.sim.bugs.stale_read = true;
            opts.workload = sim::drive::Workload::Register;
        }
        Some("register") => opts.workload = sim::drive::Workload::Register,
        Some(other) => panic!("unknown bug {other}"),
    }
    let mut invalid = 0;
    for seed in first..first + count {
        let t = wall();
        let o = run(&opts, seed);
        let wall = t.elapsed();
        if o.results.valid != checkers::Verdict::Valid {
            invalid += 1;
        }
        println!(
            "seed {seed}: {} ({} ops, {:.1} s simulated in {:.3} s wall, {} events) {:?}",
            o.results.valid.word(),
            o.history.len(),
            o.virtual_ns as f64 / 1e9,
            wall.as_secs_f64(),
            o.trace.events,
            o.results.reasons,
        );
    }
    println!("{invalid} of {count} seeds not valid");
}
