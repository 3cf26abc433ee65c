//! The outcome of a torture run (or of several merged shards): one record per seed, counts,
//! the exit code, a text table and `summary.json`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::exit::{bad_input, Exit};

/// What the table says when there was no run: the exit is then 2, never 0.
pub const NOTHING_CHECKED: &str = "nothing was checked: 0 runs (exit 2, unknown)";

/// The verdict of one seed's run, as summary.json spells it: the checkers' verdict
/// ([`checkers::Verdict`]), or `error` when the seed could not be run at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No anomaly.
    Valid,
    /// An anomaly was found.
    Invalid,
    /// The checkers could not decide, or the run could not finish.
    Unknown,
    /// The harness failed to run this seed at all (counts as unknown for the exit code).
    Error,
}

impl From<checkers::Verdict> for Verdict {
    fn from(v: checkers::Verdict) -> Self {
        match v {
            checkers::Verdict::Valid => Verdict::Valid,
            checkers::Verdict::Invalid => Verdict::Invalid,
            checkers::Verdict::Unknown => Verdict::Unknown,
        }
    }
}

impl Verdict {
    /// The checkers' verdict, when the seed ran (`None` for [`Verdict::Error`]).
    pub fn checked(self) -> Option<checkers::Verdict> {
        match self {
            Verdict::Valid => Some(checkers::Verdict::Valid),
            Verdict::Invalid => Some(checkers::Verdict::Invalid),
            Verdict::Unknown => Some(checkers::Verdict::Unknown),
            Verdict::Error => None,
        }
    }

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
            Verdict::Error => "error",
        }
    }
}

/// One seed's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The seed.
    pub seed: u64,
    /// For a replay of a corpus entry (`--corpus`): the entry's name; its test case is
    /// `corpus NAME` instead of `seed N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// Its verdict.
    pub verdict: Verdict,
    /// Wall time of the run, seconds.
    pub seconds: f64,
    /// The run directory (kept or pruned).
    #[serde(default)]
    pub run_dir: Option<String>,
    /// Whether the run directory was kept.
    #[serde(default)]
    pub kept: bool,
    /// The command that reruns exactly this seed.
    #[serde(default)]
    pub repro: String,
    /// One line per anomaly: `checker: class (ops …)`.
    #[serde(default)]
    pub anomalies: Vec<String>,
    /// Why the harness could not run it (for `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A torture run's summary (`summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Names the suite in JUnit, e.g. `mixed-all`.
    pub name: String,
    /// The shards this summary covers, e.g. `["1/2", "2/2"]`; empty when unsharded.
    #[serde(default)]
    pub shards: Vec<String>,
    /// UTC start, RFC 3339.
    #[serde(default)]
    pub started: String,
    /// Total wall time, seconds.
    #[serde(default)]
    pub seconds: f64,
    /// Per seed, ordered by seed.
    pub runs: Vec<RunRecord>,
}

/// Counts per verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Valid runs.
    pub valid: usize,
    /// Invalid runs.
    pub invalid: usize,
    /// Unknown runs.
    pub unknown: usize,
    /// Runs the harness failed to run.
    pub error: usize,
}

impl RunRecord {
    /// What the record is called in the table and in JUnit: `seed N` or `corpus NAME`.
    pub fn label(&self) -> String {
        match &self.case {
            Some(name) => format!("corpus {name}"),
            None => format!("seed {}", self.seed),
        }
    }
}

