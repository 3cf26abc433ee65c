//! Split locks and fencing tokens.
//!
//! A hold of a lock starts at its acquire's ok time; where it ends is the lock model's
//! ([`LockModel`], `gauntlet check --lock-model`):
//! - `lease` (the default): the client *certainly holds* the lock until the earlier of its
//!   release's invoke time and the lease's certain end: (the invoke time of the last ok
//!   `renew` of the hold's lease, or else the acquire's invoke time) + `ttl_ms`. From then on
//!   the lease may have run out, whatever the client believes. A renewal that ended ok proves
//!   the lease was alive when the server took it, so the lease (and the lock key it carries)
//!   lived on to at least its invoke + `ttl_ms`.
//! - `mutex` (Jepsen's model for etcd's locks): the hold lasts until the release's invoke, or
//!   to the end of the history when the client never released it; leases do not count.
//!
//! Two holds of one lock by different processes that overlap are a *split lock*. Tokens must grow: if acquire A completed before
//! acquire B was invoked (A's ok precedes B's invoke in the history), A's token must be
//! smaller than B's; otherwise it is a *token regression*.
//!
//! Streaming: tokens are checked as acquires complete; holds (a few words each) are kept per
//! lock and swept in start order at the end, keeping only the holds still running.

use std::borrow::Cow;
use std::collections::BTreeMap;

use histories::fxhash::FxHashMap;
use histories::{OpRef, OpType, Process};
use serde::{Deserialize, Serialize};

use crate::evidence::{Capped, OpEvidence};
use crate::flat::{fields, Flat};
use crate::procmap::ProcMap;
use crate::verdict::Verdict;
use crate::CheckOptions;

/// The `f` of a lock acquisition.
pub const ACQUIRE: &str = "acquire";
/// The `f` of a lock release.
pub const RELEASE: &str = "release";
/// The `f` of a keep-alive of a hold's lease (`{"lock", "lease"}`).
pub const RENEW: &str = "renew";

/// When a hold of a lock ends (see the module's text).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockModel {
    /// Until the release's invoke or the lease's certain end, renewals counted.
    #[default]
    Lease,
    /// Until the release's invoke, or the end of the history.
    Mutex,
}

impl LockModel {
    /// Its name, as `--lock-model` takes it and results.json records it.
    pub fn as_str(self) -> &'static str {
        match self {
            LockModel::Lease => "lease",
            LockModel::Mutex => "mutex",
        }
    }
}

impl std::fmt::Display for LockModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LockModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lease" => Ok(LockModel::Lease),
            "mutex" => Ok(LockModel::Mutex),
            other => Err(format!(
                "unknown lock model {other:?} (expected lease or mutex)"
            )),
        }
    }
}

/// One certain hold of a lock, with the ops that bound it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The holder.
    pub process: Process,
    /// The fencing token granted.
    pub token: u64,
    /// The acquire's invoke.
    pub acquire_invoke: OpEvidence,
    /// The acquire's ok: the hold starts at its time.
    pub acquire_ok: OpEvidence,
    /// The lease asked for.
    pub ttl_ms: u64,
    /// The release's invoke, if the holder released the lock.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub release_invoke: Option<OpEvidence>,
    /// The lease the lock hangs on, when the client keeps it alive (`renew` ops).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lease: Option<u64>,
    /// The invoke of the last ok renewal of that lease (lease model: the lease's certain end
    /// is its time + ttl).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub renewed: Option<OpEvidence>,
    /// Start of the hold (ns): the acquire's ok time.
    pub start: u64,
    /// End of the hold (ns, exclusive). Lease model: min(release invoke time, (last ok
    /// renewal's invoke, else the acquire's invoke) + ttl); mutex model: the release's invoke
    /// time, else the end of the history.
    pub end: u64,
}

/// Two overlapping certain holds of one lock by different processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitLock {
    /// The lock.
    pub lock: String,
    /// The hold that started first.
    pub first: Hold,
    /// The hold that started while `first` was certainly held.
    pub second: Hold,
    /// The overlap, `[from, to)` in ns.
    pub overlap: [u64; 2],
}

