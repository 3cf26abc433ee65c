//! The report of a shrunk run (`RUN_DIR/shrunk/report.html`): the usual page with, first
//! after the verdict, what is left of the plan (every remaining fault and every remaining
//! planned op, in time order), how often it reproduces, the command that reruns it, and a
//! link back to the original run's report.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::svg::esc;
use crate::plan::Plan;
use crate::shrink::edits::Size;

/// The id of the section the shrunk report adds.
pub const SECTION_ID: &str = "shrunk";

/// At most this many remaining ops are listed (a shrunk plan is usually far smaller).
const OPS_LISTED: usize = 500;

/// What the section says besides the plan.
#[derive(Debug, Clone)]
pub struct Info {
    /// The original run dir (the parent of `shrunk/`).
    pub original: PathBuf,
    /// The original plan's size.
    pub original_size: Size,
    /// Reruns of the final plan that reproduced (K).
    pub reproduced: u32,
    /// Reruns of the final plan (N).
    pub runs: u32,
    /// Whether the plan is proven 1-minimal.
    pub minimal: bool,
    /// The system's runs are deterministic (one rerun says exactly whether it reproduces).
    pub deterministic: bool,
    /// The command that reruns it.
    pub rerun: String,
}

/// The plan and info of a finished shrink output dir (one with shrink.json), if `dir` is one.
pub fn stored(dir: &Path) -> Option<(Plan, Info)> {
    let text = std::fs::read_to_string(dir.join(crate::shrink::output::SHRINK_JSON)).ok()?;
    let log: serde_json::Value = serde_json::from_str(&text).ok()?;
    let plan = Plan::load(&dir.join(crate::store::PLAN_JSON)).ok()?;
    let info = Info {
        original: log["original_run"].as_str()?.into(),
        original_size: serde_json::from_value(log["original"].clone()).ok()?,
        reproduced: u32::try_from(log["reproduced"]["k"].as_u64()?).ok()?,
        runs: u32::try_from(log["reproduced"]["n"].as_u64()?).ok()?,
        minimal: log["minimal"].as_bool()?,
        deterministic: log["deterministic"].as_bool().unwrap_or(false),
        rerun: log["rerun"].as_str()?.to_string(),
    };
    Some((plan, info))
}

/// Writes `dir/report.html`: the run's report with the shrunk section after the header.
pub fn render(dir: &Path, plan: &Plan, info: &Info) -> anyhow::Result<PathBuf> {
    let data = super::load::load_with(dir, None)?;
    let page = super::page::render(&data);
    let section = section(plan, info);
    let html = match page.find("</header>") {
        Some(i) => {
            let at = i + "</header>".len();
            format!("{}{section}{}", &page[..at], &page[at..])
        }
        None => format!("{section}{page}"),
    };
    let path = dir.join(super::REPORT_FILE);
    crate::store::write_atomic(&path, html.as_bytes())?;
    Ok(path)
}

/// The section: remaining faults and ops, reproduction, rerun, link back.
pub fn section(plan: &Plan, info: &Info) -> String {
    let now = Size::of(plan);
    let mut s = String::new();
    let _ = write!(
        s,
        "<section id=\"{SECTION_ID}\"><h2>Shrunk plan</h2><p>Shrunk from <a href=\"../report.html\">the \
         original run</a> (<code>{}</code>): {} → <b>{}</b>. The final plan <b>{}</b>; {}.</p>\
         <p>Rerun: <code>{}</code></p>",
        esc(&info.original.display().to_string()),
        esc(&info.original_size.to_string()),
        esc(&now.to_string()),
        esc(&crate::shrink::output::reproduction(
            info.deterministic,
            info.reproduced,
            info.runs
        )),
        if info.minimal {
            "1-minimal: removing any one remaining fault, worker or op block made the failure disappear"
        } else {
            "not proven minimal (the budget ran out)"
        },
        esc(&info.rerun)
    );
    let _ = write!(s, "<h3>Remaining faults ({})</h3>", plan.faults.len());
    if plan.faults.is_empty() {
        s.push_str("<p>None: the failure needs no fault.</p>");
    } else {
        s.push_str(
            "<table><tr><th>#</th><th>from</th><th>to</th><th>fault</th><th>nodes</th></tr>",
        );
        for (i, f) in plan.faults.iter().enumerate() {
            let nodes: Vec<String> = f.fault.nodes().iter().map(|n| n.to_string()).collect();
            let _ = write!(
                s,
                "<tr><td>{i}</td><td>{:.3} s</td><td>{:.3} s</td><td>{}</td><td>{}</td></tr>",
                f.at_ns as f64 / 1e9,
                f.heal_at_ns as f64 / 1e9,
                esc(&format!("{} ({})", f.name, f.fault.kind())),
                esc(&nodes.join(" "))
            );
        }
        s.push_str("</table>");
    }
    let mut ops: Vec<(u64, usize, String, String)> = plan
        .workers
        .iter()
        .flat_map(|w| {
            w.ops.iter().map(move |o| {
                let args = serde_json::to_value(&o.op)
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                (o.at_ns, w.worker, w.node.to_string(), args)
            })
        })
        .collect();
    ops.sort();
    let _ = write!(s, "<h3>Remaining planned ops ({})</h3>", ops.len());
    s.push_str("<table><tr><th>at</th><th>worker</th><th>node</th><th>op</th></tr>");
    for (at, w, node, args) in ops.iter().take(OPS_LISTED) {
        let _ = write!(
            s,
            "<tr><td>{:.3} s</td><td>{w}</td><td>{}</td><td><code>{}</code></td></tr>",
            *at as f64 / 1e9,
            esc(node),
            esc(args)
        );
    }
    s.push_str("</table>");
    if ops.len() > OPS_LISTED {
        let _ = write!(
            s,
            "<p>… and {} more in plan.json.</p>",
            ops.len() - OPS_LISTED
        );
    }
    s.push_str("</section>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the section names every remaining fault and op and links to the original.
    #[test]
    fn the_section_lists_what_is_left_and_links_back() {
        let mut o = crate::plan::tests_support::opts(3);
        o.time_limit_ms = 3000;
        o.nemesis_interval_ms = 1000;
        o.concurrency = 1;
        let plan = crate::plan::generate(&o);
        let info = Info {
            original: "/store/x/run-seed3".into(),
            original_size: Size::of(&plan),
            reproduced: 2,
            runs: 3,
            minimal: true,
            deterministic: false,
            rerun: "gauntlet run --plan=x".into(),
        };
        let s = section(&plan, &info);
        assert!(s.contains("href=\"../report.html\""));
        assert!(s.contains("reproduces 2 of 3 tries"));
        let exact = section(
            &plan,
            &Info {
                deterministic: true,
                reproduced: 1,
                runs: 1,
                ..info.clone()
            },
        );
        assert!(exact.contains("reproduces exact (deterministic)"));
        assert_eq!(s.matches("<td><code>").count(), Size::of(&plan).ops);
        assert!(!plan.faults.is_empty());
        for f in &plan.faults {
            assert!(s.contains(&esc(&f.name)), "{}", f.name);
        }
    }
}
