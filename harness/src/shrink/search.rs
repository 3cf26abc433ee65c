//! The search, generic over what a candidate is: delta debugging (ddmin, Zeller and
//! Hildebrandt 2002) over a list of units, and a greedy pass over single edits.
//!
//! Neither knows how a candidate runs: the caller's `test` says whether a candidate still
//! fails (`Some(true)`), passes (`Some(false)`), or could not be tried because the budget is
//! spent (`None`). Results of candidates already tried are remembered, so a unit set is never
//! run twice.

use std::collections::BTreeMap;

/// What a search ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The units kept (indexes into the list searched, in order).
    pub kept: Vec<usize>,
    /// True when the search ran to its end: removing any single kept unit was tried and
    /// made the failure disappear (1-minimal). False when the budget ran out first.
    pub complete: bool,
}

/// ddmin over `0..n`, where the whole set is known to fail (complements tried before
/// subsets at each granularity). `test(units)` runs the candidate
/// that keeps exactly `units`. The result is 1-minimal when `complete`: each kept unit is
/// needed (the empty set is tried too, so a failure that needs none of the units ends with
/// none).
pub fn ddmin(n: usize, mut test: impl FnMut(&[usize]) -> Option<bool>) -> Found {
    let mut seen: BTreeMap<Vec<usize>, bool> = BTreeMap::new();
    let mut cached = |units: &[usize]| -> Option<bool> {
        if let Some(&r) = seen.get(units) {
            return Some(r);
        }
        let r = test(units)?;
        seen.insert(units.to_vec(), r);
        Some(r)
    };
    let mut c: Vec<usize> = (0..n).collect();
    if c.is_empty() {
        return Found {
            kept: c,
            complete: true,
        };
    }
    // The cheapest win first: maybe none of the units is needed.
    match cached(&[]) {
        None => {
            return Found {
                kept: c,
                complete: false,
            }
        }
        Some(true) => {
            return Found {
                kept: Vec::new(),
                complete: true,
            }
        }
        Some(false) => {}
    }
    let mut parts = 2usize;
    while c.len() >= 2 {
        let chunks = split(&c, parts);
        let mut reduced = false;
        // Complements first (remove one chunk): on real runs, where a passing candidate costs
        // every try, removing a little at a time wastes fewer runs than keeping a little.
        for i in 0..chunks.len() {
            let rest: Vec<usize> = chunks
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, ch)| ch.iter().copied())
                .collect();
            match cached(&rest) {
                None => {
                    return Found {
                        kept: c,
                        complete: false,
                    }
                }
                Some(true) => {
                    c = rest;
                    parts = (parts - 1).max(2);
                    reduced = true;
                    break;
                }
                Some(false) => {}
            }
        }
        // Subsets (only when they differ from the complements, i.e. more than 2 parts).
        if !reduced && chunks.len() > 2 {
            for chunk in &chunks {
                match cached(chunk) {
                    None => {
                        return Found {
                            kept: c,
                            complete: false,
                        }
                    }
                    Some(true) => {
                        c = chunk.clone();
                        parts = 2;
                        reduced = true;
                        break;
                    }
                    Some(false) => {}
                }
            }
        }
        if !reduced {
            if parts >= c.len() {
                break;
            }
            parts = (parts * 2).min(c.len());
        }
    }
    Found {
        kept: c,
        complete: true,
    }
}

/// `c` cut into `parts` nearly equal consecutive chunks (none empty).
fn split(c: &[usize], parts: usize) -> Vec<Vec<usize>> {
    let parts = parts.clamp(1, c.len());
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for i in 0..parts {
        let end = start + (c.len() - start) / (parts - i);
        out.push(c[start..end].to_vec());
        start = end;
    }
    out
}

