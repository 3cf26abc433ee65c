//! Overlapping faults (`--overlap`): the schedule that lets faults of different kinds be in
//! force at once (a partition during a pause during a clock bump), and the rules a plan with
//! overlapping entries must keep.
//!
//! The rules, for the generator and for a plan file alike:
//! - at most one fault of each kind ([`FaultKind`]) at a time, so two faults never fight over
//!   one mechanism (two clock faults on a node would add up, two partitions would union); and
//!   `lossy` and `slow` count as one kind here: a token bucket on a sender drops the datagrams
//!   a loss fault's verification counts, so the measured loss would not be the planned one;
//! - kills and pauses never name the same node at once, and together stop at most a minority
//!   (`(n - 1) / 2`, at least 1), so the correct cluster keeps a working majority;
//! - entries are in start order; each lasts more than 0 ns and ends by the time limit.
//!
//! Healing order (docs/run.md "Faults"): each fault is healed at its `heal_at_ns`; faults due
//! at the same instant (the end of the main phase, say) are healed last-applied first, as a
//! stack unwinds; every heal is verified by the nemesis before the next one starts.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{PlannedFault, MS};
use crate::config::{FaultKind, PlanOptions};
use crate::faults::{Fault, NodeId};

/// The most nodes that may be killed or paused at once in an `n`-node cluster.
pub(super) fn most_down(n: usize) -> usize {
    (n.saturating_sub(1) / 2).max(1)
}

/// The mechanism a kind uses, for the one-at-a-time rule: loss and rate limits share the
/// links (see the module docs).
fn mechanism(k: Option<FaultKind>) -> Option<FaultKind> {
    match k {
        Some(FaultKind::Slow) => Some(FaultKind::Lossy),
        other => other,
    }
}

/// The nodes a kill or pause stops.
fn stopped(f: &Fault) -> &[NodeId] {
    match f {
        Fault::Kill { nodes } | Fault::Pause { nodes } => nodes,
        _ => &[],
    }
}

/// Faults that may overlap: after a quiet start, a new fault starts every quarter to whole
/// interval, of a kind not in force then (and, for a kill or pause, on nodes not stopped
/// already, within the minority bound); each lasts half to 1.5 intervals.
pub(super) fn schedule(
    opts: &PlanOptions,
    nodes: &[NodeId],
    rng: &mut ChaCha8Rng,
) -> Vec<PlannedFault> {
    let kinds: Vec<FaultKind> = opts.nemesis.0.iter().copied().collect();
    let limit = opts.time_limit_ms * MS;
    let iv = opts.nemesis_interval_ms * MS;
    let span = |rng: &mut ChaCha8Rng| rng.gen_range(iv / 2..=iv + iv / 2);
    let mut faults: Vec<PlannedFault> = Vec::new();
    let mut t = span(rng);
    while t + 100 * MS < limit {
        let active: Vec<&PlannedFault> = faults.iter().filter(|f| f.heal_at_ns > t).collect();
        let down: BTreeSet<&NodeId> = active.iter().flat_map(|f| stopped(&f.fault)).collect();
        let room = most_down(nodes.len()).saturating_sub(down.len());
        let free: Vec<FaultKind> = kinds
            .iter()
            .copied()
            .filter(|k| {
                !active
                    .iter()
                    .any(|f| mechanism(FaultKind::of(&f.fault)) == mechanism(Some(*k)))
            })
            .filter(|k| !matches!(k, FaultKind::Kill | FaultKind::Pause) || room > 0)
            .collect();
        let Some(&kind) = free.choose(rng) else {
            // Every kind is in force: wait for the first heal.
            t = active.iter().map(|f| f.heal_at_ns).min().unwrap_or(limit);
            continue;
        };
        let up: Vec<NodeId> = nodes
            .iter()
            .filter(|n| !down.contains(n))
            .cloned()
            .collect();
        let (name, fault) = super::make_fault(kind, nodes, &up, room, rng);
        let heal = (t + span(rng)).min(limit);
        faults.push(super::finish_fault(t, heal, name, fault));
        t += rng.gen_range(iv / 4..=iv);
    }
    faults
}

