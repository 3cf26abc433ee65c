//! A copy of this node's durable task registers, kept outside the core so that quorum reads of
//! many tasks never stall the core thread (and with it SWIM acks).
//!
//! The log thread applies every record right after it is fsynced; startup applies the replayed
//! log. Readers get (id, ballot, state, runs): all a quorum read needs to merge.

use crate::core::message::{Ballot, TaskState, Value};
use crate::core::wal::Record;
use std::collections::BTreeMap;
use std::sync::RwLock;

/// One task as a quorum read needs it.
pub type Entry = (String, Ballot, (TaskState, u32));

/// The durable task registers of this node's acceptor.
#[derive(Debug, Default)]
pub struct TaskView {
    map: RwLock<BTreeMap<String, (Ballot, TaskState, u32)>>,
}

impl TaskView {
    /// Applies acceptor records (only task registers with an accepted value matter).
    pub fn apply(&self, recs: &[Record]) {
        let mut map = match self.map.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        for r in recs {
            let (Some(id), Some((b, Value::Task(t)))) = (r.key.strip_prefix("t/"), &r.accepted)
            else {
                continue;
            };
            map.insert(id.to_string(), (b.clone(), t.state, t.runs));
        }
    }

    /// A copy of every entry.
    pub fn snapshot(&self) -> Vec<Entry> {
        let map = match self.map.read() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.iter()
            .map(|(k, (b, s, r))| (k.clone(), b.clone(), (*s, *r)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
