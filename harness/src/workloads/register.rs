//! The register workload: read, write and compare-and-set on a few registers at a time, and
//! the linearizability check of its history (`checkers::linearizable`, cas-register model).
//!
//! Keys rotate like Jepsen's independent keys: the main phase is cut into spans of
//! [`KEY_SPAN_MS`], and in each span every worker picks among the same `--locks` keys (default
//! 3), so ops on a key contend, while each key's history stays short enough for the search
//! (an `info` write or cas stays pending to the end of its key's history, and many of them
//! make the search expensive). Values are small integers, so cas comparisons often hold.
//!
//! History ops (docs/linearizability.md): `read` `{"key"}` -> ok `{"key", "value"}` (`null`
//! when absent); `write` `{"key", "value"}`; `cas` `{"key", "from", "to"}` -> ok adds
//! `"swapped"`.

use std::path::Path;
use std::sync::Arc;

use checkers::linearizable::{check_history_ops, ModelKind};
use checkers::{ExtraResult, Verdict};
use histories::Op;
use nemesis::NodeId;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::{
    to_completion, Call, ClientOp, Cursor, OpRunner, RunChecker, Session, Workload, WorkloadName,
};
use crate::cluster::{BoxFuture, Offers, Reply};
use crate::recorder::Completion;

/// Its registry name.
pub const NAME: WorkloadName = WorkloadName("register");

/// How long one set of keys is in use, in ms.
pub const KEY_SPAN_MS: u64 = 2_000;

/// Values are drawn from `0..VALUES`.
pub const VALUES: u64 = 5;

/// The file in the run directory with the checker's text (counterexamples included).
pub const TEXT_FILE: &str = "linearizable.txt";

/// The register workload.
#[derive(Debug, Clone, Copy)]
pub struct Register;

/// The register workload's client: one linearizable register per key, holding integers
/// (absent keys read as `None`).
pub trait RegisterClient: Send + Sync {
    /// Reads a register.
    fn read<'a>(&'a self, node: &'a NodeId, key: &'a str) -> BoxFuture<'a, Reply<Option<u64>>>;
    /// Writes a register.
    fn write<'a>(&'a self, node: &'a NodeId, key: &'a str, value: u64) -> BoxFuture<'a, Reply<()>>;
    /// Compare-and-set; ok carries whether it swapped.
    fn cas<'a>(
        &'a self,
        node: &'a NodeId,
        key: &'a str,
        from: u64,
        to: u64,
    ) -> BoxFuture<'a, Reply<bool>>;
}

/// Adds a system's register client to what it offers.
pub fn offer(offers: Offers, client: Arc<dyn RegisterClient>) -> Offers {
    offers.with(NAME.as_str(), client)
}

/// The register client a system offers, if it offers one.
pub fn client(offers: &Offers) -> Option<Arc<dyn RegisterClient>> {
    offers
        .get::<Arc<dyn RegisterClient>>(NAME.as_str())
        .cloned()
}

impl Workload for Register {
    fn name(&self) -> WorkloadName {
        NAME
    }

    fn fs(&self) -> Vec<&'static str> {
        vec!["read", "write", "cas"]
    }

    fn plan_next(&self, cur: &mut Cursor<'_>, rng: &mut ChaCha8Rng) {
        let op = plan_op(cur.opts.locks, cur.t, rng);
        cur.push(op);
    }

    fn runner(&self, offers: &Offers) -> Option<Arc<dyn OpRunner>> {
        Some(Arc::new(Runner(client(offers)?)))
    }

    fn checkers(&self) -> Vec<&'static dyn RunChecker> {
        vec![&Linearizable]
    }
}

/// The planned op at `t_ns` (ns into the main phase): read, write or cas, equally likely,
/// on one of the `keys` keys of the current span.
pub fn plan_op(keys: usize, t_ns: u64, rng: &mut ChaCha8Rng) -> ClientOp {
    let keys = keys.max(1) as u64;
    let span = t_ns / (KEY_SPAN_MS * 1_000_000);
    let key = format!("k{}", span * keys + rng.gen_range(0..keys));
    match rng.gen_range(0..3) {
        0 => ClientOp::Read { key },
        1 => ClientOp::Write {
            key,
            value: rng.gen_range(0..VALUES),
        },
        _ => ClientOp::Cas {
            key,
            from: rng.gen_range(0..VALUES),
            to: rng.gen_range(0..VALUES),
        },
    }
}

struct Runner(Arc<dyn RegisterClient>);

