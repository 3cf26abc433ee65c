//! Benchmark of `gauntlet run` (docs/performance-run.md): runs the real `gauntlet` binary
//! N times and prints medians of
//! - the time until every node is healthy and sees all members alive (`ready_ms`),
//! - the harness overhead: process wall time ÷ (time limit + recovery),
//! - the client ops per second the harness drove and recorded in the main phase.
//!
//! ```text
//! cargo build --release -p harness -p node-bin --examples
//! sudo target/release/examples/run_bench --runs 10 -- --time-limit=30s
//! sudo target/release/examples/run_bench --runs 10 -- --time-limit=10s --nemesis=none \
//!     --workload=tasks --rate=100000 --concurrency=64        # the ops/s ceiling
//! ```
//! Arguments after `--` go to `gauntlet run` (each run gets its own seed and a temp store).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 10usize;
    if let Some(i) = args.iter().position(|a| a == "--runs") {
        runs = args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("--runs needs a number"))?;
        args.drain(i..i + 2);
    }
    if args.first().map(String::as_str) == Some("--") {
        args.remove(0);
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/examples/run_bench -> target/<profile>/gauntlet
    let bin: PathBuf = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("gauntlet"))
        .ok_or_else(|| anyhow::anyhow!("cannot place the gauntlet binary"))?;
    anyhow::ensure!(
        bin.is_file(),
        "{} missing: cargo build --release -p harness",
        bin.display()
    );
    let (mut ready, mut overhead, mut rate, mut verdicts) = (vec![], vec![], vec![], vec![]);
    let mut per_limit = vec![];
    for i in 0..runs {
        let store = tempfile::tempdir()?;
        let t0 = Instant::now();
        let out = Command::new(&bin)
            .arg("run")
            .arg(format!("--seed={}", 9000 + i))
            .arg(format!("--store={}", store.path().display()))
            .args(&args)
            .output()?;
        let wall = t0.elapsed().as_secs_f64();
        let dir = std::fs::canonicalize(store.path().join("latest"))?;
        let test: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("test.json"))?)?;
        let results: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("results.json"))?)?;
        let cfg = &test["config"];
        let limit = cfg["plan"]["time_limit_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0;
        let recovery = cfg["recovery_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0;
        let d = &results["extra"]["harness"]["detail"];
        // From the sandbox going up to every node healthy and seeing all members alive.
        let ready_ms =
            d["setup_ms"].as_f64().unwrap_or(f64::NAN) + d["ready_ms"].as_f64().unwrap_or(f64::NAN);
        let main_s = d["main_phase_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0;
        let ops = d["client_ops"].as_f64().unwrap_or(f64::NAN);
        println!(
            "run {i}: exit {:?}, ready {ready_ms:.0} ms, wall {wall:.2} s, overhead {:.3} \
             (wall/limit {:.3}), {:.0} client ops/s",
            out.status.code(),
            wall / (limit + recovery),
            wall / limit,
            ops / main_s
        );
        per_limit.push(wall / limit);
        ready.push(ready_ms);
        overhead.push(wall / (limit + recovery));
        rate.push(ops / main_s);
        verdicts.push(out.status.code());
    }
    println!(
        "median of {runs}: ready {:.0} ms, overhead {:.3}x of (time limit + recovery), \
         wall/limit {:.3}, {:.0} client ops/s; exits {verdicts:?}",
        median(ready),
        median(overhead),
        median(per_limit),
        median(rate)
    );
    Ok(())
}
