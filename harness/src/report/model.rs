//! From a flat history to what the report draws: operations paired into intervals (invoke to
//! completion), per-process lanes, and nemesis windows.

use std::collections::BTreeMap;

use super::load::{Op, OpType, Process};

/// One client operation from its invoke to its completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// The process that ran it.
    pub process: u64,
    /// Its function.
    pub f: String,
    /// Index of the invoke line.
    pub invoke_index: u64,
    /// Index of the completion line, `None` if the history ends first.
    pub complete_index: Option<u64>,
    /// Invoke time, ns.
    pub start: u64,
    /// Completion time, ns (the history's end when it never completed).
    pub end: u64,
    /// ok / fail / info; `Invoke` means it never completed.
    pub outcome: OpType,
}

impl Interval {
    /// Latency in ns, for completed ops only.
    pub fn latency(&self) -> Option<u64> {
        self.complete_index
            .map(|_| self.end.saturating_sub(self.start))
    }
}

/// What sort of fault a nemesis window is, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultClass {
    /// Network partition.
    Partition,
    /// Node killed.
    Kill,
    /// Node paused.
    Pause,
    /// Anything else the nemesis reported.
    Other,
}

impl FaultClass {
    fn of(name: &str) -> FaultClass {
        if name.contains("partition") {
            FaultClass::Partition
        } else if name.contains("kill") || name.contains("crash") {
            FaultClass::Kill
        } else if name.contains("pause") {
            FaultClass::Pause
        } else {
            FaultClass::Other
        }
    }

    /// The CSS class name.
    pub fn name(self) -> &'static str {
        match self {
            FaultClass::Partition => "partition",
            FaultClass::Kill => "kill",
            FaultClass::Pause => "pause",
            FaultClass::Other => "other",
        }
    }
}

/// A span of time during which a fault was in effect.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The fault's name, e.g. `partition`.
    pub name: String,
    /// Its class, for colour.
    pub class: FaultClass,
    /// Start, ns.
    pub start: u64,
    /// End, ns (the history's end when it was never healed in the history).
    pub end: u64,
    /// History index of the op that opened it.
    pub start_index: u64,
}

/// The history, paired up.
#[derive(Debug, Default)]
pub struct Model {
    /// Client operations, in invoke order.
    pub intervals: Vec<Interval>,
    /// Client process numbers, ascending: one timeline lane each.
    pub processes: Vec<u64>,
    /// Nemesis windows, by start time.
    pub windows: Vec<Window>,
    /// Every nemesis op, in history order.
    pub nemesis_ops: Vec<Op>,
    /// Time of the last op, ns.
    pub end_time: u64,
    /// Distinct client fs, sorted.
    pub fs: Vec<String>,
}

/// Pairs invokes with completions and finds the nemesis windows.
pub fn build(ops: &[Op]) -> Model {
    let end_time = ops.iter().map(|o| o.time).max().unwrap_or(0);
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut model = Model {
        end_time,
        ..Model::default()
    };
    let mut procs = std::collections::BTreeSet::new();
    let mut fs = std::collections::BTreeSet::new();
    let mut windows = WindowTracker::default();
    for op in ops {
        let p = match op.process {
            Process::Nemesis => {
                windows.observe(op);
                model.nemesis_ops.push(op.clone());
                continue;
            }
            Process::Client(p) => p,
        };
        procs.insert(p);
        if op.kind == OpType::Invoke {
            fs.insert(op.f.clone());
            open.insert(p, model.intervals.len());
            model.intervals.push(Interval {
                process: p,
                f: op.f.clone(),
                invoke_index: op.index,
                complete_index: None,
                start: op.time,
                end: end_time,
                outcome: OpType::Invoke,
            });
        } else if let Some(i) = open.remove(&p) {
            let iv = &mut model.intervals[i];
            iv.complete_index = Some(op.index);
            iv.end = op.time;
            iv.outcome = op.kind;
        }
    }
    model.processes = procs.into_iter().collect();
    model.fs = fs.into_iter().collect();
    model.windows = windows.finish(end_time);
    model
}

/// Tracks open fault windows while scanning nemesis ops.
///
/// The history format does not fix nemesis fs, so the pairing is by convention:
/// `start-X`/`stop-X`, `kill`/`restart`, `pause`/`resume`, `partition`/`heal`; a bare
/// `heal`, `heal-all` or `stop-all` closes everything; an op whose value has
/// `"phase": "start"|"stop"` (or `"end"`) pairs by its f.
#[derive(Debug, Default)]
struct WindowTracker {
    open: BTreeMap<String, (u64, u64)>,
    done: Vec<Window>,
}

