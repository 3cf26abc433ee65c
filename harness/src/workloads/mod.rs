//! The workloads, each one unit (Jepsen's `{generator, client, checker}` map), and their
//! registry by name.
//!
//! A [`Workload`] says everything the run needs to know about it:
//! - its generator: [`Workload::plan_next`] plans the next op(s) of a worker (pure: options,
//!   worker, RNG), called by [`crate::plan`]'s arrival loop;
//! - its client: [`Workload::runner`] builds, from the clients a system offers
//!   ([`crate::cluster::Offers`]), the [`OpRunner`] that invokes and records one planned op;
//! - its final phase, if any ([`Workload::final_phase`]: the tasks' recovery wait and final
//!   read);
//! - the checkers it adds to the built-in streaming ones ([`Workload::checkers`]).
//!
//! | module | the workload |
//! | --- | --- |
//! | [`tasks`] | submit tasks; the final read finds lost ones |
//! | [`locks`] | acquire and release leased locks; split locks, token order |
//! | [`register`] | read, write, cas on rotating keys; linearizability |
//! | [`mixed`] | tasks on even workers, locks on odd ones (a [`mixed::Composite`]) |
//! | [`op`] | [`ClientOp`] and [`PlannedOp`]: the planned ops of every workload, as data |
//!
//! Adding a workload: its file here (a type implementing [`Workload`], its client trait, its
//! ops in [`op`]), one entry in [`REGISTRY`], its client in each system that offers it
//! (docs/extending.md). The run lifecycle, the plan's arrival loop, the CLI and the outcome do
//! not change. The registry below is the only place that goes from a name to a workload.

pub mod locks;
pub mod mixed;
pub mod op;
pub mod register;
pub mod tasks;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use checkers::ExtraResult;
use histories::Op;
use nemesis::NodeId;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::cluster::{BoxFuture, Cluster, Offers, Reply};
use crate::config::PlanOptions;
use crate::recorder::{Completion, Recorder};
use crate::workers::Ctx;
pub use op::{ClientOp, PlannedOp};

/// Every workload, in the order `--help` and error messages list them. The only `match` from
/// a name to a workload ([`WorkloadName::from_str`] reads it).
pub static REGISTRY: [&dyn Workload; 4] = [
    &tasks::Tasks,
    &locks::Locks,
    &mixed::MIXED,
    &register::Register,
];

/// A workload's name, as `--workload` takes it and `plan.json`/`test.json` store it. Only
/// names in [`REGISTRY`] parse; [`WorkloadName::workload`] gives the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkloadName(&'static str);

impl WorkloadName {
    /// The workload of this name.
    pub fn workload(self) -> &'static dyn Workload {
        REGISTRY
            .iter()
            .copied()
            .find(|w| w.name() == self)
            .expect("a WorkloadName is only made from a registered name")
    }

    /// The name as text.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// Every registered name, as an error message lists them: `a, b, c or d`.
    pub fn expected() -> String {
        let names: Vec<&str> = REGISTRY.iter().map(|w| w.name().0).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }
}

impl FromStr for WorkloadName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        REGISTRY
            .iter()
            .map(|w| w.name())
            .find(|n| n.0 == s)
            .ok_or_else(|| {
                format!(
                    "unknown workload {s:?} (expected {})",
                    WorkloadName::expected()
                )
            })
    }
}

