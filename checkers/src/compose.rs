//! [`Results`]: every checker's result and the merged verdict (Jepsen's `compose`).
//!
//! The merged verdict is false if any checker says false, else unknown if any says unknown,
//! else true. A history with neither task nor lock operations is unknown: nothing was checked.

use std::collections::BTreeMap;

use histories::Warning;
use serde::{Deserialize, Serialize};

use crate::locks::LocksResult;
use crate::stats::StatsResult;
use crate::tasks::TasksResult;
use crate::verdict::Verdict;

/// The result of another checker (e.g. `linearizable`) attached with [`Results::add_extra`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtraResult {
    /// Its verdict.
    pub valid: Verdict,
    /// One line for the human summary.
    pub summary: String,
    /// Its full result, as JSON.
    pub detail: serde_json::Value,
}

/// What the checkers found in one history; serialized as `results.json`
/// (documented in docs/results-format.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// The merged verdict: JSON `true`, `false` or `"unknown"`.
    pub valid: Verdict,
    /// One line per checker that is not valid, saying why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Number of ops in the history.
    pub ops: u64,
    /// Problems the reader tolerated (a truncated last line).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// Counts per `f`.
    pub stats: StatsResult,
    /// Lost tasks; absent when the history has no task ops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<TasksResult>,
    /// Split locks; absent when the history has no lock ops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locks: Option<LocksResult>,
    /// Other checkers' results by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, ExtraResult>,
}

impl Results {
    /// Assembles results and computes the merged verdict.
    pub fn new(
        ops: u64,
        warnings: Vec<Warning>,
        stats: StatsResult,
        tasks: Option<TasksResult>,
        locks: Option<LocksResult>,
    ) -> Results {
        let mut r = Results {
            valid: Verdict::Unknown,
            reasons: Vec::new(),
            ops,
            warnings,
            stats,
            tasks,
            locks,
            extra: BTreeMap::new(),
        };
        r.recompute();
        r
    }

    /// Attaches another checker's result and merges its verdict in.
    pub fn add_extra(&mut self, name: impl Into<String>, result: ExtraResult) {
        self.extra.insert(name.into(), result);
        self.recompute();
    }

    /// Recomputes `valid` and `reasons` from the parts.
    pub fn recompute(&mut self) {
        let mut verdicts = Vec::new();
        let mut reasons = Vec::new();
        let mut note = |name: &str, v: Verdict, why: &[String]| {
            verdicts.push(v);
            if v != Verdict::Valid {
                let why = if why.is_empty() {
                    String::new()
                } else {
                    format!(": {}", why.join("; "))
                };
                reasons.push(format!("{name} {}{why}", v.word()));
            }
        };
        note("stats", self.stats.valid, &self.stats.reasons);
        if let Some(t) = &self.tasks {
            note("tasks", t.valid, &task_reasons(t));
        }
        if let Some(l) = &self.locks {
            note("locks", l.valid, &lock_reasons(l));
        }
        for (name, x) in &self.extra {
            note(name, x.valid, std::slice::from_ref(&x.summary));
        }
        if self.tasks.is_none() && self.locks.is_none() && self.extra.is_empty() {
            verdicts.push(Verdict::Unknown);
            reasons.push("no tasks or locks operations: nothing was checked".to_string());
        }
        self.valid = Verdict::merge(verdicts);
        self.reasons = reasons;
    }
}

fn task_reasons(t: &TasksResult) -> Vec<String> {
    let c = &t.counts;
    let mut v: Vec<String> = [
        ("lost", c.lost),
        ("phantom", c.phantom),
        ("unexpected", c.unexpected),
        ("not-done", c.not_done),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| format!("{n} {k}"))
    .collect();
    if t.valid == Verdict::Invalid && v.is_empty() && c.duplicated > 0 {
        v.push(format!("{} duplicated (exactly-once)", c.duplicated));
    }
    v.extend(t.reasons.iter().cloned());
    v
}

fn lock_reasons(l: &LocksResult) -> Vec<String> {
    let c = &l.counts;
    let mut v = Vec::new();
    if c.split_locks > 0 {
        v.push(format!("{} split lock(s)", c.split_locks));
    }
    if c.token_regressions > 0 {
        v.push(format!("{} token regression(s)", c.token_regressions));
    }
    v.extend(l.reasons.iter().cloned());
    v
}
