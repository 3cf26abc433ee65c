//! The anomalies first, in words and pictures: what the on-call engineer reads in a minute.
//!
//! Read from results.json as the checkers' own typed results ([`checkers::locks::LocksResult`],
//! [`checkers::tasks::TasksResult`]); a results file of another shape simply gets no story
//! (the checker sections below it still show everything). Each split lock is a sentence (the
//! two holds, their tokens, times, the overlap and the faults active then) and a small
//! time-axis diagram of the two holds with the faults around them; each lost task shows its
//! submit, the ack and the final read that missed it; each token regression both grants.
//! Every op named links to its row in "Operations involved", and the page script gives each
//! such row a link back to the anomaly ([`BACKLINK_CLASS`]).

use std::fmt::Write;

use checkers::locks::{Grant, Hold, LocksResult, SplitLock, TokenRegression};
use checkers::tasks::{TaskAnomaly, TasksResult};
use checkers::OpEvidence;
use serde_json::Value;

use super::model::Window;
use super::svg::esc;
use super::Links;

/// The class of the op links in the story; the page script adds back-links from their targets.
pub const BACKLINK_CLASS: &str = "storyop";

/// At most this many anomalies of each kind are told (the rest are counted).
const TOLD: usize = 20;

/// The anomalies section: counts in words, then each anomaly told. Empty when results.json
/// holds neither a locks nor a tasks result of the current format.
pub fn render(results: Option<&Value>, windows: &[Window], links: &Links) -> String {
    let Some(results) = results else {
        return String::new();
    };
    let locks: Option<LocksResult> = typed(results, "locks");
    let tasks: Option<TasksResult> = typed(results, "tasks");
    if locks.is_none() && tasks.is_none() {
        return String::new();
    }
    let mut out = String::from("<section id=\"story\"><h2>What went wrong</h2>");
    let told = Teller { windows, links };
    let mut any = false;
    if let Some(l) = &locks {
        for (i, s) in l.split_locks.iter().take(TOLD).enumerate() {
            told.split_lock(&mut out, i, s);
            any = true;
        }
        more(&mut out, l.split_locks.len(), "split locks");
        for (i, r) in l.token_regressions.iter().take(TOLD).enumerate() {
            told.token_regression(&mut out, i, r);
            any = true;
        }
        more(&mut out, l.token_regressions.len(), "token regressions");
    }
    if let Some(t) = &tasks {
        for (i, a) in t.lost.iter().take(TOLD).enumerate() {
            told.lost_task(&mut out, i, a, t);
            any = true;
        }
        more(&mut out, t.lost.len(), "lost tasks");
    }
    if !any {
        out.push_str("<p class=\"empty\">No split lock, token regression or lost task.</p>");
    }
    counts_in_words(&mut out, locks.as_ref(), tasks.as_ref());
    out.push_str("</section>");
    out
}

fn typed<T: serde::de::DeserializeOwned>(results: &Value, key: &str) -> Option<T> {
    serde_json::from_value(results.get(key)?.clone()).ok()
}

fn more(out: &mut String, n: usize, what: &str) {
    if n > TOLD {
        let _ = write!(
            out,
            "<p class=\"note\">{} more {what} not told here; all are in results.json.</p>",
            n - TOLD
        );
    }
}

fn secs(ns: u64) -> String {
    format!("{:.2} s", ns as f64 / 1e9)
}

struct Teller<'a> {
    windows: &'a [Window],
    links: &'a Links,
}

