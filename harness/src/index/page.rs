//! The index page: one self-contained HTML file (inline CSS and script, no network). The
//! first [`FIRST_ROWS`] runs (newest first) are drawn as HTML rows, so the page reads without
//! its script and Chromium lays out only those; every run is also in a
//! `<script type="application/json">` block, one compact array of cell texts each. The script
//! sorts (click a column head) and filters (a box per column) those arrays, never the DOM,
//! and draws the first rows of the result, more as the reader scrolls or asks ("show more",
//! "show all"). A signature links to its runs. The URL can carry the state
//! (`?sort=seed&desc=1&f-verdict=invalid`, `rows=N` to draw at least N rows), which is how
//! the Chromium test drives it. A store of at most [`FIRST_ROWS`] runs is drawn whole, as
//! before.

use std::fmt::Write;

use super::group::Group;
use super::scan::{RunEntry, Scan, State};
use crate::report::svg::esc;

const CSS: &str = include_str!("index.css");
const JS: &str = include_str!("index.js");
/// Catches errors of the page script before it runs (it lists them in `#js-errors`).
const ERROR_HOOK_JS: &str = "window.__errs=[];window.onerror=function(m,s,l,c){window.__errs.push('error: '+m+' at line '+l+':'+c);};";

/// Runs drawn as HTML rows in the page itself (and by the script after each sort or filter,
/// and per "show more"); the rest wait in the JSON block until a sort, filter or scroll needs
/// them. Chromium's parsing and layout of 10,000 rows was most of the page's load time.
pub const FIRST_ROWS: usize = 200;

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
    let mut out =
        String::with_capacity(1024 + FIRST_ROWS.min(scan.runs.len()) * 600 + scan.runs.len() * 200);
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
    out.push_str("<h2>Runs</h2><p class=\"sub\">Click a heading to sort (again: reverse). A filter box matches text anywhere in its column; <code>=text</code> matches the whole cell; numeric columns take <code>&gt;N</code> and <code>&lt;N</code>. <span id=\"shown\"></span></p>");
    if runs.len() > FIRST_ROWS {
        let _ = write!(
            out,
            "<noscript><p class=\"sub\">Without JavaScript only the first {FIRST_ROWS} of {} runs are shown, newest first.</p></noscript>",
            runs.len()
        );
    }
    let _ = write!(
        out,
        "<table id=\"runs\" data-page=\"{FIRST_ROWS}\"><thead><tr>"
    );
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
    let cells: Vec<[String; 11]> = runs.iter().map(cells).collect();
    for c in cells.iter().take(FIRST_ROWS) {
        run_row(out, c);
    }
    out.push_str("</tbody></table><p id=\"more\" hidden><button type=\"button\" id=\"more-page\">show more</button> <button type=\"button\" id=\"more-all\">show all</button></p>");
    // Every run (the drawn ones too), one array of cell texts each: the script sorts and
    // filters these, never the DOM.
    out.push_str("<script type=\"application/json\" id=\"runs-data\">[");
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_row(out, c);
    }
    out.push_str("]</script>");
}

/// The texts of a run's cells, in [`COLUMNS`] order, as the page shows them; the report
/// column holds the link's target ("" when the run has no report.html).
fn cells(r: &RunEntry) -> [String; 11] {
    let opt = |v: Option<String>| v.unwrap_or_default();
    [
        r.time.clone(),
        r.system.clone(),
        r.workload.clone(),
        r.nemesis.clone(),
        opt(r.seed.map(|s| s.to_string())),
        r.state.word().to_string(),
        r.classes.join(" + "),
        opt(r.ops.map(|o| o.to_string())),
        opt(r.wall_s.map(|s| format!("{s:.1}"))),
        if r.has_report {
            format!("{}/report.html", url_path(&r.rel))
        } else {
            String::new()
        },
        r.problems.join("; "),
    ]
}

/// One drawn row; index.js draws the same markup from the same cells (`drawRow`).
fn run_row(out: &mut String, c: &[String; 11]) {
    let report = if c[9].is_empty() {
        "—".to_string()
    } else {
        format!("<a href=\"{}\">report</a>", esc(&c[9]))
    };
    let _ = write!(
        out,
        "<tr class=\"run s-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"verdict\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{report}</td><td class=\"notes\">{}</td></tr>",
        esc(c[5].split('/').next().unwrap_or("")),
        esc(&c[0]),
        esc(&c[1]),
        esc(&c[2]),
        esc(&c[3]),
        esc(&c[4]),
        esc(&c[5]),
        esc(&c[6]),
        esc(&c[7]),
        esc(&c[8]),
        esc(&c[10]),
    );
}

