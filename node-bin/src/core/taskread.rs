//! The quorum read of every task register (`GET /tasks`), as a sans-IO state machine.
//!
//! The node asks every configured member (itself included) for its *durable* task registers
//! ([`Output::FetchTasks`](super::node::Output::FetchTasks)); the transport is the shell's
//! business (HTTP `GET /internal/tasks` in production, so that tens of thousands of tasks
//! never travel in one UDP datagram nor stall the core thread; simulated messages in
//! `gauntlet-sim`). Each answer, or the news that a member could not answer, comes back as
//! [`Input::Tasks`](super::node::Input::Tasks). Once a majority answered, the highest ballot
//! of each task wins ([`super::tasks::merge`]), so every acknowledged task appears.

use super::message::{Ballot, NodeId, TaskState, Value};
use super::tasks;
use super::wal::Record;
use std::collections::BTreeMap;
use std::time::Duration;

/// One task as a quorum read needs it: (id, ballot, (state, runs)).
pub type Entry = (String, Ballot, (TaskState, u32));

/// The merged result: id -> (state, runs).
pub type Merged = BTreeMap<String, (TaskState, u32)>;

/// A node's durable task registers, as the answer to a quorum read needs them: the shell keeps
/// one behind a lock and applies each record right after it is fsynced; the simulator applies
/// each record when its simulated sync completes. So both answer from the same state.
#[derive(Debug, Default, Clone)]
pub struct DurableTasks {
    map: BTreeMap<String, (Ballot, TaskState, u32)>,
}

impl DurableTasks {
    /// Applies acceptor records (only task registers with an accepted value matter).
    pub fn apply(&mut self, recs: &[Record]) {
        for r in recs {
            let (Some(id), Some((b, Value::Task(t)))) = (r.key.strip_prefix("t/"), &r.accepted)
            else {
                continue;
            };
            self.map
                .insert(id.to_string(), (b.clone(), t.state, t.runs));
        }
    }

    /// A copy of every entry, in id order.
    pub fn snapshot(&self) -> Vec<Entry> {
        self.map
            .iter()
            .map(|(k, (b, s, r))| (k.clone(), b.clone(), (*s, *r)))
            .collect()
    }
}

/// One read in flight.
#[derive(Debug)]
pub struct TaskRead {
    members: usize,
    quorum: usize,
    answers: BTreeMap<NodeId, Vec<Entry>>,
    failed: BTreeMap<NodeId, ()>,
    /// The read fails when no quorum answered by then.
    pub deadline: Duration,
}

/// What one answer does to a read.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    Waiting,
    Done(Merged),
    /// No quorum can answer any more; the message says how many did.
    Failed(String),
}

impl TaskRead {
    pub fn new(members: usize, deadline: Duration) -> TaskRead {
        TaskRead {
            members,
            quorum: members / 2 + 1,
            answers: BTreeMap::new(),
            failed: BTreeMap::new(),
            deadline,
        }
    }

    /// Takes one member's answer (`None`: it could not answer). Repeated answers of one
    /// member count once.
    pub fn on_answer(&mut self, from: NodeId, snapshot: Option<Vec<Entry>>) -> Progress {
        if self.answers.contains_key(&from) || self.failed.contains_key(&from) {
            return Progress::Waiting;
        }
        match snapshot {
            Some(s) => {
                self.answers.insert(from, s);
            }
            None => {
                self.failed.insert(from, ());
            }
        }
        if self.answers.len() >= self.quorum {
            let snaps = std::mem::take(&mut self.answers).into_values();
            return Progress::Done(tasks::merge(snaps));
        }
        if self.members - self.failed.len() < self.quorum {
            return Progress::Failed(self.failure());
        }
        Progress::Waiting
    }

    /// Why the read failed (at its deadline or when too many members could not answer).
    pub fn failure(&self) -> String {
        format!(
            "quorum read failed: {} of {} members answered, {} needed",
            self.answers.len(),
            self.members,
            self.quorum
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: &str, round: u64, runs: u32) -> Entry {
        let b = Ballot {
            round,
            node: NodeId::from("n1"),
            gen: 1,
        };
        (id.into(), b, (TaskState::Pending, runs))
    }

    #[test]
    fn a_majority_answers_and_the_highest_ballot_wins() {
        let mut r = TaskRead::new(3, Duration::from_secs(1));
        assert_eq!(
            r.on_answer(NodeId::from("n1"), Some(vec![e("a", 1, 1)])),
            Progress::Waiting
        );
        // The same member again counts once.
        assert_eq!(
            r.on_answer(NodeId::from("n1"), Some(vec![e("a", 9, 9)])),
            Progress::Waiting
        );
        let Progress::Done(m) = r.on_answer(NodeId::from("n2"), Some(vec![e("a", 2, 2)])) else {
            panic!("two of three is a quorum");
        };
        assert_eq!(m["a"], (TaskState::Pending, 2));
    }

    #[test]
    fn fails_as_soon_as_no_quorum_can_answer() {
        let mut r = TaskRead::new(3, Duration::from_secs(1));
        assert_eq!(r.on_answer(NodeId::from("n2"), None), Progress::Waiting);
        assert_eq!(
            r.on_answer(NodeId::from("n3"), None),
            Progress::Failed("quorum read failed: 0 of 3 members answered, 2 needed".into())
        );
    }
}