/// An acquire that completed before another was invoked but got a token at least as large.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRegression {
    /// The lock.
    pub lock: String,
    /// The acquire that completed first (ok op) with its token.
    pub earlier: Grant,
    /// The acquire invoked after `earlier` completed, whose token is not larger.
    pub later: Grant,
}

/// A completed acquire, as token evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The acquire's invoke.
    pub invoke: OpEvidence,
    /// The acquire's ok.
    pub ok: OpEvidence,
    /// The token granted.
    pub token: u64,
}

/// Counts of the locks checker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockCounts {
    /// Distinct lock names.
    pub locks: u64,
    /// Acquires that completed ok.
    pub acquired: u64,
    /// Acquires that failed.
    pub acquire_failed: u64,
    /// Acquires with unknown outcome.
    pub acquire_unknown: u64,
    /// Releases invoked.
    pub releases: u64,
    /// Certain holds of positive length.
    pub certain_holds: u64,
    /// Split locks found.
    pub split_locks: u64,
    /// Token regressions found.
    pub token_regressions: u64,
    /// Renewals (`renew` ops) that ended ok.
    #[serde(default)]
    pub renewed: u64,
    /// Renewals that failed or whose outcome is unknown.
    #[serde(default)]
    pub renew_failed: u64,
}

/// The verdict of the locks checker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocksResult {
    /// The verdict.
    pub valid: Verdict,
    /// The lock model that judged.
    #[serde(default)]
    pub model: LockModel,
    /// Why the verdict is unknown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Counts (exact, even where the lists are capped).
    pub counts: LockCounts,
    /// Split locks (sorted by the second hold's start; at most `max_evidence`).
    pub split_locks: Vec<SplitLock>,
    /// Token regressions (in history order; at most `max_evidence`).
    pub token_regressions: Vec<TokenRegression>,
}

#[derive(Deserialize)]
struct AcquireInvoke<'a> {
    #[serde(borrow)]
    lock: Cow<'a, str>,
    ttl_ms: u64,
}

#[derive(Deserialize)]
struct AcquireOk {
    token: u64,
    #[serde(default)]
    lease: Option<u64>,
}

#[derive(Deserialize)]
struct RenewInvoke {
    lease: u64,
}

#[derive(Deserialize)]
struct ReleaseInvoke<'a> {
    #[serde(borrow)]
    lock: Cow<'a, str>,
}

struct PendingAcquire {
    lock: usize,
    ttl_ms: u64,
    invoke: OpEvidence,
    /// The largest-token grant of this lock completed before this invoke.
    max_before: Option<Grant>,
}

#[derive(Default)]
struct LockState {
    name: String,
    max_grant: Option<Grant>,
    holds: Vec<Hold>,
}

/// Streaming state of the locks checker.
#[derive(Default)]
pub(crate) struct LocksChecker {
    seen: bool,
    names: FxHashMap<String, usize>,
    locks: Vec<LockState>,
    pending: ProcMap<PendingAcquire>,
    /// The hold a process currently has on a lock: (lock, index into its holds).
    active: FxHashMap<(Process, usize), usize>,
    counts: LockCounts,
    regressions: Capped<TokenRegression>,
    errors: Vec<String>,
    error_count: u64,
    /// Renewals in flight: the lease and the renew's invoke.
    pending_renew: ProcMap<(u64, OpEvidence)>,
    /// The latest invoke of an ok renewal, per lease.
    renewals: FxHashMap<u64, OpEvidence>,
}

impl LocksChecker {
    /// Lock holds recorded so far.
    pub fn holds(&self) -> usize {
        self.locks.iter().map(|l| l.holds.len()).sum()
    }

    pub fn observe(&mut self, op: &OpRef<'_>) {
        let f: &str = &op.f;
        if f != ACQUIRE && f != RELEASE && f != RENEW {
            return;
        }
        self.seen = true;
        match (f, op.kind) {
            (ACQUIRE, OpType::Invoke) => self.acquire_invoke(op),
            (ACQUIRE, _) => self.acquire_done(op),
            (RELEASE, OpType::Invoke) => self.release_invoke(op),
            (RENEW, OpType::Invoke) => self.renew_invoke(op),
            (RENEW, _) => self.renew_done(op),
            _ => {}
        }
    }

