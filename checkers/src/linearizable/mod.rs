//! Linearizability checking, as Knossos and Porcupine do it, for histories of registers,
//! CAS registers, mutexes and Knossos's multi-register.
//!
//! | module | what it owns |
//! | --- | --- |
//! | [`model`] | the [`Model`] trait: a pure `step` per model |
//! | [`models`] | [`models::Register`] (plain and CAS), [`models::Mutex`], [`models::MultiRegister`] |
//! | [`history`] | pairing invokes with completions (Jepsen semantics) and the per-key split |
//! | [`search`] | the WGL/Lowe search with memoization of (linearized set, state) |
//! | [`explain`] | the smallest non-linearizable window |
//! | [`report`] | [`LinResults`] and [`render_text`] |
//! | [`files`] | checking a history file for `gauntlet check` |
//! | [`svg`] | a diagram of a counterexample window, for the run report |
//!
//! Keys are independent objects (P-compositionality): each is searched on its own, in
//! parallel (rayon). A budget of steps and a deadline make a search give up with `unknown`.
//!
//! ```
//! use checkers::linearizable::{check_ops, LinOptions, ModelKind};
//! use checkers::Verdict;
//! let opts = LinOptions { model: ModelKind::CasRegister, init: serde_json::json!(0), ..LinOptions::default() };
//! let result = check_ops(&[], &opts).unwrap();
//! assert_eq!(result.valid, Verdict::Valid);
//! ```

pub mod explain;
pub mod files;
pub mod generate;
pub mod history;
pub mod model;
pub mod models;
pub mod report;
pub mod search;
pub mod svg;
pub mod values;

use std::fmt::Write as _;
use std::str::FromStr;
use std::time::{Duration, Instant};

use histories::{Op, OpType, Process};
use rayon::prelude::*;
use serde_json::Value;

pub use files::{
    check_history_file, check_history_file_with, check_history_ops, to_extra, FileCheck,
};
pub use model::{Call, Model, Outcome, Parsed};
pub use report::{render_text, Counterexample, KeyResult, LinResults, OpRef, Step, WindowOp};
pub use svg::render_svg;
pub use values::Values;

use crate::Verdict;
use history::{Entry, Partition};
use search::{Budget, Found, Item};

/// Errors of the linearizability checker: the history does not fit the model.
#[derive(Debug, thiserror::Error)]
pub enum LinError {
    /// An op is malformed or is not an operation of the model.
    #[error("op index {index}: {reason}")]
    BadOp {
        /// `index` of the offending op.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// More ops than positions fit in 32 bits.
    #[error("history too large: {0} ops")]
    TooLarge(usize),
}

/// The models, by their CLI names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModelKind {
    /// `register`: read and write.
    Register,
    /// `cas-register`: read, write and compare-and-set.
    #[default]
    CasRegister,
    /// `mutex`: acquire and release.
    Mutex,
    /// `multi-register`: transactions over several registers (`txn`).
    MultiRegister,
}

impl ModelKind {
    /// Every model with its CLI name.
    pub const ALL: [(ModelKind, &'static str); 4] = [
        (ModelKind::Register, "register"),
        (ModelKind::CasRegister, "cas-register"),
        (ModelKind::Mutex, "mutex"),
        (ModelKind::MultiRegister, "multi-register"),
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("?", |(_, n)| n)
    }
}

impl FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(_, n)| *n).collect();
                format!(
                    "unknown model {s:?} (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// The model that fits the client ops of a history, when it is clear from their `f`s:
/// `cas-register` for read/write/cas, `multi-register` for txn. `None` otherwise (a mutex
/// history must be asked for explicitly: acquire/release is also the locks checker's domain).
pub fn suggest_model(ops: &[Op]) -> Option<ModelKind> {
    suggest_model_for(
        ops.iter()
            .filter(|o| o.process != Process::Nemesis && o.kind == OpType::Invoke)
            .map(|o| o.f.as_str()),
    )
}

/// [`suggest_model`] from the `f`s of the client invokes alone (repeats allowed), for a
/// caller that has counted them already (`gauntlet check` uses the stats checker's counts).
pub fn suggest_model_for<'a>(fs: impl IntoIterator<Item = &'a str>) -> Option<ModelKind> {
    let mut kind = None;
    for f in fs {
        let k = match f {
            "read" | "write" | "cas" => ModelKind::CasRegister,
            "txn" => ModelKind::MultiRegister,
            _ => return None,
        };
        if kind.is_some_and(|prev| prev != k) {
            return None;
        }
        kind = Some(k);
    }
    kind
}

