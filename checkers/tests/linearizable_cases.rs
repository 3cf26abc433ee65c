//! Hand-written histories for the linearizability checker: Jepsen's semantics of `fail` and
//! `info`, per-key results, the budget, bad input, the counterexample, the mutex model.

use checkers::linearizable::{
    check_ops, render_text, suggest_model, LinError, LinOptions, ModelKind,
};
use checkers::Verdict;
use histories::{Op, OpType, Process};
use serde_json::{json, Value};

/// Builds a history from (process, type, f, value) in order.
fn history(ops: &[(u64, OpType, &str, Value)]) -> Vec<Op> {
    ops.iter()
        .enumerate()
        .map(|(i, (p, kind, f, value))| Op {
            index: i as u64,
            time: i as u64,
            process: Process::Client(*p),
            kind: *kind,
            f: f.to_string(),
            value: value.clone(),
            node: None,
            error: None,
        })
        .collect()
}

use OpType::{Fail, Info, Invoke, Ok as Done};

fn cas_register(h: &[Op]) -> checkers::linearizable::LinResults {
    check_ops(
        h,
        &LinOptions {
            model: ModelKind::CasRegister,
            init: json!(0),
            ..LinOptions::default()
        },
    )
    .expect("well formed")
}

fn w(v: i64) -> Value {
    json!({"key": "k", "value": v})
}

fn r() -> Value {
    json!({"key": "k"})
}

#[test]
fn a_failed_write_did_not_happen() {
    let h = history(&[
        (1, Invoke, "write", w(1)),
        (1, Fail, "write", w(1)),
        (2, Invoke, "read", r()),
        (2, Done, "read", w(1)),
    ]);
    assert_eq!(
        cas_register(&h).valid,
        Verdict::Invalid,
        "reading a failed write's value is not linearizable"
    );
}

#[test]
fn an_info_write_may_have_happened_or_not_but_only_once() {
    let seen = history(&[
        (1, Invoke, "write", w(1)),
        (1, Info, "write", w(1)),
        (2, Invoke, "read", r()),
        (2, Done, "read", w(1)),
    ]);
    assert_eq!(
        cas_register(&seen).valid,
        Verdict::Valid,
        "it may have happened"
    );
    let unseen = history(&[
        (1, Invoke, "write", w(1)),
        (1, Info, "write", w(1)),
        (2, Invoke, "read", r()),
        (2, Done, "read", w(0)),
    ]);
    assert_eq!(cas_register(&unseen).valid, Verdict::Valid, "or not");
    let flicker = history(&[
        (1, Invoke, "write", w(1)),
        (1, Info, "write", w(1)),
        (2, Invoke, "read", r()),
        (2, Done, "read", w(1)),
        (2, Invoke, "read", r()),
        (2, Done, "read", w(0)),
    ]);
    let res = cas_register(&flicker);
    assert_eq!(
        res.valid,
        Verdict::Invalid,
        "it cannot take effect and then un-happen"
    );
    let text = render_text(&res);
    assert!(text.contains("cannot linearize [4..5] p2 read 0"), "{text}");
}

#[test]
fn keys_are_checked_independently_and_reported_by_key() {
    let h = history(&[
        (1, Invoke, "write", json!({"key": "a", "value": 1})),
        (1, Done, "write", json!({"key": "a", "value": 1})),
        (2, Invoke, "read", json!({"key": "b"})),
        (2, Done, "read", json!({"key": "b", "value": 0})),
        (2, Invoke, "read", json!({"key": "a"})),
        (2, Done, "read", json!({"key": "a", "value": 0})),
    ]);
    let res = cas_register(&h);
    assert_eq!(res.valid, Verdict::Invalid);
    assert_eq!(res.keys, 2);
    assert_eq!(
        res.failures.keys().collect::<Vec<_>>(),
        vec!["\"a\""],
        "only key a is stale"
    );
}

#[test]
fn out_of_budget_is_unknown_with_a_reason() {
    let mut ops = Vec::new();
    for p in 0..6u64 {
        ops.push((p, Invoke, "write", w(p as i64)));
    }
    for p in 0..6u64 {
        ops.push((p, Done, "write", w(p as i64)));
    }
    ops.push((9, Invoke, "read", r()));
    ops.push((9, Done, "read", w(42)));
    let h = history(&ops);
    let res = check_ops(
        &h,
        &LinOptions {
            init: json!(0),
            max_steps_per_key: 3,
            ..LinOptions::default()
        },
    )
    .unwrap();
    assert_eq!(res.valid, Verdict::Unknown);
    let reason = res.failures["\"k\""].reason.clone().unwrap_or_default();
    assert!(reason.contains("gave up"), "{reason}");
    assert_eq!(
        cas_register(&h).valid,
        Verdict::Invalid,
        "with the default budget it is decided"
    );
}