    fn renew_invoke(&mut self, op: &OpRef<'_>) {
        match op.value.decode::<RenewInvoke>() {
            Ok(v) => self
                .pending_renew
                .insert(op.process, (v.lease, OpEvidence::of(op))),
            Err(e) => self.error(format!(
                "renew at index {}: value must carry \"lease\": N: {e}",
                op.index
            )),
        }
    }

    fn renew_done(&mut self, op: &OpRef<'_>) {
        let Some((lease, invoke)) = self.pending_renew.remove(op.process) else {
            return;
        };
        if op.kind != OpType::Ok {
            self.counts.renew_failed += 1;
            return;
        }
        self.counts.renewed += 1;
        let last = self.renewals.entry(lease).or_insert(invoke);
        if last.time < invoke.time {
            *last = invoke;
        }
    }

    fn lock_id(&mut self, name: &str) -> usize {
        if let Some(&i) = self.names.get(name) {
            return i;
        }
        let i = self.locks.len();
        self.names.insert(name.to_string(), i);
        self.locks.push(LockState {
            name: name.to_string(),
            ..LockState::default()
        });
        i
    }

    fn error(&mut self, msg: String) {
        self.error_count += 1;
        if self.errors.len() < 10 {
            self.errors.push(msg);
        }
    }

    fn acquire_invoke(&mut self, op: &OpRef<'_>) {
        let fast = op
            .value
            .text()
            .and_then(|t| match fields(t, ["lock", "ttl_ms"])? {
                [Flat::Str(lock), Flat::U64(ttl_ms)] => Some(AcquireInvoke {
                    lock: Cow::Borrowed(lock),
                    ttl_ms,
                }),
                _ => None,
            });
        match fast.map_or_else(|| op.value.decode::<AcquireInvoke<'_>>(), Ok) {
            Ok(v) => {
                let lock = self.lock_id(&v.lock);
                let max_before = self.locks[lock].max_grant;
                self.pending.insert(
                    op.process,
                    PendingAcquire {
                        lock,
                        ttl_ms: v.ttl_ms,
                        invoke: OpEvidence::of(op),
                        max_before,
                    },
                );
            }
            Err(e) => self.error(format!(
                "acquire at index {}: value must be {{\"lock\": NAME, \"ttl_ms\": N}}: {e}",
                op.index
            )),
        }
    }

    fn acquire_done(&mut self, op: &OpRef<'_>) {
        let Some(p) = self.pending.remove(op.process) else {
            return;
        };
        match op.kind {
            OpType::Fail => self.counts.acquire_failed += 1,
            OpType::Info => self.counts.acquire_unknown += 1,
            _ => {}
        }
        if op.kind != OpType::Ok {
            return;
        }
        self.counts.acquired += 1;
        let fast = op.value.text().and_then(|t| {
            if let Some([Flat::U64(token), Flat::U64(lease)]) = fields(t, ["token", "lease"]) {
                return Some(AcquireOk {
                    token,
                    lease: Some(lease),
                });
            }
            match fields(t, ["token"])? {
                [Flat::U64(token)] if !t.contains("\"lease\"") => {
                    Some(AcquireOk { token, lease: None })
                }
                _ => None,
            }
        });
        let (token, lease) = match fast.map_or_else(|| op.value.decode::<AcquireOk>(), Ok) {
            Ok(v) => (v.token, v.lease),
            Err(e) => {
                return self.error(format!(
                    "acquire ok at index {}: value must carry \"token\": N: {e}",
                    op.index
                ))
            }
        };
        let grant = Grant {
            invoke: p.invoke,
            ok: OpEvidence::of(op),
            token,
        };
        let state = &mut self.locks[p.lock];
        if let Some(earlier) = p.max_before {
            if earlier.token >= token {
                self.regressions.push(TokenRegression {
                    lock: state.name.clone(),
                    earlier,
                    later: grant,
                });
            }
        }
        if state.max_grant.is_none_or(|g| g.token < token) {
            state.max_grant = Some(grant);
        }
        let lease_end = p
            .invoke
            .time
            .saturating_add(p.ttl_ms.saturating_mul(1_000_000));
        state.holds.push(Hold {
            process: op.process,
            token,
            acquire_invoke: p.invoke,
            acquire_ok: grant.ok,
            ttl_ms: p.ttl_ms,
            release_invoke: None,
            lease,
            renewed: None,
            start: op.time,
            end: lease_end,
        });
        let idx = state.holds.len() - 1;
        self.active.insert((op.process, p.lock), idx);
    }

