//! The plan: a pure function of the seed and the options (Jepsen's pure generators).
//!
//! A plan lists, for every client worker, each operation's planned start time (ns since the
//! start of the main phase) and arguments, and every fault's time, kind and targets. It is
//! written to `plan.json` before a run starts; the same [`PlanOptions`] always give a
//! byte-identical `plan.json` ([`Plan::to_json`]). Randomness comes from ChaCha8 seeded with
//! the seed, one stream for the clients and one for the nemesis, so changing the nemesis does
//! not change the client ops. A plan can be hand-edited and run with `gauntlet run --plan`;
//! [`Plan::validate`] checks it first.

use std::io::Read;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::{FaultKind, PlanOptions};
use crate::exit::bad_input;
use crate::faults::{Fault, GrudgeKind, NodeId};
use crate::workloads::Cursor;
pub use crate::workloads::{ClientOp, PlannedOp};

mod faults_kinds;
mod faults_overlap;
mod validate;

/// The largest plan file [`Plan::load`] reads: 256 MiB. The largest plan the flags allow
/// ([`crate::config::MAX_PLANNED_OPS`]) is smaller (docs/run.md has the measured size).
pub const MAX_PLAN_BYTES: u64 = 256 << 20;

/// The format version of `plan.json`.
pub const PLAN_VERSION: u32 = 1;

const MS: u64 = 1_000_000;

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Format version ([`PLAN_VERSION`]).
    pub version: u32,
    /// The options (seed included) the plan was made from.
    pub options: PlanOptions,
    /// The nodes, `n1..nN`.
    pub nodes: Vec<NodeId>,
    /// One entry per concurrent client worker.
    pub workers: Vec<WorkerPlan>,
    /// Faults in start order; they never overlap, unless `options.overlap` (then faults of
    /// different kinds may: see `plan/faults_overlap.rs`).
    pub faults: Vec<PlannedFault>,
}

/// The ops of one client worker, run one after the other on one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerPlan {
    /// Worker number; its first process number is this, later ones add the concurrency.
    pub worker: usize,
    /// The node this worker sends its requests to.
    pub node: NodeId,
    /// Ops in start-time order.
    pub ops: Vec<PlannedOp>,
}

/// One planned fault: applied at `at_ns`, healed at `heal_at_ns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedFault {
    /// When to apply it, ns since the main phase began.
    pub at_ns: u64,
    /// When to heal it (at the latest at the end of the main phase).
    pub heal_at_ns: u64,
    /// A label for people: the grudge kind (`majorities-ring`, ...), `kill`, `pause`, or the
    /// fault's kind (`clock-bump`, `loss`, `slow`, ...).
    #[serde(default)]
    pub name: String,
    /// What to do.
    pub fault: Fault,
}

/// The node ids of an `n`-node cluster: `n1..nN`.
pub fn node_ids(n: usize) -> Vec<NodeId> {
    (1..=n).map(|i| NodeId(format!("n{i}"))).collect()
}

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// Makes the plan for `opts`. Pure: same options, same plan.
pub fn generate(opts: &PlanOptions) -> Plan {
    let nodes = node_ids(opts.nodes);
    let mut client_rng = rng(opts.seed, 1);
    let workers = (0..opts.concurrency)
        .map(|w| WorkerPlan {
            worker: w,
            node: nodes[w % nodes.len()].clone(),
            ops: worker_ops(opts, w, &mut client_rng),
        })
        .collect();
    let faults = fault_schedule(opts, &nodes, &mut rng(opts.seed, 2));
    Plan {
        version: PLAN_VERSION,
        options: opts.clone(),
        nodes,
        workers,
        faults,
    }
}

/// One worker's ops: arrivals with uniform gaps of mean `concurrency / rate`, so the whole
/// cluster sees about `rate` ops/s; what arrives is the workload's to plan
/// ([`crate::workloads::Workload::plan_next`]). Integer arithmetic only, so the plan is the
/// same everywhere.
fn worker_ops(opts: &PlanOptions, w: usize, rng: &mut ChaCha8Rng) -> Vec<PlannedOp> {
    let workload = opts.workload.workload();
    let mean_gap = ((opts.concurrency as f64 / opts.rate) * 1e9).max(1.0) as u64;
    let mut cur = Cursor {
        opts,
        worker: w,
        t: rng.gen_range(0..=mean_gap),
        limit: opts.time_limit_ms * MS,
        seq: 0,
        ops: Vec::new(),
    };
    while cur.t < cur.limit {
        cur.seq += 1;
        workload.plan_next(&mut cur, rng);
        cur.t += rng.gen_range(0..=2 * mean_gap);
    }
    cur.ops
}