#[test]
fn ops_outside_the_model_are_bad_input_naming_the_op() {
    let h = history(&[
        (1, Invoke, "write", w(1)),
        (1, Done, "write", w(1)),
        (1, Invoke, "acquire", json!(null)),
        (1, Done, "acquire", json!(null)),
    ]);
    let err = check_ops(&h, &LinOptions::default()).unwrap_err();
    assert!(matches!(err, LinError::BadOp { index: 2, .. }), "{err}");
    assert!(err.to_string().contains("\"acquire\""), "{err}");
    let unpaired = history(&[(1, Done, "write", w(1))]);
    assert!(check_ops(&unpaired, &LinOptions::default())
        .unwrap_err()
        .to_string()
        .contains("no open invoke"));
}

#[test]
fn the_counterexample_gives_the_prefix_states_and_a_window() {
    // Knossos's rethink-fail-minimal: write 0; then concurrently write 4 and a read of 3.
    let h = history(&[
        (0, Invoke, "write", w(0)),
        (0, Done, "write", w(0)),
        (1, Invoke, "read", r()),
        (2, Invoke, "write", w(4)),
        (1, Done, "read", w(3)),
        (2, Done, "write", w(4)),
        (3, Invoke, "read", r()),
        (3, Done, "read", w(4)),
    ]);
    let res = cas_register(&h);
    let c = res.failures["\"k\""]
        .counterexample
        .clone()
        .expect("explained");
    assert_eq!(
        c.stuck.as_ref().map(|s| (s.index, s.op.as_str())),
        Some((2, "read 3"))
    );
    assert_eq!(c.prefix_len, c.prefix.len());
    assert!(
        c.prefix
            .iter()
            .any(|s| s.op.op == "write 0" && s.state == "0"),
        "{c:?}"
    );
    let mut states = c.states.clone();
    states.sort();
    assert_eq!(
        states,
        vec!["0", "4"],
        "the register held 0 or 4 when the read returned"
    );
    let window: Vec<u64> = c.window.iter().map(|w| w.op.index).collect();
    assert!(
        window.contains(&2) && !window.contains(&6),
        "the window ends at the read: {window:?}"
    );
}

#[test]
fn mutex_double_grant_is_not_linearizable() {
    let opts = LinOptions {
        model: ModelKind::Mutex,
        ..LinOptions::default()
    };
    let lock = json!({"lock": "l"});
    let double = history(&[
        (1, Invoke, "acquire", lock.clone()),
        (1, Done, "acquire", lock.clone()),
        (2, Invoke, "acquire", lock.clone()),
        (2, Done, "acquire", lock.clone()),
    ]);
    assert_eq!(check_ops(&double, &opts).unwrap().valid, Verdict::Invalid);
    let handover = history(&[
        (1, Invoke, "acquire", lock.clone()),
        (1, Done, "acquire", lock.clone()),
        (2, Invoke, "acquire", lock.clone()),
        (1, Invoke, "release", lock.clone()),
        (1, Done, "release", lock.clone()),
        (2, Done, "acquire", lock.clone()),
    ]);
    assert_eq!(
        check_ops(&handover, &opts).unwrap().valid,
        Verdict::Valid,
        "the second acquire took effect after the release"
    );
}

#[test]
fn the_model_is_suggested_from_the_ops() {
    let reg = history(&[
        (1, Invoke, "cas", json!({"from": 0, "to": 1})),
        (1, Done, "cas", json!({"from": 0, "to": 1})),
    ]);
    assert_eq!(suggest_model(&reg), Some(ModelKind::CasRegister));
    let txn = history(&[(1, Invoke, "txn", json!([["read", "x", null]]))]);
    assert_eq!(suggest_model(&txn), Some(ModelKind::MultiRegister));
    let tasks = history(&[(1, Invoke, "submit", json!({"task": "t"}))]);
    assert_eq!(suggest_model(&tasks), None);
    assert_eq!(suggest_model(&[]), None);
}

/// A stale read's anomaly cites its ops (the read that cannot be linearized, and the write
/// its window needs), so that bug-hunt's time to the first anomalous op and shrink's
/// `failed_by` see linearizability anomalies as they see split locks and lost tasks.
#[test]
fn an_invalid_linearizability_result_cites_its_ops_as_an_anomaly() {
    let h = history(&[
        (1, Invoke, "write", w(1)),
        (1, Done, "write", w(1)),
        (2, Invoke, "read", r()),
        (2, Done, "read", w(0)),
    ]);
    let lin = cas_register(&h);
    assert_eq!(lin.valid, Verdict::Invalid);
    let stats = checkers::stats::StatsResult {
        valid: Verdict::Valid,
        reasons: vec![],
        by_f: Default::default(),
        nemesis: Default::default(),
    };
    let mut results = checkers::Results::new(4, vec![], stats, None, None);
    results.add_extra("linearizable", checkers::linearizable::to_extra(&lin));
    let anomalies = results.anomalies();
    assert_eq!(anomalies.len(), 1);
    let ops: Vec<u64> = anomalies[0].ops.iter().copied().collect();
    assert!(
        ops.contains(&2) && ops.contains(&3),
        "the stale read: {ops:?}"
    );
    assert!(ops.iter().all(|i| *i < 4), "{ops:?}");
}