    fn release_invoke(&mut self, op: &OpRef<'_>) {
        self.counts.releases += 1;
        let fast = op.value.text().and_then(|t| match fields(t, ["lock"])? {
            [Flat::Str(lock)] => Some(ReleaseInvoke {
                lock: Cow::Borrowed(lock),
            }),
            _ => None,
        });
        let v = match fast.map_or_else(|| op.value.decode::<ReleaseInvoke<'_>>(), Ok) {
            Ok(v) => v,
            Err(e) => {
                return self.error(format!(
                    "release at index {}: value must be {{\"lock\": NAME, \"token\": N}}: {e}",
                    op.index
                ))
            }
        };
        let Some(&lock) = self.names.get(v.lock.as_ref()) else {
            return;
        };
        if let Some(idx) = self.active.remove(&(op.process, lock)) {
            self.locks[lock].holds[idx].release_invoke = Some(OpEvidence::of(op));
        }
    }

    /// The result; `None` when the history has no lock operations at all. `history_end` is
    /// the time of the history's last op (the mutex model's end of a hold never released).
    pub fn finish(mut self, opts: &CheckOptions, history_end: u64) -> Option<LocksResult> {
        if !self.seen {
            return None;
        }
        let model = opts.lock_model;
        for state in &mut self.locks {
            for h in &mut state.holds {
                set_end(h, model, &self.renewals, history_end);
            }
        }
        let mut splits = Capped::new();
        for state in &self.locks {
            sweep(state, &mut splits, &mut self.counts.certain_holds);
        }
        self.counts.locks = self.locks.len() as u64;
        let cap = opts.max_evidence;
        let (split_locks, n_splits) = splits.finish(cap, |a: &SplitLock, b: &SplitLock| {
            (
                a.second.start,
                a.second.acquire_ok.index,
                a.first.acquire_ok.index,
            )
                .cmp(&(
                    b.second.start,
                    b.second.acquire_ok.index,
                    b.first.acquire_ok.index,
                ))
        });
        let (token_regressions, n_reg) = self
            .regressions
            .finish(cap, |a, b| a.later.ok.index.cmp(&b.later.ok.index));
        self.counts.split_locks = n_splits;
        self.counts.token_regressions = n_reg;
        let mut reasons = Vec::new();
        if self.error_count > 0 {
            reasons.push(format!(
                "{} malformed lock op(s), e.g. {}",
                self.error_count,
                self.errors.join("; ")
            ));
        }
        let valid = if n_splits + n_reg > 0 {
            Verdict::Invalid
        } else if !reasons.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
        Some(LocksResult {
            valid,
            model,
            reasons,
            counts: self.counts,
            split_locks,
            token_regressions,
        })
    }
}

/// Where `h` ends under `model` (see the module's text).
fn set_end(
    h: &mut Hold,
    model: LockModel,
    renewals: &FxHashMap<u64, OpEvidence>,
    history_end: u64,
) {
    let release = h.release_invoke.map(|r| r.time);
    h.end = match model {
        LockModel::Mutex => release.unwrap_or(history_end.saturating_add(1)),
        LockModel::Lease => {
            h.renewed = h
                .lease
                .and_then(|l| renewals.get(&l))
                .filter(|r| r.time > h.acquire_invoke.time)
                .copied();
            let from = h.renewed.map_or(h.acquire_invoke.time, |r| r.time);
            let lease_end = from.saturating_add(h.ttl_ms.saturating_mul(1_000_000));
            release.map_or(lease_end, |r| r.min(lease_end))
        }
    };
}

