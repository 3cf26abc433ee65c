//! Validation of a history's sequence rules (Jepsen's semantics), one op at a time:
//! indexes 0, 1, 2, …; non-decreasing time; each client process alternates invoke and one
//! completion with the same `f`; a process whose op completed with `info` is never used again.
//!
//! The nemesis is exempt from pairing: its events may be lone `info` ops or invoke/info pairs.
//! The state held is one entry per client process seen, so memory grows with the number of
//! processes, never with the length of the history.

use crate::error::{HistoryError, Location, Result};
use crate::fxhash::FxHashMap;
use crate::op::{OpType, Process};

/// What the validator needs to know of one op.
#[derive(Debug, Clone, Copy)]
pub struct OpHead<'a> {
    /// The op's index.
    pub index: u64,
    /// The op's time.
    pub time: u64,
    /// Who performed it.
    pub process: Process,
    /// Its type.
    pub kind: OpType,
    /// Its function.
    pub f: &'a str,
}

#[derive(Debug, Clone, Copy)]
enum ProcState {
    Idle,
    /// An invoke is outstanding: its index and the interned `f`.
    Outstanding {
        index: u64,
        f: usize,
    },
    /// Completed with `info` at this index: never to be used again.
    Crashed {
        info_index: u64,
    },
}

/// Checks the sequence rules. Feed it every op in order with [`Validator::observe`].
#[derive(Debug, Default)]
pub struct Validator {
    next_index: u64,
    last: Option<(u64, u64)>, // (index, time) of the previous op
    procs: FxHashMap<u64, ProcState>,
    fs: Vec<String>,
}

impl Validator {
    /// A validator expecting index 0 next.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of client processes that currently have an invoke outstanding.
    pub fn outstanding(&self) -> usize {
        self.procs
            .values()
            .filter(|s| matches!(s, ProcState::Outstanding { .. }))
            .count()
    }

    fn intern(&mut self, f: &str) -> usize {
        match self.fs.iter().position(|x| x == f) {
            Some(i) => i,
            None => {
                self.fs.push(f.to_string());
                self.fs.len() - 1
            }
        }
    }

    /// Checks `op` against everything seen before; `at` locates the error. On error the
    /// validator's state is unchanged.
    pub fn observe(&mut self, op: &OpHead<'_>, at: impl FnOnce() -> Location) -> Result<()> {
        if op.index != self.next_index {
            return Err(HistoryError::IndexOutOfSequence {
                at: at(),
                found: op.index,
                expected: self.next_index,
            });
        }
        if let Some((previous_index, previous)) = self.last {
            if op.time < previous {
                return Err(HistoryError::TimeBackwards {
                    at: at(),
                    found: op.time,
                    previous,
                    previous_index,
                });
            }
        }
        if let Process::Client(p) = op.process {
            self.pair(p, op, at)?;
        }
        self.next_index += 1;
        self.last = Some((op.index, op.time));
        Ok(())
    }

    fn pair(&mut self, p: u64, op: &OpHead<'_>, at: impl FnOnce() -> Location) -> Result<()> {
        let state = self.procs.get(&p).copied().unwrap_or(ProcState::Idle);
        let next = match (state, op.kind) {
            (ProcState::Crashed { info_index }, _) => {
                return Err(HistoryError::ProcessReused {
                    at: at(),
                    process: op.process,
                    info_index,
                })
            }
            (ProcState::Outstanding { index, .. }, OpType::Invoke) => {
                return Err(HistoryError::SecondInvoke {
                    at: at(),
                    process: op.process,
                    outstanding_index: index,
                })
            }
            (ProcState::Idle, OpType::Invoke) => ProcState::Outstanding {
                index: op.index,
                f: self.intern(op.f),
            },
            (ProcState::Idle, kind) => {
                return Err(HistoryError::CompletionWithoutInvoke {
                    at: at(),
                    process: op.process,
                    kind,
                    f: op.f.to_string(),
                })
            }
            (ProcState::Outstanding { index, f }, kind) => {
                if self.fs[f] != op.f {
                    return Err(HistoryError::CompletionMismatch {
                        at: at(),
                        process: op.process,
                        f: op.f.to_string(),
                        invoke_f: self.fs[f].clone(),
                        invoke_index: index,
                    });
                }
                if kind == OpType::Info {
                    ProcState::Crashed {
                        info_index: op.index,
                    }
                } else {
                    ProcState::Idle
                }
            }
        };
        self.procs.insert(p, next);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(index: u64, time: u64, p: u64, kind: OpType, f: &str) -> OpHead<'_> {
        OpHead {
            index,
            time,
            process: Process::Client(p),
            kind,
            f,
        }
    }

    fn at() -> Location {
        Location {
            path: None,
            line: 1,
        }
    }

    #[test]
    fn accepts_a_well_formed_sequence() {
        // Proves interleaved pairs from two processes, a crashed process, and nemesis events pass.
        let mut v = Validator::new();
        let ops = [
            head(0, 1, 0, OpType::Invoke, "submit"),
            head(1, 2, 1, OpType::Invoke, "acquire"),
            head(2, 2, 0, OpType::Ok, "submit"),
            head(3, 3, 1, OpType::Info, "acquire"),
            head(4, 4, 2, OpType::Invoke, "acquire"),
        ];
        for op in &ops {
            v.observe(op, at).unwrap();
        }
        let nem = OpHead {
            index: 5,
            time: 4,
            process: Process::Nemesis,
            kind: OpType::Info,
            f: "start-partition",
        };
        v.observe(&nem, at).unwrap();
        assert_eq!(v.outstanding(), 1);
    }

    #[test]
    fn rejects_each_sequence_error() {
        // Proves each rule produces its own error variant.
        let mut v = Validator::new();
        let e = v
            .observe(&head(1, 0, 0, OpType::Invoke, "a"), at)
            .unwrap_err();
        assert!(matches!(
            e,
            HistoryError::IndexOutOfSequence { expected: 0, .. }
        ));
        v.observe(&head(0, 10, 0, OpType::Invoke, "a"), at).unwrap();
        let e = v
            .observe(&head(1, 9, 1, OpType::Invoke, "a"), at)
            .unwrap_err();
        assert!(matches!(
            e,
            HistoryError::TimeBackwards { previous: 10, .. }
        ));
        let e = v
            .observe(&head(1, 10, 0, OpType::Invoke, "a"), at)
            .unwrap_err();
        assert!(matches!(
            e,
            HistoryError::SecondInvoke {
                outstanding_index: 0,
                ..
            }
        ));
        let e = v.observe(&head(1, 10, 1, OpType::Ok, "a"), at).unwrap_err();
        assert!(matches!(e, HistoryError::CompletionWithoutInvoke { .. }));
        let e = v.observe(&head(1, 10, 0, OpType::Ok, "b"), at).unwrap_err();
        assert!(matches!(
            e,
            HistoryError::CompletionMismatch {
                invoke_index: 0,
                ..
            }
        ));
        v.observe(&head(1, 10, 0, OpType::Info, "a"), at).unwrap();
        let e = v
            .observe(&head(2, 10, 0, OpType::Invoke, "a"), at)
            .unwrap_err();
        assert!(matches!(
            e,
            HistoryError::ProcessReused { info_index: 1, .. }
        ));
    }
}
