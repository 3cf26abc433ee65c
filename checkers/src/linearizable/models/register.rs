//! Read/write register and compare-and-set register.
//!
//! JSONL ops (docs/history-format.md): `read` invoke `{"key": K}`, ok `{"key": K, "value": V}`;
//! `write` `{"key": K, "value": V}`; `cas` `{"key": K, "from": A, "to": B}` whose ok value may
//! add `"swapped": false` (the comparison failed when it took effect; absent means true, as in
//! Jepsen where a failed comparison is a `fail`). A read whose ok value has no `"value"` field
//! reported nothing and is dropped (`"value": null` is a read of an absent key). Jepsen-style bare values are accepted too: a
//! read's ok value `V`, a write's `V`, a cas's `[A, B]`, all on the single key `""`.

use serde_json::Value;

use super::super::model::{Call, Model, Outcome, Parsed};
use super::super::values::Values;

/// State standing for "any value" (see [`Model::any_state`]).
const ANY: u32 = u32::MAX;

/// One register op with its observed result; values are interned ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegOp {
    /// A read that returned this value.
    Read(u32),
    /// A write of this value.
    Write(u32),
    /// A compare-and-set; `swapped` is `None` when the outcome is unknown (`info`).
    Cas {
        /// Expected value.
        from: u32,
        /// New value.
        to: u32,
        /// Whether the comparison succeeded.
        swapped: Option<bool>,
    },
}

/// A register holding one value per key; with `cas` enabled, a CAS register.
#[derive(Debug, Clone)]
pub struct Register {
    init: u32,
    cas: bool,
}

impl Register {
    /// A read/write register (no `cas`) whose keys start at `init`.
    pub fn plain(init: &Value, values: &mut Values) -> Self {
        Register {
            init: values.intern(init),
            cas: false,
        }
    }

    /// A compare-and-set register whose keys start at `init`.
    pub fn cas(init: &Value, values: &mut Values) -> Self {
        Register {
            init: values.intern(init),
            cas: true,
        }
    }
}

/// The op's key: the invoke's `key`, else the completion's, else `""`.
fn key(call: &Call<'_>) -> String {
    let from_obj = |v: &Value| {
        v.as_object()
            .and_then(|o| o.get("key"))
            .map(Value::to_string)
    };
    from_obj(call.invoke)
        .or_else(|| match call.outcome {
            Outcome::Ok(v) => from_obj(v),
            Outcome::Info => None,
        })
        .unwrap_or_default()
}

/// `field` of an object value, or the bare value itself when it is not an object.
fn field<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
    match v {
        Value::Object(o) => o.get(name),
        other => Some(other),
    }
}

fn parse_cas(call: &Call<'_>, values: &mut Values) -> Result<RegOp, String> {
    let (from, to) = match call.invoke {
        Value::Object(o) => match (o.get("from"), o.get("to")) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err("a cas invoke value needs \"from\" and \"to\"".into()),
        },
        Value::Array(a) if a.len() == 2 => (&a[0], &a[1]),
        other => {
            return Err(format!(
                "a cas value must be {{\"from\", \"to\"}} or [from, to], not {other}"
            ))
        }
    };
    let swapped = match call.outcome {
        Outcome::Info => None,
        Outcome::Ok(v) => match v.get("swapped") {
            None => Some(true),
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => return Err(format!("\"swapped\" must be true or false, not {other}")),
        },
    };
    Ok(RegOp::Cas {
        from: values.intern(from),
        to: values.intern(to),
        swapped,
    })
}

impl Model for Register {
    type State = u32;
    type Op = RegOp;

