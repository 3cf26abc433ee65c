//! Reading and checking on two cores. A reader thread reads the history in chunks of whole
//! lines ([`crate::chunks`]); both threads parse chunks, whichever is free; the calling
//! thread checks the parsed chunks in file order, applying the sequence rules
//! ([`Validator`]) as it goes. The end-to-end time then approaches half the time of reading,
//! parsing and checking on one core (the issue-2 benchmark, docs/performance-check.md).
//!
//! The chunks wait in a queue of at most [`DEPTH`], so memory stays bounded. The checking
//! thread takes the front chunk when it is parsed, and parses it itself when nobody has yet;
//! when the reader is parsing it, the checker parses a later one meanwhile. The reader keeps
//! the queue full and parses the oldest chunk nobody has taken. So the work balances itself:
//! whichever thread has less to do parses more.
//!
//! A checker may keep a chunk's text instead of copying out of it ([`Checker::end_batch`]):
//! the tasks checker does so for a large final read.
//!
//! What the measurements taught (each cost tens of milliseconds in a 0.3-second check): a
//! thread that finds nothing to do polls briefly before it sleeps ([`Shared::wait`]), and
//! the checker loads the task-table slots of the next run of ops while it checks the
//! current one ([`Checker::touch`]).

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use histories::{HistoryError, Location, Validator, Warning};

use crate::chunks::{Chunk, ChunkReader, Ending};
use crate::Checker;

/// Ops checked as a run, with the task-table slots of the next run loaded meanwhile.
const RUN: usize = 256;

/// Chunks in the queue (read, being parsed, or parsed and waiting to be checked).
const DEPTH: usize = 8;

/// The reader reads ahead only while the queue holds less text than this: a file of very
/// long lines then has a few of them in memory at a time, not [`DEPTH`].
const QUEUE_BYTES: usize = DEPTH * crate::chunks::CHUNK_BYTES;

/// How long a thread with nothing to do polls before it sleeps.
const POLL: Duration = Duration::from_millis(2);

/// A queued chunk.
enum Slot {
    /// Read, not parsed.
    Raw(Chunk),
    /// Being parsed by one of the threads.
    Busy,
    /// Parsed, waiting to be checked.
    Parsed(Chunk),
}

struct Queue {
    /// In file order, with their sizes; the front is the next to check.
    slots: VecDeque<(usize, Slot)>,
    /// The sum of the sizes in `slots`.
    queued_bytes: usize,
    /// The number in the file of `slots[0]` (chunks counted from 0).
    front: u64,
    /// The reader has read the whole file: no more slots will come.
    read_all: bool,
    /// The checker has stopped (an error in the history, or a panic): the reader stops too.
    stop: bool,
    /// Checked chunks, for the reader to reuse.
    free: Vec<Chunk>,
    /// Threads asleep on [`Shared::changed`].
    sleeping: u32,
    /// The reader thread panicked (the checker stops; the panic reaches the caller).
    reader_panicked: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
    /// Counts the changes to the queue, so a polling thread sees them without the lock.
    generation: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves a queue that is still consistent (every
        // change is a single assignment), and the panic itself reaches the caller.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells a waiting thread that the queue changed (the guard proves the lock is held).
    fn changed(&self, q: &MutexGuard<'_, Queue>) {
        self.generation.fetch_add(1, Ordering::Release);
        if q.sleeping > 0 {
            self.changed.notify_all();
        }
    }

    /// Waits until the queue changes. Polls for [`POLL`] first: the change is usually near
    /// (a chunk's parse), and a sleep means a wake-up by the other thread for nearly every
    /// chunk, each an inter-processor interrupt, and a chance for the scheduler to wake the
    /// sleeper on the other thread's core.
    fn wait<'a>(&'a self, q: MutexGuard<'a, Queue>) -> MutexGuard<'a, Queue> {
        let seen = self.generation.load(Ordering::Acquire);
        drop(q);
        let start = Instant::now();
        while start.elapsed() < POLL {
            if self.generation.load(Ordering::Acquire) != seen {
                return self.lock();
            }
            // Yield, not only spin: on a busy machine the other thread may wait for this
            // very core.
            std::thread::yield_now();
        }
        let mut q = self.lock();
        if self.generation.load(Ordering::Acquire) != seen {
            return q;
        }
        q.sleeping += 1;
        let mut q = self
            .changed
            .wait_while(q, |_| self.generation.load(Ordering::Acquire) == seen)
            .unwrap_or_else(|e| e.into_inner());
        q.sleeping -= 1;
        q
    }

    /// Takes the oldest chunk nobody has taken, leaving [`Slot::Busy`]; with its number.
    fn take_raw(q: &mut Queue) -> Option<(u64, Chunk)> {
        let i = q.slots.iter().position(|s| matches!(s.1, Slot::Raw(_)))?;
        match std::mem::replace(&mut q.slots[i].1, Slot::Busy) {
            Slot::Raw(c) => Some((q.front + i as u64, c)),
            _ => None,
        }
    }

    /// Parses a chunk taken by [`Shared::take_raw`] and puts it back, parsed.
    fn parse_taken<'a>(
        &'a self,
        q: MutexGuard<'a, Queue>,
        number: u64,
        mut chunk: Chunk,
    ) -> MutexGuard<'a, Queue> {
        drop(q);
        chunk.parse();
        let mut q = self.lock();
        let i = number.wrapping_sub(q.front) as usize;
        if let Some((_, slot)) = q.slots.get_mut(i) {
            *slot = Slot::Parsed(chunk);
        }
        self.changed(&q);
        q
    }
}

