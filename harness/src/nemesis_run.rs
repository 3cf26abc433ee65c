//! The nemesis of a run: applies the planned faults on time, on its own thread (the
//! sandbox blocks), and records each one in the history at the instant the sandbox verified
//! it took effect — `start-partition`/`kill`/`pause`/`start-loss`/`start-slow`/`clock-bump`/
//! `start-clock-strobe`/`start-clock-drift` when applied, `stop-partition`/`restart`/`resume`/
//! `stop-loss`/`stop-slow`/`clock-reset`/`stop-clock-strobe`/`stop-clock-drift` when healed.
//! A fault that could not be applied or healed is reported, and makes the run unknown.
//!
//! Each op's value is the fault as planned plus what verification observed (`observed`: the
//! measured loss per link, the measured rate per node, the clock offset a process under the
//! node's preload saw) and, for clock faults, `node_clock`: the offset the node itself
//! reported (`GET /time`), per node.
//!
//! Faults may overlap (`--overlap`). The order is then defined: events run in time order;
//! at one instant heals go before applies, and heals due together are done last-applied
//! first; a fault still in force when the run stops is healed the same way (last applied
//! first). Every heal is the nemesis's verified heal.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::cluster::Cluster;
use crate::faults::Fault;
use crate::plan::PlannedFault;
use crate::recorder::Recorder;
use nemesis::FaultGuard;

/// What the nemesis did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NemesisReport {
    /// Faults in the plan.
    pub planned: usize,
    /// Faults whose time came before the run stopped (all of them unless interrupted).
    pub due: usize,
    /// Faults applied and verified, by label (`kill`, `majorities-ring`, ...).
    pub applied: Vec<String>,
    /// Faults that could not be applied or healed, with why.
    pub errors: Vec<String>,
}

/// Sleeps until `at` in short steps; false when `stop` was raised first.
fn sleep_until(at: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= at {
            return true;
        }
        std::thread::sleep((at - now).min(Duration::from_millis(20)));
    }
}

/// One step of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Step {
    /// Heal fault `i` (sorted before applies at one instant).
    Heal(std::cmp::Reverse<usize>),
    /// Apply fault `i`.
    Apply(usize),
}

/// The schedule: (ns since start, step), in the order they run (module docs).
pub(crate) fn schedule(faults: &[PlannedFault]) -> Vec<(u64, Step)> {
    let mut ev: Vec<(u64, Step)> = faults
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            [
                (f.at_ns, Step::Apply(i)),
                (f.heal_at_ns, Step::Heal(std::cmp::Reverse(i))),
            ]
        })
        .collect();
    ev.sort();
    ev
}

fn is_clock(f: &Fault) -> bool {
    matches!(
        f,
        Fault::ClockBump { .. } | Fault::ClockStrobe { .. } | Fault::ClockDrift { .. }
    )
}

/// The clock offset each node of a clock fault reports itself, or why it could not.
fn node_clocks(cluster: &dyn Cluster, fault: &Fault) -> Value {
    let rt = tokio::runtime::Handle::try_current();
    let mut out = Vec::new();
    for n in fault.nodes() {
        let r = match &rt {
            Ok(h) => h.block_on(cluster.clock_offset(&n)),
            Err(e) => Err(format!("no runtime to ask with: {e}")),
        };
        out.push(match r {
            Ok(ms) => json!({"node": n, "offset_ms": (ms * 10.0).round() / 10.0}),
            Err(e) => json!({"node": n, "error": e}),
        });
    }
    Value::Array(out)
}

/// The history value of a fault's op: the fault, what verification observed, and for a
/// clock fault the nodes' own clocks.
fn op_value(cluster: &dyn Cluster, pf: &PlannedFault, guard: Option<&FaultGuard>) -> Value {
    let mut v = serde_json::to_value(&pf.fault).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        if let Some(g) = guard.filter(|g| !g.observed().is_empty()) {
            m.insert(
                "observed".into(),
                serde_json::to_value(g.observed()).unwrap_or(Value::Null),
            );
        }
        if is_clock(&pf.fault) {
            m.insert("node_clock".into(), node_clocks(cluster, &pf.fault));
        }
    }
    v
}

