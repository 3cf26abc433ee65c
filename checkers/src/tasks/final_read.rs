//! The final read's passes: the fast scanner for the usual shape and the serde visitor that
//! decides everything else. Both classify entries as they go, never building a map of
//! hundreds of thousands of tasks.

use std::borrow::Cow;
use std::collections::VecDeque;

use serde::Deserialize;

use super::{Classes, SubmitEvidence, SubmitOutcome, TaskFlags};
use crate::flat::{plain_str, plain_u64};
use crate::id_table::{IdHash, IdTable};

/// Entries looked up together: their table slots are loaded first, in one tight loop (the
/// loads are independent, so their cache misses overlap), then the ids they point at, then
/// the entries are looked up and classified from cache.
const GROUP: usize = 64;

/// A read at least this long (in bytes) is scanned in two halves on two threads (the reader
/// thread is done by then, so the final read has both cores).
const SPLIT_BYTES: usize = 1 << 18;

/// The fast path of the final read, for the shape the nodes write
/// (`{"tasks":{"ID":{"state":"S","runs":N},…}}`, compact, no escapes): classifies each entry
/// as [`Entries`] does, at scanning speed. `None` when the text has any other shape (the
/// caller then runs the serde pass, which decides); nothing is changed then.
pub(super) fn fast_read(
    text: &str,
    ids: &IdTable,
    best: &[Option<SubmitEvidence>],
    flags: &mut [TaskFlags],
    classes: &mut Classes,
) -> Option<()> {
    let body = text.strip_prefix(r#"{"tasks":{"#)?;
    if body == "}}" {
        return Some(());
    }
    let view: &[TaskFlags] = flags;
    let (found, more) = match split(body) {
        Some((a, b)) if body.len() >= SPLIT_BYTES => std::thread::scope(|s| {
            let second = s.spawn(|| scan_part(b, true, ids, best, view));
            let first = scan_part(a, false, ids, best, view);
            let second = second
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let (mut found, mut classes) = first?;
            let (found_b, classes_b) = second?;
            found.extend(found_b);
            classes.merge(classes_b);
            Some((found, classes))
        })?,
        _ => scan_part(body, true, ids, best, view)?,
    };
    for i in found {
        flags[i as usize].set_in_read(true);
    }
    classes.merge(more);
    Some(())
}

/// `body` cut in two between entries near its middle: at the first `},"` after the middle.
/// That sequence can also occur inside a state string (`"state":"x},"`); the halves then do
/// not scan and the serde pass decides, so a wrong cut costs time, never a wrong result.
fn split(body: &str) -> Option<(&str, &str)> {
    let mid = body.len() / 2;
    let at = mid
        + body.as_bytes()[mid..]
            .windows(3)
            .position(|w| w == b"},\"")?;
    Some((&body[..=at], &body[at + 2..]))
}

/// Scans the entries of `part` (separated by commas; the last part ends with the closing
/// `}}`) and classifies them; returns the numbers of the submitted tasks found, to be marked
/// as read, and the classes. `None` for any other shape.
fn scan_part(
    part: &str,
    last: bool,
    ids: &IdTable,
    best: &[Option<SubmitEvidence>],
    flags: &[TaskFlags],
) -> Option<(Vec<u32>, Classes)> {
    type Group<'t> = Vec<(ReadItem<'t>, IdHash)>;
    let mut found = Vec::with_capacity(part.len() / 32);
    let mut classes = Classes::default();
    // A software pipeline over groups of entries, so the misses of three groups are in
    // flight together: a new group's table slots are loaded, the previous group's ids (the
    // slots point at them) are loaded, and the group before that is looked up from cache.
    let touch_slots = |g: &Group<'_>| {
        std::hint::black_box(g.iter().fold(0u64, |acc, (_, h)| acc ^ ids.touch(*h)));
    };
    let touch_keys = |g: &Group<'_>| {
        std::hint::black_box(g.iter().fold(0u8, |acc, (_, h)| {
            acc ^ ids.candidate(*h).map_or(0, |n| ids.touch_key(n))
        }));
    };
    let mut classify = |g: Group<'_>| {
        for (e, h) in g {
            let num = ids.get(e.id, h);
            found.extend(num);
            let outcome = num.and_then(|i| flags[i as usize].outcome());
            if outcome == Some(SubmitOutcome::Ok) && e.state == "done" && e.runs <= 1 {
                classes.read += 1; // what `Classes::entry` does for an unremarkable entry
                continue;
            }
            let submit = num.and_then(|i| best[i as usize].as_ref());
            let st = ReadState {
                state: Cow::Borrowed(e.state),
                runs: e.runs,
            };
            classes.entry(e.id, st, submit);
        }
    };
    let mut in_flight: VecDeque<Group<'_>> = VecDeque::with_capacity(3);
    let mut group: Group<'_> = Vec::with_capacity(GROUP);
    let mut rest = part;
    loop {
        let (e, r) = scan_entry(rest)?;
        group.push((e, IdHash::of(e.id)));
        let end = if let Some(r) = r.strip_prefix(',') {
            rest = r;
            false
        } else if (last && r == "}}") || (!last && r.is_empty()) {
            true
        } else {
            return None;
        };
        if group.len() == GROUP || end {
            touch_slots(&group);
            if let Some(previous) = in_flight.back() {
                touch_keys(previous);
            }
            in_flight.push_back(std::mem::replace(&mut group, Vec::with_capacity(GROUP)));
            if in_flight.len() == 3 {
                classify(in_flight.pop_front().unwrap_or_default());
            }
        }
        if end {
            if let Some(newest) = in_flight.back() {
                touch_keys(newest);
            }
            for g in in_flight {
                classify(g);
            }
            return Some((found, classes));
        }
    }
}

