//! The store index, end to end: `gauntlet index` over a synthetic store holding every kind of
//! run directory (valid, invalid with two signatures, unknown, aborted by either marker,
//! half-written, an older results format, an unreadable test.json), then headless Chromium
//! loads index.html with a sort and a filter in its URL and the DOM is checked. Without
//! Chromium the browser test skips with a message (fails under CI=true); the bad-input tests
//! need no browser.

mod browser;

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const GAUNTLET: &str = env!("CARGO_BIN_EXE_gauntlet");

fn gauntlet_index(store: &Path) -> Output {
    Command::new(GAUNTLET)
        .arg("index")
        .arg(store)
        .env_remove("GAUNTLET_LOG")
        .output()
        .expect("run gauntlet index")
}

/// Writes `files` into `store/<group>/<time>-seed<seed>/`.
fn run_dir(store: &Path, group: &str, time: &str, seed: u64, files: &[(&str, String)]) -> PathBuf {
    let d = store.join(group).join(format!("{time}-seed{seed}"));
    std::fs::create_dir_all(&d).unwrap();
    for (name, text) in files {
        std::fs::write(d.join(name), text).unwrap();
    }
    d
}

fn test_json(seed: u64, workload: &str) -> (&'static str, String) {
    (
        "test.json",
        serde_json::json!({"system": "gauntlet-node",
            "config": {"plan": {"seed": seed, "workload": workload, "nemesis": ["partition", "kill", "pause"]}},
            "repro": format!("gauntlet run --seed {seed} --workload {workload}")})
        .to_string(),
    )
}

fn results(
    valid: serde_json::Value,
    ops: u64,
    run_ms: u64,
    checkers: serde_json::Value,
) -> (&'static str, String) {
    let mut r = serde_json::json!({"valid": valid, "ops": ops,
        "extra": {"harness": {"valid": true, "summary": "", "detail": {"run_ms": run_ms}}}});
    for (k, v) in checkers.as_object().unwrap() {
        r[k] = v.clone();
    }
    ("results.json", r.to_string())
}

fn split_lock() -> serde_json::Value {
    serde_json::json!({"locks": {"valid": false, "split_locks": [{"lock": "l0",
        "first": {"acquire_ok": {"index": 3}}, "second": {"acquire_ok": {"index": 5}}}]}})
}