/// A greedy pass: `edits(current)` lists the single edits of the current candidate (a
/// label and the edited candidate, simplest first); the first one that still fails is taken
/// and the list is made again from it, until none fails. An edit whose label was already
/// tried and passed in this pass is not tried again (each try of a real run is costly; the
/// next round of the search tries it afresh). Returns the last failing candidate, whether
/// the pass ran to its end, and how many edits were taken.
pub fn greedy<C>(
    start: C,
    mut edits: impl FnMut(&C) -> Vec<(String, C)>,
    mut test: impl FnMut(&str, &C) -> Option<bool>,
) -> (C, bool, usize) {
    let mut current = start;
    let mut taken = 0;
    let mut passed = std::collections::BTreeSet::new();
    'again: loop {
        for (label, cand) in edits(&current) {
            if passed.contains(&label) {
                continue;
            }
            match test(&label, &cand) {
                None => return (current, false, taken),
                Some(true) => {
                    current = cand;
                    taken += 1;
                    continue 'again;
                }
                Some(false) => {
                    passed.insert(label);
                }
            }
        }
        return (current, true, taken);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs ddmin on `0..n` with a synthetic oracle and counts its calls.
    fn run(n: usize, fails: impl Fn(&[usize]) -> bool) -> (Found, usize) {
        let mut calls = 0;
        let found = ddmin(n, |u| {
            calls += 1;
            Some(fails(u))
        });
        (found, calls)
    }

    /// Proves 1-minimality on its definition: the result fails, and removing any one of its
    /// units passes.
    fn assert_one_minimal(found: &Found, fails: impl Fn(&[usize]) -> bool) {
        assert!(found.complete);
        assert!(fails(&found.kept), "the result must still fail");
        for i in 0..found.kept.len() {
            let mut less = found.kept.clone();
            less.remove(i);
            assert!(
                !fails(&less),
                "{:?} without {} still fails",
                found.kept,
                found.kept[i]
            );
        }
    }

    #[test]
    fn finds_the_two_units_that_together_fail() {
        let fails = |u: &[usize]| u.contains(&3) && u.contains(&17);
        let (found, calls) = run(40, fails);
        assert_eq!(found.kept, vec![3, 17]);
        assert_one_minimal(&found, fails);
        // ddmin needs O(k log n) tests here, far fewer than the 40 single removals twice over.
        assert!(calls < 60, "{calls} tests");
    }

    #[test]
    fn either_of_two_units_is_enough_one_is_kept() {
        let fails = |u: &[usize]| u.contains(&5) || u.contains(&9);
        let (found, _) = run(12, fails);
        assert_eq!(found.kept.len(), 1, "{:?}", found.kept);
        assert_one_minimal(&found, fails);
    }

    #[test]
    fn a_failure_needing_no_unit_keeps_none() {
        let (found, calls) = run(30, |_| true);
        assert_eq!(found.kept, Vec::<usize>::new());
        assert_eq!(calls, 1, "the empty set is tried first");
    }

    /// Proves the result is 1-minimal for every 3-unit failure pattern on 10 units (a
    /// deterministic exhaustive sweep, not a sample).
    #[test]
    fn one_minimal_on_every_triple() {
        for a in 0..10 {
            for b in a + 1..10 {
                for c in b + 1..10 {
                    let fails = |u: &[usize]| u.contains(&a) && (u.contains(&b) || u.contains(&c));
                    let (found, _) = run(10, fails);
                    assert_one_minimal(&found, fails);
                }
            }
        }
    }

    #[test]
    fn a_spent_budget_keeps_the_best_so_far_and_says_so() {
        let mut budget = 3;
        let found = ddmin(20, |u| {
            if budget == 0 {
                return None;
            }
            budget -= 1;
            Some(u.contains(&4))
        });
        assert!(!found.complete);
        assert!(found.kept.contains(&4), "{:?}", found.kept);
        assert!(
            found.kept.len() < 20,
            "two halvings fit in the budget: {:?}",
            found.kept
        );
    }

    #[test]
    fn greedy_takes_edits_until_none_fails() {
        // Candidate: a number; edits halve it or subtract one; fails while >= 7.
        let (end, complete, taken) = greedy(
            100u32,
            |c| {
                vec![
                    ("half".into(), c / 2),
                    ("minus one".into(), c.saturating_sub(1)),
                ]
            },
            |_, c| Some(*c >= 7),
        );
        assert_eq!(end, 7);
        assert!(complete);
        assert!(taken > 0);
    }
}
