//! The simulated system's clients: the workloads' client traits ([`TasksClient`],
//! [`LocksClient`], [`RegisterClient`]) over [`sim::Sim::invoke`], so a simulated run goes
//! through the workloads' own sessions (the same invoke values, the same completions, the
//! same process rule) as a real one; only the transport differs.
//!
//! A call invokes the request on the simulator at the current virtual time and then waits
//! (returns `Pending`) until the driver hands its completion over ([`World::done`]). The
//! futures are polled by the driver alone, with a no-op waker, in a fixed order: no async
//! runtime, no thread, nothing but the simulator decides when a call ends.
//!
//! How an outcome becomes ok / fail / info, as the HTTP client classifies the same answers:
//! the core's reply is ok; its error is fail when definite, info otherwise (with the text the
//! HTTP shell would give: `HTTP 503: ...`); a node that was down refused the connection
//! (fail); a timeout or a node that died holding the request is info.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use nemesis::NodeId;
use node_bin::core::kv::{KvOp, KvOutcome};
use node_bin::core::node::{ClientCmd, ClientResp, ErrorKind};
use serde_json::{json, Value};
use sim::{Outcome, ReqId, Sim};

use crate::cluster::{BoxFuture, Reply};
use crate::workloads::locks::LocksClient;
use crate::workloads::register::RegisterClient;
use crate::workloads::tasks::TasksClient;

/// The simulator and the completions not yet taken by their callers.
#[derive(Debug)]
pub struct World {
    /// The simulated cluster.
    pub sim: Sim,
    /// Completions the driver drained, by request, until their call takes them.
    pub done: BTreeMap<ReqId, sim::Completion>,
}

/// The world, shared by the driver and the clients (one thread uses it at a time).
pub type Shared = Arc<Mutex<World>>;

/// Locks the world (a poisoned lock is still the world: nothing half-done is left in it by
/// a panic of a caller, which ends the run anyway).
pub fn lock(w: &Shared) -> MutexGuard<'_, World> {
    w.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every workload's client on the simulated cluster.
#[derive(Debug, Clone)]
pub struct SimClient {
    world: Shared,
}

impl SimClient {
    /// A client of the simulated cluster in `world`.
    pub fn new(world: Shared) -> Self {
        SimClient { world }
    }

    /// Sends `cmd` to `node` now (virtual time) and waits for its completion.
    pub async fn request(&self, node: &NodeId, cmd: ClientCmd) -> Reply<ClientResp> {
        {
            let req = {
                let mut w = lock(&self.world);
                let now = w.sim.now();
                w.sim.invoke(now, node.as_str(), cmd, None)
            };
            let req = match req {
                Ok(r) => r,
                Err(e) => return Reply::Fail(format!("connect: {e}")),
            };
            let outcome = std::future::poll_fn(|_| match lock(&self.world).done.remove(&req) {
                Some(c) => Poll::Ready(c.outcome),
                None => Poll::Pending,
            })
            .await;
            classify(outcome)
        }
    }
}

/// The HTTP status the node's shell answers an error of this kind with.
fn status(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::BadRequest => 400,
        ErrorKind::Conflict => 409,
        ErrorKind::Unavailable => 503,
        ErrorKind::Timeout => 504,
    }
}

/// A simulated outcome as a reply (module docs).
pub fn classify(o: Outcome) -> Reply<ClientResp> {
    match o {
        Outcome::Reply(ClientResp::Error {
            kind,
            message,
            definite,
        }) => {
            let msg = format!("HTTP {}: {message}", status(kind));
            if definite {
                Reply::Fail(msg)
            } else {
                Reply::Info(msg)
            }
        }
        Outcome::Reply(r) => Reply::Ok(r),
        Outcome::Refused => Reply::Fail("connect: connection refused".into()),
        Outcome::Timeout => Reply::Info("timeout".into()),
        Outcome::Reset => Reply::Info("connection reset by peer".into()),
    }
}

/// The ok reply's payload, when it is the one expected; an unexpected ok reply is unknown
/// (something happened; we cannot say what).
fn map<T>(r: Reply<ClientResp>, f: impl FnOnce(ClientResp) -> Result<T, ClientResp>) -> Reply<T> {
    match r {
        Reply::Ok(resp) => match f(resp) {
            Ok(t) => Reply::Ok(t),
            Err(other) => Reply::Info(format!("unexpected reply {other:?}")),
        },
        Reply::Fail(e) => Reply::Fail(e),
        Reply::Info(e) => Reply::Info(e),
    }
}

