//! The operation model: one line of a history, as DESIGN.md's contract and Jepsen define it.
//!
//! [`Op`] is the owned form (what a writer appends and what `check_ops` takes); [`OpRef`] is a
//! view borrowed from the reader's line buffer, so a checker streaming a large history does not
//! allocate a `serde_json::Value` per operation. Both carry the same fields.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// Who performed an operation: a client process number, or the nemesis (fault events).
///
/// JSON: a non-negative integer for a client, the string `"nemesis"` for the nemesis.
/// As in Jepsen, a client whose operation ended in `info` is never used again: the worker goes
/// on as a new process number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    /// A client process.
    Client(u64),
    /// The fault injector.
    Nemesis,
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(n) => write!(f, "{n}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

impl Serialize for Process {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(n) => s.serialize_u64(*n),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ProcessVisitor)
    }
}

struct ProcessVisitor;

impl Visitor<'_> for ProcessVisitor {
    type Value = Process;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative integer or \"nemesis\"")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Process, E> {
        Ok(Process::Client(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Process, E> {
        u64::try_from(v)
            .map(Process::Client)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Process, E> {
        if v == "nemesis" {
            Ok(Process::Nemesis)
        } else {
            Err(E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
}

/// The type of an operation: an `invoke`, then exactly one completion.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The client is about to perform the operation.
    Invoke,
    /// It happened.
    Ok,
    /// It certainly did not happen.
    Fail,
    /// Unknown: it may have happened, now or later. Nemesis events are `info`.
    Info,
}

impl OpType {
    /// The JSON spelling (`"invoke"`, `"ok"`, `"fail"`, `"info"`).
    pub fn as_str(self) -> &'static str {
        match self {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        }
    }

    /// Parses the JSON spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<OpType> {
        match s {
            "invoke" => Some(OpType::Invoke),
            "ok" => Some(OpType::Ok),
            "fail" => Some(OpType::Fail),
            "info" => Some(OpType::Info),
            _ => None,
        }
    }

    /// True for `ok`, `fail` and `info`.
    pub fn is_completion(self) -> bool {
        self != OpType::Invoke
    }
}

impl fmt::Display for OpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One operation of a history (one JSONL line), owned.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Op {
    /// Position in the history: 0, 1, 2, … in file order.
    pub index: u64,
    /// Nanoseconds since the test started; non-decreasing along the history.
    pub time: u64,
    /// Who performed it.
    pub process: Process,
    /// `invoke`, `ok`, `fail` or `info`.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// The function: `submit`, `read-tasks`, `acquire`, `release`, or a nemesis event name.
    pub f: String,
    /// The argument or result; `Null` when absent.
    #[serde(default)]
    pub value: Value,
    /// Which node served the operation, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node: Option<String>,
    /// Why it failed or is unknown, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl Op {
    /// A borrowed view of this op, the form the checkers consume.
    pub fn as_ref(&self) -> OpRef<'_> {
        OpRef {
            index: self.index,
            time: self.time,
            process: self.process,
            kind: self.kind,
            f: Cow::Borrowed(&self.f),
            value: if self.value.is_null() {
                ValueRef::Null
            } else {
                ValueRef::Json(&self.value)
            },
            node: self.node.as_deref().map(Cow::Borrowed),
            error: self.error.as_deref().map(Cow::Borrowed),
        }
    }
}

/// An operation borrowed from a line buffer (or from an [`Op`]): the zero-copy form.
#[derive(Debug, Clone, PartialEq)]
pub struct OpRef<'a> {
    /// See [`Op::index`].
    pub index: u64,
    /// See [`Op::time`].
    pub time: u64,
    /// See [`Op::process`].
    pub process: Process,
    /// See [`Op::kind`].
    pub kind: OpType,
    /// See [`Op::f`].
    pub f: Cow<'a, str>,
    /// See [`Op::value`]; undecoded JSON when it comes from the reader.
    pub value: ValueRef<'a>,
    /// See [`Op::node`].
    pub node: Option<Cow<'a, str>>,
    /// See [`Op::error`].
    pub error: Option<Cow<'a, str>>,
}

impl OpRef<'_> {
    /// What the sequence rules ([`crate::Validator`]) look at.
    pub fn head(&self) -> crate::OpHead<'_> {
        crate::OpHead {
            index: self.index,
            time: self.time,
            process: self.process,
            kind: self.kind,
            f: &self.f,
        }
    }

    /// The owned form (parses the value if it is still raw JSON).
    pub fn to_op(&self) -> Op {
        Op {
            index: self.index,
            time: self.time,
            process: self.process,
            kind: self.kind,
            f: self.f.clone().into_owned(),
            value: self.value.to_value(),
            node: self.node.as_ref().map(|s| s.to_string()),
            error: self.error.as_ref().map(|s| s.to_string()),
        }
    }
}

