//! The end-of-run summary and the command that reruns a run.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::config::{NemesisSet, RunConfig};
use crate::defaults;
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
        opt!("nodes", p.nodes.to_string(), defaults::NODES);
        opt!("time-limit", ms(p.time_limit_ms), defaults::TIME_LIMIT);
        let conc = if p.concurrency == 2 * p.nodes {
            "2n".to_string()
        } else {
            p.concurrency.to_string()
        };
        opt!("concurrency", conc, defaults::CONCURRENCY);
        opt!("workload", p.workload.to_string(), defaults::WORKLOAD);
        let default_nemesis = defaults::NEMESIS
            .parse::<NemesisSet>()
            .map(|n| n.flag_value())
            .unwrap_or_default();
        opt!("nemesis", p.nemesis.flag_value(), &default_nemesis);
        opt!(
            "nemesis-interval",
            ms(p.nemesis_interval_ms),
            defaults::NEMESIS_INTERVAL
        );
        opt!("rate", p.rate.to_string(), defaults::RATE);
        opt!("locks", p.locks.to_string(), defaults::LOCKS);
        opt!("lease-ttl", ms(p.lease_ttl_ms), defaults::LEASE_TTL);
        opt!(
            "task-work",
            format!("{}ms", p.task_work_ms),
            defaults::TASK_WORK
        );
        if p.overlap {
            a.push("--overlap".into());
        }
    }
    opt!("store", cfg.store.display().to_string(), defaults::STORE);
    opt!("system", cfg.system.clone(), defaults::SYSTEM);
    let default_bin = crate::systems::by_name(&cfg.system)
        .ok()
        .and_then(|s| (s.default_bin)().ok());
    if default_bin.as_deref() != Some(cfg.node_bin.as_path()) {
        opt!("node-bin", cfg.node_bin.display().to_string(), "");
    }
    for na in &cfg.node_args {
        a.push(format!("--node-arg={na}"));
    }
    opt!("net", cfg.net.to_string(), defaults::NET);
    if let Some(b) = &cfg.net_backend {
        a.push(format!("--net-backend={b}"));
    }
    opt!("recovery", ms(cfg.recovery_ms), defaults::RECOVERY);
    let default_op_timeout = crate::systems::by_name(&cfg.system)
        .map(|s| s.op_timeout)
        .unwrap_or(defaults::OP_TIMEOUT);
    opt!("op-timeout", ms(cfg.op_timeout_ms), default_op_timeout);
    opt!(
        "min-ok-ops",
        cfg.min_ok_ops.to_string(),
        defaults::MIN_OK_OPS
    );
    opt!(
        "lock-model",
        cfg.lock_model.to_string(),
        defaults::LOCK_MODEL
    );
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
            system: crate::systems::DEFAULT.into(),
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
            lock_model: Default::default(),
        };
        let dir = Path::new("/s/run1");
        assert_eq!(
            rerun_command(&cfg, dir),
            "gauntlet run --seed=42 --node-bin=/x/gauntlet-node --node-arg=--bug=early-lease-expiry"
        );
        // The op timeout's default is the system's: etcd's is 10 s.
        let mut etcd = cfg.clone();
        etcd.system = crate::systems::etcd::NAME.into();
        etcd.op_timeout_ms = 10_000;
        assert!(!rerun_command(&etcd, dir).contains("--op-timeout"));
        etcd.op_timeout_ms = 2_000;
        assert!(rerun_command(&etcd, dir).contains(" --op-timeout=2s"));
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

    /// Proves the printed rerun command gives back the very options of the run it reruns,
    /// for the defaults and for every option changed from its default (the command `run`,
    /// `torture` and `bug-hunt` print and store for each run): a default changed in one place
    /// only, or an option the command builder forgets, fails here.
    #[test]
    fn every_rerun_command_parses_back_to_the_same_options() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: crate::run::RunArgs,
        }
        let bin = tempfile::NamedTempFile::new().unwrap();
        let bin_path = bin.path().display().to_string();
        // The options the flags' defaults give (clap's own defaults, not a copy).
        let base = crate::run::resolve(
            &Cli::try_parse_from(["run", "--seed=42", "--node-bin", &bin_path])
                .unwrap()
                .args,
        )
        .unwrap();
        type Change = Box<dyn Fn(&mut RunConfig)>;
        let changes: Vec<(&str, Change)> = vec![
            ("defaults", Box::new(|_| {})),
            ("nodes", Box::new(|c| c.plan.nodes = 3)),
            ("time-limit", Box::new(|c| c.plan.time_limit_ms = 8_500)),
            ("concurrency", Box::new(|c| c.plan.concurrency = 7)),
            (
                "workload",
                Box::new(|c| c.plan.workload = crate::workloads::register::NAME),
            ),
            (
                "nemesis",
                Box::new(|c| c.plan.nemesis = "kill,pause".parse().unwrap()),
            ),
            (
                "nemesis-interval",
                Box::new(|c| c.plan.nemesis_interval_ms = 1_500),
            ),
            ("rate", Box::new(|c| c.plan.rate = 250.5)),
            ("locks", Box::new(|c| c.plan.locks = 5)),
            ("lease-ttl", Box::new(|c| c.plan.lease_ttl_ms = 3_000)),
            ("task-work", Box::new(|c| c.plan.task_work_ms = 1_020)),
            ("store", Box::new(|c| c.store = "/tmp/elsewhere".into())),
            (
                "node-arg",
                Box::new(|c| c.node_args = vec!["--bug=early-lease-expiry".into()]),
            ),
            (
                "net-backend",
                Box::new(|c| c.net_backend = Some("iptables".into())),
            ),
            ("recovery", Box::new(|c| c.recovery_ms = 7_250)),
            ("op-timeout", Box::new(|c| c.op_timeout_ms = 3_000)),
            ("min-ok-ops", Box::new(|c| c.min_ok_ops = 5)),
            (
                "lock-model",
                Box::new(|c| c.lock_model = checkers::locks::LockModel::Mutex),
            ),
        ];
        for (what, change) in changes {
            let mut cfg = base.clone();
            change(&mut cfg);
            let cmd = rerun_command(&cfg, Path::new("/s/run1"));
            let words = shell_words(&cmd);
            assert_eq!(words[..2], ["gauntlet", "run"], "{what}: {cmd}");
            let argv = std::iter::once("run").chain(words[2..].iter().map(String::as_str));
            let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{what}: {cmd}: {e}"));
            let back = crate::run::resolve(&cli.args).unwrap_or_else(|e| panic!("{what}: {e:#}"));
            assert_eq!(
                serde_json::to_value(&back).unwrap(),
                serde_json::to_value(&cfg).unwrap(),
                "{what}: {cmd}"
            );
        }
    }

    /// Splits a command as [`shell_quote`] quotes its words.
    fn shell_words(cmd: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        let mut any = false;
        for c in cmd.chars() {
            match c {
                '\'' => {
                    quoted = !quoted;
                    any = true;
                }
                ' ' if !quoted => {
                    if any || !cur.is_empty() {
                        words.push(std::mem::take(&mut cur));
                    }
                    any = false;
                }
                c => cur.push(c),
            }
        }
        if any || !cur.is_empty() {
            words.push(cur);
        }
        words
    }

    #[test]
    fn quoting_is_shell_safe() {
        assert_eq!(shell_quote("--seed=4"), "--seed=4");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
