//! The one event queue: events ordered by (virtual time, insertion sequence), so events due at
//! the same instant run in the order they were scheduled (FIFO), never by heap layout.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Virtual nanoseconds since the simulation started (true, global time).
pub type Nanos = u64;

/// A heap entry: 24 bytes, so that sifting moves little; the event waits in the slab.
struct Entry {
    at: Nanos,
    seq: u64,
    slot: u32,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    /// Reversed: `BinaryHeap` is a max-heap and the earliest (at, seq) must come out first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// A min-queue of events keyed by (at, seq).
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry>,
    slab: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
}

impl<E> std::fmt::Debug for EventQueue<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventQueue")
            .field("len", &self.heap.len())
            .field("seq", &self.seq)
            .finish()
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Schedules `ev` at `at`; returns its sequence number.
    pub fn push(&mut self, at: Nanos, ev: E) -> u64 {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = Some(ev);
                s
            }
            None => {
                self.slab.push(Some(ev));
                (self.slab.len() - 1) as u32
            }
        };
        self.heap.push(Entry {
            at,
            seq: self.seq,
            slot,
        });
        self.seq
    }

    /// Removes the earliest event if it is due at or before `until`.
    pub fn pop_until(&mut self, until: Nanos) -> Option<(Nanos, u64, E)> {
        if self.heap.peek()?.at > until {
            return None;
        }
        let e = self.heap.pop()?;
        let ev = self.slab[e.slot as usize]
            .take()
            .expect("a queued slot holds its event");
        self.free.push(e.slot);
        Some((e.at, e.seq, ev))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_pop_in_insertion_order_and_time_first() {
        let mut q = EventQueue::default();
        q.push(5, "b1");
        q.push(1, "a");
        q.push(5, "b2");
        q.push(5, "b3");
        assert_eq!(q.pop_until(0).map(|e| e.2), None);
        let order: Vec<_> = std::iter::from_fn(|| q.pop_until(10).map(|e| e.2)).collect();
        assert_eq!(order, ["a", "b1", "b2", "b3"]);
    }
}
