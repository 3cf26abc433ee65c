//! harness: the controller and CLI of Gauntlet.
//!
//! | module | what it owns |
//! | --- | --- |
//! | [`exit`] | exit codes and the bad-input error marker |
//! | [`check`] | `gauntlet check` |
//! | [`config`] | the resolved options of a run (`test.json`) |
//! | [`cli`] | the flags of `run` and `plan` and their validation |
//! | [`plan`] | the seeded plan: client ops and faults, a pure function of the options |
//! | [`plan_cmd`] | `gauntlet plan` |
//! | [`faults`] | the fault vocabulary (from `nemesis`) |
//! | [`report`] | the run report (`report.html`) and `gauntlet report` |

pub mod check;
pub mod clean;
pub mod cli;
pub mod config;
pub mod exit;
pub mod faults;
pub mod plan;
pub mod plan_cmd;
pub mod report;
