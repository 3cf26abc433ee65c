//! Lost tasks, like Jepsen's `set-full`/`total-queue`, judged against the last ok `read-tasks`.
//!
//! Outcomes (DESIGN.md "What the checkers decide"):
//! - *lost*: the submit was ok (and completed before the final read was invoked) but the task
//!   is absent from the final read;
//! - *phantom*: every submit of the task failed, yet it is present;
//! - *unexpected*: present but never submitted;
//! - *not-done*: present but its state is not `done` after the recovery wait, when that wait
//!   proves it (see below);
//! - *unfinished*: present and not `done`, but the recovery wait ran out before the cluster
//!   had been healthy long enough to finish it: not proof of anything (unknown);
//! - *recovered*: the submit's outcome was unknown (`info`, or never completed) and it is present;
//! - *duplicated*: `runs` > 1;
//! - *no-recovery* (of the cluster, not a task): the recovery wait lasted at least
//!   `liveness_ms` after the final heal and still ended with a node not ready; the `recovery`
//!   op's `unready` says what was wrong. A wait cut shorter than that with a node not ready
//!   is only unknown.
//!
//! Lost, phantom, unexpected, not-done and no-recovery are invalid (no-recovery even without
//! a final read); duplicated is invalid only with
//! `exactly_once`. No ok `read-tasks` makes the verdict unknown.
//!
//! The recovery wait: a run records how its wait for the tasks ended as a nemesis `info` op
//! `recovery` (`{"outcome": "done"|"budget"|"interrupted", "waited_ms", "healthy_ms",
//! "liveness_ms"}`, plus `unready` when a node was not ready, docs/history-format.md). A task that is not done is *not-done* (invalid)
//! when the wait saw every task done, or when the cluster had been healthy (every node ready)
//! for at least `liveness_ms`, the time the system promises to finish any task in; otherwise
//! the budget ran out first and it is *unfinished* (unknown). Without a `recovery` op (a
//! history from elsewhere) every task not done is not-done.
//!
//! Malformed submit values make the verdict unknown; they also make *unexpected* tasks
//! unprovable (a malformed submit may have submitted them), so those are reported as
//! unexpected but judged unknown, never invalid.
//!
//! Memory: one small record per task id, plus the text of the latest ok read (decoded once at
//! the end, so intermediate reads cost only a copy).

use std::borrow::Cow;

use histories::{OpRef, OpType, ValueRef};
use serde::{Deserialize, Serialize};

use crate::evidence::{Capped, OpEvidence};
use crate::id_table::{IdHash, IdTable};
use crate::procmap::ProcMap;
use crate::verdict::Verdict;
use crate::CheckOptions;
use final_read::{fast_read, ReadPass, ReadState};

/// The `f` of a task submission.
pub const SUBMIT: &str = "submit";
/// The `f` of a read of all tasks.
pub const READ_TASKS: &str = "read-tasks";
/// The `f` of the nemesis op that says how a run's recovery wait ended.
pub const RECOVERY: &str = "recovery";

/// How a run's recovery wait ended (the value of its `recovery` op).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryWait {
    /// `done` (every task was seen done), `budget` (the `--recovery` budget ran out) or
    /// `interrupted`.
    pub outcome: String,
    /// How long the wait lasted.
    pub waited_ms: u64,
    /// How long every node had been ready, continuously, when the wait ended.
    pub healthy_ms: u64,
    /// How long the system promises a healthy cluster needs to finish any acked task; also
    /// how long after the final heal it may take to become healthy (every node ready).
    pub liveness_ms: u64,
    /// What was still wrong when the wait ended, one entry a node that was not ready
    /// (`n3: /health: connection refused`); empty when every node was ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unready: Vec<String>,
}

/// A cluster that did not recover: some node was still not ready when a recovery wait of at
/// least the system's bound ended (the anomaly class `no-recovery`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoRecovery {
    /// The `recovery` op that says so.
    pub op: OpEvidence,
    /// How long the wait lasted after the final heal.
    pub waited_ms: u64,
    /// The bound the system promises to be healthy within.
    pub liveness_ms: u64,
    /// What was still wrong, per node.
    pub unready: Vec<String>,
}

