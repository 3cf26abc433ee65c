//! The run report, rendered by a real browser: headless Chromium loads report.html from a
//! synthetic run directory and dumps the DOM after its scripts ran. The assertions prove the
//! page parsed, its script ran without errors (window.onerror and the dangling-link check
//! write into #js-errors), and the expected elements are there.
//!
//! Chromium is Debian's `chromium` package (`.ci/run` installs it). Without it the tests skip
//! with a message, except under CI=true where they fail.

mod browser;

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

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

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn report_renders_in_chromium_with_evidence_linked() {
    let Some(browser) = browser::chromium() else {
        return;
    };
    let seed = 20_260_101;
    let scratch = Scratch::new("small");
    let run = scratch.0.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let cited = write_run(&run, 600, seed);
    let html = harness::report::render(&run).expect("render");
    let dom = browser::dump_dom(browser, &format!("file://{}", html.display()), &scratch.0);
    browser::assert_script_clean(&dom);
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
    let Some(browser) = browser::chromium() else {
        return;
    };
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
    let dom = browser::dump_dom(browser, &format!("file://{}", html.display()), &scratch.0);
    browser::assert_script_clean(&dom);
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

/// Replaces the run's results.json with the checkers' typed results: a split lock and a token
/// regression on l0 and a lost task, citing the ops `cited` (from [`write_run`]).
fn write_typed_results(dir: &Path, cited: &[u64]) {
    use checkers::locks::{Grant, Hold, LockCounts, LocksResult, SplitLock, TokenRegression};
    use checkers::tasks::{
        ReadSpan, SubmitEvidence, SubmitOutcome, TaskAnomaly, TaskCounts, TasksResult,
    };
    use checkers::{OpEvidence, Verdict};
    use histories::Process;
    let ev = |i: usize, secs: f64, p: u64| OpEvidence {
        index: cited[i],
        time: (secs * 1e9) as u64,
        process: Process::Client(p),
    };
    let hold = |p: u64, token: u64, start: f64, end: f64, i: usize| Hold {
        process: Process::Client(p),
        token,
        acquire_invoke: ev(i, start - 0.01, p),
        acquire_ok: ev(i + 1, start, p),
        ttl_ms: 2000,
        release_invoke: None,
        lease: None,
        renewed: None,
        start: (start * 1e9) as u64,
        end: (end * 1e9) as u64,
    };
    let split = SplitLock {
        lock: "l0".into(),
        first: hold(5, 5, 3.0, 4.5, 0),
        second: hold(10, 6, 4.02, 5.0, 2),
        overlap: [4_020_000_000, 4_500_000_000],
    };
    let regression = TokenRegression {
        lock: "l0".into(),
        earlier: Grant {
            invoke: ev(0, 2.99, 5),
            ok: ev(1, 3.0, 5),
            token: 5,
        },
        later: Grant {
            invoke: ev(2, 4.01, 10),
            ok: ev(3, 4.02, 10),
            token: 4,
        },
    };
    let locks = LocksResult {
        valid: Verdict::Invalid,
        model: Default::default(),
        reasons: vec![],
        counts: LockCounts {
            acquired: 2,
            split_locks: 1,
            token_regressions: 1,
            ..LockCounts::default()
        },
        split_locks: vec![split],
        token_regressions: vec![regression],
    };
    let lost = TaskAnomaly {
        task: "t7".into(),
        submit: Some(SubmitEvidence {
            outcome: SubmitOutcome::Ok,
            invoke: ev(0, 2.99, 5),
            completion: Some(ev(1, 3.0, 5)),
        }),
        read: None,
    };
    let tasks = TasksResult {
        valid: Verdict::Invalid,
        reasons: vec![],
        final_read: Some(ReadSpan {
            invoke: ev(2, 18.0, 10),
            ok: ev(3, 18.2, 10),
        }),
        counts: TaskCounts {
            submitted: 300,
            acked: 290,
            lost: 1,
            ..TaskCounts::default()
        },
        lost: vec![lost],
        phantom: vec![],
        unexpected: vec![],
        not_done: vec![],
        unfinished: vec![],
        recovery: None,
        no_recovery: None,
        recovered: vec![],
        duplicated: vec![],
    };
    let results = serde_json::json!({"valid": false, "ops": 1200, "locks": locks, "tasks": tasks});
    std::fs::write(dir.join("results.json"), results.to_string()).unwrap();
}

#[test]
fn report_tells_each_anomaly_in_words_and_a_picture_with_links_both_ways() {
    let Some(browser) = browser::chromium() else {
        return;
    };
    let scratch = Scratch::new("story");
    let run = scratch.0.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let cited = write_run(&run, 600, 5);
    write_typed_results(&run, &cited);
    let html = harness::report::render(&run).expect("render");
    let dom = browser::dump_dom(browser, &format!("file://{}", html.display()), &scratch.0);
    browser::assert_script_clean(&dom);
    let story = dom.find(r#"id="story""#).expect("a story section");
    assert!(
        story < dom.find(r#"id="config""#).unwrap(),
        "the anomalies come first"
    );
    assert!(
        dom.contains("<b>Split lock</b> on <code>l0</code>: p5 held token 5 from 3.00 s to 4.50 s while p10 held token 6 from 4.02 s to 5.00 s; overlap 0.48 s, during the partition"),
        "the split lock in words, with the fault active then"
    );
    assert_eq!(
        count(&dom, r#"<svg class="story-svg holds""#),
        1,
        "a diagram of the two holds"
    );
    assert!(dom.contains(r#"class="overlap""#));
    assert!(
        dom.contains("<b>Token regression</b> on <code>l0</code>: p5 was granted token 5 at 3.00 s, before p10 asked at 4.01 s; yet p10 was granted token 4"),
        "both grants"
    );
    assert!(
        dom.contains("<b>Lost task</b> <code>t7</code>: p5 submitted it at 2.99 s, the cluster acknowledged it at 3.00 s; the final read, invoked at 18.00 s and answered at 18.20 s, did not list it."),
        "submit, ack and the final read"
    );
    assert_eq!(count(&dom, r#"<svg class="story-svg marks""#), 1);
    assert!(
        dom.contains("acknowledged tasks missing from the final read (lost)"),
        "counts in words"
    );
    // Anomaly -> op, and the op's row -> back to the anomaly.
    assert!(dom.contains(&format!(r##"class="storyop" href="#op-{}""##, cited[1])));
    let row = &dom[dom.find(&format!(r#"<tr id="op-{}""#, cited[1])).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains(r##"href="#story-split-0""##) && row.contains(r##"href="#story-lost-0""##),
        "the op's row links back to the anomalies citing it: {row}"
    );
}
