//! The client workers: each runs its planned ops one after the other against its node,
//! recording every invoke and completion. What an op does is its workload's
//! ([`crate::workloads::Session`]); the worker owns the timing and the process rule.
//!
//! Jepsen's process rule: a worker starts as process `worker`; after an op ends in `info`
//! that process is never used again and the worker goes on under a fresh process number
//! (handed out from one counter shared by all workers, starting at the concurrency), with a
//! fresh session. A worker that is late starts its next op at once; no op starts after the
//! main phase's deadline or after a stop request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use histories::OpType;
use tokio::sync::watch;

use crate::plan::WorkerPlan;
use crate::recorder::Recorder;
use crate::workloads::{Call, OpRunner};

/// What every worker shares.
#[derive(Clone)]
pub struct Ctx {
    /// The history.
    pub rec: Arc<Recorder>,
    /// The workload's runner on this system.
    pub runner: Arc<dyn OpRunner>,
    /// No op starts at or after this instant.
    pub deadline: Instant,
    /// Flips to true on SIGINT/SIGTERM.
    pub stop: watch::Receiver<bool>,
    /// The next fresh process number.
    pub next_process: Arc<AtomicU64>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Ctx {
    /// A fresh process number.
    pub fn fresh_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::SeqCst)
    }

    /// Waits until `at`; false when the run must stop first.
    async fn wait_until(&mut self, at: Instant) -> bool {
        if *self.stop.borrow() {
            return false;
        }
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep_until(at.into()) => !*self.stop.borrow(),
            _ = stop.wait_for(|s| *s) => false,
        }
    }
}

/// Runs one worker's plan to its end, the deadline, or a stop.
pub async fn run_worker(plan: WorkerPlan, mut ctx: Ctx) {
    let node = plan.node.clone();
    let start = ctx.rec.start();
    let mut process = plan.worker as u64;
    let mut session = ctx.runner.session();
    for op in &plan.ops {
        let at = start + Duration::from_nanos(op.at_ns);
        if at >= ctx.deadline || !ctx.wait_until(at).await || Instant::now() >= ctx.deadline {
            break;
        }
        let call = Call {
            rec: &ctx.rec,
            process,
            node: &node,
            op: &op.op,
            ctx: &ctx,
        };
        let Some(completion) = session.run(call).await else {
            continue;
        };
        let info = completion.kind == OpType::Info;
        ctx.rec
            .complete(process, op.op.f(), completion, Some(node.as_str()));
        if info {
            process = ctx.fresh_process();
            session = ctx.runner.session();
        }
    }
    if *ctx.stop.borrow() {
        return;
    }
    for op in session.closing_ops() {
        let call = Call {
            rec: &ctx.rec,
            process,
            node: &node,
            op: &op,
            ctx: &ctx,
        };
        let Some(completion) = session.run(call).await else {
            continue;
        };
        let info = completion.kind == OpType::Info;
        ctx.rec
            .complete(process, op.f(), completion, Some(node.as_str()));
        if info {
            process = ctx.fresh_process();
        }
    }
}
