//! The CLI conventions users expect, checked on the built `gauntlet` binary: durations as bare
//! seconds on every duration flag (found by walking `--help` of every subcommand), shell
//! completions, the man page, `--version` with the git commit, `--quiet`/`--verbose`,
//! `NO_COLOR`, and bug-hunt's list of planted bugs against gauntlet-node's own `--bug` values.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use common::GAUNTLET;

fn gauntlet(args: &[&str]) -> Output {
    Command::new(GAUNTLET)
        .args(args)
        .env_remove("GAUNTLET_LOG")
        .env_remove("NO_COLOR")
        .output()
        .expect("run gauntlet")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The subcommands `gauntlet --help` lists.
fn subcommands() -> Vec<String> {
    let help = text(&gauntlet(&["--help"]).stdout);
    let start = help.find("Commands:").expect("a Commands: section");
    help[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// `(flag, value name, default)` of every option in a `--help` text.
fn options(help: &str) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = help.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        let Some(flag_start) = t.find("--") else {
            continue;
        };
        if !(t.starts_with("--") || t.starts_with('-')) {
            continue;
        }
        let rest = &t[flag_start..];
        let mut words = rest.split_whitespace();
        let flag = words.next().unwrap().trim_end_matches(',').to_string();
        let value = words
            .next()
            .filter(|w| w.starts_with('<'))
            .map(|w| w.trim_matches(|c| c == '<' || c == '>').to_string())
            .unwrap_or_default();
        // The default is on this line or in the following description lines.
        let default = lines[i..]
            .iter()
            .take(6)
            .enumerate()
            .take_while(|(k, l)| *k == 0 || !l.trim_start().starts_with('-'))
            .find_map(|(_, l)| {
                l.find("[default: ")
                    .map(|p| l[p + 10..].split(']').next().unwrap_or("").to_string())
            });
        out.push((flag, value, default));
    }
    out
}

fn looks_like_duration(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    digits != s
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && ["ms", "s", "m", "h", "us", "ns"].contains(&&s[digits.len()..])
}

#[test]
fn every_duration_flag_of_every_subcommand_takes_bare_seconds() {
    let subs = subcommands();
    assert!(
        subs.len() >= 12 && subs.iter().any(|s| s == "torture"),
        "{subs:?}"
    );
    let mut tried = BTreeSet::new();
    for sub in &subs {
        let help = text(&gauntlet(&[sub, "--help"]).stdout);
        for (flag, value, default) in options(&help) {
            let is_duration = value == "DURATION";
            if let Some(d) = &default {
                // A flag with a duration default must be a DURATION flag, or the walk would
                // miss it.
                assert!(
                    !looks_like_duration(d) || is_duration,
                    "gauntlet {sub} {flag} defaults to {d} but is not a DURATION flag"
                );
            }
            if !is_duration {
                continue;
            }
            // clap parses a value as it meets it, so a bad one fails before --help prints.
            let ok = gauntlet(&[sub, &flag, "7", "--help"]);
            assert_eq!(
                ok.status.code(),
                Some(0),
                "gauntlet {sub} {flag} 7: {}",
                text(&ok.stderr)
            );
            let bad = gauntlet(&[sub, &flag, "7x", "--help"]);
            let err = text(&bad.stderr);
            assert_eq!(bad.status.code(), Some(254), "gauntlet {sub} {flag} 7x");
            assert!(
                err.contains(&flag)
                    && err.contains("bare number (60, 0.5)")
                    && err.contains("500ms"),
                "the error names {flag} and shows both forms: {err}"
            );
            tried.insert(format!("{sub} {flag}"));
        }
    }
    for expected in [
        "run --time-limit",
        "torture --duration",
        "bug-hunt --recovery",
        "plan --lease-ttl",
    ] {
        assert!(
            tried.contains(expected),
            "{expected} not found among {tried:?}"
        );
    }
}

#[test]
fn a_bare_time_limit_reaches_the_plan_as_seconds() {
    let out = gauntlet(&[
        "plan",
        "--time-limit",
        "7",
        "--seed",
        "1",
        "--task-work",
        "0.25",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["options"]["time_limit_ms"], 7000);
    assert_eq!(plan["options"]["task_work_ms"], 250);
}

#[test]
fn completions_for_three_shells_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out = gauntlet(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = text(&out.stdout);
        for sub in ["bug-hunt", "index", "torture", "completions"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    // bash can at least check the syntax of its script.
    let bash = text(&gauntlet(&["completions", "bash"]).stdout);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gauntlet.bash");
    std::fs::write(&file, bash).unwrap();
    let st = Command::new("bash").arg("-n").arg(&file).status().unwrap();
    assert!(st.success(), "bash -n rejects the completion script");
    let bad = gauntlet(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(254));
}

#[test]
fn man_page_on_stdout_and_one_per_subcommand_in_a_dir() {
    let out = gauntlet(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = text(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH gauntlet"),
        "{}",
        &page[..page.len().min(200)]
    );
    assert!(page.contains("bug\\-hunt"), "subcommands listed");
    let dir = tempfile::tempdir().unwrap();
    let out = gauntlet(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for f in ["gauntlet.1", "gauntlet-index.1", "gauntlet-torture.1"] {
        assert!(dir.path().join(f).is_file(), "{f} written");
    }
}

#[test]
fn version_names_the_git_commit_when_built_from_git() {
    let v = text(&gauntlet(&["--version"]).stdout);
    assert!(
        v.starts_with(&format!("gauntlet {}", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match head {
        Ok(o) if o.status.success() => {
            let commit = text(&o.stdout).trim().to_string();
            assert!(v.contains(&format!("(git {commit}")), "{v} lacks {commit}");
        }
        _ => eprintln!("NOTE: no git here; only the plain version was checked"),
    }
}

/// A store with one valid run, for the commands that need one.
fn tiny_store(root: &Path) -> std::path::PathBuf {
    let run = root.join("store/mixed-all/20260101T000000.000Z-seed3");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("results.json"), r#"{"valid":true,"ops":4}"#).unwrap();
    root.join("store")
}

#[test]
fn quiet_silences_status_verbose_adds_info_and_no_color_strips_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let store = tiny_store(dir.path());
    let s = store.to_str().unwrap();
    let normal = gauntlet(&["index", s]);
    assert_eq!(normal.status.code(), Some(0));
    assert!(
        text(&normal.stderr).contains("gauntlet index: 1 runs"),
        "{}",
        text(&normal.stderr)
    );
    assert!(!text(&normal.stderr).contains("INFO"));
    let quiet = gauntlet(&["-q", "index", s]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(text(&quiet.stderr), "", "--quiet prints nothing on success");
    let verbose = gauntlet(&["index", s, "--verbose"]);
    let err = text(&verbose.stderr);
    assert!(
        err.contains("INFO") && err.contains("indexed 1 runs"),
        "{err}"
    );
    assert!(
        err.contains('\u{1b}'),
        "coloured log without NO_COLOR: {err:?}"
    );
    let plain = Command::new(GAUNTLET)
        .args(["-v", "index", s])
        .env("NO_COLOR", "1")
        .env_remove("GAUNTLET_LOG")
        .output()
        .unwrap();
    let err = text(&plain.stderr);
    assert!(err.contains("INFO"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "NO_COLOR leaves no escape codes: {err:?}"
    );
    let both = gauntlet(&["-q", "-v", "index", s]);
    assert_eq!(
        both.status.code(),
        Some(254),
        "--quiet and --verbose conflict"
    );
}

#[test]
fn bug_hunt_knows_every_planted_bug_of_gauntlet_node() {
    let node = common::node_bin();
    let help = Command::new(&node).arg("--help").output().unwrap();
    let help = text(&help.stdout);
    // clap's long help lists the values one a line: `- name: description`.
    let start = help.find("--bug <").expect("gauntlet-node --bug");
    let section = &help[start..];
    let values = section
        .split("Possible values:")
        .nth(1)
        .expect("possible values of --bug");
    let node_bugs: BTreeSet<&str> = values
        .lines()
        .map(str::trim)
        .take_while(|l| l.is_empty() || l.starts_with("- "))
        .filter_map(|l| l.strip_prefix("- "))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert!(node_bugs.len() >= 5, "{node_bugs:?}");
    let ours: BTreeSet<&str> = harness::bughunt::PLANTED_BUGS
        .iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(
        ours, node_bugs,
        "bug-hunt's PLANTED_BUGS vs gauntlet-node --bug"
    );
}
