//! Linearizability checker benchmark (a plain bench binary; prints a table).
//!
//! Run: `cargo bench -p checkers --bench linearizable` (add `-- quick` for one repetition).
//! Histories come from the seeded generator `checkers::linearizable::generate`; every number
//! is the median of several repetitions of the check alone (generation excluded).
//! Results and conditions: docs/performance-lin.md.

use std::time::{Duration, Instant};

use checkers::linearizable::generate::{generate, GenConfig, Plant};
use checkers::linearizable::{check_ops, LinOptions, ModelKind};
use checkers::Verdict;
use histories::Op;
use serde_json::json;

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn opts(init: serde_json::Value) -> LinOptions {
    LinOptions {
        model: ModelKind::CasRegister,
        init,
        timeout: None,
        ..LinOptions::default()
    }
}

/// Peak resident memory of this process so far (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// 102 single-key histories shaped like Jepsen's etcd ones: 5 workers renumbered after
/// each `info` (10-20 processes per history), about 80 ops, values 0-4, initially nil,
/// 15% `info`; half of them with a planted stale read (most of Jepsen's etcd histories are
/// not linearizable, and proving that is the expensive case).
fn etcd_like() -> Vec<Vec<Op>> {
    let cfg = GenConfig {
        ops: 80,
        keys: 1,
        workers: 5,
        info_ratio: 0.15,
        fail_ratio: 0.0,
        values: 5,
        ..GenConfig::default()
    };
    let mut out = Vec::new();
    let mut seed = 0;
    while out.len() < 102 {
        let plant = if out.len() % 2 == 0 {
            Plant::StaleRead
        } else {
            Plant::Nothing
        };
        if let Some(h) = generate(&cfg, seed, plant) {
            out.push(h);
        }
        seed += 1;
    }
    out
}

/// CPU time (user + system, all threads) of this process so far, from /proc/self/stat
/// (clock ticks of 10 ms: USER_HZ is 100 on Linux).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    // Fields after the ")": state, then ppid (field 4), ...; utime and stime are fields 14, 15.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = field(14) + field(15);
    Duration::from_millis(ticks * 10)
}

/// Wall time per repetition (median) and CPU time per repetition (mean), with verdict counts.
fn time_all(histories: &[Vec<Op>], o: &LinOptions, reps: usize) -> (Duration, [usize; 3]) {
    let mut times = Vec::new();
    let mut counts = [0; 3];
    let cpu0 = cpu_time();
    for _ in 0..reps {
        counts = [0; 3];
        let t = Instant::now();
        for h in histories {
            let r = check_ops(h, o).expect("generated histories are well formed");
            counts[match r.valid {
                Verdict::Valid => 0,
                Verdict::Invalid => 1,
                Verdict::Unknown => 2,
            }] += 1;
        }
        times.push(t.elapsed());
    }
    let cpu = (cpu_time() - cpu0) / reps as u32;
    println!("  (cpu {:.0} ms per repetition)", cpu.as_secs_f64() * 1e3);
    (median(times), counts)
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let reps = if quick { 1 } else { 7 };
    println!("threads: {}", rayon::current_num_threads());

    let etcd = etcd_like();
    let procs: Vec<usize> = etcd
        .iter()
        .map(|h| {
            h.iter()
                .map(|o| o.process)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        })
        .collect();
    let (t, c) = time_all(&etcd, &opts(json!(null)), reps);
    println!(
        "etcd-like: 102 histories, {}-{} processes each, {} valid / {} invalid / {} unknown: {:.1} ms total (median of {reps})",
        procs.iter().min().unwrap_or(&0),
        procs.iter().max().unwrap_or(&0),
        c[0],
        c[1],
        c[2],
        t.as_secs_f64() * 1e3
    );
    let (t, c) = time_all(
        &etcd,
        &LinOptions {
            explain: false,
            ..opts(json!(null))
        },
        reps,
    );
    println!(
        "etcd-like without counterexamples: {:.1} ms total ({} invalid)",
        t.as_secs_f64() * 1e3,
        c[1]
    );

    let big_cfg = GenConfig {
        ops: 100_000,
        keys: 100,
        workers: 20,
        info_ratio: 0.02,
        fail_ratio: 0.02,
        values: 10,
        ..GenConfig::default()
    };
    let big = generate(&big_cfg, 1, Plant::Nothing).expect("no plant");
    let before = peak_rss_mib();
    let (t, c) = time_all(std::slice::from_ref(&big), &opts(json!(0)), reps.min(5));
    println!(
        "100,000-op cas-register, 100 keys, 20 workers ({} lines): {:.1} ms, valid={}, peak RSS {:.0} MiB ({:.0} MiB before checking: the history in memory)",
        big.len(),
        t.as_secs_f64() * 1e3,
        c[0] == 1,
        peak_rss_mib(),
        before
    );
    drop(big);

    println!("\ngrowth with ops (100 keys, 20 workers, 2% info):");
    println!("| ops | time (ms) |");
    for n in [10_000usize, 30_000, 100_000, 300_000] {
        let h = generate(
            &GenConfig {
                ops: n,
                ..big_cfg.clone()
            },
            2,
            Plant::Nothing,
        )
        .expect("no plant");
        let (t, _) = time_all(std::slice::from_ref(&h), &opts(json!(0)), reps.min(3));
        println!("| {n} | {:.1} |", t.as_secs_f64() * 1e3);
    }
    println!("\ngrowth with concurrency (one key, 2,000 ops, 5% info):");
    println!("| workers | processes | time (ms) |");
    for w in [2u64, 5, 10, 20, 40] {
        let cfg = GenConfig {
            ops: 2_000,
            keys: 1,
            workers: w,
            info_ratio: 0.05,
            fail_ratio: 0.02,
            values: 10,
            ..GenConfig::default()
        };
        let h = generate(&cfg, 3, Plant::Nothing).expect("no plant");
        let p = h
            .iter()
            .map(|o| o.process)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let (t, c) = time_all(std::slice::from_ref(&h), &opts(json!(0)), reps.min(3));
        println!(
            "| {w} | {p} | {:.1}{} |",
            t.as_secs_f64() * 1e3,
            if c[2] > 0 { " (unknown: budget)" } else { "" }
        );
    }
}
