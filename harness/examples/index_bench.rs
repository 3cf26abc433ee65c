//! Benchmark of the store index (docs/index.md): builds a store of N synthetic run
//! directories (default 10,000) in a temporary directory, times `harness::index::write` over
//! it (scan, group, render, write; median of R rounds), and, with `--chromium`, loads the page
//! in headless Chromium R times and reports the page's own "interactive after" figure
//! (`performance.now()` at the end of its script, after it forced a layout: parsing, script
//! and layout) and the wall time of the whole browser process; once as opened and once with
//! a sort and a filter in the URL.
//!
//! ```text
//! cargo run --release -p harness --example index_bench -- [--runs N] [--rounds R] [--chromium]
//! ```
//!
//! The store's files are in the page cache (they were just written); the figure is the
//! index's own cost, not the disk's.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut runs = 10_000usize;
    let mut rounds = 5usize;
    let mut chromium = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().unwrap_or_default().parse()?,
            "--rounds" => rounds = args.next().unwrap_or_default().parse()?,
            "--chromium" => chromium = true,
            other => anyhow::bail!("unknown argument {other:?} (--runs N, --rounds R, --chromium)"),
        }
    }
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    let t = Instant::now();
    synthetic_store(&store, runs)?;
    println!(
        "wrote {runs} synthetic run directories in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut build = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..rounds {
        let (t, c) = (Instant::now(), cpu_ms());
        let (path, scan) = harness::index::write(&store)?;
        build.push(t.elapsed().as_secs_f64() * 1000.0);
        cpu.push(cpu_ms() - c);
        assert_eq!(scan.runs.len(), runs, "every run indexed");
        let _ = path;
    }
    let page = store.join("index.html");
    println!(
        "index build ({runs} runs, {rounds} rounds): median {:.0} ms wall (min {:.0}, max {:.0}), median {:.0} ms CPU (user+system, all threads); index.html {} bytes",
        median(&mut build),
        min(&build),
        max(&build),
        median(&mut cpu),
        std::fs::metadata(&page)?.len()
    );
    if chromium {
        // As opened, and with a sort and a filter in the URL (the script sorts and filters
        // every run's JSON and draws the first rows of the result); the two alternate, so a
        // change in the machine's load touches both alike.
        let queries = ["", "?sort=seed&desc=1&f-verdict=invalid"];
        let mut ready = vec![Vec::new(); queries.len()];
        let mut wall = vec![Vec::new(); queries.len()];
        for _ in 0..rounds {
            for (q, query) in queries.iter().enumerate() {
                let t = Instant::now();
                let dom = dump_dom(&page, query, dir.path())?;
                wall[q].push(t.elapsed().as_secs_f64() * 1000.0);
                anyhow::ensure!(
                    dom.contains(r#"<span id="js-status">ok</span>"#),
                    "the page's script did not finish"
                );
                anyhow::ensure!(
                    dom.contains(&format!(" of {runs} runs ")),
                    "the page does not say how many of the {runs} runs it shows"
                );
                let ms: f64 = dom
                    .split(r#"<span id="ready-ms">"#)
                    .nth(1)
                    .and_then(|r| r.split('<').next())
                    .unwrap_or("")
                    .parse()?;
                ready[q].push(ms);
            }
        }
        for (q, query) in queries.iter().enumerate() {
            println!(
                "page interactive in Chromium, index.html{query} ({rounds} loads): median {:.0} ms after navigation start (min {:.0}, max {:.0}); whole headless Chromium process median {:.0} ms",
                median(&mut ready[q]),
                min(&ready[q]),
                max(&ready[q]),
                median(&mut wall[q])
            );
        }
    }
    Ok(())
}

/// N run directories over four groups: 80% valid, 15% invalid with three signatures, 3%
/// unknown, 1% aborted, 1% half-written; results.json shaped like a real run's.
fn synthetic_store(store: &Path, n: usize) -> anyhow::Result<()> {
    let groups = [
        "mixed-all",
        "locks-partition",
        "tasks-kill",
        "register-partition",
    ];
    for i in 0..n {
        let group = groups[i % groups.len()];
        let (workload, nemesis) = group.split_once('-').unwrap();
        let day = 1 + (i / 400) % 28;
        let secs = i % 86_400;
        let name = format!(
            "202611{day:02}T{:02}{:02}{:02}.000Z-seed{i}",
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60
        );
        let d = store.join(group).join(name);
        std::fs::create_dir_all(&d)?;
        let test = serde_json::json!({"system": "gauntlet-node", "gauntlet_version": "0.1.0",
            "config": {"plan": {"seed": i, "nodes": 5, "time_limit_ms": 30000, "workload": workload,
                "nemesis": [nemesis], "rate": 100.0}, "store": "store", "node_args": []},
            "repro": format!("gauntlet run --seed {i} --workload {workload} --nemesis {nemesis}"),
            "argv": ["gauntlet", "torture"]});
        std::fs::write(d.join("test.json"), serde_json::to_string_pretty(&test)?)?;
        let kind = i % 100;
        if kind == 98 {
            std::fs::write(d.join("RUNNING"), "1234:5678")?;
            continue;
        }
        if kind == 99 {
            std::fs::write(d.join("results.json"), "{\"valid\": fal")?;
            continue;
        }
        let valid = match kind {
            0..=79 => serde_json::json!(true),
            80..=94 => serde_json::json!(false),
            _ => serde_json::json!("unknown"),
        };
        let mut lost = Vec::new();
        let mut splits = Vec::new();
        if (80..=94).contains(&kind) {
            for k in 0..20 {
                if kind % 3 != 1 {
                    lost.push(
                        serde_json::json!({"task": format!("t{k}"), "submit": {"outcome": "ok",
                        "invoke": {"index": k * 10, "time": k * 1000, "process": 1},
                        "completion": {"index": k * 10 + 1, "time": k * 1000 + 5, "process": 1}}}),
                    );
                }
                if kind % 3 != 0 {
                    splits.push(serde_json::json!({"lock": "l0", "overlap": [k, k + 5],
                        "first": {"process": 1, "token": k, "acquire_invoke": {"index": k}, "acquire_ok": {"index": k + 1}, "ttl_ms": 2000, "start": k, "end": k + 9},
                        "second": {"process": 2, "token": k + 1, "acquire_invoke": {"index": k + 2}, "acquire_ok": {"index": k + 3}, "ttl_ms": 2000, "start": k + 2, "end": k + 11}}));
                }
            }
        }
        let results = serde_json::json!({"valid": valid, "ops": 3000 + i % 1000,
            "stats": {"valid": true, "by_f": {"submit": {"invoke": 700, "ok": 650, "fail": 30, "info": 20},
                "acquire": {"invoke": 500, "ok": 400, "fail": 90, "info": 10}, "release": {"invoke": 400, "ok": 399, "fail": 1, "info": 0}},
                "nemesis": {"start-partition": 3, "kill": 2, "pause": 2}},
            "tasks": {"valid": lost.is_empty(), "counts": {"submitted": 700, "acked": 650, "lost": lost.len()}, "lost": lost},
            "locks": {"valid": splits.is_empty(), "counts": {"locks": 3, "acquired": 400, "split_locks": splits.len()}, "split_locks": splits, "token_regressions": []},
            "extra": {"harness": {"valid": true, "summary": "ok", "detail": {"run_ms": 42_000 + i % 5000, "ok_client_ops": 1449}}}});
        std::fs::write(
            d.join("results.json"),
            serde_json::to_string_pretty(&results)?,
        )?;
    }
    Ok(())
}

fn dump_dom(page: &Path, query: &str, scratch: &Path) -> anyhow::Result<String> {
    let out = Command::new("/usr/bin/chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!(
            "--user-data-dir={}",
            scratch.join("profile").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}{query}", page.display()))
        .stderr(Stdio::null())
        .output()?;
    let mut s = String::new();
    let _ = write!(s, "{}", String::from_utf8_lossy(&out.stdout));
    Ok(s)
}

/// CPU time of this process so far (user + system, every thread), in ms: a figure a busy
/// machine inflates far less than wall time.
fn cpu_ms() -> f64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one rusage into the pointer it is given, which points at a
    // zeroed rusage that lives for the call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr()) };
    if rc != 0 {
        return 0.0;
    }
    // SAFETY: getrusage returned 0, so it filled the struct (and it was zeroed before).
    let u = unsafe { u.assume_init() };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    ms(u.ru_utime) + ms(u.ru_stime)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}
