//! Link shaping with `tc` inside a node namespace: a token bucket (`tbf`) for slow links,
//! and `netem` (delay, duplication, reordering) where the kernel has it. Each node's `eth0`
//! gets at most one root queueing discipline, replaced whole (`tc qdisc replace`), so
//! applying twice leaves the same state; healing deletes it. The qdisc lives in the node's
//! namespace and goes with it, so a SIGKILLed controller leaves none behind.

use std::os::fd::RawFd;

use crate::error::{Error, Result};
use crate::netns;

/// The program (iproute2).
pub(crate) const TC: &str = "tc";

/// The root qdisc a node's `eth0` should have.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    /// `tbf rate R burst B latency L`.
    Tbf {
        rate_kbit: u64,
        burst_bytes: u64,
        latency_ms: u64,
    },
    /// `netem delay D duplicate P reorder Q`.
    Netem {
        delay_ms: u64,
        duplicate: f64,
        reorder: f64,
    },
}

impl Shape {
    /// The `tc` arguments that install it as the root qdisc of `dev`.
    pub(crate) fn replace_args(&self, dev: &str) -> Vec<String> {
        let mut a: Vec<String> = ["qdisc", "replace", "dev", dev, "root"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        match self {
            Shape::Tbf {
                rate_kbit,
                burst_bytes,
                latency_ms,
            } => a.extend([
                "tbf".into(),
                "rate".into(),
                format!("{rate_kbit}kbit"),
                "burst".into(),
                burst_bytes.to_string(),
                "latency".into(),
                format!("{latency_ms}ms"),
            ]),
            Shape::Netem {
                delay_ms,
                duplicate,
                reorder,
            } => {
                a.extend(["netem".into(), "delay".into(), format!("{delay_ms}ms")]);
                if *duplicate > 0.0 {
                    a.extend(["duplicate".into(), format!("{}%", duplicate * 100.0)]);
                }
                if *reorder > 0.0 {
                    a.extend(["reorder".into(), format!("{}%", reorder * 100.0)]);
                }
            }
        }
        a
    }

    /// The qdisc name `tc qdisc show` prints for it.
    pub(crate) fn qdisc(&self) -> &'static str {
        match self {
            Shape::Tbf { .. } => "tbf",
            Shape::Netem { .. } => "netem",
        }
    }
}

fn tc(fd: RawFd, args: &[String]) -> Result<String> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    netns::run_in(fd, TC, &a, None)
}

/// Makes `dev`'s root qdisc `shape`, or the default one when None (deleting ours; a
/// device that has none already is fine).
pub(crate) fn set(fd: RawFd, dev: &str, shape: Option<&Shape>) -> Result<()> {
    match shape {
        Some(s) => tc(fd, &s.replace_args(dev)).map(|_| ()),
        None => {
            let args: Vec<String> = ["qdisc", "del", "dev", dev, "root"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            match tc(fd, &args) {
                Ok(_) => Ok(()),
                // Nothing of ours installed: the wanted state already holds.
                Err(Error::Command { stderr, .. })
                    if stderr.contains("No such file")
                        || stderr.contains("handle of zero")
                        || stderr.contains("Invalid handle") =>
                {
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// `tc qdisc show dev DEV` in the namespace.
pub(crate) fn show(fd: RawFd, dev: &str) -> Result<String> {
    let args: Vec<String> = ["qdisc", "show", "dev", dev]
        .iter()
        .map(|s| s.to_string())
        .collect();
    tc(fd, &args)
}

/// Tries a netem qdisc on `lo` of the scratch namespace `fd`, then removes it. Ok when the
/// kernel has netem; otherwise what `tc` said.
pub(crate) fn try_netem(fd: RawFd) -> std::result::Result<(), String> {
    let probe = Shape::Netem {
        delay_ms: 1,
        duplicate: 0.0,
        reorder: 0.0,
    };
    match tc(fd, &probe.replace_args("lo")) {
        Ok(_) => {
            set(fd, "lo", None).map_err(|e| e.to_string())?;
            Ok(())
        }
        Err(Error::Command { stderr, status, .. }) => {
            Err(if stderr.is_empty() { status } else { stderr })
        }
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tc_arguments_spell_each_shape() {
        let t = Shape::Tbf {
            rate_kbit: 8000,
            burst_bytes: 32768,
            latency_ms: 50,
        };
        assert_eq!(
            t.replace_args("eth0").join(" "),
            "qdisc replace dev eth0 root tbf rate 8000kbit burst 32768 latency 50ms"
        );
        let n = Shape::Netem {
            delay_ms: 20,
            duplicate: 0.01,
            reorder: 0.0,
        };
        assert_eq!(
            n.replace_args("eth0").join(" "),
            "qdisc replace dev eth0 root netem delay 20ms duplicate 1%"
        );
        assert_eq!(n.qdisc(), "netem");
    }
}
