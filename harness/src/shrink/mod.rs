//! `gauntlet shrink RUN_DIR`: the smallest plan that still shows one of the failing run's
//! anomaly classes, by delta debugging and simple passes (docs/shrink.md).
//!
//! | module | what it owns |
//! | --- | --- |
//! | [`search`] | ddmin and the greedy pass, generic over what a candidate is |
//! | [`edits`] | the edits of a plan: keep faults, workers, op blocks; the simple passes |
//! | [`cmd`] | the command: flags, input checks, the oracle of real runs, the budget |
//! | [`output`] | `RUN_DIR/shrunk/`, `shrink.json`, the progress bar or plain lines |
//!
//! The search ([`shrink`]) knows nothing of processes: it asks an [`Oracle`] whether one
//! candidate plan still fails. For a run of real processes a candidate fails when any of
//! `--tries` runs shows a target class; for a deterministic system one run decides
//! ([`tries_per_candidate`], the one place that says so).

pub mod cmd;
pub mod edits;
pub mod output;
pub mod search;

use crate::plan::Plan;
use edits::{keep_blocks, keep_faults, keep_workers, op_blocks, sim_edits, simple_edits};

/// Whether runs of `system` are deterministic (a seed and a plan give one history), so
/// that a candidate is one run: the simulated systems ([`crate::systems::is_simulated`]).
pub fn is_deterministic(system: &str) -> bool {
    crate::systems::is_simulated(system)
}

/// How many runs decide one candidate on `system`: 1 when its runs are deterministic,
/// else `tries` (a candidate fails when any of them shows a target class).
pub fn tries_per_candidate(system: &str, tries: u32) -> u32 {
    if is_deterministic(system) {
        1
    } else {
        tries
    }
}

/// Most rounds of all passes; a round that changes nothing ends the search earlier.
pub const MAX_ROUNDS: usize = 4;

/// Runs candidates for the search.
pub trait Oracle {
    /// Whether `plan` still shows one of the target anomaly classes; `None` when the budget
    /// is spent (or the command was interrupted) before it could be decided. `pass` and
    /// `change` say what the candidate removed, for the log.
    fn fails(&mut self, plan: &Plan, pass: &str, change: &str) -> Option<bool>;
}

/// What the search ended with.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The smallest plan found that still failed.
    pub plan: Plan,
    /// True when it is 1-minimal: a whole round of passes found nothing more to remove.
    pub complete: bool,
}

/// [`shrink_from`] without a hint, with the passes of real processes.
pub fn shrink(start: Plan, oracle: &mut impl Oracle) -> Shrunk {
    shrink_from(start, None, false, oracle)
}

/// Shrinks `start` (a plan known to fail): first the time limit (to `failed_by_ms`, when
/// the failing run says by when its first anomaly had happened, plus a margin; then the
/// other time-limit edits), since a shorter run makes every later candidate cheaper; then
/// rounds of ddmin over faults, ddmin over client
/// workers, the simple passes and ddmin over op blocks, until a round changes nothing (1-minimal
/// with respect to faults, workers and op blocks) or the oracle says the budget is spent.
/// `simulated` adds the simulator-only edits ([`edits::sim_edits`]) to the simple passes.
pub fn shrink_from(
    start: Plan,
    failed_by_ms: Option<u64>,
    simulated: bool,
    oracle: &mut impl Oracle,
) -> Shrunk {
    let (mut plan, complete, _) = search::greedy(
        start,
        |p| edits::time_edits(p, failed_by_ms),
        |label, cand| oracle.fails(cand, "time", label),
    );
    if !complete {
        return Shrunk {
            plan,
            complete: false,
        };
    }
    for _ in 0..MAX_ROUNDS {
        let before = plan.clone();
        match round(plan, simulated, oracle) {
            (p, false) => {
                return Shrunk {
                    plan: p,
                    complete: false,
                }
            }
            (p, true) if p == before => {
                return Shrunk {
                    plan: p,
                    complete: true,
                }
            }
            (p, true) => plan = p,
        }
    }
    Shrunk {
        plan,
        complete: false,
    }
}

/// One round of every pass; the plan after it and whether every pass ran to its end.
fn round(mut plan: Plan, simulated: bool, oracle: &mut impl Oracle) -> (Plan, bool) {
    let n = plan.faults.len();
    let found = search::ddmin(n, |keep| {
        oracle.fails(
            &keep_faults(&plan, keep),
            "faults",
            &format!("keep faults {keep:?} of {n}"),
        )
    });
    plan = keep_faults(&plan, &found.kept);
    if !found.complete {
        return (plan, false);
    }

    let n = plan.workers.len();
    let found = search::ddmin(n, |keep| match keep_workers(&plan, keep) {
        Some(cand) => oracle.fails(&cand, "workers", &format!("keep workers {keep:?} of {n}")),
        None => Some(false),
    });
    if let Some(p) = keep_workers(&plan, &found.kept) {
        plan = p;
    }
    if !found.complete {
        return (plan, false);
    }

    let edits = |p: &Plan| {
        let mut e = simple_edits(p);
        if simulated {
            e.extend(sim_edits(p));
        }
        e
    };
    let (p, complete, _) = search::greedy(plan, edits, |label, cand| {
        oracle.fails(cand, "simple", label)
    });
    plan = p;
    if !complete {
        return (plan, false);
    }

    let blocks = op_blocks(&plan);
    let n = blocks.len();
    let found = search::ddmin(n, |keep| {
        oracle.fails(
            &keep_blocks(&plan, &blocks, keep),
            "op-blocks",
            &format!("keep op blocks {keep:?} of {n}"),
        )
    });
    plan = keep_blocks(&plan, &blocks, &found.kept);
    (plan, found.complete)
}

