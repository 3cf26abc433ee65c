//! harness: the controller and CLI of Gauntlet.
//!
//! | module | what it owns |
//! | --- | --- |
//! | [`exit`] | exit codes and the bad-input error marker |
//! | [`check`] | `gauntlet check` |
//! | [`report`] | the run report (`report.html`) and `gauntlet report` |

pub mod check;
pub mod exit;
pub mod report;
