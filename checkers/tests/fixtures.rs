//! Every fixture history in tests/fixtures/ checked through the library, against the table
//! tests/fixtures/expected.tsv (verdict, exact counts, or the error variant and its line).
//! The same table drives harness/tests/check_cli.rs through the `gauntlet` binary.

use std::path::{Path, PathBuf};

use checkers::{check_file, CheckOptions, Results, Verdict};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// One row of expected.tsv.
struct Row {
    file: String,
    exactly_once: bool,
    verdict: String,
    details: Vec<String>,
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(dir().join("expected.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 4, "expected.tsv: bad row {l:?}");
            Row {
                file: cols[0].into(),
                exactly_once: cols[1] == "--exactly-once",
                verdict: cols[2].into(),
                details: cols[3]
                    .split_whitespace()
                    .filter(|d| *d != "-")
                    .map(String::from)
                    .collect(),
            }
        })
        .collect()
}

/// Looks up `tasks.lost`, `locks.split_locks`, `warnings` in the results JSON.
fn count(results: &Results, key: &str) -> u64 {
    let v = serde_json::to_value(results).unwrap();
    if key == "warnings" {
        return v["warnings"].as_array().map_or(0, |a| a.len() as u64);
    }
    let (checker, name) = key.split_once('.').unwrap();
    v[checker]["counts"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no count {key} in {v}"))
}

#[test]
fn every_fixture_is_in_the_table_and_vice_versa() {
    // Proves no fixture goes unchecked and no row names a missing file.
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl"))
        .collect();
    files.sort();
    let mut named: Vec<String> = rows().into_iter().map(|r| r.file).collect();
    named.sort();
    named.dedup();
    assert_eq!(files, named);
}

#[test]
fn fixtures_give_their_expected_verdicts() {
    // Proves each anomaly class and each input error is detected as the table says.
    for row in rows() {
        let path = dir().join(&row.file);
        let opts = CheckOptions {
            exactly_once: row.exactly_once,
            ..CheckOptions::default()
        };
        let got = check_file(&path, &opts);
        if row.verdict == "error" {
            let err = got.expect_err(&row.file);
            let (variant, line) = row.details[0].split_once('@').unwrap();
            assert!(
                format!("{err:?}").starts_with(variant),
                "{}: expected {variant}, got {err:?}",
                row.file
            );
            let at = err.location().expect("errors about lines have a location");
            assert_eq!(at.line.to_string(), line, "{}: {err}", row.file);
            assert!(
                err.to_string()
                    .starts_with(&format!("{}:{line}: ", path.display())),
                "{err}"
            );
            continue;
        }
        let results = got.unwrap_or_else(|e| panic!("{}: {e}", row.file));
        let want = match row.verdict.as_str() {
            "true" => Verdict::Valid,
            "false" => Verdict::Invalid,
            _ => Verdict::Unknown,
        };
        assert_eq!(
            results.valid,
            want,
            "{}: {:?}\n{}",
            row.file,
            results.reasons,
            checkers::render_summary(&results)
        );
        for d in &row.details {
            let (key, n) = d.split_once('=').unwrap();
            assert_eq!(count(&results, key).to_string(), n, "{}: {key}", row.file);
        }
    }
}

#[test]
fn anomalies_carry_their_evidence() {
    // Proves the evidence names the ops that prove each anomaly (indexes, times, processes,
    // tokens, task ids), on fixtures whose ops we know.
    let opts = CheckOptions::default();
    let r = check_file(&dir().join("lost.jsonl"), &opts).unwrap();
    let lost = &r.tasks.as_ref().unwrap().lost[0];
    assert_eq!(lost.task, "t2");
    let s = lost.submit.as_ref().unwrap();
    assert_eq!((s.invoke.index, s.completion.unwrap().index), (2, 3));
    assert_eq!(s.invoke.time, 10_000_000);
    assert_eq!(s.invoke.process, histories::Process::Client(0));

    let r = check_file(&dir().join("split-lock.jsonl"), &opts).unwrap();
    let sl = &r.locks.as_ref().unwrap().split_locks[0];
    assert_eq!(sl.lock, "l0");
    assert_eq!((sl.first.token, sl.second.token), (1, 2));
    assert_eq!(
        (sl.first.acquire_ok.index, sl.second.acquire_ok.index),
        (3, 5)
    );
    assert_eq!(sl.first.release_invoke.map(|e| e.index), Some(6));
    assert_eq!(sl.overlap, [300_000_000, 500_000_000]);

    let r = check_file(&dir().join("token-regression.jsonl"), &opts).unwrap();
    let tr = &r.locks.as_ref().unwrap().token_regressions[0];
    assert_eq!((tr.earlier.token, tr.later.token), (5, 4));
    assert_eq!((tr.earlier.ok.index, tr.later.invoke.index), (3, 6));
}