impl Teller<'_> {
    /// `op #N` linked to its row when the page has one.
    fn op(&self, e: &OpEvidence, what: &str) -> String {
        match self.links.target(e.index) {
            Some(href) => format!(
                "<a class=\"{BACKLINK_CLASS}\" href=\"{href}\">{what} (op #{})</a>",
                e.index
            ),
            None => format!("{what} (op #{})", e.index),
        }
    }

    /// The faults in effect at some point of `[from, to)`, in words.
    fn faults_during(&self, from: u64, to: u64) -> String {
        let active: Vec<String> = self
            .windows
            .iter()
            .filter(|w| w.start < to && w.end > from)
            .map(|w| format!("the {} that began at {}", esc(&w.name), secs(w.start)))
            .collect();
        if active.is_empty() {
            "with no fault in effect".to_string()
        } else {
            format!("during {}", active.join(" and "))
        }
    }

    fn split_lock(&self, out: &mut String, i: usize, s: &SplitLock) {
        let (a, b) = (&s.first, &s.second);
        let [o0, o1] = s.overlap;
        let _ = write!(
            out,
            "<div class=\"story split-lock\" id=\"story-split-{i}\"><p><b>Split lock</b> on <code>{}</code>: p{} held token {} from {} to {} while p{} held token {} from {} to {}; overlap {:.2} s, {}.</p><p class=\"ops\">{} · {} · {} · {}</p>{}</div>",
            esc(&s.lock),
            a.process,
            a.token,
            secs(a.start),
            secs(a.end),
            b.process,
            b.token,
            secs(b.start),
            secs(b.end),
            o1.saturating_sub(o0) as f64 / 1e9,
            self.faults_during(o0, o1),
            self.op(&a.acquire_invoke, &format!("p{} asks", a.process)),
            self.op(&a.acquire_ok, &format!("p{} granted token {}", a.process, a.token)),
            self.op(&b.acquire_invoke, &format!("p{} asks", b.process)),
            self.op(&b.acquire_ok, &format!("p{} granted token {}", b.process, b.token)),
            self.holds_svg(a, b, s.overlap),
        );
    }

    fn token_regression(&self, out: &mut String, i: usize, r: &TokenRegression) {
        let (e, l): (&Grant, &Grant) = (&r.earlier, &r.later);
        let _ = write!(
            out,
            "<div class=\"story token-regression\" id=\"story-token-{i}\"><p><b>Token regression</b> on <code>{}</code>: p{} was granted token {} at {}, before p{} asked at {}; yet p{} was granted token {} at {} (tokens must grow). {}</p><p class=\"ops\">{} · {}</p></div>",
            esc(&r.lock),
            e.ok.process,
            e.token,
            secs(e.ok.time),
            l.invoke.process,
            secs(l.invoke.time),
            l.ok.process,
            l.token,
            secs(l.ok.time),
            capitalize(&self.faults_during(e.ok.time, l.ok.time.max(e.ok.time + 1))),
            self.op(&e.ok, &format!("grant of token {}", e.token)),
            self.op(&l.ok, &format!("grant of token {}", l.token)),
        );
    }

    fn lost_task(&self, out: &mut String, i: usize, a: &TaskAnomaly, t: &TasksResult) {
        let Some(submit) = &a.submit else { return };
        let ack = submit.completion.as_ref();
        let read = t.final_read.as_ref();
        let _ = write!(
            out,
            "<div class=\"story lost-task\" id=\"story-lost-{i}\"><p><b>Lost task</b> <code>{}</code>: p{} submitted it at {}{}; the final read{} did not list it. {}</p><p class=\"ops\">{}{}{}</p>{}</div>",
            esc(&a.task),
            submit.invoke.process,
            secs(submit.invoke.time),
            ack.map(|c| format!(", the cluster acknowledged it at {}", secs(c.time)))
                .unwrap_or_default(),
            read.map(|r| format!(", invoked at {} and answered at {},", secs(r.invoke.time), secs(r.ok.time)))
                .unwrap_or_default(),
            capitalize(&self.faults_during(
                submit.invoke.time,
                read.map(|r| r.invoke.time).unwrap_or(u64::MAX)
            )),
            self.op(&submit.invoke, "submit"),
            ack.map(|c| format!(" · {}", self.op(c, "ack"))).unwrap_or_default(),
            read.map(|r| format!(" · {}", self.op(&r.ok, "final read"))).unwrap_or_default(),
            self.marks_svg(&[
                Some((submit.invoke.time, "submit")),
                ack.map(|c| (c.time, "ack")),
                read.map(|r| (r.ok.time, "final read")),
            ]),
        );
    }

    /// Two hold bars on one time axis, the overlap in red, the faults shaded behind.
    fn holds_svg(&self, a: &Hold, b: &Hold, overlap: [u64; 2]) -> String {
        let lo = a.start.min(b.start);
        let hi = a.end.max(b.end).max(lo + 1);
        let pad = (hi - lo) / 4;
        let axis = Axis::new(lo.saturating_sub(pad), hi + pad);
        let mut s = axis.open("holds", 64);
        axis.faults(&mut s, self.windows, 4, 42);
        for (row, h) in [a, b].iter().enumerate() {
            let y = 8 + row as u32 * 18;
            let _ = write!(
                s,
                "<rect class=\"hold\" x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"12\"><title>p{} token {}: {} to {}</title></rect><text x=\"{:.1}\" y=\"{}\">p{} · token {}</text>",
                axis.x(h.start),
                (axis.x(h.end) - axis.x(h.start)).max(1.0),
                h.process,
                h.token,
                secs(h.start),
                secs(h.end),
                axis.x(h.start) + 3.0,
                y + 10,
                h.process,
                h.token
            );
        }
        let _ = write!(
            s,
            "<rect class=\"overlap\" x=\"{:.1}\" y=\"4\" width=\"{:.1}\" height=\"40\"><title>overlap {} to {}</title></rect>",
            axis.x(overlap[0]),
            (axis.x(overlap[1]) - axis.x(overlap[0])).max(1.0),
            secs(overlap[0]),
            secs(overlap[1])
        );
        axis.ticks(&mut s, 58);
        s.push_str("</svg>");
        s
    }

    /// Named instants on one time axis, the faults shaded behind.
    fn marks_svg(&self, marks: &[Option<(u64, &str)>]) -> String {
        let marks: Vec<(u64, &str)> = marks.iter().flatten().copied().collect();
        let lo = marks.iter().map(|m| m.0).min().unwrap_or(0);
        let hi = marks.iter().map(|m| m.0).max().unwrap_or(0).max(lo + 1);
        let pad = (hi - lo) / 8 + 1;
        let axis = Axis::new(lo.saturating_sub(pad), hi + pad);
        let mut s = axis.open("marks", 54);
        axis.faults(&mut s, self.windows, 4, 30);
        for (k, (t, name)) in marks.iter().enumerate() {
            let x = axis.x(*t);
            let _ = write!(
                s,
                "<line class=\"mark\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"6\" y2=\"34\"/><text x=\"{:.1}\" y=\"{}\">{name} {}</text>",
                x + 3.0,
                12 + (k as u32 % 3) * 10,
                secs(*t)
            );
        }
        axis.ticks(&mut s, 48);
        s.push_str("</svg>");
        s
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str() + ".",
        None => String::new(),
    }
}

