//! [`render_summary`]: the short human summary `gauntlet check` and `gauntlet run` print.

use std::fmt::Write;

use crate::compose::Results;
use crate::evidence::Secs;
use crate::locks::{Hold, LocksResult};
use crate::tasks::{SubmitOutcome, TaskAnomaly, TasksResult};

/// Examples shown per anomaly kind (all of them are in the JSON).
const EXAMPLES: usize = 3;

/// A few lines: the verdict and why, per-checker counts, and the first anomalies of each kind
/// with the op indexes and times that prove them.
pub fn render_summary(results: &Results) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "verdict: {} ({} ops)", results.valid.word(), results.ops);
    for r in &results.reasons {
        let _ = writeln!(s, "  because {r}");
    }
    for w in &results.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    let fs: Vec<String> = results
        .stats
        .by_f
        .iter()
        .map(|(f, c)| format!("{f} {}/{}/{}", c.ok, c.fail, c.info))
        .collect();
    let _ = writeln!(
        s,
        "stats: {} (ok/fail/info: {})",
        results.stats.valid.word(),
        fs.join(", ")
    );
    if let Some(t) = &results.tasks {
        tasks(&mut s, t);
    }
    if let Some(l) = &results.locks {
        locks(&mut s, l);
    }
    for (name, x) in &results.extra {
        let _ = writeln!(s, "{name}: {} — {}", x.valid.word(), x.summary);
    }
    s
}

fn tasks(s: &mut String, t: &TasksResult) {
    let c = &t.counts;
    let _ = writeln!(
        s,
        "tasks: {} — {} submitted (acked {}, failed {}, unknown {}), final read saw {}: lost {}, phantom {}, unexpected {}, not-done {}, unfinished {}, recovered {}, duplicated {}",
        t.valid.word(), c.submitted, c.acked, c.failed, c.unknown, c.read,
        c.lost, c.phantom, c.unexpected, c.not_done, c.unfinished, c.recovered, c.duplicated
    );
    if let Some(r) = &t.final_read {
        let _ = writeln!(s, "  final read: invoked at {}, ok at {}", r.invoke, r.ok);
    }
    if let Some(n) = &t.no_recovery {
        let _ = writeln!(
            s,
            "  no-recovery: the cluster was not healthy {} ms after the final heal (it promises {} ms; {}): {}",
            n.waited_ms,
            n.liveness_ms,
            n.op,
            n.unready.join("; ")
        );
    }
    for (kind, list, total) in [
        ("lost", &t.lost, c.lost),
        ("phantom", &t.phantom, c.phantom),
        ("unexpected", &t.unexpected, c.unexpected),
        ("not-done", &t.not_done, c.not_done),
        ("unfinished", &t.unfinished, c.unfinished),
    ] {
        for a in list.iter().take(EXAMPLES) {
            let _ = writeln!(s, "  {kind} {}", task_line(a));
        }
        if total > EXAMPLES as u64 {
            let _ = writeln!(
                s,
                "  … {} more {kind} (see --json)",
                total - EXAMPLES as u64
            );
        }
    }
}

fn task_line(a: &TaskAnomaly) -> String {
    let mut line = format!("{:?}:", a.task);
    match &a.submit {
        Some(sub) => {
            let _ = write!(line, " submit invoked at {}", sub.invoke);
            match &sub.completion {
                Some(c) => {
                    let _ = write!(line, ", {} at {}", outcome_word(sub.outcome), c);
                }
                None => line.push_str(", never completed"),
            }
        }
        None => line.push_str(" never submitted"),
    }
    match &a.read {
        Some(r) => {
            let _ = write!(line, "; final read: {} after {} run(s)", r.state, r.runs);
        }
        None => line.push_str("; absent from the final read"),
    }
    line
}

fn outcome_word(o: SubmitOutcome) -> &'static str {
    match o {
        SubmitOutcome::Ok => "ok",
        SubmitOutcome::Fail => "failed",
        SubmitOutcome::Unknown => "unknown (info)",
    }
}

fn locks(s: &mut String, l: &LocksResult) {
    let c = &l.counts;
    let holds = match l.model {
        crate::locks::LockModel::Lease if c.renewed > 0 => {
            format!("certain holds (lease model, {} ok renewals)", c.renewed)
        }
        crate::locks::LockModel::Lease => "certain holds (lease model)".to_string(),
        crate::locks::LockModel::Mutex => "holds (mutex model)".to_string(),
    };
    let _ = writeln!(
        s,
        "locks: {} — {} lock(s), {} acquired (failed {}, unknown {}), {} {holds}: split locks {}, token regressions {}",
        l.valid.word(), c.locks, c.acquired, c.acquire_failed, c.acquire_unknown,
        c.certain_holds, c.split_locks, c.token_regressions
    );
    for sl in l.split_locks.iter().take(EXAMPLES) {
        let _ = writeln!(
            s,
            "  split lock {:?}: {} and {} overlap for {} to {}",
            sl.lock,
            hold_line(&sl.first),
            hold_line(&sl.second),
            Secs(sl.overlap[0]),
            Secs(sl.overlap[1])
        );
    }
    for r in l.token_regressions.iter().take(EXAMPLES) {
        let _ = writeln!(
            s,
            "  token regression {:?}: token {} granted at {} before token {} was asked for at {} (granted at {})",
            r.lock, r.earlier.token, r.earlier.ok, r.later.token, r.later.invoke, r.later.ok
        );
    }
    for (kind, total) in [
        ("split locks", c.split_locks),
        ("token regressions", c.token_regressions),
    ] {
        if total > EXAMPLES as u64 {
            let _ = writeln!(
                s,
                "  … {} more {kind} (see --json)",
                total - EXAMPLES as u64
            );
        }
    }
}

fn hold_line(h: &Hold) -> String {
    format!(
        "process {} (token {}, ok at index {}, held {}–{})",
        h.process,
        h.token,
        h.acquire_ok.index,
        Secs(h.start),
        Secs(h.end)
    )
}