impl fmt::Display for WorkloadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for WorkloadName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for WorkloadName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One workload: its generator, its client, its final phase, its checkers.
pub trait Workload: Send + Sync + 'static {
    /// Its registry name.
    fn name(&self) -> WorkloadName;

    /// The history `f`s of its planned ops (a plan file's ops are checked against them).
    fn fs(&self) -> Vec<&'static str>;

    /// The workloads whose clients a system must offer to run it (itself, by default; a
    /// composite needs its parts').
    fn needs(&self) -> Vec<WorkloadName> {
        vec![self.name()]
    }

    /// Plans the op(s) at the cursor's time (`cur.t`), for `cur.worker`; may move `cur.t`
    /// on (a lock's release comes after its hold). Pure: the same cursor and RNG state give
    /// the same ops.
    fn plan_next(&self, cur: &mut Cursor<'_>, rng: &mut ChaCha8Rng);

    /// Its runner on a system, built from the system's clients; `None` when the system does
    /// not offer them.
    fn runner(&self, offers: &Offers) -> Option<Arc<dyn OpRunner>>;

    /// What happens after the main phase, the faults healed, before the checkers (the
    /// tasks' recovery wait and final read). The default: nothing.
    fn final_phase<'a>(&'a self, _f: FinalCtx<'a>) -> BoxFuture<'a, FinalReport> {
        let text = format!("none needed ({} workload)", self.name());
        Box::pin(async move {
            FinalReport {
                recovery: text,
                ..FinalReport::default()
            }
        })
    }

    /// Whether its final phase is the tasks' recovery wait and final read
    /// ([`tasks::recover_and_read`]): a simulated run runs that phase in virtual time.
    fn recovers_tasks(&self) -> bool {
        false
    }

    /// The checkers it adds to the built-in streaming ones (stats, tasks, locks, which every
    /// history gets).
    fn checkers(&self) -> Vec<&'static dyn RunChecker> {
        Vec::new()
    }
}

/// Where a worker's plan stands while [`Workload::plan_next`] adds to it.
#[derive(Debug)]
pub struct Cursor<'a> {
    /// The plan's options.
    pub opts: &'a PlanOptions,
    /// The worker planned.
    pub worker: usize,
    /// The time of the next op, ns since the main phase began.
    pub t: u64,
    /// The end of the main phase, ns: no op is planned after it.
    pub limit: u64,
    /// How many ops [`Workload::plan_next`] was asked for so far on this worker, this one
    /// included (1, 2, ...): unique ids within the worker (`t{worker}-{seq}`).
    pub seq: u64,
    /// The ops planned so far.
    pub ops: Vec<PlannedOp>,
}

impl Cursor<'_> {
    /// Plans `op` at the cursor's time.
    pub fn push(&mut self, op: ClientOp) {
        self.ops.push(PlannedOp { at_ns: self.t, op });
    }
}

/// Runs one workload's planned ops on one system. One [`Session`] per process: a process
/// that ended an op in `info` is never used again, and its session (held locks, say) goes
/// with it.
pub trait OpRunner: Send + Sync {
    /// A fresh session, for a fresh process.
    fn session(&self) -> Box<dyn Session>;
}

/// One process's client state.
pub trait Session: Send {
    /// Records the invoke of `call.op` in `call.rec`, runs it and returns its completion
    /// (the worker records it); `None` when the op is skipped (a release of a lock this
    /// process does not hold), with nothing recorded.
    fn run<'a>(&'a mut self, call: Call<'a>) -> BoxFuture<'a, Option<Completion>>;

    /// The ops the worker runs (and records) after its last planned one, past the deadline:
    /// what a client does before it goes away cleanly (a leased lock's release, so a hold
    /// the plan's end cut short does not last to the end of the history). Default: none.
    fn closing_ops(&self) -> Vec<ClientOp> {
        Vec::new()
    }
}

/// One planned op to run.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The history.
    pub rec: &'a Recorder,
    /// The process running it.
    pub process: u64,
    /// The node it goes to.
    pub node: &'a NodeId,
    /// What to do.
    pub op: &'a ClientOp,
    /// The worker's context: what a session needs to record ops of its own beside the
    /// planned one (a lock's keep-alives, under fresh process numbers).
    pub ctx: &'a Ctx,
}

impl Call<'_> {
    /// Records the invoke of `f` with `value` at this call's process and node.
    pub fn invoke(&self, f: &str, value: Value) {
        self.rec
            .invoke(self.process, f, value, Some(self.node.as_str()));
    }
}

