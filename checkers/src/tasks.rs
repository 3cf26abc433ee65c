//! Lost tasks, like Jepsen's `set-full`/`total-queue`, judged against the last ok `read-tasks`.
//!
//! Outcomes (DESIGN.md "What the checkers decide"):
//! - *lost*: the submit was ok (and completed before the final read was invoked) but the task
//!   is absent from the final read;
//! - *phantom*: every submit of the task failed, yet it is present;
//! - *unexpected*: present but never submitted;
//! - *not-done*: present but its state is not `done` after the recovery wait;
//! - *recovered*: the submit's outcome was unknown (`info`, or never completed) and it is present;
//! - *duplicated*: `runs` > 1.
//!
//! Lost, phantom, unexpected and not-done are invalid; duplicated is invalid only with
//! `exactly_once`. No ok `read-tasks` makes the verdict unknown.
//!
//! Memory: one small record per task id, plus the text of the latest ok read (decoded once at
//! the end, so intermediate reads cost only a copy).

use std::borrow::Cow;
use std::collections::HashMap;

use histories::{OpRef, OpType, Process};
use serde::{Deserialize, Serialize};

use crate::evidence::{Capped, OpEvidence};
use crate::verdict::Verdict;
use crate::CheckOptions;

/// The `f` of a task submission.
pub const SUBMIT: &str = "submit";
/// The `f` of a read of all tasks.
pub const READ_TASKS: &str = "read-tasks";

/// What a submit told us. Ordered so the strongest claim wins when a task id is submitted
/// more than once: ok > unknown > fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubmitOutcome {
    /// `fail`: certainly not submitted.
    Fail,
    /// `info`, or invoked and never completed: maybe submitted.
    Unknown,
    /// `ok`: acknowledged.
    Ok,
}

/// The evidence of one submit: its invoke and (if any) completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitEvidence {
    /// What the submit told us.
    pub outcome: SubmitOutcome,
    /// The invoke op.
    pub invoke: OpEvidence,
    /// The completion op; absent when the history ended first.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub completion: Option<OpEvidence>,
}

/// A task's entry in the final read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadEntry {
    /// `pending`, `running` or `done`.
    pub state: String,
    /// How many times the task ran.
    pub runs: u64,
}

/// One task anomaly (or noteworthy outcome) with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAnomaly {
    /// The task id.
    pub task: String,
    /// The submit that decides its class; absent for unexpected tasks.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub submit: Option<SubmitEvidence>,
    /// Its entry in the final read; absent for lost tasks.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub read: Option<ReadEntry>,
}

/// Counts of the tasks checker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounts {
    /// Distinct task ids submitted.
    pub submitted: u64,
    /// … whose submit was ok.
    pub acked: u64,
    /// … whose every submit failed.
    pub failed: u64,
    /// … whose submit outcome is unknown.
    pub unknown: u64,
    /// Tasks in the final read.
    pub read: u64,
    /// Acked tasks that completed after the final read was invoked and are absent from it
    /// (not counted lost: the read may have been served before they landed).
    pub acked_after_read: u64,
    /// See the module docs for the anomaly classes.
    pub lost: u64,
    /// See the module docs.
    pub phantom: u64,
    /// See the module docs.
    pub unexpected: u64,
    /// See the module docs.
    pub not_done: u64,
    /// See the module docs.
    pub recovered: u64,
    /// See the module docs.
    pub duplicated: u64,
}

/// The verdict of the tasks checker, with counts and capped lists of evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TasksResult {
    /// The verdict.
    pub valid: Verdict,
    /// Why the verdict is unknown, or other notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// The last ok `read-tasks`: its invoke and its ok completion.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub final_read: Option<ReadSpan>,
    /// Counts (exact, even where the lists below are capped).
    pub counts: TaskCounts,
    /// Lost tasks (sorted by task id; at most `max_evidence`).
    pub lost: Vec<TaskAnomaly>,
    /// Phantom tasks.
    pub phantom: Vec<TaskAnomaly>,
    /// Unexpected tasks.
    pub unexpected: Vec<TaskAnomaly>,
    /// Not-done tasks.
    pub not_done: Vec<TaskAnomaly>,
    /// Recovered tasks (not an anomaly).
    pub recovered: Vec<TaskAnomaly>,
    /// Duplicated tasks (an anomaly only with `exactly_once`).
    pub duplicated: Vec<TaskAnomaly>,
}

