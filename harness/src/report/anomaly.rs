//! Finding the checkers' verdicts and anomalies in results.json, and the op indexes each
//! anomaly cites as evidence.
//!
//! The report reads results.json as plain JSON rather than through `checkers::Results`, so a
//! report can be drawn for a results file written by an older or newer Gauntlet, or by a
//! checker the report has never heard of. The shape it relies on is loose: a top-level
//! `valid`; each checker an object with its own `valid`; anomalies are the objects inside
//! the checker's arrays (directly, or under an `anomalies` array whose items carry a
//! `kind`/`type`/`class`). Evidence is every integer found under a key naming an op index
//! (`index`, `indexes`, `op`, `ops`, `*_index`, `*_indexes`, `*_op`, `*_ops`).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// One checker's part of results.json.
#[derive(Debug, Clone, PartialEq)]
pub struct Checker {
    /// Its key in results.json, e.g. `tasks`.
    pub name: String,
    /// `true`, `false`, `unknown`, or `missing`.
    pub valid: String,
    /// Scalar fields (counts, reasons), shown as a small table.
    pub facts: Vec<(String, String)>,
    /// Its anomalies.
    pub anomalies: Vec<Anomaly>,
}

/// One anomaly and its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// Its class, e.g. `lost` or `split-lock`.
    pub class: String,
    /// The anomaly as the checker reported it.
    pub detail: Value,
    /// History indexes of the ops that prove it.
    pub ops: BTreeSet<u64>,
    /// Listed by the checker but not an anomaly (e.g. `recovered` tasks); drawn apart and
    /// not counted by torture or repro.
    pub informational: bool,
}

/// Lists checkers report that are notes, not anomalies (docs/results-format.md: `recovered`
/// tasks; `duplicated` ones unless the run asked for exactly-once, which then makes the
/// checker invalid and is shown as such).
const INFORMATIONAL: [&str; 2] = ["recovered", "duplicated"];

/// The verdict as text: `true`, `false`, `unknown`, or `missing`.
pub fn verdict_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "missing".to_string(),
    }
}

/// The checkers found in a results.json value. Nested `checkers`/`results` maps are searched
/// too, since composite checkers often nest their parts.
pub fn checkers(results: &Value) -> Vec<Checker> {
    let mut out = Vec::new();
    if let Some(obj) = results.as_object() {
        collect_checkers(obj, "", &mut out, 0);
    }
    out
}

fn collect_checkers(obj: &Map<String, Value>, prefix: &str, out: &mut Vec<Checker>, depth: usize) {
    for (k, v) in obj {
        let Some(inner) = v.as_object() else { continue };
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if inner.contains_key("valid") {
            out.push(checker(&name, inner));
        } else if depth < 2 && matches!(k.as_str(), "checkers" | "results" | "checks" | "extra") {
            collect_checkers(inner, prefix, out, depth + 1);
        }
    }
}

