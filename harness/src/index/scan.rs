//! Reading a store: every run directory's test.json and results.json (never the history), into
//! one [`RunEntry`] each. A directory that cannot be read, or whose files are missing or
//! damaged, still gets an entry, with its state saying why.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::report::anomaly;
use crate::store::{RESULTS_JSON, TEST_JSON};

/// The marker a running controller writes into its run directory (`pid:starttime`).
pub const RUNNING: &str = "RUNNING";
/// The marker `gauntlet clean` writes into the directory of a run whose controller died.
pub const ABORTED: &str = "ABORTED";

/// What the index knows of a run's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Judged valid.
    Valid,
    /// An anomaly was found.
    Invalid,
    /// The checkers could not decide.
    Unknown,
    /// The controller died (`ABORTED`), or is gone before writing results (`RUNNING`, no
    /// results.json).
    Aborted,
    /// The directory or its files could not be read or parsed.
    Damaged,
}

impl State {
    /// The word shown in the verdict column.
    pub fn word(self) -> &'static str {
        match self {
            State::Valid => "valid",
            State::Invalid => "invalid",
            State::Unknown => "unknown",
            State::Aborted => "aborted/incomplete",
            State::Damaged => "damaged",
        }
    }
}

/// One run of the store, as the index lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEntry {
    /// The run directory relative to the store (`<workload>-<nemesis>/<time>-seed<seed>`).
    pub rel: String,
    /// When it started, `YYYY-MM-DD HH:MM:SS` UTC, from the directory name ("" if unknown).
    pub time: String,
    /// The system under test (test.json `system`).
    pub system: String,
    /// The workload.
    pub workload: String,
    /// The nemesis (`all`, `none`, or kinds joined by `+`).
    pub nemesis: String,
    /// The seed.
    pub seed: Option<u64>,
    /// The outcome.
    pub state: State,
    /// The anomaly classes found, each `checker: class`, sorted, distinct.
    pub classes: Vec<String>,
    /// Ops in the history (results.json `ops`).
    pub ops: Option<u64>,
    /// Wall time of the run in seconds (the harness checker's `run_ms`).
    pub wall_s: Option<f64>,
    /// The command that reruns its seed (test.json `repro`).
    pub repro: String,
    /// Whether report.html exists.
    pub has_report: bool,
    /// What was wrong with the directory, for damaged, aborted or older-format runs.
    pub problems: Vec<String>,
}

/// What scanning a store found.
#[derive(Debug, Default)]
pub struct Scan {
    /// One entry per run directory, newest first.
    pub runs: Vec<RunEntry>,
    /// Directories of the store that could not even be listed, with the reason.
    pub unreadable: Vec<String>,
}

/// Lists every run directory of `store` (`store/<group>/<run>/`). Errors only when `store`
/// itself is not a readable directory.
pub fn scan(store: &Path) -> std::io::Result<Scan> {
    use rayon::prelude::*;
    let mut scan = Scan::default();
    let mut dirs = Vec::new();
    for group in sorted_dirs(store)? {
        match sorted_dirs(&group) {
            Ok(r) => dirs.extend(r),
            Err(e) => scan.unreadable.push(format!("{}: {e}", group.display())),
        }
    }
    // Each run is two small files and a JSON parse: spread over the cores.
    scan.runs = dirs.par_iter().map(|dir| read_run(store, dir)).collect();
    // Newest first; the name starts with the UTC time, so names sort by time.
    scan.runs
        .sort_by(|a, b| b.time.cmp(&a.time).then(b.rel.cmp(&a.rel)));
    Ok(scan)
}

