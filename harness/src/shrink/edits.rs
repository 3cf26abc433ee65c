//! The edits the shrinker makes to a plan, each a pure function from a plan to a smaller
//! one: keep some faults, some client workers, some blocks of ops; and the simple passes
//! (shorten the time limit, drop the last node, narrow a grudge, kill or pause fewer nodes,
//! shorten a fault, move a fault later). Every edited plan goes through
//! [`Plan::validate`], the check of `gauntlet run --plan`; an edit whose result would not
//! be a runnable plan is not offered.

use crate::faults::{Fault, NodeId};
use crate::plan::{node_ids, Plan, PlannedFault};

const MS: u64 = 1_000_000;

/// The shortest fault an edit leaves: 200 ms (a shorter one may not take effect at all,
/// which would make the run unknown rather than show anything).
pub const MIN_FAULT_NS: u64 = 200 * MS;

/// The shortest time limit an edit leaves: 1 s.
pub const MIN_TIME_LIMIT_MS: u64 = 1000;

/// How many op blocks each worker's ops are cut into for ddmin.
pub const BLOCKS_PER_WORKER: usize = 8;

/// How big a plan is, as the shrinker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Size {
    /// Planned faults.
    pub faults: usize,
    /// Client workers.
    pub workers: usize,
    /// Planned client ops.
    pub ops: usize,
    /// Nodes.
    pub nodes: usize,
    /// Main phase, ms.
    pub time_limit_ms: u64,
}

impl Size {
    /// The size of `plan`.
    pub fn of(plan: &Plan) -> Size {
        Size {
            faults: plan.faults.len(),
            workers: plan.workers.len(),
            ops: plan.workers.iter().map(|w| w.ops.len()).sum(),
            nodes: plan.nodes.len(),
            time_limit_ms: plan.options.time_limit_ms,
        }
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} faults, {} workers, {} ops, {} nodes, {} ms",
            self.faults, self.workers, self.ops, self.nodes, self.time_limit_ms
        )
    }
}

fn valid(plan: Plan) -> Option<Plan> {
    plan.validate().ok().map(|()| plan)
}

/// `plan` with only the faults at `keep`.
pub fn keep_faults(plan: &Plan, keep: &[usize]) -> Plan {
    let mut p = plan.clone();
    p.faults = keep.iter().map(|&i| plan.faults[i].clone()).collect();
    p
}

/// `plan` with only the workers at `keep`, renumbered `0..` (each keeps its node and ops).
/// None when no worker would be left.
pub fn keep_workers(plan: &Plan, keep: &[usize]) -> Option<Plan> {
    if keep.is_empty() {
        return None;
    }
    let mut p = plan.clone();
    p.workers = keep
        .iter()
        .enumerate()
        .map(|(new, &i)| {
            let mut w = plan.workers[i].clone();
            w.worker = new;
            w
        })
        .collect();
    p.options.concurrency = p.workers.len();
    Some(p)
}

/// A block of consecutive ops of one worker: `ops[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Index of the worker in the plan.
    pub worker: usize,
    /// First op of the block.
    pub start: usize,
    /// One past its last op.
    pub end: usize,
}

/// Each worker's ops cut into at most [`BLOCKS_PER_WORKER`] blocks of nearly equal length.
pub fn op_blocks(plan: &Plan) -> Vec<Block> {
    let mut out = Vec::new();
    for (w, worker) in plan.workers.iter().enumerate() {
        let n = worker.ops.len();
        let parts = BLOCKS_PER_WORKER.min(n);
        let mut start = 0;
        for i in 0..parts {
            let end = start + (n - start) / (parts - i);
            out.push(Block {
                worker: w,
                start,
                end,
            });
            start = end;
        }
    }
    out
}

/// `plan` with only the op blocks at `keep` (indexes into `blocks`).
pub fn keep_blocks(plan: &Plan, blocks: &[Block], keep: &[usize]) -> Plan {
    let mut p = plan.clone();
    for (w, worker) in p.workers.iter_mut().enumerate() {
        worker.ops = keep
            .iter()
            .map(|&b| blocks[b])
            .filter(|b| b.worker == w)
            .flat_map(|b| plan.workers[w].ops[b.start..b.end].iter().cloned())
            .collect();
    }
    p
}