    fn name(&self) -> &'static str {
        if self.cas {
            "cas-register"
        } else {
            "register"
        }
    }

    fn init(&self) -> u32 {
        self.init
    }

    fn any_state(&self) -> Option<u32> {
        Some(ANY)
    }

    fn parse(&self, call: &Call<'_>, values: &mut Values) -> Result<Option<Parsed<RegOp>>, String> {
        let op = match call.f {
            "read" => match call.outcome {
                // An unknown read cannot change the state nor contradict it: drop it.
                Outcome::Info => return Ok(None),
                // No "value" at all: the read's result was not reported (a Knossos nil read,
                // consistent with any state); drop it like an unknown read.
                Outcome::Ok(v) => match field(v, "value") {
                    Some(x) => RegOp::Read(values.intern(x)),
                    None => return Ok(None),
                },
            },
            "write" => match field(call.invoke, "value") {
                Some(v) => RegOp::Write(values.intern(v)),
                None => return Err("a write invoke value needs \"value\"".into()),
            },
            "cas" if self.cas => parse_cas(call, values)?,
            "cas" => {
                return Err(
                    "cas is not an operation of the register model (use --model cas-register)"
                        .into(),
                )
            }
            other => {
                return Err(format!(
                    "f {other:?} is not an operation of the {} model ({})",
                    self.name(),
                    if self.cas {
                        "read, write, cas"
                    } else {
                        "read, write"
                    }
                ))
            }
        };
        Ok(Some(Parsed { key: key(call), op }))
    }

    fn step(&self, s: &u32, op: &RegOp) -> Option<u32> {
        let s = *s;
        match *op {
            RegOp::Read(v) => (s == ANY || s == v).then_some(v),
            RegOp::Write(v) => Some(v),
            RegOp::Cas { from, to, swapped } => match swapped {
                Some(true) => (s == ANY || s == from).then_some(to),
                Some(false) => (s == ANY || s != from).then_some(s),
                None if s == from => Some(to),
                None => Some(s),
            },
        }
    }

    fn needs(&self, op: &RegOp) -> Option<u32> {
        match *op {
            RegOp::Read(v) => Some(v),
            RegOp::Cas {
                from,
                swapped: Some(true),
                ..
            } => Some(from),
            _ => None,
        }
    }

    fn produces(&self, op: &RegOp) -> Option<u32> {
        match *op {
            RegOp::Write(v) => Some(v),
            RegOp::Cas {
                to,
                swapped: Some(true) | None,
                ..
            } => Some(to),
            // A read changes the value only from the any-state, where the pruning is off.
            _ => None,
        }
    }

    fn holds(&self, s: &u32) -> Option<u32> {
        (*s != ANY).then_some(*s)
    }

    fn op_id(&self, op: &RegOp) -> Option<u128> {
        let pair = |tag: u128, a: u32, b: u32| tag << 64 | u128::from(a) << 32 | u128::from(b);
        Some(match *op {
            RegOp::Read(v) => pair(1, v, 0),
            RegOp::Write(v) => pair(2, v, 0),
            RegOp::Cas { from, to, swapped } => {
                let tag = match swapped {
                    None => 3,
                    Some(false) => 4,
                    Some(true) => 5,
                };
                pair(tag, from, to)
            }
        })
    }

    fn show_op(&self, op: &RegOp, values: &Values) -> String {
        match *op {
            RegOp::Read(v) => format!("read {}", values.show(v)),
            RegOp::Write(v) => format!("write {}", values.show(v)),
            RegOp::Cas { from, to, swapped } => {
                let how = match swapped {
                    Some(true) => "swapped",
                    Some(false) => "not swapped",
                    None => "outcome unknown",
                };
                format!("cas {}->{} {how}", values.show(from), values.show(to))
            }
        }
    }

    fn show_state(&self, s: &u32, values: &Values) -> String {
        if *s == ANY {
            "any value".to_string()
        } else {
            values.show(*s).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(m: &Register, vals: &mut Values, f: &str, inv: Value, out: Option<Value>) -> RegOp {
        let outcome = match &out {
            Some(v) => Outcome::Ok(v),
            None => Outcome::Info,
        };
        let call = Call {
            f,
            invoke: &inv,
            outcome,
        };
        m.parse(&call, vals).expect("parses").expect("kept").op
    }

    #[test]
    fn cas_register_steps_follow_the_sequential_spec() {
        let mut vals = Values::new();
        let m = Register::cas(&json!(0), &mut vals);
        let s0 = m.init();
        let w1 = parse(
            &m,
            &mut vals,
            "write",
            json!({"key": "a", "value": 1}),
            Some(json!({})),
        );
        let s1 = m.step(&s0, &w1).unwrap();
        let r1 = parse(
            &m,
            &mut vals,
            "read",
            json!({"key": "a"}),
            Some(json!({"key": "a", "value": 1})),
        );
        let r0 = parse(
            &m,
            &mut vals,
            "read",
            json!({"key": "a"}),
            Some(json!({"key": "a", "value": 0})),
        );
        assert_eq!(
            m.step(&s1, &r1),
            Some(s1),
            "reading the current value is legal"
        );
        assert_eq!(
            m.step(&s1, &r0),
            None,
            "reading an overwritten value is not"
        );
        let cas_ok = parse(
            &m,
            &mut vals,
            "cas",
            json!({"from": 1, "to": 2}),
            Some(json!({"swapped": true})),
        );
        let cas_no = parse(
            &m,
            &mut vals,
            "cas",
            json!({"from": 1, "to": 2}),
            Some(json!({"swapped": false})),
        );
        let s2 = m.step(&s1, &cas_ok).unwrap();
        assert_eq!(m.show_state(&s2, &vals), "2");
        assert_eq!(
            m.step(&s0, &cas_ok),
            None,
            "a swap needs the expected value"
        );
        assert_eq!(
            m.step(&s1, &cas_no),
            None,
            "a failed comparison cannot see the expected value"
        );
        assert_eq!(m.step(&s0, &cas_no), Some(s0));
        let cas_info = parse(&m, &mut vals, "cas", json!([1, 2]), None);
        assert_eq!(m.step(&s1, &cas_info), Some(s2));
        assert_eq!(m.step(&s0, &cas_info), Some(s0));
    }

    #[test]
    fn any_state_accepts_every_op_and_info_reads_are_dropped() {
        let mut vals = Values::new();
        let m = Register::cas(&Value::Null, &mut vals);
        let any = m.any_state().unwrap();
        let r = parse(&m, &mut vals, "read", json!(null), Some(json!(7)));
        assert_eq!(m.show_state(&m.step(&any, &r).unwrap(), &vals), "7");
        let inv = json!({"key": 1});
        let call = Call {
            f: "read",
            invoke: &inv,
            outcome: Outcome::Info,
        };
        assert_eq!(m.parse(&call, &mut vals), Ok(None));
    }

    #[test]
    fn plain_register_rejects_cas_and_unknown_functions() {
        let mut vals = Values::new();
        let m = Register::plain(&json!(0), &mut vals);
        let inv = json!([0, 1]);
        let ok = json!(null);
        let cas = Call {
            f: "cas",
            invoke: &inv,
            outcome: Outcome::Ok(&ok),
        };
        assert!(m
            .parse(&cas, &mut vals)
            .unwrap_err()
            .contains("cas-register"));
        let acq = Call {
            f: "acquire",
            invoke: &inv,
            outcome: Outcome::Ok(&ok),
        };
        assert!(m
            .parse(&acq, &mut vals)
            .unwrap_err()
            .contains("\"acquire\""));
    }

    #[test]
    fn keys_come_from_the_invoke_value() {
        let mut vals = Values::new();
        let m = Register::cas(&json!(0), &mut vals);
        let inv = json!({"key": "k1"});
        let out = json!({"key": "k1", "value": 3});
        let call = Call {
            f: "read",
            invoke: &inv,
            outcome: Outcome::Ok(&out),
        };
        assert_eq!(m.parse(&call, &mut vals).unwrap().unwrap().key, "\"k1\"");
    }
}
