//! `gauntlet merge`: joins the outputs of several torture shards into one summary.json,
//! junit.xml and summary.txt, and exits with the combined verdict (1 if any seed was invalid,
//! else 2 if any was unknown, else 0) so a CI job after the matrix can gate on it.
//!
//! The gate never passes on less than it was given: every shard `I/N` of a suite must be
//! present exactly once (an unsharded summary counts as `1/1`), a shard directory must hold
//! both summary.json and junit.xml, the JUnit files must hold as many testcases, failures
//! and errors as the summaries say, and an input that cannot be read or parsed stops the
//! merge; all of these exit 254 and name the input. Zero runs in all inputs exit 2 (nothing
//! was checked). The outputs are written all or none: never a half-written set.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::exit::{bad_input, Exit};
use crate::junit::Merged;
use crate::torture::seeds::Shard;
use crate::torture::summary::{Summary, NOTHING_CHECKED};

/// Flags of `gauntlet merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Shard output directories (holding summary.json and junit.xml), or summary.json and
    /// JUnit .xml files.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Directory for the merged summary.json, junit.xml and summary.txt.
    #[arg(long)]
    pub out: PathBuf,
}

/// The inputs sorted into summaries and JUnit files.
#[derive(Debug, Default)]
struct Inputs {
    summaries: Vec<PathBuf>,
    junits: Vec<PathBuf>,
}

fn classify(inputs: &[PathBuf]) -> anyhow::Result<Inputs> {
    let mut out = Inputs::default();
    for p in inputs {
        if p.is_dir() {
            for (file, list) in [
                ("summary.json", &mut out.summaries),
                ("junit.xml", &mut out.junits),
            ] {
                let f = p.join(file);
                if !f.is_file() {
                    return Err(bad_input(format!(
                        "{}: no {file} in this shard directory",
                        p.display()
                    )));
                }
                list.push(f);
            }
        } else if p.extension().is_some_and(|e| e == "json") {
            out.summaries.push(p.clone());
        } else if p.extension().is_some_and(|e| e == "xml") {
            out.junits.push(p.clone());
        } else {
            return Err(bad_input(format!(
                "{}: expected a shard directory, a summary .json or a JUnit .xml",
                p.display()
            )));
        }
    }
    Ok(out)
}

