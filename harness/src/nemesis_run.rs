//! The nemesis of a run: applies the planned faults on time, on its own thread (the
//! sandbox blocks), and records each one in the history at the instant the sandbox verified
//! it took effect — `start-partition`/`kill`/`pause` when applied, `stop-partition`/
//! `restart`/`resume` when healed. A fault that could not be applied is reported, and
//! makes the run unknown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::cluster::Cluster;
use crate::plan::PlannedFault;
use crate::recorder::Recorder;

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

fn fault_value(f: &PlannedFault) -> Value {
    serde_json::to_value(&f.fault).unwrap_or(Value::Null)
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
    for (i, pf) in faults.iter().enumerate() {
        let at = start + Duration::from_nanos(pf.at_ns);
        if !sleep_until(at, stop) {
            break;
        }
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
        rec.nemesis(
            pf.fault.start_event(),
            fault_value(pf),
            guard.effective_at(),
        );
        report.applied.push(pf.name.clone());
        tracing::info!("nemesis: {} {}", pf.fault.start_event(), pf.fault);
        let heal_at = (start + Duration::from_nanos(pf.heal_at_ns)).min(deadline);
        sleep_until(heal_at, stop);
        match guard.heal() {
            Ok(at) => rec.nemesis(pf.fault.heal_event(), fault_value(pf), at),
            Err(e) => {
                tracing::error!("faults[{i}] {}: heal failed: {e}", pf.name);
                report
                    .errors
                    .push(format!("faults[{i}] ({}): heal failed: {e}", pf.name));
            }
        }
    }
    report
}
