//! The linearizability checker as `gauntlet check` uses it: on a history file, as one of the
//! composed results ([`crate::ExtraResult`] named `linearizable`).

use std::path::Path;

use histories::{HistoryReader, Op};
use serde_json::Value;

use super::{check_ops, render_text, suggest_model, LinError, LinOptions, LinResults, ModelKind};
use crate::{ExtraResult, Verdict};

/// The linearizability result of one history file.
#[derive(Debug, Clone)]
pub struct FileCheck {
    /// To attach with `Results::add_extra("linearizable", ...)`.
    pub extra: ExtraResult,
    /// The human text, counterexamples included ([`render_text`]).
    pub text: String,
}

/// Checks the history at `path` against `model`, or when `model` is `None` against the model
/// its ops suggest ([`suggest_model`]); `Ok(None)` when no model fits (the checker does not
/// apply). `init` is every register's initial value. Errors name the file (and the line or
/// op index) and are the user's: a malformed history or ops outside the model.
pub fn check_history_file(
    path: &Path,
    model: Option<ModelKind>,
    init: &Value,
) -> Result<Option<FileCheck>, String> {
    check_history_file_with(path, model, init, LinOptions::default().max_steps_per_key)
}

/// [`check_history_file`] with a step budget per key (past it, the key is `unknown` and the
/// result says how far its search got).
pub fn check_history_file_with(
    path: &Path,
    model: Option<ModelKind>,
    init: &Value,
    max_steps_per_key: u64,
) -> Result<Option<FileCheck>, String> {
    let reader = HistoryReader::open(path).map_err(|e| e.to_string())?;
    let ops: Vec<Op> = reader
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    check_history_ops(
        &ops,
        &path.display().to_string(),
        model,
        init,
        max_steps_per_key,
    )
}

/// [`check_history_file_with`] on a history already read (`ops`, in file order, one a
/// line); `name` names it in errors (`name:LINE: ...`).
pub fn check_history_ops(
    ops: &[Op],
    name: &str,
    model: Option<ModelKind>,
    init: &Value,
    max_steps_per_key: u64,
) -> Result<Option<FileCheck>, String> {
    let Some(model) = model.or_else(|| suggest_model(ops)) else {
        return Ok(None);
    };
    let opts = LinOptions {
        model,
        init: init.clone(),
        max_steps_per_key,
        ..LinOptions::default()
    };
    let results = check_ops(ops, &opts).map_err(|e| {
        let line = match &e {
            // Op n is on line n + 1: the reader rejects blank lines, so every line is an op.
            LinError::BadOp { index, .. } => ops
                .iter()
                .position(|o| o.index == *index)
                .map_or(String::new(), |i| format!(":{}", i + 1)),
            LinError::TooLarge(_) => String::new(),
        };
        format!(
            "{name}{line}: {e} (checking against the {} model)",
            model.name()
        )
    })?;
    Ok(Some(FileCheck {
        extra: to_extra(&results),
        text: render_text(&results),
    }))
}

/// The composed-results form: the verdict, one summary line, the full results as JSON.
pub fn to_extra(r: &LinResults) -> ExtraResult {
    let bad = r
        .failures
        .iter()
        .filter(|(_, k)| k.valid == Verdict::Invalid)
        .count();
    let undecided = r.failures.len() - bad;
    let summary = match r.valid {
        Verdict::Valid => format!(
            "{} ops over {} key(s) linearizable ({})",
            r.ops, r.keys, r.model
        ),
        Verdict::Invalid => {
            let first = r.failures.iter().find_map(|(key, k)| {
                let stuck = k.counterexample.as_ref()?.stuck.as_ref()?;
                let key = if key.is_empty() {
                    String::new()
                } else {
                    format!("key {key}: ")
                };
                Some(format!(
                    "; first: {key}cannot linearize op {} (p{} {})",
                    stuck.index, stuck.process, stuck.op
                ))
            });
            format!(
                "{bad} of {} key(s) not linearizable ({}){}",
                r.keys,
                r.model,
                first.unwrap_or_default()
            )
        }
        Verdict::Unknown => {
            let first = r.failures.iter().find_map(|(key, k)| {
                let reason = k.reason.as_ref()?;
                let key = if key.is_empty() {
                    "the register".to_string()
                } else {
                    format!("key {key}")
                };
                Some(format!("; {key}: {reason}"))
            });
            format!(
                "{undecided} of {} key(s) undecided ({}){}",
                r.keys,
                r.model,
                first.unwrap_or_default()
            )
        }
    };
    ExtraResult {
        valid: r.valid,
        summary,
        detail: serde_json::to_value(r).unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_register_history_file_is_checked_with_the_suggested_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let mut f = std::fs::File::create(&path).unwrap();
        for (i, (p, t, f_, v)) in [
            (1, "invoke", "write", r#"{"key":"k","value":1}"#),
            (1, "ok", "write", r#"{"key":"k","value":1}"#),
            (2, "invoke", "read", r#"{"key":"k"}"#),
            (2, "ok", "read", r#"{"key":"k","value":0}"#),
        ]
        .iter()
        .enumerate()
        {
            writeln!(
                f,
                r#"{{"index":{i},"time":{i},"process":{p},"type":"{t}","f":"{f_}","value":{v}}}"#
            )
            .unwrap();
        }
        drop(f);
        let fc = check_history_file(&path, None, &serde_json::json!(0))
            .unwrap()
            .expect("register ops suggest cas-register");
        assert_eq!(fc.extra.valid, Verdict::Invalid);
        assert!(
            fc.extra.summary.contains("cannot linearize op 2"),
            "{}",
            fc.extra.summary
        );
        assert!(fc.text.contains("NOT linearizable"));
        let err = check_history_file(&path, Some(ModelKind::Mutex), &Value::Null).unwrap_err();
        assert!(
            err.contains("h.jsonl") && err.contains("op index 0"),
            "{err}"
        );
    }
}
