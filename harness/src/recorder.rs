//! The recorder: the one writer of `history.jsonl` during a run.
//!
//! Every op is appended (and flushed to the OS) as it happens, under one lock that also
//! assigns the index and the time, so file order, index order and time order agree. An
//! invoke is written *before* its request is sent and a completion *after* its response
//! arrived, so each recorded interval contains the real one (the checkers' certain-hold and
//! real-time reasoning depends on that). Nemesis events carry the instant the nemesis says
//! the fault took effect; if ops were written after that instant meanwhile, the event's time
//! is raised to the last written time, so times never go back.
//!
//! A failed write (a full disk) poisons the recorder: the file is left as it is (possibly
//! ending in a cut line, which the reader reports), no later op is written after it (a line
//! appended after a cut one would hide the cut), and every op from then on is counted as lost.
//! The run's verdict is then never valid ([`Recorder::loss`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use histories::{HistoryWriter, Op, OpType, Process};
use serde::Serialize;
use serde_json::Value;

/// Counts of completions for one `f`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Completed ok.
    pub ok: u64,
    /// Certainly did not happen.
    pub fail: u64,
    /// Unknown.
    pub info: u64,
}

#[derive(Debug)]
struct Inner {
    writer: Option<HistoryWriter>,
    next_index: u64,
    last_time: u64,
    counts: BTreeMap<String, Counts>,
    nemesis_events: u64,
    error: Option<String>,
    /// Ops that could not be written (the failed one and every one after it).
    lost: u64,
}

/// Where a recorder's times come from: ns since the history's time 0. The real runs use
/// [`MonotonicClock`]; a simulated run gives its virtual time, so the same recorder (index
/// counter, times that never go back, poisoning) serves both.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in ns since time 0.
    fn now_ns(&self) -> u64;
}

/// The OS's monotonic clock, time 0 at construction.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock(pub Instant);

impl Clock for MonotonicClock {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The shared history writer of one run. Time 0 is the start of the main phase.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    clock: Box<dyn Clock>,
    inner: Mutex<Inner>,
}

/// The completion of one client op, as a client reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Ok, Fail or Info (never Invoke).
    pub kind: OpType,
    /// The completion's value (for ok ops: the invoke value plus what the response added).
    pub value: Value,
    /// Why it failed or is unknown.
    pub error: Option<String>,
}

impl Completion {
    /// It happened, with this value.
    pub fn ok(value: Value) -> Self {
        Completion {
            kind: OpType::Ok,
            value,
            error: None,
        }
    }

    /// It certainly did not happen.
    pub fn fail(value: Value, error: impl Into<String>) -> Self {
        Completion {
            kind: OpType::Fail,
            value,
            error: Some(error.into()),
        }
    }

    /// It may or may not have happened.
    pub fn info(value: Value, error: impl Into<String>) -> Self {
        Completion {
            kind: OpType::Info,
            value,
            error: Some(error.into()),
        }
    }
}

impl Recorder {
    /// Creates `path` and starts the clock (the OS's monotonic one).
    pub fn create(path: &Path) -> histories::Result<Recorder> {
        let start = Instant::now();
        Self::with_clock(path, start, Box::new(MonotonicClock(start)))
    }

    /// Creates `path`, taking time from `clock`; `start` is the instant the nemesis's
    /// [`Recorder::nemesis`] times are measured from (a virtual clock uses
    /// [`Recorder::nemesis_at`] instead).
    pub fn with_clock(
        path: &Path,
        start: Instant,
        clock: Box<dyn Clock>,
    ) -> histories::Result<Recorder> {
        Ok(Recorder {
            start,
            clock,
            inner: Mutex::new(Inner {
                writer: Some(HistoryWriter::create(path)?),
                next_index: 0,
                last_time: 0,
                counts: BTreeMap::new(),
                nemesis_events: 0,
                error: None,
                lost: 0,
            }),
        })
    }

    /// The instant that is time 0 of the history.
    pub fn start(&self) -> Instant {
        self.start
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn since_start(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX)
    }

    fn append(&self, inner: &mut Inner, mut op: Op, time_ns: u64) {
        op.index = inner.next_index;
        op.time = time_ns.max(inner.last_time);
        let Some(w) = inner.writer.as_mut() else {
            // Closed, or poisoned by an earlier failed write.
            inner.lost += 1;
            return;
        };
        match w.append(&op) {
            Ok(()) => {
                inner.next_index += 1;
                inner.last_time = op.time;
            }
            Err(e) => {
                tracing::error!("history: {e}; no further op is written");
                inner.error.get_or_insert_with(|| e.to_string());
                inner.lost += 1;
                // Dropping the writer closes the file without appending anything more.
                inner.writer = None;
            }
        }
    }

    /// Records an invoke; call it right before sending the request.
    pub fn invoke(&self, process: u64, f: &str, value: Value, node: Option<&str>) {
        let mut inner = self.lock();
        let op = Op {
            index: 0,
            time: 0,
            process: Process::Client(process),
            kind: OpType::Invoke,
            f: f.to_owned(),
            value,
            node: node.map(str::to_owned),
            error: None,
        };
        let now = self.clock.now_ns();
        self.append(&mut inner, op, now);
    }

    /// Records a completion; call it right after the response arrived (or the wait ended).
    pub fn complete(&self, process: u64, f: &str, c: Completion, node: Option<&str>) {
        let mut inner = self.lock();
        let counts = inner.counts.entry(f.to_owned()).or_default();
        match c.kind {
            OpType::Ok => counts.ok += 1,
            OpType::Fail => counts.fail += 1,
            _ => counts.info += 1,
        }
        let op = Op {
            index: 0,
            time: 0,
            process: Process::Client(process),
            kind: c.kind,
            f: f.to_owned(),
            value: c.value,
            node: node.map(str::to_owned),
            error: c.error,
        };
        let now = self.clock.now_ns();
        self.append(&mut inner, op, now);
    }

