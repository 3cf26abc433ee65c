//! Whether a plan file can be run as written: the checks of `gauntlet run --plan`.
//!
//! A plan file is held to exactly the limits of the flags (its options go through
//! [`PlanOptions::validate`], the check `gauntlet run`'s flags get), and to what only a
//! written plan can get wrong: the node list, one worker per client, every op one the plan's
//! workload runs, and every fault one that really cuts, kills or pauses something (an empty
//! kill or a grudge of a node against itself would count as an applied fault that did
//! nothing, and a run could then pass with no fault at all; a clock bump of 0 ms, a loss of
//! probability 0 likewise). Each error names the entry,
//! e.g. `faults[3]: kill names no node`.

use std::collections::BTreeSet;

use super::{node_ids, Plan, PlannedOp, MS, PLAN_VERSION};
use crate::config::{FaultKind, PlanOptions};
use crate::faults::{Fault, Grudge, NodeId};

impl Plan {
    /// Checks that a (possibly hand-edited) plan can be run as written; the first problem,
    /// naming its entry.
    pub fn validate(&self) -> Result<(), String> {
        let o = &self.options;
        if self.version != PLAN_VERSION {
            return Err(format!(
                "version {} (expected {PLAN_VERSION})",
                self.version
            ));
        }
        o.validate().map_err(|e| e.for_plan())?;
        if self.nodes != node_ids(o.nodes) {
            return Err(format!("nodes must be n1..n{} (options.nodes)", o.nodes));
        }
        if self.workers.len() != o.concurrency {
            return Err(format!(
                "workers: {} entries, but options.concurrency is {} (one worker a client)",
                self.workers.len(),
                o.concurrency
            ));
        }
        let known: BTreeSet<&NodeId> = self.nodes.iter().collect();
        // No overflow: the options are valid, so the time limit is at most 24 h.
        let limit = o.time_limit_ms * MS;
        let mut tasks = BTreeSet::new();
        for (i, w) in self.workers.iter().enumerate() {
            if w.worker != i {
                return Err(format!(
                    "workers[{i}].worker is {} (expected {i})",
                    w.worker
                ));
            }
            if !known.contains(&w.node) {
                return Err(format!("workers[{i}].node {} is not a node", w.node));
            }
            validate_ops(i, &w.ops, o, limit, &mut tasks)?;
        }
        super::faults_overlap::validate_times(&self.faults, o.overlap, limit, o.nodes)?;
        for (i, f) in self.faults.iter().enumerate() {
            validate_fault(&f.fault, o, &known).map_err(|e| format!("faults[{i}]: {e}"))?;
        }
        Ok(())
    }
}

fn validate_ops(
    i: usize,
    ops: &[PlannedOp],
    o: &PlanOptions,
    limit: u64,
    tasks: &mut BTreeSet<String>,
) -> Result<(), String> {
    let mut prev = 0;
    for (j, op) in ops.iter().enumerate() {
        let at = || format!("workers[{i}].ops[{j}]");
        if op.at_ns < prev || op.at_ns > limit {
            return Err(format!(
                "{}: at_ns must be in order and within the time limit",
                at()
            ));
        }
        prev = op.at_ns;
        let f = op.op.f();
        let allowed = o.workload.workload().fs();
        if !allowed.contains(&f) {
            return Err(format!(
                "{}: {f} is not an op of the {} workload (expected {})",
                at(),
                o.workload,
                allowed.join(", ")
            ));
        }
        crate::workloads::op::validate_op(&op.op, tasks)
            .map_err(|e| format!("{}: {f}: {e}", at()))?;
    }
    Ok(())
}

/// One fault: a kind the options allow, naming existing nodes, doing something.
fn validate_fault(fault: &Fault, o: &PlanOptions, known: &BTreeSet<&NodeId>) -> Result<(), String> {
    let name = fault.kind();
    let Some(kind) = FaultKind::of(fault) else {
        return Err(format!(
            "a {name} fault, which the nemesis can apply only where the kernel has sch_netem; \
             run plans do not offer it (options.nemesis takes partition, kill, pause, clock, \
             lossy, slow)"
        ));
    };
    if !o.nemesis.0.contains(&kind) {
        return Err(format!(
            "a {name}, but options.nemesis is {}",
            o.nemesis.flag_value()
        ));
    }
    for n in fault.nodes() {
        if !known.contains(&n) {
            return Err(format!("{name} names {n}, which is not a node"));
        }
    }
    match fault {
        Fault::Kill { nodes } | Fault::Pause { nodes } => {
            if nodes.is_empty() {
                return Err(format!("{name} names no node"));
            }
            let mut seen = BTreeSet::new();
            if let Some(twice) = nodes.iter().find(|n| !seen.insert(*n)) {
                return Err(format!("{name} names {twice} twice"));
            }
        }
        Fault::Partition { grudge } => validate_grudge(grudge)?,
        _ => super::faults_kinds::validate(fault, known)?,
    }
    Ok(())
}