/// The sub-directories of `dir`, by name, without hidden ones and symlinks (`latest`).
fn sorted_dirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let hidden = e.file_name().to_string_lossy().starts_with('.');
        if !hidden && e.file_type()?.is_dir() {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Reads one run directory; never fails (problems go into the entry).
pub fn read_run(store: &Path, dir: &Path) -> RunEntry {
    let rel = dir
        .strip_prefix(store)
        .unwrap_or(dir)
        .to_string_lossy()
        .into_owned();
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut e = RunEntry {
        time: time_of(&name),
        seed: seed_of(&name),
        rel,
        system: String::new(),
        workload: String::new(),
        nemesis: String::new(),
        state: State::Damaged,
        classes: Vec::new(),
        ops: None,
        wall_s: None,
        repro: String::new(),
        has_report: dir.join("report.html").is_file(),
        problems: Vec::new(),
    };
    if let Some((w, n)) = dir
        .parent()
        .and_then(Path::file_name)
        .and_then(|g| g.to_str())
        .and_then(|g| g.split_once('-'))
    {
        (e.workload, e.nemesis) = (w.to_string(), n.to_string());
    }
    match read_json(&dir.join(TEST_JSON)) {
        Ok(Some(test)) => read_test(&test, &mut e),
        Ok(None) => e.problems.push(format!("no {TEST_JSON}")),
        Err(why) => e.problems.push(why),
    }
    let results = read_json(&dir.join(RESULTS_JSON));
    let aborted = dir.join(ABORTED).exists();
    let running = dir.join(RUNNING).exists();
    let no_results = matches!(results, Ok(None));
    match results {
        Ok(Some(r)) => read_results(&r, &mut e),
        Ok(None) if aborted || running => {}
        Ok(None) => e
            .problems
            .push(format!("no {RESULTS_JSON} (a run cut short?)")),
        Err(why) => e.problems.push(why),
    }
    if aborted {
        e.state = State::Aborted;
        e.problems.insert(
            0,
            format!("{ABORTED}: the controller was killed (marked by gauntlet clean)"),
        );
    } else if running && no_results {
        e.state = State::Aborted;
        e.problems.insert(
            0,
            format!(
                "{RUNNING} without {RESULTS_JSON}: the run is still going or its controller died"
            ),
        );
    }
    e
}

/// `Ok(None)` when the file is absent; `Err(reason)` when it cannot be read or parsed.
fn read_json(path: &Path) -> Result<Option<Value>, String> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{name}: cannot read: {e}")),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| format!("{name}: not JSON ({e}; half-written?)"))
}

fn read_test(test: &Value, e: &mut RunEntry) {
    let plan = &test["config"]["plan"];
    if let Some(s) = test["system"].as_str() {
        e.system = s.to_string();
    }
    if let Some(w) = plan["workload"].as_str() {
        e.workload = w.to_string();
    }
    if let Some(kinds) = plan["nemesis"].as_array() {
        let kinds: Vec<&str> = kinds.iter().filter_map(Value::as_str).collect();
        e.nemesis = match kinds.len() {
            0 => "none".to_string(),
            3 => "all".to_string(),
            _ => kinds.join("+"),
        };
    }
    if let Some(seed) = plan["seed"].as_u64().or_else(|| test["seed"].as_u64()) {
        e.seed = Some(seed);
    }
    if let Some(r) = test["repro"].as_str() {
        e.repro = r.to_string();
    }
}

fn read_results(r: &Value, e: &mut RunEntry) {
    e.state = match r.get("valid") {
        Some(Value::Bool(true)) => State::Valid,
        Some(Value::Bool(false)) => State::Invalid,
        Some(Value::String(s)) if s == "unknown" => State::Unknown,
        other => {
            e.problems.push(format!(
                "{RESULTS_JSON}: no verdict (`valid` is {}; an older or foreign format)",
                other
                    .map(Value::to_string)
                    .unwrap_or_else(|| "missing".into())
            ));
            State::Damaged
        }
    };
    e.ops = r["ops"].as_u64();
    if e.ops.is_none() && e.state != State::Damaged {
        e.problems
            .push(format!("{RESULTS_JSON}: no `ops` count (an older format)"));
    }
    e.wall_s = r["extra"]["harness"]["detail"]["run_ms"]
        .as_u64()
        .map(|ms| ms as f64 / 1000.0);
    let mut classes = std::collections::BTreeSet::new();
    for c in anomaly::checkers(r) {
        let name = c.name.rsplit('.').next().unwrap_or(&c.name).to_string();
        let mut found = false;
        for a in c.anomalies.iter().filter(|a| !a.informational) {
            classes.insert(format!("{name}: {}", a.class));
            found = true;
        }
        if !found && c.valid == "false" {
            classes.insert(format!("{name}: invalid"));
        }
    }
    e.classes = classes.into_iter().collect();
}

