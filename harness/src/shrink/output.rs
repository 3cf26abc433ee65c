//! What `gauntlet shrink` writes and prints: `RUN_DIR/shrunk/` (plan.json, test.json,
//! history.jsonl, results.json, report.html, shrink.json and the reproducing run's node
//! logs), every file written atomically; a progress bar on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::edits::Size;
use crate::config::RunConfig;
use crate::exit::Exit;
use crate::plan::Plan;
use crate::store::{write_atomic, write_json};

/// The log file of a shrink, inside `shrunk/`.
pub const SHRINK_JSON: &str = "shrink.json";

/// One step of the search: a candidate and whether it still failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// 1, 2, ...
    pub step: usize,
    /// The pass: `faults`, `simple`, `workers` or `op-blocks`.
    pub pass: String,
    /// What the candidate removed or changed.
    pub change: String,
    /// Whether it still showed a target class (and was taken).
    pub still_fails: bool,
    /// Runs it took (it stops at the first that fails).
    pub tries: u32,
    /// The candidate's size.
    pub size: Size,
    /// Runs so far, this one's included.
    pub runs_so_far: u64,
    /// Seconds since the shrink began.
    pub seconds: f64,
}

/// Progress on stderr: a spinner with the current size on a terminal, one line per step
/// otherwise; nothing under `--quiet`.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    best: Size,
    start: Instant,
}

impl Progress {
    /// A bar when stderr is a terminal and `plain` is false.
    pub fn new(plain: bool, start: Size) -> Progress {
        let quiet = crate::term::quiet();
        let bar = (!quiet && !plain && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} shrink: {msg} [{elapsed_precise}]")
            {
                bar.set_style(style);
            }
            bar.set_message(format!("{start}"));
            bar.enable_steady_tick(Duration::from_millis(500));
            crate::term::set_bar(Some(bar.clone()));
            bar
        });
        Progress {
            bar,
            quiet,
            best: start,
            start: Instant::now(),
        }
    }

    /// A candidate was judged.
    pub fn step(&mut self, s: &Step) {
        if s.still_fails {
            self.best = s.size;
        }
        let line = format!(
            "step {} ({}): {}: {} after {} tries; best: {}; {} runs, {:.0} s",
            s.step,
            s.pass,
            s.change,
            if s.still_fails {
                "still fails"
            } else {
                "passes"
            },
            s.tries,
            self.best,
            s.runs_so_far,
            self.start.elapsed().as_secs_f64()
        );
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("best {}; {} runs", self.best, s.runs_so_far));
                if s.still_fails {
                    bar.println(line);
                }
            }
            None if self.quiet => {}
            None => eprintln!("shrink: {line}"),
        }
    }

    /// A line above the bar, or a plain line.
    pub fn line(&self, s: String) {
        match &self.bar {
            Some(bar) => bar.println(s),
            None if self.quiet => {}
            None => eprintln!("shrink: {s}"),
        }
    }

    /// Clears the bar; later lines are plain.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            crate::term::set_bar(None);
            bar.finish_and_clear();
        }
    }
}

/// Everything the output is made from.
#[derive(Debug)]
pub struct Outputs<'a> {
    /// `RUN_DIR/shrunk`.
    pub shrunk: &'a Path,
    /// The original run dir.
    pub original_dir: &'a Path,
    /// The original run's configuration.
    pub cfg: &'a RunConfig,
    /// The final plan.
    pub plan: &'a Plan,
    /// The target classes.
    pub classes: &'a [String],
    /// The original plan's size.
    pub original: Size,
    /// 1-minimal.
    pub complete: bool,
    /// The system's runs are deterministic: one rerun says exactly whether it reproduces.
    pub deterministic: bool,
    /// Reruns of the final plan that reproduced (K).
    pub reproduced: u32,
    /// Reruns of the final plan (N).
    pub verify_runs: u32,
    /// Runs the search took.
    pub search_runs: u64,
    /// Seconds the search took.
    pub search_seconds: f64,
    /// Seconds in all.
    pub seconds: f64,
    /// The search's steps.
    pub steps: &'a [Step],
    /// A run dir of the final plan that showed a target class.
    pub evidence: Option<&'a Path>,
    /// The exit code.
    pub exit: Exit,
    /// Cut short by a signal.
    pub interrupted: bool,
}

/// Files of the reproducing run copied into `shrunk/`.
const COPIED: &[&str] = &[
    crate::store::HISTORY,
    crate::store::RESULTS_JSON,
    crate::store::NODES_JSON,
];

