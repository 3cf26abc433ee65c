//! [`Anomaly`]: one anomaly of a [`Results`], typed, with a stable class name and the op
//! indexes that prove it. Repro, torture and bug-hunt decide from these (never from
//! results.json walked as loose JSON); docs/results-format.md lists the classes.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compose::Results;
use crate::evidence::OpEvidence;
use crate::linearizable::{LinResults, OpRef};
use crate::locks::Hold;
use crate::tasks::TaskAnomaly;
use crate::verdict::Verdict;

/// The stable class names, as `checker: class` (docs/results-format.md "Anomaly classes").
pub const CLASSES: [(&str, &str); 9] = [
    ("tasks", LOST),
    ("tasks", PHANTOM),
    ("tasks", UNEXPECTED),
    ("tasks", NOT_DONE),
    ("tasks", UNFINISHED),
    ("tasks", DUPLICATED),
    ("locks", SPLIT_LOCK),
    ("locks", TOKEN_REGRESSION),
    ("(any extra checker)", INVALID),
];

/// An acknowledged task absent from the final read.
pub const LOST: &str = "lost";
/// A task whose submit failed, present in the final read.
pub const PHANTOM: &str = "phantom";
/// A task in the final read that was never submitted.
pub const UNEXPECTED: &str = "unexpected";
/// A task not done after the cluster was healthy for its liveness bound.
pub const NOT_DONE: &str = "not-done";
/// A task not done when the recovery wait ran out (unknown, not invalid).
pub const UNFINISHED: &str = "unfinished";
/// A task that ran more than once, with exactly-once asked for.
pub const DUPLICATED: &str = "duplicated";
/// Two certain holds of one lock that overlap.
pub const SPLIT_LOCK: &str = "split-lock";
/// A later grant with a smaller fencing token.
pub const TOKEN_REGRESSION: &str = "token-regression";
/// An extra checker (e.g. `linearizable`) said false.
pub const INVALID: &str = "invalid";

/// One anomaly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    /// The checker that found it: `tasks`, `locks`, or an extra checker's name.
    pub checker: String,
    /// Its class (one of [`CLASSES`]).
    pub class: &'static str,
    /// History indexes of the ops that prove it.
    pub ops: BTreeSet<u64>,
    /// The anomaly as the checker reported it.
    pub detail: Value,
}

impl Anomaly {
    /// `checker: class`, the signature repro and bug-hunt compare.
    pub fn signature(&self) -> String {
        format!("{}: {}", self.checker, self.class)
    }
}

fn ev(out: &mut BTreeSet<u64>, e: &OpEvidence) {
    out.insert(e.index);
}

fn task(checker: &str, class: &'static str, a: &TaskAnomaly) -> Anomaly {
    let mut ops = BTreeSet::new();
    if let Some(s) = &a.submit {
        ev(&mut ops, &s.invoke);
        if let Some(c) = &s.completion {
            ev(&mut ops, c);
        }
    }
    Anomaly {
        checker: checker.into(),
        class,
        ops,
        detail: serde_json::to_value(a).unwrap_or(Value::Null),
    }
}

fn hold(ops: &mut BTreeSet<u64>, h: &Hold) {
    ev(ops, &h.acquire_invoke);
    ev(ops, &h.acquire_ok);
    if let Some(r) = &h.release_invoke {
        ev(ops, r);
    }
}