/// Finds every overlapping pair of certain holds of one lock by different processes.
/// Holds are pushed in ok order, which is start order (time is non-decreasing).
fn sweep(state: &LockState, out: &mut Capped<SplitLock>, holds: &mut u64) {
    // Holds still certainly held at the current start time. Normally at most one.
    let mut running: BTreeMap<usize, u64> = BTreeMap::new(); // hold index -> end
    for (i, h) in state.holds.iter().enumerate() {
        if h.end <= h.start {
            continue; // the lease ran out before the grant was known: no certain hold
        }
        *holds += 1;
        running.retain(|_, end| *end > h.start);
        for &j in running.keys() {
            let a = &state.holds[j];
            if a.process != h.process {
                out.push(SplitLock {
                    lock: state.name.clone(),
                    first: a.clone(),
                    second: h.clone(),
                    overlap: [h.start, a.end.min(h.end)],
                });
            }
        }
        running.insert(i, h.end);
    }
}

#[cfg(test)]
mod tests {
    //! Edge cases of the certain-hold rule (docs/results-format.md, `locks`: a hold is
    //! `[acquire ok, min(release invoke, acquire invoke + ttl))`, end exclusive), each on a
    //! small inline history with its exact anomaly list.

    use super::*;
    use crate::check_ops;
    use histories::Op;
    use serde_json::{json, Value};

    const MS: u64 = 1_000_000;

    /// A history built op by op; indexes follow the order of the calls.
    #[derive(Default)]
    struct History {
        ops: Vec<Op>,
    }

    impl History {
        fn clone_ops(&self) -> History {
            History {
                ops: self.ops.clone(),
            }
        }

        fn push(&mut self, at: u64, p: u64, kind: OpType, f: &str, value: Value) -> OpEvidence {
            let index = self.ops.len() as u64;
            self.ops.push(Op {
                index,
                time: at,
                process: Process::Client(p),
                kind,
                f: f.into(),
                value,
                node: None,
                error: None,
            });
            OpEvidence {
                index,
                time: at,
                process: Process::Client(p),
            }
        }

        fn acquire(&mut self, at: u64, p: u64, ttl_ms: u64) -> OpEvidence {
            let v = json!({"lock": "l", "ttl_ms": ttl_ms});
            self.push(at, p, OpType::Invoke, ACQUIRE, v)
        }

        fn acquired(&mut self, at: u64, p: u64, ttl_ms: u64, token: u64) -> OpEvidence {
            let v = json!({"lock": "l", "ttl_ms": ttl_ms, "token": token});
            self.push(at, p, OpType::Ok, ACQUIRE, v)
        }

        fn release(&mut self, at: u64, p: u64, token: u64) -> OpEvidence {
            let v = json!({"lock": "l", "token": token});
            self.push(at, p, OpType::Invoke, RELEASE, v)
        }

        fn released(&mut self, at: u64, p: u64, token: u64) -> OpEvidence {
            let v = json!({"lock": "l", "token": token});
            self.push(at, p, OpType::Ok, RELEASE, v)
        }

        fn check(self) -> LocksResult {
            let r = check_ops(self.ops, &CheckOptions::default());
            r.locks.expect("the history has lock ops")
        }

        /// The checker's holds before the sweep, their ends set (to see where a hold ends).
        fn holds(&self) -> Vec<Hold> {
            let mut c = LocksChecker::default();
            for op in &self.ops {
                c.observe(&op.as_ref());
            }
            let end = self.ops.last().map_or(0, |o| o.time);
            let mut holds: Vec<Hold> = c.locks.into_iter().flat_map(|l| l.holds).collect();
            for h in &mut holds {
                set_end(h, LockModel::Lease, &c.renewals, end);
            }
            holds
        }

