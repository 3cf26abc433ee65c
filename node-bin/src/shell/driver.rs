//! The core's own thread: feeds inputs to [`Node::step`] in batches, makes the batch's log
//! records durable with one fsync (group commit), and only then releases its messages and
//! replies. Inputs that arrive during the fsync form the next batch.

use super::storage::Log;
use crate::core::message::{NodeId, PeerMsg};
use crate::core::node::{ClientCmd, ClientResp, Input, Node, Output};
use crate::core::wal;
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
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
    Stop,
}

const MAX_BATCH: usize = 4096;

/// Runs the core until `Stop` or until every sender is gone.
pub fn run(
    mut node: Node,
    mut log: Log,
    rx: Receiver<DriverMsg>,
    net: UnboundedSender<(NodeId, PeerMsg)>,
    start: Instant,
    tick: Duration,
) {
    let mut replies: BTreeMap<u64, oneshot::Sender<ClientResp>> = BTreeMap::new();
    let mut next_req = 0u64;
    let mut next_tick = Instant::now();
    let mut out = Vec::new();
    let mut batch = Vec::new();
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(m) => batch.push(m),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
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
                DriverMsg::Stop => {
                    stop = true;
                    continue;
                }
            };
            node.step(now, input, &mut out);
        }
        if Instant::now() >= next_tick {
            node.step(now, Input::Tick, &mut out);
            next_tick = Instant::now() + tick;
        }
        flush(&mut node, &mut log, &mut out, &mut replies, &net);
        if stop {
            tracing::info!("core stopped");
            return;
        }
    }
}

fn flush(
    node: &mut Node,
    log: &mut Log,
    out: &mut Vec<Output>,
    replies: &mut BTreeMap<u64, oneshot::Sender<ClientResp>>,
    net: &UnboundedSender<(NodeId, PeerMsg)>,
) {
    let recs: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Persist(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    if let Err(e) = log.append(&recs) {
        // Without a durable log the acceptor must not answer anyone: stop the process.
        tracing::error!(error = %e, "cannot write the acceptor log; exiting");
        std::process::exit(70);
    }
    for o in out.drain(..) {
        match o {
            Output::Send { to, msg } => {
                let _ = net.send((to, msg));
            }
            Output::Reply { req, resp } => {
                if let Some(tx) = replies.remove(&req) {
                    let _ = tx.send(resp);
                }
            }
            Output::Persist(_) => {}
        }
    }
    for c in node.take_membership_changes() {
        tracing::info!(member = %c.id, state = c.state.as_str(), incarnation = c.incarnation, "membership change");
    }
    if wal::should_compact(log.records(), node.live_keys()) {
        let live = node.records();
        match log.compact(&live) {
            Ok(()) => tracing::info!(records = live.len(), "compacted the acceptor log"),
            Err(e) => {
                tracing::error!(error = %e, "log compaction failed; exiting");
                std::process::exit(70);
            }
        }
    }
}