/// Runs `gauntlet merge`.
pub fn main(args: MergeArgs) -> anyhow::Result<Exit> {
    let inputs = classify(&args.inputs)?;
    let summaries = inputs
        .summaries
        .iter()
        .map(|p| Ok((p.display().to_string(), Summary::read(p)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let junit = read_junits(&inputs.junits)?;
    let mut outputs = Vec::new();
    let mut stores = Vec::new();
    let (exit, table) = if summaries.is_empty() {
        let j = junit.as_ref().expect("classify gives at least one input");
        check_shards(
            j.suites
                .iter()
                .map(|(src, name, shards)| (src, name, shards)),
        )
        .map_err(bad_input)?;
        (exit_of_junit(j), None)
    } else {
        check_shards(summaries.iter().map(|(src, s)| (src, &s.name, &s.shards)))
            .map_err(bad_input)?;
        let merged =
            Summary::merge(summaries.into_iter().map(|(_, s)| s).collect()).map_err(bad_input)?;
        if let Some(j) = &junit {
            check_counts(j, &merged).map_err(bad_input)?;
        }
        let json = serde_json::to_string_pretty(&merged)? + "\n";
        outputs.push(("summary.json", json));
        outputs.push(("summary.txt", merged.table()));
        if junit.is_none() {
            outputs.push(("junit.xml", crate::junit::render(&merged)));
        }
        let dirs = merged.runs.iter().filter_map(|r| r.run_dir.as_deref());
        stores = crate::index::stores_of(dirs);
        (merged.exit(), Some(merged.table()))
    };
    if let Some(j) = junit {
        outputs.push(("junit.xml", j.xml));
    }
    write_all(&args.out, &outputs)?;
    stores.iter().for_each(|s| crate::index::refresh(s));
    if let Some(t) = table {
        print!("{t}");
    }
    println!(
        "merged {} inputs into {}",
        args.inputs.len(),
        args.out.display()
    );
    Ok(exit)
}

fn read_junits(paths: &[PathBuf]) -> anyhow::Result<Option<Merged>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let docs = paths
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|t| (p.display().to_string(), t))
                .map_err(|e| bad_input(format!("{}: {e}", p.display())))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    crate::junit::merge(&docs).map(Some).map_err(bad_input)
}

/// Every suite's shards `1/N..N/N` present exactly once, with one N per suite. An input
/// without shards counts as `1/1`. Items: (input, suite name, shards).
fn check_shards<'a>(
    items: impl Iterator<Item = (&'a String, &'a String, &'a Vec<String>)>,
) -> Result<(), String> {
    // suite name -> shard -> the inputs that hold it
    let mut seen: BTreeMap<&str, BTreeMap<(u32, u32), Vec<&str>>> = BTreeMap::new();
    for (src, name, shards) in items {
        let whole = vec!["1/1".to_string()];
        let shards = if shards.is_empty() { &whole } else { shards };
        for s in shards {
            let shard: Shard = s.parse().map_err(|e| format!("{src}: shard {s:?}: {e}"))?;
            seen.entry(name.as_str())
                .or_default()
                .entry((shard.count, shard.index))
                .or_default()
                .push(src.as_str());
        }
    }
    for (name, shards) in &seen {
        let counts: std::collections::BTreeSet<u32> = shards.keys().map(|k| k.0).collect();
        if counts.len() > 1 {
            let list: Vec<String> = shards.keys().map(|(n, i)| format!("{i}/{n}")).collect();
            return Err(format!(
                "suite {name}: shards of different splits cannot be merged: {}",
                list.join(", ")
            ));
        }
        let n = counts.into_iter().next().unwrap_or(1);
        if let Some(((_, i), srcs)) = shards.iter().find(|(_, s)| s.len() > 1) {
            return Err(format!(
                "suite {name}: shard {i}/{n} is given more than once: {}",
                srcs.join(", ")
            ));
        }
        let missing: Vec<String> = (1..=n)
            .filter(|i| !shards.contains_key(&(n, *i)))
            .map(|i| format!("{i}/{n}"))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "suite {name}: {} of {n} shards given; missing {}: a gate on part of the \
                 shards could pass with seeds never checked",
                n as usize - missing.len(),
                missing.join(", ")
            ));
        }
    }
    Ok(())
}

/// The JUnit files must say what the summaries say: a junit.xml from another run or a
/// missing one would otherwise change what CI shows without failing the gate.
fn check_counts(j: &Merged, s: &Summary) -> Result<(), String> {
    let c = s.counts();
    let want = (
        s.runs.len() as u64,
        c.invalid as u64,
        (c.unknown + c.error) as u64,
    );
    if (j.tests, j.failures, j.errors) != want {
        return Err(format!(
            "the JUnit inputs hold {} testcases, {} failures, {} errors but the summaries {} \
             runs, {} invalid, {} unknown or error: are the junit.xml and summary.json files \
             of the same shards?",
            j.tests, j.failures, j.errors, want.0, want.1, want.2
        ));
    }
    Ok(())
}

/// The verdict of merged JUnit counts; no testcase at all is unknown (nothing was checked).
fn exit_of_junit(j: &Merged) -> Exit {
    if j.tests == 0 {
        eprintln!("gauntlet merge: {NOTHING_CHECKED}");
        Exit::Unknown
    } else if j.failures > 0 {
        Exit::Invalid
    } else if j.errors > 0 {
        Exit::Unknown
    } else {
        Exit::Valid
    }
}

