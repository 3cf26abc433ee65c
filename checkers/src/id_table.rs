//! The tasks checker's table of task ids: each id gets a number (0, 1, 2, … in order of
//! first submit), and the final read looks every id up again.
//!
//! Why not a `HashMap`: in the issue-2 benchmark the table holds ~350,000 ids, and a map of
//! them (16 MB and more) is far larger than the caches and than what the TLB covers, so every
//! insert and lookup was a cache and TLB miss: 300–400 ns on this VM while the reader thread
//! streams the file on the other core. That made the ids the largest part of the checker's
//! work. This table is laid out for that:
//! - the hash table proper is 8-byte slots (a 32-bit hash tag and the id's number): 4 MB for
//!   the benchmark, so most probes hit the caches and the TLB. Inserting a new id (most
//!   submits) compares tags only and appends the id to [`IdTable::keys`], in order;
//! - the ids themselves are in that array, indexed by number (ids up to 23 bytes inline, like
//!   `t3-12345`), read only when a tag matches: for a lookup that hits;
//! - [`IdTable::touch`] and [`IdTable::touch_key`] load without deciding anything, so a caller
//!   can load the slots (then the ids) of a whole group first, as independent loads the CPU
//!   overlaps, and then look the group up from cache;
//! - an id's home slot is chosen by the *top* bits of its hash (linear probing), so growing
//!   walks the old slots in order and writes the new ones nearly in order.
//!
//! Ids longer than 23 bytes are kept whole in a side map and compared there.

use std::hash::Hasher;

use histories::fxhash::{FxHashMap, FxHasher};

/// Ids up to this many bytes are held inline in [`Key`].
const INLINE: usize = 23;
/// `Key`'s length byte of an id longer than [`INLINE`].
const LONG: u8 = u8::MAX;
/// Ids (and per-id records elsewhere) reserved at the first: address space only, the pages
/// are touched as ids come. Growing a large array by reallocation moves its pages with
/// `mremap`, and each move's TLB flush interrupts the reader thread on the other core.
pub(crate) const RESERVE: usize = 1 << 20;

/// Slots of a new table (512 KB: every grow frees the old slots, and freeing memory that the
/// other thread's core has in its TLB costs an interrupt there).
const MIN_SLOTS: usize = 1 << 16;

/// An id as stored: its bytes (zero-padded) and its length, or [`LONG`].
#[derive(Clone, Copy)]
struct Key([u8; INLINE + 1]);

impl Key {
    /// The stored form of `id`: its bytes zero-padded and its length, or (longer ids) only
    /// the [`LONG`] mark.
    fn of(id: &str) -> Key {
        let mut key = Key([0; INLINE + 1]);
        if id.len() <= INLINE {
            key.0[..id.len()].copy_from_slice(id.as_bytes());
            key.0[INLINE] = id.len() as u8;
        } else {
            key.0[INLINE] = LONG;
        }
        key
    }

    fn len(&self) -> u8 {
        self.0[INLINE]
    }
}

/// The hash of an id, computed once per id and handed to the table's methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdHash(u64);

impl IdHash {
    /// The hash of `id`.
    pub fn of(id: &str) -> IdHash {
        let mut h = FxHasher::default();
        h.write(id.as_bytes());
        IdHash(h.finish())
    }