impl RecoveryWait {
    /// True when a task not done at the end of this wait proves a liveness failure.
    pub fn proves_not_done(&self) -> bool {
        self.outcome == "done" || self.healthy_ms >= self.liveness_ms
    }
}

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
    #[serde(default)]
    pub unfinished: u64,
    /// See the module docs.
    pub recovered: u64,
    /// See the module docs.
    pub duplicated: u64,
    /// 1 when the cluster did not recover (see the module docs), else 0.
    #[serde(default)]
    pub no_recovery: u64,
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
    /// Tasks not done when the recovery budget ran out, on a cluster not yet healthy for
    /// long enough to finish them (unknown, not an anomaly).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfinished: Vec<TaskAnomaly>,
    /// How the run's recovery wait ended, when the history says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryWait>,
    /// The cluster did not recover after the final heal (an anomaly), with what was wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_recovery: Option<NoRecovery>,
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

/// A final read at least this long (bytes) is taken over from the pipeline's chunk rather
/// than copied: in the issue-2 benchmark it is 11 MB, and a copy (fresh pages) is a few
/// milliseconds of the time after the last line is read.
const BIG_READ: usize = 1 << 16;

/// The text of the latest ok read-tasks.
enum ReadText {
    /// A copy.
    Owned(String),
    /// Still in the text of the batch being observed, there.
    InBatch(std::ops::Range<usize>),
    /// The text of a batch, taken over, and where the value is in it.
    Taken(String, std::ops::Range<usize>),
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

/// A task's byte in [`TasksChecker::flags`]: its best outcome so far and whether the final
/// read has it. A byte per task (not a field of the evidence records), so the final read's
/// lookups and the pass for absent tasks touch a small array that stays in cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct TaskFlags(u8);

impl TaskFlags {
    const OUTCOME: u8 = 0b11;
    const IN_READ: u8 = 0b100;

    fn outcome(self) -> Option<SubmitOutcome> {
        match self.0 & Self::OUTCOME {
            1 => Some(SubmitOutcome::Fail),
            2 => Some(SubmitOutcome::Unknown),
            3 => Some(SubmitOutcome::Ok),
            _ => None,
        }
    }

    fn set_outcome(&mut self, o: SubmitOutcome) {
        let bits = match o {
            SubmitOutcome::Fail => 1,
            SubmitOutcome::Unknown => 2,
            SubmitOutcome::Ok => 3,
        };
        self.0 = (self.0 & !Self::OUTCOME) | bits;
    }

    fn in_read(self) -> bool {
        self.0 & Self::IN_READ != 0
    }