impl WindowTracker {
    fn observe(&mut self, op: &Op) {
        if op.kind == OpType::Invoke {
            return;
        }
        let f = op.f.as_str();
        let phase = op.value.get("phase").and_then(|v| v.as_str());
        let (opens, name) = match (f, phase) {
            (_, Some("start")) => (true, f.to_string()),
            (_, Some("stop" | "end")) => (false, f.to_string()),
            ("heal" | "heal-all" | "stop-all" | "repair", _) => {
                self.close_all(op.time);
                return;
            }
            ("kill" | "crash", _) => (true, "kill".to_string()),
            ("restart" | "start-node", _) => (false, "kill".to_string()),
            ("pause", _) => (true, "pause".to_string()),
            ("resume", _) => (false, "pause".to_string()),
            ("partition", _) => (true, "partition".to_string()),
            // A clock bump's heal is `clock-reset` (the other clock faults are start-/stop-).
            ("clock-bump", _) => (true, "clock-bump".to_string()),
            ("clock-reset", _) => (false, "clock-bump".to_string()),
            _ => match (f.strip_prefix("start-"), f.strip_prefix("stop-")) {
                (Some(n), _) => (true, n.to_string()),
                (_, Some(n)) => (false, n.to_string()),
                _ => return,
            },
        };
        if opens {
            self.open.entry(name).or_insert((op.time, op.index));
        } else if let Some((start, start_index)) = self.open.remove(&name) {
            self.push(name, start, op.time, start_index);
        }
    }

    fn push(&mut self, name: String, start: u64, end: u64, start_index: u64) {
        let class = FaultClass::of(&name);
        self.done.push(Window {
            name,
            class,
            start,
            end,
            start_index,
        });
    }

    fn close_all(&mut self, time: u64) {
        for (name, (start, idx)) in std::mem::take(&mut self.open) {
            self.push(name, start, time, idx);
        }
    }

    fn finish(mut self, end_time: u64) -> Vec<Window> {
        self.close_all(end_time);
        self.done.sort_by_key(|w| (w.start, w.start_index));
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(index: u64, time: u64, process: Process, kind: OpType, f: &str) -> Op {
        Op {
            index,
            time,
            process,
            kind,
            f: f.into(),
            value: json!(null),
            node: None,
            error: None,
        }
    }

    #[test]
    fn pairs_ops_per_process_and_leaves_unfinished_ones_open() {
        let ops = vec![
            op(0, 10, Process::Client(0), OpType::Invoke, "submit"),
            op(1, 12, Process::Client(1), OpType::Invoke, "acquire"),
            op(2, 30, Process::Client(0), OpType::Ok, "submit"),
            op(3, 40, Process::Client(0), OpType::Invoke, "submit"),
            op(4, 50, Process::Client(1), OpType::Info, "acquire"),
        ];
        let m = build(&ops);
        assert_eq!(m.intervals.len(), 3);
        assert_eq!(m.intervals[0].latency(), Some(20));
        assert_eq!(m.intervals[1].outcome, OpType::Info);
        assert_eq!(m.intervals[1].complete_index, Some(4));
        assert_eq!(m.intervals[2].outcome, OpType::Invoke);
        assert_eq!(
            m.intervals[2].end, 50,
            "an unfinished op runs to the end of the history"
        );
        assert_eq!(m.processes, vec![0, 1]);
        assert_eq!(m.fs, vec!["acquire".to_string(), "submit".to_string()]);
    }

    #[test]
    fn nemesis_windows_pair_by_convention_and_close_at_the_end() {
        let n = Process::Nemesis;
        let ops = vec![
            op(0, 100, n, OpType::Info, "start-partition"),
            op(1, 200, n, OpType::Info, "kill"),
            op(2, 300, n, OpType::Info, "stop-partition"),
            op(3, 400, n, OpType::Info, "pause"),
            op(4, 500, n, OpType::Info, "restart"),
            op(5, 900, Process::Client(0), OpType::Invoke, "submit"),
        ];
        let m = build(&ops);
        let got: Vec<_> = m
            .windows
            .iter()
            .map(|w| (w.name.as_str(), w.start, w.end, w.class))
            .collect();
        assert_eq!(
            got,
            vec![
                ("partition", 100, 300, FaultClass::Partition),
                ("kill", 200, 500, FaultClass::Kill),
                ("pause", 400, 900, FaultClass::Pause),
            ]
        );
        assert_eq!(m.nemesis_ops.len(), 5);
    }

    #[test]
    fn clock_and_link_faults_make_windows() {
        // Proves a clock bump (healed by clock-reset), a strobe and a loss show as windows.
        let n = Process::Nemesis;
        let ops = vec![
            op(0, 100, n, OpType::Info, "clock-bump"),
            op(1, 150, n, OpType::Info, "start-loss"),
            op(2, 200, n, OpType::Info, "clock-reset"),
            op(3, 250, n, OpType::Info, "start-clock-strobe"),
            op(4, 300, n, OpType::Info, "stop-loss"),
            op(5, 350, n, OpType::Info, "stop-clock-strobe"),
        ];
        let m = build(&ops);
        let got: Vec<_> = m
            .windows
            .iter()
            .map(|w| (w.name.as_str(), w.start, w.end))
            .collect();
        assert_eq!(
            got,
            vec![
                ("clock-bump", 100, 200),
                ("loss", 150, 300),
                ("clock-strobe", 250, 350)
            ]
        );
    }
}
