//! Knossos's `multi-register`: one object holding several named registers, updated by
//! transactions (`f` = `txn`, value `[["read", k, v], ["write", k, v], ...]`). A transaction
//! spans keys, so the whole history is one object (no per-key split). Every register starts
//! at the model's initial value.

use serde_json::Value;

use super::super::model::{Call, Model, Outcome, Parsed};
use super::super::values::Values;

/// One step of a transaction; `value` is `None` for a read whose result is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Micro {
    /// True for a read, false for a write.
    pub read: bool,
    /// Interned register name.
    pub key: u32,
    /// Interned value read or written.
    pub value: Option<u32>,
}

/// The multi-register model.
#[derive(Debug, Clone)]
pub struct MultiRegister {
    init: u32,
}

impl MultiRegister {
    /// Every register starts at `init`.
    pub fn new(init: &Value, values: &mut Values) -> Self {
        MultiRegister {
            init: values.intern(init),
        }
    }

    fn get(&self, s: &[(u32, u32)], key: u32) -> u32 {
        s.iter()
            .find(|(k, _)| *k == key)
            .map_or(self.init, |(_, v)| *v)
    }
}

fn parse_micro(m: &Value, info: bool, values: &mut Values) -> Result<Micro, String> {
    let parts = m
        .as_array()
        .filter(|a| a.len() == 3)
        .ok_or_else(|| format!("a txn step must be [f, key, value], not {m}"))?;
    let read = match parts[0].as_str() {
        Some("read" | "r") => true,
        Some("write" | "w") => false,
        _ => {
            return Err(format!(
                "a txn step's f must be read or write, not {}",
                parts[0]
            ))
        }
    };
    let value = if read && (info || parts[2].is_null()) {
        None
    } else {
        Some(values.intern(&parts[2]))
    };
    Ok(Micro {
        read,
        key: values.intern(&parts[1]),
        value,
    })
}

impl Model for MultiRegister {
    /// Written registers as (key, value), sorted by key.
    type State = Vec<(u32, u32)>;
    type Op = Vec<Micro>;

    fn name(&self) -> &'static str {
        "multi-register"
    }

    fn init(&self) -> Self::State {
        Vec::new()
    }

    fn parse(
        &self,
        call: &Call<'_>,
        values: &mut Values,
    ) -> Result<Option<Parsed<Vec<Micro>>>, String> {
        if call.f != "txn" {
            return Err(format!(
                "f {:?} is not an operation of the multi-register model (txn)",
                call.f
            ));
        }
        let (v, info) = match call.outcome {
            Outcome::Ok(v) if v.is_array() => (v, false),
            Outcome::Ok(_) => (call.invoke, false),
            Outcome::Info => (call.invoke, true),
        };
        let steps = v
            .as_array()
            .ok_or_else(|| format!("a txn value must be a list of steps, not {v}"))?;
        let op = steps
            .iter()
            .map(|m| parse_micro(m, info, values))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Parsed {
            key: String::new(),
            op,
        }))
    }

    fn step(&self, s: &Self::State, op: &Vec<Micro>) -> Option<Self::State> {
        let mut next = s.clone();
        for m in op {
            if m.read {
                if m.value.is_some_and(|v| v != self.get(&next, m.key)) {
                    return None;
                }
            } else if let Some(v) = m.value {
                match next.binary_search_by_key(&m.key, |(k, _)| *k) {
                    Ok(i) => next[i].1 = v,
                    Err(i) => next.insert(i, (m.key, v)),
                }
            }
        }
        Some(next)
    }

    fn show_op(&self, op: &Vec<Micro>, values: &Values) -> String {
        let steps: Vec<String> = op
            .iter()
            .map(|m| {
                let v = m.value.map_or("?", |v| values.show(v));
                format!(
                    "{} {} {}",
                    if m.read { "r" } else { "w" },
                    values.show(m.key),
                    v
                )
            })
            .collect();
        format!("txn [{}]", steps.join(", "))
    }

    fn show_state(&self, s: &Self::State, values: &Values) -> String {
        let regs: Vec<String> = s
            .iter()
            .map(|(k, v)| format!("{}={}", values.show(*k), values.show(*v)))
            .collect();
        format!(
            "{{{}}} (others {})",
            regs.join(", "),
            values.show(self.init)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_see_the_last_write_or_the_initial_value() {
        let mut vals = Values::new();
        let m = MultiRegister::new(&json!(0), &mut vals);
        let inv = json!([["write", "x", 2], ["read", "y", null]]);
        let ok = json!([["write", "x", 2], ["read", "y", 0]]);
        let call = Call {
            f: "txn",
            invoke: &inv,
            outcome: Outcome::Ok(&ok),
        };
        let op = m.parse(&call, &mut vals).unwrap().unwrap().op;
        let s = m.step(&m.init(), &op).expect("y is still 0");
        let ok2 = json!([["read", "x", 0]]);
        let call2 = Call {
            f: "txn",
            invoke: &inv,
            outcome: Outcome::Ok(&ok2),
        };
        let stale = m.parse(&call2, &mut vals).unwrap().unwrap().op;
        assert_eq!(m.step(&s, &stale), None, "x was overwritten with 2");
        assert!(m.step(&m.init(), &stale).is_some());
    }
}
