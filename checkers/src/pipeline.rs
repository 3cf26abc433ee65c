//! Reading and checking on two cores: a reader thread reads, parses and validates the history
//! (exactly as [`HistoryReader`] does on its own) and hands the ops over in batches; the
//! calling thread runs the checkers on them. The end-to-end time then approaches the time of
//! reading alone (the issue-2 benchmark, docs/performance-check.md).
//!
//! A batch copies each op's strings (`f`, value text, node, error) into one text buffer, so it
//! owns its data and can cross threads; batches are recycled, and at most [`DEPTH`] are in
//! flight, so memory stays bounded (one batch holds at least one op, so a single huge line,
//! such as the final read, is one batch of its own).

use std::borrow::Cow;
use std::io::BufRead;
use std::ops::Range;
use std::sync::mpsc;

use histories::{HistoryError, HistoryReader, OpRef, OpType, Process, ValueRef, Warning};

/// Batches in flight between the threads.
const DEPTH: usize = 4;
/// A batch is handed over once its text reaches this size …
const BATCH_BYTES: usize = 1 << 18;
/// … or it holds this many ops.
const BATCH_OPS: usize = 4096;

/// One op of a batch: the fixed fields, and where its strings are in the batch text.
struct Rec {
    index: u64,
    time: u64,
    process: Process,
    kind: OpType,
    f: Range<usize>,
    value: Option<Range<usize>>,
    node: Option<Range<usize>>,
    error: Option<Range<usize>>,
}

/// Ops read by the reader thread, owning their strings.
#[derive(Default)]
struct Batch {
    text: String,
    recs: Vec<Rec>,
}

impl Batch {
    fn put(&mut self, s: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(s);
        start..self.text.len()
    }

    fn push(&mut self, op: &OpRef<'_>) {
        let f = self.put(&op.f);
        let value = match op.value {
            ValueRef::Null => None,
            ValueRef::Json(v) => Some(self.put(&v.to_string())),
            other => other.text().map(|t| self.put(t)),
        };
        let node = op.node.as_deref().map(|s| self.put(s));
        let error = op.error.as_deref().map(|s| self.put(s));
        self.recs.push(Rec {
            index: op.index,
            time: op.time,
            process: op.process,
            kind: op.kind,
            f,
            value,
            node,
            error,
        });
    }

    fn full(&self) -> bool {
        self.text.len() >= BATCH_BYTES || self.recs.len() >= BATCH_OPS
    }

    fn clear(&mut self) {
        self.text.clear();
        self.recs.clear();
    }

    fn ops(&self) -> impl Iterator<Item = OpRef<'_>> {
        let t = self.text.as_str();
        self.recs.iter().map(move |r| OpRef {
            index: r.index,
            time: r.time,
            process: r.process,
            kind: r.kind,
            f: Cow::Borrowed(&t[r.f.clone()]),
            value: r
                .value
                .clone()
                .map_or(ValueRef::Null, |v| ValueRef::Text(&t[v])),
            node: r.node.clone().map(|v| Cow::Borrowed(&t[v])),
            error: r.error.clone().map(|v| Cow::Borrowed(&t[v])),
        })
    }
}

/// Reads every op of `reader` on a second thread and feeds them, in order, to `consume` on
/// this one. Returns the reader's first error (after `consume` has seen every op before it),
/// or its warnings.
pub(crate) fn run<R: BufRead + Send>(
    mut reader: HistoryReader<R>,
    mut consume: impl FnMut(&OpRef<'_>),
) -> Result<Vec<Warning>, HistoryError> {
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
            outcome.map(|()| reader.warnings().to_vec())
        });
        for mut batch in rx {
            for op in batch.ops() {
                consume(&op);
            }
            batch.clear();
            let _ = back_tx.send(batch);
        }
        producer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
