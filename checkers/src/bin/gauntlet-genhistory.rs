//! `gauntlet-genhistory OUT [--ops N] [--clients C] [--seed S] [--locks L]`: writes a valid
//! synthetic history of about N ops (default 1,000,000: 10 clients, mixed tasks and locks,
//! one final read of about 300,000 tasks, about 125 MB) for the `gauntlet check` benchmark
//! in docs/performance-check.md. Deterministic: the same flags give the same bytes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use checkers::synth::{synthesize, SynthConfig};

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gauntlet-genhistory: {e}");
            ExitCode::from(254)
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut out = None;
    let mut ops: u64 = 1_000_000;
    let mut cfg = SynthConfig {
        seed: 1,
        clients: 10,
        locks: 30,
        submit_share: 0.6,
        fail_rate: 0.02,
        info_rate: 0.01,
        dup_rate: 0.01,
        ttl_ms: 2000,
        max_hold_ms: 40,
        max_latency_ms: 20,
        nemesis_every: 10_000,
        ..SynthConfig::default()
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut num = |flag: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{flag} needs a value"))?;
            v.parse()
                .map_err(|_| format!("{flag}: not a number: {v:?}"))
        };
        match a.as_str() {
            "--ops" => ops = num("--ops")?,
            "--clients" => cfg.clients = num("--clients")? as usize,
            "--seed" => cfg.seed = num("--seed")?,
            "--locks" => cfg.locks = num("--locks")? as usize,
            "-h" | "--help" => {
                println!(
                    "usage: gauntlet-genhistory OUT [--ops N] [--clients C] [--seed S] [--locks L]"
                );
                return Ok(());
            }
            s if s.starts_with('-') => return Err(format!("unknown flag {s:?}")),
            _ if out.is_none() => out = Some(a),
            _ => return Err(format!("unexpected argument {a:?}")),
        }
    }
    let out = out.ok_or("missing OUT (the history file to write)")?;
    // Two ops per invocation, plus nemesis events and the final read.
    cfg.invocations = (ops.saturating_sub(2) / 2).saturating_sub(ops / (2 * cfg.nemesis_every));
    let file = File::create(&out).map_err(|e| format!("{out}: {e}"))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut err = None;
    let report = synthesize(&cfg, |op| {
        if err.is_none() {
            if let Err(e) = serde_json::to_writer(&mut w, &op)
                .map_err(|e| e.to_string())
                .and_then(|()| w.write_all(b"\n").map_err(|e| e.to_string()))
            {
                err = Some(e);
            }
        }
    });
    if let Some(e) = err {
        return Err(format!("{out}: {e}"));
    }
    w.flush().map_err(|e| format!("{out}: {e}"))?;
    eprintln!("gauntlet-genhistory: wrote {} ops to {out}", report.ops);
    Ok(())
}
