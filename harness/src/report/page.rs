//! The HTML page: sections in reading order (verdict, anomalies with their ops, op counts,
//! timeline, latency, throughput, node events, full history), inline CSS and a small script.
//!
//! The script's first job is to make failures visible: `window.onerror` and a check that every
//! in-page link has a target write into `#js-errors`, and `#js-status` reads `ok` once the
//! checks ran. The Chromium test asserts exactly that on the rendered DOM.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde_json::Value;

use super::anomaly::{self, Anomaly, Checker};
use super::load::{Op, OpType, Process, RunData};
use super::model::{self, Model};
use super::nodes::{self, truncate};
use super::svg::esc;
use super::{plots, timeline, Links, FULL_TABLE_LIMIT, INVOLVED_LIMIT};

/// At most this many anomalies per checker are shown in full.
const ANOMALIES_SHOWN: usize = 200;

const CSS: &str = include_str!("report.css");
const ERROR_HOOK_JS: &str = "window.__errs=[];window.onerror=function(m,s,l,c){window.__errs.push('error: '+m+' at line '+l+':'+c);};\
window.addEventListener('unhandledrejection',function(e){window.__errs.push('unhandled rejection: '+e.reason);});";
const JS: &str = include_str!("report.js");

/// Renders the whole page.
pub fn render(data: &RunData) -> String {
    let model = model::build(&data.ops);
    let checkers = data
        .results
        .as_ref()
        .map(anomaly::checkers)
        .unwrap_or_default();
    let links = links(data, &model, &checkers);
    let verdict = match &data.dir_state {
        Some(s) if !s.is_finished() => s.word().to_string(),
        _ => anomaly::verdict_text(data.results.as_ref().and_then(|r| r.get("valid"))),
    };
    let title = data
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| data.dir.display().to_string());
    let mut out = String::with_capacity(256 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Gauntlet report — {}</title><style>{CSS}</style><script>{ERROR_HOOK_JS}</script></head><body>",
        esc(&title)
    );
    let _ = write!(
        out,
        "<header><h1>Gauntlet run <span class=\"runname\">{}</span></h1><div id=\"verdict\" class=\"verdict v-{}\">{}</div></header>",
        esc(&title),
        esc(&verdict),
        esc(verdict_word(&verdict))
    );
    let story = super::story::render(data.results.as_ref(), &model.windows, &links);
    out.push_str(&story);
    if !story.is_empty() {
        out.push_str("<nav><a href=\"#story\">what went wrong</a></nav>");
    }
    out.push_str("<nav><a href=\"#anomalies\">anomalies</a> · <a href=\"#counts\">ops</a> · <a href=\"#timeline\">timeline</a> · <a href=\"#latency\">latency</a> · <a href=\"#throughput\">throughput</a> · <a href=\"#node-events\">node events</a></nav>");
    config_section(&mut out, data);
    if !data.warnings.is_empty() {
        out.push_str("<section id=\"warnings\"><h2>Warnings</h2><ul>");
        for w in &data.warnings {
            let _ = write!(out, "<li>{}</li>", esc(w));
        }
        out.push_str("</ul></section>");
    }
    anomalies_section(&mut out, data, &checkers, &links);
    out.push_str(&super::linear::render(data.results.as_ref(), &links));
    counts_section(&mut out, &model);
    let _ = write!(
        out,
        "<section id=\"timeline\"><h2>Timeline</h2><p class=\"legend\"><span class=\"sw ok\"></span>ok <span class=\"sw fail\"></span>fail <span class=\"sw info\"></span>info <span class=\"sw pending\"></span>never completed <span class=\"sw anom\"></span>anomalous <span class=\"sw partition\"></span>partition <span class=\"sw kill\"></span>kill <span class=\"sw pause\"></span>pause <label><input type=\"checkbox\" id=\"hide-ok\"> hide ok</label></p>{}{}</section>",
        if model.intervals.len() > timeline::DETAIL_LIMIT {
            format!("<p class=\"note\">{} ops: aggregated into {}px columns (worst outcome per column); anomalous ops drawn individually.</p>", model.intervals.len(), timeline::COLUMN_PX)
        } else {
            String::new()
        },
        timeline::render(&model, &links)
    );
    let _ = write!(
        out,
        "<section id=\"latency\"><h2>Latency</h2><p class=\"legend\">points: <span class=\"sw ok\"></span>ok <span class=\"sw fail\"></span>fail <span class=\"sw info\"></span>info; lines: p50 (solid), p95 (dashed), p99 (dotted) of ok latencies</p><div class=\"charts\">{}</div></section>",
        plots::latency(&model)
    );
    let _ = write!(
        out,
        "<section id=\"throughput\"><h2>Throughput</h2>{}</section>",
        plots::throughput(&model)
    );
    let _ = write!(
        out,
        "<section id=\"node-events\"><h2>Node events</h2>{}</section>",
        nodes::render(data, &model.nemesis_ops)
    );
    if links.full_table {
        out.push_str("<section id=\"history\"><details><summary>Full history</summary>");
        op_table(&mut out, data.ops.iter(), "h");
        out.push_str("</details></section>");
    }
    let _ = write!(
        out,
        "<footer><ul id=\"js-errors\"></ul><p>script: <span id=\"js-status\">not run</span></p></footer><script>{JS}</script></body></html>"
    );
    out
}