fn validate_grudge(grudge: &Grudge) -> Result<(), String> {
    if let Some((n, _)) = grudge.0.iter().find(|(r, senders)| senders.contains(*r)) {
        return Err(format!(
            "the grudge has {n} drop its own packets (a node cannot be cut from itself)"
        ));
    }
    if grudge.cut_pairs().is_empty() {
        return Err("the grudge cuts no pair of nodes".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::opts;
    use super::super::{generate, PlannedFault};
    use super::*;
    use crate::config::NemesisSet;
    use crate::workloads::ClientOp;

    /// A generated plan (valid) with one edit; the error it gets.
    fn refused(edit: impl FnOnce(&mut Plan)) -> String {
        let mut p = generate(&opts(9));
        p.validate().expect("the generated plan is valid");
        edit(&mut p);
        p.validate().expect_err("the edited plan was accepted")
    }

    fn kill(nodes: &[&str]) -> Fault {
        Fault::Kill {
            nodes: nodes.iter().map(|&n| NodeId::from(n)).collect(),
        }
    }

    fn grudge(pairs: &[(&str, &[&str])]) -> Fault {
        Fault::Partition {
            grudge: Grudge(
                pairs
                    .iter()
                    .map(|(r, s)| (NodeId::from(*r), s.iter().map(|&n| n.into()).collect()))
                    .collect(),
            ),
        }
    }

    #[test]
    fn options_are_held_to_the_flags_limits() {
        // Proves a plan's options get the flags' own range check, named as fields: 33 nodes
        // (the flag allows 32), a 1e15 ms time limit, concurrency 0, a plan of 360 million ops.
        let e = refused(|p| {
            p.options.nodes = 33;
            p.nodes = node_ids(33);
        });
        assert!(
            e.starts_with("options.nodes: 33 nodes; expected 1 to 32"),
            "{e}"
        );
        let e = refused(|p| p.options.time_limit_ms = 1_000_000_000_000_000);
        assert!(e.starts_with("options.time_limit_ms: "), "{e}");
        let e = refused(|p| p.options.concurrency = 0);
        assert!(e.starts_with("options.concurrency: 0 clients"), "{e}");
        let e = refused(|p| {
            p.options.time_limit_ms = 3_600_000;
            p.options.rate = 100_000.0;
        });
        assert!(e.starts_with("options.time_limit_ms × rate: "), "{e}");
        let e = refused(|p| p.options.rate = f64::INFINITY);
        assert!(e.starts_with("options.rate: "), "{e}");
    }

    #[test]
    fn workers_match_the_concurrency() {
        // Proves one worker a client: 10 workers with concurrency 9 (or 11) are refused.
        let e = refused(|p| p.options.concurrency = 9);
        assert!(
            e.starts_with("workers: 10 entries, but options.concurrency is 9"),
            "{e}"
        );
        let e = refused(|p| p.options.concurrency = 11);
        assert!(e.contains("options.concurrency is 11"), "{e}");
    }

    #[test]
    fn every_op_is_one_of_the_workload() {
        // Proves a submit in a register plan, a release in a tasks plan, an empty lock and a zero
        // lease are refused, naming the worker and the op.
        let e = refused(|p| p.options.workload = "register".parse().unwrap());
        assert!(e.starts_with("workers[0].ops[0]: submit is not an op of the register workload (expected read, write, cas)"), "{e}");
        let e = refused(|p| {
            p.options.workload = "tasks".parse().unwrap();
            p.workers[0].ops[1].op = ClientOp::Release { lock: "l0".into() };
        });
        assert_eq!(
            e,
            "workers[0].ops[1]: release is not an op of the tasks workload (expected submit)"
        );
        let e = refused(|p| {
            p.workers[1].ops[0].op = ClientOp::Acquire {
                lock: String::new(),
                ttl_ms: 10,
            }
        });
        assert_eq!(e, "workers[1].ops[0]: acquire: empty lock");
        let e = refused(|p| {
            p.workers[1].ops[0].op = ClientOp::Acquire {
                lock: "l0".into(),
                ttl_ms: 0,
            }
        });
        assert!(
            e.starts_with("workers[1].ops[0]: acquire: ttl_ms 0;"),
            "{e}"
        );
    }

    /// The plan's first fault replaced by `fault`.
    fn first_fault(fault: Fault) -> String {
        refused(|p| {
            let f = &mut p.faults[0];
            *f = PlannedFault { fault, ..f.clone() };
        })
    }

    #[test]
    fn every_fault_does_something_to_existing_nodes() {
        // Proves the faults that would count as applied while doing nothing are refused, as
        // are unknown nodes, each naming the fault's entry.
        assert_eq!(first_fault(kill(&[])), "faults[0]: kill names no node");
        assert_eq!(
            first_fault(kill(&["n2", "n2"])),
            "faults[0]: kill names n2 twice"
        );
        assert_eq!(
            first_fault(Fault::Pause { nodes: vec![] }),
            "faults[0]: pause names no node"
        );
        assert_eq!(
            first_fault(kill(&["n6"])),
            "faults[0]: kill names n6, which is not a node"
        );
        assert_eq!(
            first_fault(grudge(&[])),
            "faults[0]: the grudge cuts no pair of nodes"
        );
        assert_eq!(
            first_fault(grudge(&[("n1", &[])])),
            "faults[0]: the grudge cuts no pair of nodes"
        );
        assert!(first_fault(grudge(&[("n1", &["n1", "n2"])]))
            .starts_with("faults[0]: the grudge has n1 drop its own packets"));
        assert_eq!(
            first_fault(grudge(&[("n1", &["n9"])])),
            "faults[0]: partition names n9, which is not a node"
        );
        // A one-way cut of one pair is a fault.
        let mut p = generate(&opts(9));
        p.faults[0].fault = grudge(&[("n1", &["n2"])]);
        p.validate().unwrap();
    }

    #[test]
    fn faults_are_of_the_planned_kinds_and_last() {
        // Proves a fault the options do not plan (a kill in a partition-only plan) and a
        // fault healed when it starts are refused.
        let e = refused(|p| {
            p.options.nemesis = "partition".parse::<NemesisSet>().unwrap();
            p.faults[0].fault = kill(&["n1"]);
        });
        assert_eq!(e, "faults[0]: a kill, but options.nemesis is partition");
        let e = refused(|p| p.faults[0].heal_at_ns = p.faults[0].at_ns);
        assert!(e.starts_with("faults[0]: times must"), "{e}");
    }
}
