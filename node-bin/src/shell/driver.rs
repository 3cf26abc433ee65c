//! The core's own thread, and the log thread behind it.
//!
//! The core thread feeds inputs to [`Node::step`] in batches and hands each batch's log
//! records and acceptor replies to the log thread as one job. The log thread appends the
//! records of all jobs queued so far with one fsync (group commit) and only then releases the
//! acceptor replies, in order (replies to this node's own proposer go back into the core). A
//! proposer therefore only ever counts durable promises and accepts, so its requests, gossip and
//! client replies leave at once, and the core keeps working while the disk syncs. This is the
//! durability contract of `core::node` (its module docs), which `gauntlet-sim` enforces too.

use super::storage::Log;
use super::taskview::TaskView;
use crate::core::message::{NodeId, PeerMsg};
use crate::core::node::{ClientCmd, ClientResp, Input, Node, Output};
use crate::core::taskread::Entry;
use crate::core::wal::{self, Record};
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc::UnboundedSender, oneshot};

/// What the IO tasks hand to the core thread.
#[derive(Debug)]
pub enum DriverMsg {
    Peer {
        from: NodeId,
        msg: PeerMsg,
    },
    Client {
        cmd: ClientCmd,
        reply: oneshot::Sender<ClientResp>,
    },
    /// A member's durable task registers for a quorum read (see [`Output::FetchTasks`]).
    Tasks {
        read: u64,
        from: NodeId,
        snapshot: Option<Vec<Entry>>,
    },
    Stop,
}

/// Where the core thread's outputs leave for: peer datagrams, and the fetches of a quorum
/// read (carried out over HTTP by [`super::http::fetch_loop`]).
#[derive(Debug)]
pub struct Io {
    pub net: UnboundedSender<(NodeId, PeerMsg)>,
    pub fetch: UnboundedSender<Fetch>,
}

/// What the core thread asks of the fetches of its quorum reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// Fetch `from`'s durable task registers for read `read`.
    Start { read: u64, from: NodeId },
    /// Read `read` was answered: abandon its fetches still running.
    Done { read: u64 },
}

const MAX_BATCH: usize = 4096;

/// One batch's durable effects: records, and the acceptor replies that wait for them.
struct Job {
    records: Vec<Record>,
    sends: Vec<(NodeId, PeerMsg)>,
    /// Replace the log by these records (compaction), after the earlier jobs' records.
    compact: Option<Vec<Record>>,
}