        fn check_with(self, model: LockModel) -> LocksResult {
            let opts = CheckOptions {
                lock_model: model,
                ..CheckOptions::default()
            };
            check_ops(self.ops, &opts)
                .locks
                .expect("the history has lock ops")
        }

        /// An acquire ok carrying the lease the lock hangs on.
        fn acquired_leased(&mut self, at: u64, p: u64, ttl_ms: u64, token: u64, lease: u64) {
            let v = json!({"lock": "l", "ttl_ms": ttl_ms, "token": token, "lease": lease});
            self.push(at, p, OpType::Ok, ACQUIRE, v);
        }

        /// A keep-alive of `lease` by process `p`, invoked at `at`, ending `kind` 10 ms later.
        fn renew(&mut self, at: u64, p: u64, lease: u64, kind: OpType) -> OpEvidence {
            let v = json!({"lock": "l", "lease": lease});
            let inv = self.push(at, p, OpType::Invoke, RENEW, v.clone());
            self.push(at + 10 * MS, p, kind, RENEW, v);
            inv
        }
    }

    /// A certain hold, as the checker reports it.
    fn hold(
        invoke: OpEvidence,
        ok: OpEvidence,
        ttl_ms: u64,
        token: u64,
        release: Option<OpEvidence>,
    ) -> Hold {
        let lease_end = invoke.time + ttl_ms * MS;
        Hold {
            process: ok.process,
            token,
            acquire_invoke: invoke,
            acquire_ok: ok,
            ttl_ms,
            release_invoke: release,
            lease: None,
            renewed: None,
            start: ok.time,
            end: release.map_or(lease_end, |r| r.time.min(lease_end)),
        }
    }

    /// p0's lease was asked for at its invoke (t = 0) for 1000 ms, so from t = 1000 ms on it
    /// may have run out whatever p0 believes: its certain hold is `[10 ms, 1000 ms)`, end
    /// exclusive. A grant to p1 known at exactly 1000 ms overlaps nothing, so it is not a split
    /// lock; one nanosecond earlier it is, with the overlap `[999.999999 ms, 1000 ms)`.
    #[test]
    fn a_lease_ending_exactly_at_a_later_grant_is_not_a_split_lock() {
        for (p1_ok_at, split) in [(1000 * MS, false), (1000 * MS - 1, true)] {
            let mut h = History::default();
            let a_inv = h.acquire(0, 0, 1000);
            let a_ok = h.acquired(10 * MS, 0, 1000, 1);
            let b_inv = h.acquire(900 * MS, 1, 1000);
            let b_ok = h.acquired(p1_ok_at, 1, 1000, 2);
            let r = h.check();
            let want = if split {
                vec![SplitLock {
                    lock: "l".into(),
                    first: hold(a_inv, a_ok, 1000, 1, None),
                    second: hold(b_inv, b_ok, 1000, 2, None),
                    overlap: [1000 * MS - 1, 1000 * MS],
                }]
            } else {
                vec![]
            };
            assert_eq!(r.split_locks, want, "p1's grant known at {p1_ok_at} ns");
            assert_eq!(r.token_regressions, vec![]);
            assert_eq!(r.counts.certain_holds, 2);
            let valid = if split {
                Verdict::Invalid
            } else {
                Verdict::Valid
            };
            assert_eq!(r.valid, valid, "p1's grant known at {p1_ok_at} ns");
        }
    }

