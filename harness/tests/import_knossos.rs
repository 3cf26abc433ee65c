//! Every Knossos example history (shared/data/knossos, EPL, not copied into this repo) gets
//! its known verdict after `import --from jepsen-edn`, and the imported JSONL passes the
//! history reader's validation.

mod common;

use std::path::{Path, PathBuf};

use checkers::linearizable::{check_ops, render_text, LinOptions, ModelKind};
use checkers::Verdict;
use histories::HistoryReader;
use serde_json::json;

/// `../shared/data/knossos` beside the workspace root, or `$GAUNTLET_KNOSSOS_DIR`.
fn knossos_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("GAUNTLET_KNOSSOS_DIR") {
        return Some(PathBuf::from(dir));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let dir = root.parent()?.join("shared/data/knossos");
    dir.join("expected.tsv").exists().then_some(dir)
}

fn data_or_skip() -> Option<PathBuf> {
    match knossos_dir() {
        Some(d) => Some(d),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("Knossos data missing: expected ../shared/data/knossos beside the workspace root or GAUNTLET_KNOSSOS_DIR")
        }
        None => {
            common::skip("Knossos data not found (../shared/data/knossos or GAUNTLET_KNOSSOS_DIR)");
            None
        }
    }
}

fn model_of(column: &str) -> ModelKind {
    if column.starts_with("cas-register") {
        ModelKind::CasRegister
    } else if column.starts_with("multi-register") {
        ModelKind::MultiRegister
    } else if column.starts_with("mutex") {
        ModelKind::Mutex
    } else {
        panic!("unknown model column {column:?} in expected.tsv")
    }
}

#[test]
fn every_knossos_example_gets_its_known_verdict() {
    let Some(dir) = data_or_skip() else { return };
    let tsv = std::fs::read_to_string(dir.join("expected.tsv")).expect("expected.tsv");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in tsv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (path, expected, model) = (cols[0], cols[1] == "true", model_of(cols[2]));
        let ops = harness::import::read_edn_file(&dir.join(path))
            .unwrap_or_else(|e| panic!("{path}: {e:#}"));
        let opts = LinOptions {
            model,
            init: json!(0),
            ..LinOptions::default()
        };
        let res = check_ops(&ops, &opts).unwrap_or_else(|e| panic!("{path}: {e}"));
        let want = if expected {
            Verdict::Valid
        } else {
            Verdict::Invalid
        };
        // Timing for docs/performance-lin.md (printed, never asserted): the median of 5 checks,
        // next to Porcupine's median on this machine from expected.tsv. Meaningful with --release.
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let t = std::time::Instant::now();
                let _ = check_ops(&ops, &opts);
                t.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let porcupine = cols.get(8).copied().unwrap_or("-");
        println!(
            "{path}: {:?} (expected {want:?}), {} ops, {} steps, {:.6} s (Porcupine here: {porcupine} s)",
            res.valid, res.ops, res.steps, times[2]
        );
        if res.valid != want {
            wrong.push(format!(
                "{path}: got {:?}, expected {want:?}\n{}",
                res.valid,
                render_text(&res)
            ));
        }
        if !expected {
            let text = render_text(&res);
            assert!(
                text.contains("cannot linearize"),
                "{path}: an invalid verdict explains itself:\n{text}"
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 14,
        "expected.tsv lists the 14 examples, read {checked}"
    );
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}

#[test]
fn imported_histories_pass_the_reader() {
    let Some(dir) = data_or_skip() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    for path in [
        "cas-register/bad/cas-failure.edn",
        "mutex/bad/etcd.edn",
        "multi-register/good/multi-register.edn",
    ] {
        let ops = harness::import::read_edn_file(&dir.join(path)).expect("imports");
        let out = tmp.path().join("h.jsonl");
        harness::import::write_jsonl(&ops, std::fs::File::create(&out).expect("create"))
            .expect("write");
        let back: Vec<_> = HistoryReader::open(&out)
            .expect("open")
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(back, ops, "{path}: JSONL round trip");
    }
}
