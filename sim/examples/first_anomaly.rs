//! When does each planted bug first show? For each bug, seeds FIRST..FIRST+COUNT of the default
//! driven run (30 s, 5 nodes, every fault kind; the register workload for `stale-read`), the
//! simulated time of the first anomalous op, and the median over the seeds that caught it:
//!
//! - split lock: the start of the earliest overlap of two certain holds;
//! - token regression: the ok of the later acquire, whose token did not grow;
//! - lost / not-done task: the ok of the earliest submit whose task the final read then lost
//!   or found unfinished (the acknowledgement that was not kept);
//! - not linearizable: the completion of the earliest op that could not be linearized.
//!
//! `cargo run --release -p gauntlet-sim --example first_anomaly -- [FIRST [COUNT]]` (0 50)

use checkers::linearizable::{check_ops, LinOptions};
use checkers::Results;
use histories::Op;
use node_bin::core::node::Bugs;
use sim::drive::{run, DriveOpts, Workload};

fn first_time(results: &Results, history: &[Op], register: bool) -> Option<u64> {
    let mut t: Vec<u64> = Vec::new();
    if let Some(l) = &results.locks {
        t.extend(l.split_locks.iter().map(|s| s.overlap[0]));
        t.extend(l.token_regressions.iter().map(|r| r.later.ok.time));
    }
    if let Some(k) = &results.tasks {
        for a in k.lost.iter().chain(&k.not_done) {
            if let Some(c) = a.submit.as_ref().and_then(|s| s.completion) {
                t.push(c.time);
            }
        }
    }
    if register {
        let lin = LinOptions {
            timeout: None,
            explain: true,
            ..LinOptions::default()
        };
        if let Ok(r) = check_ops(history, &lin) {
            for k in r.failures.values() {
                let stuck = k.counterexample.as_ref().and_then(|c| c.stuck.as_ref());
                if let Some(op) = stuck {
                    let i = op.completion.unwrap_or(op.index) as usize;
                    t.extend(history.get(i).map(|o| o.time));
                }
            }
        }
    }
    t.into_iter().min()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let first: u64 = args
        .first()
        .map_or(0, |s| s.parse().expect("FIRST: a number"));
    let count: u64 = args
        .get(1)
        .map_or(50, |s| s.parse().expect("COUNT: a number"));
    let bugs: [(&str, Bugs); 5] = [
        (
            "ack-before-quorum",
            Bugs {
                ack_before_quorum: true,
                ..Bugs::default()
            },
        ),
        (
            "lock-without-quorum",
            Bugs {
                lock_without_quorum: true,
                ..Bugs::default()
            },
        ),
        (
            "early-lease-expiry",
            Bugs {
                early_lease_expiry: true,
                ..Bugs::default()
            },
        ),
        (
            "failover-skips-cas",
            Bugs {
                failover_skips_cas: true,
                ..Bugs::default()
            },
        ),
        (
            "stale-read",
            Bugs {
                stale_read: true,
                ..Bugs::default()
            },
        ),
    ];
    for (name, b) in bugs {
        let mut o = DriveOpts::default();
        let register = b.stale_read;
        if register {
            o.workload = Workload::Register;
        }
        o.sim.bugs = b;
        let mut times: Vec<u64> = Vec::new();
        for seed in first..first + count {
            let r = run(&o, seed);
            if r.results.valid != checkers::Verdict::Valid {
                if let Some(t) = first_time(&r.results, &r.history, register) {
                    times.push(t);
                }
            }
        }
        times.sort_unstable();
        let median = if times.is_empty() {
            "-".to_string()
        } else {
            format!("{:.2} s", times[times.len() / 2] as f64 / 1e9)
        };
        println!(
            "{name}: caught on {} of {count} seeds; first anomalous op at median {median} (min {:.2} s, max {:.2} s)",
            times.len(),
            times.first().map_or(0.0, |t| *t as f64 / 1e9),
            times.last().map_or(0.0, |t| *t as f64 / 1e9),
        );
    }
}