/// One entry of the final read, borrowed from its text.
#[derive(Clone, Copy)]
struct ReadItem<'t> {
    id: &'t str,
    state: &'t str,
    runs: u64,
}

/// The entry `"ID":{"state":"S","runs":N}` (either key order) at the start of `rest`, and
/// what follows it; `None` for any other shape.
fn scan_entry(rest: &str) -> Option<(ReadItem<'_>, &str)> {
    let (id, r) = plain_str(rest)?;
    // Both key orders: serde_json's `Value` (sorted keys) writes `runs` first.
    let (state, runs, r) = if let Some(r) = r.strip_prefix(r#":{"state":"#) {
        let (state, r) = plain_str(r)?;
        let (runs, r) = plain_u64(r.strip_prefix(r#","runs":"#)?)?;
        (state, runs, r)
    } else {
        let (runs, r) = plain_u64(r.strip_prefix(r#":{"runs":"#)?)?;
        let (state, r) = plain_str(r.strip_prefix(r#","state":"#)?)?;
        (state, runs, r)
    };
    let r = r.strip_prefix('}')?;
    Some((ReadItem { id, state, runs }, r))
}

/// A map key borrowed from the text when it has no escapes (serde's own `Cow` copies).
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
pub(super) struct ReadState<'a> {
    #[serde(borrow)]
    pub state: Cow<'a, str>,
    pub runs: u64,
}

/// Decodes the final read's `{"tasks": {ID: {"state", "runs"}}}` in one pass, classifying
/// each entry as it is parsed instead of building a map of hundreds of thousands of tasks.
pub(super) struct ReadPass<'c> {
    pub ids: &'c IdTable,
    pub best: &'c [Option<SubmitEvidence>],
    pub flags: &'c mut [TaskFlags],
    pub classes: &'c mut Classes,
}

impl<'de> serde::de::DeserializeSeed<'de> for ReadPass<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ReadPass<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object with a \"tasks\" map")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        let (ids, best, flags, classes) = (self.ids, self.best, self.flags, self.classes);
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key != "tasks" || found {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            found = true;
            map.next_value_seed(Entries {
                ids,
                best,
                flags: &mut *flags,
                classes: &mut *classes,
            })?;
        }
        if !found {
            return Err(serde::de::Error::missing_field("tasks"));
        }
        Ok(())
    }
}

/// The `tasks` map itself.
struct Entries<'c> {
    ids: &'c IdTable,
    best: &'c [Option<SubmitEvidence>],
    flags: &'c mut [TaskFlags],
    classes: &'c mut Classes,
}

impl<'de> serde::de::DeserializeSeed<'de> for Entries<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Entries<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map from task id to {\"state\", \"runs\"}")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(id)) = map.next_key::<Key<'de>>()? {
            let st: ReadState<'de> = map.next_value()?;
            let submit = match self.ids.get(&id, IdHash::of(&id)) {
                Some(i) => {
                    self.flags[i as usize].set_in_read(true);
                    self.best[i as usize].as_ref()
                }
                None => None,
            };
            self.classes.entry(&id, st, submit);
        }
        Ok(())
    }
}
