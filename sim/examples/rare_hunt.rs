//! Hunts one rare planted bug (or the correct node) over simulated 30-s seeds, on every core:
//! prints each failing seed as it is found (with the wall time since the start), then the
//! totals: seeds run, failing seeds, wall time, failing seeds per hour and the time to the
//! first failing seed. Each failing seed is then rerun once and its history compared byte for
//! byte with the first run's (the rerun is exact, or this says so).
//!
//! `cargo run --release -p gauntlet-sim --example rare_hunt -- BUG FIRST COUNT [THREADS]`
//! BUG: `ack-before-flush` (kill only), `lonely-restart` (kill and partition, overlapping),
//! or `none-kill` / `none-overlap` (the correct node under each of those nemeses), or
//! `none-overlap-mixed` (the correct node, overlapping kills and partitions, mixed workload).

use node_bin::core::node::Bugs;
use sim::drive::{run, DriveOpts, FaultKind, Workload};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The options for `bug`: the nemesis that reveals it, as the docs name it.
fn opts(bug: &str) -> Option<DriveOpts> {
    let mut o = DriveOpts::default();
    match bug {
        "ack-before-flush" | "none-kill" => {
            o.faults = vec![FaultKind::Kill];
            o.sim.bugs.ack_before_flush = bug == "ack-before-flush";
        }
        "none-overlap-mixed" => {
            o.faults = vec![FaultKind::Kill, FaultKind::Partition];
            o.overlap = true;
        }
        "lonely-restart" | "none-overlap" => {
            o.faults = vec![FaultKind::Kill, FaultKind::Partition];
            o.overlap = true;
            o.workload = Workload::Locks;
            o.sim.bugs = Bugs {
                lonely_restart: bug == "lonely-restart",
                ..Bugs::default()
            };
        }
        _ => return None,
    }
    Some(o)
}

// Timing the hunt is this example's purpose; the simulation itself never reads the clock.
#[allow(clippy::disallowed_methods)]
fn wall() -> Instant {
    Instant::now()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: rare_hunt BUG FIRST COUNT [THREADS] (BUG: ack-before-flush, lonely-restart, none-kill, none-overlap)";
    let (Some(bug), Some(first), Some(count)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        std::process::exit(254);
    };
    let Some(o) = opts(bug) else {
        eprintln!("unknown BUG {bug:?}; {usage}");
        std::process::exit(254);
    };
    let parse = |what: &str, s: &str| -> u64 {
        s.parse().unwrap_or_else(|_| {
            eprintln!("{what} {s:?}: not a number; {usage}");
            std::process::exit(254)
        })
    };
    let first = parse("FIRST", first);
    let count = parse("COUNT", count);
    let verbose = args.get(4).is_some_and(|v| v == "v");
    let threads = args.get(3).map_or(2, |s| parse("THREADS", s)).max(1);
    let next = AtomicU64::new(first);
    let failing: Mutex<Vec<(u64, f64, Vec<String>)>> = Mutex::new(Vec::new());
    let start = wall();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= first + count {
                    return;
                }
                let r = run(&o, seed);
                if verbose {
                    let nem: Vec<&str> = r
                        .history
                        .iter()
                        .filter(|op| op.process == histories::Process::Nemesis)
                        .map(|op| op.f.as_str())
                        .collect();
                    println!(
                        "seed {seed}: {} ops, {:.1} s simulated, nemesis {nem:?}",
                        r.history.len(),
                        r.virtual_ns as f64 / 1e9
                    );
                }
                if r.results.valid != checkers::Verdict::Valid {
                    let at = start.elapsed().as_secs_f64();
                    println!(
                        "seed {seed}: {:?} at {at:.1} s wall: {:?}",
                        r.results.valid, r.results.reasons
                    );
                    failing.lock().expect("no thread panics holding it").push((
                        seed,
                        at,
                        r.results.reasons,
                    ));
                }
            });
        }
    });
    let wall = start.elapsed().as_secs_f64();
    let mut failing = failing.into_inner().expect("no thread panicked");
    failing.sort_by(|a, b| a.1.total_cmp(&b.1));
    let first_at = failing.first().map(|f| f.1);
    println!(
        "{bug}: {} failing of {count} seeds ({first}..{}), {wall:.1} s wall on {threads} threads: {:.0} failing seeds per hour, first after {}",
        failing.len(),
        first + count,
        failing.len() as f64 * 3600.0 / wall,
        first_at.map_or("-".to_string(), |t| format!("{t:.1} s")),
    );
    let mut exact = 0;
    for (seed, ..) in &failing {
        let a = run(&o, *seed);
        let b = run(&o, *seed);
        if a.history_jsonl() == b.history_jsonl() && a.results.valid == b.results.valid {
            exact += 1;
        } else {
            println!("seed {seed}: the rerun differs");
        }
    }
    println!(
        "reruns: {exact} of {} failing seeds gave the byte-identical history and verdict",
        failing.len()
    );
}
