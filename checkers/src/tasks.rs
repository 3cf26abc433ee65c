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

use histories::fxhash::FxHashMap;
use histories::{OpRef, OpType, ValueRef};
use serde::{Deserialize, Serialize};

use crate::evidence::{Capped, OpEvidence};
use crate::procmap::ProcMap;
use crate::task_key::TaskKey;
use crate::verdict::Verdict;
use crate::CheckOptions;
use final_read::{fast_read, ReadPass, ReadState};

/// The `f` of a task submission.
pub const SUBMIT: &str = "submit";
/// The `f` of a read of all tasks.
pub const READ_TASKS: &str = "read-tasks";

mod final_read;

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

/// The task id of a submit's value. The common shape `{"task":"ID"}` (as the harness writes
/// it) is sliced out of the raw text directly; anything else goes through serde.
fn task_id<'a>(value: &ValueRef<'a>) -> Result<Cow<'a, str>, serde_json::Error> {
    if let Some(text) = value.text() {
        if let Some(rest) = text.strip_prefix(r#"{"task":""#) {
            if let Some(id) = rest.strip_suffix(r#""}"#) {
                if !id.contains(['"', '\\']) {
                    return Ok(Cow::Borrowed(id));
                }
            }
        }
    }
    value.decode::<SubmitValue<'a>>().map(|v| v.task)
}

/// A pending op of one process.
enum Pending {
    Submit {
        task: Option<u32>,
        invoke: OpEvidence,
    },
    Read {
        invoke: OpEvidence,
    },
}

/// One submitted task id: the submit that decides its class, and whether the final read has it.
struct TaskRec {
    best: Option<SubmitEvidence>,
    in_read: bool,
}

/// Streaming state of the tasks checker. Task ids are interned once, at their first submit;
/// the pending submit of a process refers to its record by number.
#[derive(Default)]
pub(crate) struct TasksChecker {
    seen: bool,
    pending: ProcMap<Pending>,
    ids: FxHashMap<TaskKey, u32>,
    recs: Vec<TaskRec>,
    /// Each record's `best` outcome, compact (a byte each, so the final read's lookups stay
    /// in cache).
    outcomes: Vec<Option<SubmitOutcome>>,
    last_read: Option<(ReadSpan, String)>,
    errors: Vec<String>,
    error_count: u64,
}

