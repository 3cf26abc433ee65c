//! The end of a run: check the history, add the harness's own conditions (no vacuous
//! pass), write results.json and the report, and compose the summary and the exit code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use checkers::{CheckOptions, ExtraResult, Results, Verdict};
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
    let path = history.to_path_buf();
    let checked =
        tokio::task::spawn_blocking(move || checkers::check_file(&path, &CheckOptions::default()))
            .await;
    let mut results = match checked {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            let mut r = checkers::check_ops(Vec::new(), &CheckOptions::default());
            r.reasons.push(format!("history unreadable: {e}"));
            r
        }
        Err(e) => {
            let mut r = checkers::check_ops(Vec::new(), &CheckOptions::default());
            r.reasons.push(format!("checker crashed: {e}"));
            r
        }
    };
    if cfg.plan.workload == crate::config::Workload::Register {
        let x = crate::register::check_linearizable(history, run_dir).await;
        results.add_extra("linearizable", x);
    }
    let run_ms = started.elapsed().as_millis() as u64;
    results.add_extra(
        "harness",
        harness_result(cfg, &notes, &counts, interrupted, run_ms),
    );
    let verdict = results.valid;
    let exit = match (verdict, interrupted) {
        (Verdict::Invalid, _) => Exit::Invalid,
        (_, true) | (Verdict::Unknown, _) => Exit::Unknown,
        (Verdict::Valid, false) => Exit::Valid,
    };
    let mut problems = notes.problems.clone();
    let written = store::write_json(&run_dir.join(store::RESULTS_JSON), &results);
    if let Err(e) = written.and_then(|()| crate::run_marker::release(run_dir)) {
        problems.push(format!("results.json: {e:#}"));
    }
    if let Err(e) = crate::report::render(run_dir) {
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

/// The harness's own conditions, as a checker: no vacuous pass.
fn harness_result(
    cfg: &RunConfig,
    notes: &Notes,
    counts: &BTreeMap<String, Counts>,
    interrupted: bool,
    run_ms: u64,
) -> ExtraResult {
    let ok_client: u64 = counts
        .iter()
        .filter(|(f, _)| f.as_str() != "read-tasks")
        .map(|(_, c)| c.ok)
        .sum();
    let mut why = Vec::new();
    if interrupted {
        why.push("interrupted".to_string());
    }
    if !notes.main_phase {
        why.push("the main phase never ran".into());
    }
    if notes.nemesis.applied.len() < notes.nemesis.due {
        why.push(format!(
            "{} of {} due faults never took effect",
            notes.nemesis.due - notes.nemesis.applied.len(),
            notes.nemesis.due
        ));
    }
    if ok_client < cfg.min_ok_ops {
        why.push(format!(
            "only {ok_client} ok client ops (at least {} needed)",
            cfg.min_ok_ops
        ));
    }
    why.extend(
        notes
            .problems
            .iter()
            .filter(|p| p.starts_with("setup"))
            .cloned(),
    );
    let valid = if why.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Unknown
    };
    ExtraResult {
        valid,
        summary: if why.is_empty() {
            format!(
                "{ok_client} ok client ops, {} faults applied",
                notes.nemesis.applied.len()
            )
        } else {
            why.join("; ")
        },
        detail: json!({
            "ok_client_ops": ok_client,
            "nemesis": notes.nemesis,
            "setup_ms": notes.setup_ms,
            "ready_ms": notes.ready_ms,
            "recovery": notes.recovery,
            "final_read_node": notes.final_read,
            "problems": notes.problems,
            "interrupted": interrupted,
            "main_phase_ms": notes.main_phase_ms,
            "client_ops": counts.iter().filter(|(f, _)| f.as_str() != "read-tasks")
                .map(|(_, c)| c.ok + c.fail + c.info).sum::<u64>(),
            "run_ms": run_ms,
        }),
    }
}