/// Reads every op of `src` (a history file; `path` names it in errors) on a second thread
/// and feeds them, in order, to `checker` on this one. Returns the history's first error
/// (after `checker` has seen every op before it), or the reader's warnings: the same as
/// [`histories::HistoryReader::next_ref`] would give.
pub(crate) fn run<R: Read + Send>(
    src: R,
    path: Option<&Path>,
    checker: &mut Checker,
) -> Result<Vec<Warning>, HistoryError> {
    run_with(ChunkReader::new(src), path, checker)
}

fn run_with<R: Read + Send>(
    chunks: ChunkReader<R>,
    path: Option<&Path>,
    checker: &mut Checker,
) -> Result<Vec<Warning>, HistoryError> {
    let start = Instant::now();
    let shared = Shared {
        queue: Mutex::new(Queue {
            slots: VecDeque::with_capacity(DEPTH),
            queued_bytes: 0,
            front: 0,
            read_all: false,
            stop: false,
            free: Vec::new(),
            sleeping: 0,
            reader_panicked: false,
        }),
        changed: Condvar::new(),
        generation: AtomicU64::new(0),
    };
    std::thread::scope(|s| {
        let reader = s.spawn(|| read_and_parse(chunks, &shared, start));
        // Stops the reader however this thread leaves the scope, a panic included.
        struct StopOnDrop<'a>(&'a Shared);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                let mut q = self.0.lock();
                q.stop = true;
                q.slots.clear();
                q.queued_bytes = 0;
                self.0.changed(&q);
            }
        }
        let stop = StopOnDrop(&shared);
        let outcome = check_in_order(&shared, path, checker);
        tracing::debug!(
            elapsed_ms = start.elapsed().as_secs_f64() * 1e3,
            "every op observed"
        );
        drop(stop);
        reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        outcome
    })
}

/// The reader thread: keeps the queue full, and parses the oldest chunk nobody has taken.
fn read_and_parse<R: Read>(mut chunks: ChunkReader<R>, shared: &Shared, start: Instant) {
    // A panic here (a chunk that was taken is then never put back) must not leave the
    // checker waiting for it.
    struct OnPanic<'a>(&'a Shared);
    impl Drop for OnPanic<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let mut q = self.0.lock();
                q.reader_panicked = true;
                self.0.changed(&q);
            }
        }
    }
    let _on_panic = OnPanic(shared);
    let mut more = true;
    let mut q = shared.lock();
    loop {
        if q.stop {
            return;
        }
        // Two chunks whatever their size, so that one thread can parse a long line while the
        // other reads the next.
        if more && q.slots.len() < DEPTH && (q.slots.len() < 2 || q.queued_bytes < QUEUE_BYTES) {
            let mut chunk = q.free.pop().unwrap_or_default();
            drop(q);
            more = chunks.next_into(&mut chunk);
            q = shared.lock();
            if more {
                let bytes = chunk.size();
                q.queued_bytes += bytes;
                q.slots.push_back((bytes, Slot::Raw(chunk)));
            } else {
                q.read_all = true;
                tracing::debug!(
                    elapsed_ms = start.elapsed().as_secs_f64() * 1e3,
                    "history read"
                );
            }
            shared.changed(&q);
            continue;
        }
        if let Some((number, chunk)) = Shared::take_raw(&mut q) {
            q = shared.parse_taken(q, number, chunk);
            continue;
        }
        if !more {
            return; // read, and nothing left to parse
        }
        q = shared.wait(q);
    }
}

