//! Lock operations on a CASPaxos register: leases and fencing tokens.
//!
//! A lock is granted only when it is free, or when a majority of acceptors, each by its own
//! monotonic clock, has held the current grant for at least its TTL ([`View::expired`]). An
//! acceptor first saw the grant after the client invoked `acquire`, so "elapsed since accept
//! at least ttl" on an acceptor implies the client's lease (invoke + ttl) is over. Every grant
//! takes the token one above the last, so tokens grow strictly per lock.

use super::decision::{Decision, Outcome};
use super::message::{LockVal, OpId, Value};
use super::paxos::View;

/// A lock operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOp {
    Acquire { client: String, ttl_ms: u64 },
    Release { client: String, token: u64 },
}

/// Applies `op` (identified by `me`) to the register's current value.
pub fn decide(op: &LockOp, view: &View, me: &OpId) -> Decision {
    let current = match &view.current {
        None => None,
        Some(Value::Lock(l)) => Some(l),
        Some(_) => return Decision::Reject("key does not hold a lock".into()),
    };
    match op {
        LockOp::Acquire { client, ttl_ms } => acquire(current, view, me, client, *ttl_ms),
        LockOp::Release { client, token } => release(current, me, client, *token),
    }
}

fn acquire(cur: Option<&LockVal>, view: &View, me: &OpId, client: &str, ttl_ms: u64) -> Decision {
    let grant = |token: u64| {
        let v = LockVal {
            holder: Some(client.to_string()),
            token,
            ttl_ms,
            op: Some(me.clone()),
        };
        Decision::Write(Value::Lock(v), Outcome::Granted(token))
    };
    let Some(cur) = cur else {
        return grant(1);
    };
    if cur.op.as_ref() == Some(me) {
        // An earlier attempt of this very operation was chosen.
        return Decision::Keep(Outcome::Granted(cur.token));
    }
    match &cur.holder {
        None => grant(cur.token + 1),
        Some(_) if view.expired(cur.ttl_ms) => grant(cur.token + 1),
        Some(h) => Decision::Reject(format!("lock held by {h} (token {})", cur.token)),
    }
}

fn release(cur: Option<&LockVal>, me: &OpId, client: &str, token: u64) -> Decision {
    let Some(cur) = cur else {
        return Decision::Reject("lock was never granted".into());
    };
    if cur.op.as_ref() == Some(me) {
        return Decision::Keep(Outcome::Released);
    }
    if cur.holder.as_deref() == Some(client) && cur.token == token {
        let v = LockVal {
            holder: None,
            token: cur.token,
            ttl_ms: cur.ttl_ms,
            op: Some(me.clone()),
        };
        return Decision::Write(Value::Lock(v), Outcome::Released);
    }
    match &cur.holder {
        Some(h) => Decision::Reject(format!(
            "not the holder: lock held by {h} with token {}",
            cur.token
        )),
        None => Decision::Reject(format!("lock is free (last token {})", cur.token)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::message::NodeId;

    fn op(seq: u64) -> OpId {
        OpId {
            node: NodeId::from("n1"),
            gen: 1,
            seq,
        }
    }

    fn view(cur: Option<LockVal>, ages: Vec<u64>) -> View {
        View {
            current: cur.map(Value::Lock),
            ages_of_current: ages,
            all_agree: true,
            quorum: 2,
        }
    }

    fn held(token: u64) -> LockVal {
        LockVal {
            holder: Some("p1".into()),
            token,
            ttl_ms: 1000,
            op: Some(op(99)),
        }
    }

    fn acq(client: &str) -> LockOp {
        LockOp::Acquire {
            client: client.into(),
            ttl_ms: 500,
        }
    }

    #[test]
    fn free_lock_is_granted_with_next_token() {
        let d = decide(&acq("p2"), &view(None, vec![]), &op(1));
        assert!(matches!(d, Decision::Write(_, Outcome::Granted(1))));
        let mut free = held(7);
        free.holder = None;
        let d = decide(&acq("p2"), &view(Some(free), vec![0, 0]), &op(1));
        assert!(matches!(d, Decision::Write(_, Outcome::Granted(8))));
    }

    #[test]
    fn held_lock_needs_a_majority_of_expired_ages() {
        // One acceptor alone saying "expired" is not enough.
        let d = decide(&acq("p2"), &view(Some(held(3)), vec![5000, 10]), &op(1));
        assert!(matches!(d, Decision::Reject(_)), "{d:?}");
        let d = decide(&acq("p2"), &view(Some(held(3)), vec![1000, 1200]), &op(1));
        assert!(
            matches!(d, Decision::Write(_, Outcome::Granted(4))),
            "{d:?}"
        );
    }

    #[test]
    fn retried_acquire_recognises_its_own_grant() {
        let mut mine = held(4);
        mine.op = Some(op(5));
        let d = decide(&acq("p1"), &view(Some(mine), vec![0, 0]), &op(5));
        assert_eq!(d, Decision::Keep(Outcome::Granted(4)));
    }

    #[test]
    fn release_checks_holder_and_token() {
        let rel = |c: &str, t| LockOp::Release {
            client: c.into(),
            token: t,
        };
        let v = view(Some(held(3)), vec![0, 0]);
        assert!(matches!(
            decide(&rel("p1", 3), &v, &op(1)),
            Decision::Write(_, Outcome::Released)
        ));
        assert!(matches!(
            decide(&rel("p2", 3), &v, &op(1)),
            Decision::Reject(_)
        ));
        assert!(matches!(
            decide(&rel("p1", 2), &v, &op(1)),
            Decision::Reject(_)
        ));
    }
}
