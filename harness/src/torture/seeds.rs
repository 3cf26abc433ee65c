//! Which seeds a torture run covers: `--seeds A..B`, `--runs N` from a base seed, or an
//! unbounded sequence for `--duration`; and `--shard I/N`, a deterministic slice of them.
//!
//! Sharding is round-robin by position (the k-th seed of the list goes to shard k mod N), so
//! every shard gets a similar mix even when seeds are stopped early by a time budget, and the
//! N shards of one list cover it exactly once.

use std::fmt;
use std::str::FromStr;

/// A half-open range of seeds `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedRange {
    /// First seed.
    pub start: u64,
    /// One past the last seed.
    pub end: u64,
}

impl FromStr for SeedRange {
    type Err = String;

    /// Parses `A..B` (B excluded) or `A..=B` (B included).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a seed range (expected A..B or A..=B, e.g. 0..100)");
        let (a, b, inclusive) = match s.split_once("..=") {
            Some((a, b)) => (a, b, true),
            None => {
                let (a, b) = s.split_once("..").ok_or_else(bad)?;
                (a, b, false)
            }
        };
        let start: u64 = a.trim().parse().map_err(|_| bad())?;
        let last: u64 = b.trim().parse().map_err(|_| bad())?;
        let end = if inclusive {
            last.checked_add(1).ok_or_else(bad)?
        } else {
            last
        };
        if end <= start {
            return Err(format!("{s:?} is an empty seed range"));
        }
        Ok(SeedRange { start, end })
    }
}

/// Shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: u32,
    /// Number of shards, at least 1.
    pub count: u32,
}

impl Shard {
    /// The whole list.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Whether the seed at `position` (0-based) of the list belongs to this shard.
    pub fn takes(&self, position: u64) -> bool {
        position % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a shard (expected I/N with 1 <= I <= N, e.g. 2/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The full list of seeds, before sharding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedList {
    /// `--seeds A..B`.
    Range(SeedRange),
    /// `--runs N` from a base seed: base, base+1, …, base+N-1.
    Count {
        /// First seed.
        base: u64,
        /// How many.
        runs: u64,
    },
    /// `--duration` alone: base, base+1, … until the time budget is spent.
    Unbounded {
        /// First seed.
        base: u64,
    },
}

impl fmt::Display for SeedList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeedList::Range(r) => write!(f, "{}..{}", r.start, r.end),
            SeedList::Count { base, runs } => write!(f, "{base}..{}", base.saturating_add(*runs)),
            SeedList::Unbounded { base } => write!(f, "{base}.. (until the time budget is spent)"),
        }
    }
}

impl SeedList {
    /// The seeds of `shard`, in order. Unbounded lists stop at `u64::MAX`.
    pub fn iter(self, shard: Shard) -> impl Iterator<Item = u64> {
        let (start, end) = match self {
            SeedList::Range(r) => (r.start, r.end),
            SeedList::Count { base, runs } => (base, base.saturating_add(runs)),
            SeedList::Unbounded { base } => (base, u64::MAX),
        };
        (start..end).filter(move |s| shard.takes(s - start))
    }

    /// How many seeds `shard` gets, when the list is finite.
    pub fn len(self, shard: Shard) -> Option<u64> {
        let total = match self {
            SeedList::Range(r) => r.end - r.start,
            SeedList::Count { base, runs } => base.saturating_add(runs) - base,
            SeedList::Unbounded { .. } => return None,
        };
        let n = u64::from(shard.count);
        let i = u64::from(shard.index - 1);
        Some(total / n + u64::from(total % n > i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges() {
        assert_eq!(
            "3..7".parse::<SeedRange>().unwrap(),
            SeedRange { start: 3, end: 7 }
        );
        assert_eq!(
            "3..=7".parse::<SeedRange>().unwrap(),
            SeedRange { start: 3, end: 8 }
        );
        for bad in ["7..3", "3..3", "x..4", "5", "1..2..3", "-1..4", ""] {
            let e = bad.parse::<SeedRange>().unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }

    #[test]
    fn parses_shards() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        for bad in ["0/4", "5/4", "1/0", "1", "a/b", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_partition_the_list_exactly() {
        for list in [
            SeedList::Range("10..27".parse().unwrap()),
            SeedList::Count { base: 5, runs: 9 },
        ] {
            let all: Vec<u64> = list.iter(Shard::ALL).collect();
            for n in 1..=5u32 {
                let mut union = Vec::new();
                for i in 1..=n {
                    let shard = Shard { index: i, count: n };
                    let part: Vec<u64> = list.iter(shard).collect();
                    assert_eq!(
                        part.len() as u64,
                        list.len(shard).unwrap(),
                        "{list:?} {shard}"
                    );
                    union.extend(part);
                }
                union.sort_unstable();
                assert_eq!(union, all, "{list:?} split {n} ways");
            }
        }
    }

    #[test]
    fn shard_slices_are_deterministic_and_round_robin() {
        let list = SeedList::Range("100..106".parse().unwrap());
        let s: Vec<u64> = list.iter("2/2".parse().unwrap()).collect();
        assert_eq!(s, vec![101, 103, 105]);
        let u: Vec<u64> = SeedList::Unbounded { base: 7 }
            .iter("1/3".parse().unwrap())
            .take(3)
            .collect();
        assert_eq!(u, vec![7, 10, 13]);
    }
}
