//! Reading and checking on two cores: a reader thread reads, parses and validates the history
//! (exactly as [`HistoryReader`] does on its own) and hands the ops over in batches; the
//! calling thread runs the checkers on them. The end-to-end time then approaches the time of
//! reading alone (the issue-2 benchmark, docs/performance-check.md).
//!
//! A batch copies each op's strings (`f`, value text, node, error) into one text buffer, so it
//! owns its data and can cross threads; batches are recycled, and at most [`DEPTH`] are in
//! flight, so memory stays bounded (one batch holds at least one op, so a single huge line,
//! such as the final read, ends the batch it is in). A checker may keep a batch's text
//! instead of copying out of it ([`Checker::end_batch`]): the tasks checker does so for a
//! large final read.
//!
//! What the measurements taught (each cost the reader thread tens of milliseconds in a
//! 0.3-second check): the checking thread polls for the next batch briefly before it sleeps
//! (see [`next_batch`]), and it loads the task-table slots of the next run of ops while it
//! checks the current one ([`Checker::touch`]).

use std::borrow::Cow;
use std::io::BufRead;
use std::sync::mpsc;

use std::path::Path;

use histories::{
    HistoryError, HistoryReader, Location, OpHead, OpRef, OpType, Process, Validator, ValueRef,
    Warning,
};

use crate::Checker;

/// Ops checked as a run, with the task-table slots of the next run loaded meanwhile.
const RUN: usize = 256;

/// Batches in flight between the threads.
const DEPTH: usize = 4;
/// A batch is handed over once its text reaches this size …
const BATCH_BYTES: usize = 1 << 18;
/// … or it holds this many ops.
const BATCH_OPS: usize = 1 << 12;

/// One op of a batch: the fixed fields, and where its strings are in the batch text. They
/// follow each other from `at`: `f`, then the value, node and error when present (lengths
/// [`ABSENT`] when absent). Kept small: the reader thread writes one per op.
struct Rec {
    /// The line of the file it was read from (for the sequence rules' errors).
    line: u64,
    index: u64,
    time: u64,
    process: Process,
    kind: OpType,
    at: usize,
    lens: [usize; 4],
}

/// The length of an absent string in [`Rec::lens`].
const ABSENT: usize = usize::MAX;

/// Ops read by the reader thread, owning their strings.
#[derive(Default)]
struct Batch {
    text: String,
    recs: Vec<Rec>,
}

impl Batch {
    fn put(&mut self, s: Option<&str>) -> usize {
        match s {
            Some(s) => {
                self.text.push_str(s);
                s.len()
            }
            None => ABSENT,
        }
    }

    fn push(&mut self, op: &OpRef<'_>) {
        let at = self.text.len();
        let json;
        let value = match op.value {
            ValueRef::Null => None,
            ValueRef::Json(v) => {
                json = v.to_string();
                Some(json.as_str())
            }
            other => other.text(),
        };
        let lens = [
            self.put(Some(&op.f)),
            self.put(value),
            self.put(op.node.as_deref()),
            self.put(op.error.as_deref()),
        ];
        self.recs.push(Rec {
            line: 0, // set by the reader loop once `op` is no longer borrowed
            index: op.index,
            time: op.time,
            process: op.process,
            kind: op.kind,
            at,
            lens,
        });
    }

    fn full(&self) -> bool {
        self.text.len() >= BATCH_BYTES || self.recs.len() >= BATCH_OPS
    }

    fn clear(&mut self) {
        self.text.clear();
        self.recs.clear();
    }

    /// The ops of `recs` (a run of this batch's records).
    fn ops<'b>(&'b self, recs: &'b [Rec]) -> impl Iterator<Item = OpRef<'b>> {
        self.lines(recs).map(|(_, op)| op)
    }

    /// The ops of `recs` with their line numbers.
    fn lines<'b>(&'b self, recs: &'b [Rec]) -> impl Iterator<Item = (u64, OpRef<'b>)> {
        let t = self.text.as_str();
        recs.iter().map(move |r| {
            let mut at = r.at;
            let mut next = |i: usize| {
                let len = r.lens[i];
                (len != ABSENT).then(|| {
                    let s = &t[at..at + len];
                    at += len;
                    s
                })
            };
            let f = next(0).unwrap_or_default();
            let value = next(1).map_or(ValueRef::Null, ValueRef::Text);
            let node = next(2).map(Cow::Borrowed);
            let error = next(3).map(Cow::Borrowed);
            let op = OpRef {
                index: r.index,
                time: r.time,
                process: r.process,
                kind: r.kind,
                f: Cow::Borrowed(f),
                value,
                node,
                error,
            };
            (r.line, op)
        })
    }
}