/// `plan` cut to a main phase of `limit_ms`: later ops and faults dropped, faults healed by
/// the new end.
pub fn cut_time(plan: &Plan, limit_ms: u64) -> Plan {
    let limit = limit_ms * MS;
    let mut p = plan.clone();
    p.options.time_limit_ms = limit_ms;
    for w in &mut p.workers {
        w.ops.retain(|o| o.at_ns <= limit);
    }
    p.faults.retain(|f| f.at_ns + MIN_FAULT_NS <= limit);
    for f in &mut p.faults {
        if f.heal_at_ns > limit {
            set_span(f, f.at_ns, limit);
        }
    }
    p
}

/// Sets a fault's times, keeping a strobe's duration equal to its span (as the plan makes it).
fn set_span(f: &mut PlannedFault, at: u64, heal: u64) {
    f.at_ns = at;
    f.heal_at_ns = heal;
    if let Fault::ClockStrobe { duration_ms, .. } = &mut f.fault {
        *duration_ms = ((heal - at) / MS).max(1);
    }
}

/// `plan` without its last node: workers on it move to the others, kills, pauses and
/// grudges forget it; None when another fault names it or one node is left.
pub fn drop_last_node(plan: &Plan) -> Option<Plan> {
    let n = plan.nodes.len();
    if n <= 1 {
        return None;
    }
    let gone = plan.nodes[n - 1].clone();
    let nodes = node_ids(n - 1);
    let mut p = plan.clone();
    p.options.nodes = n - 1;
    for w in &mut p.workers {
        if w.node == gone {
            w.node = nodes[w.worker % nodes.len()].clone();
        }
    }
    p.nodes = nodes;
    for f in &mut p.faults {
        if !f.fault.nodes().contains(&gone) {
            continue;
        }
        match &mut f.fault {
            Fault::Kill { nodes } | Fault::Pause { nodes } => nodes.retain(|x| *x != gone),
            Fault::Partition { grudge } => forget_in_grudge(grudge, &gone),
            _ => return None,
        }
    }
    Some(p)
}

fn forget_in_grudge(grudge: &mut crate::faults::Grudge, node: &NodeId) {
    grudge.0.remove(node);
    for senders in grudge.0.values_mut() {
        senders.remove(node);
    }
    grudge.0.retain(|_, s| !s.is_empty());
}

/// What is left after the first anomaly of a failing run before its time limit is cut
/// there: 2 s (for the heal, and for ops in flight).
pub const AFTER_FAILURE_MS: u64 = 2000;

/// The time-limit edits alone: to [`AFTER_FAILURE_MS`] after `failed_by_ms` (when known),
/// then those of [`simple_edits`].
pub fn time_edits(plan: &Plan, failed_by_ms: Option<u64>) -> Vec<(String, Plan)> {
    let limit = plan.options.time_limit_ms;
    let mut out = Vec::new();
    if let Some(t) = failed_by_ms {
        let cut = (t + AFTER_FAILURE_MS).div_ceil(1000) * 1000;
        if cut < limit {
            let label = format!("time limit {limit} ms -> {cut} ms (first anomaly by {t} ms)");
            out.extend(valid(cut_time(plan, cut)).map(|p| (label, p)));
        }
    }
    let mut rest = Vec::new();
    limit_edits(plan, &mut rest);
    out.extend(
        rest.into_iter()
            .filter_map(|(label, p)| p.and_then(valid).map(|p| (label, p))),
    );
    out
}

/// The time limit: to one second after the last fault heals or the last op starts, then
/// halved.
fn limit_edits(plan: &Plan, out: &mut Vec<(String, Option<Plan>)>) {
    let limit = plan.options.time_limit_ms;
    let last_ns = plan
        .faults
        .iter()
        .map(|f| f.heal_at_ns)
        .chain(
            plan.workers
                .iter()
                .filter_map(|w| w.ops.last())
                .map(|o| o.at_ns),
        )
        .max()
        .unwrap_or(0);
    let tight = (last_ns.div_ceil(1000 * MS) + 1) * 1000;
    if tight < limit {
        out.push((
            format!("time limit {limit} ms -> {tight} ms"),
            Some(cut_time(plan, tight)),
        ));
    }
    let half = (limit / 2).max(MIN_TIME_LIMIT_MS);
    if half < limit && half < tight {
        out.push((
            format!("time limit {limit} ms -> {half} ms"),
            Some(cut_time(plan, half)),
        ));
    }
}

