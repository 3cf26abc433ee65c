//! A mutex (Knossos's `mutex` model): `acquire` succeeds only when free, `release` only when
//! held. The holder is not tracked, as in Knossos. Ops may name the lock with a `key` (or
//! `lock`) field in the invoke value; without one they all act on the single lock `""`.

use serde_json::Value;

use super::super::model::{Call, Model, Parsed};
use super::super::values::Values;

/// The state of one lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockState {
    /// Nobody holds it.
    Free,
    /// Someone holds it.
    Held,
    /// Unknown (the start of a window cut out of the history).
    Any,
}

/// A mutex op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MutexOp {
    /// Took the lock.
    Acquire,
    /// Gave it back.
    Release,
}

/// The mutex model; every lock starts free.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mutex;

fn key(v: &Value) -> String {
    v.as_object()
        .and_then(|o| o.get("key").or_else(|| o.get("lock")))
        .map(Value::to_string)
        .unwrap_or_default()
}

impl Model for Mutex {
    type State = LockState;
    type Op = MutexOp;

    fn name(&self) -> &'static str {
        "mutex"
    }

    fn init(&self) -> LockState {
        LockState::Free
    }

    fn any_state(&self) -> Option<LockState> {
        Some(LockState::Any)
    }

    fn parse(
        &self,
        call: &Call<'_>,
        _values: &mut Values,
    ) -> Result<Option<Parsed<MutexOp>>, String> {
        let op = match call.f {
            "acquire" => MutexOp::Acquire,
            "release" => MutexOp::Release,
            other => {
                return Err(format!(
                    "f {other:?} is not an operation of the mutex model (acquire, release)"
                ))
            }
        };
        Ok(Some(Parsed {
            key: key(call.invoke),
            op,
        }))
    }

    fn op_id(&self, op: &MutexOp) -> Option<u128> {
        Some(match op {
            MutexOp::Acquire => 1,
            MutexOp::Release => 2,
        })
    }

    fn step(&self, s: &LockState, op: &MutexOp) -> Option<LockState> {
        match (op, s) {
            (MutexOp::Acquire, LockState::Free | LockState::Any) => Some(LockState::Held),
            (MutexOp::Release, LockState::Held | LockState::Any) => Some(LockState::Free),
            _ => None,
        }
    }

    fn show_op(&self, op: &MutexOp, _values: &Values) -> String {
        match op {
            MutexOp::Acquire => "acquire".into(),
            MutexOp::Release => "release".into(),
        }
    }

    fn show_state(&self, s: &LockState, _values: &Values) -> String {
        match s {
            LockState::Free => "free",
            LockState::Held => "held",
            LockState::Any => "free or held",
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn acquire_needs_free_and_release_needs_held() {
        let m = Mutex;
        let held = m.step(&m.init(), &MutexOp::Acquire).unwrap();
        assert_eq!(held, LockState::Held);
        assert_eq!(
            m.step(&held, &MutexOp::Acquire),
            None,
            "double acquire is illegal"
        );
        assert_eq!(m.step(&held, &MutexOp::Release), Some(LockState::Free));
        assert_eq!(
            m.step(&LockState::Free, &MutexOp::Release),
            None,
            "release of a free lock is illegal"
        );
        assert!(m.step(&LockState::Any, &MutexOp::Release).is_some());
    }

    #[test]
    fn parses_lock_names_and_rejects_other_functions() {
        let mut vals = Values::new();
        let inv = json!({"lock": "l1"});
        let call = Call {
            f: "acquire",
            invoke: &inv,
            outcome: super::super::super::model::Outcome::Info,
        };
        assert_eq!(
            Mutex.parse(&call, &mut vals).unwrap().unwrap().key,
            "\"l1\""
        );
        let bad = Call { f: "read", ..call };
        assert!(Mutex.parse(&bad, &mut vals).unwrap_err().contains("mutex"));
    }
}
