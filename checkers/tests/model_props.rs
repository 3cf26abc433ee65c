//! Properties of the checkers over histories synthesized by the correct model
//! (`checkers::synth`): valid histories are judged valid, and each planted anomaly is found,
//! exactly — nothing more, nothing less.
//!
//! Rerun a failure: `cargo test -p checkers --test model_props` (proptest replays the case
//! saved in proptest-regressions/ first); each case's config, seed included, is in the message.

use std::collections::BTreeSet;

use checkers::synth::{synthesize, Plant, SynthConfig};
use checkers::{check_ops, CheckOptions, Checker, Results, Verdict};
use histories::{HistoryReader, Op};
use proptest::prelude::*;

fn ops_of(cfg: &SynthConfig) -> (Vec<Op>, checkers::synth::SynthReport) {
    let mut ops = Vec::new();
    let report = synthesize(cfg, |op| ops.push(op));
    (ops, report)
}

fn to_jsonl(ops: &[Op]) -> String {
    let mut s = String::new();
    for op in ops {
        s.push_str(&serde_json::to_string(op).unwrap());
        s.push('\n');
    }
    s
}

/// Checks the text through the streaming reader path, as `check_file` does.
fn check_text(text: &str, opts: &CheckOptions) -> Results {
    let mut r = HistoryReader::new(text.as_bytes());
    let mut c = Checker::new(opts);
    while let Some(op) = r.next_ref() {
        c.observe(&op.expect("the model's history must be well-formed"));
    }
    c.finish(r.warnings().to_vec())
}