/// The invoke and ok of a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadSpan {
    /// The invoke.
    pub invoke: OpEvidence,
    /// The ok completion.
    pub ok: OpEvidence,
}

#[derive(Deserialize)]
struct SubmitValue<'a> {
    #[serde(borrow)]
    task: Cow<'a, str>,
}

#[derive(Deserialize)]
struct ReadValue<'a> {
    #[serde(borrow)]
    tasks: HashMap<Cow<'a, str>, ReadState<'a>>,
}

#[derive(Deserialize)]
struct ReadState<'a> {
    #[serde(borrow)]
    state: Cow<'a, str>,
    runs: u64,
}

/// A pending op of one process.
enum Pending {
    Submit {
        task: Option<String>,
        invoke: OpEvidence,
    },
    Read {
        invoke: OpEvidence,
    },
}

/// Streaming state of the tasks checker.
#[derive(Default)]
pub(crate) struct TasksChecker {
    seen: bool,
    pending: HashMap<Process, Pending>,
    tasks: HashMap<String, SubmitEvidence>,
    last_read: Option<(ReadSpan, String)>,
    errors: Vec<String>,
    error_count: u64,
}

impl TasksChecker {
    pub fn observe(&mut self, op: &OpRef<'_>) {
        let f: &str = &op.f;
        if f != SUBMIT && f != READ_TASKS {
            return;
        }
        self.seen = true;
        let ev = OpEvidence::of(op);
        if op.kind == OpType::Invoke {
            let p = if f == SUBMIT {
                let task = match op.value.decode::<SubmitValue<'_>>() {
                    Ok(v) => Some(v.task.into_owned()),
                    Err(e) => {
                        self.error(format!(
                            "submit at index {}: value must be {{\"task\": ID}}: {e}",
                            op.index
                        ));
                        None
                    }
                };
                Pending::Submit { task, invoke: ev }
            } else {
                Pending::Read { invoke: ev }
            };
            self.pending.insert(op.process, p);
            return;
        }
        match self.pending.remove(&op.process) {
            Some(Pending::Submit {
                task: Some(task),
                invoke,
            }) => {
                let outcome = match op.kind {
                    OpType::Ok => SubmitOutcome::Ok,
                    OpType::Fail => SubmitOutcome::Fail,
                    _ => SubmitOutcome::Unknown,
                };
                self.record(task, outcome, invoke, Some(ev));
            }
            Some(Pending::Read { invoke }) if op.kind == OpType::Ok => {
                let span = ReadSpan { invoke, ok: ev };
                self.last_read = Some((span, op.value.to_json_string()));
            }
            _ => {}
        }
    }

    fn error(&mut self, msg: String) {
        self.error_count += 1;
        if self.errors.len() < 10 {
            self.errors.push(msg);
        }
    }

    fn record(
        &mut self,
        task: String,
        outcome: SubmitOutcome,
        invoke: OpEvidence,
        completion: Option<OpEvidence>,
    ) {
        let ev = SubmitEvidence {
            outcome,
            invoke,
            completion,
        };
        match self.tasks.get_mut(&task) {
            Some(old) if old.outcome < outcome => *old = ev,
            Some(_) => {}
            None => {
                self.tasks.insert(task, ev);
            }
        }
    }

    /// The result; `None` when the history has no task operations at all.
    pub fn finish(mut self, opts: &CheckOptions) -> Option<TasksResult> {
        if !self.seen {
            return None;
        }
        // Submits still outstanding at the end of the history: maybe submitted.
        let pending = std::mem::take(&mut self.pending);
        for (_, p) in pending {
            if let Pending::Submit {
                task: Some(task),
                invoke,
            } = p
            {
                self.record(task, SubmitOutcome::Unknown, invoke, None);
            }
        }
        let mut counts = TaskCounts {
            submitted: self.tasks.len() as u64,
            ..TaskCounts::default()
        };
        for s in self.tasks.values() {
            match s.outcome {
                SubmitOutcome::Ok => counts.acked += 1,
                SubmitOutcome::Fail => counts.failed += 1,
                SubmitOutcome::Unknown => counts.unknown += 1,
            }
        }
        let mut reasons = Vec::new();
        if self.error_count > 0 {
            reasons.push(format!(
                "{} malformed task op(s), e.g. {}",
                self.error_count,
                self.errors.join("; ")
            ));
        }
        let mut result = TasksResult {
            valid: Verdict::Unknown,
            reasons,
            final_read: None,
            counts,
            lost: Vec::new(),
            phantom: Vec::new(),
            unexpected: Vec::new(),
            not_done: Vec::new(),
            recovered: Vec::new(),
            duplicated: Vec::new(),
        };
        let Some((span, text)) = self.last_read.take() else {
            result
                .reasons
                .push("no ok read-tasks: cannot tell lost tasks from slow ones".into());
            return Some(result);
        };
        result.final_read = Some(span);
        let read: ReadValue<'_> = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                result.reasons.push(format!(
                    "final read at index {}: value must be {{\"tasks\": {{ID: {{\"state\", \"runs\"}}}}}}: {e}",
                    span.ok.index
                ));
                return Some(result);
            }
        };
        self.classify(&read, span, opts, &mut result);
        Some(result)
    }

    fn classify(
        &self,
        read: &ReadValue<'_>,
        span: ReadSpan,
        opts: &CheckOptions,
        r: &mut TasksResult,
    ) {
        let [mut lost, mut phantom, mut unexpected, mut not_done, mut recovered, mut duplicated] =
            std::array::from_fn(|_| Capped::new());
        r.counts.read = read.tasks.len() as u64;
        for (id, st) in &read.tasks {
            let submit = self.tasks.get(id.as_ref());
            let entry = || TaskAnomaly {
                task: id.to_string(),
                submit: submit.cloned(),
                read: Some(ReadEntry {
                    state: st.state.to_string(),
                    runs: st.runs,
                }),
            };
            match submit.map(|s| s.outcome) {
                None => unexpected.push(entry()),
                Some(SubmitOutcome::Fail) => phantom.push(entry()),
                Some(SubmitOutcome::Unknown) => recovered.push(entry()),
                Some(SubmitOutcome::Ok) => {}
            }
            if st.state != "done" {
                not_done.push(entry());
            }
            if st.runs > 1 {
                duplicated.push(entry());
            }
        }
        for (id, s) in &self.tasks {
            if s.outcome != SubmitOutcome::Ok || read.tasks.contains_key(id.as_str()) {
                continue;
            }
            let acked_at = s.completion.map_or(u64::MAX, |c| c.index);
            if acked_at < span.invoke.index {
                lost.push(TaskAnomaly {
                    task: id.clone(),
                    submit: Some(s.clone()),
                    read: None,
                });
            } else {
                r.counts.acked_after_read += 1;
            }
        }
        let cap = opts.max_evidence;
        let by_task = |a: &TaskAnomaly, b: &TaskAnomaly| a.task.cmp(&b.task);
        (r.lost, r.counts.lost) = lost.finish(cap, by_task);
        (r.phantom, r.counts.phantom) = phantom.finish(cap, by_task);
        (r.unexpected, r.counts.unexpected) = unexpected.finish(cap, by_task);
        (r.not_done, r.counts.not_done) = not_done.finish(cap, by_task);
        (r.recovered, r.counts.recovered) = recovered.finish(cap, by_task);
        (r.duplicated, r.counts.duplicated) = duplicated.finish(cap, by_task);
        let c = &r.counts;
        let invalid = c.lost
            + c.phantom
            + c.unexpected
            + c.not_done
            + if opts.exactly_once { c.duplicated } else { 0 };
        r.valid = if invalid > 0 {
            Verdict::Invalid
        } else if !r.reasons.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
    }
}