/// The checking thread: checks the chunks in file order, parsing what nobody has yet.
fn check_in_order(
    shared: &Shared,
    path: Option<&Path>,
    checker: &mut Checker,
) -> Result<Vec<Warning>, HistoryError> {
    let mut validator = Validator::new();
    let mut hashes = Vec::new();
    let mut first_line = 1u64;
    let mut q = shared.lock();
    loop {
        if q.reader_panicked {
            return Ok(Vec::new()); // the caller's join passes the panic on
        }
        let mut chunk = match q.slots.front().map(|s| &s.1) {
            Some(Slot::Raw(_) | Slot::Parsed(_)) => {
                let slot = q.slots.pop_front().map(|(bytes, slot)| {
                    q.queued_bytes -= bytes;
                    slot
                });
                q.front += 1;
                shared.changed(&q);
                drop(q);
                match slot {
                    Some(Slot::Raw(c) | Slot::Parsed(c)) => c,
                    _ => unreachable!("the front slot was just matched"),
                }
            }
            Some(Slot::Busy) => {
                // The reader is parsing the front chunk: parse a later one meanwhile.
                q = match Shared::take_raw(&mut q) {
                    Some((number, chunk)) => shared.parse_taken(q, number, chunk),
                    None => shared.wait(q),
                };
                continue;
            }
            None if q.read_all => return Ok(Vec::new()),
            None => {
                q = shared.wait(q);
                continue;
            }
        };
        chunk.parse();
        check_chunk(
            &chunk,
            first_line,
            path,
            &mut validator,
            &mut hashes,
            checker,
        )?;
        // Before the ending: a final read in this chunk's text is kept either way.
        checker.end_batch(&mut chunk.text);
        if let Some(ending) = chunk.ending(path, first_line) {
            return match ending {
                Ending::Warning(w) => {
                    tracing::warn!("{w}");
                    Ok(vec![w])
                }
                Ending::Error(e) => Err(e),
            };
        }
        first_line += chunk.lines();
        chunk.clear();
        q = shared.lock();
        q.free.push(chunk);
    }
}

/// Checks the ops of a parsed chunk, in runs: first the task-table slots the next run will
/// touch are loaded (the loads overlap), then this run is checked, whose slots were loaded
/// one run ago. One run ahead, not the whole chunk: a chunk's worth of slots would be out of
/// the cache again by the time they are used.
fn check_chunk(
    chunk: &Chunk,
    first_line: u64,
    path: Option<&Path>,
    validator: &mut Validator,
    hashes: &mut Vec<crate::id_table::IdHash>,
    checker: &mut Checker,
) -> Result<(), HistoryError> {
    checker.begin_batch(&chunk.text);
    let n = chunk.len();
    let runs = || (0..n).step_by(RUN).map(move |at| at..(at + RUN).min(n));
    let mut touch = |run: std::ops::Range<usize>, checker: &Checker| {
        hashes.clear();
        hashes.extend(
            chunk
                .ops(run, first_line)
                .filter_map(|(_, op)| checker.touch_hash(&op)),
        );
        checker.touch(hashes);
    };
    let mut ahead = runs().skip(1);
    if n > 0 {
        touch(0..RUN.min(n), checker);
    }
    for run in runs() {
        if let Some(next) = ahead.next() {
            touch(next, checker);
        }
        for (line, op) in chunk.ops(run, first_line) {
            let head = op.head();
            let at = || Location {
                path: path.map(Path::to_path_buf),
                line,
            };
            validator.observe(&head, at)?;
            checker.observe(&op);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