    /// A release that loses the race with the TTL (invoked after the lease ran out) does not
    /// stretch the hold: it still ends at invoke + ttl, so a grant between the lease's end and
    /// the late release is no split lock. A release that wins the race ends the hold at its
    /// invoke: a grant known at that instant is no split lock, one known a nanosecond before it
    /// is.
    #[test]
    fn a_release_racing_the_ttl_ends_the_hold_at_the_earlier_of_the_two() {
        // Lost race: p0 releases at 1100 ms, its lease ran out at 1000 ms, p1 got it at 1050.
        let mut h = History::default();
        let a_inv = h.acquire(0, 0, 1000);
        let a_ok = h.acquired(10 * MS, 0, 1000, 1);
        h.acquire(1000 * MS, 1, 1000);
        h.acquired(1050 * MS, 1, 1000, 2);
        let late = h.release(1100 * MS, 0, 1);
        h.released(1150 * MS, 0, 1);
        let holds = h.holds();
        assert_eq!(holds[0], hold(a_inv, a_ok, 1000, 1, Some(late)));
        assert_eq!(
            holds[0].end,
            1000 * MS,
            "the late release does not extend the hold"
        );
        let r = h.check();
        assert_eq!(r.split_locks, vec![]);
        assert_eq!(r.token_regressions, vec![]);
        assert_eq!(r.valid, Verdict::Valid);

        // Won race: p0 releases at 500 ms, well within its lease.
        for (p1_ok_at, split) in [(500 * MS, false), (500 * MS - 1, true)] {
            let mut h = History::default();
            let a_inv = h.acquire(0, 0, 1000);
            let a_ok = h.acquired(10 * MS, 0, 1000, 1);
            let b_inv = h.acquire(400 * MS, 1, 1000);
            let b_ok = h.acquired(p1_ok_at, 1, 1000, 2);
            let rel = h.release(500 * MS, 0, 1);
            h.released(510 * MS, 0, 1);
            let r = h.check();
            let want = if split {
                vec![SplitLock {
                    lock: "l".into(),
                    first: hold(a_inv, a_ok, 1000, 1, Some(rel)),
                    second: hold(b_inv, b_ok, 1000, 2, None),
                    overlap: [500 * MS - 1, 500 * MS],
                }]
            } else {
                vec![]
            };
            assert_eq!(r.split_locks, want, "p1's grant known at {p1_ok_at} ns");
            assert_eq!(r.token_regressions, vec![]);
        }
    }

    /// An acquire that ends `info` may or may not hold the lock: it is never a certain hold,
    /// so a grant to another process during its would-be lease is no split lock, and its
    /// unknown token is never compared. An acquire whose ok arrives when its lease may already
    /// have run out (invoke + ttl <= ok) is no certain hold either.
    #[test]
    fn an_info_acquire_or_a_grant_known_after_its_lease_is_never_a_certain_hold() {
        let mut h = History::default();
        h.acquire(0, 0, 1000);
        h.push(
            50 * MS,
            0,
            OpType::Info,
            ACQUIRE,
            json!({"lock": "l", "ttl_ms": 1000}),
        );
        h.acquire(60 * MS, 1, 1000);
        h.acquired(70 * MS, 1, 1000, 1);
        // p2 asks for 100 ms at 100 ms and hears back at 200 ms, exactly when its lease may
        // have run out: the certain hold `[200 ms, 200 ms)` is empty.
        h.acquire(100 * MS, 2, 100);
        h.acquired(200 * MS, 2, 100, 2);
        let r = h.check();
        assert_eq!(r.split_locks, vec![]);
        assert_eq!(r.token_regressions, vec![]);
        assert_eq!(r.valid, Verdict::Valid);
        assert_eq!(
            (
                r.counts.acquired,
                r.counts.acquire_unknown,
                r.counts.certain_holds
            ),
            (2, 1, 1),
            "only p1's grant is a certain hold: {:?}",
            r.counts
        );
    }