fn config() -> impl Strategy<Value = SynthConfig> {
    (
        any::<u64>(),
        1usize..8,
        10u64..400,
        1usize..4,
        0.1f64..0.9,
        0.0f64..0.2,
        0.0f64..0.1,
        1u64..40,
    )
        .prop_map(
            |(seed, clients, invocations, locks, submit_share, fail_rate, info_rate, lat)| {
                SynthConfig {
                    seed,
                    clients,
                    invocations,
                    locks,
                    submit_share,
                    fail_rate,
                    info_rate,
                    dup_rate: 0.0,
                    ttl_ms: 200,
                    max_hold_ms: 150,
                    max_latency_ms: lat,
                    nemesis_every: 17,
                    plant: Vec::new(),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// A correct model's concurrent history is well-formed (the reader accepts it and reads
    /// back the same ops) and neither the tasks nor the locks checker finds anything.
    #[test]
    fn correct_model_histories_are_valid(cfg in config(), dup in 0.0f64..0.3) {
        let cfg = SynthConfig { dup_rate: dup, ..cfg };
        let (ops, report) = ops_of(&cfg);
        prop_assert!(report.planted.is_empty());
        let text = to_jsonl(&ops);
        let back: Vec<Op> = HistoryReader::new(text.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(format!("{e} (config {cfg:?})")))?;
        prop_assert_eq!(&back, &ops);
        let opts = CheckOptions::default();
        let r = check_ops(ops, &opts);
        let t = r.tasks.as_ref().expect("the model always submits and reads");
        prop_assert_eq!(t.valid, Verdict::Valid, "tasks: {:?}\nconfig {:?}", t, cfg);
        if let Some(l) = &r.locks {
            prop_assert_eq!(l.valid, Verdict::Valid, "locks: {:?}\nconfig {:?}", l, cfg);
        }
        prop_assert_ne!(r.valid, Verdict::Invalid);
        // The streaming path and the in-memory path agree exactly.
        prop_assert_eq!(check_text(&text, &opts), r);
    }

    /// Each planted anomaly is reported, with its task id or the index of the planted grant,
    /// and no other anomaly is reported.
    #[test]
    fn planted_anomalies_are_found_exactly(cfg in config(), mask in 1u8..128) {
        let plant: Vec<Plant> = Plant::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, p)| *p)
            .collect();
        let cfg = SynthConfig { plant, fail_rate: cfg.fail_rate.max(0.05), invocations: cfg.invocations.max(100), ..cfg };
        let (ops, report) = ops_of(&cfg);
        let opts = CheckOptions { exactly_once: true, ..CheckOptions::default() };
        let r = check_ops(ops, &opts);
        let t = r.tasks.as_ref().expect("tasks ran");
        let ids = |l: &[checkers::tasks::TaskAnomaly]| l.iter().map(|a| a.task.clone()).collect::<BTreeSet<_>>();
        let planted = |k: Plant| report.planted.iter().filter(|p| p.kind == k).cloned().collect::<Vec<_>>();
        let planted_ids = |k: Plant| planted(k).into_iter().map(|p| p.what).collect::<BTreeSet<_>>();
        let ctx = format!("config {cfg:?}\nplanted {:?}", report.planted);
        prop_assert_eq!(ids(&t.lost), planted_ids(Plant::LostTask), "lost; {}", ctx);
        prop_assert_eq!(ids(&t.phantom), planted_ids(Plant::PhantomTask), "phantom; {}", ctx);
        prop_assert_eq!(ids(&t.unexpected), planted_ids(Plant::UnexpectedTask), "unexpected; {}", ctx);
        prop_assert_eq!(ids(&t.not_done), planted_ids(Plant::NotDoneTask), "not-done; {}", ctx);
        prop_assert_eq!(ids(&t.duplicated), planted_ids(Plant::DuplicatedTask), "duplicated; {}", ctx);
        let locks = r.locks.as_ref();
        let splits: Vec<u64> = locks.map_or(vec![], |l| l.split_locks.iter().map(|s| s.second.acquire_ok.index).collect());
        let want: Vec<u64> = planted(Plant::SplitLock).iter().filter_map(|p| p.index).collect();
        prop_assert_eq!(splits, want, "split locks; {}", ctx);
        let regs: Vec<u64> = locks.map_or(vec![], |l| l.token_regressions.iter().map(|s| s.later.ok.index).collect());
        let want: Vec<u64> = planted(Plant::TokenRegression).iter().filter_map(|p| p.index).collect();
        prop_assert_eq!(regs, want, "token regressions; {}", ctx);
        let expect_invalid = !report.planted.is_empty();
        prop_assert_eq!(r.valid == Verdict::Invalid, expect_invalid, "verdict {:?}; {}", r.valid, ctx);
    }
}

/// The planted-anomaly property is not vacuous: over a few fixed seeds every kind of anomaly
/// does get planted (the model finds an occasion for each).
#[test]
fn every_plant_kind_gets_planted() {
    let mut seen = BTreeSet::new();
    for seed in 0..20u64 {
        println!("seed {seed}");
        let cfg = SynthConfig {
            seed,
            invocations: 400,
            clients: 6,
            locks: 1,
            ttl_ms: 500,
            plant: Plant::ALL.to_vec(),
            ..SynthConfig::default()
        };
        let (_, report) = ops_of(&cfg);
        for p in &report.planted {
            if p.kind != Plant::SplitLock && p.kind != Plant::TokenRegression || p.index.is_some() {
                seen.insert(p.kind);
            }
        }
    }
    assert_eq!(seen, Plant::ALL.into_iter().collect::<BTreeSet<_>>());
}

/// Duplicated runs are reported but allowed by default, invalid with exactly-once.
#[test]
fn duplicates_only_invalid_with_exactly_once() {
    let cfg = SynthConfig {
        seed: 7,
        plant: vec![Plant::DuplicatedTask],
        ..SynthConfig::default()
    };
    println!("seed {}", cfg.seed);
    let (ops, _) = ops_of(&cfg);
    let lax = check_ops(ops.clone(), &CheckOptions::default());
    let t = lax.tasks.as_ref().unwrap();
    assert_eq!(t.counts.duplicated, 1);
    assert_eq!(t.valid, Verdict::Valid);
    let strict = check_ops(
        ops,
        &CheckOptions {
            exactly_once: true,
            ..CheckOptions::default()
        },
    );
    assert_eq!(strict.tasks.unwrap().valid, Verdict::Invalid);
    assert_eq!(strict.valid, Verdict::Invalid);
}
