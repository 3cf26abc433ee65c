//! From a flat history to per-key lists of operations with their call and return positions.
//!
//! Jepsen semantics: an `invoke` is paired with the next completion of the same process; a
//! `fail` did not happen and is dropped; an `info`, and an invoke still open when the history
//! ends, may have happened at any point after the invocation, or never, so it gets no return.
//! Positions are places in the history (not times): the order the ops were recorded in.

use std::collections::BTreeMap;

use histories::{Op, OpType, Process};

use super::model::{Call, Model, Outcome};
use super::values::Values;
use super::LinError;

/// One operation of one key.
#[derive(Debug, Clone)]
pub struct Entry<O> {
    /// The model's op.
    pub op: O,
    /// Position of the invoke in the history.
    pub call: u32,
    /// Position of the `ok`; `None` for an unknown outcome.
    pub ret: Option<u32>,
    /// `index` of the invoke op.
    pub index: u64,
    /// `index` of the completion op, if any (`ok` or `info`).
    pub ret_index: Option<u64>,
    /// Who ran it.
    pub process: Process,
}

/// The operations on one key, sorted by call position.
#[derive(Debug, Clone)]
pub struct Partition<O> {
    /// Canonical JSON of the key (`""` for the single unnamed object).
    pub key: String,
    /// Its operations.
    pub entries: Vec<Entry<O>>,
}

fn pos(i: usize) -> Result<u32, LinError> {
    u32::try_from(i).map_err(|_| LinError::TooLarge(i))
}

/// Pairs invocations with completions and splits the history by key.
pub fn partition<M: Model>(
    model: &M,
    ops: &[Op],
    values: &mut Values,
) -> Result<Vec<Partition<M::Op>>, LinError> {
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut parts: BTreeMap<String, Vec<Entry<M::Op>>> = BTreeMap::new();
    let mut add = |inv: usize, done: Option<usize>, values: &mut Values| -> Result<(), LinError> {
        let invoke = &ops[inv];
        let outcome = match done {
            Some(d) if ops[d].kind == OpType::Ok => Outcome::Ok(&ops[d].value),
            _ => Outcome::Info,
        };
        let call = Call {
            f: &invoke.f,
            invoke: &invoke.value,
            outcome,
        };
        let parsed = model
            .parse(&call, values)
            .map_err(|reason| LinError::BadOp {
                index: invoke.index,
                reason,
            })?;
        if let Some(p) = parsed {
            let ret = match outcome {
                Outcome::Ok(_) => done.map(pos).transpose()?,
                Outcome::Info => None,
            };
            parts.entry(p.key).or_default().push(Entry {
                op: p.op,
                call: pos(inv)?,
                ret,
                index: invoke.index,
                ret_index: done.map(|d| ops[d].index),
                process: invoke.process,
            });
        }
        Ok(())
    };
    for (i, op) in ops.iter().enumerate() {
        let Process::Client(p) = op.process else {
            continue;
        };
        match op.kind {
            OpType::Invoke => {
                if let Some(prev) = open.insert(p, i) {
                    return Err(LinError::BadOp {
                        index: op.index,
                        reason: format!(
                            "process {p} invoked again while its op index {} was still open",
                            ops[prev].index
                        ),
                    });
                }
            }
            kind => {
                let Some(inv) = open.remove(&p) else {
                    return Err(LinError::BadOp {
                        index: op.index,
                        reason: format!("a {kind:?} completion of process {p} with no open invoke"),
                    });
                };
                if ops[inv].f != op.f {
                    return Err(LinError::BadOp {
                        index: op.index,
                        reason: format!(
                            "completion f {:?} does not match its invoke's f {:?}",
                            op.f, ops[inv].f
                        ),
                    });
                }
                if kind != OpType::Fail {
                    add(inv, Some(i), values)?;
                }
            }
        }
    }
    for inv in open.into_values() {
        add(inv, None, values)?;
    }
    Ok(parts
        .into_iter()
        .map(|(key, mut entries)| {
            entries.sort_by_key(|e| e.call);
            Partition { key, entries }
        })
        .collect())
}
