//! Task operations on a CASPaxos register, the local runner, and the quorum-read merge.
//!
//! A task is created `pending` (one round, at the zero ballot, with a value every proposer
//! computes the same way), claimed with a compare-and-set by the node it was assigned to
//! (or, on failover, by another node once the holder is dead or its claim lease ran out),
//! renewed while it runs, and marked `done`. Every claim adds one to `runs`.

use super::decision::{Decision, Outcome};
use super::message::{Ballot, NodeId, TaskState, TaskVal, Value};
use super::paxos::View;
use super::wal::fnv1a;
use std::collections::BTreeMap;
use std::time::Duration;

/// A task operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOp {
    /// Create the task if absent.
    Submit { work_ms: u64 },
    /// Read the current value (a CASPaxos identity write).
    Read,
    /// Claim the task to run it on `by`.
    Claim {
        by: NodeId,
        /// `by` was assigned the task (it may claim a pending task at once).
        assigned: bool,
        /// `by`'s membership view says the current holder is dead.
        owner_dead: bool,
        claim_lease_ms: u64,
    },
    /// Extend `by`'s claim `claim`.
    Renew { by: NodeId, claim: u64 },
    /// Mark the task done.
    Done { by: NodeId },
}

/// The value every node writes when it creates task with this `work_ms`.
pub fn fresh_task(work_ms: u64) -> Value {
    Value::Task(TaskVal {
        work_ms,
        state: TaskState::Pending,
        runs: 0,
        owner: None,
        claim: 0,
    })
}

/// Applies `op` to the register's current value.
pub fn decide(op: &TaskOp, view: &View) -> Decision {
    let cur = match &view.current {
        None => None,
        Some(Value::Task(t)) => Some(t),
        Some(_) => return Decision::Reject("key does not hold a task".into()),
    };
    match op {
        TaskOp::Submit { work_ms } => match cur {
            None => Decision::Write(fresh_task(*work_ms), Outcome::Submitted),
            Some(_) => Decision::Keep(Outcome::Submitted),
        },
        TaskOp::Read => Decision::Keep(Outcome::Read(view.current.clone())),
        TaskOp::Claim { .. } => claim(op, cur, view),
        TaskOp::Renew { by, claim } => match cur {
            Some(t)
                if t.state == TaskState::Running
                    && t.owner.as_ref() == Some(by)
                    && t.claim == *claim =>
            {
                let mut t = t.clone();
                t.claim += 1;
                let c = t.claim;
                Decision::Write(Value::Task(t), Outcome::Renewed(c))
            }
            _ => Decision::Keep(Outcome::Skipped("claim lost".into())),
        },
        TaskOp::Done { by } => match cur {
            None => Decision::Keep(Outcome::Skipped("unknown task".into())),
            Some(t) if t.state == TaskState::Done => Decision::Keep(Outcome::Finished),
            Some(t) => {
                let mut t = t.clone();
                t.state = TaskState::Done;
                t.owner = Some(by.clone());
                Decision::Write(Value::Task(t), Outcome::Finished)
            }
        },
    }
}

fn claim(op: &TaskOp, cur: Option<&TaskVal>, view: &View) -> Decision {
    let TaskOp::Claim {
        by,
        assigned,
        owner_dead,
        claim_lease_ms,
    } = op
    else {
        unreachable!("claim() is only called for Claim");
    };
    let Some(t) = cur else {
        return Decision::Keep(Outcome::Skipped("unknown task".into()));
    };
    let may = match t.state {
        TaskState::Done => return Decision::Keep(Outcome::Skipped("done".into())),
        TaskState::Pending => *assigned || view.expired(*claim_lease_ms),
        TaskState::Running => {
            t.owner.as_ref() == Some(by) || *owner_dead || view.expired(*claim_lease_ms)
        }
    };
    if !may {
        let owner = t
            .owner
            .as_ref()
            .map_or("nobody".to_string(), |o| o.0.clone());
        return Decision::Keep(Outcome::Skipped(format!("claimed by {owner}")));
    }
    let mut t = t.clone();
    t.state = TaskState::Running;
    t.owner = Some(by.clone());
    t.runs += 1;
    t.claim += 1;
    let c = t.claim;
    Decision::Write(Value::Task(t), Outcome::Claimed(c))
}

/// A task this node holds a claim on and is running.
#[derive(Debug, Clone)]
pub struct Job {
    pub claim: u64,
    pub finish_at: Duration,
    pub next_renew: Duration,
    /// A renew or done proposal is in flight.
    pub in_flight: bool,
}

/// The tasks this node runs ("sleeping" `work_ms` is just a deadline).
#[derive(Debug, Default)]
pub struct Runner {
    pub jobs: BTreeMap<String, Job>,
}

impl Runner {
    pub fn load(&self) -> u64 {
        self.jobs.len() as u64
    }
}

