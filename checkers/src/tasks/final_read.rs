//! The final read's passes: the fast scanner for the usual shape and the serde visitor that
//! decides everything else. Both classify entries as they go, never building a map of
//! hundreds of thousands of tasks.

use std::borrow::Cow;

use histories::fxhash::FxHashMap;
use serde::Deserialize;

use super::{Classes, SubmitOutcome, TaskRec};
use crate::task_key::TaskKey;

/// The fast path of the final read, for the shape the nodes write
/// (`{"tasks":{"ID":{"state":"S","runs":N},…}}`, compact, no escapes): classifies each entry
/// as [`Entries`] does, at scanning speed. `None` when the text has any other shape (the
/// caller then undoes the marks and runs the serde pass, which decides).
pub(super) fn fast_read(
    text: &str,
    ids: &FxHashMap<TaskKey, u32>,
    outcomes: &[Option<SubmitOutcome>],
    recs: &mut [TaskRec],
    classes: &mut Classes,
) -> Option<()> {
    let entries = scan_read(text)?;
    // Looking the ids up is memory-bound (the id table and the records are far larger than
    // the caches): done in tight loops, on two threads for a large read, so the misses overlap.
    let look = |part: &[ReadItem<'_>]| -> Vec<Option<(u32, Option<SubmitOutcome>)>> {
        part.iter()
            .map(|e| {
                let i = *ids.get(&TaskKey::new(e.id))?;
                Some((i, outcomes[i as usize]))
            })
            .collect()
    };
    let found = if entries.len() >= 1 << 14 {
        let (a, b) = entries.split_at(entries.len() / 2);
        std::thread::scope(|s| {
            let second = s.spawn(|| look(b));
            let mut found = look(a);
            found.extend(
                second
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
            found
        })
    } else {
        look(&entries)
    };
    for &(i, _) in found.iter().flatten() {
        recs[i as usize].in_read = true;
    }
    for (e, f) in entries.iter().zip(&found) {
        let outcome = f.and_then(|(_, o)| o);
        if outcome == Some(SubmitOutcome::Ok) && e.state == "done" && e.runs <= 1 {
            classes.read += 1; // what `Classes::entry` does for an unremarkable entry
            continue;
        }
        let submit = f.and_then(|(i, _)| recs[i as usize].best.as_ref());
        let st = ReadState {
            state: Cow::Borrowed(e.state),
            runs: e.runs,
        };
        classes.entry(e.id, st, submit);
    }
    Some(())
}

/// One entry of the final read, borrowed from its text.
struct ReadItem<'t> {
    id: &'t str,
    state: &'t str,
    runs: u64,
}

/// The entries of a final read of the usual shape, in order; `None` for any other shape.
fn scan_read(text: &str) -> Option<Vec<ReadItem<'_>>> {
    let mut out = Vec::new();
    let mut rest = text.strip_prefix(r#"{"tasks":{"#)?;
    if rest == "}}" {
        return Some(out);
    }
    loop {
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
        out.push(ReadItem { id, state, runs });
        if let Some(r) = r.strip_prefix(',') {
            rest = r;
        } else {
            return (r == "}}").then_some(out);
        }
    }
}

/// A `u64` at the start of `s` as serde_json reads one (digits, no leading zero, no
/// overflow; a fraction or exponent fails later on the next expected byte).
fn plain_u64(s: &str) -> Option<(u64, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, r) = s.split_at(digits);
    if num.is_empty() || (num.len() > 1 && num.starts_with('0')) {
        return None;
    }
    Some((num.parse().ok()?, r))
}

/// `"S"` at the start of `s` (no escapes): S and what follows.
fn plain_str(s: &str) -> Option<(&str, &str)> {
    let s = s.strip_prefix('"')?;
    let end = s.bytes().position(|c| c == b'"' || c == b'\\')?;
    if s.as_bytes()[end] != b'"' {
        return None;
    }
    Some((&s[..end], &s[end + 1..]))
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
    pub ids: &'c FxHashMap<TaskKey, u32>,
    pub recs: &'c mut [TaskRec],
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
        let (ids, recs, classes) = (self.ids, self.recs, self.classes);
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key != "tasks" || found {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            found = true;
            map.next_value_seed(Entries {
                ids,
                recs: &mut *recs,
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
    ids: &'c FxHashMap<TaskKey, u32>,
    recs: &'c mut [TaskRec],
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
            let submit = match self.ids.get(&TaskKey::new(&id)) {
                Some(&i) => {
                    let rec = &mut self.recs[i as usize];
                    rec.in_read = true;
                    rec.best.as_ref()
                }
                None => None,
            };
            self.classes.entry(&id, st, submit);
        }
        Ok(())
    }
}
