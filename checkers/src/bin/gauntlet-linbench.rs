//! `gauntlet-linbench`: the Rust side of the side-by-side benchmark with Porcupine
//! (checkers/benches/lin_vs_porcupine.sh, docs/performance-lin.md).
//!
//! - `gauntlet-linbench generate DIR [--seed S] [--count N]`: writes the hard set
//!   (`checkers::linearizable::generate::hard`, default seed 17 and 100 files) as
//!   `DIR/hard-NNN.jsonl`, with `DIR/expected.tsv` giving each file's verdict by construction
//!   and its parameters. Deterministic: the same flags give the same bytes.
//! - `gauntlet-linbench check [--explain] [--init JSON] FILE...`: checks each file with the
//!   `cas-register` model and prints `FILE<TAB>VERDICT<TAB>WALL<TAB>CPU<TAB>STEPS` (seconds;
//!   CPU: all threads), then `total<TAB>-<TAB>WALL<TAB>CPU<TAB>-`. Only the check is timed (the file is read and parsed before
//!   the clock starts), as in the Go program beside the script. Counterexamples are computed
//!   only with `--explain` (Porcupine's `CheckOperationsTimeout` computes none); `--plain`
//!   turns the search's reductions off. No step budget and no timeout (nor has Porcupine).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use checkers::linearizable::generate::hard::hard_set;
use checkers::linearizable::{check_ops, LinOptions, ModelKind};
use checkers::Verdict;
use histories::{HistoryReader, Op};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("generate") => generate(&args[1..]),
        Some("check") => check(&args[1..]),
        _ => Err("usage: gauntlet-linbench generate DIR [--seed S] [--count N] | check [--explain] [--plain] [--init JSON] FILE...".into()),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gauntlet-linbench: {e}");
            ExitCode::from(254)
        }
    }
}

fn number(flag: &str, v: Option<&String>) -> Result<u64, String> {
    let v = v.ok_or(format!("{flag} needs a value"))?;
    v.parse()
        .map_err(|_| format!("{flag}: not a number: {v:?}"))
}

fn generate(args: &[String]) -> Result<(), String> {
    let (mut dir, mut seed, mut count) = (None, 17u64, 100usize);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seed" => seed = number("--seed", it.next())?,
            "--count" => count = number("--count", it.next())? as usize,
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            d => dir = Some(PathBuf::from(d)),
        }
    }
    let dir = dir.ok_or("generate: which directory?")?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut tsv =
        String::from("file\tlinearizable\tops\tworkers\tmutation_info\tvalues\tplant\tseed\n");
    for h in hard_set(seed, count) {
        let mut text = String::new();
        for op in &h.ops {
            let line = serde_json::to_string(op).map_err(|e| format!("{}: {e}", h.name))?;
            text.push_str(&line);
            text.push('\n');
        }
        let file = format!("{}.jsonl", h.name);
        write_whole(&dir.join(&file), &text)?;
        let _ = writeln!(
            tsv,
            "{file}\t{}\t{}\t{}\t{:.2}\t{}\t{:?}\t{}",
            h.linearizable,
            h.config.ops,
            h.config.workers,
            h.config.mutation_info_ratio.unwrap_or(h.config.info_ratio),
            h.config.values,
            h.plant,
            h.seed
        );
    }
    write_whole(&dir.join("expected.tsv"), &tsv)
}

/// Writes `path` whole or not at all (a temp file renamed into place).
fn write_whole(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

fn check(args: &[String]) -> Result<(), String> {
    // No step budget nor timeout, as Porcupine runs without one: both must decide every file.
    let mut opts = LinOptions {
        model: ModelKind::CasRegister,
        init: serde_json::json!(0),
        timeout: None,
        max_steps_per_key: u64::MAX,
        explain: false,
        ..LinOptions::default()
    };
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--explain" => opts.explain = true,
            "--plain" => opts.plain_search = true,
            "--init" => {
                let v = it.next().ok_or("--init needs a value")?;
                opts.init = serde_json::from_str(v).map_err(|e| format!("--init {v:?}: {e}"))?;
            }
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            f => files.push(PathBuf::from(f)),
        }
    }
    let (mut total, mut total_cpu) = (Duration::ZERO, Duration::ZERO);
    for path in &files {
        let ops: Vec<Op> = HistoryReader::open(path)
            .map_err(|e| e.to_string())?
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let (start, cpu0) = (Instant::now(), cpu_time());
        let res = check_ops(&ops, &opts).map_err(|e| format!("{}: {e}", path.display()))?;
        let (took, cpu) = (start.elapsed(), cpu_time().saturating_sub(cpu0));
        total += took;
        total_cpu += cpu;
        let verdict = match res.valid {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        };
        println!(
            "{}\t{verdict}\t{:.6}\t{:.6}\t{}",
            path.display(),
            took.as_secs_f64(),
            cpu.as_secs_f64(),
            res.steps
        );
        drop(ops);
    }
    println!(
        "total\t-\t{:.6}\t{:.6}\t-",
        total.as_secs_f64(),
        total_cpu.as_secs_f64()
    );
    Ok(())
}

/// CPU time of this process so far: the sum over its threads of the time each spent on a
/// CPU (/proc/self/task/*/schedstat, nanoseconds; the Go program measures the same way).
/// On a shared, loaded machine this is steadier than wall time.
fn cpu_time() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let ns: u64 = tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}
