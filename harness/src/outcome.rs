//! The end of a run: check the history, add the harness's own conditions (no vacuous
//! pass), write results.json and the report, and compose the summary and the exit code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use checkers::{CheckOptions, ExtraResult, Results, Verdict};
use histories::{HistoryReader, Op};
use serde_json::json;

use crate::config::RunConfig;
use crate::exit::Exit;
use crate::nemesis_run::NemesisReport;
use crate::recorder::Counts;
use crate::{store, summary};

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The verdict (checkers merged with the harness's own conditions).
    pub verdict: Verdict,
    /// The exit code for it.
    pub exit: Exit,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The shell command that reruns it.
    pub repro: String,
    /// True when SIGINT/SIGTERM cut the run short.
    pub interrupted: bool,
    /// The full results (also in results.json).
    pub results: Results,
    /// The printed summary.
    pub summary: String,
}

/// What the lifecycle learned, besides the history.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    pub(crate) problems: Vec<String>,
    pub(crate) ready_ms: Option<u64>,
    pub(crate) nemesis: NemesisReport,
    pub(crate) recovery: String,
    pub(crate) final_read: Option<String>,
    pub(crate) main_phase: bool,
    pub(crate) main_phase_ms: Option<u64>,
    pub(crate) setup_ms: Option<u64>,
    /// Ops the recorder wrote to history.jsonl.
    pub(crate) written: u64,
    /// Ops the recorder could not write, and the first write error.
    pub(crate) history_loss: Option<(u64, String)>,
    /// A node exited on its own before the cluster was ready, with a usage error: the run
    /// is the user's error (exit 254), not an unknown.
    pub(crate) bad_usage: Option<String>,
    /// A simulated run's length in virtual ms: results.json then records it as `run_ms`
    /// (a function of the run alone), not the wall time.
    pub(crate) virtual_run_ms: Option<u64>,
}

pub(crate) async fn finish(
    cfg: &RunConfig,
    run_dir: &Path,
    history: &Path,
    notes: Notes,
    counts: BTreeMap<String, Counts>,
    interrupted: bool,
    started: Instant,
) -> RunOutcome {
    let (mut results, ops) = check_history(cfg, history, run_dir).await;
    let run_ms = notes
        .virtual_run_ms
        .unwrap_or_else(|| started.elapsed().as_millis() as u64);
    let facts = Facts::of(cfg, &notes, &counts, &results, interrupted);
    results.add_extra("harness", harness_result(&facts, &notes, &counts, run_ms));
    let mut problems = notes.problems.clone();
    // Results that could not be stored are no evidence: never valid (the summary says why).
    let stored = store::write_json(&run_dir.join(store::RESULTS_JSON), &results);
    let mut verdict = results.valid;
    match stored {
        // The run is finished only once its results are stored: then the marker goes.
        Ok(()) => {
            if let Err(e) = crate::run_marker::release(run_dir) {
                problems.push(format!("run marker: {e:#}"));
            }
        }
        Err(e) => {
            problems.push(format!("results.json could not be written: {e:#}"));
            if verdict == Verdict::Valid {
                verdict = Verdict::Unknown;
            }
        }
    }
    let exit = match (verdict, interrupted) {
        _ if notes.bad_usage.is_some() => Exit::BadInput,
        (Verdict::Invalid, _) => Exit::Invalid,
        (_, true) | (Verdict::Unknown, _) => Exit::Unknown,
        (Verdict::Valid, false) => Exit::Valid,
    };
    // A damaged history (a cut last line) is read again, tolerantly, so the page lists what
    // was skipped.
    let ops = ops.filter(|_| results.warnings.is_empty());
    if let Err(e) = crate::report::render_with(run_dir, ops) {
        problems.push(format!("report.html: {e:#}"));
    }
    let repro = summary::rerun_command(cfg, run_dir);
    let mut s = String::new();
    s.push_str(&summary::ops_table(&counts));
    s.push_str(&summary::faults_line(&notes.nemesis));
    s.push('\n');
    if let Some(ms) = notes.ready_ms {
        s.push_str(&format!(
            "cluster ready after {ms} ms; recovery: {}\n",
            if notes.recovery.is_empty() {
                "skipped"
            } else {
                &notes.recovery
            }
        ));
    }
    s.push_str(&checkers::render_summary(&results));
    for p in &problems {
        s.push_str(&format!("\nproblem: {p}"));
    }
    s.push_str(&format!(
        "\nrun dir: {}\nwall time: {:.1} s\nrerun:   {repro}\nverdict: {}{}",
        run_dir.display(),
        started.elapsed().as_secs_f64(),
        verdict.word(),
        if interrupted { " (interrupted)" } else { "" }
    ));
    RunOutcome {
        verdict,
        exit,
        run_dir: run_dir.to_path_buf(),
        repro,
        interrupted,
        results,
        summary: s,
    }
}

