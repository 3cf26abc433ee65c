//! The regression corpus of `gauntlet torture --corpus DIR` (docs/shrink.md has the layout):
//! every saved plan is replayed before the seeds, each its own JUnit test case
//! (`corpus NAME`), and with `--corpus-add` the shrunk plan of each invalid seed is saved
//! into DIR, so that the next run replays it first.
//!
//! ```text
//! DIR/<name>/plan.json   a plan `gauntlet run --plan` runs (a shrunk one, usually)
//! DIR/<name>/case.json   where it came from: classes, source run, tries that reproduced
//! ```
//!
//! A replay runs under the torture run's own execution flags (node binary, node args, net):
//! the corpus asks whether *today's* system still fails the plan. Entries are sharded like
//! seeds (entry i of the sorted list to shard i mod N).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::seeds::Shard;
use super::summary::RunRecord;
use crate::exit::bad_input;
use crate::plan::Plan;

/// The plan file of a corpus entry.
pub const PLAN_FILE: &str = "plan.json";
/// The description of a corpus entry.
pub const CASE_FILE: &str = "case.json";

/// What `case.json` says of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// The anomaly classes the plan showed when it was saved.
    pub classes: Vec<String>,
    /// The run it was shrunk from.
    pub from_run: String,
    /// The seed of that run.
    pub seed: u64,
    /// The node args that run had (a planted bug, say).
    #[serde(default)]
    pub node_args: Vec<String>,
    /// How often the saved plan reproduced when it was saved: K of N.
    pub reproduced: [u32; 2],
    /// Whether the shrink proved it 1-minimal.
    pub minimal: bool,
    /// When it was added, UTC RFC 3339.
    pub added: String,
}

/// One entry: its name (directory) and plan.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The directory name.
    pub name: String,
    /// `DIR/<name>/plan.json`.
    pub plan_file: PathBuf,
    /// The plan, validated.
    pub plan: Plan,
}

/// Every entry of `dir`, sorted by name; a missing `dir` is an empty corpus (the first
/// `--corpus-add` creates it), an entry without a valid plan.json is bad input naming it.
pub fn load(dir: &Path) -> anyhow::Result<Vec<Entry>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(bad_input(format!("--corpus {}: {e}", dir.display()))),
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !e.path().is_dir() {
            continue;
        }
        let plan_file = e.path().join(PLAN_FILE);
        let plan = Plan::load(&plan_file)
            .map_err(|err| bad_input(format!("--corpus entry {name}: {err:#}")))?;
        out.push(Entry {
            name,
            plan_file,
            plan,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The entries this shard replays.
pub fn for_shard(entries: Vec<Entry>, shard: Shard) -> Vec<Entry> {
    entries
        .into_iter()
        .enumerate()
        .filter(|(i, _)| shard.takes(*i as u64))
        .map(|(_, e)| e)
        .collect()
}

/// Replays one entry with `base` (the torture run's resolved configuration) and records it
/// as the test case `corpus NAME`; true when a signal cut it short.
pub fn replay(entry: &Entry, base: &crate::config::RunConfig) -> (RunRecord, bool) {
    let mut cfg = base.clone();
    cfg.plan = entry.plan.options.clone();
    cfg.plan_file = Some(entry.plan_file.clone());
    let t0 = Instant::now();
    let r = super::run_config(&cfg);
    let took: Duration = t0.elapsed();
    let record = RunRecord {
        seed: entry.plan.options.seed,
        case: Some(entry.name.clone()),
        verdict: r.verdict,
        seconds: took.as_secs_f64(),
        kept: r.run_dir.as_ref().is_some_and(|d| d.exists()),
        run_dir: r.run_dir.map(|d| d.display().to_string()),
        repro: r.repro,
        anomalies: r.anomalies,
        error: r.error,
    };
    (record, r.interrupted)
}

/// A directory name for a new entry: `<workload>-seed<seed>-<first class>`, made unique in
/// `dir` with `-2`, `-3`, ...
pub fn entry_name(dir: &Path, plan: &Plan, classes: &[String]) -> String {
    let class = classes
        .first()
        .map(|c| c.rsplit(": ").next().unwrap_or(c).to_string())
        .unwrap_or_else(|| "failure".into());
    let base: String = format!(
        "{}-seed{}-{class}",
        plan.options.workload, plan.options.seed
    )
    .chars()
    .map(|c| {
        if c.is_ascii_alphanumeric() || c == '-' {
            c
        } else {
            '-'
        }
    })
    .collect();
    let mut name = base.clone();
    let mut i = 2;
    while dir.join(&name).exists() {
        name = format!("{base}-{i}");
        i += 1;
    }
    name
}

/// Saves a new entry atomically: written into a hidden directory, then renamed into place.
pub fn add(dir: &Path, plan: &Plan, case: &Case) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("--corpus {}: cannot create: {e}", dir.display()))?;
    let name = entry_name(dir, plan, &case.classes);
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    std::fs::create_dir_all(&tmp)
        .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", tmp.display()))?;
    let written = crate::store::write_atomic(&tmp.join(PLAN_FILE), plan.to_json().as_bytes())
        .and_then(|()| crate::store::write_json(&tmp.join(CASE_FILE), case))
        .and_then(|()| {
            std::fs::rename(&tmp, dir.join(&name))
                .map_err(|e| anyhow::anyhow!("{}: cannot rename into place: {e}", tmp.display()))
        });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    Ok(dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seed: u64) -> Plan {
        let mut o = crate::plan::tests_support::opts(seed);
        o.time_limit_ms = 2000;
        crate::plan::generate(&o)
    }

    fn case() -> Case {
        Case {
            classes: vec!["locks: split-lock".into()],
            from_run: "store/x".into(),
            seed: 3,
            node_args: vec![],
            reproduced: [2, 3],
            minimal: true,
            added: "2026-01-01T00:00:00Z".into(),
        }
    }

    /// Proves entries round-trip through the layout, get unique names, load sorted, and a
    /// damaged entry is bad input naming it.
    #[test]
    fn add_load_and_shard() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("corpus");
        assert!(load(&root).unwrap().is_empty(), "a missing corpus is empty");
        let a = add(&root, &plan(3), &case()).unwrap();
        let b = add(&root, &plan(3), &case()).unwrap();
        add(&root, &plan(1), &case()).unwrap();
        assert!(a.ends_with("mixed-seed3-split-lock"), "{}", a.display());
        assert!(b.ends_with("mixed-seed3-split-lock-2"), "{}", b.display());
        let got = load(&root).unwrap();
        let names: Vec<&str> = got.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "mixed-seed1-split-lock",
                "mixed-seed3-split-lock",
                "mixed-seed3-split-lock-2"
            ]
        );
        assert_eq!(got[1].plan, plan(3));
        let back: Case =
            serde_json::from_str(&std::fs::read_to_string(a.join(CASE_FILE)).unwrap()).unwrap();
        assert_eq!(back, case());
        let s1 = for_shard(got.clone(), Shard { index: 1, count: 2 });
        let s2 = for_shard(got, Shard { index: 2, count: 2 });
        assert_eq!((s1.len(), s2.len()), (2, 1));
        std::fs::write(b.join(PLAN_FILE), "{").unwrap();
        let e = load(&root).unwrap_err();
        assert_eq!(crate::exit::exit_for_error(&e), crate::exit::Exit::BadInput);
        assert!(
            format!("{e:#}").contains("mixed-seed3-split-lock-2"),
            "{e:#}"
        );
    }
}