/// Writes every output into `out` or none: each goes to a temporary file first, and only
/// when all are written and synced are they renamed into place. A failure (an `--out` that
/// is a file, a full device) is bad input naming the path; the temporary files are removed.
fn write_all(out: &Path, files: &[(&str, String)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).map_err(|e| {
        bad_input(format!(
            "--out {}: cannot create the directory: {e}",
            out.display()
        ))
    })?;
    let tmp = |name: &str| out.join(format!(".{name}.{}.tmp", std::process::id()));
    let remove_all = || {
        for (name, _) in files {
            let _ = std::fs::remove_file(tmp(name));
        }
    };
    for (name, text) in files {
        let written = std::fs::File::create(tmp(name))
            .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()));
        if let Err(e) = written {
            remove_all();
            return Err(bad_input(format!(
                "--out {}: cannot write {name}: {e}",
                out.display()
            )));
        }
    }
    for (name, _) in files {
        if let Err(e) = std::fs::rename(tmp(name), out.join(name)) {
            remove_all();
            return Err(bad_input(format!(
                "--out {}: cannot write {name}: {e}",
                out.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(tests: u64, failures: u64, errors: u64) -> Merged {
        Merged {
            xml: String::new(),
            tests,
            failures,
            errors,
            suites: Vec::new(),
        }
    }

    #[test]
    fn junit_counts_give_the_exit() {
        assert_eq!(exit_of_junit(&merged(3, 1, 1)), Exit::Invalid);
        assert_eq!(exit_of_junit(&merged(3, 0, 2)), Exit::Unknown);
        assert_eq!(exit_of_junit(&merged(3, 0, 0)), Exit::Valid);
        assert_eq!(
            exit_of_junit(&merged(0, 0, 0)),
            Exit::Unknown,
            "nothing checked"
        );
    }

    #[test]
    fn inputs_of_unknown_kinds_are_rejected_by_name() {
        let e = classify(&[PathBuf::from("/nonexistent/shard.txt")]).unwrap_err();
        assert!(format!("{e:#}").contains("shard.txt"), "{e:#}");
    }

    fn check(items: &[(&str, &str, &[&str])]) -> Result<(), String> {
        let owned: Vec<(String, String, Vec<String>)> = items
            .iter()
            .map(|(a, b, c)| {
                (
                    a.to_string(),
                    b.to_string(),
                    c.iter().map(|s| s.to_string()).collect(),
                )
            })
            .collect();
        check_shards(owned.iter().map(|(a, b, c)| (a, b, c)))
    }

    /// Proves: shards must be complete and unique per suite, one split per suite.
    #[test]
    fn shards_must_be_all_present_exactly_once() {
        assert!(check(&[("a", "s", &["1/2"]), ("b", "s", &["2/2"])]).is_ok());
        assert!(check(&[("a", "s", &[]), ("b", "t", &["1/1"])]).is_ok());
        assert!(
            check(&[("m", "s", &["1/2", "2/2"])]).is_ok(),
            "a merged one"
        );
        let e = check(&[("a", "s", &["1/2"])]).unwrap_err();
        assert!(
            e.contains("1 of 2 shards") && e.contains("missing 2/2"),
            "{e}"
        );
        let e = check(&[
            ("a", "s", &["1/2"]),
            ("b", "s", &["1/2"]),
            ("c", "s", &["2/2"]),
        ])
        .unwrap_err();
        assert!(e.contains("1/2 is given more than once: a, b"), "{e}");
        let e = check(&[("a", "s", &["1/2"]), ("b", "s", &["2/3"])]).unwrap_err();
        assert!(e.contains("different splits"), "{e}");
        let e = check(&[("a", "s", &["x/2"])]).unwrap_err();
        assert!(e.starts_with("a: shard"), "{e}");
        let e = check(&[("a", "s", &[]), ("b", "s", &[])]).unwrap_err();
        assert!(e.contains("1/1 is given more than once"), "{e}");
    }
}