/// `20261205T083322.123Z-seed7` -> `2026-12-05 08:33:22`; "" when the name has no stamp.
pub fn time_of(name: &str) -> String {
    let b = name.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if b.len() >= 15 && digits(0..8) && b[8] == b'T' && digits(9..15) {
        format!(
            "{}-{}-{} {}:{}:{}",
            &name[0..4],
            &name[4..6],
            &name[6..8],
            &name[9..11],
            &name[11..13],
            &name[13..15]
        )
    } else {
        String::new()
    }
}

/// The seed in a run directory's name (`…-seed42`, `…-seed42-2`).
fn seed_of(name: &str) -> Option<u64> {
    let (_, rest) = name.rsplit_once("-seed")?;
    rest.split('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_seeds_come_from_the_directory_name() {
        assert_eq!(time_of("20261205T083322.123Z-seed7"), "2026-12-05 08:33:22");
        assert_eq!(time_of("junk"), "");
        assert_eq!(seed_of("20261205T083322.123Z-seed7"), Some(7));
        assert_eq!(seed_of("20261205T083322.123Z-seed7-2"), Some(7));
        assert_eq!(seed_of("x"), None);
    }

    #[test]
    fn damaged_aborted_and_old_runs_are_entries_with_reasons() {
        let store = tempfile::tempdir().unwrap();
        let g = store.path().join("mixed-all");
        let mk = |name: &str, files: &[(&str, &str)]| {
            let d = g.join(name);
            std::fs::create_dir_all(&d).unwrap();
            for (f, text) in files {
                std::fs::write(d.join(f), text).unwrap();
            }
        };
        mk(
            "20260101T000000.000Z-seed1",
            &[
                ("test.json", "{\"config\":"),
                ("results.json", "{\"valid\":true,\"ops\":3}"),
            ],
        );
        mk("20260101T000001.000Z-seed2", &[("RUNNING", "123:456")]);
        mk(
            "20260101T000002.000Z-seed3",
            &[("ABORTED", ""), ("results.json", "{\"valid\":true}")],
        );
        mk(
            "20260101T000003.000Z-seed4",
            &[("results.json", "{\"verdict\":\"ok\"}")],
        );
        mk("20260101T000004.000Z-seed5", &[("results.json", "{\"valid\":false,\"ops\":9,\"locks\":{\"valid\":false,\"split_locks\":[{\"first\":{\"acquire_index\":1}}]},\"tasks\":{\"valid\":true,\"recovered\":[{\"task\":\"t\"}]}}")]);
        std::fs::create_dir_all(g.join("20260101T000005.000Z-seed6/test.json")).unwrap();
        let s = scan(store.path()).unwrap();
        let by_seed = |n: u64| s.runs.iter().find(|r| r.seed == Some(n)).unwrap();
        assert_eq!(s.runs.len(), 6);
        assert_eq!(s.runs[0].seed, Some(6), "newest first");
        assert!(by_seed(1).problems[0].contains("test.json: not JSON"));
        assert_eq!(by_seed(1).state, State::Valid);
        assert_eq!(by_seed(2).state, State::Aborted);
        assert_eq!(by_seed(3).state, State::Aborted);
        assert_eq!(by_seed(4).state, State::Damaged);
        assert!(by_seed(4)
            .problems
            .iter()
            .any(|p| p.contains("older or foreign format")));
        assert_eq!(by_seed(5).state, State::Invalid);
        assert_eq!(
            by_seed(5).classes,
            ["locks: split_locks"],
            "recovered tasks are notes"
        );
        assert!(by_seed(6)
            .problems
            .iter()
            .any(|p| p.contains("test.json: cannot read")));
        assert_eq!(
            (by_seed(5).workload.as_str(), by_seed(5).nemesis.as_str()),
            ("mixed", "all")
        );
    }
}