impl TasksChecker {
    pub fn observe(&mut self, op: &OpRef<'_>) {
        let f: &str = &op.f;
        let submit = f == SUBMIT;
        if !submit && f != READ_TASKS {
            return;
        }
        self.seen = true;
        let ev = OpEvidence::of(op);
        if op.kind == OpType::Invoke {
            let p = if submit {
                let task = match task_id(&op.value) {
                    Ok(id) => Some(self.intern(id)),
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
        match self.pending.remove(op.process) {
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

    fn intern(&mut self, id: Cow<'_, str>) -> u32 {
        let next = self.recs.len() as u32;
        let i = *self.ids.entry(TaskKey::new(&id)).or_insert(next);
        if i == next {
            self.outcomes.push(None);
            self.recs.push(TaskRec {
                best: None,
                in_read: false,
            });
        }
        i
    }

    fn error(&mut self, msg: String) {
        self.error_count += 1;
        if self.errors.len() < 10 {
            self.errors.push(msg);
        }
    }

    /// Keeps the first submit of the strongest outcome (ok > unknown > fail).
    fn record(
        &mut self,
        task: u32,
        outcome: SubmitOutcome,
        invoke: OpEvidence,
        completion: Option<OpEvidence>,
    ) {
        let rec = &mut self.recs[task as usize];
        if rec.best.as_ref().is_none_or(|b| b.outcome < outcome) {
            self.outcomes[task as usize] = Some(outcome);
            rec.best = Some(SubmitEvidence {
                outcome,
                invoke,
                completion,
            });
        }
    }

    /// The result; `None` when the history has no task operations at all.
    pub fn finish(mut self, opts: &CheckOptions) -> Option<TasksResult> {
        if !self.seen {
            return None;
        }
        // Submits still outstanding at the end of the history: maybe submitted. In history
        // order, so the evidence kept does not depend on hash order.
        let mut open: Vec<(u32, OpEvidence)> = std::mem::take(&mut self.pending)
            .into_values()
            .filter_map(|p| match p {
                Pending::Submit {
                    task: Some(t),
                    invoke,
                } => Some((t, invoke)),
                _ => None,
            })
            .collect();
        open.sort_by_key(|(_, inv)| inv.index);
        for (task, invoke) in open {
            self.record(task, SubmitOutcome::Unknown, invoke, None);
        }
        let mut counts = TaskCounts {
            submitted: self.recs.len() as u64,
            ..TaskCounts::default()
        };
        for r in &self.recs {
            match r.best.as_ref().map(|b| b.outcome) {
                Some(SubmitOutcome::Ok) => counts.acked += 1,
                Some(SubmitOutcome::Fail) => counts.failed += 1,
                _ => counts.unknown += 1,
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
        let mut classes = Classes::default();
        if fast_read(
            &text,
            &self.ids,
            &self.outcomes,
            &mut self.recs,
            &mut classes,
        )
        .is_none()
        {
            // Not the usual shape: undo what the fast pass did and let serde decide.
            for rec in &mut self.recs {
                rec.in_read = false;
            }
            classes = Classes::default();
            let pass = ReadPass {
                ids: &self.ids,
                recs: &mut self.recs,
                classes: &mut classes,
            };
            let mut de = serde_json::Deserializer::from_str(&text);
            if let Err(e) = serde::de::DeserializeSeed::deserialize(pass, &mut de) {
                result.reasons.push(format!(
                "final read at index {}: value must be {{\"tasks\": {{ID: {{\"state\", \"runs\"}}}}}}: {e}",
                    span.ok.index
                ));
                return Some(result);
            }
        }
        // Acked tasks absent from the read: found in one sequential pass over the records
        // (the id table is visited, in a second pass, only when there are some to name).
        let missing: Vec<bool> = self
            .recs
            .iter()
            .map(|r| {
                !r.in_read
                    && r.best
                        .as_ref()
                        .is_some_and(|b| b.outcome == SubmitOutcome::Ok)
            })
            .collect();
        let any_missing = missing.contains(&true);
        for (id, &i) in self.ids.iter().filter(|_| any_missing) {
            if !missing[i as usize] {
                continue;
            }
            let Some(best) = self.recs[i as usize].best.as_ref() else {
                continue;
            };
            if best.completion.map_or(u64::MAX, |c| c.index) < span.invoke.index {
                classes.lost.push(TaskAnomaly {
                    task: id.as_str().to_string(),
                    submit: Some(best.clone()),
                    read: None,
                });
            } else {
                result.counts.acked_after_read += 1;
            }
        }
        classes.finish(opts, &mut result);
        Some(result)
    }
}

/// The anomaly lists being collected.
#[derive(Default)]
struct Classes {
    read: u64,
    lost: Capped<TaskAnomaly>,
    phantom: Capped<TaskAnomaly>,
    unexpected: Capped<TaskAnomaly>,
    not_done: Capped<TaskAnomaly>,
    recovered: Capped<TaskAnomaly>,
    duplicated: Capped<TaskAnomaly>,
}

impl Classes {
    fn entry(&mut self, id: &str, st: ReadState<'_>, submit: Option<&SubmitEvidence>) {
        self.read += 1;
        let outcome = submit.map(|s| s.outcome);
        let not_done = st.state != "done";
        let dup = st.runs > 1;
        let interesting = outcome != Some(SubmitOutcome::Ok) || not_done || dup;
        if !interesting {
            return;
        }
        let a = TaskAnomaly {
            task: id.to_string(),
            submit: submit.cloned(),
            read: Some(ReadEntry {
                state: st.state.into_owned(),
                runs: st.runs,
            }),
        };
        match outcome {
            None => self.unexpected.push(a.clone()),
            Some(SubmitOutcome::Fail) => self.phantom.push(a.clone()),
            Some(SubmitOutcome::Unknown) => self.recovered.push(a.clone()),
            Some(SubmitOutcome::Ok) => {}
        }
        if not_done {
            self.not_done.push(a.clone());
        }
        if dup {
            self.duplicated.push(a);
        }
    }

    fn finish(self, opts: &CheckOptions, r: &mut TasksResult) {
        let cap = opts.max_evidence;
        let by_task = |a: &TaskAnomaly, b: &TaskAnomaly| a.task.cmp(&b.task);
        r.counts.read = self.read;
        (r.lost, r.counts.lost) = self.lost.finish(cap, by_task);
        (r.phantom, r.counts.phantom) = self.phantom.finish(cap, by_task);
        (r.unexpected, r.counts.unexpected) = self.unexpected.finish(cap, by_task);
        (r.not_done, r.counts.not_done) = self.not_done.finish(cap, by_task);
        (r.recovered, r.counts.recovered) = self.recovered.finish(cap, by_task);
        (r.duplicated, r.counts.duplicated) = self.duplicated.finish(cap, by_task);
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
