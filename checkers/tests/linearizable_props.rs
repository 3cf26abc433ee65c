//! Properties of the linearizability checker on generated histories:
//! - a history produced by running a random concurrent schedule against the sequential
//!   register is linearizable;
//! - a single planted stale read or lost write makes it not linearizable;
//! - on small histories the search agrees with a brute-force checker that tries every order.
//!
//! Each case prints its seed; rerun one with `LIN_SEED=<seed> cargo test -p checkers --test
//! linearizable_props <test name>`.

use checkers::linearizable::generate::{generate, GenConfig, Plant};
use checkers::linearizable::models::Register;
use checkers::linearizable::{
    check_ops, render_text, Call, LinOptions, Model, ModelKind, Outcome, Values,
};
use checkers::Verdict;
use histories::{Op, OpType, Process};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

fn opts() -> LinOptions {
    LinOptions {
        model: ModelKind::CasRegister,
        init: json!(0),
        ..LinOptions::default()
    }
}

fn rerun(test: &str, seed: u64) -> String {
    format!("rerun: LIN_SEED={seed} cargo test -p checkers --test linearizable_props {test}")
}

/// Seeds to try: `LIN_SEED` alone when set, else the proptest-chosen one.
fn seed_or(s: u64) -> u64 {
    std::env::var("LIN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(s)
}

fn config(ops: usize, keys: u64, workers: u64, fresh: bool) -> GenConfig {
    GenConfig {
        ops,
        keys,
        workers,
        values: if fresh { 0 } else { 4 },
        info_ratio: 0.1,
        fail_ratio: 0.05,
        ..GenConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Running ops atomically between invoke and completion gives a linearizable history,
    /// whatever the interleaving, the keys, the info and fail outcomes.
    #[test]
    fn correct_register_histories_are_linearizable(seed in any::<u64>(), ops in 1usize..150, keys in 1u64..4, workers in 1u64..8, fresh in any::<bool>()) {
        let seed = seed_or(seed);
        println!("seed {seed}");
        let h = generate(&config(ops, keys, workers, fresh), seed, Plant::Nothing).expect("no plant");
        let r = check_ops(&h, &opts()).expect("well formed");
        prop_assert_eq!(r.valid, Verdict::Valid, "{}\n{}", render_text(&r), rerun("correct_register_histories_are_linearizable", seed));
    }

    /// One read returning a value overwritten before it was invoked is found, and the
    /// counterexample names that read.
    #[test]
    fn a_planted_stale_read_is_found(seed in any::<u64>(), keys in 1u64..3, workers in 2u64..6) {
        let seed = seed_or(seed);
        println!("seed {seed}");
        let Some(h) = generate(&config(120, keys, workers, true), seed, Plant::StaleRead) else { return Ok(()) };
        let r = check_ops(&h, &opts()).expect("well formed");
        prop_assert_eq!(r.valid, Verdict::Invalid, "{}", rerun("a_planted_stale_read_is_found", seed));
        let text = render_text(&r);
        prop_assert!(text.contains("cannot linearize") && text.contains("read"), "{}", text);
    }

    /// One acknowledged write that never took effect, seen by a later read, is found.
    #[test]
    fn a_planted_lost_write_is_found(seed in any::<u64>(), workers in 2u64..6) {
        let seed = seed_or(seed);
        println!("seed {seed}");
        // Not every seed can show the loss (a later write may hide it): take the first that does.
        let Some((s, h)) = (seed..seed + 50).find_map(|s| generate(&config(120, 1, workers, true), s, Plant::LostWrite).map(|h| (s, h))) else {
            return Ok(());
        };
        let r = check_ops(&h, &opts()).expect("well formed");
        prop_assert_eq!(r.valid, Verdict::Invalid, "{}", rerun("a_planted_lost_write_is_found", s));
    }

    /// The search agrees with trying every order on small histories, linearizable or not.
    #[test]
    fn search_agrees_with_brute_force(seed in any::<u64>(), ops in 1usize..7, workers in 1u64..5) {
        let seed = seed_or(seed);
        println!("seed {seed}");
        let mut h = generate(&config(ops, 1, workers, false), seed, Plant::Nothing).expect("no plant");
        corrupt(&mut h, seed);
        let r = check_ops(&h, &LinOptions { explain: false, ..opts() }).expect("well formed");
        let brute = brute_force(&h);
        prop_assert_eq!(r.valid == Verdict::Valid, brute, "{:?}\n{}", h, rerun("search_agrees_with_brute_force", seed));
    }
}

/// Changes one ok read's value or one write's value at random (half the time), so that
/// about half the small histories are not linearizable.
fn corrupt(h: &mut [Op], seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xbad);
    if rng.gen_bool(0.5) {
        return;
    }
    let oks: Vec<usize> = (0..h.len())
        .filter(|&i| h[i].kind == OpType::Ok && h[i].f != "cas")
        .collect();
    if oks.is_empty() {
        return;
    }
    let i = oks[rng.gen_range(0..oks.len())];
    h[i].value["value"] = json!(rng.gen_range(0..4));
}

/// An op for the brute force: call and return positions and the model's op.
struct Done<O> {
    call: usize,
    ret: Option<usize>,
    op: O,
}

/// Tries every subset of the unknown-outcome ops and every order of the chosen ops that
/// respects real time, stepping the model from the initial state.
fn brute_force(h: &[Op]) -> bool {
    let mut values = Values::new();
    let model = Register::cas(&json!(0), &mut values);
    let mut open = std::collections::BTreeMap::new();
    let mut done = Vec::new();
    let mut add = |inv: usize, end: Option<usize>, values: &mut Values| {
        let outcome = match end {
            Some(e) if h[e].kind == OpType::Ok => Outcome::Ok(&h[e].value),
            _ => Outcome::Info,
        };
        let call = Call {
            f: &h[inv].f,
            invoke: &h[inv].value,
            outcome,
        };
        if let Some(p) = model.parse(&call, values).expect("register op") {
            let ret = if matches!(outcome, Outcome::Ok(_)) {
                end
            } else {
                None
            };
            done.push(Done {
                call: inv,
                ret,
                op: p.op,
            });
        }
    };
    for (i, op) in h.iter().enumerate() {
        let Process::Client(p) = op.process else {
            continue;
        };
        match op.kind {
            OpType::Invoke => {
                open.insert(p, i);
            }
            OpType::Fail => {
                open.remove(&p);
            }
            _ => {
                let inv = open.remove(&p).expect("paired");
                add(inv, Some(i), &mut values);
            }
        }
    }
    for inv in open.into_values() {
        add(inv, None, &mut values);
    }
    let optional: Vec<usize> = (0..done.len()).filter(|&i| done[i].ret.is_none()).collect();
    (0u32..1 << optional.len()).any(|mask| {
        let chosen: Vec<usize> = (0..done.len())
            .filter(|&i| {
                done[i].ret.is_some()
                    || optional
                        .iter()
                        .position(|&o| o == i)
                        .is_some_and(|k| mask & (1 << k) != 0)
            })
            .collect();
        permutations(&chosen)
            .into_iter()
            .any(|order| legal(&model, &done, &order))
    })
}

fn legal(model: &Register, done: &[Done<<Register as Model>::Op>], order: &[usize]) -> bool {
    // Real time: an op that returned before another was called comes first.
    for (a, &x) in order.iter().enumerate() {
        for &y in &order[a + 1..] {
            if done[y].ret.is_some_and(|r| r < done[x].call) {
                return false;
            }
        }
    }
    let mut s = model.init();
    order.iter().all(|&i| match model.step(&s, &done[i].op) {
        Some(n) => {
            s = n;
            true
        }
        None => false,
    })
}

fn permutations(xs: &[usize]) -> Vec<Vec<usize>> {
    if xs.is_empty() {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for i in 0..xs.len() {
        let mut rest = xs.to_vec();
        let x = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, x);
            out.push(p);
        }
    }
    out
}

/// The properties above are not vacuous: the generator does plant both anomalies, and the
/// brute-force comparison sees both verdicts.
#[test]
fn generated_cases_cover_both_verdicts() {
    let stale = (0..50)
        .filter(|&s| generate(&config(120, 1, 4, true), s, Plant::StaleRead).is_some())
        .count();
    let lost = (0..50)
        .filter(|&s| generate(&config(120, 1, 4, true), s, Plant::LostWrite).is_some())
        .count();
    assert!(
        stale >= 10 && lost >= 3,
        "planted: {stale} stale reads, {lost} lost writes out of 50 seeds"
    );
    let mut verdicts = [0; 2];
    for seed in 0..60 {
        let mut h = generate(&config(6, 1, 3, false), seed, Plant::Nothing).expect("no plant");
        corrupt(&mut h, seed);
        verdicts[usize::from(brute_force(&h))] += 1;
    }
    assert!(
        verdicts[0] >= 5 && verdicts[1] >= 5,
        "brute force verdicts (invalid, valid): {verdicts:?}"
    );
}