impl Outputs<'_> {
    /// The configuration that reruns the shrunk plan: its plan file, the original's store.
    fn rerun_cfg(&self) -> RunConfig {
        let mut cfg = self.cfg.clone();
        cfg.plan = self.plan.options.clone();
        cfg.plan_file = Some(self.shrunk.join(crate::store::PLAN_JSON));
        cfg.store = self
            .original_dir
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or(cfg.store);
        cfg
    }

    /// The command that reruns the shrunk plan.
    pub fn rerun(&self) -> String {
        let cfg = self.rerun_cfg();
        crate::summary::repro_command(&cfg, cfg.plan_file.as_deref())
    }

    /// The `shrink.json` document.
    pub fn log(&self) -> serde_json::Value {
        json!({
            "original_run": self.original_dir,
            "target_classes": self.classes,
            "original": self.original,
            "final": Size::of(self.plan),
            "minimal": self.complete,
            "interrupted": self.interrupted,
            "reproduced": {"k": self.reproduced, "n": self.verify_runs},
            "deterministic": self.deterministic,
            "search_runs": self.search_runs,
            "search_seconds": self.search_seconds,
            "seconds": self.seconds,
            "exit": self.exit.code(),
            "rerun": self.rerun(),
            "evidence_run": self.evidence,
            "steps": self.steps,
        })
    }

    /// Writes `shrunk/`: the plan, test.json, the evidence's history, results and node logs,
    /// report.html and shrink.json (last, so that its presence says the rest is there).
    pub fn write(&self) -> anyhow::Result<()> {
        let plan_path = self.shrunk.join(crate::store::PLAN_JSON);
        write_atomic(&plan_path, self.plan.to_json().as_bytes())?;
        let cfg = self.rerun_cfg();
        write_json(
            &self.shrunk.join(crate::store::TEST_JSON),
            &json!({"config": cfg, "system": cfg.system, "repro": self.rerun(),
                    "shrunk_from": self.original_dir}),
        )?;
        if let Some(ev) = self.evidence {
            for name in COPIED {
                copy_atomic(&ev.join(name), &self.shrunk.join(name))?;
            }
            let logs = ev.join("nodes");
            if logs.is_dir() {
                let to = self.shrunk.join("nodes");
                std::fs::create_dir_all(&to)
                    .with_context(|| format!("creating {}", to.display()))?;
                for e in std::fs::read_dir(&logs)?.flatten() {
                    copy_atomic(&e.path(), &to.join(e.file_name()))?;
                }
            }
            let info = crate::report::shrunk::Info {
                original: self.original_dir.to_path_buf(),
                original_size: self.original,
                reproduced: self.reproduced,
                runs: self.verify_runs,
                minimal: self.complete,
                deterministic: self.deterministic,
                rerun: self.rerun(),
            };
            crate::report::shrunk::render(self.shrunk, self.plan, &info)?;
        }
        write_json(&self.shrunk.join(SHRINK_JSON), &self.log())
    }

    /// How the final plan reproduced, in words: K of N tries, or, for a deterministic
    /// system, exactly (one rerun decides).
    pub fn reproduction(&self) -> String {
        reproduction(self.deterministic, self.reproduced, self.verify_runs)
    }

    /// What the command prints at the end.
    pub fn summary(&self) -> String {
        let last = Size::of(self.plan);
        format!(
            "shrink: {} -> {last}\n\
             shrink: {}; {}\n\
             shrink: {} search runs in {:.0} s; {:.0} s in all\n\
             shrunk: {}\nrerun:  {}\n",
            self.original,
            self.reproduction(),
            if self.complete {
                "1-minimal (faults, workers, op blocks)"
            } else if self.interrupted {
                "interrupted: not proven minimal"
            } else {
                "budget spent: not proven minimal"
            },
            self.search_runs,
            self.search_seconds,
            self.seconds,
            self.shrunk.display(),
            self.rerun()
        )
    }
}

/// How a final plan reproduced: "reproduces exact (deterministic)" when one rerun of a
/// deterministic system showed a target class, else K of N.
pub fn reproduction(deterministic: bool, k: u32, n: u32) -> String {
    match (deterministic, k) {
        (true, 0) if n > 0 => "does not reproduce (deterministic: 0 of 1)".to_string(),
        (true, k) if k > 0 => "reproduces exact (deterministic)".to_string(),
        _ => format!("reproduces {k} of {n} tries"),
    }
}

/// Copies a file atomically (a missing source is skipped).
fn copy_atomic(from: &Path, to: &Path) -> anyhow::Result<()> {
    match std::fs::read(from) {
        Ok(bytes) => write_atomic(to, &bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", from.display()))),
    }
}