    fn set_in_read(&mut self, yes: bool) {
        if yes {
            self.0 |= Self::IN_READ;
        } else {
            self.0 &= !Self::IN_READ;
        }
    }
}

/// Streaming state of the tasks checker. Task ids are interned once, at their first submit;
/// the pending submit of a process refers to its task by number.
#[derive(Default)]
pub(crate) struct TasksChecker {
    seen: bool,
    pending: ProcMap<Pending>,
    ids: IdTable,
    /// Per task number: the submit that decides its class.
    best: Vec<Option<SubmitEvidence>>,
    /// Per task number: see [`TaskFlags`].
    flags: Vec<TaskFlags>,
    last_read: Option<(ReadSpan, ReadText)>,
    /// Where the text of the batch being observed is (see [`TasksChecker::begin_batch`]).
    batch: Option<std::ops::Range<usize>>,
    errors: Vec<String>,
    error_count: u64,
    /// The last `recovery` op's value.
    recovery: Option<RecoveryWait>,
    /// Where the last `recovery` op is.
    recovery_op: Option<OpEvidence>,
}

impl TasksChecker {
    /// Observes the run's `recovery` op (a nemesis info op).
    pub fn observe_recovery(&mut self, op: &OpRef<'_>) {
        match op.value.decode::<RecoveryWait>() {
            Ok(r) => {
                self.recovery = Some(r);
                self.recovery_op = Some(OpEvidence::of(op));
            }
            Err(e) => self.error(format!(
                "recovery at index {}: value must be {{\"outcome\", \"waited_ms\", \"healthy_ms\", \"liveness_ms\"}}: {e}",
                op.index
            )),
        }
    }

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
                let in_batch = op.value.text().and_then(|t| self.in_batch(t));
                let text = match in_batch {
                    Some(at) if at.len() >= BIG_READ => ReadText::InBatch(at),
                    _ => ReadText::Owned(op.value.to_json_string()),
                };
                self.last_read = Some((span, text));
            }
            _ => {}
        }
    }

    /// Task ids seen so far.
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// Ops with text in `text` follow (a chunk of the pipeline; see [`ReadText::InBatch`]).
    pub fn begin_batch(&mut self, text: &str) {
        let base = text.as_ptr() as usize;
        self.batch = Some(base..base + text.len());
    }

    /// The batch of [`TasksChecker::begin_batch`] is observed: if the latest read is in its
    /// text, the text is taken over (and `text` left empty) instead of copied.
    pub fn end_batch(&mut self, text: &mut String) {
        self.batch = None;
        if let Some((_, read)) = &mut self.last_read {
            if let ReadText::InBatch(at) = read {
                *read = ReadText::Taken(std::mem::take(text), at.clone());
            }
        }
    }

    /// Where `s` is in the current batch's text, if it is there.
    fn in_batch(&self, s: &str) -> Option<std::ops::Range<usize>> {
        let batch = self.batch.as_ref()?;
        let start = s.as_ptr() as usize;
        let end = start + s.len();
        (batch.start <= start && end <= batch.end).then(|| start - batch.start..end - batch.start)
    }

    fn intern(&mut self, id: Cow<'_, str>) -> u32 {
        let (i, new) = self.ids.intern(&id, IdHash::of(&id));
        if new {
            if self.flags.capacity() == 0 {
                // Address space for a million tasks up front (pages are touched only as tasks
                // come): growing by reallocation moves the pages with `mremap`, whose TLB
                // flushes interrupt the reader thread on the other core.
                self.flags.reserve(crate::id_table::RESERVE);
                self.best.reserve(crate::id_table::RESERVE);
            }
            self.flags.push(TaskFlags::default());
            self.best.push(None);
        }
        i
    }

    /// The hash of a submit's task id (see [`crate::Checker::touch_hash`]).
    pub fn touch_hash(&self, op: &OpRef<'_>) -> Option<IdHash> {
        if op.kind != OpType::Invoke || op.f != SUBMIT {
            return None;
        }
        task_id(&op.value).ok().map(|id| IdHash::of(&id))
    }

    /// Loads the table slots of `hashes`, in one tight loop of independent loads.
    pub fn touch(&self, hashes: &[IdHash]) {
        let loaded = hashes.iter().fold(0u64, |acc, &h| acc ^ self.ids.touch(h));
        std::hint::black_box(loaded);
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
        let best = &mut self.best[task as usize];
        if best.as_ref().is_none_or(|b| b.outcome < outcome) {
            self.flags[task as usize].set_outcome(outcome);
            *best = Some(SubmitEvidence {
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
            submitted: self.flags.len() as u64,
            ..TaskCounts::default()
        };
        for f in &self.flags {
            match f.outcome() {
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
            unfinished: Vec::new(),
            recovery: self.recovery.clone(),
            no_recovery: None,
            recovered: Vec::new(),
            duplicated: Vec::new(),
        };
        judge_recovery(self.recovery.as_ref(), self.recovery_op, &mut result);
        let Some((span, text)) = self.last_read.take() else {
            result
                .reasons
                .push("no ok read-tasks: cannot tell lost tasks from slow ones".into());
            if result.no_recovery.is_some() {
                result.valid = Verdict::Invalid;
            }
            return Some(result);
        };
        let text: &str = match &text {
            ReadText::Owned(s) => s,
            ReadText::Taken(s, at) => s.get(at.clone()).unwrap_or_default(),
            // `end_batch` resolves it before the next op; only a caller that began a batch
            // and never ended it could leave it.
            ReadText::InBatch(_) => "",
        };
        result.final_read = Some(span);
        let mut classes = Classes::default();
        if fast_read(text, &self.ids, &self.best, &mut self.flags, &mut classes).is_none() {
            // Not the usual shape (the fast pass changed nothing): let serde decide.
            let pass = ReadPass {
                ids: &self.ids,
                best: &self.best,
                flags: &mut self.flags,
                classes: &mut classes,
            };
            let mut de = serde_json::Deserializer::from_str(text);
            if let Err(e) = serde::de::DeserializeSeed::deserialize(pass, &mut de) {
                result.reasons.push(format!(
                "final read at index {}: value must be {{\"tasks\": {{ID: {{\"state\", \"runs\"}}}}}}: {e}",
                    span.ok.index
                ));
                return Some(result);
            }
        }
        // Acked tasks absent from the read: found in one sequential pass over the flags.
        let missing = |f: TaskFlags| !f.in_read() && f.outcome() == Some(SubmitOutcome::Ok);
        for (i, _) in self.flags.iter().enumerate().filter(|(_, &f)| missing(f)) {
            let id = self.ids.id(i as u32);
            let Some(best) = self.best[i].as_ref() else {
                continue;
            };
            if best.completion.map_or(u64::MAX, |c| c.index) < span.invoke.index {
                classes.lost.push(TaskAnomaly {
                    task: id.to_string(),
                    submit: Some(best.clone()),
                    read: None,
                });
            } else {
                result.counts.acked_after_read += 1;
            }
        }
        let judge = Judge {
            not_done_proven: self
                .recovery
                .as_ref()
                .is_none_or(RecoveryWait::proves_not_done),
            malformed_submits: self.error_count > 0,
        };
        classes.finish(opts, judge, &mut result);
        Some(result)
    }
}

/// The class `no-recovery`: a recovery wait that lasted the system's whole bound and still
/// ended with a node not ready is an anomaly; one cut shorter than the bound is only a reason
/// for unknown (the cluster might have recovered given the time it is promised).
fn judge_recovery(w: Option<&RecoveryWait>, op: Option<OpEvidence>, r: &mut TasksResult) {
    let (Some(w), Some(op)) = (w, op) else {
        return;
    };
    if w.unready.is_empty() || w.outcome == "interrupted" {
        return;
    }
    if w.waited_ms >= w.liveness_ms {
        r.counts.no_recovery = 1;
        r.no_recovery = Some(NoRecovery {
            op,
            waited_ms: w.waited_ms,
            liveness_ms: w.liveness_ms,
            unready: w.unready.clone(),
        });
    } else {
        r.reasons.push(format!(
            "the cluster was not ready when the recovery wait of {} ms ran out, shorter than the \
             {} ms it may take to recover: not proof that it does not (rerun with a longer \
             --recovery); still wrong: {}",
            w.waited_ms,
            w.liveness_ms,
            w.unready.join("; ")
        ));
    }
}

/// What decides whether the classes that depend on the run's conditions are anomalies.
#[derive(Debug, Clone, Copy)]
struct Judge {
    /// A task not done is not-done (invalid), not unfinished (unknown).
    not_done_proven: bool,
    /// Some submit value was malformed: an unexpected task may be one of its.
    malformed_submits: bool,
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

    /// Adds `other`'s entries (the classes of another part of the same read).
    fn merge(&mut self, other: Classes) {
        self.read += other.read;
        self.lost.append(other.lost);
        self.phantom.append(other.phantom);
        self.unexpected.append(other.unexpected);
        self.not_done.append(other.not_done);
        self.recovered.append(other.recovered);
        self.duplicated.append(other.duplicated);
    }

    fn finish(self, opts: &CheckOptions, judge: Judge, r: &mut TasksResult) {
        let cap = opts.max_evidence;
        let by_task = |a: &TaskAnomaly, b: &TaskAnomaly| a.task.cmp(&b.task);
        r.counts.read = self.read;
        (r.lost, r.counts.lost) = self.lost.finish(cap, by_task);
        (r.phantom, r.counts.phantom) = self.phantom.finish(cap, by_task);
        (r.unexpected, r.counts.unexpected) = self.unexpected.finish(cap, by_task);
        let not_done = self.not_done.finish(cap, by_task);
        if judge.not_done_proven {
            (r.not_done, r.counts.not_done) = not_done;
        } else {
            (r.unfinished, r.counts.unfinished) = not_done;
        }
        (r.recovered, r.counts.recovered) = self.recovered.finish(cap, by_task);
        (r.duplicated, r.counts.duplicated) = self.duplicated.finish(cap, by_task);
        let c = &r.counts;
        if c.unfinished > 0 {
            let w = r.recovery.as_ref();
            r.reasons.push(format!(
                "{} task(s) not done when the recovery wait of {} ms ran out, with the cluster healthy for {} ms of the {} ms it needs to finish any task: not proof of loss (rerun with a longer --recovery)",
                c.unfinished,
                w.map_or(0, |w| w.waited_ms),
                w.map_or(0, |w| w.healthy_ms),
                w.map_or(0, |w| w.liveness_ms),
            ));
        }
        let unexpected = if judge.malformed_submits && c.unexpected > 0 {
            r.reasons.push(format!(
                "{} unexpected task(s) not judged: malformed submits may have submitted them",
                c.unexpected
            ));
            0
        } else {
            c.unexpected
        };
        let invalid = c.lost
            + c.no_recovery
            + c.phantom
            + unexpected
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
