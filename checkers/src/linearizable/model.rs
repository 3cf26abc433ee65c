//! The [`Model`] trait: a sequential specification as a pure `step` function.
//!
//! A model turns one completed operation of the history into its own op type ([`Model::parse`])
//! and says which states an op may move the object to ([`Model::step`]). The search only ever
//! calls `step` on states it got from `init`, `any_state` or earlier steps, so a new model is a
//! small file: a state type, an op type, `parse`, `step`, and how to print both.

use std::fmt::Debug;
use std::hash::Hash;

use serde_json::Value;

use super::values::Values;

/// What a completed operation returned.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// It took effect and returned this value (the `ok` op's value).
    Ok(&'a Value),
    /// Unknown (`info`, or still open at the end of the history): it may have taken effect at
    /// any point after its invocation, or never.
    Info,
}

/// One operation as the model sees it: its function, the invocation's value and the outcome.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The op's `f` (`read`, `write`, `cas`, `acquire`, ...).
    pub f: &'a str,
    /// The value of the `invoke` op.
    pub invoke: &'a Value,
    /// How it completed.
    pub outcome: Outcome<'a>,
}

/// A parsed op and the key (independent object) it acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<O> {
    /// Canonical JSON of the key, or `""` for a history of one unnamed object. Ops on
    /// different keys are checked independently (P-compositionality).
    pub key: String,
    /// The op.
    pub op: O,
}

/// A sequential specification of a concurrent object.
pub trait Model: Sync {
    /// The object's state; compared and hashed for memoization, so keep it small.
    type State: Clone + Eq + Hash + Debug + Send + Sync;
    /// One operation with its observed result.
    type Op: Clone + Debug + Send + Sync;

    /// The model's name as the CLI spells it (`cas-register`).
    fn name(&self) -> &'static str;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// A state standing for "any state at all", used to check a window of the history cut out
    /// of its middle. It must over-approximate: any op sequence legal from some concrete state
    /// is legal from it. `None` when the model has no such state (then windows start at 0).
    fn any_state(&self) -> Option<Self::State> {
        None
    }

    /// Parses one completed operation. `Ok(None)`: the op cannot constrain the search (an
    /// `info` read) and is dropped. `Err`: the op does not belong to this model or is
    /// malformed; the message says what is wrong (the caller adds where).
    fn parse(
        &self,
        call: &Call<'_>,
        values: &mut Values,
    ) -> Result<Option<Parsed<Self::Op>>, String>;

    /// The state after `op` takes effect in `state`, or `None` if `op` cannot take effect
    /// there (its observed result contradicts the state). Must be pure.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// An exact identity of `op`, for the search's symmetry reduction: two `info` ops with the
    /// same id must be the same operation (same effect in every state), so that either may
    /// stand for the other. `None` (the default): no op is interchangeable with another.
    fn op_id(&self, op: &Self::Op) -> Option<u128> {
        let _ = op;
        None
    }

    /// For the search's per-value pruning: the value the state must hold for `op` to take
    /// effect (a read of v, a swapped cas from v). `None` (the default): no such value.
    fn needs(&self, op: &Self::Op) -> Option<u32> {
        let _ = op;
        None
    }

    /// For the per-value pruning: the one value `op` may leave the state holding when it
    /// changes it (a write of v, a cas to v). Must be `Some` for every op that can change the
    /// value a state [`holds`](Model::holds). `None` (the default): it changes no value.
    fn produces(&self, op: &Self::Op) -> Option<u32> {
        let _ = op;
        None
    }

    /// For the per-value pruning: the value `state` holds; `None` (the default) when unknown
    /// (a model without values, or the any-state), which turns the pruning off there.
    fn holds(&self, state: &Self::State) -> Option<u32> {
        let _ = state;
        None
    }

    /// A short human description of `op` (`cas 1->2 ok`).
    fn show_op(&self, op: &Self::Op, values: &Values) -> String;

    /// A short human description of `state`.
    fn show_state(&self, state: &Self::State, values: &Values) -> String;
}

/// The key of an op's value: its `key` field (canonical JSON), or `""` when there is none.
pub fn key_of(value: &Value, field: &str) -> String {
    match value.get(field) {
        Some(k) => k.to_string(),
        None => String::new(),
    }
}
