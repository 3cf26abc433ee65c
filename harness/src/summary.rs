//! The end-of-run summary and the command that reruns a run.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::cli::default_node_bin;
use crate::config::{NemesisSet, RunConfig, Workload};
use crate::nemesis_run::NemesisReport;
use crate::recorder::Counts;

/// Quotes an argument for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn ms(v: u64) -> String {
    if v % 1000 == 0 {
        format!("{}s", v / 1000)
    } else {
        format!("{v}ms")
    }
}

/// The arguments of `gauntlet run` that reproduce `cfg` exactly: the seed always, every
/// other option when it differs from its default. With `plan_path`, the stored plan is
/// replayed instead (`--plan`), for plans that did not come from a seed.
pub fn repro_args(cfg: &RunConfig, plan_path: Option<&Path>) -> Vec<String> {
    let p = &cfg.plan;
    let mut a: Vec<String> = vec!["run".into()];
    fn opt_in(a: &mut Vec<String>, flag: &str, v: String, default: &str) {
        if v != default {
            a.push(format!("--{flag}={v}"));
        }
    }
    macro_rules! opt {
        ($f:expr, $v:expr, $d:expr) => {
            opt_in(&mut a, $f, $v, $d)
        };
    }
    if let Some(path) = plan_path {
        opt!("plan", path.display().to_string(), "");
    } else {
        opt!("seed", p.seed.to_string(), "");
        opt!("nodes", p.nodes.to_string(), "5");
        opt!("time-limit", ms(p.time_limit_ms), "30s");
        let conc = if p.concurrency == 2 * p.nodes {
            "2n".to_string()
        } else {
            p.concurrency.to_string()
        };
        opt!("concurrency", conc, "2n");
        opt!(
            "workload",
            p.workload.to_string(),
            &Workload::Mixed.to_string()
        );
        opt!(
            "nemesis",
            p.nemesis.flag_value(),
            &NemesisSet::all().flag_value()
        );
        opt!("nemesis-interval", ms(p.nemesis_interval_ms), "5s");
        opt!("rate", p.rate.to_string(), "100");
        opt!("locks", p.locks.to_string(), "3");
        opt!("lease-ttl", ms(p.lease_ttl_ms), "2s");
        opt!("task-work", format!("{}ms", p.task_work_ms), "50ms");
        if p.overlap {
            a.push("--overlap".into());
        }
    }
    opt!("store", cfg.store.display().to_string(), "store");
    let default_bin = default_node_bin().ok();
    if default_bin.as_deref() != Some(cfg.node_bin.as_path()) {
        opt!("node-bin", cfg.node_bin.display().to_string(), "");
    }
    for na in &cfg.node_args {
        a.push(format!("--node-arg={na}"));
    }
    opt!("net", cfg.net.to_string(), "namespaces");
    if let Some(b) = &cfg.net_backend {
        a.push(format!("--net-backend={b}"));
    }
    opt!(
        "recovery",
        ms(cfg.recovery_ms),
        crate::cli::DEFAULT_RECOVERY
    );
    opt!("op-timeout", ms(cfg.op_timeout_ms), "2s");
    opt!("min-ok-ops", cfg.min_ok_ops.to_string(), "10");
    a
}

/// The command that reruns the run stored in `run_dir`: by seed, or — when the run was given
/// a plan file (perhaps hand-edited) — by replaying the run's stored `plan.json`.
pub fn rerun_command(cfg: &RunConfig, run_dir: &Path) -> String {
    let plan = run_dir.join(crate::store::PLAN_JSON);
    repro_command(cfg, cfg.plan_file.as_ref().map(|_| plan.as_path()))
}

/// `gauntlet run ...` as one shell line.
pub fn repro_command(cfg: &RunConfig, plan_path: Option<&Path>) -> String {
    let mut s = String::from("gauntlet");
    for arg in repro_args(cfg, plan_path) {
        s.push(' ');
        s.push_str(&shell_quote(&arg));
    }
    s
}

/// The ops table: ok / fail / info per `f`.
pub fn ops_table(counts: &BTreeMap<String, Counts>) -> String {
    let mut s = format!("{:<12} {:>7} {:>7} {:>7}\n", "f", "ok", "fail", "info");
    for (f, c) in counts {
        let _ = writeln!(s, "{f:<12} {:>7} {:>7} {:>7}", c.ok, c.fail, c.info);
    }
    s
}

/// One line about the faults: planned, due, applied by label, errors.
pub fn faults_line(n: &NemesisReport) -> String {
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &n.applied {
        *by.entry(a.as_str()).or_default() += 1;
    }
    let list: Vec<String> = by.iter().map(|(k, v)| format!("{k} x{v}")).collect();
    let mut s = format!(
        "faults: {} planned, {} due, {} applied",
        n.planned,
        n.due,
        n.applied.len()
    );
    if !list.is_empty() {
        let _ = write!(s, " ({})", list.join(", "));
    }
    for e in &n.errors {
        let _ = write!(s, "\n  ! {e}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rerun_names_the_seed_and_only_what_differs_from_the_defaults() {
        let mut cfg = RunConfig {
            plan: crate::plan::tests_support::opts(42),
            plan_file: None,
            store: "store".into(),
            node_bin: "/x/gauntlet-node".into(),
            node_args: vec!["--bug=early-lease-expiry".into()],
            net: crate::config::NetMode::Namespaces,
            net_backend: None,
            recovery_ms: 20_000,
            op_timeout_ms: 2_000,
            min_ok_ops: 10,
        };
        let dir = Path::new("/s/run1");
        assert_eq!(
            rerun_command(&cfg, dir),
            "gauntlet run --seed=42 --node-bin=/x/gauntlet-node --node-arg=--bug=early-lease-expiry"
        );
        cfg.plan.time_limit_ms = 8_500;
        cfg.plan.concurrency = 3;
        assert!(rerun_command(&cfg, dir).contains("--time-limit=8500ms --concurrency=3 "));
        // A run from a plan file reruns the stored plan, not the seed.
        cfg.plan_file = Some("edited.json".into());
        let c = rerun_command(&cfg, dir);
        assert!(
            c.contains("--plan=/s/run1/plan.json") && !c.contains("--seed"),
            "{c}"
        );
    }

    #[test]
    fn quoting_is_shell_safe() {
        assert_eq!(shell_quote("--seed=4"), "--seed=4");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