/// The synthetic store; returns it.
fn store(root: &Path) -> PathBuf {
    let s = root.join("store");
    let t = |d: u32| format!("202612{d:02}T080000.000Z");
    let g = "mixed-all";
    run_dir(
        &s,
        g,
        &t(1),
        1,
        &[
            test_json(1, "mixed"),
            results(true.into(), 900, 41_000, serde_json::json!({})),
        ],
    );
    run_dir(
        &s,
        g,
        &t(2),
        2,
        &[
            test_json(2, "mixed"),
            results(true.into(), 80, 40_000, serde_json::json!({})),
        ],
    );
    for (day, seed) in [(3, 11), (5, 12), (7, 13)] {
        let d = run_dir(
            &s,
            g,
            &t(day),
            seed,
            &[
                test_json(seed, "mixed"),
                results(false.into(), 500 + seed, 42_000, split_lock()),
            ],
        );
        if seed == 12 {
            std::fs::write(d.join("report.html"), "<html></html>").unwrap();
        }
    }
    let lost = serde_json::json!({"tasks": {"valid": false, "lost": [{"task": "t1", "submit": {"invoke": {"index": 2}}}]}});
    run_dir(
        &s,
        "tasks-kill",
        &t(8),
        20,
        &[
            test_json(20, "tasks"),
            results(false.into(), 300, 30_000, lost),
        ],
    );
    run_dir(
        &s,
        g,
        &t(9),
        30,
        &[
            test_json(30, "mixed"),
            results("unknown".into(), 5, 20_000, serde_json::json!({})),
        ],
    );
    run_dir(
        &s,
        g,
        &t(10),
        40,
        &[test_json(40, "mixed"), ("RUNNING", "4242:99".into())],
    );
    run_dir(
        &s,
        g,
        &t(11),
        41,
        &[
            test_json(41, "mixed"),
            ("RUNNING", "4243:99".into()),
            ("ABORTED", "".into()),
        ],
    );
    run_dir(
        &s,
        g,
        &t(12),
        50,
        &[
            test_json(50, "mixed"),
            ("results.json", r#"{"valid": fal"#.into()),
        ],
    );
    // An older results.json: no ops count, no harness checker.
    run_dir(
        &s,
        g,
        &t(13),
        60,
        &[(
            "results.json",
            serde_json::json!({"valid": false})
                .to_string()
                .replace('}', &format!(",{}", &split_lock().to_string()[1..])),
        )],
    );
    let d = run_dir(&s, g, &t(14), 70, &[]);
    std::fs::create_dir_all(d.join("test.json")).unwrap();
    std::os::unix::fs::symlink(g, s.join("latest")).unwrap();
    s
}

/// The `<tr class="run …">` rows of the runs table, in DOM order, with whether each is hidden.
fn rows(dom: &str) -> Vec<(String, bool)> {
    dom.split("<tr class=\"run ")
        .skip(1)
        .map(|r| {
            let tr = &r[..r.find("</tr>").unwrap()];
            let head = &tr[..tr.find('>').unwrap()];
            (tr.to_string(), head.contains("hidden"))
        })
        .collect()
}

/// The seed cell (5th) of a row.
fn seed_of(row: &str) -> String {
    let cells: Vec<&str> = row.split("<td").skip(1).collect();
    let c = cells[4];
    c[c.find('>').unwrap() + 1..c.find("</td>").unwrap()].to_string()
}

#[test]
fn index_lists_every_run_groups_failures_and_sorts_and_filters_in_chromium() {
    let scratch = tempfile::tempdir().unwrap();
    let s = store(scratch.path());
    let out = gauntlet_index(&s);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("12 runs (6 failing, 4 damaged or aborted)"),
        "{err}"
    );
    let html = std::fs::read_to_string(s.join("index.html")).unwrap();
    // Every run is listed, the broken ones with the reason.
    assert_eq!(rows(&html).len(), 12);
    assert!(
        html.contains("results.json: not JSON"),
        "half-written results named"
    );
    assert!(
        html.contains("test.json: cannot read"),
        "unreadable test.json named"
    );
    assert!(html.contains("RUNNING without results.json"));
    assert!(html.contains("ABORTED: the controller was killed"));
    assert!(html.contains("no `ops` count (an older format)"));
    assert!(
        html.contains(
            "12</span> runs: 2 valid, 5 invalid, 1 unknown, 2 aborted or incomplete, 2 damaged."
        ),
        "counts sentence"
    );
    assert!(
        html.contains(r#"<a href="mixed-all/20261205T080000.000Z-seed12/report.html">report</a>"#)
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no network"
    );
    // The split-lock signature: four runs (the older-format one included), first and last seen.
    let g0 = &html[html.find(r#"<tr class="group" id="g-0">"#).unwrap()..];
    let g0 = &g0[..g0.find("</tr>").unwrap()];
    assert!(g0.contains(">locks: split_locks</a>"), "{g0}");
    assert!(
        g0.contains(
            r#"<td class="num">4</td><td>2026-12-03 08:00:00</td><td>2026-12-13 08:00:00</td>"#
        ),
        "{g0}"
    );
    for seed in [11, 12, 13] {
        assert!(
            g0.contains(&format!("gauntlet run --seed {seed} --workload mixed")),
            "{g0}"
        );
    }
    assert!(html.contains(">tasks: lost</a>"));

    let Some(chromium) = browser::chromium() else {
        return;
    };
    let url = format!(
        "file://{}?sort=seed&desc=1&f-verdict=invalid",
        s.join("index.html").display()
    );
    let dom = browser::dump_dom(chromium, &url, scratch.path());
    browser::assert_script_clean(&dom);
    let shown: Vec<String> = rows(&dom)
        .into_iter()
        .filter(|(_, h)| !h)
        .map(|(r, _)| seed_of(&r))
        .collect();
    assert_eq!(
        shown,
        ["60", "20", "13", "12", "11"],
        "invalid runs only, by seed descending"
    );
    assert!(dom.contains("5 of 12 runs shown."));
    assert!(dom.contains(r#"aria-sort="descending""#));
    let ready = dom
        .split(r#"<span id="ready-ms">"#)
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap();
    println!("index of 12 runs interactive after {ready} ms");

    // Numeric filters, and the whole-cell match a signature link uses.
    let url = format!(
        "file://{}?f-ops=%3E400&sort=ops",
        s.join("index.html").display()
    );
    let dom = browser::dump_dom(chromium, &url, scratch.path());
    browser::assert_script_clean(&dom);
    let shown: Vec<String> = rows(&dom)
        .into_iter()
        .filter(|(_, h)| !h)
        .map(|(r, _)| seed_of(&r))
        .collect();
    assert_eq!(
        shown,
        ["11", "12", "13", "1"],
        "ops > 400, ascending by ops"
    );
    let url = format!(
        "file://{}?f-anomalies=%3Dtasks%3A%20lost",
        s.join("index.html").display()
    );
    let dom = browser::dump_dom(chromium, &url, scratch.path());
    let shown: Vec<String> = rows(&dom)
        .into_iter()
        .filter(|(_, h)| !h)
        .map(|(r, _)| seed_of(&r))
        .collect();
    assert_eq!(shown, ["20"]);
}

/// The seeds of the drawn rows, in order (the large store has no hidden row).
fn drawn_seeds(dom: &str) -> Vec<u64> {
    rows(dom)
        .into_iter()
        .map(|(r, hidden)| {
            assert!(!hidden, "a drawn row is hidden: {r}");
            seed_of(&r).parse().unwrap()
        })
        .collect()
}

/// A store larger than the rows the page draws itself: only the first ones are HTML, the
/// rest come from the JSON block when a sort, a filter or `rows=N` needs them, and hostile
/// run data stays text.
#[test]
fn a_large_index_draws_its_first_rows_and_the_rest_from_json_on_sort_filter_and_paging() {
    use harness::index::page::FIRST_ROWS;
    const N: u64 = 450;
    const HOSTILE: &str = "</script><script>document.title='pwned'</script><!--";
    let scratch = tempfile::tempdir().unwrap();
    let s = scratch.path().join("store");
    // Seed i started i minutes after midnight, so newest first is seed 449 first; every 7th
    // run split a lock; ops are distinct and unordered.
    let ops = |i: u64| 1000 + (i * 7919) % N;
    for i in 0..N {
        let time = format!("20261201T{:02}{:02}00.000Z", i / 60, i % 60);
        let checkers = if i % 7 == 0 {
            split_lock()
        } else {
            serde_json::json!({})
        };
        let mut test = test_json(i, "mixed");
        if i == 5 {
            test.1 = test.1.replace("gauntlet-node", HOSTILE);
        }
        let d = run_dir(
            &s,
            "mixed-all",
            &time,
            i,
            &[test, results((i % 7 != 0).into(), ops(i), 30_000, checkers)],
        );
        if i == 3 {
            std::fs::write(d.join("report.html"), "<html></html>").unwrap();
        }
    }
    let out = gauntlet_index(&s);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = s.join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let newest: Vec<u64> = (0..N).rev().collect();
    assert_eq!(
        drawn_seeds(&html),
        newest[..FIRST_ROWS],
        "the page itself holds the newest {FIRST_ROWS}"
    );
    assert!(
        !html.contains("<script>document.title") && !html.contains("<!--"),
        "hostile text escaped in the rows and the JSON block"
    );

    let Some(chromium) = browser::chromium() else {
        return;
    };
    let load = |query: &str| {
        let dom = browser::dump_dom(
            chromium,
            &format!("file://{}{query}", page.display()),
            scratch.path(),
        );
        browser::assert_script_clean(&dom);
        assert!(!dom.contains("<title>pwned"), "run data ran as script");
        dom
    };

    // As loaded: the page's own rows, and the rest announced.
    let dom = load("");
    assert_eq!(drawn_seeds(&dom), newest[..FIRST_ROWS]);
    assert!(
        dom.contains(&format!(
            "{N} of {N} runs match; the first {FIRST_ROWS} are drawn, more as you scroll."
        )),
        "status line"
    );
    assert!(dom.contains(r#"<p id="more">"#), "show more offered");

    // A sort brings the oldest runs (only in the JSON block) to the top, drawn by the script:
    // the report link and the hostile system name as text.
    let dom = load("?sort=seed");
    let oldest: Vec<u64> = (0..FIRST_ROWS as u64).collect();
    assert_eq!(drawn_seeds(&dom), oldest);
    assert!(dom.contains(
        r#"<td><a href="mixed-all/20261201T000300.000Z-seed3/report.html">report</a></td>"#
    ));
    assert!(
        dom.contains(
            "<td>&lt;/script&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;!--</td>"
        ),
        "hostile system name drawn as text"
    );

    // Filter and sort over every run: exactly the failing ones, by seed descending.
    let dom = load("?sort=seed&desc=1&f-verdict=invalid");
    let invalid: Vec<u64> = (0..N).rev().filter(|i| i % 7 == 0).collect();
    assert_eq!(drawn_seeds(&dom), invalid);
    assert!(dom.contains(&format!("{} of {N} runs shown.", invalid.len())));
    assert!(
        dom.contains(r#"<p id="more" hidden="">"#),
        "nothing more to show"
    );

    // A run only in the JSON block, found by its seed.
    let dom = load("?f-seed=%3D5");
    assert_eq!(drawn_seeds(&dom), [5]);

    // Paging after a sort: rows=300 draws a second page in the same order.
    let dom = load("?sort=ops&rows=300");
    let mut by_ops: Vec<u64> = (0..N).collect();
    by_ops.sort_by_key(|&i| ops(i));
    assert_eq!(drawn_seeds(&dom), by_ops[..300]);
    assert!(dom.contains(&format!(
        "{N} of {N} runs match; the first 300 are drawn, more as you scroll."
    )));

    // Everything drawn: the same rows as the page itself would hold, newest first.
    let dom = load("?rows=100000");
    assert_eq!(drawn_seeds(&dom), newest);
    assert!(dom.contains(&format!("{N} of {N} runs shown.")));
}

#[test]
fn a_store_that_cannot_be_indexed_exits_254_naming_it() {
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let empty = scratch.path().join("empty");
    std::fs::create_dir_all(empty.join("mixed-all")).unwrap();
    let missing = scratch.path().join("missing");
    for (store, why) in [
        (&file, "not a directory"),
        (&empty, "no run directories"),
        (&missing, "cannot read the store"),
    ] {
        let out = gauntlet_index(store);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{}: {err}", store.display());
        assert!(
            err.contains(&store.display().to_string()) && err.contains(why),
            "{err}"
        );
        assert!(!err.contains("panicked"));
    }
    assert!(
        !empty.join("index.html").exists(),
        "nothing written when nothing was indexed"
    );
}
