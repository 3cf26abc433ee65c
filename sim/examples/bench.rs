//! The simulator's benchmark (docs/performance-sim.md): the default driven run (5 nodes, 30 s
//! of the mixed tasks + locks workload at 100 ops/s, every fault kind, then recovery and the
//! final read) on seeds FIRST..FIRST+COUNT, one after another on one thread. Prints the median,
//! min and max wall time of the simulation and of the check, events per second, how much
//! faster than real time, and the process's peak RSS.
//!
//! `cargo run --release -p gauntlet-sim --example bench -- [FIRST [COUNT]]` (default 0 20)

use sim::drive::{simulate, DriveOpts};
use std::time::Instant;

// Timing a run is this example's purpose; the simulation itself never reads the clock.
#[allow(clippy::disallowed_methods)]
fn wall() -> Instant {
    Instant::now()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Peak resident set size of this process, from /proc/self/status (VmHWM), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let first: u64 = args
        .first()
        .map_or(0, |s| s.parse().expect("FIRST: a number"));
    let count: u64 = args
        .get(1)
        .map_or(20, |s| s.parse().expect("COUNT: a number"));
    let opts = DriveOpts::default();
    let (mut sim_s, mut check_s, mut ratio, mut evps) = (vec![], vec![], vec![], vec![]);
    let mut ops = 0;
    for seed in first..first + count {
        let t = wall();
        let s = simulate(&opts, seed);
        let sim_wall = t.elapsed().as_secs_f64();
        let t = wall();
        let r = checkers::check_ops(s.history.iter().cloned(), &Default::default());
        let check_wall = t.elapsed().as_secs_f64();
        assert_eq!(
            r.valid,
            checkers::Verdict::Valid,
            "seed {seed}: {:?}",
            r.reasons
        );
        ops += s.history.len();
        sim_s.push(sim_wall);
        check_s.push(check_wall);
        ratio.push(s.virtual_ns as f64 / 1e9 / sim_wall);
        evps.push(s.trace.events as f64 / sim_wall);
    }
    let (lo, hi) = (
        sim_s.iter().cloned().fold(f64::MAX, f64::min),
        sim_s.iter().cloned().fold(0.0, f64::max),
    );
    println!(
        "{count} seeds from {first}: 30 s, 5 nodes, mixed, every fault kind; {} ops a run on average",
        ops / count as usize
    );
    println!(
        "simulate: median {:.3} s wall (min {lo:.3}, max {hi:.3}); {:.0}x real time; {:.2} M events/s",
        median(&mut sim_s),
        median(&mut ratio),
        median(&mut evps) / 1e6
    );
    println!("check:    median {:.3} s wall", median(&mut check_s));
    match peak_rss_kib() {
        Some(k) => println!("peak RSS: {:.1} MiB", k as f64 / 1024.0),
        None => println!("peak RSS: unknown (no /proc/self/status)"),
    }
}