fn verdict_word(v: &str) -> &str {
    match v {
        "true" => "valid",
        "false" => "invalid",
        "missing" => "no results",
        other => other,
    }
}

fn links(data: &RunData, model: &Model, checkers: &[Checker]) -> Links {
    let present: BTreeSet<u64> = data.ops.iter().map(|o| o.index).collect();
    let anomalous: BTreeSet<u64> = checkers
        .iter()
        .flat_map(|c| {
            c.anomalies
                .iter()
                .filter(|a| !a.informational)
                .flat_map(|a| a.ops.iter().copied())
        })
        .filter(|i| present.contains(i))
        .collect();
    let mut anchored = anomalous.clone();
    for iv in &model.intervals {
        if anomalous.contains(&iv.invoke_index)
            || iv.complete_index.is_some_and(|c| anomalous.contains(&c))
        {
            anchored.insert(iv.invoke_index);
            anchored.extend(iv.complete_index);
        }
    }
    let anchored = anchored.into_iter().take(INVOLVED_LIMIT).collect();
    Links {
        anomalous,
        anchored,
        full_table: data.ops.len() <= FULL_TABLE_LIMIT,
    }
}

fn config_section(out: &mut String, data: &RunData) {
    let Some(test) = data.test.as_ref().and_then(Value::as_object) else {
        return;
    };
    out.push_str("<section id=\"config\"><h2>Configuration</h2>");
    for key in ["repro", "repro_command", "command"] {
        if let Some(cmd) = test.get(key) {
            let text = match cmd {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .map(|p| {
                        p.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| p.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            let _ = write!(
                out,
                "<p>rerun: <code id=\"repro\">{}</code></p>",
                esc(&text)
            );
            break;
        }
    }
    out.push_str("<details><summary>test.json</summary><table class=\"kv\">");
    for (k, v) in test {
        let text = match v {
            Value::String(s) => s.clone(),
            other => truncate(&other.to_string(), 300),
        };
        let _ = write!(
            out,
            "<tr><th>{}</th><td><code>{}</code></td></tr>",
            esc(k),
            esc(&text)
        );
    }
    out.push_str("</table></details></section>");
}

fn anomalies_section(out: &mut String, data: &RunData, checkers: &[Checker], links: &Links) {
    out.push_str("<section id=\"anomalies\"><h2>Checkers and anomalies</h2>");
    if data.results.is_none() {
        out.push_str("<p class=\"empty\">No results.json in this run directory.</p>");
    }
    for c in checkers {
        let _ = write!(
            out,
            "<div class=\"checker\" id=\"checker-{}\"><h3>{} <span class=\"verdict small v-{}\">{}</span></h3>",
            esc(&c.name),
            esc(&c.name),
            esc(&c.valid),
            esc(verdict_word(&c.valid))
        );
        if !c.facts.is_empty() {
            out.push_str("<table class=\"kv\">");
            for (k, v) in &c.facts {
                let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
            }
            out.push_str("</table>");
        }
        let (real, notes): (Vec<&Anomaly>, Vec<&Anomaly>) =
            c.anomalies.iter().partition(|a| !a.informational);
        if !real.is_empty() {
            let _ = write!(
                out,
                "<p>{} anomalies</p><ol class=\"anomalies\">",
                real.len()
            );
            anomaly_items(out, &real, links);
            out.push_str("</ol>");
        }
        if !notes.is_empty() {
            let _ = write!(
                out,
                "<details class=\"notes\"><summary>{} notes (not anomalies)</summary><ol>",
                notes.len()
            );
            anomaly_items(out, &notes, links);
            out.push_str("</ol></details>");
        }
        out.push_str("</div>");
    }
    if !links.anchored.is_empty() {
        out.push_str("<h3>Operations involved</h3>");
        let by_index: BTreeMap<u64, &Op> = data
            .ops
            .iter()
            .filter(|o| links.anchored.contains(&o.index))
            .map(|o| (o.index, o))
            .collect();
        op_table(out, by_index.values().copied(), "op");
    }
    out.push_str("</section>");
}

fn anomaly_items(out: &mut String, items: &[&Anomaly], links: &Links) {
    for a in items.iter().take(ANOMALIES_SHOWN) {
        let ops: Vec<String> = a
            .ops
            .iter()
            .map(|i| match links.target(*i) {
                Some(href) => format!("<a class=\"oplink\" href=\"{href}\">#{i}</a>"),
                None => format!("#{i}"),
            })
            .collect();
        let pretty = a.detail.to_string();
        let _ = write!(
            out,
            "<li class=\"anomaly\"><span class=\"class\">{}</span> ops: {}<pre class=\"detail\">{}</pre></li>",
            esc(&a.class),
            if ops.is_empty() {
                "none cited".to_string()
            } else {
                ops.join(" ")
            },
            esc(&truncate(&pretty, 4000))
        );
    }
    if items.len() > ANOMALIES_SHOWN {
        let _ = write!(
            out,
            "<li class=\"note\">{} more not shown; see results.json.</li>",
            items.len() - ANOMALIES_SHOWN
        );
    }
}

fn op_table<'a>(out: &mut String, ops: impl Iterator<Item = &'a Op>, id_prefix: &str) {
    out.push_str("<table class=\"ops\"><thead><tr><th>#</th><th>time (s)</th><th>process</th><th>type</th><th>f</th><th>value</th><th>node</th><th>error</th></tr></thead><tbody>");
    for op in ops {
        let _ = write!(
            out,
            "<tr id=\"{id_prefix}-{}\" class=\"{}\"><td>{}</td><td>{:.6}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            op.index,
            op.kind.as_str(),
            op.index,
            op.time as f64 / 1e9,
            op.process,
            op.kind.as_str(),
            esc(&op.f),
            esc(&truncate(&op.value.to_string(), 300)),
            esc(op.node.as_deref().unwrap_or("")),
            esc(op.error.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</tbody></table>");
}

fn counts_section(out: &mut String, model: &Model) {
    let mut counts: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for iv in &model.intervals {
        let slot = match iv.outcome {
            OpType::Ok => 0,
            OpType::Fail => 1,
            OpType::Info => 2,
            OpType::Invoke => 3,
        };
        counts.entry(iv.f.as_str()).or_default()[slot] += 1;
    }
    let _ = write!(
        out,
        "<section id=\"counts\"><h2>Operations</h2><p>{} client ops by {} processes; {} nemesis events; {:.1} s of history.</p><table class=\"counts\"><thead><tr><th>f</th><th>ok</th><th>fail</th><th>info</th><th>never completed</th></tr></thead><tbody>",
        model.intervals.len(),
        model.processes.len(),
        model.nemesis_ops.iter().filter(|o| o.process == Process::Nemesis).count(),
        model.end_time as f64 / 1e9
    );
    for (f, c) in counts {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(f),
            c[0],
            c[1],
            c[2],
            c[3]
        );
    }
    out.push_str("</tbody></table></section>");
}
