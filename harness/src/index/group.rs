//! Failures grouped by signature: the set of anomaly classes of a run, each with the checker
//! that found it (`locks: split_locks + tasks: lost`). Two runs with one signature most likely
//! hit the same bug, so the on-call engineer reads one group instead of many runs.

use std::collections::BTreeMap;

use super::scan::{RunEntry, State};

/// The failing runs of one signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The anomaly classes joined by ` + `, or `unknown` for undecided runs.
    pub signature: String,
    /// Runs with this signature.
    pub count: usize,
    /// Time of the oldest such run (`YYYY-MM-DD HH:MM:SS`, "" when unknown).
    pub first_seen: String,
    /// Time of the newest.
    pub last_seen: String,
    /// The distinct rerun commands of its runs, newest first.
    pub reruns: Vec<String>,
    /// The run directories (relative to the store), newest first.
    pub runs: Vec<String>,
}

/// The signature of a failing run; None for runs that did not fail (valid, aborted, damaged).
pub fn signature(run: &RunEntry) -> Option<String> {
    match run.state {
        State::Invalid if run.classes.is_empty() => Some("invalid (no anomaly listed)".into()),
        State::Invalid => Some(run.classes.join(" + ")),
        State::Unknown => Some("unknown".into()),
        _ => None,
    }
}

/// Groups the failing runs by signature, the largest group first (ties: the most recent).
pub fn groups(runs: &[RunEntry]) -> Vec<Group> {
    let mut by_sig: BTreeMap<String, Group> = BTreeMap::new();
    for r in runs {
        let Some(sig) = signature(r) else { continue };
        let g = by_sig.entry(sig.clone()).or_insert_with(|| Group {
            signature: sig,
            count: 0,
            first_seen: r.time.clone(),
            last_seen: r.time.clone(),
            reruns: Vec::new(),
            runs: Vec::new(),
        });
        g.count += 1;
        if !r.time.is_empty() {
            if g.first_seen.is_empty() || r.time < g.first_seen {
                g.first_seen = r.time.clone();
            }
            if r.time > g.last_seen {
                g.last_seen = r.time.clone();
            }
        }
        if !r.repro.is_empty() && !g.reruns.contains(&r.repro) {
            g.reruns.push(r.repro.clone());
        }
        g.runs.push(r.rel.clone());
    }
    let mut out: Vec<Group> = by_sig.into_values().collect();
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(b.last_seen.cmp(&a.last_seen))
            .then(a.signature.cmp(&b.signature))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64, time: &str, state: State, classes: &[&str]) -> RunEntry {
        RunEntry {
            rel: format!("mixed-all/{seed}"),
            time: time.into(),
            system: "gauntlet-node".into(),
            workload: "mixed".into(),
            nemesis: "all".into(),
            seed: Some(seed),
            state,
            classes: classes.iter().map(|c| c.to_string()).collect(),
            ops: Some(10),
            wall_s: Some(1.0),
            repro: format!("gauntlet run --seed {seed}"),
            has_report: true,
            problems: Vec::new(),
        }
    }

    #[test]
    fn same_classes_make_one_group_with_first_and_last_seen() {
        let runs = [
            run(
                1,
                "2026-01-02 00:00:00",
                State::Invalid,
                &["locks: split_locks"],
            ),
            run(
                2,
                "2026-01-01 00:00:00",
                State::Invalid,
                &["locks: split_locks"],
            ),
            run(
                3,
                "2026-01-03 00:00:00",
                State::Invalid,
                &["locks: split_locks", "tasks: lost"],
            ),
            run(4, "2026-01-04 00:00:00", State::Valid, &[]),
            run(5, "2026-01-05 00:00:00", State::Unknown, &[]),
            run(6, "2026-01-06 00:00:00", State::Aborted, &[]),
        ];
        let g = groups(&runs);
        assert_eq!(g.len(), 3, "{g:?}");
        assert_eq!(g[0].signature, "locks: split_locks");
        assert_eq!(g[0].count, 2);
        assert_eq!(g[0].first_seen, "2026-01-01 00:00:00");
        assert_eq!(g[0].last_seen, "2026-01-02 00:00:00");
        assert_eq!(
            g[0].reruns,
            ["gauntlet run --seed 1", "gauntlet run --seed 2"]
        );
        assert!(g
            .iter()
            .any(|x| x.signature == "locks: split_locks + tasks: lost"));
        assert!(g.iter().any(|x| x.signature == "unknown"));
    }
}