/// A time axis 520 px wide for `[lo, hi]` ns.
struct Axis {
    lo: u64,
    hi: u64,
}

const WIDTH: f64 = 520.0;

impl Axis {
    fn new(lo: u64, hi: u64) -> Axis {
        Axis {
            lo,
            hi: hi.max(lo + 1),
        }
    }

    fn x(&self, t: u64) -> f64 {
        let t = t.clamp(self.lo, self.hi);
        10.0 + (t - self.lo) as f64 / (self.hi - self.lo) as f64 * (WIDTH - 20.0)
    }

    fn open(&self, class: &str, height: u32) -> String {
        format!(
            "<svg class=\"story-svg {class}\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\">"
        )
    }

    fn faults(&self, s: &mut String, windows: &[Window], y: u32, h: u32) {
        for w in windows
            .iter()
            .filter(|w| w.start < self.hi && w.end > self.lo)
        {
            let _ = write!(
                s,
                "<rect class=\"nem {}\" x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{h}\"><title>{} {} to {}</title></rect>",
                w.class.name(),
                self.x(w.start),
                (self.x(w.end) - self.x(w.start)).max(1.0),
                esc(&w.name),
                secs(w.start),
                secs(w.end)
            );
        }
    }

    fn ticks(&self, s: &mut String, y: u32) {
        let _ = write!(
            s,
            "<text class=\"tick\" x=\"10\" y=\"{y}\">{}</text><text class=\"tick\" x=\"{:.0}\" y=\"{y}\" text-anchor=\"end\">{}</text>",
            secs(self.lo),
            WIDTH - 10.0,
            secs(self.hi)
        );
    }
}

/// The checkers' counts as sentences in a table.
fn counts_in_words(out: &mut String, locks: Option<&LocksResult>, tasks: Option<&TasksResult>) {
    let mut rows: Vec<(u64, &str)> = Vec::new();
    if let Some(t) = tasks {
        let c = &t.counts;
        rows.extend([
            (c.submitted, "tasks submitted"),
            (c.acked, "submits acknowledged by the cluster"),
            (c.failed, "submits that failed for certain"),
            (
                c.unknown,
                "submits with an unknown outcome (timed out or never answered)",
            ),
            (c.read, "tasks listed by the final read"),
            (
                c.lost,
                "acknowledged tasks missing from the final read (lost)",
            ),
            (
                c.not_done,
                "tasks listed but not done after the recovery wait",
            ),
            (
                c.unexpected + c.phantom,
                "tasks listed that were never (successfully) submitted",
            ),
            (c.duplicated, "tasks run more than once"),
        ]);
    }
    if let Some(l) = locks {
        let c = &l.counts;
        rows.extend([
            (c.acquired, "lock grants"),
            (c.acquire_failed, "acquires refused or failed"),
            (
                c.certain_holds,
                "holds the checker could place in time for certain",
            ),
            (
                c.split_locks,
                "pairs of holds of one lock that overlapped (split locks)",
            ),
            (
                c.token_regressions,
                "grants whose token did not grow (token regressions)",
            ),
        ]);
    }
    out.push_str("<table id=\"counts-in-words\" class=\"counts\"><thead><tr><th>count</th><th>what</th></tr></thead><tbody>");
    for (n, what) in rows {
        let _ = write!(out, "<tr><td class=\"num\">{n}</td><td>{what}</td></tr>");
    }
    out.push_str("</tbody></table>");
}