#[cfg(test)]
mod tests {
    use super::edits::Size;
    use super::*;
    use crate::config::PlanOptions;
    use crate::faults::Fault;
    use crate::plan::{generate, tests_support::opts};
    use crate::workloads::ClientOp;

    /// A deterministic stand-in for a system with a planted bug: the plan "fails" when it
    /// holds a kill of n2 and some acquire of lock l0 planned while the kill lasts. Counts
    /// its runs.
    struct Synthetic {
        runs: usize,
        budget: usize,
    }

    fn fails_synthetic(plan: &Plan) -> bool {
        plan.faults.iter().any(|f| {
            matches!(&f.fault, Fault::Kill { nodes } if nodes.iter().any(|n| n.0 == "n2"))
                && plan.workers.iter().flat_map(|w| &w.ops).any(|o| {
                    matches!(&o.op, ClientOp::Acquire { lock, .. } if lock == "l0")
                        && (f.at_ns..f.heal_at_ns).contains(&o.at_ns)
                })
        })
    }

    impl Oracle for Synthetic {
        fn fails(&mut self, plan: &Plan, _: &str, _: &str) -> Option<bool> {
            if self.runs == self.budget {
                return None;
            }
            self.runs += 1;
            Some(fails_synthetic(plan))
        }
    }

    /// A plan with several faults, at least one a kill naming n2 during which l0 is
    /// acquired: the plan of the first seed from 0 that has one (pure, so always the same).
    fn start() -> Plan {
        let mut o = opts(0);
        o.time_limit_ms = 20_000;
        o.nemesis_interval_ms = 1500;
        o.nemesis = "kill,pause,partition".parse().unwrap();
        let p = (0..200)
            .map(|seed| generate(&PlanOptions { seed, ..o.clone() }))
            .find(fails_synthetic)
            .expect("a seed below 200 plans such a kill");
        assert!(p.faults.len() >= 4, "{} faults", p.faults.len());
        p
    }

    /// Proves the search ends 1-minimal on a deterministic case: the result still fails,
    /// and removing any single fault, worker or op block of it makes the failure disappear.
    #[test]
    fn the_result_is_one_minimal_in_faults_workers_and_op_blocks() {
        let p = start();
        let before = Size::of(&p);
        let mut oracle = Synthetic {
            runs: 0,
            budget: usize::MAX,
        };
        let out = shrink(p, &mut oracle);
        assert!(out.complete);
        let r = &out.plan;
        assert!(fails_synthetic(r));
        let after = Size::of(r);
        assert_eq!(after.faults, 1, "{after}");
        assert_eq!(after.workers, 1, "{after}");
        assert!(after.ops * 10 <= before.ops, "{before} -> {after}");
        for i in 0..r.faults.len() {
            let keep: Vec<usize> = (0..r.faults.len()).filter(|&j| j != i).collect();
            assert!(
                !fails_synthetic(&keep_faults(r, &keep)),
                "fault {i} not needed"
            );
        }
        for i in 0..r.workers.len() {
            let keep: Vec<usize> = (0..r.workers.len()).filter(|&j| j != i).collect();
            if let Some(c) = keep_workers(r, &keep) {
                assert!(!fails_synthetic(&c), "worker {i} not needed");
            }
        }
        let blocks = op_blocks(r);
        for i in 0..blocks.len() {
            let keep: Vec<usize> = (0..blocks.len()).filter(|&j| j != i).collect();
            assert!(
                !fails_synthetic(&keep_blocks(r, &blocks, &keep)),
                "block {i} not needed"
            );
        }
        r.validate().unwrap();
        eprintln!(
            "synthetic shrink: {before} -> {after} in {} runs",
            oracle.runs
        );
    }

    /// Proves a spent budget gives the best plan so far, not proven minimal.
    #[test]
    fn a_spent_budget_is_not_minimal_but_keeps_progress() {
        let p = start();
        let before = Size::of(&p);
        let mut oracle = Synthetic { runs: 0, budget: 6 };
        let out = shrink(p, &mut oracle);
        assert!(!out.complete);
        assert!(fails_synthetic(&out.plan));
        assert!(Size::of(&out.plan).faults < before.faults);
    }

    #[test]
    fn deterministic_systems_decide_in_one_run() {
        assert_eq!(tries_per_candidate("gauntlet-node", 3), 3);
        assert_eq!(tries_per_candidate("etcd", 3), 3);
        assert_eq!(tries_per_candidate(crate::systems::sim::NAME, 3), 1);
        assert!(is_deterministic(crate::systems::sim::NAME));
    }
}
