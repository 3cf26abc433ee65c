//! The tasks workload: every worker submits tasks with unique ids; after the main phase the
//! recovery wait lets the cluster finish them and the final read lists them, so the tasks
//! checker (`checkers::tasks`) finds lost, phantom, unexpected and not-done tasks.
//!
//! History ops: `submit` `{"task"}`; `read-tasks` `null` -> ok `{"tasks": {ID: {"state",
//! "runs"}}}`; the nemesis op `recovery` says how the wait ended (docs/history-format.md).

use std::collections::BTreeSet;
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

/// At most this many final reads per run (see [`recover_and_read`]).
pub const MAX_FINAL_READS: usize = 5;

/// The tasks' final phase: the recovery wait, then the final read. Shared by every workload
/// that submits tasks or whose results have always included a final read.
///
/// The wait's reads are not recorded and the final read may be answered by another majority,
/// so the final read can show a task the wait's last read did not (a submit that ended `info`
/// after its value reached only a minority of acceptors: whether a quorum read sees it
/// depends on which majority answers). The checker judges `not-done` against the final read,
/// so a wait that ended `done` is only proof when the final read agrees: when it shows a task
/// not done, the wait resumes (within the same budget) and a new final read follows, at most
/// [`MAX_FINAL_READS`] in all. The checker takes the last `recovery` op and the last ok read.
pub async fn recover_and_read(f: FinalCtx<'_>) -> FinalReport {
    let Some(client) = client(f.offers) else {
        return FinalReport {
            recovery: "none (the system offers no tasks client)".into(),
            ..FinalReport::default()
        };
    };
    let nodes = f.cluster.nodes().to_vec();
    let liveness = f.cluster.task_liveness();
    let start = Instant::now();
    let mut report = FinalReport::default();
    let mut reads = 0usize;
    let mut seen_open = BTreeSet::new();
    loop {
        let left = f.budget.saturating_sub(start.elapsed());
        let wait = await_tasks_done(
            f.ctx, &*client, f.cluster, &nodes, left, liveness, &seen_open,
        )
        .await;
        report.recovery = wait.text.clone();
        if *f.ctx.stop.borrow() {
            return report;
        }
        let read = final_read(f.ctx, &*client, &nodes, 2).await;
        reads += 1;
        report.final_read = read.as_ref().map(|r| r.node.0.clone());
        let Some(read) = read else {
            report
                .problems
                .push("no node answered the final read".into());
            return report;
        };
        if !resume_wait(wait.outcome, &read, reads, start.elapsed() < f.budget) {
            if reads > 1 {
                report.recovery = format!("{} ({})", report.recovery, reread_note(reads));
            }
            return report;
        }
        seen_open.extend(read.open);
    }
}

/// Whether the recovery wait resumes after a final read: the wait saw every task done but the
/// read shows some not done, and both the budget and [`MAX_FINAL_READS`] allow another round.
/// The resumed wait then also waits for the tasks this read showed not done to show up done
/// (see [`recovered`]).
pub fn resume_wait(outcome: &str, read: &FinalRead, reads: usize, budget_left: bool) -> bool {
    outcome == "done" && !read.open.is_empty() && reads < MAX_FINAL_READS && budget_left
}

/// The recovery wait's test of one read: every task in it done, and every task an earlier
/// final read showed not done (`seen_open`) present in it.
pub fn recovered(tasks: &serde_json::Map<String, Value>, seen_open: &BTreeSet<String>) -> bool {
    open_tasks(tasks).is_empty() && seen_open.iter().all(|id| tasks.contains_key(id))
}

/// What the recovery summary adds when the wait had to resume.
pub fn reread_note(reads: usize) -> String {
    format!(
        "{reads} final reads: the earlier ones showed tasks the wait's reads had not, not done yet"
    )
}

/// What a final read returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalRead {
    /// The node that answered.
    pub node: NodeId,
    /// Tasks in the read whose state is not `done`, by id.
    pub open: Vec<String>,
}

/// The final read: `read-tasks` on each node in turn until one answers ok, at most
/// `rounds` times around. Every attempt is recorded. Returns who answered and what it saw.
pub async fn final_read(
    ctx: &Ctx,
    client: &dyn TasksClient,
    nodes: &[NodeId],
    rounds: usize,
) -> Option<FinalRead> {
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
                let open = match &r {
                    Reply::Ok(Value::Object(t)) => open_tasks(t),
                    _ => Vec::new(),
                };
                return Some(FinalRead {
                    node: node.clone(),
                    open,
                });
            }
        }
    }
    None
}

/// The tasks of a read that are not `done`, by id.
pub fn open_tasks(tasks: &serde_json::Map<String, Value>) -> Vec<String> {
    tasks
        .iter()
        .filter(|(_, t)| t.get("state").and_then(Value::as_str) != Some("done"))
        .map(|(id, _)| id.clone())
        .collect()
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
    seen_open: &BTreeSet<String>,
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
            let done = recovered(&tasks, seen_open);
            // Recovered: every task done and every node ready (a cluster with a node still
            // down has not recovered, whatever its tasks say).
            if done && all_ready {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(tasks: &[(&str, &str)]) -> serde_json::Map<String, Value> {
        tasks
            .iter()
            .map(|(id, state)| (id.to_string(), json!({"state": state, "runs": 1})))
            .collect()
    }

    #[test]
    fn a_wait_is_over_only_when_the_tasks_a_final_read_showed_open_show_up_done() {
        let none = BTreeSet::new();
        assert!(recovered(&read(&[("a", "done")]), &none));
        assert!(!recovered(&read(&[("a", "done"), ("b", "pending")]), &none));
        let seen: BTreeSet<String> = ["b".to_string()].into();
        // A read that does not see `b` (another majority) does not end the wait.
        assert!(!recovered(&read(&[("a", "done")]), &seen));
        assert!(recovered(&read(&[("a", "done"), ("b", "done")]), &seen));
    }

    #[test]
    fn the_wait_resumes_only_after_a_done_wait_and_within_its_bounds() {
        let open = FinalRead {
            node: NodeId::from("n1"),
            open: vec!["b".into()],
        };
        let clean = FinalRead {
            open: vec![],
            ..open.clone()
        };
        assert!(resume_wait("done", &open, 1, true));
        assert!(!resume_wait("done", &clean, 1, true));
        assert!(!resume_wait("budget", &open, 1, true));
        assert!(!resume_wait("done", &open, 1, false));
        assert!(!resume_wait("done", &open, MAX_FINAL_READS, true));
    }
}