/// The simple edits of `plan`, most reducing first, each labelled, each a valid plan.
pub fn simple_edits(plan: &Plan) -> Vec<(String, Plan)> {
    let mut out: Vec<(String, Option<Plan>)> = Vec::new();
    limit_edits(plan, &mut out);
    out.push((
        format!(
            "nodes {} -> {}",
            plan.nodes.len(),
            plan.nodes.len().saturating_sub(1)
        ),
        drop_last_node(plan),
    ));
    for (i, f) in plan.faults.iter().enumerate() {
        fault_edits(plan, i, f, &mut out);
    }
    out.into_iter()
        .filter_map(|(label, p)| p.and_then(valid).map(|p| (label, p)))
        .collect()
}

/// The edits of fault `i`: narrow its grudge, fewer targets, shorter, later.
fn fault_edits(plan: &Plan, i: usize, f: &PlannedFault, out: &mut Vec<(String, Option<Plan>)>) {
    let with = |g: &dyn Fn(&mut PlannedFault)| {
        let mut p = plan.clone();
        g(&mut p.faults[i]);
        Some(p)
    };
    match &f.fault {
        Fault::Partition { grudge } => {
            for node in grudge.nodes() {
                let label = format!("faults[{i}] ({}): {node} no longer cut", f.name);
                out.push((
                    label,
                    with(&|pf| {
                        if let Fault::Partition { grudge } = &mut pf.fault {
                            forget_in_grudge(grudge, &node);
                        }
                    }),
                ));
            }
        }
        Fault::Kill { nodes } | Fault::Pause { nodes } if nodes.len() > 1 => {
            for node in nodes {
                let label = format!("faults[{i}] ({}): {node} spared", f.name);
                out.push((
                    label,
                    with(&|pf| {
                        if let Fault::Kill { nodes } | Fault::Pause { nodes } = &mut pf.fault {
                            nodes.retain(|x| x != node);
                        }
                    }),
                ));
            }
        }
        _ => {}
    }
    let span = f.heal_at_ns - f.at_ns;
    if span / 2 >= MIN_FAULT_NS {
        let (at, heal) = (f.at_ns, f.heal_at_ns);
        out.push((
            format!(
                "faults[{i}] ({}): {} ms -> {} ms",
                f.name,
                span / MS,
                span / 2 / MS
            ),
            with(&|pf| set_span(pf, at, at + span / 2)),
        ));
        out.push((
            format!(
                "faults[{i}] ({}): starts {} ms later",
                f.name,
                span / 2 / MS
            ),
            with(&|pf| set_span(pf, at + span / 2, heal)),
        ));
    }
}

/// The lowest loss or duplication chance an edit leaves: 0.01 (lower still, removing the
/// fault is the fault ddmin's to try).
pub const MIN_CHANCE: f64 = 0.01;