/// The one pass over the history at the end of a run: read once (strictly, as the checkers
/// read), fed to the streaming checkers and to the workload's own checkers; the ops are
/// handed on to the report. A history that cannot be read gives results with the reason
/// (and no ops: the report then reads the file tolerantly itself).
async fn check_history(
    cfg: &RunConfig,
    history: &Path,
    run_dir: &Path,
) -> (Results, Option<Vec<Op>>) {
    let (path, dir) = (history.to_path_buf(), run_dir.to_path_buf());
    let extra = cfg.plan.workload.workload().checkers();
    let lock_model = cfg.lock_model;
    let checked = tokio::task::spawn_blocking(move || {
        let opts = CheckOptions {
            lock_model,
            ..CheckOptions::default()
        };
        let mut reader = HistoryReader::open(&path)?;
        let mut ops = Vec::new();
        for op in reader.by_ref() {
            ops.push(op?);
        }
        let mut checker = checkers::Checker::new(&opts);
        for op in &ops {
            checker.observe(&op.as_ref());
        }
        let mut results = checker.finish(reader.warnings().to_vec());
        for c in extra {
            results.add_extra(c.name(), crate::workloads::check_safe(c, &ops, &dir));
        }
        Ok::<_, histories::HistoryError>((results, ops))
    })
    .await;
    let failed = |why: String| {
        let mut r = checkers::check_ops(Vec::new(), &CheckOptions::default());
        r.reasons.push(why.clone());
        for c in cfg.plan.workload.workload().checkers() {
            let x = ExtraResult {
                valid: Verdict::Unknown,
                summary: format!("cannot check: {why}"),
                detail: serde_json::Value::Null,
            };
            r.add_extra(c.name(), x);
        }
        (r, None)
    };
    match checked {
        Ok(Ok((r, ops))) => (r, Some(ops)),
        Ok(Err(e)) => failed(format!("history unreadable: {e}")),
        Err(e) => failed(format!("checker crashed: {e}")),
    }
}

/// What the no-vacuous-pass rules look at, gathered from the run (kept apart from the
/// rules so the rules are a pure function, tested on their own).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Facts {
    pub(crate) interrupted: bool,
    pub(crate) main_phase: bool,
    /// Faults in the plan, due before the run stopped, and applied (verified).
    pub(crate) planned_faults: usize,
    pub(crate) due_faults: usize,
    pub(crate) applied_faults: usize,
    pub(crate) ok_client_ops: u64,
    pub(crate) min_ok_ops: u64,
    /// Ops the recorder wrote, and ops the checkers read back from history.jsonl.
    pub(crate) written: u64,
    pub(crate) read_back: u64,
    /// The reader's warnings (a cut last line).
    pub(crate) read_warnings: Vec<String>,
    /// Ops the recorder could not write, and why.
    pub(crate) history_loss: Option<(u64, String)>,
    /// Setup problems (the cluster never ran as planned).
    pub(crate) setup_problems: Vec<String>,
}

