//! [`Verdict`]: Jepsen's `:valid?` — `true`, `false` or `"unknown"` in JSON.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The outcome of a checker. A failed check is not an error: it is `Invalid` with evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// No anomaly, and enough was observed to say so. JSON `true`.
    Valid,
    /// An anomaly was found. JSON `false`.
    Invalid,
    /// The checker could not decide (no final read, malformed values, …). JSON `"unknown"`.
    Unknown,
}

impl Verdict {
    /// Merges two verdicts as Jepsen's `merge-valid` does: false beats unknown beats true.
    pub fn and(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::Invalid, _) | (_, Verdict::Invalid) => Verdict::Invalid,
            (Verdict::Unknown, _) | (_, Verdict::Unknown) => Verdict::Unknown,
            _ => Verdict::Valid,
        }
    }

    /// Merges many verdicts; the merge of none is `Valid`.
    pub fn merge(all: impl IntoIterator<Item = Verdict>) -> Verdict {
        all.into_iter().fold(Verdict::Valid, Verdict::and)
    }

    /// A short word for summaries: `valid`, `INVALID`, `unknown`.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "INVALID",
            Verdict::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Verdict::Valid => s.serialize_bool(true),
            Verdict::Invalid => s.serialize_bool(false),
            Verdict::Unknown => s.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Verdict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(VerdictVisitor)
    }
}

struct VerdictVisitor;

impl Visitor<'_> for VerdictVisitor {
    type Value = Verdict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("true, false or \"unknown\"")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Verdict, E> {
        Ok(if v { Verdict::Valid } else { Verdict::Invalid })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Verdict, E> {
        if v == "unknown" {
            Ok(Verdict::Unknown)
        } else {
            Err(E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms() {
        // Proves the Jepsen `:valid?` encoding in both directions.
        for (v, s) in [
            (Verdict::Valid, "true"),
            (Verdict::Invalid, "false"),
            (Verdict::Unknown, "\"unknown\""),
        ] {
            assert_eq!(serde_json::to_string(&v).unwrap(), s);
            assert_eq!(serde_json::from_str::<Verdict>(s).unwrap(), v);
        }
        assert!(serde_json::from_str::<Verdict>("\"maybe\"").is_err());
    }

    #[test]
    fn merge_order() {
        // Proves false beats unknown beats true, and the empty merge is valid.
        use Verdict::*;
        assert_eq!(Verdict::merge([]), Valid);
        assert_eq!(Verdict::merge([Valid, Unknown]), Unknown);
        assert_eq!(Verdict::merge([Unknown, Invalid, Valid]), Invalid);
        assert_eq!(Valid.and(Valid), Valid);
    }
}