    /// The upper half: the slot position is taken from its top bits, and the whole of it
    /// filters candidates before their ids are compared.
    fn tag(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// A slot: the tag in the upper half, the number plus one in the lower; 0 when empty.
fn slot(tag: u32, num: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(num + 1)
}

fn slot_tag(s: u64) -> u32 {
    (s >> 32) as u32
}

fn slot_num(s: u64) -> u32 {
    (s as u32).wrapping_sub(1)
}

/// Task id → number, numbers given densely in order of insertion.
#[derive(Default)]
pub(crate) struct IdTable {
    slots: Vec<u64>,
    /// `slots.len() == 1 << bits` (no slots at all while empty).
    bits: u32,
    /// The ids, by number.
    keys: Vec<Key>,
    long: FxHashMap<u32, Box<str>>,
}

impl IdTable {
    /// How many ids the table holds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    fn home(&self, tag: u32) -> usize {
        (tag >> (32 - self.bits)) as usize
    }

    /// Whether `num` is `id`, whose stored form is `key` ([`Key::of`]): for a short id, one
    /// comparison of two 24-byte arrays (no call to `memcmp`).
    fn is(&self, num: u32, id: &str, key: &Key) -> bool {
        let k = &self.keys[num as usize];
        if key.len() != LONG {
            k.0 == key.0
        } else {
            k.len() == LONG && self.long.get(&num).is_some_and(|l| **l == *id)
        }
    }

    /// Loads the home slot of `h` and returns it, so that a later lookup or insert of the
    /// same id finds the slot in cache. The caller passes the results to
    /// [`std::hint::black_box`] so the loads are not optimised away.
    pub fn touch(&self, h: IdHash) -> u64 {
        if self.slots.is_empty() {
            return 0;
        }
        self.slots[self.home(h.tag())]
    }

    /// The first number whose tag is `h`'s (probably the id's), to load its id with
    /// [`IdTable::touch_key`] before [`IdTable::get`] compares it.
    pub fn candidate(&self, h: IdHash) -> Option<u32> {
        self.probe(h).next()
    }

    /// Loads the stored id of `num` (see [`IdTable::touch`]).
    pub fn touch_key(&self, num: u32) -> u8 {
        self.keys.get(num as usize).map_or(0, |k| k.0[0])
    }

    /// The numbers whose tag is `h`'s, in probe order, up to the first empty slot.
    fn probe(&self, h: IdHash) -> impl Iterator<Item = u32> + '_ {
        let tag = h.tag();
        let mask = self.slots.len().wrapping_sub(1);
        let start = if self.slots.is_empty() {
            0
        } else {
            self.home(tag)
        };
        let slots = &self.slots;
        (0..slots.len())
            .map(move |k| slots[(start + k) & mask])
            .take_while(|&s| s != 0)
            .filter(move |&s| slot_tag(s) == tag)
            .map(slot_num)
    }

    /// The number of `id` (whose hash is `h`), if it is in the table.
    pub fn get(&self, id: &str, h: IdHash) -> Option<u32> {
        let key = Key::of(id);
        self.probe(h).find(|&n| self.is(n, id, &key))
    }

