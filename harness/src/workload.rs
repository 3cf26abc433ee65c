//! The client workers: each runs its planned ops one after the other against its node,
//! recording every invoke and completion.
//!
//! Jepsen's process rule: a worker starts as process `worker`; after an op ends in `info`
//! that process is never used again and the worker goes on under a fresh process number
//! (handed out from one counter shared by all workers, starting at the concurrency). A worker
//! that is late starts its next op at once; no op starts after the main phase's deadline or
//! after a stop request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use histories::OpType;
use nemesis::NodeId;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::cluster::{Cluster, LocksClient, RegisterClient, Reply, TasksClient};
use crate::plan::{ClientOp, WorkerPlan};
use crate::recorder::{Completion, Recorder};

/// What every worker shares.
#[derive(Clone)]
pub struct Ctx {
    /// The history.
    pub rec: Arc<Recorder>,
    /// The tasks client.
    pub tasks: Arc<dyn TasksClient>,
    /// The locks client.
    pub locks: Arc<dyn LocksClient>,
    /// The register client, when the system has one.
    pub register: Option<Arc<dyn RegisterClient>>,
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

pub(crate) fn to_completion<T>(
    r: &Reply<T>,
    ok_value: impl FnOnce(&T) -> Value,
    value: &Value,
) -> Completion {
    match r {
        Reply::Ok(t) => Completion::ok(ok_value(t)),
        Reply::Fail(e) => Completion::fail(value.clone(), e.clone()),
        Reply::Info(e) => Completion::info(value.clone(), e.clone()),
    }
}

/// Runs one worker's plan to its end, the deadline, or a stop.
pub async fn run_worker(plan: WorkerPlan, mut ctx: Ctx) {
    let node: NodeId = plan.node.clone();
    let n = Some(node.as_str());
    let start = ctx.rec.start();
    let mut process = plan.worker as u64;
    // Tokens of the locks this process holds (from its ok acquires).
    let mut held: BTreeMap<String, u64> = BTreeMap::new();
    for op in &plan.ops {
        let at = start + Duration::from_nanos(op.at_ns);
        if at >= ctx.deadline || !ctx.wait_until(at).await || Instant::now() >= ctx.deadline {
            break;
        }
        let f = op.op.f();
        let completion = match &op.op {
            ClientOp::Submit { task, work_ms } => {
                let value = json!({"task": task});
                ctx.rec.invoke(process, f, value.clone(), n);
                let r = ctx.tasks.submit(&node, task, *work_ms).await;
                to_completion(&r, |_| value.clone(), &value)
            }
            ClientOp::Acquire { lock, ttl_ms } => {
                let value = json!({"lock": lock, "ttl_ms": ttl_ms});
                ctx.rec.invoke(process, f, value.clone(), n);
                let client = format!("p{process}");
                let r = ctx.locks.acquire(&node, lock, &client, *ttl_ms).await;
                if let Reply::Ok(token) = r {
                    held.insert(lock.clone(), token);
                }
                to_completion(
                    &r,
                    |t| json!({"lock": lock, "ttl_ms": ttl_ms, "token": t}),
                    &value,
                )
            }
            ClientOp::Release { lock } => {
                // Only a lock this process got is released; otherwise the op is skipped.
                let Some(token) = held.remove(lock) else {
                    continue;
                };
                let value = json!({"lock": lock, "token": token});
                ctx.rec.invoke(process, f, value.clone(), n);
                let client = format!("p{process}");
                let r = ctx.locks.release(&node, lock, &client, token).await;
                to_completion(&r, |_| value.clone(), &value)
            }
            ClientOp::Read { .. } | ClientOp::Write { .. } | ClientOp::Cas { .. } => {
                crate::register::run_op(&ctx, process, &node, &op.op).await
            }
        };
        let info = completion.kind == OpType::Info;
        ctx.rec.complete(process, f, completion, n);
        if info {
            process = ctx.fresh_process();
            held.clear();
        }
    }
}

/// The final read: `read-tasks` on each node in turn until one answers ok, at most
/// `rounds` times around. Every attempt is recorded. Returns the node that answered.
pub async fn final_read(ctx: &Ctx, nodes: &[NodeId], rounds: usize) -> Option<NodeId> {
    for _ in 0..rounds {
        for node in nodes {
            let process = ctx.fresh_process();
            let n = Some(node.as_str());
            ctx.rec.invoke(process, "read-tasks", Value::Null, n);
            let r = ctx.tasks.read_tasks(node).await;
            let c = to_completion(&r, |t| json!({"tasks": t}), &Value::Null);
            let ok = c.kind == OpType::Ok;
            ctx.rec.complete(process, "read-tasks", c, n);
            if ok {
                return Some(node.clone());
            }
        }
    }
    None
}

/// How the recovery wait ended: recorded in the history as the nemesis op `recovery`, so
/// the tasks checker can tell a task the cluster failed to finish (not-done) from one the
/// budget ran out on (unfinished); see `checkers::tasks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// `done`, `budget` or `interrupted`.
    pub outcome: &'static str,
    /// How long the wait lasted.
    pub waited: Duration,
    /// How long every node had been ready, continuously, at the end.
    pub healthy: Duration,
    /// What the human summary says.
    pub text: String,
}