/// Faults one at a time: a quiet gap, then a fault lasting about the interval, then a gap...
/// With `overlap`, faults of different kinds may overlap ([`faults_overlap::schedule`]).
fn fault_schedule(opts: &PlanOptions, nodes: &[NodeId], rng: &mut ChaCha8Rng) -> Vec<PlannedFault> {
    let kinds: Vec<FaultKind> = opts.nemesis.0.iter().copied().collect();
    if kinds.is_empty() {
        return Vec::new();
    }
    if opts.overlap {
        return faults_overlap::schedule(opts, nodes, rng);
    }
    let limit = opts.time_limit_ms * MS;
    let iv = opts.nemesis_interval_ms * MS;
    let span = |rng: &mut ChaCha8Rng| rng.gen_range(iv / 2..=iv + iv / 2);
    let mut faults = Vec::new();
    let mut t = span(rng);
    let most = faults_overlap::most_down(nodes.len());
    while t + 100 * MS < limit {
        let kind = *kinds.choose(rng).expect("kinds is not empty");
        let (name, fault) = make_fault(kind, nodes, nodes, most, rng);
        let heal = (t + span(rng)).min(limit);
        faults.push(finish_fault(t, heal, name, fault));
        t = heal + span(rng);
    }
    faults
}

/// The planned fault from `at` to `heal` (a strobe strobes for all of it).
fn finish_fault(at: u64, heal: u64, name: String, mut fault: Fault) -> PlannedFault {
    if let Fault::ClockStrobe { duration_ms, .. } = &mut fault {
        *duration_ms = ((heal - at) / MS).max(1);
    }
    PlannedFault {
        at_ns: at,
        heal_at_ns: heal,
        name,
        fault,
    }
}

/// Up to `most` (at least one) of `up`, sorted.
fn minority(up: &[NodeId], most: usize, rng: &mut ChaCha8Rng) -> Vec<NodeId> {
    let k = rng.gen_range(1..=most.max(1).min(up.len()).max(1));
    let mut v: Vec<NodeId> = up.choose_multiple(rng, k).cloned().collect();
    v.sort();
    v
}

/// A fault of `kind`. Kills, pauses and slow links take at most `most` of the nodes in `up`
/// (those not killed or paused by an overlapping fault).
fn make_fault(
    kind: FaultKind,
    nodes: &[NodeId],
    up: &[NodeId],
    most: usize,
    rng: &mut ChaCha8Rng,
) -> (String, Fault) {
    match kind {
        FaultKind::Kill => (
            "kill".into(),
            Fault::Kill {
                nodes: minority(up, most, rng),
            },
        ),
        FaultKind::Pause => (
            "pause".into(),
            Fault::Pause {
                nodes: minority(up, most, rng),
            },
        ),
        FaultKind::Partition => {
            let g = *GrudgeKind::ALL.choose(rng).expect("there are grudge kinds");
            (
                g.name().into(),
                Fault::Partition {
                    grudge: g.generate(nodes, rng),
                },
            )
        }
        // The strobe's duration is set by `finish_fault`.
        FaultKind::Clock => faults_kinds::clock(nodes, 1, rng),
        FaultKind::Lossy => faults_kinds::lossy(nodes, rng),
        FaultKind::Slow => {
            let targets = minority(nodes, faults_overlap::most_down(nodes.len()), rng);
            faults_kinds::slow(targets, rng)
        }
    }
}

