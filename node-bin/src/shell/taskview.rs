//! A copy of this node's durable task registers, kept outside the core so that quorum reads of
//! many tasks never stall the core thread (and with it SWIM acks).
//!
//! The log thread applies every record right after it is fsynced; startup applies the replayed
//! log. Readers get (id, ballot, state, runs): all a quorum read needs to merge.

use crate::core::taskread::DurableTasks;
pub use crate::core::taskread::Entry;
use crate::core::wal::Record;
use std::sync::RwLock;

/// The durable task registers of this node's acceptor (the core's [`DurableTasks`], shared
/// between the log thread and the HTTP handlers).
#[derive(Debug, Default)]
pub struct TaskView {
    map: RwLock<DurableTasks>,
}

impl TaskView {
    /// Applies acceptor records (only task registers with an accepted value matter).
    pub fn apply(&self, recs: &[Record]) {
        let mut map = match self.map.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.apply(recs);
    }

    /// A copy of every entry.
    pub fn snapshot(&self) -> Vec<Entry> {
        let map = match self.map.read() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::message::{Ballot, TaskState};
    use crate::core::tasks::fresh_task;

    #[test]
    fn keeps_the_latest_task_records_only() {
        let v = TaskView::default();
        let rec = |key: &str, accepted| Record {
            key: key.into(),
            promised: Ballot::zero(),
            accepted,
        };
        v.apply(&[
            rec("t/a", Some((Ballot::zero(), fresh_task(5)))),
            rec("t/b", None),
            rec("l/x", None),
        ]);
        let s = v.snapshot();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].0, "a");
        assert_eq!(s[0].2, (TaskState::Pending, 0));
    }
}
