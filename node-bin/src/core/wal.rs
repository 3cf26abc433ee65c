//! The acceptor log format: pure encoding, decoding and replay (the shell does the file IO).
//!
//! Each record is the full new state of one acceptor slot, framed as
//! `len: u32 LE | checksum: u64 LE (FNV-1a of the payload) | JSON payload`. Replay keeps the
//! last record of every key; a torn or corrupt tail (a crash in the middle of an append) ends
//! the replay there, which is safe because nothing in that tail was ever acknowledged (the
//! shell fsyncs before it sends any reply).

use super::message::{Ballot, Key, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The durable state of one acceptor slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub key: Key,
    pub promised: Ballot,
    pub accepted: Option<(Ballot, Value)>,
}

const HEADER: usize = 12;

/// 64-bit FNV-1a: enough to detect a torn write, no dependency.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Appends the framed encoding of `rec` to `buf`.
pub fn encode(rec: &Record, buf: &mut Vec<u8>) {
    let payload = serde_json::to_vec(rec).expect("a Record always serializes");
    let len = u32::try_from(payload.len()).expect("a record is far below 4 GiB");
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&fnv1a(&payload).to_le_bytes());
    buf.extend_from_slice(&payload);
}

/// What replaying a log found.
#[derive(Debug, Default)]
pub struct Replay {
    /// Last record per key.
    pub slots: BTreeMap<Key, Record>,
    /// Number of intact records read.
    pub records: usize,
    /// Byte length of the intact prefix (the shell truncates the file to it).
    pub valid_len: usize,
    /// True when bytes after the intact prefix were dropped.
    pub torn_tail: bool,
}

/// Decodes a whole log, stopping at the first torn or corrupt record.
pub fn replay(bytes: &[u8]) -> Replay {
    let mut out = Replay::default();
    let mut pos = 0;
    while pos < bytes.len() {
        let Some(rec_len) = frame_len(&bytes[pos..]) else {
            out.torn_tail = true;
            break;
        };
        let payload = &bytes[pos + HEADER..pos + HEADER + rec_len];
        match serde_json::from_slice::<Record>(payload) {
            Ok(rec) => {
                out.slots.insert(rec.key.clone(), rec);
                out.records += 1;
                pos += HEADER + rec_len;
                out.valid_len = pos;
            }
            Err(_) => {
                out.torn_tail = true;
                break;
            }
        }
    }
    out
}

/// Length of the payload of the frame at the start of `bytes`, if the frame is whole and its
/// checksum matches.
fn frame_len(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < HEADER {
        return None;
    }
    let len = u32::from_le_bytes(bytes[0..4].try_into().ok()?) as usize;
    let sum = u64::from_le_bytes(bytes[4..12].try_into().ok()?);
    let payload = bytes.get(HEADER..HEADER + len)?;
    (fnv1a(payload) == sum).then_some(len)
}

/// Compaction policy: rewrite the log once it holds many more records than live keys.
pub fn should_compact(records: usize, live: usize) -> bool {
    records > 2 * live + 10_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::message::{LockVal, NodeId};

    fn rec(key: &str, round: u64) -> Record {
        Record {
            key: key.into(),
            promised: Ballot {
                round,
                node: NodeId::from("n1"),
                gen: 1,
            },
            accepted: Some((
                Ballot::zero(),
                Value::Lock(LockVal {
                    holder: None,
                    token: round,
                    ttl_ms: 1,
                    op: None,
                }),
            )),
        }
    }

    #[test]
    fn replay_keeps_last_record_per_key() {
        let mut buf = Vec::new();
        encode(&rec("a", 1), &mut buf);
        encode(&rec("b", 2), &mut buf);
        encode(&rec("a", 3), &mut buf);
        let r = replay(&buf);
        assert_eq!(r.records, 3);
        assert_eq!(r.slots.len(), 2);
        assert_eq!(r.slots["a"].promised.round, 3);
        assert_eq!(r.valid_len, buf.len());
        assert!(!r.torn_tail);
    }

    #[test]
    fn torn_tail_is_dropped_at_every_cut() {
        let mut buf = Vec::new();
        encode(&rec("a", 1), &mut buf);
        let first = buf.len();
        encode(&rec("a", 2), &mut buf);
        // Cutting anywhere inside the second record keeps exactly the first.
        for cut in first + 1..buf.len() {
            let r = replay(&buf[..cut]);
            assert_eq!(r.records, 1, "cut at {cut}");
            assert_eq!(r.valid_len, first);
            assert!(r.torn_tail);
            assert_eq!(r.slots["a"].promised.round, 1);
        }
    }

    #[test]
    fn corrupt_byte_stops_replay() {
        let mut buf = Vec::new();
        encode(&rec("a", 1), &mut buf);
        let first = buf.len();
        encode(&rec("a", 2), &mut buf);
        buf[first + HEADER + 3] ^= 0x55;
        let r = replay(&buf);
        assert_eq!(r.records, 1);
        assert!(r.torn_tail);
    }
}
