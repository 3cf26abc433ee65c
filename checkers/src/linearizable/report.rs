//! The results of the linearizability checker and their text rendering.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::Verdict;

/// Most steps of the linearizable prefix kept in a counterexample (the latest ones).
pub const PREFIX_SHOWN: usize = 50;

/// The verdict for a whole history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinResults {
    /// Invalid if any key is, else unknown if any key is, else valid.
    pub valid: Verdict,
    /// The model checked against.
    pub model: String,
    /// Operations checked (fails and unknown reads dropped).
    pub ops: usize,
    /// Keys (independent objects) checked.
    pub keys: usize,
    /// Total search steps over all keys.
    pub steps: u64,
    /// The keys that are not valid, with why. Keys are canonical JSON (`""`: the one object).
    pub failures: BTreeMap<String, KeyResult>,
}

/// The verdict for one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyResult {
    /// Invalid or unknown (valid keys are not listed).
    pub valid: Verdict,
    /// Operations on this key.
    pub ops: usize,
    /// Search steps spent.
    pub steps: u64,
    /// Why the verdict is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Evidence for an invalid verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Counterexample>,
    /// For an unknown verdict, how far the search got (a partial witness): the furthest op it
    /// could not yet place and the linearization that got there. No window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Counterexample>,
}

/// One operation, as the history has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpRef {
    /// `index` of its invoke.
    pub index: u64,
    /// `index` of its completion (`ok` or `info`), if any.
    pub completion: Option<u64>,
    /// The process that ran it.
    pub process: String,
    /// The model's description (`cas 1->2 swapped`).
    pub op: String,
    /// False for `info` ops and ops still open at the end.
    pub completed: bool,
}

/// One step of a linearization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The op linearized.
    pub op: OpRef,
    /// The model state after it.
    pub state: String,
}

/// An op of a non-linearizable window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowOp {
    /// The op.
    pub op: OpRef,
    /// True: it returned inside the window, so it must be linearized there; false: it may
    /// take effect or not (it straddles the window's edges, or its outcome is unknown).
    pub required: bool,
}

/// Why a key is not linearizable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counterexample {
    /// The op that could not be linearized before it returned.
    pub stuck: Option<OpRef>,
    /// The longest prefix found linearizable: how many ops it linearized, and (the last
    /// [`PREFIX_SHOWN`] of) them in linearization order with the state after each.
    pub prefix_len: usize,
    /// See `prefix_len`.
    pub prefix: Vec<Step>,
    /// The states the object could be in when `stuck` returned.
    pub states: Vec<String>,
    /// The smallest window shown non-linearizable on its own (empty if none was found within
    /// the probe budget).
    pub window: Vec<WindowOp>,
    /// The state the window starts from: the initial one, or any state.
    pub window_start: String,
}

fn show_ref(o: &OpRef) -> String {
    let done = match o.completion {
        Some(c) if o.completed => format!("..{c}"),
        Some(c) => format!("..{c} (info)"),
        None => " (never completed)".to_string(),
    };
    format!("[{}{}] p{} {}", o.index, done, o.process, o.op)
}

/// The human summary: one line per history, then each failing key's evidence.
pub fn render_text(r: &LinResults) -> String {
    let mut out = String::new();
    let verdict = match r.valid {
        Verdict::Valid => "linearizable",
        Verdict::Invalid => "NOT linearizable",
        Verdict::Unknown => "unknown",
    };
    let _ = writeln!(
        out,
        "linearizable ({}): {verdict} — {} ops over {} key(s), {} search steps",
        r.model, r.ops, r.keys, r.steps
    );
    for (key, k) in &r.failures {
        let name = if key.is_empty() {
            "the register".to_string()
        } else {
            format!("key {key}")
        };
        if let Some(reason) = &k.reason {
            let _ = writeln!(out, "  {name}: unknown — {reason}");
        }
        let Some(c) = &k.counterexample else { continue };
        let _ = writeln!(out, "  {name}: not linearizable ({} ops)", k.ops);
        if let Some(s) = &c.stuck {
            let _ = writeln!(
                out,
                "    cannot linearize {} before it returned",
                show_ref(s)
            );
            let _ = writeln!(
                out,
                "    the object could then be: {}",
                c.states.join(" | ")
            );
        }
        let _ = writeln!(
            out,
            "    longest linearizable prefix: {} ops; its last ones:",
            c.prefix_len
        );
        for s in c.prefix.iter().rev().take(8).rev() {
            let _ = writeln!(out, "      {}  => {}", show_ref(&s.op), s.state);
        }
        if !c.window.is_empty() {
            let _ = writeln!(
                out,
                "    smallest non-linearizable window ({} ops, from {}):",
                c.window.len(),
                c.window_start
            );
            for w in &c.window {
                let tag = if w.required { "" } else { "  (optional)" };
                let _ = writeln!(out, "      {}{tag}", show_ref(&w.op));
            }
        }
    }
    out
}
