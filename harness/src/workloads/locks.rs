//! The locks workload: workers acquire one of `--locks` locks with a lease of `--lease-ttl`,
//! hold it for half to all of the lease, and release it, so the locks checker
//! (`checkers::locks`) finds split locks and fencing tokens that went back.
//!
//! History ops: `acquire` `{"lock", "ttl_ms"}` -> ok adds `"token"`; `release` `{"lock",
//! "token"}` (only of a lock the process holds; otherwise the planned release is skipped).
//!
//! A system whose locks hang on a lease the client keeps alive (etcd) offers a
//! [`LeaseLocksClient`] instead: acquire grants a lease of the TTL, starts keep-alives every
//! TTL/3 and locks with the lease (its ok adds `"lease"`); each keep-alive is a `renew` op
//! `{"lock", "lease"}` of a process of its own (a fresh one after an `info`, as for any
//! process); release unlocks, stops the keep-alives and revokes the lease. The keep-alives
//! stop too when the acquire does not end ok and when the session ends; a lock still held
//! when the worker's plan ends is released then (recorded as any release).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

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

/// Locks held through a lease the client keeps alive (etcd's `lease` and `lock` APIs).
pub trait LeaseLocksClient: Send + Sync {
    /// Grants a lease of at least `ttl_ms`; ok carries its id.
    fn grant<'a>(&'a self, node: &'a NodeId, ttl_ms: u64) -> BoxFuture<'a, Reply<i64>>;
    /// Keeps the lease alive once; ok carries the TTL left (s); a lease that is gone is a fail.
    fn keepalive<'a>(&'a self, node: &'a NodeId, lease: i64) -> BoxFuture<'a, Reply<i64>>;
    /// Locks `lock` with the lease; ok carries the fencing token and the lock's key.
    fn lock<'a>(
        &'a self,
        node: &'a NodeId,
        lock: &'a str,
        lease: i64,
    ) -> BoxFuture<'a, Reply<(u64, String)>>;
    /// Unlocks the lock held under `key`.
    fn unlock<'a>(&'a self, node: &'a NodeId, key: &'a str) -> BoxFuture<'a, Reply<()>>;
    /// Revokes the lease.
    fn revoke<'a>(&'a self, node: &'a NodeId, lease: i64) -> BoxFuture<'a, Reply<()>>;
}

/// The error a [`LeaseLocksClient::keepalive`] fails with when the lease is gone (expired
/// or revoked): the keep-alives stop on it.
pub const LEASE_GONE: &str = "lease not found (expired or revoked)";

/// The `f` of a keep-alive of a lock's lease.
pub const RENEW: &str = "renew";

/// Adds a system's leased locks client to what it offers (instead of a [`LocksClient`]).
pub fn offer_leased(offers: Offers, client: Arc<dyn LeaseLocksClient>) -> Offers {
    offers.with(NAME.as_str(), client)
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
        if let Some(c) = client(offers) {
            return Some(Arc::new(Runner(c)));
        }
        let leased = offers
            .get::<Arc<dyn LeaseLocksClient>>(NAME.as_str())
            .cloned()?;
        Some(Arc::new(LeasedRunner(leased)))
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

struct LeasedRunner(Arc<dyn LeaseLocksClient>);

impl OpRunner for LeasedRunner {
    fn session(&self) -> Box<dyn Session> {
        Box::new(LeasedSession {
            client: self.0.clone(),
            held: BTreeMap::new(),
        })
    }
}

/// A lock held through a lease.
struct LeasedHold {
    token: u64,
    key: String,
    lease: i64,
    keepalive: tokio::task::JoinHandle<()>,
}

/// One process's leased locks; dropping it stops their keep-alives.
struct LeasedSession {
    client: Arc<dyn LeaseLocksClient>,
    held: BTreeMap<String, LeasedHold>,
}

impl Drop for LeasedSession {
    fn drop(&mut self) {
        for h in self.held.values() {
            h.keepalive.abort();
        }
    }
}

/// Keeps `lease` alive every `ttl_ms / 3` until aborted or the lease is gone, recording each
/// keep-alive as a `renew` op of its own process (a fresh one after an `info`).
fn spawn_keepalive(
    call: &Call<'_>,
    client: Arc<dyn LeaseLocksClient>,
    lock: String,
    lease: i64,
    ttl_ms: u64,
) -> tokio::task::JoinHandle<()> {
    let ctx = call.ctx.clone();
    let node = call.node.clone();
    tokio::spawn(async move {
        let period = Duration::from_millis((ttl_ms / 3).max(1));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut process = ctx.fresh_process();
        let value = json!({"lock": lock, "lease": lease});
        loop {
            tick.tick().await;
            ctx.rec
                .invoke(process, RENEW, value.clone(), Some(node.as_str()));
            let r = client.keepalive(&node, lease).await;
            let c = to_completion(&r, |_| value.clone(), &value);
            ctx.rec.complete(process, RENEW, c, Some(node.as_str()));
            match r {
                Reply::Ok(_) => {}
                Reply::Info(_) => process = ctx.fresh_process(),
                Reply::Fail(e) if e == LEASE_GONE => return,
                Reply::Fail(_) => {}
            }
        }
    })
}

impl Session for LeasedSession {
    /// The locks still held when the plan ends are released (unlock, revoke).
    fn closing_ops(&self) -> Vec<ClientOp> {
        self.held
            .keys()
            .map(|lock| ClientOp::Release { lock: lock.clone() })
            .collect()
    }

    fn run<'a>(&'a mut self, call: Call<'a>) -> BoxFuture<'a, Option<Completion>> {
        Box::pin(async move {
            match call.op {
                ClientOp::Acquire { lock, ttl_ms } => {
                    let value = json!({"lock": lock, "ttl_ms": ttl_ms});
                    call.invoke(call.op.f(), value.clone());
                    let lease = match self.client.grant(call.node, *ttl_ms).await {
                        Reply::Ok(id) => id,
                        Reply::Fail(e) => {
                            return Some(Completion::fail(value, format!("lease grant: {e}")))
                        }
                        Reply::Info(e) => {
                            return Some(Completion::info(value, format!("lease grant: {e}")))
                        }
                    };
                    let keepalive =
                        spawn_keepalive(&call, self.client.clone(), lock.clone(), lease, *ttl_ms);
                    let r = self.client.lock(call.node, lock, lease).await;
                    match &r {
                        Reply::Ok((token, key)) => {
                            let hold = LeasedHold {
                                token: *token,
                                key: key.clone(),
                                lease,
                                keepalive,
                            };
                            if let Some(old) = self.held.insert(lock.clone(), hold) {
                                old.keepalive.abort();
                            }
                        }
                        // Not held: its lease runs out.
                        _ => keepalive.abort(),
                    }
                    Some(to_completion(
                        &r,
                        |(t, _)| json!({"lock": lock, "ttl_ms": ttl_ms, "token": t, "lease": lease}),
                        &value,
                    ))
                }
                ClientOp::Release { lock } => {
                    // Only a lock this process got is released; otherwise the op is skipped.
                    let hold = self.held.remove(lock)?;
                    let value = json!({"lock": lock, "token": hold.token});
                    call.invoke(call.op.f(), value.clone());
                    let r = self.client.unlock(call.node, &hold.key).await;
                    hold.keepalive.abort();
                    if matches!(r, Reply::Ok(())) {
                        // The lock is released; revoking only ends the lease sooner.
                        let _ = self.client.revoke(call.node, hold.lease).await;
                    }
                    Some(to_completion(&r, |_| value.clone(), &value))
                }
                _ => None,
            }
        })
    }
}