impl Facts {
    fn of(
        cfg: &RunConfig,
        notes: &Notes,
        counts: &BTreeMap<String, Counts>,
        results: &Results,
        interrupted: bool,
    ) -> Facts {
        Facts {
            interrupted,
            main_phase: notes.main_phase,
            planned_faults: notes.nemesis.planned,
            due_faults: notes.nemesis.due,
            applied_faults: notes.nemesis.applied.len(),
            ok_client_ops: ok_client_ops(counts),
            min_ok_ops: cfg.min_ok_ops,
            written: notes.written,
            read_back: results.ops,
            read_warnings: results.warnings.iter().map(|w| w.to_string()).collect(),
            history_loss: notes.history_loss.clone(),
            setup_problems: notes
                .problems
                .iter()
                .filter(|p| p.starts_with("setup"))
                // The first line: a node's output follows in the problem itself.
                .map(|p| p.lines().next().unwrap_or_default().to_string())
                .collect(),
        }
    }
}

fn ok_client_ops(counts: &BTreeMap<String, Counts>) -> u64 {
    counts
        .iter()
        .filter(|(f, _)| f.as_str() != "read-tasks")
        .map(|(_, c)| c.ok)
        .sum()
}

/// The no-vacuous-pass rules (docs/harness-promises.md): each reason why the run's history
/// cannot support a valid verdict. Empty means the run may be valid.
pub(crate) fn vacuous_reasons(f: &Facts) -> Vec<String> {
    let mut why = Vec::new();
    if f.interrupted {
        why.push("interrupted".to_string());
    }
    if !f.main_phase {
        why.push("the main phase never ran".into());
    }
    if let Some((lost, error)) = &f.history_loss {
        why.push(format!(
            "the history could not be written completely ({error}; {lost} op(s) lost): what was not written cannot be checked"
        ));
    } else if f.main_phase && f.read_back != f.written {
        why.push(format!(
            "the history lost ops: {} written, {} read back",
            f.written, f.read_back
        ));
    }
    if !f.read_warnings.is_empty() {
        why.push(format!(
            "the history is damaged: {}",
            f.read_warnings.join("; ")
        ));
    }
    if f.applied_faults < f.due_faults {
        why.push(format!(
            "{} of {} due faults never took effect",
            f.due_faults - f.applied_faults,
            f.due_faults
        ));
    }
    if f.planned_faults > 0 && f.applied_faults == 0 && f.main_phase && !f.interrupted {
        why.push(format!(
            "{} faults were planned and none took effect: nothing was tested under faults",
            f.planned_faults
        ));
    }
    if f.ok_client_ops < f.min_ok_ops {
        why.push(format!(
            "only {} ok client ops (at least {} needed)",
            f.ok_client_ops, f.min_ok_ops
        ));
    }
    why.extend(f.setup_problems.iter().cloned());
    why
}

