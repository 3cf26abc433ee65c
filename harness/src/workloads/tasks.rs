//! The tasks workload: every worker submits tasks with unique ids; after the main phase the
//! recovery wait lets the cluster finish them and the final read lists them, so the tasks
//! checker (`checkers::tasks`) finds lost, phantom, unexpected and not-done tasks.
//!
//! History ops: `submit` `{"task"}`; `read-tasks` `null` -> ok `{"tasks": {ID: {"state",
//! "runs"}}}`; the nemesis op `recovery` says how the wait ended (docs/history-format.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use histories::OpType;
use nemesis::NodeId;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::{
    to_completion, Call, ClientOp, Cursor, FinalCtx, FinalReport, OpRunner, Session, Workload,
    WorkloadName,
};
use crate::cluster::{BoxFuture, Cluster, Offers, Reply};
use crate::recorder::Completion;
use crate::workers::Ctx;

/// Its registry name.
pub const NAME: WorkloadName = WorkloadName("tasks");

/// The tasks workload.
#[derive(Debug, Clone, Copy)]
pub struct Tasks;

/// The tasks workload's client. Each call is bounded by the client's op timeout.
pub trait TasksClient: Send + Sync {
    /// Submits a task.
    fn submit<'a>(
        &'a self,
        node: &'a NodeId,
        task: &'a str,
        work_ms: u64,
    ) -> BoxFuture<'a, Reply<()>>;
    /// Reads every task: `{id: {"state": .., "runs": N}}`.
    fn read_tasks<'a>(&'a self, node: &'a NodeId) -> BoxFuture<'a, Reply<Value>>;
}

/// Adds a system's tasks client to what it offers.
pub fn offer(offers: Offers, client: Arc<dyn TasksClient>) -> Offers {
    offers.with(NAME.as_str(), client)
}

/// The tasks client a system offers, if it offers one.
pub fn client(offers: &Offers) -> Option<Arc<dyn TasksClient>> {
    offers.get::<Arc<dyn TasksClient>>(NAME.as_str()).cloned()
}

impl Workload for Tasks {
    fn name(&self) -> WorkloadName {
        NAME
    }

    fn fs(&self) -> Vec<&'static str> {
        vec!["submit"]
    }

    fn plan_next(&self, cur: &mut Cursor<'_>, _rng: &mut ChaCha8Rng) {
        let op = ClientOp::Submit {
            task: format!("t{}-{}", cur.worker, cur.seq),
            work_ms: cur.opts.task_work_ms,
        };
        cur.push(op);
    }

    fn runner(&self, offers: &Offers) -> Option<Arc<dyn OpRunner>> {
        Some(Arc::new(Runner(client(offers)?)))
    }

    fn final_phase<'a>(&'a self, f: FinalCtx<'a>) -> BoxFuture<'a, FinalReport> {
        Box::pin(recover_and_read(f))
    }

    fn recovers_tasks(&self) -> bool {
        true
    }
}

struct Runner(Arc<dyn TasksClient>);

impl OpRunner for Runner {
    fn session(&self) -> Box<dyn Session> {
        Box::new(Runner(self.0.clone()))
    }
}

impl Session for Runner {
    fn run<'a>(&'a mut self, call: Call<'a>) -> BoxFuture<'a, Option<Completion>> {
        Box::pin(async move {
            let ClientOp::Submit { task, work_ms } = call.op else {
                return None;
            };
            let value = submit_value(task);
            call.invoke(call.op.f(), value.clone());
            let r = self.0.submit(call.node, task, *work_ms).await;
            Some(to_completion(&r, |_| value.clone(), &value))
        })
    }
}

/// A submit's invoke (and ok) value.
pub fn submit_value(task: &str) -> Value {
    json!({ "task": task })
}

/// The tasks' final phase: the recovery wait, then the final read. Shared by every workload
/// that submits tasks or whose results have always included a final read.
pub async fn recover_and_read(f: FinalCtx<'_>) -> FinalReport {
    let Some(client) = client(f.offers) else {
        return FinalReport {
            recovery: "none (the system offers no tasks client)".into(),
            ..FinalReport::default()
        };
    };
    let nodes = f.cluster.nodes().to_vec();
    let liveness = f.cluster.task_liveness();
    let mut report = FinalReport {
        recovery: await_tasks_done(f.ctx, &*client, f.cluster, &nodes, f.budget, liveness)
            .await
            .text,
        ..FinalReport::default()
    };
    if *f.ctx.stop.borrow() {
        return report;
    }
    report.final_read = final_read(f.ctx, &*client, &nodes, 2).await.map(|n| n.0);
    if report.final_read.is_none() {
        report
            .problems
            .push("no node answered the final read".into());
    }
    report
}

/// The final read: `read-tasks` on each node in turn until one answers ok, at most
/// `rounds` times around. Every attempt is recorded. Returns the node that answered.
pub async fn final_read(
    ctx: &Ctx,
    client: &dyn TasksClient,
    nodes: &[NodeId],
    rounds: usize,
) -> Option<NodeId> {
    for _ in 0..rounds {
        for node in nodes {
            let process = ctx.fresh_process();
            let n = Some(node.as_str());
            ctx.rec.invoke(process, "read-tasks", Value::Null, n);
            let r = client.read_tasks(node).await;
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
    client: &dyn TasksClient,
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
        if let Reply::Ok(Value::Object(tasks)) = client.read_tasks(node).await {
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
