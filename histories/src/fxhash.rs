//! A fast, non-cryptographic hasher (the Fx hash of rustc and Firefox) for the in-process maps
//! keyed by process numbers and task ids that the reader and the checkers update once per op.
//! SipHash, std's default, costs more than the rest of the work on those hot paths. These maps
//! are never iterated where order matters, and their keys come from the history being checked,
//! not from an adversary on the network.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A [`HashMap`] with [`FxHasher`].
pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
/// A [`HashSet`] with [`FxHasher`].
pub type FxHashSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The Fx hasher: a word-at-a-time rotate, xor and multiply.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    /// Folds the high bits into the low ones (a murmur3 finalizer step): the multiply moves
    /// entropy upward, and hashbrown picks buckets by the low bits, so keys differing only
    /// in their last bytes (task ids `t3-12345`, `t3-12346`) would otherwise collide.
    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_works_and_hash_depends_on_every_byte() {
        // Proves the map behaves as a map and that keys differing in the tail hash apart.
        let mut m: FxHashMap<String, u32> = FxHashMap::default();
        for i in 0..1000u32 {
            m.insert(format!("t{i}-{}", i * 7), i);
        }
        assert_eq!(m.len(), 1000);
        assert_eq!(m.get("t5-35"), Some(&5));
        let h = |s: &str| {
            let mut x = FxHasher::default();
            x.write(s.as_bytes());
            x.finish()
        };
        assert_ne!(h("t1-123456789"), h("t1-123456788"));
        // Ids that differ only in their last byte land in different low-bit buckets.
        let buckets: std::collections::BTreeSet<u64> = (0..64)
            .map(|i| h(&format!("t3-1234{i:02}")) & 1023)
            .collect();
        assert!(buckets.len() > 48, "{}", buckets.len());
    }
}
