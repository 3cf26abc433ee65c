//! `gauntlet merge`: joins the outputs of several torture shards into one summary.json,
//! junit.xml and summary.txt, and exits with the combined verdict (1 if any seed was invalid,
//! else 2 if any was unknown, else 0) so a CI job after the matrix can gate on it.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::{bad_input, Exit};
use crate::torture::summary::Summary;

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
            let s = p.join("summary.json");
            if !s.is_file() {
                return Err(bad_input(format!(
                    "{}: no summary.json in this directory",
                    p.display()
                )));
            }
            out.summaries.push(s);
            let j = p.join("junit.xml");
            if j.is_file() {
                out.junits.push(j);
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
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create", args.out.display()))?;
    let junit_path = args.out.join("junit.xml");
    let mut exit = Exit::Valid;
    if !inputs.summaries.is_empty() {
        let parts = inputs
            .summaries
            .iter()
            .map(|p| Summary::read(p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let merged = Summary::merge(parts).map_err(bad_input)?;
        merged.write(&args.out.join("summary.json"))?;
        write(&args.out.join("summary.txt"), &merged.table())?;
        if inputs.junits.is_empty() {
            write(&junit_path, &crate::junit::render(&merged))?;
        }
        print!("{}", merged.table());
        exit = merged.exit();
        let dirs = merged.runs.iter().filter_map(|r| r.run_dir.as_deref());
        crate::index::stores_of(dirs)
            .iter()
            .for_each(|s| crate::index::refresh(s));
    }
    if !inputs.junits.is_empty() {
        let docs = inputs
            .junits
            .iter()
            .map(|p| {
                std::fs::read_to_string(p)
                    .map(|t| (p.display().to_string(), t))
                    .map_err(|e| bad_input(format!("{}: {e}", p.display())))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let xml = crate::junit::merge(&docs).map_err(bad_input)?;
        write(&junit_path, &xml)?;
        if inputs.summaries.is_empty() {
            exit = exit_of_junit(&xml);
        }
    }
    println!(
        "merged {} inputs into {}",
        args.inputs.len(),
        args.out.display()
    );
    Ok(exit)
}

/// The verdict a merged JUnit document implies, from its root counts.
fn exit_of_junit(xml: &str) -> Exit {
    let root = xml.find("<testsuites").map(|i| &xml[i..]).unwrap_or("");
    let root = &root[..root.find('>').unwrap_or(root.len())];
    let count = |name: &str| {
        let key = format!(" {name}=\"");
        root.find(&key)
            .and_then(|i| root[i + key.len()..].split('"').next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    if count("failures") > 0 {
        Exit::Invalid
    } else if count("errors") > 0 {
        Exit::Unknown
    } else {
        Exit::Valid
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("{}: cannot write", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_counts_give_the_exit() {
        let x = |f: u32, e: u32| {
            format!("<?xml?>\n<testsuites name=\"g\" tests=\"3\" failures=\"{f}\" errors=\"{e}\">")
        };
        assert_eq!(exit_of_junit(&x(1, 1)), Exit::Invalid);
        assert_eq!(exit_of_junit(&x(0, 2)), Exit::Unknown);
        assert_eq!(exit_of_junit(&x(0, 0)), Exit::Valid);
    }

    #[test]
    fn inputs_of_unknown_kinds_are_rejected_by_name() {
        let e = classify(&[PathBuf::from("/nonexistent/shard.txt")]).unwrap_err();
        assert!(format!("{e:#}").contains("shard.txt"), "{e:#}");
    }
}