/// Runs the core until `Stop` or until every sender is gone.
#[allow(clippy::too_many_arguments)]
pub fn run(
    mut node: Node,
    log: Log,
    view: Arc<TaskView>,
    rx: Receiver<DriverMsg>,
    core: Sender<DriverMsg>,
    io: Io,
    start: super::clock::CoreClock,
    tick: Duration,
) {
    let Io { net, fetch } = io;
    let mut records_in_log = log.records();
    let me = node.id().clone();
    let net2 = net.clone();
    let (jobs_tx, jobs_rx) = std::sync::mpsc::channel::<Job>();
    let persister = std::thread::Builder::new()
        .name("log".into())
        .spawn(move || persist_loop(log, view, jobs_rx, me, core, net2))
        .expect("spawn the log thread");
    let mut replies: BTreeMap<u64, oneshot::Sender<ClientResp>> = BTreeMap::new();
    // Quorum reads whose fetches are running (a read's id is its client request's).
    let mut reads = std::collections::BTreeSet::new();
    let mut next_req = 0u64;
    // Ticks come at the core's next deadline, but never closer together than `tick` (the
    // timer resolution); a tick before the deadline would change nothing (`Node::next_deadline`).
    let mut last_tick = Instant::now();
    let mut next_tick = Instant::now();
    let mut out = Vec::new();
    let mut batch = Vec::new();
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(m) => batch.push(m),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let now = start.elapsed();
        let mut stop = false;
        for m in batch.drain(..) {
            let input = match m {
                DriverMsg::Peer { from, msg } => Input::Peer { from, msg },
                DriverMsg::Client { cmd, reply } => {
                    next_req += 1;
                    replies.insert(next_req, reply);
                    Input::Client { req: next_req, cmd }
                }
                DriverMsg::Tasks {
                    read,
                    from,
                    snapshot,
                } => Input::Tasks {
                    read,
                    from,
                    snapshot,
                },
                DriverMsg::Stop => {
                    stop = true;
                    continue;
                }
            };
            node.step(now, input, &mut out);
        }
        if Instant::now() >= next_tick {
            node.step(now, Input::Tick, &mut out);
            last_tick = Instant::now();
        }
        // The deadline as a wait from `now`, the time the core was given: whatever clock the
        // core is fed, its deadlines are on that clock.
        let until_deadline = node.next_deadline().saturating_sub(now);
        next_tick = (last_tick + tick).max(Instant::now() + until_deadline);
        let mut job = Job {
            records: Vec::new(),
            sends: Vec::new(),
            compact: None,
        };
        for o in out.drain(..) {
            match o {
                Output::Persist(r) => job.records.push(r),
                Output::Send { to, msg } => {
                    if matches!(msg, PeerMsg::Promise { .. } | PeerMsg::Accepted { .. }) {
                        job.sends.push((to, msg));
                    } else {
                        let _ = net.send((to, msg));
                    }
                }
                Output::Reply { req, resp } => {
                    if reads.remove(&req) {
                        let _ = fetch.send(Fetch::Done { read: req });
                    }
                    if let Some(tx) = replies.remove(&req) {
                        let _ = tx.send(resp);
                    }
                }
                Output::FetchTasks { read, from } => {
                    reads.insert(read);
                    let _ = fetch.send(Fetch::Start { read, from });
                }
            }
        }
        records_in_log += job.records.len();
        if wal::should_compact(records_in_log, node.live_keys()) {
            let live = node.records();
            records_in_log = live.len();
            job.compact = Some(live);
        }
        for c in node.take_membership_changes() {
            tracing::info!(member = %c.id, state = c.state.as_str(), incarnation = c.incarnation, "membership change");
        }
        let empty = job.records.is_empty() && job.sends.is_empty() && job.compact.is_none();
        if !empty && jobs_tx.send(job).is_err() {
            break;
        }
        if stop {
            break;
        }
    }
    drop(jobs_tx);
    let _ = persister.join();
    tracing::info!("core stopped");
}

/// The log thread: group commit, then release the jobs' effects in order.
fn persist_loop(
    mut log: Log,
    view: Arc<TaskView>,
    rx: Receiver<Job>,
    me: NodeId,
    core: Sender<DriverMsg>,
    net: UnboundedSender<(NodeId, PeerMsg)>,
) {
    let mut jobs = Vec::new();
    while let Ok(first) = rx.recv() {
        jobs.push(first);
        while let Ok(j) = rx.try_recv() {
            jobs.push(j);
        }
        let mut pending: Vec<Record> = Vec::new();
        for j in jobs.iter_mut() {
            pending.append(&mut j.records);
            if let Some(live) = j.compact.take() {
                // The snapshot already holds everything before it.
                pending.clear();
                must(log.compact(&live), "log compaction");
                view.apply(&live);
                tracing::info!(records = live.len(), "compacted the acceptor log");
            }
        }
        must(log.append(&pending), "acceptor log append");
        view.apply(&pending);
        for j in jobs.drain(..) {
            for (to, msg) in j.sends {
                if to == me {
                    let from = me.clone();
                    let _ = core.send(DriverMsg::Peer { from, msg });
                } else {
                    let _ = net.send((to, msg));
                }
            }
        }
    }
}

/// Without a durable log the acceptor must not answer anyone: stop the process.
fn must(r: super::storage::Result<()>, what: &str) {
    if let Err(e) = r {
        tracing::error!(error = %e, "{what} failed; exiting");
        std::process::exit(70);
    }
}
