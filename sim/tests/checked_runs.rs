//! End to end inside the crate: the driver's tasks + locks workload (the register workload for
//! `stale-read`) with every fault kind,
//! recorded on virtual time and judged by the real checkers. The correct node must be valid on
//! every seed; each planted bug must be caught on exactly the measured number of fixed seeds
//! (the runs are deterministic, so the count is exact: a change means the node, the simulator
//! or the checkers changed what they do).

use checkers::Verdict;
use node_bin::core::node::Bugs;
use sim::drive::{run, DriveOpts, Workload};
use std::time::Duration;

/// 10 s of workload at the harness's default rate with every fault kind.
fn opts(bugs: Bugs) -> DriveOpts {
    let mut o = DriveOpts {
        duration: Duration::from_secs(10),
        ..DriveOpts::default()
    };
    o.sim.bugs = bugs;
    o
}

/// The seeds in `seeds` whose run is not valid, over two threads; each with its reasons.
fn not_valid(bugs: &Bugs, seeds: std::ops::Range<u64>) -> Vec<(u64, Vec<String>)> {
    let mut o = opts(bugs.clone());
    if bugs.stale_read {
        o.workload = Workload::Register;
    }
    not_valid_with(&o, seeds)
}

fn not_valid_with(o: &DriveOpts, seeds: std::ops::Range<u64>) -> Vec<(u64, Vec<String>)> {
    let mut out: Vec<(u64, Vec<String>)> = std::thread::scope(|scope| {
        let hs: Vec<_> = (0..2u64)
            .map(|k| {
                let seeds = seeds.clone();
                scope.spawn(move || {
                    seeds
                        .filter(|s| s % 2 == k)
                        .map(|s| (s, run(o, s)))
                        .filter(|(_, r)| r.results.valid != Verdict::Valid)
                        .map(|(s, r)| (s, r.results.reasons))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().expect("a simulation thread panicked"))
            .collect()
    });
    out.sort();
    out
}

#[test]
fn the_correct_node_is_valid_on_200_seeds() {
    let bad = not_valid(&Bugs::default(), 0..200);
    // Rerun one: `cargo run --release -p gauntlet-sim --example drive -- SEED 1` (30 s runs)
    // or this test's options through sim::drive::run.
    assert!(bad.is_empty(), "not valid: {bad:?}");
}

/// How many of seeds 0..20 catch the bug, each by the anomaly the bug must cause.
fn caught(bugs: Bugs, expect_reason: &str) -> (usize, Vec<(u64, Vec<String>)>) {
    let bad = not_valid(&bugs, 0..20);
    for (seed, reasons) in &bad {
        assert!(
            reasons.iter().any(|r| r.contains(expect_reason)),
            "seed {seed}: {reasons:?} does not name {expect_reason}"
        );
    }
    (bad.len(), bad)
}

#[test]
fn ack_before_quorum_loses_tasks() {
    let b = Bugs {
        ack_before_quorum: true,
        ..Bugs::default()
    };
    let (n, bad) = caught(b, "lost");
    assert_eq!(
        n, 8,
        "ack-before-quorum: caught on {n} of 20 seeds, measured 8: {bad:?}"
    );
}

#[test]
fn lock_without_quorum_splits_locks() {
    let b = Bugs {
        lock_without_quorum: true,
        ..Bugs::default()
    };
    let (n, bad) = caught(b, "split lock");
    assert_eq!(
        n, 15,
        "lock-without-quorum: caught on {n} of 20 seeds, measured 15: {bad:?}"
    );
}

#[test]
fn early_lease_expiry_splits_locks() {
    let b = Bugs {
        early_lease_expiry: true,
        ..Bugs::default()
    };
    let (n, bad) = caught(b, "split lock");
    assert_eq!(
        n, 20,
        "early-lease-expiry: caught on {n} of 20 seeds, measured 20: {bad:?}"
    );
}

#[test]
fn failover_skips_cas_leaves_tasks_not_done() {
    let b = Bugs {
        failover_skips_cas: true,
        ..Bugs::default()
    };
    let (n, bad) = caught(b, "not-done");
    assert_eq!(
        n, 15,
        "failover-skips-cas: caught on {n} of 20 seeds, measured 15: {bad:?}"
    );
}

#[test]
fn the_correct_node_is_linearizable_on_50_register_seeds() {
    let mut o = opts(Bugs::default());
    o.workload = Workload::Register;
    let bad = not_valid_with(&o, 0..50);
    assert!(bad.is_empty(), "not valid: {bad:?}");
}

#[test]
fn stale_read_is_not_linearizable() {
    let b = Bugs {
        stale_read: true,
        ..Bugs::default()
    };
    let (n, bad) = caught(b, "not linearizable");
    assert_eq!(
        n, 8,
        "stale-read: caught on {n} of 20 seeds, measured 8: {bad:?}"
    );
}
