//! Benchmark of a 3-node loopback `gauntlet-node` cluster (fsync on):
//!
//! ```text
//! cargo bench -p node-bin --bench node_bench            # everything
//! cargo bench -p node-bin --bench node_bench -- quick   # shorter runs, 5 kills
//! cargo bench -p node-bin --bench node_bench -- nodes=5  # a 5-node cluster
//! ```
//!
//! Prints submits/s and lock acquire+release pairs/s at 1 and 16 concurrent clients with
//! p50/p99 latency, the median failure-detection time over kill -9s, and the median failover
//! time (kill -9 of a node -> its claimed tasks running elsewhere).

// Real processes on real time (node-bin/clippy.toml keeps clock reads out of the core only).
#![allow(clippy::disallowed_methods)]

use node_bin::testkit::Cluster;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gauntlet-node");

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    pct(&v, 0.5)
}

/// Runs `clients` concurrent loops of `op` for `secs`; returns (ops/s, p50, p99, errors).
async fn load<F, Fut>(
    c: &Arc<Cluster>,
    clients: usize,
    secs: f64,
    op: F,
) -> (f64, Duration, Duration, u64)
where
    F: Fn(Arc<Cluster>, usize, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let errors = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut handles = Vec::new();
    for k in 0..clients {
        let (c, op, errors) = (c.clone(), op.clone(), errors.clone());
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut seq = 0u64;
            while Instant::now() < end {
                let t = Instant::now();
                if op(c.clone(), k, seq).await {
                    lat.push(t.elapsed());
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                seq += 1;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let rate = all.len() as f64 / elapsed;
    (
        rate,
        pct(&all, 0.5),
        pct(&all, 0.99),
        errors.load(Ordering::Relaxed),
    )
}

async fn submits(c: &Arc<Cluster>, clients: usize, secs: f64, tag: &str) {
    let tag = tag.to_string();
    let (rate, p50, p99, errs) = load(c, clients, secs, move |c, k, seq| {
        let id = format!("{tag}-{k}-{seq}");
        async move { c.submit(k % 3, &id, 10).await.0 == 200 }
    })
    .await;
    println!(
        "| submit | {clients} | {rate:.0}/s | {:.1} ms | {:.1} ms | {errs} |",
        ms(p50),
        ms(p99)
    );
}

async fn locks(c: &Arc<Cluster>, clients: usize, secs: f64, tag: &str) {
    let tag = tag.to_string();
    let (rate, p50, p99, errs) = load(c, clients, secs, move |c, k, seq| {
        let lock = format!("{tag}-{k}");
        let client = format!("{tag}-c{k}");
        async move {
            let (s, v) = c.acquire(k % 3, &lock, &client, 5000).await;
            if s != 200 {
                return false;
            }
            let token = v["token"].as_u64().unwrap_or(0);
            let _ = seq;
            c.release(k % 3, &lock, &client, token).await.0 == 200
        }
    })
    .await;
    println!(
        "| acquire+release | {clients} | {rate:.0} pairs/s | {:.1} ms | {:.1} ms | {errs} |",
        ms(p50),
        ms(p99)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// kill -9 node `victim`; time until another node's /members says it is dead.
async fn detection(c: &mut Cluster, victim: usize) -> Option<Duration> {
    let watcher = (victim + 1) % c.nodes.len();
    let id = c.nodes[victim].id.clone();
    let t = Instant::now();
    c.kill(victim);
    let cl = &*c;
    let found = Cluster::wait_until(Duration::from_secs(15), || async {
        cl.member_state(watcher, &id).await.as_deref() == Some("dead")
    })
    .await;
    let d = found.map(|_| t.elapsed());
    c.spawn(victim);
    c.wait_healthy(victim).await;
    let cl = &*c;
    Cluster::wait_until(Duration::from_secs(15), || async {
        cl.member_state(watcher, &id).await.as_deref() == Some("alive")
    })
    .await;
    d
}

/// Submits long tasks, waits until some run on `victim`, kills it, and times until all of
/// those are running (or done) on another node.
async fn failover(c: &mut Cluster, victim: usize, round: usize) -> Option<Duration> {
    let vid = c.nodes[victim].id.clone();
    let ids: Vec<String> = (0..30).map(|i| format!("fo{round}-{i}")).collect();
    for id in &ids {
        c.submit((victim + 1) % 3, id, 8000).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut mine = Vec::new();
    for id in &ids {
        let (_, v) = c.get((victim + 1) % 3, &format!("/tasks/{id}")).await;
        if v["owner"] == vid.as_str() && v["state"] == "running" {
            mine.push(id.clone());
        }
    }
    if mine.is_empty() {
        return None;
    }
    let t = Instant::now();
    c.kill(victim);
    let cl = &*c;
    let r = Cluster::wait_until(Duration::from_secs(30), || {
        let mine = mine.clone();
        let vid = vid.clone();
        async move {
            for id in &mine {
                let (_, v) = cl.get((victim + 1) % 3, &format!("/tasks/{id}")).await;
                if v["owner"] == vid.as_str() || v["state"] == "pending" {
                    return false;
                }
            }
            true
        }
    })
    .await;
    let d = r.map(|_| t.elapsed());
    c.spawn(victim);
    c.wait_healthy(victim).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    d
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let n: usize = std::env::args()
        .find_map(|a| a.strip_prefix("nodes=").and_then(|v| v.parse().ok()))
        .unwrap_or(3);
    let secs = if quick { 3.0 } else { 8.0 };
    let kills = if quick { 5 } else { 10 };
    let cluster = Cluster::start(BIN, n, &[]).await;
    println!("{n}-node loopback cluster, fsync on\n");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let c = Arc::new(cluster);
    println!("| operation | clients | throughput | p50 | p99 | errors |");
    println!("| --- | --- | --- | --- | --- | --- |");
    submits(&c, 1, secs, "s1").await;
    submits(&c, 16, secs, "s16").await;
    locks(&c, 1, secs, "l1").await;
    locks(&c, 16, secs, "l16").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut c = Arc::try_unwrap(c).expect("no client left");
    let mut det = Vec::new();
    for k in 0..kills {
        if let Some(d) = detection(&mut c, k % n).await {
            det.push(d);
        }
    }
    println!("\nfailure detection (kill -9 -> dead in another node's /members): median {:.2} s over {} kills, all {:?}", median(det.clone()).as_secs_f64(), det.len(), det.iter().map(|d| format!("{:.2}", d.as_secs_f64())).collect::<Vec<_>>());
    let mut fo = Vec::new();
    for k in 0..(kills / 2).max(3) {
        if let Some(d) = failover(&mut c, k % 3, k).await {
            fo.push(d);
        }
    }
    println!("failover (kill -9 -> all its running tasks claimed elsewhere): median {:.2} s over {} kills, all {:?}", median(fo.clone()).as_secs_f64(), fo.len(), fo.iter().map(|d| format!("{:.2}", d.as_secs_f64())).collect::<Vec<_>>());
}
