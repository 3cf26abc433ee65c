//! Counts of ok / fail / info per `f`, like Jepsen's `stats` checker.
//!
//! Its verdict guards against vacuous passes: a client `f` that was invoked but never once
//! completed ok makes it `unknown` (nothing of that kind was shown to work, so a clean bill
//! from the other checkers says little), as does a history with no client ops at all.

use std::collections::BTreeMap;

use histories::{OpRef, OpType, Process};
use serde::{Deserialize, Serialize};

use crate::verdict::Verdict;

/// Counts for one `f`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FStats {
    /// Invokes.
    pub invoke: u64,
    /// `ok` completions.
    pub ok: u64,
    /// `fail` completions.
    pub fail: u64,
    /// `info` completions.
    pub info: u64,
}

/// The stats checker's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsResult {
    /// Unknown if some client `f` never completed ok, or there are no client ops.
    pub valid: Verdict,
    /// Why the verdict is unknown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Client ops per `f`.
    pub by_f: BTreeMap<String, FStats>,
    /// Nemesis events per `f` (all types).
    pub nemesis: BTreeMap<String, u64>,
}

/// Streaming state: a short list, since a history has a handful of distinct `f`s.
#[derive(Default)]
pub(crate) struct StatsChecker {
    client: Vec<(String, FStats)>,
    nemesis: Vec<(String, u64)>,
}

impl StatsChecker {
    pub fn observe(&mut self, op: &OpRef<'_>) {
        if op.process == Process::Nemesis {
            let i = slot(&mut self.nemesis, &op.f);
            self.nemesis[i].1 += 1;
            return;
        }
        let i = slot(&mut self.client, &op.f);
        let s = &mut self.client[i].1;
        match op.kind {
            OpType::Invoke => s.invoke += 1,
            OpType::Ok => s.ok += 1,
            OpType::Fail => s.fail += 1,
            OpType::Info => s.info += 1,
        }
    }

    pub fn finish(self) -> StatsResult {
        let by_f: BTreeMap<String, FStats> = self.client.into_iter().collect();
        let mut reasons = Vec::new();
        if by_f.is_empty() {
            reasons.push("no client operations".to_string());
        }
        for (f, s) in &by_f {
            if s.ok == 0 {
                reasons.push(format!(
                    "{f:?} never completed ok ({} invoked, {} failed, {} unknown)",
                    s.invoke, s.fail, s.info
                ));
            }
        }
        StatsResult {
            valid: if reasons.is_empty() {
                Verdict::Valid
            } else {
                Verdict::Unknown
            },
            reasons,
            by_f,
            nemesis: self.nemesis.into_iter().collect(),
        }
    }
}

fn slot<T: Default>(v: &mut Vec<(String, T)>, f: &str) -> usize {
    match v.iter().position(|(k, _)| k == f) {
        Some(i) => i,
        None => {
            v.push((f.to_string(), T::default()));
            v.len() - 1
        }
    }
}
