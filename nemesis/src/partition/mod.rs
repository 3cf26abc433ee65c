//! Partition backends: how a grudge becomes silent packet drops inside the node namespaces.
//!
//! | backend | where it acts | needs |
//! | --- | --- | --- |
//! | [`PartitionBackend::Route`] (default) | the *sender's* namespace: a /32 route per cut peer toward the controller's bridge address, which does not forward (`ip_forward=0`), so the packet is dropped without any ICMP; set over rtnetlink, no fork | the kernel only |
//! | [`PartitionBackend::Iptables`] | the *receiver's* namespace: `-A INPUT -s PEER -j DROP`, as Jepsen does | `iptables-restore` on `PATH` |
//!
//! Both are idempotent: a node's partition state is rewritten to the wanted set (absent routes
//! deleted without error, the iptables table replaced whole), so applying or healing twice
//! leaves the same state.

pub(crate) mod iptables;
pub(crate) mod route;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::netns::find_in_path;

/// A partition backend in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionBackend {
    /// Kernel-only: routes toward a non-forwarding gateway. Needs no extra package.
    Route,
    /// iptables DROP rules inside each node namespace.
    Iptables,
}

/// Which backend to use, as configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendChoice {
    /// The kernel-only route backend (the default: fastest, no package needed).
    #[default]
    Route,
    /// The iptables backend; an error at `up` when `iptables-restore` is not on `PATH`.
    Iptables,
    /// iptables when `iptables-restore` is on `PATH`, otherwise the route backend.
    Auto,
}

impl BackendChoice {
    /// Resolves the choice against this machine (looks `iptables-restore` up in `PATH`).
    pub fn resolve(self) -> Result<PartitionBackend> {
        let have_iptables = find_in_path(iptables::RESTORE).is_some();
        match self {
            BackendChoice::Route => Ok(PartitionBackend::Route),
            BackendChoice::Auto if have_iptables => Ok(PartitionBackend::Iptables),
            BackendChoice::Auto => Ok(PartitionBackend::Route),
            BackendChoice::Iptables if have_iptables => Ok(PartitionBackend::Iptables),
            BackendChoice::Iptables => Err(Error::BackendUnavailable {
                backend: "iptables".into(),
                detail: format!(
                    "`{}` is not on PATH; install iptables or use the route backend",
                    iptables::RESTORE
                ),
            }),
        }
    }
}

impl FromStr for BackendChoice {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "route" => Ok(BackendChoice::Route),
            "iptables" => Ok(BackendChoice::Iptables),
            "auto" => Ok(BackendChoice::Auto),
            _ => Err(format!(
                "unknown partition backend {s:?}; expected route, iptables or auto"
            )),
        }
    }
}

impl fmt::Display for PartitionBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PartitionBackend::Route => "route",
            PartitionBackend::Iptables => "iptables",
        })
    }
}

/// Per node index, the peer indexes its namespace acts on: for [`PartitionBackend::Route`]
/// the receivers it cannot reach, for [`PartitionBackend::Iptables`] the senders it drops.
pub(crate) type PerNode = BTreeMap<usize, BTreeSet<usize>>;

/// The per-node view of a set of cut (sender, receiver) index pairs for `backend`.
pub(crate) fn per_node(backend: PartitionBackend, cut: &BTreeSet<(usize, usize)>) -> PerNode {
    let mut out = PerNode::new();
    for &(s, r) in cut {
        match backend {
            PartitionBackend::Route => out.entry(s).or_default().insert(r),
            PartitionBackend::Iptables => out.entry(r).or_default().insert(s),
        };
    }
    out
}

/// The iptables state of one node namespace, as the program, args and stdin that set it.
pub(crate) fn iptables_command(
    peers: &BTreeSet<usize>,
    lossy: &[(usize, f64)],
    addr: impl Fn(usize) -> Ipv4Addr,
) -> (&'static str, Vec<&'static str>, String) {
    (
        iptables::RESTORE,
        vec!["-w"],
        iptables::script(peers, lossy, addr),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_node_view_depends_on_backend() {
        let cut = BTreeSet::from([(1, 0), (2, 0)]); // 1->0 and 2->0 cut
        let r = per_node(PartitionBackend::Route, &cut);
        assert_eq!(r[&1], BTreeSet::from([0]));
        assert_eq!(r[&2], BTreeSet::from([0]));
        let i = per_node(PartitionBackend::Iptables, &cut);
        assert_eq!(i.len(), 1);
        assert_eq!(i[&0], BTreeSet::from([1, 2]));
    }

    #[test]
    fn backend_names_parse_and_errors_name_the_value() {
        assert_eq!(
            "auto".parse::<BackendChoice>().unwrap(),
            BackendChoice::Auto
        );
        let e = "nft".parse::<BackendChoice>().unwrap_err();
        assert!(e.contains("\"nft\""), "{e}");
    }
}