fn checker(name: &str, obj: &Map<String, Value>) -> Checker {
    let mut c = Checker {
        name: name.to_string(),
        valid: verdict_text(obj.get("valid")),
        facts: Vec::new(),
        anomalies: Vec::new(),
    };
    for (k, v) in obj {
        match v {
            Value::Array(items) if !items.is_empty() && items.iter().all(|i| !i.is_object()) => {
                let texts: Vec<String> = items.iter().map(scalar).collect();
                c.facts.push((k.clone(), texts.join("; ")));
            }
            Value::Array(items) => {
                for item in items {
                    let class = item
                        .get("kind")
                        .or_else(|| item.get("type"))
                        .or_else(|| item.get("class"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| k.clone());
                    let mut ops = BTreeSet::new();
                    op_indexes(item, false, &mut ops);
                    let informational =
                        INFORMATIONAL.contains(&class.as_str()) && c.valid != "false";
                    c.anomalies.push(Anomaly {
                        class,
                        detail: item.clone(),
                        ops,
                        informational,
                    });
                }
            }
            Value::Object(_) => {
                // Nested statistics (e.g. per-f counts): shown compactly as a fact.
                let s = v.to_string();
                if s.len() <= 300 {
                    c.facts.push((k.clone(), s));
                }
            }
            _ if k != "valid" => c.facts.push((k.clone(), scalar(v))),
            _ => {}
        }
    }
    c
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_index_key(k: &str) -> bool {
    matches!(k, "index" | "indexes" | "indices" | "op" | "ops")
        || ["_index", "_indexes", "_indices", "_op", "_ops"]
            .iter()
            .any(|s| k.ends_with(s))
}

/// Collects op indexes from `v`. `hot` means `v` sits under an index-naming key, so its
/// integers count.
fn op_indexes(v: &Value, hot: bool, out: &mut BTreeSet<u64>) {
    match v {
        Value::Number(n) if hot => {
            if let Some(i) = n.as_u64() {
                out.insert(i);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| op_indexes(i, hot, out)),
        Value::Object(m) => {
            for (k, inner) in m {
                op_indexes(inner, is_index_key(k), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_checkers_anomalies_and_their_op_indexes() {
        let r = json!({
            "valid": false,
            "tasks": {"valid": true, "acknowledged": 10, "lost": []},
            "locks": {"valid": false, "split_locks": [
                {"lock": "l0", "a": {"process": 1, "acquire_index": 3, "ok_index": 5},
                 "b": {"process": 2, "ops": [7, 9]}, "ttl_ms": 2000}
            ]},
        });
        let cs = checkers(&r);
        assert_eq!(cs.len(), 2);
        let locks = cs.iter().find(|c| c.name == "locks").unwrap();
        assert_eq!(locks.valid, "false");
        assert_eq!(locks.anomalies.len(), 1);
        assert_eq!(locks.anomalies[0].class, "split_locks");
        assert_eq!(
            locks.anomalies[0].ops,
            BTreeSet::from([3, 5, 7, 9]),
            "ttl_ms and process are not op indexes"
        );
        let tasks = cs.iter().find(|c| c.name == "tasks").unwrap();
        assert!(tasks.anomalies.is_empty());
        assert!(!locks.anomalies[0].informational);
        assert!(tasks.facts.contains(&("acknowledged".into(), "10".into())));
    }

    #[test]
    fn reasons_are_facts_and_recovered_tasks_are_notes() {
        let r = json!({"valid": "unknown", "reasons": ["no final read"], "tasks": {"valid": "unknown",
            "reasons": ["no ok read-tasks"], "lost": [],
            "recovered": [{"task": "t1", "submit": {"outcome": "info", "invoke": {"index": 3, "time": 1, "process": 0}}}]},
            "extra": {"linearizable": {"valid": true, "summary": "ok", "detail": {}}}});
        let cs = checkers(&r);
        let tasks = cs.iter().find(|c| c.name == "tasks").unwrap();
        assert!(tasks
            .facts
            .contains(&("reasons".into(), "no ok read-tasks".into())));
        assert_eq!(tasks.anomalies.len(), 1);
        assert!(tasks.anomalies[0].informational);
        assert_eq!(tasks.anomalies[0].ops, BTreeSet::from([3]));
        assert!(
            cs.iter().any(|c| c.name == "linearizable"),
            "extra checkers are found"
        );
    }

    #[test]
    fn anomaly_class_comes_from_kind_and_nested_checkers_are_found() {
        let r = json!({"valid": "unknown", "checkers": {"tasks": {"valid": "unknown",
            "anomalies": [{"kind": "lost", "task": "t1", "submit": {"index": 4}}]}}});
        let cs = checkers(&r);
        assert_eq!(cs[0].valid, "unknown");
        assert_eq!(cs[0].anomalies[0].class, "lost");
        assert_eq!(cs[0].anomalies[0].ops, BTreeSet::from([4]));
    }
}
