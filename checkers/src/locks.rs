//! Split locks and fencing tokens.
//!
//! A client *certainly holds* a lock from its acquire's ok time until the earlier of its
//! release's invoke time and its acquire's invoke time + `ttl_ms` (the lease may have run out
//! from then on, whatever the client believes). Two certain holds of one lock by different
//! processes that overlap are a *split lock*. Tokens must grow: if acquire A completed before
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
    /// Start of the certain hold (ns): the acquire's ok time.
    pub start: u64,
    /// End of the certain hold (ns, exclusive): min(release invoke time, acquire invoke + ttl).
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
}

/// The verdict of the locks checker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocksResult {
    /// The verdict.
    pub valid: Verdict,
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
}

impl LocksChecker {
    /// Lock holds recorded so far.
    pub fn holds(&self) -> usize {
        self.locks.iter().map(|l| l.holds.len()).sum()
    }

    pub fn observe(&mut self, op: &OpRef<'_>) {
        let f: &str = &op.f;
        if f != ACQUIRE && f != RELEASE {
            return;
        }
        self.seen = true;
        match (f, op.kind) {
            (ACQUIRE, OpType::Invoke) => self.acquire_invoke(op),
            (ACQUIRE, _) => self.acquire_done(op),
            (RELEASE, OpType::Invoke) => self.release_invoke(op),
            _ => {}
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
        let fast = op.value.text().and_then(|t| match fields(t, ["token"])? {
            [Flat::U64(token)] => Some(AcquireOk { token }),
            _ => None,
        });
        let token = match fast.map_or_else(|| op.value.decode::<AcquireOk>(), Ok) {
            Ok(v) => v.token,
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
            let hold = &mut self.locks[lock].holds[idx];
            hold.end = hold.end.min(op.time);
            hold.release_invoke = Some(OpEvidence::of(op));
        }
    }

    /// The result; `None` when the history has no lock operations at all.
    pub fn finish(mut self, opts: &CheckOptions) -> Option<LocksResult> {
        if !self.seen {
            return None;
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
            reasons,
            counts: self.counts,
            split_locks,
            token_regressions,
        })
    }
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

        /// The checker's holds before the sweep (to see where a hold ends).
        fn holds(&self) -> Vec<Hold> {
            let mut c = LocksChecker::default();
            for op in &self.ops {
                c.observe(&op.as_ref());
            }
            c.locks.into_iter().flat_map(|l| l.holds).collect()
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
}