impl OpRunner for Runner {
    fn session(&self) -> Box<dyn Session> {
        Box::new(Runner(self.0.clone()))
    }
}

impl Session for Runner {
    fn run<'a>(&'a mut self, call: Call<'a>) -> BoxFuture<'a, Option<Completion>> {
        Box::pin(run_op(&*self.0, call))
    }
}

/// The invoke value of a register op (`None` for an op of another workload).
pub fn invoke_value(op: &ClientOp) -> Option<Value> {
    Some(match op {
        ClientOp::Read { key } => json!({ "key": key }),
        ClientOp::Write { key, value } => json!({"key": key, "value": value}),
        ClientOp::Cas { key, from, to } => json!({"key": key, "from": from, "to": to}),
        _ => return None,
    })
}

/// Records the invoke of a register op, runs it, and returns its completion.
async fn run_op(client: &dyn RegisterClient, call: Call<'_>) -> Option<Completion> {
    let value = invoke_value(call.op)?;
    call.invoke(call.op.f(), value.clone());
    let node = call.node;
    Some(match call.op {
        ClientOp::Read { key } => {
            let r = client.read(node, key).await;
            to_completion(&r, |v| json!({"key": key, "value": v}), &value)
        }
        ClientOp::Write { key, value: v } => {
            let r = client.write(node, key, *v).await;
            to_completion(&r, |_| value.clone(), &value)
        }
        ClientOp::Cas { key, from, to } => {
            let r: Reply<bool> = client.cas(node, key, *from, *to).await;
            to_completion(
                &r,
                |s| json!({"key": key, "from": from, "to": to, "swapped": s}),
                &value,
            )
        }
        other => Completion::fail(value, format!("{} is not a register op", other.f())),
    })
}

/// The linearizability check of a register run (cas-register model, every key starting
/// absent, i.e. `null`); writes the text with counterexamples to [`TEXT_FILE`] in the run
/// directory. A history the checker cannot read is `unknown`, with the reason.
#[derive(Debug, Clone, Copy)]
pub struct Linearizable;

impl RunChecker for Linearizable {
    fn name(&self) -> &'static str {
        "linearizable"
    }

    fn check(&self, ops: &[Op], run_dir: &Path) -> ExtraResult {
        let unknown = |why: String| ExtraResult {
            valid: Verdict::Unknown,
            summary: why,
            detail: Value::Null,
        };
        let steps = checkers::linearizable::LinOptions::default().max_steps_per_key;
        let name = run_dir.join(crate::store::HISTORY).display().to_string();
        match check_history_ops(
            ops,
            &name,
            Some(ModelKind::CasRegister),
            &Value::Null,
            steps,
        ) {
            Ok(Some(fc)) => {
                if let Err(e) = std::fs::write(run_dir.join(TEXT_FILE), &fc.text) {
                    tracing::warn!("writing {TEXT_FILE}: {e}");
                }
                fc.extra
            }
            Ok(None) => unknown("no register operations to check".into()),
            Err(e) => unknown(format!("cannot check: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Proves a register plan has only read/write/cas, on `--locks` keys per span that rotate
    /// every span, with values below VALUES, and is the same for the same seed.
    #[test]
    fn register_plans_rotate_few_contended_keys() {
        let mut o = crate::plan::tests_support::opts(11);
        o.workload = NAME;
        let p = crate::plan::generate(&o);
        assert_eq!(p, crate::plan::generate(&o));
        let mut fs = BTreeSet::new();
        let mut keys_per_span: std::collections::BTreeMap<u64, BTreeSet<String>> =
            Default::default();
        for op in p.workers.iter().flat_map(|w| &w.ops) {
            fs.insert(op.op.f());
            let span = op.at_ns / (KEY_SPAN_MS * 1_000_000);
            let key = match &op.op {
                ClientOp::Read { key } => key,
                ClientOp::Write { key, value } => {
                    assert!(*value < VALUES);
                    key
                }
                ClientOp::Cas { key, from, to } => {
                    assert!(*from < VALUES && *to < VALUES);
                    key
                }
                other => panic!("not a register op: {other:?}"),
            };
            keys_per_span.entry(span).or_default().insert(key.clone());
        }
        assert_eq!(fs, ["cas", "read", "write"].into());
        let mut all = BTreeSet::new();
        for (span, keys) in &keys_per_span {
            assert!(keys.len() <= o.locks, "span {span}: {keys:?}");
            for k in keys {
                assert!(all.insert(k.clone()), "key {k} reused in span {span}");
            }
        }
        assert!(keys_per_span.len() >= 10, "{keys_per_span:?}");
    }
}
