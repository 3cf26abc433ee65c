//! The search's reductions (docs/linearizability.md) on hard histories: one key, many `info`
//! writes and cas of a few values, some failed reads, a planted stale read or lost write on a
//! marker value (`checkers::linearizable::generate`):
//! - the verdict by construction is what the checker says;
//! - the fast search and the plain WGL search (`LinOptions::plain_search`) give the same
//!   verdict on every such history, planted or not;
//! - the reductions cut the search: fewer steps than the plain search on a history where the
//!   plain one must try every subset of the pending `info` ops.
//!
//! Each case prints its seed; rerun one with `LIN_SEED=<seed> cargo test -p checkers --test
//! linearizable_hard <test name>`.

use checkers::linearizable::generate::hard::hard_history;
use checkers::linearizable::generate::{generate, GenConfig, Plant};
use checkers::linearizable::{check_ops, LinOptions, ModelKind};
use checkers::Verdict;
use histories::Op;
use proptest::prelude::*;
use serde_json::json;

fn opts(plain: bool) -> LinOptions {
    LinOptions {
        model: ModelKind::CasRegister,
        init: json!(0),
        plain_search: plain,
        timeout: None,
        ..LinOptions::default()
    }
}

fn seed_or(s: u64) -> u64 {
    std::env::var("LIN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(s)
}

fn rerun(test: &str, seed: u64) -> String {
    format!("rerun: LIN_SEED={seed} cargo test -p checkers --test linearizable_hard {test}")
}

/// A small history shaped like the hard set's.
fn hard_config(ops: usize, workers: u64, info: f64, values: u64, plant_after: usize) -> GenConfig {
    GenConfig {
        ops,
        keys: 1,
        workers,
        read_ratio: 0.5,
        cas_ratio: 0.5,
        info_ratio: 0.0,
        fail_ratio: 0.0,
        mutation_info_ratio: Some(info),
        read_fail_ratio: Some(0.05),
        values,
        init: 0,
        marker: true,
        plant_after: Some(plant_after.min(ops)),
    }
}

fn plant_of(k: u8) -> Plant {
    match k % 3 {
        0 => Plant::Nothing,
        1 => Plant::StaleRead,
        _ => Plant::LostWrite,
    }
}

/// The first seed from `seed` on whose plant happened.
fn generated(cfg: &GenConfig, seed: u64, plant: Plant) -> (u64, Vec<Op>) {
    (seed..seed + 10_000)
        .find_map(|s| generate(cfg, s, plant).map(|h| (s, h)))
        .expect("a plant happens within 10,000 seeds")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The fast and the plain search agree on hard-shaped histories (both verdicts occur:
    /// a third are unplanted), and agree with the verdict by construction.
    #[test]
    fn the_fast_search_agrees_with_the_plain_one(seed in any::<u64>(), ops in 20usize..90, workers in 5u64..=10, info in 0.1f64..0.4, values in 3u64..=6, k in any::<u8>()) {
        let seed = seed_or(seed);
        let plant = plant_of(k);
        let cfg = hard_config(ops, workers, info, values, ops / 2);
        let (s, h) = generated(&cfg, seed, plant);
        let fast = check_ops(&h, &opts(false)).unwrap();
        let plain = check_ops(&h, &opts(true)).unwrap();
        let want = if plant == Plant::Nothing { Verdict::Valid } else { Verdict::Invalid };
        prop_assert_eq!(fast.valid, plain.valid, "seed {} {:?}\n{}", s, cfg, rerun("the_fast_search_agrees_with_the_plain_one", seed));
        prop_assert_eq!(fast.valid, want, "seed {} {:?}\n{}", s, cfg, rerun("the_fast_search_agrees_with_the_plain_one", seed));
    }
}

/// The first histories of the benchmark's hard set (seed 17, as `gauntlet-linbench generate`
/// makes them) get their verdict by construction.
#[test]
fn the_hard_set_gets_its_verdicts_by_construction() {
    for i in 0..12 {
        let h = hard_history(17, i, 100);
        let r = check_ops(&h.ops, &opts(false)).unwrap();
        let want = if h.linearizable {
            Verdict::Valid
        } else {
            Verdict::Invalid
        };
        assert_eq!(r.valid, want, "{} ({:?}, seed {})", h.name, h.plant, h.seed);
    }
}

/// On a lost write after several pending info ops, the reductions need far fewer steps than
/// the plain search (which tries every subset of the info ops before giving up on the read).
#[test]
fn the_reductions_cut_the_steps_on_a_lost_write() {
    let cfg = hard_config(150, 8, 0.4, 3, 70);
    let (s, h) = generated(&cfg, 5, Plant::LostWrite);
    let fast = check_ops(&h, &opts(false)).unwrap();
    let plain = check_ops(&h, &opts(true)).unwrap();
    assert_eq!(
        (fast.valid, plain.valid),
        (Verdict::Invalid, Verdict::Invalid),
        "seed {s}"
    );
    assert!(
        fast.steps * 4 < plain.steps,
        "seed {s}: fast {} steps, plain {}",
        fast.steps,
        plain.steps
    );
}
