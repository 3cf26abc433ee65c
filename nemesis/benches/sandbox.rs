//! Sandbox speed, median of 10 for 5 nodes: up (namespaces, links, addresses, verified
//! connectivity), a partition applied (installed and verified), healed (verified), down.
//! Targets (issue 3): up <= 200 ms, down <= 500 ms, partition applied <= 20 ms with the
//! kernel-only backend. Run as root: `cargo bench -p nemesis --bench sandbox`
//! (add `-- iptables` for the iptables backend; `-- faults` for the loss, slow and clock
//! faults: apply+verify medians, targets <= 50 ms for loss and rate, <= 100 ms for a bump).

use std::time::{Duration, Instant};

use nemesis::{BackendChoice, Fault, GrudgeKind, Link, NodeId, Sandbox, SandboxConfig};
use rand::SeedableRng;

const RUNS: usize = 10;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    let m = if v.len() % 2 == 0 {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2
    } else {
        v[v.len() / 2]
    };
    m.as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Before any thread: cargo's bench harness is off, so this is the whole program.
    if let Err(e) = nemesis::enter_controller_namespace() {
        eprintln!("sandbox bench skipped: {e}");
        return Ok(());
    }
    if std::env::args().any(|a| a == "faults") {
        return faults();
    }
    let backend = if std::env::args().any(|a| a == "iptables") {
        BackendChoice::Iptables
    } else {
        BackendChoice::Route
    };
    let nodes = NodeId::cluster(5);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let (mut up, mut down, mut apply, mut heal) = (vec![], vec![], vec![], vec![]);
    for _ in 0..RUNS {
        let mut cfg = SandboxConfig::new(nodes.clone());
        cfg.backend = backend;
        let t = Instant::now();
        let sb = Sandbox::up(cfg)?;
        up.push(t.elapsed());
        let grudge = GrudgeKind::RandomHalves.generate(&nodes, &mut rng);
        let t = Instant::now();
        let g = sb.apply(&Fault::Partition { grudge })?;
        apply.push(t.elapsed());
        let t = Instant::now();
        g.heal()?;
        heal.push(t.elapsed());
        let t = Instant::now();
        sb.down()?;
        down.push(t.elapsed());
    }
    println!("sandbox, 5 nodes, {backend:?} backend, median of {RUNS}:");
    println!("  up                {:8.2} ms  (target <= 200)", median(up));
    println!(
        "  partition applied {:8.2} ms  (target <= 20, route backend)",
        median(apply)
    );
    println!("  partition healed  {:8.2} ms", median(heal));
    println!(
        "  down              {:8.2} ms  (target <= 500)",
        median(down)
    );
    Ok(())
}

/// Apply+verify medians of the link and clock faults in one 5-node sandbox with clock faults
/// (each guard healed before the next iteration; heal times reported too).
fn faults() -> Result<(), Box<dyn std::error::Error>> {
    let nodes = NodeId::cluster(5);
    let mut cfg = SandboxConfig::new(nodes.clone());
    cfg.clock_faults = true;
    let sb = Sandbox::up(cfg)?;
    let loss = Fault::Loss {
        links: vec![Link::new(nodes[0].clone(), nodes[1].clone())],
        probability: 0.3,
    };
    let slow = Fault::Slow {
        nodes: vec![nodes[2].clone()],
        rate_kbit: 8000,
        burst_bytes: 16000,
        latency_ms: 50,
    };
    let bump = Fault::ClockBump {
        nodes: vec![nodes[3].clone()],
        offset_ms: 5000,
    };
    println!("faults, 5 nodes, route backend, median of {RUNS} (apply+verify / heal+verify):");
    for (name, f, target) in [
        ("loss (1 link, p=0.3)", &loss, 50),
        ("slow (1 node, 8 Mbit/s)", &slow, 50),
        ("clock bump (1 node)", &bump, 100),
    ] {
        let (mut apply, mut heal) = (vec![], vec![]);
        for _ in 0..RUNS {
            let t = Instant::now();
            let g = sb.apply(f)?;
            apply.push(t.elapsed());
            let t = Instant::now();
            g.heal()?;
            heal.push(t.elapsed());
        }
        println!(
            "  {name:24} {:8.2} ms  (target <= {target})   healed {:8.2} ms",
            median(apply),
            median(heal)
        );
    }
    sb.down()?;
    Ok(())
}
