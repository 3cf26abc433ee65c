//! The mixed workload, built from the others: a [`Composite`] of tasks and locks. Worker `w`
//! plans and runs the ops of part `w % 2` (even workers submit tasks, odd ones cycle locks),
//! so lock holds do not eat the task rate and every node serves both kinds.

use std::sync::Arc;

use rand_chacha::ChaCha8Rng;

use super::{
    locks, tasks, Call, Cursor, FinalCtx, FinalReport, OpRunner, Session, Workload, WorkloadName,
};
use crate::cluster::{BoxFuture, Offers};
use crate::recorder::Completion;

/// Its registry name.
pub const NAME: WorkloadName = WorkloadName("mixed");

/// The mixed workload: tasks on even workers, locks on odd ones.
pub static MIXED: Composite = Composite {
    name: NAME,
    parts: &[&tasks::Tasks, &locks::Locks],
};

/// A workload made of others: worker `w` runs part `w % parts.len()`; the final phase is the
/// first part's; the checkers are all the parts'.
pub struct Composite {
    /// Its registry name.
    pub name: WorkloadName,
    /// Its parts, in worker order.
    pub parts: &'static [&'static dyn Workload],
}

impl std::fmt::Debug for Composite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Composite")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Workload for Composite {
    fn name(&self) -> WorkloadName {
        self.name
    }

    fn fs(&self) -> Vec<&'static str> {
        self.parts.iter().flat_map(|p| p.fs()).collect()
    }

    fn needs(&self) -> Vec<WorkloadName> {
        self.parts.iter().flat_map(|p| p.needs()).collect()
    }

    fn plan_next(&self, cur: &mut Cursor<'_>, rng: &mut ChaCha8Rng) {
        self.parts[cur.worker % self.parts.len()].plan_next(cur, rng);
    }

    fn runner(&self, offers: &Offers) -> Option<Arc<dyn OpRunner>> {
        let parts = self
            .parts
            .iter()
            .map(|p| Some((p.fs(), p.runner(offers)?)))
            .collect::<Option<Vec<_>>>()?;
        Some(Arc::new(Runner(Arc::new(parts))))
    }

    fn final_phase<'a>(&'a self, f: FinalCtx<'a>) -> BoxFuture<'a, FinalReport> {
        self.parts[0].final_phase(f)
    }

    fn recovers_tasks(&self) -> bool {
        self.parts[0].recovers_tasks()
    }

    fn checkers(&self) -> Vec<&'static dyn super::RunChecker> {
        self.parts.iter().flat_map(|p| p.checkers()).collect()
    }
}

type Parts = Arc<Vec<(Vec<&'static str>, Arc<dyn OpRunner>)>>;

struct Runner(Parts);

impl OpRunner for Runner {
    fn session(&self) -> Box<dyn Session> {
        Box::new(CompositeSession {
            parts: self.0.clone(),
            sessions: self.0.iter().map(|(_, r)| r.session()).collect(),
        })
    }
}

/// A process's session of each part; an op goes to the part whose `f`s it is of.
struct CompositeSession {
    parts: Parts,
    sessions: Vec<Box<dyn Session>>,
}

impl Session for CompositeSession {
    fn run<'a>(&'a mut self, call: Call<'a>) -> BoxFuture<'a, Option<Completion>> {
        let f = call.op.f();
        match self.parts.iter().position(|(fs, _)| fs.contains(&f)) {
            Some(i) => self.sessions[i].run(call),
            None => Box::pin(async { None }),
        }
    }
}
