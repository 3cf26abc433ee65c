//! The plan's clock, lossy-link and slow-link faults: how the generator draws them, and what
//! a (hand-edited) plan file's entries of these kinds must hold beyond the nemesis's own field
//! checks ([`Fault::validate`]: probabilities in [0, 1], offsets within ±10 years, ...).
//!
//! The same entries mean the same faults wherever a plan is run: they are the nemesis crate's
//! [`Fault`] values, serialized as they are (`{"kind": "clock-bump", "nodes": [..],
//! "offset_ms": -5000}`).
//!
//! What is drawn, and why:
//! - **clock** (half the time every node, else a random non-empty subset: a wall-clock fault
//!   must never cost the correct node anything, and in a quorum system a fault on a minority
//!   is outvoted, so most clock faults reach a majority): 5/8 bumps, 2/8 strobes, 1/8 drifts.
//!   A bump jumps by ±250 ms to ±1 h (log-uniform, either direction; its heal jumps back the
//!   other way); a strobe flips between 0 and ±1 s..±1 h every 10-500 ms for the whole fault;
//!   a drift runs the wall clock at 0.9-1.1 × real speed.
//! - **lossy**: a random non-empty set of directed links loses 10-60 % of packets.
//! - **slow**: a minority of nodes sends at 1, 4 or 16 Mbit/s (token bucket of 16 KiB, 50-500 ms
//!   of queue), rates whose measurement takes at most about 0.2 s a node.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::faults::{Fault, NodeId};
use nemesis::Link;

/// A random non-empty subset of the nodes, of a uniformly drawn size, sorted.
fn some_nodes(nodes: &[NodeId], rng: &mut ChaCha8Rng) -> Vec<NodeId> {
    let k = rng.gen_range(1..=nodes.len());
    let mut v: Vec<NodeId> = nodes.choose_multiple(rng, k).cloned().collect();
    v.sort();
    v
}

/// Log-uniform whole milliseconds in `[lo, hi]`.
fn log_ms(lo: u64, hi: u64, rng: &mut ChaCha8Rng) -> i64 {
    let (a, b) = ((lo as f64).ln(), (hi as f64).ln());
    (rng.gen_range(a..=b).exp().round() as i64).clamp(lo as i64, hi as i64)
}

fn signed(ms: i64, rng: &mut ChaCha8Rng) -> i64 {
    if rng.gen_bool(0.5) {
        ms
    } else {
        -ms
    }
}

/// A clock fault lasting `span_ms` (a strobe strobes for all of it).
pub(super) fn clock(nodes: &[NodeId], span_ms: u64, rng: &mut ChaCha8Rng) -> (String, Fault) {
    let targets = if rng.gen_bool(0.5) {
        nodes.to_vec()
    } else {
        some_nodes(nodes, rng)
    };
    let roll = rng.gen_range(0..8);
    let fault = match roll {
        0..=4 => Fault::ClockBump {
            nodes: targets,
            offset_ms: signed(log_ms(250, 3_600_000, rng), rng),
        },
        5 | 6 => Fault::ClockStrobe {
            nodes: targets,
            a_ms: 0,
            b_ms: signed(log_ms(1_000, 3_600_000, rng), rng),
            period_ms: rng.gen_range(10..=500),
            duration_ms: span_ms.max(1),
        },
        _ => {
            // 0.900 to 1.100, never exactly 1 (a drift that changes nothing).
            let mut milli = rng.gen_range(900..=1099);
            if milli >= 1000 {
                milli += 1;
            }
            Fault::ClockDrift {
                nodes: targets,
                rate: milli as f64 / 1000.0,
            }
        }
    };
    (fault.kind().to_string(), fault)
}

/// A loss fault on a random non-empty set of directed links.
pub(super) fn lossy(nodes: &[NodeId], rng: &mut ChaCha8Rng) -> (String, Fault) {
    let all: Vec<Link> = nodes
        .iter()
        .flat_map(|a| {
            nodes
                .iter()
                .filter(move |b| *b != a)
                .map(move |b| Link::new(a.clone(), b.clone()))
        })
        .collect();
    let mut links: Vec<Link> = all.iter().filter(|_| rng.gen_bool(0.5)).cloned().collect();
    if links.is_empty() {
        if let Some(l) = all.choose(rng) {
            links.push(l.clone());
        }
    }
    let probability = rng.gen_range(10..=60) as f64 / 100.0;
    ("loss".into(), Fault::Loss { links, probability })
}

