//! checkers: pure functions from a history to a verdict, with the evidence behind it.
//!
//! | module | what it owns |
//! | --- | --- |
//! | [`verdict`] | [`Verdict`]: JSON `true` / `false` / `"unknown"`, merged false > unknown > true |
//! | [`tasks`] | lost / phantom / unexpected / not-done / recovered / duplicated tasks, and no-recovery (the cluster not healthy after the final heal) |
//! | [`locks`] | split locks (overlapping certain holds) and fencing tokens that must grow |
//! | [`stats`] | ok / fail / info counts per `f` |
//! | [`compose`] | [`Results`]: every checker's result and the merged verdict |
//! | [`anomaly`] | [`Anomaly`]: each anomaly of a [`Results`], typed, with its stable class name and op indexes |
//! | [`linearizable`] | linearizability of register, mutex and txn histories (a Knossos/Porcupine-style search) |
//! | [`summary`] | [`render_summary`]: the human summary |
//! | [`synth`] | a correct model that synthesizes valid concurrent histories, with planted anomalies on demand |
//! | `chunks` | the history read in chunks of whole lines, each parsed on its own |
//! | `pipeline` | [`check_file`]: a second thread reads, both parse, this one checks in order |
//! | [`evidence`] | [`OpEvidence`]: the index, time and process of an op that proves an anomaly |
//!
//! The checkers stream: [`check_file`] holds at most a few chunks of the file at a time (ops
//! with values left as raw JSON, decoded only where a checker needs them), so memory grows
//! with the number of tasks and lock grants, not with the size of the file. The results JSON is documented in
//! `docs/results-format.md`.
//!
//! ```
//! use checkers::{check_ops, CheckOptions, Verdict};
//! use histories::{Op, OpType, Process};
//! use serde_json::json;
//!
//! let op = |index, process, kind, f: &str, value| Op {
//!     index, time: index * 1000, process: Process::Client(process), kind,
//!     f: f.into(), value, node: None, error: None,
//! };
//! let ops = vec![
//!     op(0, 0, OpType::Invoke, "submit", json!({"task": "t1"})),
//!     op(1, 0, OpType::Ok, "submit", json!({"task": "t1"})),
//!     op(2, 1, OpType::Invoke, "read-tasks", json!(null)),
//!     op(3, 1, OpType::Ok, "read-tasks", json!({"tasks": {}})),
//! ];
//! let results = check_ops(ops, &CheckOptions::default());
//! assert_eq!(results.valid, Verdict::Invalid); // t1 was acknowledged, then lost
//! assert_eq!(results.tasks.unwrap().lost[0].task, "t1");
//! ```

pub mod anomaly;
mod chunks;
pub mod compose;
pub mod evidence;
mod flat;
mod id_table;
pub mod linearizable;
pub mod locks;
mod pipeline;
mod procmap;
pub mod stats;
pub mod summary;
pub mod synth;
pub mod tasks;
pub mod verdict;

use std::path::Path;

use histories::{HistoryError, HistoryReader, Op, OpRef, Warning};

use id_table::IdHash;

pub use anomaly::Anomaly;
pub use compose::{ExtraResult, Results};
pub use evidence::OpEvidence;
pub use summary::render_summary;
pub use verdict::Verdict;

/// Options of the checkers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    /// Tasks that ran more than once (`runs` > 1) make the history invalid. Default: false
    /// (at-least-once: duplicates are reported but allowed).
    pub exactly_once: bool,
    /// At most this many anomalies of each kind are listed with their evidence (the counts
    /// are always exact). Default: 1000.
    pub max_evidence: usize,
    /// When a lock hold ends: `lease` (default) or `mutex` ([`locks::LockModel`]).
    pub lock_model: locks::LockModel,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            exactly_once: false,
            max_evidence: 1000,
            lock_model: locks::LockModel::Lease,
        }
    }
}

/// All the built-in checkers, fed one op at a time. [`check_file`] and [`check_ops`] are
/// built on it; use it directly to check ops as they are produced.
pub struct Checker {
    opts: CheckOptions,
    ops: u64,
    /// The time of the latest op seen.
    last_time: u64,
    stats: stats::StatsChecker,
    tasks: tasks::TasksChecker,
    locks: locks::LocksChecker,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("opts", &self.opts)
            .field("ops", &self.ops)
            .finish_non_exhaustive()
    }
}

impl Checker {
    /// A checker that has seen no ops.
    pub fn new(opts: &CheckOptions) -> Self {
        Checker {
            opts: opts.clone(),
            ops: 0,
            last_time: 0,
            stats: Default::default(),
            tasks: Default::default(),
            locks: Default::default(),
        }
    }

    /// Feeds the next op of the history (in index order).
    pub fn observe(&mut self, op: &OpRef<'_>) {
        self.ops += 1;
        self.last_time = self.last_time.max(op.time);
        self.stats.observe(op);
        match &*op.f {
            tasks::SUBMIT | tasks::READ_TASKS => self.tasks.observe(op),
            locks::ACQUIRE | locks::RELEASE | locks::RENEW => self.locks.observe(op),
            tasks::RECOVERY if op.process == histories::Process::Nemesis => {
                self.tasks.observe_recovery(op)
            }
            _ => {}
        }
    }

    /// The hash of the task id that observing `op` will insert, if any. [`check_file`]
    /// collects these for the next run of ops and passes them to [`Checker::touch`] while it
    /// observes the current run, so that the cache misses of the task table (far larger than
    /// the caches in a long history) overlap instead of coming one after another.
    pub(crate) fn touch_hash(&self, op: &OpRef<'_>) -> Option<IdHash> {
        self.tasks.touch_hash(op)
    }

