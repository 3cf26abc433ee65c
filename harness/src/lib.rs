//! harness: the controller and CLI of Gauntlet.
//!
//! | module | what it owns |
//! | --- | --- |
//! | [`exit`] | exit codes and the bad-input error marker |
//! | [`check`] | `gauntlet check` |
//! | [`config`] | the resolved options of a run (`test.json`) |
//! | [`defaults`] | the one table of run defaults, read by the flags and the rerun command |
//! | [`cli`] | the flags of `run` and `plan` and their validation |
//! | [`plan`] | the seeded plan: client ops and faults, a pure function of the options |
//! | [`plan_cmd`] | `gauntlet plan` |
//! | [`faults`] | the fault vocabulary (from `nemesis`) |
//! | [`import`] | `gauntlet import --from jepsen-edn`: Jepsen EDN histories to JSONL |
//! | [`run`] | `gauntlet run`: the lifecycle of one run, [`run::run_once`] |
//! | [`outcome`] | the end of a run: checks, no-vacuous-pass conditions, summary, exit code |
//! | [`cluster`] | the seam to the system under test: [`cluster::Cluster`] and the clients it [`cluster::Offers`] |
//! | [`systems`] | the systems behind the seam and their registry (`--system`; `gauntlet-node`) |
//! | [`workloads`] | the workloads as units (generator, client, final phase, checkers) and their registry (`--workload`) |
//! | [`workers`] | the client workers: planned ops on time, Jepsen's process rule |
//! | [`nemesis_run`] | the nemesis of a run: faults on time, recorded when they took effect |
//! | [`recorder`] | the history writer of a run |
//! | [`store`] | the run directory and `store/latest` |
//! | [`run_marker`] | `RUNNING`/`ABORTED` markers: a killed run never reads as finished |
//! | [`summary`] | the end-of-run summary and the repro command |
//! | [`report`] | the run report (`report.html`) and `gauntlet report` |
//! | [`torture`] | `gauntlet torture`: many seeds, progress, summary, shards |
//! | [`junit`] | JUnit XML of torture runs, and merging it |
//! | [`merge`] | `gauntlet merge`: joins torture shards' outputs |
//! | [`repro`] | `gauntlet repro`: reruns a stored run until its anomaly shows again |
//! | [`shrink`] | `gauntlet shrink`: the smallest plan that still fails (ddmin, simple passes) |
//! | [`bughunt`] | `gauntlet bug-hunt`: the planted-bug matrix, detection rates |
//! | [`index`] | `gauntlet index` and `store/index.html`: every run of a store, failures grouped |
//! | [`term`] | `--quiet`, `--verbose`, `NO_COLOR`, log lines above the progress bar |
//! | [`shell`] | `gauntlet completions` and `gauntlet man` |

pub mod bughunt;
pub mod check;
pub mod clean;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod defaults;
pub mod exit;
pub mod faults;
#[cfg(test)]
mod fixtures;
pub mod import;
pub mod index;
pub mod junit;
pub mod merge;
pub mod nemesis_run;
pub mod outcome;
pub mod plan;
pub mod plan_cmd;
pub mod recorder;
pub mod report;
pub mod repro;
pub mod run;
pub mod run_marker;
pub mod shell;
pub mod shrink;
pub mod store;
pub mod summary;
pub mod systems;
pub mod term;
pub mod torture;
pub mod workers;
pub mod workloads;
