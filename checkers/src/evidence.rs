//! The evidence an anomaly carries: which ops prove it (index, time, process).

use std::fmt;

use histories::{OpRef, Process};
use serde::{Deserialize, Serialize};

/// One op, as evidence: enough to find it in the history and place it in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpEvidence {
    /// The op's `index` (its position in the history).
    pub index: u64,
    /// The op's `time`, nanoseconds since the test started.
    pub time: u64,
    /// The op's process.
    pub process: Process,
}

impl OpEvidence {
    /// The evidence of `op`.
    pub fn of(op: &OpRef<'_>) -> Self {
        OpEvidence {
            index: op.index,
            time: op.time,
            process: op.process,
        }
    }
}

impl fmt::Display for OpEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "index {} (t={}, process {})",
            self.index,
            Secs(self.time),
            self.process
        )
    }
}

/// Nanoseconds displayed as seconds with millisecond precision, e.g. `12.345s`.
#[derive(Debug, Clone, Copy)]
pub struct Secs(pub u64);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:03}s",
            self.0 / 1_000_000_000,
            (self.0 / 1_000_000) % 1000
        )
    }
}

/// Keeps the first `cap` items pushed (in a later-sorted order) and counts them all, so a
/// history with 300,000 lost tasks yields a bounded report with the right count.
#[derive(Debug, Clone)]
pub(crate) struct Capped<T> {
    pub items: Vec<T>,
    pub count: u64,
}

impl<T> Default for Capped<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Capped<T> {
    pub fn new() -> Self {
        Capped {
            items: Vec::new(),
            count: 0,
        }
    }

    /// Pushes `item` (all items are kept; [`Self::finish`] cuts to the cap after sorting).
    pub fn push(&mut self, item: T) {
        self.items.push(item);
        self.count += 1;
    }

    /// Adds all of `other`'s items and its count.
    pub fn append(&mut self, mut other: Capped<T>) {
        self.items.append(&mut other.items);
        self.count += other.count;
    }

    /// Sorts by `cmp` and keeps the first `cap`.
    pub fn finish(
        mut self,
        cap: usize,
        cmp: impl FnMut(&T, &T) -> std::cmp::Ordering,
    ) -> (Vec<T>, u64) {
        self.items.sort_by(cmp);
        self.items.truncate(cap);
        (self.items, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secs_format() {
        // Proves the time rendering used in summaries.
        assert_eq!(Secs(12_345_678_901).to_string(), "12.345s");
        assert_eq!(Secs(5).to_string(), "0.000s");
    }

    #[test]
    fn capped_counts_all_keeps_first() {
        // Proves the count is exact while the list is cut after sorting.
        let mut c = Capped::new();
        for x in [5, 3, 9, 1] {
            c.push(x);
        }
        let (items, count) = c.finish(2, |a, b| a.cmp(b));
        assert_eq!(items, vec![1, 3]);
        assert_eq!(count, 4);
    }
}
