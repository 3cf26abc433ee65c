//! The one table of run defaults: every `default_value` of the flags of `run`, `plan`,
//! `torture`, `bug-hunt` (the shared [`crate::cli::PlanFlags`] and [`crate::cli::ExecFlags`])
//! comes from here, and so does what the rerun command leaves out
//! ([`crate::summary::repro_args`]), so a default changed here changes both. A test parses
//! every printed rerun command back and checks it gives the same options.
//!
//! Each value is written as the flag takes it.

/// `--nodes`.
pub const NODES: &str = "5";
/// `--time-limit`.
pub const TIME_LIMIT: &str = "30s";
/// `--concurrency`: two clients per node.
pub const CONCURRENCY: &str = "2n";
/// `--workload`.
pub const WORKLOAD: &str = "mixed";
/// `--nemesis`.
pub const NEMESIS: &str = "all";
/// `--nemesis-interval`.
pub const NEMESIS_INTERVAL: &str = "5s";
/// `--rate`, ops/s over all workers.
pub const RATE: &str = "100";
/// `--locks`.
pub const LOCKS: &str = "3";
/// `--lease-ttl`.
pub const LEASE_TTL: &str = "2s";
/// `--task-work`.
pub const TASK_WORK: &str = "50ms";
/// `--system`.
pub const SYSTEM: &str = crate::systems::DEFAULT;
/// `--store`.
pub const STORE: &str = "store";
/// `--net`.
pub const NET: &str = "namespaces";
/// `--recovery`: longer than gauntlet-node's task liveness bound (10 s) plus the time to
/// become healthy, so a task the cluster never finishes is proven not-done.
pub const RECOVERY: &str = "20s";
/// `--op-timeout`.
pub const OP_TIMEOUT: &str = "2s";
/// `--lock-model` (of `check`, `run`, `torture`, `bug-hunt`).
pub const LOCK_MODEL: &str = "lease";
/// `--min-ok-ops`.
pub const MIN_OK_OPS: &str = "10";