/// Merges the task registers read from a majority: the value with the highest ballot wins.
pub fn merge<T, I>(snapshots: I) -> BTreeMap<String, T>
where
    I: IntoIterator<Item = Vec<(String, Ballot, T)>>,
{
    let mut best: BTreeMap<String, (Ballot, T)> = BTreeMap::new();
    for snap in snapshots {
        for (id, ballot, val) in snap {
            match best.get(&id) {
                Some((b, _)) if *b >= ballot => {}
                _ => {
                    best.insert(id, (ballot, val));
                }
            }
        }
    }
    best.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

/// This node's place among `alive` in the failover order of task `id` (0 = first to try).
/// Spreading the order by task keeps nodes from all claiming the same task at once.
pub fn failover_rank(id: &str, me: &NodeId, alive: &[NodeId]) -> usize {
    let score = |n: &NodeId| fnv1a(format!("{id}/{n}").as_bytes());
    let mine = score(me);
    alive.iter().filter(|n| *n != me && score(n) < mine).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(cur: Option<TaskVal>, ages: Vec<u64>) -> View {
        View {
            current: cur.map(Value::Task),
            ages_of_current: ages,
            all_agree: true,
            quorum: 2,
        }
    }

    fn running(owner: &str, claim: u64) -> TaskVal {
        TaskVal {
            work_ms: 10,
            state: TaskState::Running,
            runs: 1,
            owner: Some(NodeId::from(owner)),
            claim,
        }
    }

    fn claim_op(by: &str, assigned: bool, owner_dead: bool) -> TaskOp {
        TaskOp::Claim {
            by: NodeId::from(by),
            assigned,
            owner_dead,
            claim_lease_ms: 1000,
        }
    }

    #[test]
    fn submit_is_idempotent() {
        let d = decide(&TaskOp::Submit { work_ms: 5 }, &view(None, vec![]));
        assert_eq!(d, Decision::Write(fresh_task(5), Outcome::Submitted));
        let d = decide(
            &TaskOp::Submit { work_ms: 5 },
            &view(Some(running("n1", 1)), vec![]),
        );
        assert_eq!(d, Decision::Keep(Outcome::Submitted));
    }

    #[test]
    fn live_claim_is_not_stolen_but_dead_or_expired_one_is() {
        let cur = Some(running("n1", 3));
        let d = decide(
            &claim_op("n2", true, false),
            &view(cur.clone(), vec![10, 10]),
        );
        assert!(matches!(d, Decision::Keep(Outcome::Skipped(_))), "{d:?}");
        let d = decide(
            &claim_op("n2", false, true),
            &view(cur.clone(), vec![10, 10]),
        );
        let Decision::Write(Value::Task(t), Outcome::Claimed(4)) = d else {
            panic!("owner dead must allow a claim: {d:?}");
        };
        assert_eq!((t.runs, t.owner), (2, Some(NodeId::from("n2"))));
        let d = decide(&claim_op("n2", false, false), &view(cur, vec![1000, 2000]));
        assert!(
            matches!(d, Decision::Write(_, Outcome::Claimed(4))),
            "{d:?}"
        );
    }

    #[test]
    fn stale_renew_fails_and_done_is_final() {
        let cur = Some(running("n1", 3));
        let by = NodeId::from("n1");
        let d = decide(
            &TaskOp::Renew {
                by: by.clone(),
                claim: 2,
            },
            &view(cur.clone(), vec![]),
        );
        assert!(matches!(d, Decision::Keep(Outcome::Skipped(_))));
        let d = decide(
            &TaskOp::Renew {
                by: by.clone(),
                claim: 3,
            },
            &view(cur.clone(), vec![]),
        );
        assert!(matches!(d, Decision::Write(_, Outcome::Renewed(4))));
        let Decision::Write(done, _) = decide(&TaskOp::Done { by }, &view(cur, vec![])) else {
            panic!("done must write");
        };
        let Value::Task(done) = done else { panic!() };
        let d = decide(&claim_op("n2", true, true), &view(Some(done), vec![]));
        assert!(matches!(d, Decision::Keep(Outcome::Skipped(_))));
    }

    #[test]
    fn merge_takes_highest_ballot() {
        let b = |r| Ballot {
            round: r,
            node: NodeId::from("n1"),
            gen: 0,
        };
        let a = vec![("t1".to_string(), b(1), running("n1", 1))];
        let mut done = running("n1", 1);
        done.state = TaskState::Done;
        let c = vec![
            ("t1".to_string(), b(2), done),
            ("t2".to_string(), b(1), running("n2", 1)),
        ];
        let m = merge(vec![a, c]);
        assert_eq!(m.len(), 2);
        assert_eq!(m["t1"].state, TaskState::Done);
    }

    #[test]
    fn failover_rank_is_a_permutation() {
        let alive: Vec<NodeId> = ["n1", "n2", "n3"]
            .iter()
            .map(|s| NodeId::from(*s))
            .collect();
        let mut ranks: Vec<usize> = alive
            .iter()
            .map(|n| failover_rank("t9", n, &alive))
            .collect();
        ranks.sort();
        assert_eq!(ranks, vec![0, 1, 2]);
    }
}