/// The harness's own conditions, as a checker: no vacuous pass.
fn harness_result(
    facts: &Facts,
    notes: &Notes,
    counts: &BTreeMap<String, Counts>,
    run_ms: u64,
) -> ExtraResult {
    let why = vacuous_reasons(facts);
    let valid = if why.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Unknown
    };
    ExtraResult {
        valid,
        summary: if why.is_empty() {
            format!(
                "{} ok client ops, {} faults applied",
                facts.ok_client_ops, facts.applied_faults
            )
        } else {
            why.join("; ")
        },
        detail: json!({
            "ok_client_ops": facts.ok_client_ops,
            "nemesis": notes.nemesis,
            "setup_ms": notes.setup_ms,
            "ready_ms": notes.ready_ms,
            "recovery": notes.recovery,
            "final_read_node": notes.final_read,
            "problems": notes.problems,
            "interrupted": facts.interrupted,
            "main_phase_ms": notes.main_phase_ms,
            "client_ops": counts.iter().filter(|(f, _)| f.as_str() != "read-tasks")
                .map(|(_, c)| c.ok + c.fail + c.info).sum::<u64>(),
            "history": {
                "written": facts.written,
                "read_back": facts.read_back,
                "lost": facts.history_loss.as_ref().map(|l| l.0).unwrap_or(0),
                "write_error": facts.history_loss.as_ref().map(|l| l.1.clone()),
            },
            "run_ms": run_ms,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run that did everything right.
    fn healthy() -> Facts {
        Facts {
            main_phase: true,
            planned_faults: 6,
            due_faults: 6,
            applied_faults: 6,
            ok_client_ops: 500,
            min_ok_ops: 10,
            written: 1200,
            read_back: 1200,
            ..Facts::default()
        }
    }

    #[test]
    fn a_complete_run_has_no_reason_against_valid() {
        assert_eq!(vacuous_reasons(&healthy()), Vec::<String>::new());
    }

    /// Proves a failed history write (a full disk) is never valid, whatever was read back.
    #[test]
    fn a_failed_history_write_is_never_valid() {
        let f = Facts {
            history_loss: Some((3, "No space left on device (os error 28)".into())),
            ..healthy()
        };
        let why = vacuous_reasons(&f);
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(why[0].contains("3 op(s) lost"), "{why:?}");
    }

    /// Proves ops written but not read back (the file changed after the run wrote it) are
    /// never valid.
    #[test]
    fn fewer_ops_read_back_than_written_is_never_valid() {
        let f = Facts {
            read_back: 1199,
            ..healthy()
        };
        assert_eq!(
            vacuous_reasons(&f),
            vec!["the history lost ops: 1200 written, 1199 read back".to_string()]
        );
    }

    #[test]
    fn a_cut_last_line_is_never_valid() {
        let f = Facts {
            read_warnings: vec!["history.jsonl:1201: truncated last line".into()],
            ..healthy()
        };
        assert_eq!(vacuous_reasons(&f).len(), 1);
    }

    /// Proves a run whose planned faults all failed to apply cannot pass as tested under
    /// faults, and a run with none planned (`--nemesis none`) can.
    #[test]
    fn planned_faults_none_applied_is_never_valid() {
        let f = Facts {
            due_faults: 0,
            applied_faults: 0,
            ..healthy()
        };
        let why = vacuous_reasons(&f);
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(why[0].contains("none took effect"), "{why:?}");
        let none = Facts {
            planned_faults: 0,
            due_faults: 0,
            applied_faults: 0,
            ..healthy()
        };
        assert!(vacuous_reasons(&none).is_empty());
    }

    #[test]
    fn missing_faults_few_ops_setup_and_interrupts_each_say_why() {
        let cases: Vec<(Facts, &str)> = vec![
            (
                Facts {
                    applied_faults: 4,
                    ..healthy()
                },
                "2 of 6 due faults never took effect",
            ),
            (
                Facts {
                    ok_client_ops: 3,
                    ..healthy()
                },
                "only 3 ok client ops (at least 10 needed)",
            ),
            (
                Facts {
                    setup_problems: vec!["setup failed: n1 exited".into()],
                    ..healthy()
                },
                "setup failed: n1 exited",
            ),
            (
                Facts {
                    interrupted: true,
                    ..healthy()
                },
                "interrupted",
            ),
        ];
        for (f, expected) in cases {
            assert_eq!(vacuous_reasons(&f), vec![expected.to_string()], "{f:?}");
        }
    }

    #[test]
    fn a_run_whose_main_phase_never_ran_is_never_valid() {
        let f = Facts {
            main_phase: false,
            written: 0,
            read_back: 0,
            ..healthy()
        };
        assert!(vacuous_reasons(&f)
            .iter()
            .any(|w| w == "the main phase never ran"));
    }
}