/// Runs the fault plan until `deadline` or `stop`; every applied fault is healed before
/// this returns (a heal that fails is reported; the run's final heal-all follows anyway).
pub fn run(
    cluster: &dyn Cluster,
    faults: &[PlannedFault],
    rec: &Arc<Recorder>,
    deadline: Instant,
    stop: &AtomicBool,
) -> NemesisReport {
    let start = rec.start();
    let mut report = NemesisReport {
        planned: faults.len(),
        ..Default::default()
    };
    // Faults in force, by plan index, with the order they were applied in.
    let mut active: BTreeMap<usize, (u64, FaultGuard)> = BTreeMap::new();
    let mut applied_seq = 0u64;
    let heal = |i: usize, guard: FaultGuard, report: &mut NemesisReport| {
        let pf = &faults[i];
        match guard.heal() {
            Ok(at) => {
                let v = op_value(cluster, pf, None);
                rec.nemesis(pf.fault.heal_event(), v, at);
            }
            Err(e) => {
                tracing::error!("faults[{i}] {}: heal failed: {e}", pf.name);
                report
                    .errors
                    .push(format!("faults[{i}] ({}): heal failed: {e}", pf.name));
            }
        }
    };
    for (ns, step) in schedule(faults) {
        let at = (start + Duration::from_nanos(ns)).min(deadline.max(start));
        let in_time = match step {
            // A heal is never later than the end of the main phase.
            Step::Heal(_) => sleep_until(at, stop),
            Step::Apply(_) => sleep_until(start + Duration::from_nanos(ns), stop),
        };
        if !in_time {
            break;
        }
        match step {
            Step::Heal(std::cmp::Reverse(i)) => {
                if let Some((_, guard)) = active.remove(&i) {
                    heal(i, guard, &mut report);
                }
            }
            Step::Apply(i) => {
                let pf = &faults[i];
                report.due += 1;
                if Instant::now() >= deadline {
                    report.errors.push(format!(
                        "faults[{i}] ({}): its time came after the main phase ended",
                        pf.name
                    ));
                    continue;
                }
                let guard = match cluster.apply(&pf.fault) {
                    Ok(g) => g,
                    Err(e) => {
                        tracing::error!("faults[{i}] {}: not applied: {e:#}", pf.name);
                        report
                            .errors
                            .push(format!("faults[{i}] ({}): not applied: {e:#}", pf.name));
                        continue;
                    }
                };
                let v = op_value(cluster, pf, Some(&guard));
                rec.nemesis(pf.fault.start_event(), v, guard.effective_at());
                report.applied.push(pf.name.clone());
                tracing::info!("nemesis: {} {}", pf.fault.start_event(), pf.fault);
                applied_seq += 1;
                active.insert(i, (applied_seq, guard));
            }
        }
    }
    // Interrupted: heal what is still in force, last applied first.
    let mut rest: Vec<(u64, usize, FaultGuard)> = std::mem::take(&mut active)
        .into_iter()
        .map(|(i, (s, g))| (s, i, g))
        .collect();
    rest.sort_by_key(|(s, _, _)| std::cmp::Reverse(*s));
    for (_, i, guard) in rest {
        heal(i, guard, &mut report);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pf(at: u64, heal: u64) -> PlannedFault {
        PlannedFault {
            at_ns: at,
            heal_at_ns: heal,
            name: "kill".into(),
            fault: Fault::Kill {
                nodes: vec!["n1".into()],
            },
        }
    }

    #[test]
    fn heals_go_first_and_unwind_last_applied_first() {
        // Proves the defined order: at one instant heals precede applies (back-to-back
        // faults never overlap), and faults healed together are healed last-applied first.
        let s = schedule(&[pf(10, 50), pf(20, 50), pf(30, 40), pf(40, 60)]);
        let r = std::cmp::Reverse;
        assert_eq!(
            s,
            vec![
                (10, Step::Apply(0)),
                (20, Step::Apply(1)),
                (30, Step::Apply(2)),
                (40, Step::Heal(r(2))),
                (40, Step::Apply(3)),
                (50, Step::Heal(r(1))),
                (50, Step::Heal(r(0))),
                (60, Step::Heal(r(3))),
            ]
        );
    }
}
