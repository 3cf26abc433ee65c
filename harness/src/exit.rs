//! Exit codes of `gauntlet`, Jepsen's convention (DESIGN.md "Exit codes").
//!
//! Subcommands return `anyhow::Result<Exit>`. An error whose chain holds a [`BadInput`]
//! exits 254 (bad usage or bad input); any other error exits 255 (the harness itself failed).

use std::fmt;
use std::process::ExitCode;

/// The verdict-shaped outcome of a subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: valid, or the command did what it was asked.
    Valid,
    /// 1: an anomaly was found.
    Invalid,
    /// 2: the checkers could not decide, or the run could not finish.
    Unknown,
    /// 254: bad usage or bad input.
    BadInput,
    /// 255: the harness itself crashed.
    Crash,
}

impl Exit {
    /// The process exit status for this outcome.
    pub fn code(self) -> u8 {
        match self {
            Exit::Valid => 0,
            Exit::Invalid => 1,
            Exit::Unknown => 2,
            Exit::BadInput => 254,
            Exit::Crash => 255,
        }
    }

    /// The exit of a verdict: valid 0, invalid 1, unknown 2.
    pub fn of(v: checkers::Verdict) -> Exit {
        match v {
            checkers::Verdict::Valid => Exit::Valid,
            checkers::Verdict::Invalid => Exit::Invalid,
            checkers::Verdict::Unknown => Exit::Unknown,
        }
    }

    /// The one ranking of outcomes, for every command that combines several (check over
    /// histories, repro over tries, torture and bug-hunt over seeds): crash > bad input >
    /// invalid > unknown > valid. Among verdicts it is Jepsen's merge-valid
    /// ([`checkers::Verdict::and`]): false beats unknown beats true.
    pub fn rank(self) -> u8 {
        match self {
            Exit::Valid => 0,
            Exit::Unknown => 1,
            Exit::Invalid => 2,
            Exit::BadInput => 3,
            Exit::Crash => 4,
        }
    }

    /// The worse of two outcomes by [`Exit::rank`].
    pub fn worse(self, other: Exit) -> Exit {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// Marks an error as the user's: a bad flag value, an unreadable or malformed input file.
/// The message must name what is wrong and where (file, line, flag).
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Shorthand: an `anyhow::Error` that exits 254.
pub fn bad_input(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(msg.into()))
}

/// Maps a subcommand's error to its exit code: 254 if any cause is [`BadInput`], else 255.
pub fn exit_for_error(err: &anyhow::Error) -> Exit {
    if err.chain().any(|c| c.downcast_ref::<BadInput>().is_some()) {
        Exit::BadInput
    } else {
        Exit::Crash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::Verdict;

    /// Proves the one ranking agrees with the checkers' merge of verdicts on every pair, and
    /// puts bad input and crashes above any verdict.
    #[test]
    fn the_ranking_is_the_verdict_merge() {
        let all = [Verdict::Valid, Verdict::Invalid, Verdict::Unknown];
        for a in all {
            for b in all {
                assert_eq!(
                    Exit::of(a).worse(Exit::of(b)),
                    Exit::of(a.and(b)),
                    "{a} {b}"
                );
            }
            assert_eq!(Exit::of(a).worse(Exit::BadInput), Exit::BadInput);
            assert_eq!(Exit::BadInput.worse(Exit::of(a)), Exit::BadInput);
        }
        assert_eq!(Exit::BadInput.worse(Exit::Crash), Exit::Crash);
    }
}
