//! Reading a run directory for the report: the history, results.json, test.json and the
//! node logs.
//!
//! The report reads the history tolerantly, line by line, rather than through the strict
//! `histories` reader (into the same op model, `histories::Op`): the run most worth looking at is often the one whose controller died
//! mid-write, and a report that refuses a torn last line would hide exactly that run. Lines
//! that do not parse are skipped and listed as warnings on the page.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use histories::{Op, OpType, Process};

/// The op type of a history line's `type`.
fn parse_type(s: &str) -> Option<OpType> {
    Some(match s {
        "invoke" => OpType::Invoke,
        "ok" => OpType::Ok,
        "fail" => OpType::Fail,
        "info" => OpType::Info,
        _ => return None,
    })
}

/// Everything the report shows, read from one run directory.
#[derive(Debug, Default)]
pub struct RunData {
    /// The run directory.
    pub dir: PathBuf,
    /// test.json, when present and parseable.
    pub test: Option<Value>,
    /// results.json, when present and parseable.
    pub results: Option<Value>,
    /// The history, in file order.
    pub ops: Vec<Op>,
    /// Node logs: file name -> (size in bytes, last lines).
    pub node_logs: BTreeMap<String, (u64, Vec<String>)>,
    /// Other JSON files of the run dir that mention nodes (e.g. exit statuses), by file name.
    pub node_files: BTreeMap<String, Value>,
    /// The run directory's marker state (see [`crate::run_marker`]); anything but finished
    /// overrides the verdict on the page, so an aborted run never shows as passing.
    pub dir_state: Option<crate::run_marker::RunDirState>,
    /// Problems met while reading (bad lines, missing files); shown on the page.
    pub warnings: Vec<String>,
}

/// How many trailing lines of each node log the page embeds.
const LOG_TAIL_LINES: usize = 30;

/// Reads a run directory. Only an unreadable directory is an error: missing or malformed
/// files become warnings, so that a half-written run still gets a report.
pub fn load(dir: &Path) -> anyhow::Result<RunData> {
    load_with(dir, None)
}

/// [`load`], with the history already read (`Some(ops)`: it is not read again).
pub fn load_with(dir: &Path, ops: Option<Vec<Op>>) -> anyhow::Result<RunData> {
    let meta = fs::metadata(dir).map_err(|e| {
        crate::exit::bad_input(format!("{}: cannot read run directory: {e}", dir.display()))
    })?;
    if !meta.is_dir() {
        return Err(crate::exit::bad_input(format!(
            "{}: not a directory",
            dir.display()
        )));
    }
    let mut data = RunData {
        dir: dir.to_path_buf(),
        ..RunData::default()
    };
    let state = crate::run_marker::state(dir);
    if !state.is_finished() {
        data.warnings.push(format!(
            "this run is {}: its results are not those of a finished run",
            state.describe()
        ));
    }
    data.dir_state = Some(state);
    data.test = read_json(&dir.join("test.json"), &mut data.warnings);
    data.results = read_json(&dir.join("results.json"), &mut data.warnings);
    match ops {
        Some(ops) => data.ops = ops,
        None => read_history(&dir.join("history.jsonl"), &mut data),
    }
    read_node_logs(&dir.join("nodes"), &mut data);
    read_node_files(dir, &mut data);
    Ok(data)
}

fn read_json(path: &Path, warnings: &mut Vec<String>) -> Option<Value> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            warnings.push(format!("{}: {e}", path.display()));
            return None;
        }
    };
    match serde_json::from_str(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            warnings.push(format!("{}: not valid JSON: {e}", path.display()));
            None
        }
    }
}

/// At most this many per-line warnings are kept; the rest are counted.
const MAX_LINE_WARNINGS: usize = 20;

fn read_history(path: &Path, data: &mut RunData) {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            data.warnings.push(format!("{}: {e}", path.display()));
            return;
        }
    };
    let mut bad = 0usize;
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                data.warnings
                    .push(format!("{}:{}: {e}", path.display(), n + 1));
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match parse_op(&line) {
            Ok(op) => data.ops.push(op),
            Err(msg) => {
                bad += 1;
                if bad <= MAX_LINE_WARNINGS {
                    data.warnings
                        .push(format!("{}:{}: skipped: {msg}", path.display(), n + 1));
                }
            }
        }
    }
    if bad > MAX_LINE_WARNINGS {
        data.warnings.push(format!(
            "{}: {} more unparseable lines skipped",
            path.display(),
            bad - MAX_LINE_WARNINGS
        ));
    }
}

/// Parses one history line (DESIGN.md "History format").
pub fn parse_op(line: &str) -> Result<Op, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let num = |k: &str| {
        obj.get(k)
            .and_then(Value::as_u64)
            .ok_or(format!("missing or bad \"{k}\""))
    };
    let process = match obj.get("process") {
        Some(Value::String(s)) if s == "nemesis" => Process::Nemesis,
        Some(p) => Process::Client(p.as_u64().ok_or("bad \"process\"")?),
        None => return Err("missing \"process\"".into()),
    };
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .and_then(parse_type)
        .ok_or("missing or bad \"type\"")?;
    let text = |k: &str| match obj.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    Ok(Op {
        index: num("index")?,
        time: num("time")?,
        process,
        kind,
        f: text("f").ok_or("missing \"f\"")?,
        value: obj.get("value").cloned().unwrap_or(Value::Null),
        node: text("node"),
        error: text("error"),
    })
}

fn read_node_logs(dir: &Path, data: &mut RunData) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !path.is_file() {
            continue;
        }
        if name.ends_with(".json") {
            if let Some(v) = read_json(&path, &mut data.warnings) {
                data.node_files.insert(format!("nodes/{name}"), v);
            }
            continue;
        }
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        data.node_logs
            .insert(name, (size, tail_lines(&path, LOG_TAIL_LINES)));
    }
}

/// JSON files in the run dir beyond the three known ones (for example the run's record of
/// node exit statuses). Shown as-is under "Node events".
fn read_node_files(dir: &Path, data: &mut RunData) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let known = ["test.json", "results.json", "plan.json"];
        if name.ends_with(".json") && !known.contains(&name.as_str()) && name.contains("node") {
            if let Some(v) = read_json(&entry.path(), &mut data.warnings) {
                data.node_files.insert(name, v);
            }
        }
    }
}

/// The last `n` lines of a file, reading at most its last 64 KiB.
fn tail_lines(path: &Path, n: usize) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(n);
    lines[skip..].iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_design_example_lines() {
        let op = parse_op(r#"{"index":4,"time":9950,"process":"nemesis","type":"info","f":"start-partition","value":{"grudge":{"n1":["n3"]}}}"#).unwrap();
        assert_eq!(op.process, Process::Nemesis);
        assert_eq!(op.kind, OpType::Info);
        assert_eq!(op.f, "start-partition");
        let op = parse_op(r#"{"index":1,"time":5400,"process":0,"type":"ok","f":"submit","value":{"task":"t0-1"},"node":"n2"}"#).unwrap();
        assert_eq!(op.process, Process::Client(0));
        assert_eq!(op.node.as_deref(), Some("n2"));
    }

    #[test]
    fn rejects_bad_lines_with_a_reason() {
        assert!(parse_op("{\"index\":1").unwrap_err().contains("not JSON"));
        let e = parse_op(r#"{"index":1,"time":2,"process":0,"type":"maybe","f":"x"}"#).unwrap_err();
        assert!(e.contains("type"), "{e}");
        let e = parse_op(r#"{"index":1,"time":2,"process":-3,"type":"ok","f":"x"}"#).unwrap_err();
        assert!(e.contains("process"), "{e}");
    }
}