/// The edits only a simulated run gets (its candidates cost one deterministic run each):
/// lower the message loss of a loss fault (its drop chance halved). Only what the plan
/// records: the simulator's own loss and duplication are its defaults (0), which no flag
/// sets, and a plan holds no duplicating (netem) fault (`Plan::validate` refuses one), so
/// there is no duplication to lower. Each labelled, each a valid plan.
pub fn sim_edits(plan: &Plan) -> Vec<(String, Plan)> {
    let mut out = Vec::new();
    for (i, f) in plan.faults.iter().enumerate() {
        let Fault::Loss { probability, .. } = &f.fault else {
            continue;
        };
        let lower = probability / 2.0;
        if lower < MIN_CHANCE {
            continue;
        }
        let mut p = plan.clone();
        if let Fault::Loss { probability, .. } = &mut p.faults[i].fault {
            *probability = lower;
        }
        let label = format!("faults[{i}] ({}): loss {probability} -> {lower}", f.name);
        out.extend(valid(p).map(|p| (label, p)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{generate, tests_support::opts};

    fn plan() -> Plan {
        let mut o = opts(4);
        o.time_limit_ms = 10_000;
        o.nemesis_interval_ms = 1000;
        o.nemesis = "partition,kill,pause".parse().unwrap();
        generate(&o)
    }

    /// Proves the simulator-only edit halves a loss fault's chance (down to [`MIN_CHANCE`])
    /// and touches nothing else; a plan without loss faults gets none.
    #[test]
    fn sim_edits_halve_message_loss() {
        let mut o = opts(4);
        o.time_limit_ms = 10_000;
        o.nemesis_interval_ms = 1000;
        o.nemesis = "lossy,kill".parse().unwrap();
        let p = generate(&o);
        let lossy: Vec<usize> = (0..p.faults.len())
            .filter(|&i| matches!(p.faults[i].fault, Fault::Loss { .. }))
            .collect();
        assert!(!lossy.is_empty(), "seed 4 plans a loss fault");
        let edits = sim_edits(&p);
        assert_eq!(edits.len(), lossy.len());
        for ((label, q), &i) in edits.iter().zip(&lossy) {
            let (Fault::Loss { probability: a, .. }, Fault::Loss { probability: b, .. }) =
                (&p.faults[i].fault, &q.faults[i].fault)
            else {
                unreachable!()
            };
            assert_eq!(*b, a / 2.0, "{label}");
            let mut back = q.clone();
            back.faults[i] = p.faults[i].clone();
            assert_eq!(back, p, "{label} changed more than the chance");
        }
        let mut low = p.clone();
        for i in &lossy {
            if let Fault::Loss { probability, .. } = &mut low.faults[*i].fault {
                *probability = MIN_CHANCE * 1.5;
            }
        }
        assert!(sim_edits(&low).is_empty());
        assert!(sim_edits(&plan()).is_empty());
    }

    #[test]
    fn unit_edits_keep_what_they_say_and_stay_valid() {
        let p = plan();
        assert!(p.faults.len() >= 3, "{}", p.faults.len());
        let f = keep_faults(&p, &[0, 2]);
        assert_eq!(f.faults, vec![p.faults[0].clone(), p.faults[2].clone()]);
        f.validate().unwrap();

        let w = keep_workers(&p, &[1, 3]).unwrap();
        assert_eq!(w.workers.len(), 2);
        assert_eq!(w.options.concurrency, 2);
        assert_eq!(w.workers[1].ops, p.workers[3].ops);
        assert_eq!(w.workers[1].worker, 1);
        w.validate().unwrap();
        assert!(keep_workers(&p, &[]).is_none());

        let blocks = op_blocks(&p);
        assert_eq!(blocks.len(), p.workers.len() * BLOCKS_PER_WORKER);
        let all: Vec<usize> = (0..blocks.len()).collect();
        assert_eq!(
            keep_blocks(&p, &blocks, &all),
            p,
            "keeping every block is the plan"
        );
        let b = keep_blocks(&p, &blocks, &[0, 9]);
        assert_eq!(
            Size::of(&b).ops,
            (blocks[0].end - blocks[0].start) + (blocks[9].end - blocks[9].start)
        );
        b.validate().unwrap();
    }

    #[test]
    fn simple_edits_are_valid_and_each_makes_the_plan_smaller() {
        let p = plan();
        let edits = simple_edits(&p);
        let labels: Vec<&str> = edits.iter().map(|(l, _)| l.as_str()).collect();
        assert!(
            labels.iter().any(|l| l.starts_with("nodes 5 -> 4")),
            "{labels:?}"
        );
        assert!(edits.iter().any(|(l, _)| l.contains("ms later")));
        for (label, e) in &edits {
            e.validate().unwrap_or_else(|err| panic!("{label}: {err}"));
            assert_ne!(e, &p, "{label} changed nothing");
            let (a, b) = (Size::of(e), Size::of(&p));
            let spans = |p: &Plan| p.faults.iter().map(|f| f.heal_at_ns - f.at_ns).sum::<u64>();
            let cut = |p: &Plan| {
                p.faults
                    .iter()
                    .map(|f| f.fault.nodes().len())
                    .sum::<usize>()
            };
            assert!(
                a.time_limit_ms < b.time_limit_ms
                    || a.nodes < b.nodes
                    || spans(e) < spans(&p)
                    || cut(e) < cut(&p),
                "{label} is no smaller"
            );
        }
        let cut = cut_time(&p, 3000);
        assert!(cut.faults.iter().all(|f| f.heal_at_ns <= 3000 * MS));
        assert!(cut
            .workers
            .iter()
            .flat_map(|w| &w.ops)
            .all(|o| o.at_ns <= 3000 * MS));
    }

    /// Proves the hint comes first and cuts the time limit to 2 s after the first anomaly,
    /// rounded up to a second; without a hint only the generic cuts are offered.
    #[test]
    fn the_first_anomaly_hint_cuts_the_time_limit_first() {
        let p = plan();
        let edits = time_edits(&p, Some(3200));
        assert!(
            edits[0]
                .0
                .ends_with("-> 6000 ms (first anomaly by 3200 ms)"),
            "{}",
            edits[0].0
        );
        assert_eq!(edits[0].1.options.time_limit_ms, 6000);
        assert!(time_edits(&p, None)
            .iter()
            .all(|(l, _)| !l.contains("first anomaly")));
        assert!(time_edits(&p, Some(9500))
            .iter()
            .all(|(l, _)| !l.contains("first anomaly")));
    }
}