    /// Lease model with renewals: p0's lease (1000 ms, asked at 0) is kept alive by an ok
    /// renewal invoked at 600 ms, so p0 certainly holds the lock until 1600 ms; a grant to p1
    /// known at 1500 ms is a split lock, one known at exactly 1600 ms is not. A renewal that
    /// failed or whose outcome is unknown, or one of another lease, extends nothing.
    #[test]
    fn an_ok_renewal_extends_the_lease_and_nothing_else_does() {
        for (p1_ok_at, renew_kind, lease, split) in [
            (1500 * MS, OpType::Ok, 7, true),
            (1600 * MS, OpType::Ok, 7, false),
            (1500 * MS, OpType::Fail, 7, false),
            (1500 * MS, OpType::Info, 7, false),
            (1500 * MS, OpType::Ok, 8, false),
        ] {
            let mut h = History::default();
            let a_inv = h.acquire(0, 0, 1000);
            h.acquired_leased(10 * MS, 0, 1000, 1, 7);
            // The keep-alive runs under a process of its own (100), as the workload records it.
            let r_inv = h.renew(600 * MS, 100, lease, renew_kind);
            h.acquire(1100 * MS, 1, 1000);
            h.acquired_leased(p1_ok_at, 1, 1000, 2, 9);
            let holds = h.holds();
            let renewed = (renew_kind == OpType::Ok && lease == 7).then_some(r_inv);
            assert_eq!(holds[0].renewed, renewed, "{renew_kind:?} of lease {lease}");
            assert_eq!(holds[0].acquire_invoke, a_inv);
            let end = if renewed.is_some() { 1600 } else { 1000 };
            assert_eq!(holds[0].end, end * MS, "{renew_kind:?} of lease {lease}");
            let r = h.check_with(LockModel::Lease);
            assert_eq!(r.model, LockModel::Lease);
            assert_eq!(
                r.counts.split_locks,
                u64::from(split),
                "p1 at {p1_ok_at}, {renew_kind:?} of lease {lease}"
            );
            let renewed_count = u64::from(renew_kind == OpType::Ok);
            assert_eq!(
                (r.counts.renewed, r.counts.renew_failed),
                (renewed_count, 1 - renewed_count)
            );
        }
    }

    /// Mutex model (Jepsen's): a hold lasts from the acquire's ok until the release's invoke,
    /// whatever the lease, or to the end of the history when never released. p0 takes the
    /// lock at 10 ms with a 1000 ms lease that is never renewed and releases it at 3000 ms;
    /// p1 gets it at 2000 ms. The lease model says p0's hold ended at 1000 ms (no split lock);
    /// the mutex model says p0 held it until 3000 ms: a split lock over [2000 ms, 3000 ms).
    /// Without the release, the overlap runs to the history's end (its last op + 1 ns).
    #[test]
    fn the_mutex_model_ignores_leases_and_holds_to_the_release_or_the_end() {
        for released in [true, false] {
            let mut h = History::default();
            h.acquire(0, 0, 1000);
            h.acquired_leased(10 * MS, 0, 1000, 1, 7);
            h.acquire(1900 * MS, 1, 1000);
            h.acquired_leased(2000 * MS, 1, 1000, 2, 9);
            if released {
                h.release(3000 * MS, 0, 1);
                h.released(3010 * MS, 0, 1);
            } else {
                h.release(2500 * MS, 1, 2);
                h.released(4000 * MS, 1, 2);
            }
            let lease = h.clone_ops().check_with(LockModel::Lease);
            assert_eq!(lease.valid, Verdict::Valid, "released: {released}");
            assert_eq!(lease.model, LockModel::Lease);
            let mutex = h.check_with(LockModel::Mutex);
            assert_eq!(mutex.model, LockModel::Mutex);
            assert_eq!(mutex.valid, Verdict::Invalid, "released: {released}");
            let want = if released {
                [2000 * MS, 3000 * MS]
            } else {
                [2000 * MS, 2500 * MS]
            };
            assert_eq!(mutex.split_locks.len(), 1);
            assert_eq!(mutex.split_locks[0].overlap, want, "released: {released}");
        }
        // Never released by either: both holds run to the end (4000 ms + 1 ns).
        let mut h = History::default();
        h.acquire(0, 0, 1000);
        h.acquired(10 * MS, 0, 1000, 1);
        h.acquire(1900 * MS, 1, 1000);
        h.acquired(2000 * MS, 1, 1000, 2);
        h.acquire(4000 * MS, 2, 1000);
        h.push(
            4000 * MS,
            2,
            OpType::Fail,
            ACQUIRE,
            json!({"lock": "l", "ttl_ms": 1000}),
        );
        let r = h.check_with(LockModel::Mutex);
        assert_eq!(r.split_locks[0].overlap, [2000 * MS, 4000 * MS + 1]);
    }
}
