//! Counterexamples: the smallest window of the history that cannot be linearized.
//!
//! A window `[s, e]` of history positions is checked on its own: ops invoked in it and
//! returned by `e` must be linearized; ops that straddle `s` (invoked before, still running
//! at `s`), ops returning after `e` and `info` ops are optional; ops that returned before `s`
//! are left out and stand summarized by the model's "any state" at the start (the initial
//! state when `s` is the first call). That is an over-approximation, so a window found
//! non-linearizable is a real witness: no linearization of the whole history exists.
//! Optional ops still obey their return: taking effect, if at all, before it.
//! `e` is the return of the op the full search got stuck on; `s` is pushed as late as it goes
//! (galloping, then bisection; each probe is a small budgeted search).

use super::history::Entry;
use super::model::Model;
use super::search::{search, Budget, Found, Item};

/// Steps allowed for each window probe.
const PROBE_STEPS: u64 = 200_000;

/// The ops of window `[s, e]` as search items, with their entry ids.
fn window<O>(entries: &[Entry<O>], s: u32, e: u32) -> (Vec<usize>, Vec<Item<'_, O>>) {
    let mut ids = Vec::new();
    let mut items = Vec::new();
    for (id, en) in entries.iter().enumerate() {
        if en.call > e || en.ret.is_some_and(|r| r < s) {
            continue;
        }
        let required = en.call >= s && en.ret.is_some_and(|r| r <= e);
        ids.push(id);
        items.push(Item {
            op: &en.op,
            call: en.call,
            ret: en.ret,
            required,
        });
    }
    (ids, items)
}

/// True if window `[s, e]` was shown not linearizable (a probe out of budget says false).
fn invalid<M: Model>(model: &M, entries: &[Entry<M::Op>], s: u32, e: u32, start: M::State) -> bool {
    let (_, items) = window(entries, s, e);
    let budget = Budget::steps(PROBE_STEPS);
    matches!(
        search(model, &items, start, &budget).found,
        Found::NotLinearizable(_)
    )
}

/// A non-linearizable window: the entry ids in it, which of them are required, and whether
/// it starts from the initial state (else from any state).
#[derive(Debug, Clone)]
pub struct Window {
    /// Entry ids and whether each is required.
    pub ops: Vec<(usize, bool)>,
    /// True when the window starts at the first op, from the initial state.
    pub from_init: bool,
}

/// The smallest window ending at position `e` that is not linearizable, or `None` if even the
/// whole prefix up to `e` could not be shown so within the probe budget.
pub fn smallest_window<M: Model>(model: &M, entries: &[Entry<M::Op>], e: u32) -> Option<Window> {
    let mut starts: Vec<u32> = entries
        .iter()
        .map(|en| en.call)
        .filter(|&c| c <= e)
        .collect();
    starts.dedup();
    let first = *starts.first()?;
    if !invalid(model, entries, first, e, model.init()) {
        return None;
    }
    let mut best = 0usize;
    if let Some(any) = model.any_state() {
        let probe = |j: usize| invalid(model, entries, starts[j], e, any.clone());
        // Gallop down from the latest start to the first invalid one, then bisect.
        let mut valid_above = starts.len();
        let mut j = starts.len() - 1;
        let mut stride = 1;
        while j > 0 && !probe(j) {
            valid_above = j;
            j = j.saturating_sub(stride);
            stride *= 2;
        }
        while valid_above - j > 1 {
            let mid = (j + valid_above) / 2;
            if probe(mid) {
                j = mid;
            } else {
                valid_above = mid;
            }
        }
        best = j;
    }
    let s = starts[best];
    let (ids, items) = window(entries, s, e);
    let ops = ids
        .into_iter()
        .zip(items)
        .map(|(id, it)| (id, it.required))
        .collect();
    Some(Window {
        ops,
        from_init: best == 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linearizable::models::register::RegOp;
    use crate::linearizable::models::Register;
    use crate::linearizable::values::Values;
    use histories::Process;
    use serde_json::json;

    fn entry(op: RegOp, call: u32, ret: Option<u32>) -> Entry<RegOp> {
        Entry {
            op,
            call,
            ret,
            index: u64::from(call),
            ret_index: ret.map(u64::from),
            process: Process::Client(0),
        }
    }

    #[test]
    fn window_skips_the_unrelated_past() {
        // write 1; write 2; ... then a concurrent write 4 and a read of 3 (Knossos's
        // rethink-fail-minimal shape): the window holds the write 2, the read and the write 4.
        let mut vals = Values::new();
        let m = Register::cas(&json!(0), &mut vals);
        let (w1, w2, w4, r3) = (
            vals.intern(&json!(1)),
            vals.intern(&json!(2)),
            vals.intern(&json!(4)),
            vals.intern(&json!(3)),
        );
        let entries = vec![
            entry(RegOp::Write(w1), 0, Some(1)),
            entry(RegOp::Write(w2), 2, Some(3)),
            entry(RegOp::Read(r3), 4, Some(6)),
            entry(RegOp::Write(w4), 5, Some(7)),
        ];
        let w = smallest_window(&m, &entries, 6).expect("not linearizable");
        assert!(!w.from_init);
        let ids: Vec<usize> = w.ops.iter().map(|(id, _)| *id).collect();
        assert!(!ids.contains(&0), "the first write is irrelevant: {ids:?}");
        assert!(ids.contains(&2), "the bad read is in the window: {ids:?}");
    }
}
