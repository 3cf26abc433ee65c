//! SWIM suspicion timers: a suspected member is declared dead unless it refutes in time.

use super::message::NodeId;
use std::collections::BTreeMap;
use std::time::Duration;

/// Pending suspicions: member -> (incarnation suspected, deadline).
#[derive(Debug, Default)]
pub struct Suspicion {
    timers: BTreeMap<NodeId, (u64, Duration)>,
}

impl Suspicion {
    /// Starts (or keeps) a timer for `id` suspected at `inc`. A newer incarnation restarts it.
    pub fn start(&mut self, id: &NodeId, inc: u64, now: Duration, timeout: Duration) {
        match self.timers.get(id) {
            Some((i, _)) if *i >= inc => {}
            _ => {
                self.timers.insert(id.clone(), (inc, now + timeout));
            }
        }
    }

    /// Forgets the suspicion of `id` (it refuted, or it was declared dead).
    pub fn cancel(&mut self, id: &NodeId) {
        self.timers.remove(id);
    }

    /// Removes and returns the suspicions whose deadline passed.
    pub fn expired(&mut self, now: Duration) -> Vec<(NodeId, u64)> {
        let due: Vec<NodeId> = self
            .timers
            .iter()
            .filter(|(_, (_, d))| *d <= now)
            .map(|(id, _)| id.clone())
            .collect();
        due.into_iter()
            .map(|id| {
                let (inc, _) = self.timers.remove(&id).expect("listed above");
                (id, inc)
            })
            .collect()
    }

    /// The earliest deadline of a pending suspicion.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.timers.values().map(|(_, d)| *d).min()
    }

    pub fn is_suspected(&self, id: &NodeId) -> bool {
        self.timers.contains_key(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_only_after_timeout_and_not_after_cancel() {
        let (a, b) = (NodeId::from("a"), NodeId::from("b"));
        let mut s = Suspicion::default();
        let t = Duration::from_millis(100);
        s.start(&a, 1, Duration::ZERO, t);
        s.start(&b, 1, Duration::ZERO, t);
        assert!(s.expired(Duration::from_millis(99)).is_empty());
        s.cancel(&b);
        assert_eq!(s.expired(Duration::from_millis(100)), vec![(a.clone(), 1)]);
        assert!(!s.is_suspected(&a));
    }
}
