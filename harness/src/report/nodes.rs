//! The "Node events" section: every nemesis op in order, a per-node tally of kills, restarts,
//! pauses and partitions with the last exit status seen, any node-status JSON the run dir
//! holds, and the tail of each node's log.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde_json::Value;

use super::load::{Op, RunData};
use super::svg::esc;

/// Per-node counts for the summary table.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NodeTally {
    /// Events per nemesis f (kill, restart, pause, ...), counted per node named.
    pub events: BTreeMap<String, usize>,
    /// The last exit status the history reported for it.
    pub exit: Option<String>,
}

/// The nodes a nemesis op names: `node`, `nodes`, and both sides of a `grudge`.
pub fn nodes_of(op: &Op) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(n) = &op.node {
        out.insert(n.clone());
    }
    let v = &op.value;
    if let Some(s) = v.get("node").and_then(Value::as_str) {
        out.insert(s.to_string());
    }
    if let Some(arr) = v.get("nodes").and_then(Value::as_array) {
        out.extend(arr.iter().filter_map(Value::as_str).map(str::to_string));
    }
    if let Some(g) = v.get("grudge").and_then(Value::as_object) {
        for (k, dropped) in g {
            out.insert(k.clone());
            if let Some(arr) = dropped.as_array() {
                out.extend(arr.iter().filter_map(Value::as_str).map(str::to_string));
            }
        }
    }
    out
}

/// Looks for an exit status in a nemesis op's value (`exit`, `exit_status`, `status`, ...).
fn exit_of(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    obj.iter()
        .find(|(k, _)| k.contains("exit") || k.as_str() == "status" || k.as_str() == "signal")
        .map(|(k, v)| {
            format!(
                "{k}: {}",
                match v {
                    Value::String(s) => s.clone(),
                    o => o.to_string(),
                }
            )
        })
}

/// Tallies nemesis events per node.
pub fn tally(nemesis_ops: &[Op]) -> BTreeMap<String, NodeTally> {
    let mut out: BTreeMap<String, NodeTally> = BTreeMap::new();
    for op in nemesis_ops {
        for n in nodes_of(op) {
            let t = out.entry(n).or_default();
            *t.events.entry(op.f.clone()).or_default() += 1;
            if let Some(e) = exit_of(&op.value) {
                t.exit = Some(e);
            }
        }
    }
    out
}

/// Per node, from the run's `nodes.json` (as `gauntlet run` writes it: `{id: {restarts, last:
/// {pid, state, exit…}}}`): the restart count and the last known process state, as text.
fn node_status(data: &RunData) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for v in data.node_files.values() {
        let Some(obj) = v.as_object() else { continue };
        for (id, node) in obj {
            let restarts = node
                .get("restarts")
                .map(|r| r.to_string())
                .unwrap_or_default();
            let last = node.get("last").map(|l| l.to_string()).unwrap_or_default();
            if !restarts.is_empty() || !last.is_empty() {
                out.insert(id.clone(), (restarts, last));
            }
        }
    }
    out
}

/// Renders the section body.
pub fn render(data: &RunData, nemesis_ops: &[Op]) -> String {
    let mut out = String::new();
    let tallies = tally(nemesis_ops);
    let mut nodes: BTreeSet<String> = tallies.keys().cloned().collect();
    nodes.extend(
        data.node_logs
            .keys()
            .map(|n| n.trim_end_matches(".log").to_string()),
    );
    if nodes.is_empty() {
        out.push_str("<p class=\"empty\">No node events recorded.</p>");
    } else {
        out.push_str("<table class=\"nodes\"><thead><tr><th>node</th><th>events</th><th>last exit status (history)</th><th>restarts</th><th>state at the end</th></tr></thead><tbody>");
        let status = node_status(data);
        for n in &nodes {
            let t = tallies.get(n).cloned().unwrap_or_default();
            let ev: Vec<String> = t.events.iter().map(|(f, c)| format!("{f}×{c}")).collect();
            let (restarts, last) = status.get(n).cloned().unwrap_or_default();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(n),
                esc(&ev.join(", ")),
                esc(t.exit.as_deref().unwrap_or("—")),
                esc(&restarts),
                esc(&last)
            );
        }
        out.push_str("</tbody></table>");
    }
    if !nemesis_ops.is_empty() {
        out.push_str("<table class=\"events\"><thead><tr><th>#</th><th>time (s)</th><th>f</th><th>nodes</th><th>value</th><th>error</th></tr></thead><tbody>");
        for op in nemesis_ops {
            let ns: Vec<String> = nodes_of(op).into_iter().collect();
            let _ = write!(
                out,
                "<tr class=\"nemrow\"><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                op.index,
                op.time as f64 / 1e9,
                esc(&op.f),
                esc(&ns.join(" ")),
                esc(&truncate(&op.value.to_string(), 400)),
                esc(op.error.as_deref().unwrap_or(""))
            );
        }
        out.push_str("</tbody></table>");
    }
    for (name, v) in &data.node_files {
        let pretty = serde_json::to_string_pretty(v).unwrap_or_default();
        let _ = write!(
            out,
            "<details open><summary>{}</summary><pre>{}</pre></details>",
            esc(name),
            esc(&truncate(&pretty, 20_000))
        );
    }
    for (name, (size, lines)) in &data.node_logs {
        let _ = write!(
            out,
            "<details class=\"log\"><summary>nodes/{} ({} bytes, last {} lines)</summary><pre>{}</pre></details>",
            esc(name),
            size,
            lines.len(),
            esc(&lines.join("\n"))
        );
    }
    out
}

/// Cuts `s` to at most `max` bytes on a char boundary, marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::load::{OpType, Process};
    use serde_json::json;

    fn nem(f: &str, value: Value) -> Op {
        Op {
            index: 0,
            time: 0,
            process: Process::Nemesis,
            kind: OpType::Info,
            f: f.into(),
            value,
            node: None,
            error: None,
        }
    }

    #[test]
    fn tallies_events_per_node_including_grudges_and_exit_status() {
        let ops = vec![
            nem("kill", json!({"nodes": ["n1", "n2"]})),
            nem(
                "restart",
                json!({"nodes": ["n1"], "exit_status": "signal 9"}),
            ),
            nem("start-partition", json!({"grudge": {"n3": ["n4"]}})),
        ];
        let t = tally(&ops);
        assert_eq!(t["n1"].events["kill"], 1);
        assert_eq!(t["n1"].exit.as_deref(), Some("exit_status: signal 9"));
        assert_eq!(t["n2"].exit, None);
        assert_eq!(t["n4"].events["start-partition"], 1);
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h…");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
