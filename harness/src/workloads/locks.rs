//! The locks workload: workers acquire one of `--locks` locks with a lease of `--lease-ttl`,
//! hold it for half to all of the lease, and release it, so the locks checker
//! (`checkers::locks`) finds split locks and fencing tokens that went back.
//!
//! History ops: `acquire` `{"lock", "ttl_ms"}` -> ok adds `"token"`; `release` `{"lock",
//! "token"}` (only of a lock the process holds; otherwise the planned release is skipped).

use std::collections::BTreeMap;
use std::sync::Arc;

use nemesis::NodeId;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::{
    to_completion, Call, ClientOp, Cursor, FinalCtx, FinalReport, OpRunner, Session, Workload,
    WorkloadName,
};
use crate::cluster::{BoxFuture, Offers, Reply};
use crate::recorder::Completion;

/// Its registry name.
pub const NAME: WorkloadName = WorkloadName("locks");

const MS: u64 = 1_000_000;

/// The locks workload.
#[derive(Debug, Clone, Copy)]
pub struct Locks;

/// The locks workload's client. `client` names the process (`p7`).
pub trait LocksClient: Send + Sync {
    /// Acquires a lock; ok carries the fencing token.
    fn acquire<'a>(
        &'a self,
        node: &'a NodeId,
        lock: &'a str,
        client: &'a str,
        ttl_ms: u64,
    ) -> BoxFuture<'a, Reply<u64>>;
    /// Releases a lock held with `token`.
    fn release<'a>(
        &'a self,
        node: &'a NodeId,
        lock: &'a str,
        client: &'a str,
        token: u64,
    ) -> BoxFuture<'a, Reply<()>>;
}

/// Adds a system's locks client to what it offers.
pub fn offer(offers: Offers, client: Arc<dyn LocksClient>) -> Offers {
    offers.with(NAME.as_str(), client)
}

/// The locks client a system offers, if it offers one.
pub fn client(offers: &Offers) -> Option<Arc<dyn LocksClient>> {
    offers.get::<Arc<dyn LocksClient>>(NAME.as_str()).cloned()
}

impl Workload for Locks {
    fn name(&self) -> WorkloadName {
        NAME
    }

    fn fs(&self) -> Vec<&'static str> {
        vec!["acquire", "release"]
    }

    fn plan_next(&self, cur: &mut Cursor<'_>, rng: &mut ChaCha8Rng) {
        let lock = format!("l{}", rng.gen_range(0..cur.opts.locks));
        let ttl = cur.opts.lease_ttl_ms;
        // Hold for half to all of the lease, so an early expiry or a split grant overlaps.
        let hold = rng.gen_range(ttl * MS / 2..=ttl * MS);
        cur.push(ClientOp::Acquire {
            lock: lock.clone(),
            ttl_ms: ttl,
        });
        cur.t = (cur.t + hold).min(cur.limit);
        cur.push(ClientOp::Release { lock });
    }

    fn runner(&self, offers: &Offers) -> Option<Arc<dyn OpRunner>> {
        Some(Arc::new(Runner(client(offers)?)))
    }

    /// The tasks' recovery wait and final read: a locks run has always ended with them (its
    /// results carry a tasks section with the empty final read), and keeps doing so.
    fn final_phase<'a>(&'a self, f: FinalCtx<'a>) -> BoxFuture<'a, FinalReport> {
        Box::pin(super::tasks::recover_and_read(f))
    }

    fn recovers_tasks(&self) -> bool {
        true
    }
}

struct Runner(Arc<dyn LocksClient>);

impl OpRunner for Runner {
    fn session(&self) -> Box<dyn Session> {
        Box::new(LockSession {
            client: self.0.clone(),
            held: BTreeMap::new(),
        })
    }
}

/// One process's locks: the tokens of the locks it holds (from its ok acquires).
struct LockSession {
    client: Arc<dyn LocksClient>,
    held: BTreeMap<String, u64>,
}

impl Session for LockSession {
    fn run<'a>(&'a mut self, call: Call<'a>) -> BoxFuture<'a, Option<Completion>> {
        Box::pin(async move {
            let client = format!("p{}", call.process);
            match call.op {
                ClientOp::Acquire { lock, ttl_ms } => {
                    let value = json!({"lock": lock, "ttl_ms": ttl_ms});
                    call.invoke(call.op.f(), value.clone());
                    let r = self.client.acquire(call.node, lock, &client, *ttl_ms).await;
                    if let Reply::Ok(token) = r {
                        self.held.insert(lock.clone(), token);
                    }
                    Some(to_completion(
                        &r,
                        |t| json!({"lock": lock, "ttl_ms": ttl_ms, "token": t}),
                        &value,
                    ))
                }
                ClientOp::Release { lock } => {
                    // Only a lock this process got is released; otherwise the op is skipped.
                    let token = self.held.remove(lock)?;
                    let value = json!({"lock": lock, "token": token});
                    call.invoke(call.op.f(), value.clone());
                    let r = self.client.release(call.node, lock, &client, token).await;
                    Some(to_completion(&r, |_| value.clone(), &value))
                }
                _ => None,
            }
        })
    }
}
