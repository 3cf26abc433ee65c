//! The run report, rendered by a real browser: headless Chromium loads report.html from a
//! synthetic run directory and dumps the DOM after its scripts ran. The assertions prove the
//! page parsed, its script ran without errors (window.onerror and the dangling-link check
//! write into #js-errors), and the expected elements are there.
//!
//! Chromium is Debian's `chromium` package (`.ci/run` installs it). Without it the tests skip
//! with a message, except under CI=true where they fail.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Returns the browser path, or None (after printing why) when the test should skip.
fn chromium() -> Option<&'static str> {
    if Path::new(CHROMIUM).exists() {
        return Some(CHROMIUM);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{CHROMIUM} is missing and CI=true: install Debian's chromium package");
    }
    eprintln!("SKIP: {CHROMIUM} not found (apt-get install -y chromium); set CI=true to make this a failure");
    None
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("gauntlet-report-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small deterministic PRNG (xorshift) so the synthetic history depends only on the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Writes a synthetic run dir: `n_ops` client ops over 10 processes (info completions retire
/// the process, as in Jepsen), a partition, a kill and a pause, a split-lock anomaly citing
/// four op indexes, test.json and two node logs. Returns the cited indexes.
fn write_run(dir: &Path, n_ops: usize, seed: u64) -> Vec<u64> {
    println!("synthetic history seed {seed}, {n_ops} ops");
    let mut rng = Rng(seed | 1);
    let mut lines = String::new();
    let mut index = 0u64;
    let mut push = |lines: &mut String,
                    time: u64,
                    process: &str,
                    kind: &str,
                    f: &str,
                    value: &str| {
        let _ = writeln!(
            lines,
            r#"{{"index":{index},"time":{time},"process":{process},"type":"{kind}","f":"{f}","value":{value},"node":"n{}"}}"#,
            1 + index % 5
        );
        index += 1;
        index - 1
    };
    let total_ns = 20_000_000_000u64;
    let step = total_ns / n_ops as u64;
    let mut procs: Vec<u64> = (0..10).collect();
    let mut next_proc = 10;
    let mut t = 0u64;
    let mut cited = Vec::new();
    let nemesis = [
        (
            2_000_000_000,
            "start-partition",
            r#"{"grudge":{"n1":["n3","n4","n5"],"n2":["n3","n4","n5"]}}"#,
        ),
        (6_000_000_000, "stop-partition", "null"),
        (8_000_000_000, "kill", r#"{"nodes":["n2"]}"#),
        (
            11_000_000_000,
            "restart",
            r#"{"nodes":["n2"],"exit_status":"signal: 9 (SIGKILL)"}"#,
        ),
        (13_000_000_000, "pause", r#"{"nodes":["n4"]}"#),
        (15_000_000_000, "resume", r#"{"nodes":["n4"]}"#),
    ];
    let mut nem = nemesis.iter().peekable();
    for i in 0..n_ops {
        while let Some((nt, f, v)) = nem.peek() {
            if *nt > t {
                break;
            }
            push(&mut lines, *nt, "\"nemesis\"", "info", f, v);
            nem.next();
        }
        let slot = i % procs.len();
        let p = procs[slot];
        let (f, v) = if rng.below(2) == 0 {
            ("submit", format!(r#"{{"task":"t{p}-{i}"}}"#))
        } else {
            ("acquire", r#"{"lock":"l0","ttl_ms":2000}"#.to_string())
        };
        let inv = push(&mut lines, t, &p.to_string(), "invoke", f, &v);
        let lat = 200_000 + rng.below(40_000_000) * (1 + rng.below(3));
        let outcome = match rng.below(50) {
            0 => "info",
            1..=3 => "fail",
            _ => "ok",
        };
        let done = push(
            &mut lines,
            t + lat.min(step * 9),
            &p.to_string(),
            outcome,
            f,
            &v,
        );
        if i == n_ops / 2 || i == n_ops / 2 + 1 {
            cited.push(inv);
            cited.push(done);
        }
        if outcome == "info" {
            procs[slot] = next_proc;
            next_proc += 1;
        }
        t += step;
    }
    for (nt, f, v) in nem {
        push(&mut lines, *nt, "\"nemesis\"", "info", f, v);
    }
    std::fs::write(dir.join("history.jsonl"), lines).unwrap();
    let results = serde_json::json!({
        "valid": false,
        "tasks": {"valid": true, "acknowledged": n_ops / 2, "lost": []},
        "locks": {"valid": false, "split_locks": [{
            "lock": "l0",
            "first": {"process": 1, "acquire_index": cited[0], "ok_index": cited[1]},
            "second": {"process": 2, "acquire_index": cited[2], "ok_index": cited[3]}
        }]}
    });
    std::fs::write(dir.join("results.json"), results.to_string()).unwrap();
    let test = serde_json::json!({"seed": seed, "workload": "mixed", "nodes": 5, "repro": format!("gauntlet run --seed {seed}")});
    std::fs::write(dir.join("test.json"), test.to_string()).unwrap();
    let status = r#"{"n2":{"restarts":1,"last":{"pid":7,"state":"exited","exit":"signal 15"}}}"#;
    std::fs::write(dir.join("nodes.json"), status).unwrap();
    std::fs::create_dir_all(dir.join("nodes")).unwrap();
    std::fs::write(
        dir.join("nodes/n1.log"),
        "INFO started\nINFO <joined> & ready\n",
    )
    .unwrap();
    std::fs::write(dir.join("nodes/n2.log"), "INFO started\n").unwrap();
    cited
}

/// Runs headless Chromium on `html` and returns the DOM after scripts ran.
fn dump_dom(browser: &str, html: &Path, scratch: &Path) -> String {
    let profile = scratch.join("chromium-profile");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s on {}", html.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

/// Asserts the script ran to the end and recorded no error and no dangling link.
fn assert_script_clean(dom: &str) {
    assert!(
        dom.contains(r#"<span id="js-status">ok</span>"#),
        "the page's script did not finish"
    );
    let start = dom.find(r#"<ul id="js-errors">"#).expect("js-errors list");
    let rest = &dom[start..];
    let end = rest.find("</ul>").unwrap();
    assert_eq!(
        &rest[..end],
        r#"<ul id="js-errors">"#,
        "the page recorded script errors or broken links"
    );
}

#[test]
fn report_renders_in_chromium_with_evidence_linked() {
    let Some(browser) = chromium() else { return };
    let seed = 20_260_101;
    let scratch = Scratch::new("small");
    let run = scratch.0.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let cited = write_run(&run, 600, seed);
    let html = harness::report::render(&run).expect("render");
    let dom = dump_dom(browser, &html, &scratch.0);
    assert_script_clean(&dom);
    assert!(
        dom.contains(r#"id="verdict" class="verdict v-false">invalid<"#),
        "verdict shown as invalid"
    );
    for i in &cited {
        // The anomaly links to each cited op, and the op has a row with that anchor.
        assert!(
            dom.contains(&format!(r##"href="#op-{i}""##)),
            "link to op {i}"
        );
        assert!(
            dom.contains(&format!(r#"<tr id="op-{i}""#)),
            "row for op {i}"
        );
    }
    assert_eq!(count(&dom, r#"<svg class="timeline""#), 1);
    assert_eq!(
        count(&dom, r#"<svg class="latency""#),
        2,
        "one latency plot per f (submit, acquire)"
    );
    assert_eq!(count(&dom, r#"<svg class="throughput""#), 1);
    assert_eq!(
        count(&dom, r#"class="q p99""#),
        2,
        "p99 latency line in each latency plot"
    );
    assert!(
        count(&dom, r#"class="op ok anom""#)
            + count(&dom, r#"class="op fail anom""#)
            + count(&dom, r#"class="op info anom""#)
            >= 1,
        "anomalous ops highlighted"
    );
    assert!(
        count(&dom, r#"class="nem partition""#) >= 3,
        "partition shaded on timeline, latency and throughput"
    );
    assert!(count(&dom, r#"class="nem kill""#) >= 1 && count(&dom, r#"class="nem pause""#) >= 1);
    assert!(
        dom.contains("signal: 9 (SIGKILL)"),
        "n2's exit status shown"
    );
    assert!(
        dom.contains("signal 15"),
        "n2's final state from nodes.json shown"
    );
    assert!(
        dom.contains("&lt;joined&gt; &amp; ready"),
        "node log tail shown, escaped"
    );
    assert!(
        dom.contains(r#"id="h-0""#),
        "a short history gets the full op table"
    );
    assert!(
        dom.contains(&format!("gauntlet run --seed {seed}")),
        "repro command shown"
    );
}

#[test]
fn report_of_100k_ops_stays_small_and_renders() {
    let Some(browser) = chromium() else { return };
    let seed = 77;
    let scratch = Scratch::new("large");
    let run = scratch.0.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let cited = write_run(&run, 50_000, seed);
    let html = harness::report::render(&run).expect("render");
    let size = std::fs::metadata(&html).unwrap().len();
    println!("report of 100,000 history lines: {size} bytes");
    assert!(
        size < 4_000_000,
        "report must stay small for 100k ops, got {size} bytes"
    );
    let dom = dump_dom(browser, &html, &scratch.0);
    assert_script_clean(&dom);
    assert!(
        dom.contains("aggregated into"),
        "the timeline says it aggregated"
    );
    assert!(
        !dom.contains(r#"id="h-0""#),
        "no full op table for 100k ops"
    );
    for i in &cited {
        assert!(
            dom.contains(&format!(r#"<tr id="op-{i}""#)),
            "cited op {i} still listed"
        );
    }
    assert!(
        count(&dom, r#" anom""#) >= 2,
        "anomalous ops still drawn individually"
    );
}

#[test]
fn report_of_an_empty_dir_says_what_is_missing() {
    let scratch = Scratch::new("empty");
    let html = harness::report::render(&scratch.0).expect("a report even without files");
    let text = std::fs::read_to_string(html).unwrap();
    assert!(
        text.contains("history.jsonl"),
        "the missing history is named"
    );
    assert!(text.contains("No results.json"));
    let err = harness::report::render(&scratch.0.join("nope")).unwrap_err();
    assert!(
        format!("{err:#}").contains("nope"),
        "error names the directory: {err:#}"
    );
}