/// One run as a compact JSON array, safe inside a `<script>` element: every `<` is written
/// `\u003c`, so no `</script>` or `<!--` from run data can end or confuse the element (`<`
/// only ever occurs inside the strings).
fn json_row(out: &mut String, c: &[String; 11]) {
    let json = serde_json::to_string(c).unwrap_or_else(|_| "[]".to_string());
    if json.contains('<') {
        out.push_str(&json.replace('<', "\\u003c"));
    } else {
        out.push_str(&json);
    }
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

    fn entry(seed: u64) -> RunEntry {
        RunEntry {
            rel: format!("mixed-all/20261201T000000.000Z-seed{seed}"),
            time: format!("2026-12-01 00:00:{:02}", seed % 60),
            system: "gauntlet-node".into(),
            workload: "mixed".into(),
            nemesis: "all".into(),
            seed: Some(seed),
            state: if seed % 2 == 0 {
                State::Valid
            } else {
                State::Invalid
            },
            classes: if seed % 2 == 0 {
                vec![]
            } else {
                vec!["locks: split_locks".into()]
            },
            ops: Some(1000 + seed),
            wall_s: Some(30.25),
            repro: format!("gauntlet run --seed {seed}"),
            has_report: seed % 3 == 0,
            problems: vec![],
        }
    }

    fn scan_of(runs: Vec<RunEntry>) -> Scan {
        Scan {
            runs,
            unreadable: vec![],
        }
    }

    /// The JSON block's text, as the script reads it.
    fn data_block(html: &str) -> &str {
        let start = html
            .find(r#"<script type="application/json" id="runs-data">"#)
            .expect("the data block")
            + r#"<script type="application/json" id="runs-data">"#.len();
        let len = html[start..].find("</script>").expect("its end");
        &html[start..start + len]
    }

    /// The seeds of the drawn `<tr class="run …">` rows, in order.
    fn drawn_seeds(html: &str) -> Vec<String> {
        html.split("<tr class=\"run ")
            .skip(1)
            .map(|r| {
                let cell = r.split("<td").nth(5).unwrap();
                cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()].to_string()
            })
            .collect()
    }

    #[test]
    fn links_are_encoded_and_text_escaped() {
        assert_eq!(url_path("a b/c#d"), "a%20b/c%23d");
        let scan = Scan::default();
        let html = render("<s>", &scan, &[], "now");
        assert!(html.contains("&lt;s&gt;"));
        assert!(html.contains("No failing run."));
        assert_eq!(data_block(&html), "[]");
    }

    #[test]
    fn a_small_store_is_drawn_whole() {
        let runs: Vec<RunEntry> = (0..12).map(entry).collect();
        let html = render("s", &scan_of(runs), &[], "now");
        let expected: Vec<String> = (0..12).map(|s| s.to_string()).collect();
        assert_eq!(drawn_seeds(&html), expected);
        assert!(!html.contains("<noscript>"));
        let data: Vec<Vec<String>> = serde_json::from_str(data_block(&html)).unwrap();
        assert_eq!(data.len(), 12);
        assert_eq!(
            data[3],
            [
                "2026-12-01 00:00:03",
                "gauntlet-node",
                "mixed",
                "all",
                "3",
                "invalid",
                "locks: split_locks",
                "1003",
                "30.2",
                "mixed-all/20261201T000000.000Z-seed3/report.html",
                ""
            ]
        );
        assert!(html.contains(r#"<tr class="run s-invalid"><td>2026-12-01 00:00:03</td><td>gauntlet-node</td><td>mixed</td><td>all</td><td class="num">3</td><td class="verdict">invalid</td><td>locks: split_locks</td><td class="num">1003</td><td class="num">30.2</td><td><a href="mixed-all/20261201T000000.000Z-seed3/report.html">report</a></td><td class="notes"></td></tr>"#));
    }

    #[test]
    fn a_large_store_draws_its_first_rows_and_carries_every_run_as_json() {
        let n = FIRST_ROWS + 250;
        let runs: Vec<RunEntry> = (0..n as u64).map(entry).collect();
        let html = render("s", &scan_of(runs), &[], "now");
        let expected: Vec<String> = (0..FIRST_ROWS).map(|s| s.to_string()).collect();
        assert_eq!(
            drawn_seeds(&html),
            expected,
            "the first rows, in scan order"
        );
        assert!(html.contains(&format!(
            "only the first {FIRST_ROWS} of {n} runs are shown"
        )));
        let data: Vec<Vec<String>> = serde_json::from_str(data_block(&html)).unwrap();
        assert_eq!(data.len(), n);
        let seeds: Vec<String> = data.iter().map(|r| r[4].clone()).collect();
        let all: Vec<String> = (0..n).map(|s| s.to_string()).collect();
        assert_eq!(seeds, all, "every run, in scan order");
        assert!(data.iter().all(|r| r.len() == COLUMNS.len()));
    }

    #[test]
    fn run_data_cannot_end_or_confuse_the_script_block() {
        let mut hostile = entry(1);
        hostile.system = "</script><script>window.pwned=1</script>".into();
        hostile.workload = "<!-- <script>".into();
        hostile.nemesis = "\"quoted\" & 'single' \\ back\u{2028}line".into();
        hostile.problems = vec!["results.json: </SCRIPT >".into()];
        let runs = vec![entry(0), hostile.clone()];
        let html = render("s", &scan_of(runs), &[], "now");
        let block = data_block(&html);
        assert!(!block.contains('<'), "{block}");
        let data: Vec<Vec<String>> = serde_json::from_str(block).unwrap();
        assert_eq!(data[1][1], hostile.system);
        assert_eq!(data[1][2], hostile.workload);
        assert_eq!(data[1][3], hostile.nemesis);
        assert_eq!(data[1][10], hostile.problems[0]);
        // The drawn row escapes them too: three script elements, the page's own.
        assert_eq!(html.matches("<script").count(), 3);
        assert!(html.contains("&lt;/script&gt;&lt;script&gt;window.pwned=1"));
    }
}