/// The completion of a reply: ok with what `ok_value` makes of it, or fail/info with the
/// invoke's value and the error. The one rule every workload's ops follow.
pub fn to_completion<T>(
    r: &Reply<T>,
    ok_value: impl FnOnce(&T) -> Value,
    value: &Value,
) -> Completion {
    match r {
        Reply::Ok(t) => Completion::ok(ok_value(t)),
        Reply::Fail(e) => Completion::fail(value.clone(), e.clone()),
        Reply::Info(e) => Completion::info(value.clone(), e.clone()),
    }
}

/// What a final phase gets.
#[derive(Clone, Copy)]
pub struct FinalCtx<'a> {
    /// The workers' context (history, stop flag, fresh process numbers).
    pub ctx: &'a Ctx,
    /// The system under test.
    pub cluster: &'a dyn Cluster,
    /// The clients it offers.
    pub offers: &'a Offers,
    /// The longest recovery wait (`--recovery`).
    pub budget: Duration,
}

impl fmt::Debug for FinalCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FinalCtx")
            .field("offers", self.offers)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// What a final phase did, for the summary and `extra.harness`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinalReport {
    /// How the recovery wait ended, in words.
    pub recovery: String,
    /// The node that answered the final read, if one did.
    pub final_read: Option<String>,
    /// What went wrong (no node answered the final read).
    pub problems: Vec<String>,
}

/// A checker a workload adds to the streaming ones: it gets the whole history, read once at
/// the end of the run (the linearizability search needs it all in memory), and may write
/// files into the run directory. Run by [`check_safe`], so a checker that panics gives
/// `unknown` with the reason.
pub trait RunChecker: Send + Sync {
    /// Its key under `extra` in results.json.
    fn name(&self) -> &'static str;
    /// Checks the run's history (`ops`, in file order) of the run in `run_dir`.
    fn check(&self, ops: &[Op], run_dir: &Path) -> ExtraResult;
}

/// Runs `checker`, turning a panic into `unknown` with the reason (Jepsen's `check-safe`).
pub fn check_safe(checker: &dyn RunChecker, ops: &[Op], run_dir: &Path) -> ExtraResult {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| checker.check(ops, run_dir))) {
        Ok(r) => r,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            ExtraResult {
                valid: checkers::Verdict::Unknown,
                summary: format!("the {} checker crashed: {why}", checker.name()),
                detail: Value::Null,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves every registered name parses back to its own workload, the names are unique,
    /// and an unknown one is refused listing them all.
    #[test]
    fn the_registry_round_trips_its_names() {
        let mut seen = std::collections::BTreeSet::new();
        for w in REGISTRY {
            let n = w.name();
            assert!(seen.insert(n.as_str()), "{n} twice");
            let back: WorkloadName = n.as_str().parse().unwrap();
            assert_eq!(back.workload().name(), n);
            let json = serde_json::to_string(&n).unwrap();
            assert_eq!(serde_json::from_str::<WorkloadName>(&json).unwrap(), n);
        }
        assert_eq!(
            "counter".parse::<WorkloadName>().unwrap_err(),
            "unknown workload \"counter\" (expected tasks, locks, mixed or register)"
        );
    }

    struct Panics;
    impl RunChecker for Panics {
        fn name(&self) -> &'static str {
            "panics"
        }
        fn check(&self, _: &[Op], _: &Path) -> ExtraResult {
            panic!("index out of bounds")
        }
    }

    /// Proves a checker that panics yields unknown with the reason, not a crashed run.
    #[test]
    fn a_crashing_checker_is_unknown_with_the_reason() {
        let r = check_safe(&Panics, &[], Path::new("d"));
        assert_eq!(r.valid, checkers::Verdict::Unknown);
        assert_eq!(r.summary, "the panics checker crashed: index out of bounds");
    }
}
