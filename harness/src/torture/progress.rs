//! Progress of a torture run: an indicatif bar (runs done and left, failures so far, elapsed,
//! ETA) on a terminal, plain lines otherwise so CI logs stay readable; nothing under `--quiet`.
//! While the bar shows, [`crate::term`] prints log and status lines above it.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::summary::Verdict;

/// Reports progress on stderr.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    total: Option<u64>,
    done: u64,
    failures: u64,
    start: Instant,
    label: &'static str,
    quiet: bool,
}

impl Progress {
    /// A bar when stderr is a terminal and `plain` is false; plain lines otherwise.
    /// `label` prefixes plain lines (`torture`, `bug-hunt`).
    pub fn new(total: Option<u64>, plain: bool, label: &'static str) -> Progress {
        let quiet = crate::term::quiet();
        let bar = (!quiet && !plain && std::io::stderr().is_terminal()).then(|| {
            let bar = match total {
                Some(n) => ProgressBar::new(n),
                None => ProgressBar::new_spinner(),
            };
            let template = if total.is_some() && crate::term::color() {
                "{bar:30.cyan/blue} {pos}/{len} runs, {msg} [{elapsed_precise}, eta {eta}]"
            } else if total.is_some() {
                "{bar:30} {pos}/{len} runs, {msg} [{elapsed_precise}, eta {eta}]"
            } else {
                "{spinner} {pos} runs, {msg} [{elapsed_precise}]"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_message("0 failed");
            bar.enable_steady_tick(Duration::from_millis(500));
            crate::term::set_bar(Some(bar.clone()));
            bar
        });
        Progress {
            bar,
            total,
            done: 0,
            failures: 0,
            start: Instant::now(),
            label,
            quiet,
        }
    }

    /// Whether progress is printed as plain lines.
    pub fn is_plain(&self) -> bool {
        self.bar.is_none()
    }

    /// A seed is starting.
    pub fn starting(&self, seed: u64) {
        if self.bar.is_none() && !self.quiet {
            eprintln!(
                "{}: [{}/{}] seed {seed}: starting",
                self.label,
                self.done + 1,
                self.total_text()
            );
        }
    }

    /// A seed finished with `verdict`.
    pub fn finished(&mut self, seed: u64, verdict: Verdict, took: Duration) {
        self.done += 1;
        if verdict != Verdict::Valid {
            self.failures += 1;
        }
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("{} failed", self.failures));
                bar.inc(1);
                if verdict != Verdict::Valid {
                    bar.println(format!("seed {seed}: {}", verdict.name()));
                }
            }
            None if self.quiet => {}
            None => eprintln!(
                "{}: [{}/{}] seed {seed}: {} in {:.1}s; {} failed so far; elapsed {}{}",
                self.label,
                self.done,
                self.total_text(),
                verdict.name(),
                took.as_secs_f64(),
                self.failures,
                secs(self.start.elapsed()),
                self.eta()
                    .map(|e| format!(", eta {}", secs(e)))
                    .unwrap_or_default()
            ),
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            crate::term::set_bar(None);
            bar.finish_and_clear();
        }
    }

    fn total_text(&self) -> String {
        self.total
            .map(|t| t.to_string())
            .unwrap_or_else(|| "?".into())
    }

    fn eta(&self) -> Option<Duration> {
        let total = self.total?;
        if self.done == 0 {
            return None;
        }
        let per = self.start.elapsed().as_secs_f64() / self.done as f64;
        Some(Duration::from_secs_f64(
            per * total.saturating_sub(self.done) as f64,
        ))
    }
}

fn secs(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}