    /// Ops whose strings are in `text` (a chunk of the pipeline) are observed next, up to
    /// [`Checker::end_batch`]: a checker may then keep the text instead of copying from it.
    pub(crate) fn begin_batch(&mut self, text: &str) {
        self.tasks.begin_batch(text);
    }

    /// The batch is observed; a checker that wants its text takes it (leaving `text` empty).
    pub(crate) fn end_batch(&mut self, text: &mut String) {
        self.tasks.end_batch(text);
    }

    /// Loads the table slots of `hashes` (see [`Checker::touch_hash`]); changes nothing.
    pub(crate) fn touch(&self, hashes: &[IdHash]) {
        self.tasks.touch(hashes);
    }

    /// The results; `warnings` are the reader's (see [`HistoryReader::warnings`]).
    pub fn finish(self, warnings: Vec<Warning>) -> Results {
        let Checker {
            opts,
            ops,
            last_time,
            stats,
            tasks,
            locks,
        } = self;
        // The locks' sweep runs beside the tasks' final read when both have work enough to
        // be worth a thread (the end of a check is time after the last line is read).
        let (tasks, locks) = if locks.holds() >= PARALLEL_FINISH && tasks.len() >= PARALLEL_FINISH {
            std::thread::scope(|s| {
                let locks = s.spawn(|| locks.finish(&opts, last_time));
                let tasks = tasks.finish(&opts);
                let locks = locks
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (tasks, locks)
            })
        } else {
            (tasks.finish(&opts), locks.finish(&opts, last_time))
        };
        Results::new(ops, warnings, stats.finish(), tasks, locks)
    }
}

/// Lock holds and task ids from which [`Checker::finish`] runs the two checkers' ends on two
/// threads.
const PARALLEL_FINISH: usize = 1 << 14;

/// Checks a history file, streaming it. A malformed history is an `Err` naming the file and
/// line; a history with anomalies is `Ok` with an invalid verdict.
///
/// The file is read on a second thread and parsed on both while this one checks (see
/// `pipeline`); the results are the same as feeding [`HistoryReader::next_ref`]'s ops to a
/// [`Checker`].
pub fn check_file(path: &Path, opts: &CheckOptions) -> Result<Results, HistoryError> {
    let file = open(path)?;
    let mut checker = Checker::new(opts);
    let start = std::time::Instant::now();
    let warnings = pipeline::run(file, Some(path), &mut checker)?;
    let results = checker.finish(warnings);
    tracing::debug!(
        elapsed_ms = start.elapsed().as_secs_f64() * 1e3,
        "checked (final read and verdicts)"
    );
    Ok(results)
}

/// Opens a history file, with the reader's error when it cannot be.
fn open(path: &Path) -> Result<std::fs::File, HistoryError> {
    std::fs::File::open(path).map_err(|source| HistoryError::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// Checks ops already in memory. They are assumed to follow the history rules (as
/// [`HistoryReader`] validates them); ops that break them are ignored where they cannot be
/// paired, never a panic.
pub fn check_ops(ops: impl IntoIterator<Item = Op>, opts: &CheckOptions) -> Results {
    let mut checker = Checker::new(opts);
    for op in ops {
        checker.observe(&op.as_ref());
    }
    checker.finish(Vec::new())
}

/// Reads and parses every op of a history (validated, values left as raw JSON: what the
/// checkers start from) without checking it, on one thread; returns the number of ops. The
/// baseline of the benchmark in docs/performance-check.md: [`HistoryReader`], the fastest
/// single-threaded reader here (the chunked reading of [`check_file`] measured a little
/// slower on one thread; it pays off only when two threads share the parsing).
pub fn parse_file(path: &Path) -> Result<u64, HistoryError> {
    let mut reader = HistoryReader::open(path)?;
    let mut n = 0;
    while let Some(op) = reader.next_ref() {
        std::hint::black_box(op?);
        n += 1;
    }
    Ok(n)
}

/// Like [`parse_file`], but reading as [`check_file`] does (in chunks of whole lines), all
/// on one thread: what the chunked reading costs without a second thread to share it
/// (`gauntlet check --parse-only=chunks`, docs/performance-check.md).
pub fn parse_file_chunked(path: &Path) -> Result<u64, HistoryError> {
    let mut reader = chunks::ChunkReader::new(open(path)?);
    let mut chunk = chunks::Chunk::default();
    let mut validator = histories::Validator::new();
    let mut first_line = 1;
    let mut n = 0;
    while reader.next_into(&mut chunk) {
        chunk.parse();
        for (line, op) in chunk.ops(0..chunk.len(), first_line) {
            let head = op.head();
            let at = || histories::Location {
                path: Some(path.to_path_buf()),
                line,
            };
            validator.observe(&head, at)?;
            std::hint::black_box(op);
            n += 1;
        }
        match chunk.ending(Some(path), first_line) {
            None => first_line += chunk.lines(),
            Some(chunks::Ending::Warning(w)) => {
                tracing::warn!("{w}"); // as `HistoryReader` does
                break;
            }
            Some(chunks::Ending::Error(e)) => return Err(e),
        }
    }
    Ok(n)
}

/// Like [`parse_file`], but into owned [`Op`]s with every value parsed into a
/// `serde_json::Value`: the cost of reading a history into the op model.
pub fn parse_file_owned(path: &Path) -> Result<u64, HistoryError> {
    let mut n = 0;
    for op in HistoryReader::open(path)? {
        std::hint::black_box(op?);
        n += 1;
    }
    Ok(n)
}