/// Waits (up to `max`) until a read of the tasks shows every task `done` and every node is
/// ready (the recovery check: a wait that ends with a node not ready records what was wrong
/// with it, `unready`, which the checker judges `no-recovery`); the reads are not recorded (they only decide when the final
/// read happens), the outcome is (see [`Recovery`]).
pub async fn await_tasks_done(
    ctx: &Ctx,
    cluster: &dyn Cluster,
    nodes: &[NodeId],
    max: Duration,
    liveness: Option<Duration>,
) -> Recovery {
    let start = Instant::now();
    let until = start + max;
    let mut i = 0usize;
    let mut stop = ctx.stop.clone();
    let mut healthy_since: Option<Instant> = None;
    let mut unready: Vec<String> = Vec::new();
    let end = |outcome, healthy_since: Option<Instant>, text: String, unready: &[String]| {
        let now = Instant::now();
        let r = Recovery {
            outcome,
            waited: now - start,
            healthy: healthy_since.map_or(Duration::ZERO, |t| now - t),
            text,
        };
        let ms = |d: Duration| d.as_millis() as u64;
        let mut v = json!({
            "outcome": r.outcome,
            "waited_ms": ms(r.waited),
            "healthy_ms": ms(r.healthy),
            "liveness_ms": liveness.map_or(u64::MAX, ms),
        });
        if !unready.is_empty() {
            v["unready"] = json!(unready);
        }
        ctx.rec.nemesis(checkers::tasks::RECOVERY, v, now);
        r
    };
    loop {
        // Every node is asked, so that a wait that ends unhealthy says what was wrong with each.
        unready.clear();
        for n in nodes {
            if let Err(e) = cluster.ready(n).await {
                unready.push(if e.starts_with(&format!("{n}:")) {
                    e
                } else {
                    format!("{n}: {e}")
                });
            }
        }
        let all_ready = unready.is_empty();
        healthy_since = if all_ready {
            healthy_since.or(Some(Instant::now()))
        } else {
            None
        };
        let node = &nodes[i % nodes.len()];
        i += 1;
        if let Reply::Ok(Value::Object(tasks)) = ctx.tasks.read_tasks(node).await {
            let open = tasks
                .values()
                .filter(|t| t.get("state").and_then(Value::as_str) != Some("done"))
                .count();
            // Recovered: every task done and every node ready (a cluster with a node still
            // down has not recovered, whatever its tasks say).
            if open == 0 && all_ready {
                return end(
                    "done",
                    healthy_since,
                    format!("all {} tasks done", tasks.len()),
                    &unready,
                );
            }
        }
        let next = Instant::now() + Duration::from_millis(250);
        if next >= until {
            let healthy = healthy_since.map_or(Duration::ZERO, |t| t.elapsed());
            let wrong = if unready.is_empty() {
                String::new()
            } else {
                format!("; not ready: {}", unready.join("; "))
            };
            return end(
                "budget",
                healthy_since,
                format!(
                    "recovery wait of {max:?} elapsed (cluster healthy for the last {:.1} s{wrong})",
                    healthy.as_secs_f64()
                ),
                &unready,
            );
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            _ = stop.wait_for(|s| *s) => return end("interrupted", healthy_since, "interrupted".into(), &unready),
        }
    }
}