/// An op's value without committing to a representation: absent/null, raw JSON text from the
/// reader (decoded only by the checker that needs it), or an already-parsed [`Value`].
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    /// Absent or `null`.
    Null,
    /// Raw JSON text, not yet parsed.
    Raw(&'a RawValue),
    /// JSON text already validated by the reader (its fast path), not yet parsed.
    Text(&'a str),
    /// A parsed value.
    Json(&'a Value),
}

impl PartialEq for ValueRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.to_value() == other.to_value()
    }
}

impl<'a> ValueRef<'a> {
    /// Decodes the value into `T`, borrowing strings from the source where it can.
    pub fn decode<T: Deserialize<'a>>(&self) -> serde_json::Result<T> {
        match *self {
            ValueRef::Null => T::deserialize(Value::Null),
            ValueRef::Raw(raw) => serde_json::from_str(raw.get()),
            ValueRef::Text(text) => serde_json::from_str(text),
            ValueRef::Json(v) => T::deserialize(v),
        }
    }

    /// True when the value is absent or `null`.
    pub fn is_null(&self) -> bool {
        match self {
            ValueRef::Null => true,
            ValueRef::Raw(raw) => raw.get().trim() == "null",
            ValueRef::Text(text) => text.trim() == "null",
            ValueRef::Json(v) => v.is_null(),
        }
    }

    /// The JSON text of a value that is still unparsed (`Raw` or `Text`), else `None`.
    pub fn text(&self) -> Option<&'a str> {
        match *self {
            ValueRef::Raw(raw) => Some(raw.get()),
            ValueRef::Text(text) => Some(text),
            ValueRef::Null | ValueRef::Json(_) => None,
        }
    }

    /// The value as an owned [`Value`]. Raw text was validated as JSON when read, so parsing
    /// it again cannot fail; if it somehow did, the result is `Null`.
    pub fn to_value(&self) -> Value {
        match *self {
            ValueRef::Null => Value::Null,
            ValueRef::Raw(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
            ValueRef::Text(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            ValueRef::Json(v) => v.clone(),
        }
    }

    /// The value as compact JSON text (copies raw text as it is).
    pub fn to_json_string(&self) -> String {
        match *self {
            ValueRef::Null => "null".to_string(),
            ValueRef::Raw(raw) => raw.get().to_string(),
            ValueRef::Text(text) => text.to_string(),
            ValueRef::Json(v) => v.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn process_json_forms_round_trip() {
        // Proves the two JSON spellings of a process map onto the two variants and back.
        assert_eq!(serde_json::to_string(&Process::Client(7)).unwrap(), "7");
        assert_eq!(
            serde_json::to_string(&Process::Nemesis).unwrap(),
            "\"nemesis\""
        );
        let p: Process = serde_json::from_str("7").unwrap();
        assert_eq!(p, Process::Client(7));
        let p: Process = serde_json::from_str("\"nemesis\"").unwrap();
        assert_eq!(p, Process::Nemesis);
    }

    #[test]
    fn process_rejects_negative_and_other_strings() {
        // Proves bad process values are errors naming what is expected.
        let e = serde_json::from_str::<Process>("-1").unwrap_err();
        assert!(e.to_string().contains("non-negative integer"), "{e}");
        assert!(serde_json::from_str::<Process>("\"client\"").is_err());
        assert!(serde_json::from_str::<Process>("1.5").is_err());
    }

    #[test]
    fn op_serializes_as_the_contract_says() {
        // Proves field names, `type` spelling and omission of absent optional fields.
        let op = Op {
            index: 1,
            time: 5400,
            process: Process::Client(0),
            kind: OpType::Ok,
            f: "submit".into(),
            value: json!({"task": "t0-1"}),
            node: Some("n2".into()),
            error: None,
        };
        let s = serde_json::to_string(&op).unwrap();
        assert_eq!(
            s,
            r#"{"index":1,"time":5400,"process":0,"type":"ok","f":"submit","value":{"task":"t0-1"},"node":"n2"}"#
        );
        let back: Op = serde_json::from_str(&s).unwrap();
        assert_eq!(back, op);
        assert_eq!(back.as_ref().to_op(), op);
    }

    #[test]
    fn value_ref_decodes_from_every_form() {
        // Proves the three representations decode to the same typed value.
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct T<'a> {
            task: &'a str,
        }
        let v = json!({"task": "t1"});
        let raw = RawValue::from_string(v.to_string()).unwrap();
        let a: T<'_> = ValueRef::Json(&v).decode().unwrap();
        let b: T<'_> = ValueRef::Raw(&raw).decode().unwrap();
        assert_eq!(a, b);
        assert!(ValueRef::Null.decode::<T<'_>>().is_err());
        assert!(ValueRef::Null.is_null());
        assert_eq!(ValueRef::Raw(&raw).to_value(), v);
    }
}