    /// The number of `id` (whose hash is `h`), and whether it was added just now (it is then
    /// the highest number).
    pub fn intern(&mut self, id: &str, h: IdHash) -> (u32, bool) {
        // At most 3/4 full: probes stay short (about 2 slots for a hit, 5 for a miss, eight
        // slots to a cache line).
        if (self.keys.len() + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let tag = h.tag();
        let key = Key::of(id);
        let mask = self.slots.len() - 1;
        let mut i = self.home(tag);
        loop {
            let s = self.slots[i];
            if s == 0 {
                break;
            }
            if slot_tag(s) == tag && self.is(slot_num(s), id, &key) {
                return (slot_num(s), false);
            }
            i = (i + 1) & mask;
        }
        let num = u32::try_from(self.keys.len())
            .ok()
            .filter(|&n| n < u32::MAX)
            .expect("fewer than 2^32 - 1 task ids");
        if key.len() == LONG {
            self.long.insert(num, id.into());
        }
        if self.keys.capacity() == 0 {
            self.keys.reserve(RESERVE); // see `RESERVE`
        }
        self.keys.push(key);
        self.slots[i] = slot(tag, num);
        (num, true)
    }

    /// Doubles the slots. Old slots are visited in order, and their new homes (one more top
    /// bit) come in the same order, so the new table is written nearly sequentially.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(MIN_SLOTS);
        // Written, not allocated zeroed: fresh zeroed memory maps the kernel's shared zero
        // page on the first read (a [`IdTable::touch`]), and the first write after that is a
        // copy-on-write fault whose TLB flush interrupts the reader thread on the other core
        // (thousands per check, most of the slowdown the reader thread saw).
        #[allow(
            clippy::slow_vector_initialization,
            reason = "see above: not zeroed memory"
        )]
        let slots = {
            let mut slots = Vec::with_capacity(size);
            slots.resize(size, 0);
            slots
        };
        let old = std::mem::replace(&mut self.slots, slots);
        self.bits = size.trailing_zeros();
        let mask = size - 1;
        // A run of probes that wrapped past the end of the old table starts before its end:
        // begin at an empty slot so every run is moved in probe order.
        let start = old.iter().position(|&s| s == 0).unwrap_or(0);
        for k in 0..old.len() {
            let s = old[(start + k) % old.len()];
            if s == 0 {
                continue;
            }
            let mut i = self.home(slot_tag(s));
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }

    /// The id of `num`.
    pub fn id(&self, num: u32) -> &str {
        let k = &self.keys[num as usize];
        if k.len() == LONG {
            return self.long.get(&num).map_or("", |l| l);
        }
        // The bytes were copied from a `&str`, so they are UTF-8; never fails.
        std::str::from_utf8(&k.0[..usize::from(k.len())]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn intern(t: &mut IdTable, id: &str) -> (u32, bool) {
        t.intern(id, IdHash::of(id))
    }

    #[test]
    fn numbers_are_dense_and_stable_across_growth() {
        // Proves each id keeps its first number through many doublings and is found again.
        let mut t = IdTable::default();
        let ids: Vec<String> = (0..50_000).map(|i| format!("t{}-{}", i % 10, i)).collect();
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(intern(&mut t, id), (n as u32, true));
        }
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(intern(&mut t, id), (n as u32, false));
            assert_eq!(t.get(id, IdHash::of(id)), Some(n as u32));
        }
        assert_eq!(t.len(), ids.len());
        assert_eq!(t.get("t0-50001", IdHash::of("t0-50001")), None);
        assert!((0..ids.len() as u32)
            .map(|n| t.id(n))
            .eq(ids.iter().map(String::as_str)));
    }

    #[test]
    fn short_long_and_padded_ids_stay_apart() {
        // Proves padding and the inline limit cannot make two different ids equal.
        let mut t = IdTable::default();
        let ids = [
            "",
            "a",
            "a\0",
            "é-x",
            &"x".repeat(23),
            &"x".repeat(24),
            &"y".repeat(300),
        ];
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(intern(&mut t, id), (n as u32, true), "{id:?}");
        }
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(t.get(id, IdHash::of(id)), Some(n as u32), "{id:?}");
        }
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(t.id(n as u32), *id);
        }
    }

    #[test]
    fn equal_tags_are_told_apart_by_the_id() {
        // Proves a forced hash collision (same tag, same home) still compares the ids.
        let mut t = IdTable::default();
        let h = IdHash(0xdead_beef_0000_0000);
        assert_eq!(t.intern("one", h), (0, true));
        assert_eq!(t.intern("two", h), (1, true));
        assert_eq!(t.intern(&"l".repeat(40), h), (2, true));
        assert_eq!(t.intern(&"m".repeat(40), h), (3, true));
        assert_eq!(t.get("two", h), Some(1));
        assert_eq!(t.candidate(h), Some(0));
        assert_eq!(t.get(&"m".repeat(40), h), Some(3));
        assert_eq!(t.get("three", h), None);
    }

    proptest! {
        #[test]
        fn behaves_like_a_hash_map(ids in proptest::collection::vec("[a-c]{0,3}|[a-z0-9-]{20,30}", 0..400)) {
            // Proves the table agrees with std's map on arbitrary ids, repeats included.
            let mut t = IdTable::default();
            let mut m: HashMap<String, u32> = HashMap::new();
            for id in &ids {
                let next = m.len() as u32;
                let want = *m.entry(id.clone()).or_insert(next);
                let (got, new) = intern(&mut t, id);
                prop_assert_eq!(got, want);
                prop_assert_eq!(new, want == next);
            }
            prop_assert_eq!(t.len(), m.len());
            for (id, n) in &m {
                prop_assert_eq!(t.get(id, IdHash::of(id)), Some(*n));
            }
        }
    }
}
