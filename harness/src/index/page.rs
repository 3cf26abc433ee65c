//! The index page: one self-contained HTML file (inline CSS and script, no network). The runs
//! table is rendered as HTML, so the page reads without its script; the script adds sorting
//! (click a column head), filtering (a box per column) and the links from a signature to its
//! runs. The URL can carry the state (`?sort=seed&desc=1&f-verdict=invalid`), which is how
//! the Chromium test drives it.

use std::fmt::Write;

use super::group::Group;
use super::scan::{RunEntry, Scan, State};
use crate::report::svg::esc;

const CSS: &str = include_str!("index.css");
const JS: &str = include_str!("index.js");
/// Catches errors of the page script before it runs (it lists them in `#js-errors`).
const ERROR_HOOK_JS: &str = "window.__errs=[];window.onerror=function(m,s,l,c){window.__errs.push('error: '+m+' at line '+l+':'+c);};";

/// The columns of the runs table: (key used in the URL, heading, numeric?).
pub const COLUMNS: [(&str, &str, bool); 11] = [
    ("time", "time (UTC)", false),
    ("system", "system", false),
    ("workload", "workload", false),
    ("nemesis", "nemesis", false),
    ("seed", "seed", true),
    ("verdict", "verdict", false),
    ("anomalies", "anomaly classes", false),
    ("ops", "ops", true),
    ("wall", "wall time (s)", true),
    ("report", "report", false),
    ("notes", "notes", false),
];

/// Renders the page for `scan` with its `groups`; `store` is the name shown in the title.
pub fn render(store: &str, scan: &Scan, groups: &[Group], generated: &str) -> String {
    let mut out = String::with_capacity(1024 + scan.runs.len() * 600);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Gauntlet store — {}</title><style>{CSS}</style><script>{ERROR_HOOK_JS}</script></head><body>",
        esc(store)
    );
    let _ = write!(
        out,
        "<h1>Gauntlet store <code>{}</code></h1><p class=\"sub\">{} written {generated} by <code>gauntlet index</code>; reads each run's test.json and results.json.</p>",
        esc(store),
        counts_sentence(scan)
    );
    if !scan.unreadable.is_empty() {
        out.push_str("<h2>Unreadable directories</h2><ul id=\"unreadable\">");
        for u in &scan.unreadable {
            let _ = write!(out, "<li>{}</li>", esc(u));
        }
        out.push_str("</ul>");
    }
    groups_section(&mut out, groups);
    runs_section(&mut out, &scan.runs);
    let _ = write!(
        out,
        "<footer><ul id=\"js-errors\"></ul><p>script: <span id=\"js-status\">not run</span>; interactive after <span id=\"ready-ms\">?</span> ms</p></footer><script>{JS}</script></body></html>"
    );
    out
}

fn counts_sentence(scan: &Scan) -> String {
    let n = |s: State| scan.runs.iter().filter(|r| r.state == s).count();
    format!(
        "<span id=\"total\">{}</span> runs: {} valid, {} invalid, {} unknown, {} aborted or incomplete, {} damaged.",
        scan.runs.len(),
        n(State::Valid),
        n(State::Invalid),
        n(State::Unknown),
        n(State::Aborted),
        n(State::Damaged)
    )
}

fn groups_section(out: &mut String, groups: &[Group]) {
    out.push_str("<h2>Failures by signature</h2>");
    if groups.is_empty() {
        out.push_str("<p class=\"empty\">No failing run.</p>");
        return;
    }
    out.push_str("<p class=\"sub\">A signature is the set of anomaly classes of a run, each with the checker that found it. Runs with one signature most likely hit the same bug.</p><table id=\"groups\"><thead><tr><th>signature</th><th>runs</th><th>first seen</th><th>last seen</th><th>rerun commands</th></tr></thead><tbody>");
    for (i, g) in groups.iter().enumerate() {
        let reruns: String = g
            .reruns
            .iter()
            .map(|r| format!("<li><code>{}</code></li>", esc(r)))
            .collect();
        let _ = write!(
            out,
            "<tr class=\"group\" id=\"g-{i}\"><td><a href=\"#runs\" class=\"sig\" data-sig=\"{}\">{}</a></td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td><details><summary>{} command{}</summary><ul class=\"reruns\">{reruns}</ul></details></td></tr>",
            esc(&g.signature),
            esc(&g.signature),
            g.count,
            esc(&g.first_seen),
            esc(&g.last_seen),
            g.reruns.len(),
            if g.reruns.len() == 1 { "" } else { "s" },
        );
    }
    out.push_str("</tbody></table>");
}

fn runs_section(out: &mut String, runs: &[RunEntry]) {
    out.push_str("<h2>Runs</h2><p class=\"sub\">Click a heading to sort (again: reverse). A filter box matches text anywhere in its column; <code>=text</code> matches the whole cell; numeric columns take <code>&gt;N</code> and <code>&lt;N</code>. <span id=\"shown\"></span></p><table id=\"runs\"><thead><tr>");
    for (key, head, num) in COLUMNS {
        let _ = write!(
            out,
            "<th data-key=\"{key}\"{}><button type=\"button\" class=\"sort\">{head}</button></th>",
            if num { " data-num=\"1\"" } else { "" }
        );
    }
    out.push_str("</tr><tr class=\"filters\">");
    for (key, head, _) in COLUMNS {
        let _ = write!(
            out,
            "<th><input type=\"search\" class=\"filter\" data-key=\"{key}\" aria-label=\"filter {head}\" placeholder=\"filter\"></th>"
        );
    }
    out.push_str("</tr></thead><tbody>");
    for r in runs {
        run_row(out, r);
    }
    out.push_str("</tbody></table>");
}

fn run_row(out: &mut String, r: &RunEntry) {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let report = if r.has_report {
        format!(
            "<a href=\"{}/report.html\">report</a>",
            esc(&url_path(&r.rel))
        )
    } else {
        "—".to_string()
    };
    let _ = write!(
        out,
        "<tr class=\"run s-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"verdict\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{report}</td><td class=\"notes\">{}</td></tr>",
        r.state.word().split('/').next().unwrap_or(""),
        esc(&r.time),
        esc(&r.system),
        esc(&r.workload),
        esc(&r.nemesis),
        opt(r.seed.map(|s| s.to_string())),
        r.state.word(),
        esc(&r.classes.join(" + ")),
        opt(r.ops.map(|o| o.to_string())),
        opt(r.wall_s.map(|s| format!("{s:.1}"))),
        esc(&r.problems.join("; ")),
    );
}

/// Percent-encodes what a relative link must not carry raw.
fn url_path(rel: &str) -> String {
    let mut out = String::with_capacity(rel.len());
    for b in rel.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b'+' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_encoded_and_text_escaped() {
        assert_eq!(url_path("a b/c#d"), "a%20b/c%23d");
        let scan = Scan::default();
        let html = render("<s>", &scan, &[], "now");
        assert!(html.contains("&lt;s&gt;"));
        assert!(html.contains("No failing run."));
    }
}