impl Summary {
    /// Counts per verdict.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for r in &self.runs {
            match r.verdict {
                Verdict::Valid => c.valid += 1,
                Verdict::Invalid => c.invalid += 1,
                Verdict::Unknown => c.unknown += 1,
                Verdict::Error => c.error += 1,
            }
        }
        c
    }

    /// 1 if any run was invalid, else 2 if any was unknown or failed, or if there was no run
    /// at all (nothing was checked: a gate must not pass on it), else 0.
    pub fn exit(&self) -> Exit {
        if self.runs.is_empty() {
            return Exit::Unknown;
        }
        // The one ranking ([`Exit::worse`]); a seed that could not run counts as unknown.
        self.runs.iter().fold(Exit::Valid, |worst, r| {
            let v = r.verdict.checked().unwrap_or(checkers::Verdict::Unknown);
            worst.worse(Exit::of(v))
        })
    }

    /// The human table: one line per seed, then the totals.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:>14}  {:<8} {:>8}  run dir / first anomaly",
            "seed", "verdict", "seconds"
        );
        for r in &self.runs {
            // The table shows the first anomaly's class and ops; the details are in the JSON.
            let detail = r
                .anomalies
                .first()
                .map(|a| match a.find(") ") {
                    Some(end) if r.anomalies.len() > 1 => {
                        format!("{} and {} more", &a[..=end], r.anomalies.len() - 1)
                    }
                    Some(end) => a[..=end].to_string(),
                    None => a.clone(),
                })
                .or_else(|| r.error.clone())
                .unwrap_or_default();
            let dir = if r.kept {
                r.run_dir.clone().unwrap_or_default()
            } else {
                "(pruned)".into()
            };
            let label = match &r.case {
                Some(name) => format!("corpus {name}"),
                None => r.seed.to_string(),
            };
            let _ = writeln!(
                out,
                "{label:>14}  {:<8} {:>8.1}  {dir}",
                r.verdict.name(),
                r.seconds
            );
            if !detail.is_empty() {
                let _ = writeln!(out, "{:>34}{detail}", "");
            }
        }
        let c = self.counts();
        let _ = writeln!(
            out,
            "{} runs: {} valid, {} invalid, {} unknown, {} errors; {:.0} s",
            self.runs.len(),
            c.valid,
            c.invalid,
            c.unknown,
            c.error,
            self.seconds
        );
        if self.runs.is_empty() {
            let _ = writeln!(out, "{NOTHING_CHECKED}");
        }
        for r in self.runs.iter().filter(|r| r.verdict != Verdict::Valid) {
            let _ = writeln!(out, "rerun {}: {}", r.label(), r.repro);
        }
        out
    }

    /// Writes `summary.json`.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self).context("serialize summary")?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("{}: cannot write", path.display()))
    }

    /// Reads a `summary.json`; a malformed one is bad input naming the file.
    pub fn read(path: &Path) -> anyhow::Result<Summary> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| bad_input(format!("{}: not a torture summary: {e}", path.display())))
    }

    /// Joins the summaries of several shards: corpus replays first (by name), then runs
    /// ordered by seed; shards listed, wall time the longest shard's (they run in parallel).
    /// A seed (or corpus entry) present in two inputs is an error: it means the shards
    /// overlap.
    pub fn merge(parts: Vec<Summary>) -> Result<Summary, String> {
        let mut by_seed: BTreeMap<(bool, Option<String>, u64), RunRecord> = BTreeMap::new();
        let mut shards = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut seconds = 0.0f64;
        let mut started: Option<String> = None;
        for p in parts {
            shards.extend(p.shards);
            if !names.contains(&p.name) {
                names.push(p.name);
            }
            seconds = seconds.max(p.seconds);
            if started
                .as_ref()
                .is_none_or(|s| !p.started.is_empty() && p.started < *s)
            {
                started = Some(p.started);
            }
            for r in p.runs {
                let label = r.label();
                // Corpus replays sort before seeds (false < true).
                let key = (r.case.is_none(), r.case.clone(), r.seed);
                if by_seed.insert(key, r).is_some() {
                    return Err(format!(
                        "{label} appears in two inputs: do the shards overlap?"
                    ));
                }
            }
        }
        shards.sort();
        Ok(Summary {
            name: names.join("+"),
            shards,
            started: started.unwrap_or_default(),
            seconds,
            runs: by_seed.into_values().collect(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(seed: u64, verdict: Verdict) -> RunRecord {
        RunRecord {
            seed,
            case: None,
            verdict,
            seconds: 1.5,
            run_dir: Some(format!("store/x/seed{seed}")),
            kept: verdict != Verdict::Valid,
            repro: format!("gauntlet run --seed {seed}"),
            anomalies: if verdict == Verdict::Invalid {
                vec!["locks: split-lock (ops 3 5)".into()]
            } else {
                vec![]
            },
            error: None,
        }
    }

    fn summary(shard: &str, runs: Vec<RunRecord>) -> Summary {
        Summary {
            name: "mixed-all".into(),
            shards: vec![shard.into()],
            started: "2026-01-01T00:00:00Z".into(),
            seconds: 10.0,
            runs,
        }
    }

    #[test]
    fn exit_is_invalid_over_unknown_over_valid() {
        let mut s = summary("1/1", vec![record(1, Verdict::Valid)]);
        assert_eq!(s.exit(), Exit::Valid);
        s.runs.push(record(2, Verdict::Error));
        assert_eq!(s.exit(), Exit::Unknown);
        s.runs.push(record(3, Verdict::Invalid));
        assert_eq!(s.exit(), Exit::Invalid);
        assert_eq!(
            s.counts(),
            Counts {
                valid: 1,
                invalid: 1,
                unknown: 0,
                error: 1
            }
        );
    }

    /// Proves: a summary of zero runs never exits 0, and its table says why.
    #[test]
    fn zero_runs_are_unknown_not_valid() {
        let s = summary("1/1", vec![]);
        assert_eq!(s.exit(), Exit::Unknown);
        assert!(s.table().contains(NOTHING_CHECKED), "{}", s.table());
    }

    #[test]
    fn merge_orders_by_seed_and_rejects_overlap() {
        let a = summary(
            "1/2",
            vec![record(0, Verdict::Valid), record(2, Verdict::Invalid)],
        );
        let b = summary(
            "2/2",
            vec![record(1, Verdict::Unknown), record(3, Verdict::Valid)],
        );
        let m = Summary::merge(vec![b.clone(), a.clone()]).unwrap();
        assert_eq!(
            m.runs.iter().map(|r| r.seed).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert_eq!(m.shards, vec!["1/2".to_string(), "2/2".to_string()]);
        assert_eq!(m.name, "mixed-all");
        assert_eq!(m.exit(), Exit::Invalid);
        let err = Summary::merge(vec![a.clone(), a]).unwrap_err();
        assert!(err.contains("seed 0"), "{err}");
    }

    #[test]
    fn table_names_failures_and_their_repro() {
        let s = summary(
            "1/1",
            vec![record(4, Verdict::Valid), record(9, Verdict::Invalid)],
        );
        let t = s.table();
        assert!(t.contains("2 runs: 1 valid, 1 invalid"), "{t}");
        assert!(t.contains("rerun seed 9: gauntlet run --seed 9"), "{t}");
        assert!(!t.contains("rerun seed 4"), "{t}");
        assert!(t.contains("split-lock"), "{t}");
        let mut long = record(10, Verdict::Invalid);
        long.anomalies = vec![
            "locks: split (ops 1 2) {\"detail\":1}".into(),
            "tasks: lost (ops 3) {}".into(),
        ];
        let t = summary("1/1", vec![long]).table();
        assert!(t.contains("locks: split (ops 1 2) and 1 more"), "{t}");
        assert!(!t.contains("detail"), "details stay in the JSON: {t}");
    }

    #[test]
    fn json_round_trips_and_bad_files_are_named() {
        let dir =
            std::env::temp_dir().join(format!("gauntlet-summary-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = summary("1/1", vec![record(4, Verdict::Invalid)]);
        let p = dir.join("summary.json");
        s.write(&p).unwrap();
        assert_eq!(Summary::read(&p).unwrap(), s);
        std::fs::write(&p, "{").unwrap();
        let e = format!("{:#}", Summary::read(&p).unwrap_err());
        assert!(e.contains("summary.json"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