impl Plan {
    /// The canonical `plan.json` text: pretty JSON, ordered keys, trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a plan always serializes");
        s.push('\n');
        s
    }

    /// Reads and validates a plan file; every problem is bad input naming the file. Reads
    /// at most [`MAX_PLAN_BYTES`], and stops at a NUL byte (never in JSON text), so a huge or
    /// endless file (`/dev/zero`) is refused in bounded memory.
    pub fn load(path: &Path) -> anyhow::Result<Plan> {
        let shown = path.display();
        let cannot = |e: std::io::Error| bad_input(format!("--plan: cannot read {shown}: {e}"));
        let mut src = std::fs::File::open(path)
            .map_err(cannot)?
            .take(MAX_PLAN_BYTES + 1);
        let mut text = Vec::new();
        loop {
            let start = text.len();
            let n = src
                .by_ref()
                .take(1 << 20)
                .read_to_end(&mut text)
                .map_err(cannot)?;
            if n == 0 {
                break;
            }
            if let Some(z) = memchr::memchr(0, &text[start..]) {
                let line = 1 + memchr::memchr_iter(b'\n', &text[..start + z]).count();
                return Err(bad_input(format!(
                    "--plan: {shown}: line {line}: a NUL byte (at byte {}): not a JSON plan",
                    start + z + 1
                )));
            }
        }
        if text.len() as u64 > MAX_PLAN_BYTES {
            return Err(bad_input(format!(
                "--plan: {shown}: larger than {MAX_PLAN_BYTES} bytes (the limit of a plan file)"
            )));
        }
        let plan: Plan = serde_json::from_slice(&text)
            .map_err(|e| bad_input(format!("--plan: {shown}: line {}: {e}", e.line())))?;
        plan.validate()
            .map_err(|e| bad_input(format!("--plan: {shown}: {e}")))?;
        Ok(plan)
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// The default options (a 30 s, 5-node mixed run), as the flags give them.
    pub(crate) fn opts(seed: u64) -> PlanOptions {
        #[derive(clap::Parser)]
        struct Cmd {
            #[command(flatten)]
            flags: crate::cli::PlanFlags,
        }
        <Cmd as clap::Parser>::try_parse_from(["plan"])
            .unwrap()
            .flags
            .resolve(seed)
            .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::opts;
    use super::*;
    use crate::config::NemesisSet;

    #[test]
    fn same_seed_same_bytes_other_seed_other_plan() {
        let a = generate(&opts(7)).to_json();
        let b = generate(&opts(7)).to_json();
        assert_eq!(a, b, "seed 7 gave two different plans");
        assert_ne!(a, generate(&opts(8)).to_json());
    }

    #[test]
    fn plan_round_trips_and_validates() {
        let p = generate(&opts(3));
        p.validate().unwrap();
        let back: Plan = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.to_json(), p.to_json());
    }

    #[test]
    fn rate_and_faults_are_roughly_as_asked() {
        let p = generate(&opts(11));
        let count = |f: &str| {
            p.workers
                .iter()
                .flat_map(|w| &w.ops)
                .filter(|o| o.op.f() == f)
                .count()
        };
        // Half the workers submit at rate/concurrency each: about 1500 submits in 30 s.
        assert!(
            (1000..=2000).contains(&count("submit")),
            "{}",
            count("submit")
        );
        // The others hold each lock 1-2 s: about 100 acquires, each with its release.
        assert!(
            (50..=200).contains(&count("acquire")),
            "{}",
            count("acquire")
        );
        assert_eq!(count("acquire"), count("release"));
        assert!((2..=5).contains(&p.faults.len()), "{:?}", p.faults.len());
        for f in &p.faults {
            if let Fault::Kill { nodes } | Fault::Pause { nodes } = &f.fault {
                assert!(!nodes.is_empty() && nodes.len() <= 2, "{nodes:?}");
            }
        }
    }

    #[test]
    fn no_nemesis_no_faults_and_nemesis_does_not_change_clients() {
        let mut o = opts(5);
        let all = generate(&o);
        o.nemesis = NemesisSet(std::collections::BTreeSet::new());
        let none = generate(&o);
        assert!(none.faults.is_empty());
        assert_eq!(all.workers, none.workers);
    }

    #[test]
    fn validate_rejects_bad_edits() {
        let p = generate(&opts(9));
        let mut q = p.clone();
        q.workers[0].node = NodeId("n9".into());
        assert!(q.validate().unwrap_err().contains("workers[0].node"));
        let mut q = p.clone();
        q.faults[0].heal_at_ns = 0;
        assert!(q.validate().unwrap_err().contains("faults[0]"));
        let mut q = p;
        q.workers[1].ops[0].at_ns = u64::MAX;
        assert!(q.validate().unwrap_err().contains("workers[1].ops[0]"));
    }
}