/// How to check.
#[derive(Debug, Clone)]
pub struct LinOptions {
    /// The model. Default: `cas-register`.
    pub model: ModelKind,
    /// The initial value of every register (ignored by `mutex`). Default: `null`.
    pub init: Value,
    /// Most search steps per key before it is `unknown`. Default: 20,000,000.
    pub max_steps_per_key: u64,
    /// Wall-clock limit for the whole check, after which unfinished keys are `unknown`.
    /// Default: 120 s.
    pub timeout: Option<Duration>,
    /// Compute counterexamples for invalid keys. Default: true.
    pub explain: bool,
    /// Most memory the search of one key may use for its memo before the key is `unknown`
    /// (approximate; keys are searched in parallel, one per core). Default: 1 GiB.
    pub max_memo_bytes_per_key: usize,
    /// True: the plain WGL search, without the reductions of [`search`] (for tests and
    /// benchmarks that compare the two; verdicts are the same). Default: false.
    pub plain_search: bool,
}

impl Default for LinOptions {
    fn default() -> Self {
        LinOptions {
            model: ModelKind::CasRegister,
            init: Value::Null,
            max_steps_per_key: 20_000_000,
            timeout: Some(Duration::from_secs(120)),
            explain: true,
            max_memo_bytes_per_key: 1 << 30,
            plain_search: false,
        }
    }
}

/// Checks a history (in history order) against the chosen model.
pub fn check_ops(ops: &[Op], opts: &LinOptions) -> Result<LinResults, LinError> {
    let mut values = Values::new();
    match opts.model {
        ModelKind::Register => check_model(
            &models::Register::plain(&opts.init, &mut values),
            ops,
            values,
            opts,
        ),
        ModelKind::CasRegister => check_model(
            &models::Register::cas(&opts.init, &mut values),
            ops,
            values,
            opts,
        ),
        ModelKind::Mutex => check_model(&models::Mutex, ops, values, opts),
        ModelKind::MultiRegister => check_model(
            &models::MultiRegister::new(&opts.init, &mut values),
            ops,
            values,
            opts,
        ),
    }
}

/// Checks a history against any model: split per key, keys searched in parallel.
pub fn check_model<M: Model>(
    model: &M,
    ops: &[Op],
    mut values: Values,
    opts: &LinOptions,
) -> Result<LinResults, LinError> {
    let parts = history::partition(model, ops, &mut values)?;
    let budget = Budget {
        max_steps: opts.max_steps_per_key,
        deadline: opts.timeout.map(|t| Instant::now() + t),
        max_memo_bytes: opts.max_memo_bytes_per_key,
        plain: opts.plain_search,
        prune_values: true,
    };
    let results: Vec<(String, KeyResult)> = parts
        .par_iter()
        .map(|p| {
            (
                p.key.clone(),
                check_key(model, p, &values, &budget, opts.explain),
            )
        })
        .collect();
    let mut out = LinResults {
        valid: Verdict::Valid,
        model: model.name().to_string(),
        ops: parts.iter().map(|p| p.entries.len()).sum(),
        keys: parts.len(),
        steps: results.iter().map(|(_, k)| k.steps).sum(),
        failures: Default::default(),
    };
    for (key, k) in results {
        out.valid = match (out.valid, k.valid) {
            (Verdict::Invalid, _) | (_, Verdict::Invalid) => Verdict::Invalid,
            (Verdict::Unknown, _) | (_, Verdict::Unknown) => Verdict::Unknown,
            _ => Verdict::Valid,
        };
        if k.valid != Verdict::Valid {
            out.failures.insert(key, k);
        }
    }
    Ok(out)
}