/// A plan's fault times and overlaps: without `overlap`, one fault at a time; with it, the
/// rules of this module. The error names the entry.
pub(super) fn validate_times(
    faults: &[PlannedFault],
    overlap: bool,
    limit: u64,
    nodes: usize,
) -> Result<(), String> {
    let mut last_heal = 0;
    let mut last_start = 0;
    for (i, f) in faults.iter().enumerate() {
        let ordered = if overlap {
            f.at_ns >= last_start
        } else {
            f.at_ns >= last_heal
        };
        if !ordered || f.heal_at_ns <= f.at_ns || f.heal_at_ns > limit {
            return Err(format!(
                "faults[{i}]: times must be in order, {}last more than 0 ns, and end by the \
                 time limit",
                if overlap { "" } else { "not overlap, " }
            ));
        }
        last_heal = f.heal_at_ns;
        last_start = f.at_ns;
        if !overlap {
            continue;
        }
        let before = faults[..i]
            .iter()
            .enumerate()
            .filter(|(_, g)| g.heal_at_ns > f.at_ns);
        let mut down: BTreeSet<&NodeId> = stopped(&f.fault).iter().collect();
        for (j, g) in before {
            if mechanism(FaultKind::of(&g.fault)) == mechanism(FaultKind::of(&f.fault)) {
                return Err(format!(
                    "faults[{i}]: a {} while faults[{j}] ({}) is in force (overlapping faults \
                     must be of different kinds, and loss and slow count as one)",
                    f.fault.kind(),
                    g.fault.kind()
                ));
            }
            for n in stopped(&g.fault) {
                if !down.insert(n) {
                    return Err(format!(
                        "faults[{i}]: {} names {n}, which faults[{j}] ({}) stops then",
                        f.fault.kind(),
                        g.fault.kind()
                    ));
                }
            }
        }
        if down.len() > most_down(nodes) {
            return Err(format!(
                "faults[{i}]: {} nodes killed or paused at once; at most {} of {nodes}",
                down.len(),
                most_down(nodes)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::opts;
    use super::super::{generate, Plan};
    use super::*;
    use crate::config::NemesisSet;

    fn plan(seed: u64, overlap: bool) -> Plan {
        let mut o = opts(seed);
        o.overlap = overlap;
        o.nemesis = NemesisSet::all();
        generate(&o)
    }

    #[test]
    fn overlap_plans_overlap_and_keep_the_rules() {
        // Proves `--overlap` plans really overlap (some fault starts before the previous one
        // heals, in most of 20 seeds), every such plan passes the plan check (one fault of a
        // kind at a time, stopped nodes a minority), and without the knob nothing overlaps.
        let mut overlapping = 0;
        for seed in 0..20 {
            let p = plan(seed, true);
            p.validate()
                .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{}", p.to_json()));
            if p.faults.windows(2).any(|w| w[1].at_ns < w[0].heal_at_ns) {
                overlapping += 1;
            }
            let q = plan(seed, false);
            q.validate().unwrap();
            assert!(q.faults.windows(2).all(|w| w[1].at_ns >= w[0].heal_at_ns));
        }
        assert!(overlapping >= 15, "only {overlapping} of 20 plans overlap");
    }

    #[test]
    fn overlap_rules_are_enforced_on_plan_files() {
        // Proves a plan file with `overlap` still may not overlap two faults of one kind, stop
        // one node twice, or stop a majority; and without `overlap` no overlap at all.
        let mut p = plan(3, false);
        p.faults.truncate(2);
        p.faults[0].fault = Fault::Kill {
            nodes: vec!["n1".into()],
        };
        p.faults[1].fault = Fault::Pause {
            nodes: vec!["n1".into()],
        };
        p.faults[1].at_ns = p.faults[0].at_ns + 1;
        let e = p.validate().unwrap_err();
        assert!(e.contains("not overlap"), "{e}");
        p.options.overlap = true;
        assert_eq!(
            p.validate().unwrap_err(),
            "faults[1]: pause names n1, which faults[0] (kill) stops then"
        );
        p.faults[1].fault = Fault::Pause {
            nodes: vec!["n2".into(), "n3".into()],
        };
        assert_eq!(
            p.validate().unwrap_err(),
            "faults[1]: 3 nodes killed or paused at once; at most 2 of 5"
        );
        p.faults[1].fault = Fault::Kill {
            nodes: vec!["n2".into()],
        };
        assert!(p
            .validate()
            .unwrap_err()
            .starts_with("faults[1]: a kill while faults[0] (kill) is in force"));
        p.faults[0].fault = Fault::Slow {
            nodes: vec!["n3".into()],
            rate_kbit: 1024,
            burst_bytes: 16384,
            latency_ms: 100,
        };
        p.faults[1].fault = Fault::Loss {
            links: vec![nemesis::Link::from("n1->n2")],
            probability: 0.3,
        };
        assert!(p
            .validate()
            .unwrap_err()
            .starts_with("faults[1]: a loss while faults[0] (slow) is in force"));
        p.faults[1].fault = Fault::Pause {
            nodes: vec!["n2".into()],
        };
        p.validate().unwrap();
    }
}