/// A slow fault on `targets` (a minority, drawn by the caller).
pub(super) fn slow(targets: Vec<NodeId>, rng: &mut ChaCha8Rng) -> (String, Fault) {
    let rate_kbit = *[1024, 4096, 16384].choose(rng).expect("rates");
    let fault = Fault::Slow {
        nodes: targets,
        rate_kbit,
        burst_bytes: 16 * 1024,
        latency_ms: rng.gen_range(50..=500),
    };
    ("slow".into(), fault)
}

/// A plan entry of a new kind: the nemesis's field checks, then what would count as an
/// applied fault that did nothing (a bump of 0, a strobe between equal offsets, a drift at
/// speed 1, a loss of probability 0, no link), which a run must not count as a fault.
pub(super) fn validate(fault: &Fault, known: &BTreeSet<&NodeId>) -> Result<(), String> {
    let kind = fault.kind();
    let nodes: Vec<NodeId> = known.iter().map(|n| (*n).clone()).collect();
    fault.validate(&nodes).map_err(|e| e.to_string())?;
    let twice = |list: &[NodeId]| {
        let mut seen = BTreeSet::new();
        list.iter().find(|n| !seen.insert(*n)).cloned()
    };
    let nothing = match fault {
        Fault::ClockBump { offset_ms: 0, .. } => Some("an offset of 0 ms"),
        Fault::ClockStrobe { a_ms, b_ms, .. } if a_ms == b_ms => Some("a_ms equal to b_ms"),
        Fault::ClockStrobe { duration_ms: 0, .. } => Some("a duration of 0 ms"),
        Fault::ClockDrift { rate, .. } if *rate == 1.0 => Some("a rate of 1"),
        Fault::Loss { probability, .. } if *probability == 0.0 => Some("a probability of 0"),
        _ => None,
    };
    if let Some(what) = nothing {
        return Err(format!("{kind} with {what} changes nothing"));
    }
    match fault {
        Fault::Loss { links, .. } => {
            let mut seen = BTreeSet::new();
            if let Some(l) = links.iter().find(|l| !seen.insert((&l.from, &l.to))) {
                return Err(format!(
                    "{kind} names the link {} -> {} twice",
                    l.from, l.to
                ));
            }
        }
        Fault::ClockBump { nodes, .. }
        | Fault::ClockStrobe { nodes, .. }
        | Fault::ClockDrift { nodes, .. }
        | Fault::Slow { nodes, .. } => {
            if let Some(n) = twice(nodes) {
                return Err(format!("{kind} names {n} twice"));
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::opts;
    use super::super::{generate, Plan};
    use super::*;
    use crate::config::{FaultKind, NemesisSet};

    fn plan(nemesis: &str, seed: u64) -> Plan {
        let mut o = opts(seed);
        o.nemesis = nemesis.parse::<NemesisSet>().unwrap();
        generate(&o)
    }

    #[test]
    fn each_new_kind_is_planned_valid_and_only_when_asked() {
        // Proves `--nemesis clock|lossy|slow` plans faults of that kind only, every one of
        // which passes the plan-file check, over 20 seeds; and that over those seeds every
        // clock shape (bump both ways, strobe, drift) is drawn.
        let mut shapes = BTreeSet::new();
        for (name, kind) in [
            ("clock", FaultKind::Clock),
            ("lossy", FaultKind::Lossy),
            ("slow", FaultKind::Slow),
        ] {
            for seed in 0..20 {
                let p = plan(name, seed);
                p.validate()
                    .unwrap_or_else(|e| panic!("{name} seed {seed}: {e}"));
                assert!(!p.faults.is_empty(), "{name} seed {seed}: no fault");
                for f in &p.faults {
                    assert_eq!(FaultKind::of(&f.fault), Some(kind), "{:?}", f.fault);
                    match &f.fault {
                        Fault::ClockBump { offset_ms, .. } => {
                            shapes.insert(if *offset_ms > 0 { "ahead" } else { "back" });
                        }
                        Fault::ClockStrobe { duration_ms, .. } => {
                            assert_eq!(*duration_ms, (f.heal_at_ns - f.at_ns) / 1_000_000);
                            shapes.insert("strobe");
                        }
                        Fault::ClockDrift { rate, .. } => {
                            assert!((0.9..=1.1).contains(rate) && *rate != 1.0, "{rate}");
                            shapes.insert("drift");
                        }
                        Fault::Loss { probability, links } => {
                            assert!((0.1..=0.6).contains(probability), "{probability}");
                            assert!(!links.is_empty());
                        }
                        Fault::Slow { nodes, .. } => assert!(nodes.len() <= 2, "{nodes:?}"),
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
        }
        assert_eq!(
            shapes,
            BTreeSet::from(["ahead", "back", "strobe", "drift"]),
            "not every clock shape was drawn"
        );
    }

    #[test]
    fn all_includes_the_new_kinds() {
        // Proves `all` now plans clock, lossy and slow faults too (over 30 seeds).
        let mut kinds = BTreeSet::new();
        for seed in 0..30 {
            for f in plan("all", seed).faults {
                kinds.insert(FaultKind::of(&f.fault).unwrap());
            }
        }
        assert_eq!(kinds, FaultKind::ALL.into_iter().collect());
    }

    /// A clock-only plan whose first fault is replaced by `f`; the error it gets.
    fn refused(f: Fault) -> String {
        let mut p = plan("clock,lossy,slow", 4);
        p.validate().unwrap();
        p.faults[0].fault = f;
        p.validate().expect_err("accepted")
    }

    #[test]
    fn bad_entries_of_the_new_kinds_name_the_entry_and_field() {
        // Proves a probability outside [0, 1], a bump beyond ±10 years, an unknown node, and
        // faults that change nothing are refused, naming the entry and the field.
        let n = |s: &str| NodeId::from(s);
        let e = refused(Fault::Loss {
            links: vec![Link::from("n1->n2")],
            probability: 1.5,
        });
        assert!(
            e.starts_with("faults[0]: ") && e.contains("`probability`") && e.contains("[0, 1]"),
            "{e}"
        );
        let e = refused(Fault::ClockBump {
            nodes: vec![n("n1")],
            offset_ms: i64::MAX,
        });
        assert!(e.contains("`offset_ms`") && e.contains("10 years"), "{e}");
        let e = refused(Fault::ClockBump {
            nodes: vec![n("n7")],
            offset_ms: 5,
        });
        assert_eq!(e, "faults[0]: clock-bump names n7, which is not a node");
        let e = refused(Fault::ClockBump {
            nodes: vec![n("n1")],
            offset_ms: 0,
        });
        assert_eq!(
            e,
            "faults[0]: clock-bump with an offset of 0 ms changes nothing"
        );
        let e = refused(Fault::ClockDrift {
            nodes: vec![n("n1"), n("n1")],
            rate: 1.05,
        });
        assert_eq!(e, "faults[0]: clock-drift names n1 twice");
        let e = refused(Fault::Loss {
            links: vec![Link::from("n1->n2"), Link::from("n1->n2")],
            probability: 0.5,
        });
        assert_eq!(e, "faults[0]: loss names the link n1 -> n2 twice");
        let e = refused(Fault::Netem {
            nodes: vec![n("n1")],
            delay_ms: 5,
            duplicate: 0.0,
            reorder: 0.0,
        });
        assert!(e.contains("netem"), "{e}");
    }

    #[test]
    fn a_kind_the_options_do_not_plan_is_refused() {
        // Proves a clock fault in a plan whose options.nemesis lacks clock is refused.
        let mut p = plan("lossy", 2);
        p.faults[0].fault = Fault::ClockBump {
            nodes: vec![NodeId::from("n1")],
            offset_ms: 10,
        };
        assert_eq!(
            p.validate().unwrap_err(),
            "faults[0]: a clock-bump, but options.nemesis is lossy"
        );
    }
}