/// Reads every op of `reader` on a second thread and feeds them, in order, to `checker` on
/// this one. Returns the history's first error (after `checker` has seen every op before it),
/// or the reader's warnings: the same as [`HistoryReader::next_ref`] would give.
///
/// The work is split so the reading thread, the one that takes longer, does less: it reads
/// and parses; this thread applies the sequence rules ([`Validator`]) and checks. Logs
/// (debug) when the reader finished and when the checker caught up.
pub(crate) fn run<R: BufRead + Send>(
    reader: HistoryReader<R>,
    checker: &mut Checker,
) -> Result<Vec<Warning>, HistoryError> {
    let start = std::time::Instant::now();
    let path = reader.path().map(Path::to_path_buf);
    let mut reader = reader.unvalidated();
    let mut validator = Validator::new();
    let (tx, rx) = mpsc::sync_channel::<Batch>(DEPTH);
    let (back_tx, back_rx) = mpsc::channel::<Batch>();
    std::thread::scope(|s| {
        let producer = s.spawn(move || -> Result<Vec<Warning>, HistoryError> {
            let mut batch = Batch::default();
            let mut outcome = Ok(());
            while let Some(op) = reader.next_ref() {
                match op {
                    Ok(op) => batch.push(&op),
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
                if let Some(rec) = batch.recs.last_mut() {
                    rec.line = reader.lines_read();
                }
                if batch.full() {
                    let next = back_rx.try_recv().unwrap_or_default();
                    if tx.send(std::mem::replace(&mut batch, next)).is_err() {
                        break; // the consumer is gone (it panicked): stop reading
                    }
                }
            }
            if !batch.recs.is_empty() {
                let _ = tx.send(batch);
            }
            tracing::debug!(
                elapsed_ms = start.elapsed().as_secs_f64() * 1e3,
                lines = reader.lines_read(),
                "history read and parsed"
            );
            outcome.map(|()| reader.warnings().to_vec())
        });
        let mut hashes = Vec::new();
        let mut invalid = None;
        'batches: while let Some(mut batch) = next_batch(&rx) {
            // In runs of ops: first load the task-table slots the next run will touch (the
            // loads overlap), then check this run, whose slots were loaded one run ago. One run
            // ahead, not the whole batch: a batch's worth of slots would be out of the cache
            // again by the time they are used.
            checker.begin_batch(&batch.text);
            let mut touch = |recs: &[Rec], checker: &Checker| {
                hashes.clear();
                hashes.extend(batch.ops(recs).filter_map(|op| checker.touch_hash(&op)));
                checker.touch(&hashes);
            };
            let mut runs = batch.recs.chunks(RUN).peekable();
            if let Some(first) = runs.peek() {
                touch(first, checker);
            }
            while let Some(run) = runs.next() {
                if let Some(next) = runs.peek() {
                    touch(next, checker);
                }
                for (line, op) in batch.lines(run) {
                    let head = OpHead {
                        index: op.index,
                        time: op.time,
                        process: op.process,
                        kind: op.kind,
                        f: &op.f,
                    };
                    let at = || Location {
                        path: path.clone(),
                        line,
                    };
                    if let Err(e) = validator.observe(&head, at) {
                        invalid = Some(e);
                        break 'batches;
                    }
                    checker.observe(&op);
                }
            }
            checker.end_batch(&mut batch.text);
            batch.clear();
            let _ = back_tx.send(batch);
        }
        tracing::debug!(
            elapsed_ms = start.elapsed().as_secs_f64() * 1e3,
            "every op observed"
        );
        // An op that breaks the sequence rules ends the history here: every op before it
        // has been checked, and the reader (stopped by the closed channel) read no further
        // than a line after it, so its own error, if any, comes later in the file.
        drop(rx);
        let read = producer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match invalid {
            Some(e) => Err(e),
            None => read,
        }
    })
}

/// How long the checking thread polls for the next batch before it sleeps.
const POLL: std::time::Duration = std::time::Duration::from_millis(2);

/// The next batch, or `None` when the reader is done. Polls for a short while before
/// sleeping: the checker is usually a little ahead of the reader, and a sleep means a wake-up
/// by the reader for nearly every batch, each an inter-processor interrupt, and a chance for
/// the scheduler to wake the checker on the reader's core (the two then share one core until
/// the load balancer parts them again).
fn next_batch(rx: &mpsc::Receiver<Batch>) -> Option<Batch> {
    let start = std::time::Instant::now();
    loop {
        match rx.try_recv() {
            Ok(b) => return Some(b),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) if start.elapsed() < POLL => {
                // Yield, not only spin: when the machine is busy and the reader thread waits
                // for this very core, polling must not keep it from running.
                std::thread::yield_now();
            }
            Err(mpsc::TryRecvError::Empty) => return rx.recv().ok(),
        }
    }
}
