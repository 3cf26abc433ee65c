//! Determinism you can trust: one seed gives byte-identical histories, results and event hash
//! chains, run after run, on one thread or on several at once.

use sim::drive::{run, DriveOpts};
use sim::trace::{check_determinism, Trace};
use sim::{Sim, SimConfig};
use std::time::Duration;

/// A short run (3 s of workload with every fault kind, then recovery and the final read), so
/// 200 runs fit in a debug test.
fn short() -> DriveOpts {
    DriveOpts {
        duration: Duration::from_secs(3),
        recovery_budget: Duration::from_secs(4),
        workers: 6,
        ..DriveOpts::default()
    }
}

/// (trace, history.jsonl text, results.json text) of one seed.
fn fingerprint(seed: u64) -> (Trace, String, String) {
    let o = run(&short(), seed);
    let results = serde_json::to_string(&o.results).expect("results serialize");
    let history = o.history_jsonl();
    (o.trace, history, results)
}

#[test]
fn a_hundred_seeds_twice_give_identical_bytes_on_one_thread_and_on_two() {
    let seeds: Vec<u64> = (0..100).collect();
    let first: Vec<_> = seeds.iter().map(|s| fingerprint(*s)).collect();
    // The second pass runs the seeds interleaved over two threads at once: nothing in a
    // simulation may depend on which thread runs it or on what runs beside it.
    let second: Vec<(u64, (Trace, String, String))> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2u64)
            .map(|k| {
                scope.spawn(move || {
                    (0..100u64)
                        .filter(|s| s % 2 == k)
                        .map(|s| (s, fingerprint(s)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("a simulation thread panicked"))
            .collect();
        all.sort_by_key(|(s, _)| *s);
        all
    });
    let mut distinct = std::collections::BTreeSet::new();
    for (seed, b) in second {
        let a = &first[seed as usize];
        // Rerun one seed: cargo test -p gauntlet-sim --test determinism
        assert_eq!(a.0, b.0, "seed {seed}: event hash chains differ");
        assert_eq!(a.1, b.1, "seed {seed}: histories differ");
        assert_eq!(a.2, b.2, "seed {seed}: results differ");
        assert!(
            a.0.events > 1_000,
            "seed {seed}: only {} events",
            a.0.events
        );
        distinct.insert(a.0.hash);
    }
    // Different seeds explore different runs.
    assert_eq!(distinct.len(), 100, "seeds collide in their event hash");
}

#[test]
fn the_driver_checks_its_own_determinism() {
    let s = sim::drive::check_determinism(&short(), 3).expect("deterministic");
    assert!(s.history.len() > 100, "{} ops", s.history.len());
}

fn plain_run(cfg: SimConfig, seed: u64) -> Trace {
    let mut sim = Sim::new(cfg, seed).expect("nodes");
    for i in 0..300u64 {
        let node = format!("n{}", i % 5 + 1);
        let cmd = node_bin::core::node::ClientCmd::Submit {
            id: format!("t{i}"),
            work_ms: 10,
        };
        sim.invoke(i * 20_000_000, &node, cmd, None)
            .expect("known node");
    }
    sim.run_until(10_000_000_000);
    sim.trace().clone()
}

#[test]
fn check_determinism_passes_a_pure_run_and_names_where_a_tainted_one_diverges() {
    let ok = check_determinism(|| plain_run(SimConfig::default(), 5)).expect("a pure run");
    assert!(
        ok.checkpoints.len() > 2,
        "{} checkpoints",
        ok.checkpoints.len()
    );
    // A run that lets something outside the seed in (here: the second run's disk is 1 µs
    // slower, as a stray wall-clock read would make it) must be caught, with the place.
    let calls = std::cell::Cell::new(0u64);
    let tainted = check_determinism(|| {
        calls.set(calls.get() + 1);
        let mut cfg = SimConfig::default();
        cfg.disk.fsync_max += Duration::from_micros(calls.get());
        plain_run(cfg, 5)
    });
    let err = tainted.expect_err("a tainted run must not pass");
    assert!(
        err.to_string().contains("virtual time"),
        "the divergence names its virtual time: {err}"
    );
}

/// The child half of the cross-process test: prints one seed's fingerprint, then exits.
#[test]
fn child_prints_a_fingerprint() {
    let Ok(seed) = std::env::var("GAUNTLET_SIM_CHILD_SEED") else {
        // Only meaningful when the parent test starts this binary as a child.
        eprintln!("child_prints_a_fingerprint: not started as a child, nothing to do");
        return;
    };
    let (trace, history, results) = fingerprint(seed.parse().expect("a seed"));
    let h = |s: &str| node_bin::core::wal::fnv1a(s.as_bytes());
    println!(
        "FINGERPRINT {:016x} {} {:016x} {:016x}",
        trace.hash,
        trace.events,
        h(&history),
        h(&results)
    );
}

#[test]
fn separate_processes_with_different_environments_give_identical_runs() {
    // Per-process entropy (hash seeds, addresses, environment) must not reach a run: this
    // test binary is started twice more, with different environments and working
    // directories, and each child's fingerprint of seed 7 must equal this process's.
    let (trace, history, results) = fingerprint(7);
    let h = |s: &str| node_bin::core::wal::fnv1a(s.as_bytes());
    let here = format!(
        "FINGERPRINT {:016x} {} {:016x} {:016x}",
        trace.hash,
        trace.events,
        h(&history),
        h(&results)
    );
    let exe = std::env::current_exe().expect("this test binary");
    let dir = tempfile::tempdir().expect("a temp dir");
    for (cwd, extra) in [
        (dir.path(), "a"),
        (std::path::Path::new("/"), "bbbbbbbbbbbbbbbb"),
    ] {
        let out = std::process::Command::new(&exe)
            .args(["--exact", "child_prints_a_fingerprint", "--nocapture"])
            .env("GAUNTLET_SIM_CHILD_SEED", "7")
            .env("GAUNTLET_SIM_PADDING", extra)
            .env("RUST_LOG", "trace")
            .current_dir(cwd)
            .output()
            .expect("start the child");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("FINGERPRINT"))
            .unwrap_or_else(|| panic!("no fingerprint from the child: {text}"));
        assert_eq!(line, here, "a child in {} differs", cwd.display());
    }
}

#[test]
fn the_fault_schedule_is_its_own_stream() {
    // The nemesis draws from its own stream of the seed: slower disks change every client op
    // but not one planned fault (start, heal, their times and values).
    let faults = |fsync_max_ms: u64| {
        let mut o = short();
        o.duration = Duration::from_secs(10);
        o.sim.disk.fsync_max = Duration::from_millis(fsync_max_ms);
        let s = sim::drive::simulate(&o, 11);
        let nemesis: Vec<_> = s
            .history
            .iter()
            .filter(|op| op.process == histories::Process::Nemesis && op.f != "recovery")
            .map(|op| (op.time, op.f.clone(), op.value.clone()))
            .collect();
        (nemesis, s.trace.hash)
    };
    let (a, ha) = faults(2);
    let (b, hb) = faults(5);
    assert!(a.len() >= 4, "{} nemesis ops", a.len());
    assert_eq!(a, b);
    assert_ne!(ha, hb, "the disks did change the run");
}
