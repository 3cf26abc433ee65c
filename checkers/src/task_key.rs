//! Task ids as hash-map keys without a heap allocation for the usual short id.
//!
//! The tasks checker interns every submitted id (hundreds of thousands in a long run) and
//! looks each one up again in the final read. Keys held inline (ids up to 23 bytes, like
//! `t0-10000`) save an allocation per id, a pointer chase per lookup, and a `free` per id at
//! the end; longer ids are boxed.

use std::hash::{Hash, Hasher};

const INLINE: usize = 23;

/// A task id, inline when short.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum TaskKey {
    /// Up to 23 bytes, zero-padded, with the length.
    Short([u8; INLINE], u8),
    /// Longer ids.
    Long(Box<str>),
}

impl TaskKey {
    /// The key of `id` (allocates only for ids longer than 23 bytes).
    pub fn new(id: &str) -> TaskKey {
        if id.len() <= INLINE {
            let mut b = [0; INLINE];
            b[..id.len()].copy_from_slice(id.as_bytes());
            TaskKey::Short(b, id.len() as u8)
        } else {
            TaskKey::Long(id.into())
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        match self {
            // The bytes were copied from a `&str`, so they are UTF-8; never fails.
            TaskKey::Short(b, n) => std::str::from_utf8(&b[..*n as usize]).unwrap_or_default(),
            TaskKey::Long(s) => s,
        }
    }
}

impl Hash for TaskKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            TaskKey::Short(b, n) => {
                h.write(b);
                h.write_u8(*n);
            }
            TaskKey::Long(s) => s.hash(h),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_ids_round_trip_and_differ() {
        // Proves ids come back as given and that padding cannot make two ids equal.
        for id in ["", "t0-1", "a\0", "é-x", &"x".repeat(23), &"y".repeat(24)] {
            assert_eq!(TaskKey::new(id).as_str(), id);
        }
        assert!(TaskKey::new("a") != TaskKey::new("a\0"));
        assert!(TaskKey::new(&"x".repeat(23)) != TaskKey::new(&"x".repeat(24)));
    }
}