/// Searches one key.
fn check_key<M: Model>(
    model: &M,
    part: &Partition<M::Op>,
    values: &Values,
    budget: &Budget,
    explain: bool,
) -> KeyResult {
    let items: Vec<Item<'_, M::Op>> = part
        .entries
        .iter()
        .map(|e| Item {
            op: &e.op,
            call: e.call,
            ret: e.ret,
            required: e.ret.is_some(),
        })
        .collect();
    let res = search::search(model, &items, model.init(), budget);
    let mut k = KeyResult {
        valid: Verdict::Valid,
        ops: items.len(),
        steps: res.steps,
        reason: None,
        counterexample: None,
        partial: None,
    };
    match res.found {
        Found::Linearizable(_) => {}
        Found::GaveUp(g) => {
            k.valid = Verdict::Unknown;
            k.reason = Some(gave_up_reason(model, &part.entries, values, &g));
            if explain {
                k.partial = g
                    .frontier
                    .map(|f| counterexample(model, &part.entries, values, f, false));
            }
        }
        Found::NotLinearizable(f) => {
            k.valid = Verdict::Invalid;
            if explain {
                let f = frontier_unpruned(model, &items, budget, res.steps).unwrap_or(f);
                k.counterexample = Some(counterexample(model, &part.entries, values, f, true));
            }
        }
    }
    k
}

/// The frontier of a search without the per-value pruning (which can stop short of the
/// furthest return the search could reach), for the counterexample; `None` if that search
/// needs more than 4x the steps of the pruned one plus a million, or the key's budget.
fn frontier_unpruned<M: Model>(
    model: &M,
    items: &[Item<'_, M::Op>],
    budget: &Budget,
    steps: u64,
) -> Option<search::Frontier<M::State>> {
    if budget.plain {
        return None;
    }
    let b = Budget {
        max_steps: budget
            .max_steps
            .min(steps.saturating_mul(4).saturating_add(1_000_000)),
        prune_values: false,
        ..*budget
    };
    match search::search(model, items, model.init(), &b).found {
        Found::NotLinearizable(f) => Some(f),
        _ => None,
    }
}

/// Why a key is unknown and how far its search got: what ran out, after how many steps, how
/// many ops the furthest linearization placed, and the op it could not yet place.
fn gave_up_reason<M: Model>(
    model: &M,
    entries: &[Entry<M::Op>],
    values: &Values,
    g: &search::GaveUp<M::State>,
) -> String {
    let mut s = format!(
        "gave up after {} search steps ({} exhausted)",
        g.steps,
        g.why.describe()
    );
    match &g.frontier {
        Some(f) => {
            let placed = f.path.len();
            let _ = write!(
                s,
                "; the furthest linearization placed {placed} of {} ops",
                entries.len()
            );
            if let Some(it) = f.stuck {
                let o = op_ref(model, &entries[it], values);
                let _ = write!(
                    s,
                    " and had yet to place op index {} (p{} {})",
                    o.index, o.process, o.op
                );
            }
        }
        None => {
            let _ = write!(s, "; no return of the {} ops was reached", entries.len());
        }
    }
    s
}

fn op_ref<M: Model>(model: &M, e: &Entry<M::Op>, values: &Values) -> OpRef {
    OpRef {
        index: e.index,
        completion: e.ret_index,
        process: match e.process {
            Process::Client(p) => p.to_string(),
            Process::Nemesis => "nemesis".to_string(),
        },
        op: model.show_op(&e.op, values),
        completed: e.ret.is_some(),
    }
}

fn counterexample<M: Model>(
    model: &M,
    entries: &[Entry<M::Op>],
    values: &Values,
    f: search::Frontier<M::State>,
    with_window: bool,
) -> Counterexample {
    let steps: Vec<Step> = f
        .path
        .iter()
        .map(|(it, s)| Step {
            op: op_ref(model, &entries[*it], values),
            state: model.show_state(s, values),
        })
        .collect();
    let prefix_len = steps.len();
    let prefix = steps[prefix_len.saturating_sub(report::PREFIX_SHOWN)..].to_vec();
    let window = f
        .stuck
        .filter(|_| with_window)
        .and_then(|_| explain::smallest_window(model, entries, f.pos));
    let (window, window_start) = match window {
        Some(w) => (
            w.ops
                .iter()
                .map(|&(id, required)| WindowOp {
                    op: op_ref(model, &entries[id], values),
                    required,
                })
                .collect(),
            if w.from_init {
                format!(
                    "the initial state {}",
                    model.show_state(&model.init(), values)
                )
            } else {
                "any state".to_string()
            },
        ),
        None => (Vec::new(), String::new()),
    };
    Counterexample {
        stuck: f.stuck.map(|it| op_ref(model, &entries[it], values)),
        prefix_len,
        prefix,
        states: f
            .states
            .iter()
            .map(|s| model.show_state(s, values))
            .collect(),
        window,
        window_start,
    }
}