/// A quorum read's merged tasks as the HTTP shell shows them: `{id: {"state", "runs"}}`.
pub fn tasks_value(m: node_bin::core::taskread::Merged) -> Value {
    let tasks: serde_json::Map<String, Value> = m
        .into_iter()
        .map(|(id, (s, runs))| (id, json!({"state": s.as_str(), "runs": runs})))
        .collect();
    Value::Object(tasks)
}

impl TasksClient for SimClient {
    fn submit<'a>(
        &'a self,
        node: &'a NodeId,
        task: &'a str,
        work_ms: u64,
    ) -> BoxFuture<'a, Reply<()>> {
        Box::pin(async move {
            let cmd = ClientCmd::Submit {
                id: task.to_string(),
                work_ms,
            };
            map(self.request(node, cmd).await, |r| match r {
                ClientResp::Submitted => Ok(()),
                o => Err(o),
            })
        })
    }

    fn read_tasks<'a>(&'a self, node: &'a NodeId) -> BoxFuture<'a, Reply<Value>> {
        Box::pin(async move {
            map(
                self.request(node, ClientCmd::ReadTasks).await,
                |r| match r {
                    ClientResp::Tasks(m) => Ok(tasks_value(m)),
                    o => Err(o),
                },
            )
        })
    }
}

impl LocksClient for SimClient {
    fn acquire<'a>(
        &'a self,
        node: &'a NodeId,
        lock: &'a str,
        client: &'a str,
        ttl_ms: u64,
    ) -> BoxFuture<'a, Reply<u64>> {
        Box::pin(async move {
            let cmd = ClientCmd::Acquire {
                lock: lock.to_string(),
                client: client.to_string(),
                ttl_ms,
            };
            map(self.request(node, cmd).await, |r| match r {
                ClientResp::Granted { token } => Ok(token),
                o => Err(o),
            })
        })
    }

    fn release<'a>(
        &'a self,
        node: &'a NodeId,
        lock: &'a str,
        client: &'a str,
        token: u64,
    ) -> BoxFuture<'a, Reply<()>> {
        Box::pin(async move {
            let cmd = ClientCmd::Release {
                lock: lock.to_string(),
                client: client.to_string(),
                token,
            };
            map(self.request(node, cmd).await, |r| match r {
                ClientResp::Released => Ok(()),
                o => Err(o),
            })
        })
    }
}

impl SimClient {
    async fn kv(&self, node: &NodeId, key: &str, op: KvOp) -> Reply<KvOutcome> {
        {
            let cmd = ClientCmd::Kv {
                key: key.to_string(),
                op,
            };
            map(self.request(node, cmd).await, |r| match r {
                ClientResp::Kv(k) => Ok(k),
                o => Err(o),
            })
        }
    }
}

fn kv_map<T>(r: Reply<KvOutcome>, f: impl FnOnce(KvOutcome) -> Result<T, String>) -> Reply<T> {
    match r {
        Reply::Ok(k) => match f(k) {
            Ok(t) => Reply::Ok(t),
            Err(e) => Reply::Info(e),
        },
        Reply::Fail(e) => Reply::Fail(e),
        Reply::Info(e) => Reply::Info(e),
    }
}

impl RegisterClient for SimClient {
    fn read<'a>(&'a self, node: &'a NodeId, key: &'a str) -> BoxFuture<'a, Reply<Option<u64>>> {
        Box::pin(async move {
            kv_map(self.kv(node, key, KvOp::Read).await, |k| match k {
                KvOutcome::Read(Value::Null) => Ok(None),
                KvOutcome::Read(v) => v
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| format!("read: not an integer: {v}")),
                o => Err(format!("unexpected reply {o:?}")),
            })
        })
    }

    fn write<'a>(&'a self, node: &'a NodeId, key: &'a str, value: u64) -> BoxFuture<'a, Reply<()>> {
        Box::pin(async move {
            let op = KvOp::Write {
                value: json!(value),
            };
            kv_map(self.kv(node, key, op).await, |k| match k {
                KvOutcome::Written => Ok(()),
                o => Err(format!("unexpected reply {o:?}")),
            })
        })
    }

    fn cas<'a>(
        &'a self,
        node: &'a NodeId,
        key: &'a str,
        from: u64,
        to: u64,
    ) -> BoxFuture<'a, Reply<bool>> {
        Box::pin(async move {
            let op = KvOp::Cas {
                from: json!(from),
                to: json!(to),
            };
            kv_map(self.kv(node, key, op).await, |k| match k {
                KvOutcome::Cas(s) => Ok(s),
                o => Err(format!("unexpected reply {o:?}")),
            })
        })
    }
}
