//! A map from process to a checker's per-process state, indexed by number.
//!
//! Client processes are small, dense integers in practice (a worker goes on under a new
//! number after an `info`), so a vector indexed by process number replaces a hash map on the
//! per-op path; the nemesis and very large numbers go to a hash map, so any history works.

use histories::fxhash::FxHashMap;
use histories::Process;

/// Process numbers below this are held in the vector.
const DENSE: u64 = 1 << 20;

/// `Process -> V`.
pub(crate) struct ProcMap<V> {
    dense: Vec<Option<V>>,
    sparse: FxHashMap<Process, V>,
}

impl<V> Default for ProcMap<V> {
    fn default() -> Self {
        ProcMap {
            dense: Vec::new(),
            sparse: FxHashMap::default(),
        }
    }
}

impl<V> ProcMap<V> {
    /// Sets `p`'s entry.
    pub fn insert(&mut self, p: Process, v: V) {
        match p {
            Process::Client(n) if n < DENSE => {
                let n = n as usize;
                if n >= self.dense.len() {
                    self.dense.resize_with(n + 1, || None);
                }
                self.dense[n] = Some(v);
            }
            _ => {
                self.sparse.insert(p, v);
            }
        }
    }

    /// Takes `p`'s entry out.
    pub fn remove(&mut self, p: Process) -> Option<V> {
        match p {
            Process::Client(n) if n < DENSE => self.dense.get_mut(n as usize)?.take(),
            _ => self.sparse.remove(&p),
        }
    }

    /// Every entry left (in no particular order).
    pub fn into_values(self) -> impl Iterator<Item = V> {
        self.dense
            .into_iter()
            .flatten()
            .chain(self.sparse.into_values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_sparse_and_nemesis_entries() {
        // Proves small numbers, huge numbers and the nemesis each keep their own entry.
        let mut m = ProcMap::default();
        m.insert(Process::Client(3), "a");
        m.insert(Process::Client(u64::MAX), "b");
        m.insert(Process::Nemesis, "c");
        assert_eq!(m.remove(Process::Client(3)), Some("a"));
        assert_eq!(m.remove(Process::Client(3)), None);
        assert_eq!(m.remove(Process::Client(7)), None);
        m.insert(Process::Client(1), "d");
        let mut left: Vec<_> = m.into_values().collect();
        left.sort();
        assert_eq!(left, ["b", "c", "d"]);
    }
}