impl Results {
    /// Every anomaly, in checker order (tasks, locks, extras by name). Notes that are not
    /// anomalies (recovered tasks; duplicated ones unless exactly-once made them invalid)
    /// are left out.
    pub fn anomalies(&self) -> Vec<Anomaly> {
        let mut out = Vec::new();
        if let Some(t) = &self.tasks {
            for (class, list) in [
                (LOST, &t.lost),
                (PHANTOM, &t.phantom),
                (UNEXPECTED, &t.unexpected),
                (NOT_DONE, &t.not_done),
                (UNFINISHED, &t.unfinished),
            ] {
                out.extend(list.iter().map(|a| task("tasks", class, a)));
            }
            // Duplicates are an anomaly only when they are what made the verdict invalid
            // (`--exactly-once`): the same rule as the reasons (`compose::task_reasons`), so a
            // run invalid for a lost task does not cite its harmless duplicates (bug-hunt's
            // time to the first anomalous op would otherwise be a duplicate's).
            let c = &t.counts;
            let others = c.lost + c.phantom + c.unexpected + c.not_done;
            if t.valid == Verdict::Invalid && others == 0 {
                out.extend(t.duplicated.iter().map(|a| task("tasks", DUPLICATED, a)));
            }
        }
        if let Some(l) = &self.locks {
            for s in &l.split_locks {
                let mut ops = BTreeSet::new();
                hold(&mut ops, &s.first);
                hold(&mut ops, &s.second);
                out.push(Anomaly {
                    checker: "locks".into(),
                    class: SPLIT_LOCK,
                    ops,
                    detail: serde_json::to_value(s).unwrap_or(Value::Null),
                });
            }
            for r in &l.token_regressions {
                let mut ops = BTreeSet::new();
                for g in [&r.earlier, &r.later] {
                    ev(&mut ops, &g.invoke);
                    ev(&mut ops, &g.ok);
                }
                out.push(Anomaly {
                    checker: "locks".into(),
                    class: TOKEN_REGRESSION,
                    ops,
                    detail: serde_json::to_value(r).unwrap_or(Value::Null),
                });
            }
        }
        for (name, x) in &self.extra {
            if x.valid == Verdict::Invalid {
                out.push(Anomaly {
                    checker: name.clone(),
                    class: INVALID,
                    ops: extra_ops(&x.detail),
                    detail: Value::String(x.summary.clone()),
                });
            }
        }
        out
    }
}

/// The ops an extra checker's invalid result cites, where its detail is the linearizability
/// checker's result ([`LinResults`]): for each key not linearizable, the op that could not be
/// linearized (invoke and completion) and the ops its window requires. Other details cite
/// none.
fn extra_ops(detail: &Value) -> BTreeSet<u64> {
    let mut ops = BTreeSet::new();
    let Ok(lin) = LinResults::deserialize(detail) else {
        return ops;
    };
    let mut cite = |op: &OpRef| {
        ops.insert(op.index);
        ops.extend(op.completion);
    };
    for cx in lin
        .failures
        .values()
        .filter_map(|k| k.counterexample.as_ref())
    {
        if let Some(stuck) = &cx.stuck {
            cite(stuck);
        }
        for w in cx.window.iter().filter(|w| w.required) {
            cite(&w.op);
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check_ops, CheckOptions};
    use histories::{Op, OpType, Process};
    use serde_json::json;

    /// A history: submits of `t1` (acked) and `t2` (acked), then a final read with `t2` run
    /// twice and, unless `keep_t1`, `t1` missing (lost).
    fn history(keep_t1: bool) -> Vec<Op> {
        let op = |i: u64, p: u64, kind, f: &str, value| Op {
            index: i,
            time: i * 1_000_000,
            process: Process::Client(p),
            kind,
            f: f.into(),
            value,
            node: None,
            error: None,
        };
        let mut tasks = json!({"t2": {"state": "done", "runs": 2}});
        if keep_t1 {
            tasks["t1"] = json!({"state": "done", "runs": 1});
        }
        vec![
            op(0, 1, OpType::Invoke, "submit", json!({"task": "t1"})),
            op(1, 1, OpType::Ok, "submit", json!({"task": "t1"})),
            op(2, 2, OpType::Invoke, "submit", json!({"task": "t2"})),
            op(3, 2, OpType::Ok, "submit", json!({"task": "t2"})),
            op(4, 3, OpType::Invoke, "read-tasks", Value::Null),
            op(5, 3, OpType::Ok, "read-tasks", json!({ "tasks": tasks })),
        ]
    }

    fn classes(r: &Results) -> Vec<&'static str> {
        r.anomalies().iter().map(|a| a.class).collect()
    }

    #[test]
    fn duplicates_are_anomalies_only_when_they_made_the_run_invalid() {
        let plain = CheckOptions::default();
        let once = CheckOptions {
            exactly_once: true,
            ..CheckOptions::default()
        };
        // Lost and duplicated: only the loss is cited.
        assert_eq!(classes(&check_ops(history(false), &plain)), [LOST]);
        assert_eq!(classes(&check_ops(history(false), &once)), [LOST]);
        // Duplicated alone: an anomaly with exactly-once, nothing without.
        assert_eq!(classes(&check_ops(history(true), &once)), [DUPLICATED]);
        assert!(classes(&check_ops(history(true), &plain)).is_empty());
    }
}