    /// Records a nemesis event that took effect at `at`.
    pub fn nemesis(&self, f: &str, value: Value, at: Instant) {
        self.nemesis_at(f, value, self.since_start(at));
    }

    /// Records a nemesis event that took effect at `time_ns` (ns since time 0).
    pub fn nemesis_at(&self, f: &str, value: Value, time_ns: u64) {
        let mut inner = self.lock();
        inner.nemesis_events += 1;
        let op = Op {
            index: 0,
            time: 0,
            process: Process::Nemesis,
            kind: OpType::Info,
            f: f.to_owned(),
            value,
            node: None,
            error: None,
        };
        self.append(&mut inner, op, time_ns);
    }

    /// Completions so far, per `f`.
    pub fn counts(&self) -> BTreeMap<String, Counts> {
        self.lock().counts.clone()
    }

    /// Ops written so far.
    pub fn len(&self) -> u64 {
        self.lock().next_index
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The history's loss so far: how many ops could not be written and the first write
    /// error, or `None` when every op was written.
    pub fn loss(&self) -> Option<(u64, String)> {
        let inner = self.lock();
        let error = inner.error.clone()?;
        Some((inner.lost, error))
    }

    /// Closes the file (fsync). Later appends are dropped and counted lost. Reports the
    /// first write error.
    pub fn close(&self) -> Result<(), String> {
        let mut inner = self.lock();
        if let Some(w) = inner.writer.take() {
            if let Err(e) = w.close() {
                inner.error.get_or_insert_with(|| e.to_string());
            }
        }
        match &inner.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// A clock the test sets.
    #[derive(Debug, Default)]
    struct Manual(Arc<AtomicU64>);
    impl Clock for Manual {
        fn now_ns(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// Proves the recorder takes its times from the clock it is given (a simulator's virtual
    /// time), and still never writes a time that goes back.
    #[test]
    fn times_come_from_the_given_clock_and_never_go_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let now = Arc::new(AtomicU64::new(5_000));
        let r = Recorder::with_clock(&path, Instant::now(), Box::new(Manual(now.clone()))).unwrap();
        r.invoke(0, "submit", json!({"task": "t0-1"}), None);
        now.store(9_000, Ordering::SeqCst);
        r.complete(0, "submit", Completion::ok(json!({"task": "t0-1"})), None);
        r.nemesis_at("kill", json!({}), 7_000);
        r.nemesis_at("heal", json!({}), 12_000);
        r.close().unwrap();
        let times: Vec<u64> = histories::HistoryReader::open(&path)
            .unwrap()
            .map(|o| o.unwrap().time)
            .collect();
        assert_eq!(times, vec![5_000, 9_000, 9_000, 12_000]);
    }

    #[test]
    fn records_in_order_with_monotonic_times_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let r = Recorder::create(&path).unwrap();
        let early = r.start();
        r.invoke(0, "submit", json!({"task": "t0-1"}), Some("n1"));
        r.complete(
            0,
            "submit",
            Completion::ok(json!({"task": "t0-1"})),
            Some("n1"),
        );
        // A nemesis event that took effect before the last op is not written back in time.
        r.nemesis("kill", json!({"kind": "kill", "nodes": ["n2"]}), early);
        r.invoke(1, "acquire", json!({"lock": "l0", "ttl_ms": 10}), None);
        r.complete(
            1,
            "acquire",
            Completion::info(json!({"lock": "l0"}), "timeout"),
            None,
        );
        r.close().unwrap();
        let ops: Vec<Op> = histories::HistoryReader::open(&path)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(ops.len(), 5);
        for (i, w) in ops.windows(2).enumerate() {
            assert_eq!(w[0].index, i as u64);
            assert!(w[0].time <= w[1].time, "{:?}", w);
        }
        assert_eq!(ops[2].process, Process::Nemesis);
        assert_eq!(ops[2].time, ops[1].time);
        let c = r.counts();
        assert_eq!(c["submit"].ok, 1);
        assert_eq!(c["acquire"].info, 1);
    }

    /// Proves a failed write poisons the recorder: `/dev/full` fails every write with
    /// ENOSPC, as a full disk does; every op from then on is counted lost, and the error is
    /// kept for the verdict.
    #[test]
    fn a_failed_write_loses_every_later_op_and_says_so() {
        let start = Instant::now();
        let r = Recorder {
            start,
            clock: Box::new(MonotonicClock(start)),
            inner: Mutex::new(Inner {
                writer: Some(HistoryWriter::from_file(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open("/dev/full")
                        .unwrap(),
                    "/dev/full",
                )),
                next_index: 0,
                last_time: 0,
                counts: BTreeMap::new(),
                nemesis_events: 0,
                error: None,
                lost: 0,
            }),
        };
        r.invoke(0, "submit", json!({"task": "t0-1"}), None);
        r.complete(0, "submit", Completion::ok(json!({"task": "t0-1"})), None);
        r.invoke(1, "submit", json!({"task": "t1-1"}), None);
        assert_eq!(r.len(), 0);
        let (lost, why) = r.loss().expect("the loss is reported");
        assert_eq!(lost, 3);
        assert!(why.contains("No space left"), "{why}");
        assert!(r.close().is_err());
    }
}
