//! Key-value operations on a CASPaxos register: read, write and compare-and-set of a JSON
//! value (the `register` workload, docs/node-api.md).
//!
//! Linearizable by design: every operation, reads included, goes through a promise quorum
//! of the configured cluster and sees the current (highest-ballot) value; when the quorum
//! disagreed, the node writes that value back before answering, so what a read returns is
//! chosen. Writes and swaps take effect when a majority accepted them.
//!
//! A retried proposal (its accept round timed out or was refused) must not apply its write a
//! second time: between the two attempts another client could have written and read, and a
//! second application would put the old write after theirs. So the written value carries the
//! operation's [`OpId`]; a retry that finds its own write current succeeds without writing
//! again, and a retry that does not find it (it may have been chosen and then overwritten, or
//! never chosen) stops with an error that the node reports as indefinite.

use super::decision::{Decision, Outcome};
use super::message::{Key, OpId, Value};
use super::paxos::View;
use serde::{Deserialize, Serialize};

/// Key of the register that holds KV key `name`.
pub fn kv_key(name: &str) -> Key {
    format!("k/{name}")
}

/// Longest value accepted, as compact JSON (values travel in single UDP datagrams).
pub const MAX_VALUE_BYTES: usize = 4096;

/// State of a KV register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvVal {
    /// The value (`null` reads the same as an absent key).
    pub value: serde_json::Value,
    /// The operation that wrote it.
    pub op: Option<OpId>,
}

/// A KV operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvOp {
    Read,
    Write {
        value: serde_json::Value,
    },
    Cas {
        from: serde_json::Value,
        to: serde_json::Value,
    },
}

/// The outcome of a KV operation, carried in [`Outcome::Kv`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvOutcome {
    /// The current value (`null` when absent).
    Read(serde_json::Value),
    Written,
    /// Whether the comparison held and the new value was written.
    Cas(bool),
}

/// The value a register's current value stands for (`null` when absent).
pub fn current_value(v: Option<&Value>) -> serde_json::Value {
    match v {
        Some(Value::Kv(k)) => k.value.clone(),
        _ => serde_json::Value::Null,
    }
}

/// Applies `op` (identified by `me`) to the register's current value. `retry` is true when
/// an earlier attempt of this operation already sent an accept carrying its write.
pub fn decide(op: &KvOp, view: &View, me: &OpId, retry: bool) -> Decision {
    let cur = match &view.current {
        None => None,
        Some(Value::Kv(k)) => Some(k),
        Some(_) => return Decision::Reject("key does not hold a KV value".into()),
    };
    let value = cur.map_or(serde_json::Value::Null, |k| k.value.clone());
    let mine = cur.is_some_and(|k| k.op.as_ref() == Some(me));
    let write = |v: &serde_json::Value, o: KvOutcome| {
        let val = KvVal {
            value: v.clone(),
            op: Some(me.clone()),
        };
        Decision::Write(Value::Kv(val), Outcome::Kv(o))
    };
    let lost = || {
        Decision::Reject(
            "an earlier attempt was not confirmed and its write is no longer current".into(),
        )
    };
    match op {
        KvOp::Read => Decision::Keep(Outcome::Kv(KvOutcome::Read(value))),
        KvOp::Write { .. } if mine => Decision::Keep(Outcome::Kv(KvOutcome::Written)),
        KvOp::Cas { .. } if mine => Decision::Keep(Outcome::Kv(KvOutcome::Cas(true))),
        KvOp::Write { .. } | KvOp::Cas { .. } if retry => lost(),
        KvOp::Write { value: v } => write(v, KvOutcome::Written),
        KvOp::Cas { from, to } if *from == value => write(to, KvOutcome::Cas(true)),
        KvOp::Cas { .. } => Decision::Keep(Outcome::Kv(KvOutcome::Cas(false))),
    }
}

/// Checks a client's value: at most [`MAX_VALUE_BYTES`] of JSON.
pub fn check_value(what: &str, v: &serde_json::Value) -> Result<(), String> {
    let n = serde_json::to_vec(v).map_or(usize::MAX, |b| b.len());
    if n > MAX_VALUE_BYTES {
        return Err(format!(
            "{what} is {n} bytes of JSON; at most {MAX_VALUE_BYTES} allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::message::NodeId;
    use serde_json::json;

    fn op(seq: u64) -> OpId {
        OpId {
            node: NodeId::from("n1"),
            gen: 1,
            seq,
        }
    }

    fn view(cur: Option<(serde_json::Value, u64)>) -> View {
        View {
            current: cur.map(|(value, seq)| {
                Value::Kv(KvVal {
                    value,
                    op: Some(op(seq)),
                })
            }),
            ages_of_current: vec![],
            all_agree: true,
            quorum: 2,
        }
    }

    fn written(d: &Decision) -> Option<serde_json::Value> {
        match d {
            Decision::Write(Value::Kv(k), _) => Some(k.value.clone()),
            _ => None,
        }
    }

    #[test]
    fn read_returns_the_current_value_or_null() {
        let d = decide(&KvOp::Read, &view(None), &op(1), false);
        assert_eq!(d, Decision::Keep(Outcome::Kv(KvOutcome::Read(json!(null)))));
        let d = decide(&KvOp::Read, &view(Some((json!(3), 9))), &op(1), false);
        assert_eq!(d, Decision::Keep(Outcome::Kv(KvOutcome::Read(json!(3)))));
    }

    #[test]
    fn cas_swaps_only_when_the_comparison_holds() {
        let cas = |from, to| KvOp::Cas { from, to };
        let d = decide(
            &cas(json!(3), json!(4)),
            &view(Some((json!(3), 9))),
            &op(1),
            false,
        );
        assert_eq!(written(&d), Some(json!(4)));
        assert!(matches!(
            d,
            Decision::Write(_, Outcome::Kv(KvOutcome::Cas(true)))
        ));
        let d = decide(
            &cas(json!(2), json!(4)),
            &view(Some((json!(3), 9))),
            &op(1),
            false,
        );
        assert_eq!(d, Decision::Keep(Outcome::Kv(KvOutcome::Cas(false))));
        // An absent key compares equal to null.
        let d = decide(&cas(json!(null), json!(1)), &view(None), &op(1), false);
        assert_eq!(written(&d), Some(json!(1)));
    }

    #[test]
    fn a_retry_never_applies_its_write_twice() {
        let w = KvOp::Write { value: json!(5) };
        // Its own write is current: success without writing again.
        let d = decide(&w, &view(Some((json!(5), 7))), &op(7), true);
        assert_eq!(d, Decision::Keep(Outcome::Kv(KvOutcome::Written)));
        let c = KvOp::Cas {
            from: json!(1),
            to: json!(5),
        };
        let d = decide(&c, &view(Some((json!(5), 7))), &op(7), true);
        assert_eq!(d, Decision::Keep(Outcome::Kv(KvOutcome::Cas(true))));
        // Someone else's value is current: the outcome is unknown, nothing is written.
        for o in [&w, &c] {
            let d = decide(o, &view(Some((json!(1), 8))), &op(7), true);
            assert!(matches!(d, Decision::Reject(_)), "{d:?}");
        }
        // A first attempt writes even over an equal value (no op id match).
        let d = decide(&w, &view(Some((json!(5), 8))), &op(7), false);
        assert_eq!(written(&d), Some(json!(5)));
    }

    #[test]
    fn values_are_bounded() {
        assert!(check_value("value", &json!("x".repeat(100))).is_ok());
        let err = check_value("value", &json!("x".repeat(5000))).unwrap_err();
        assert!(err.contains("value") && err.contains("4096"), "{err}");
    }
}
