//! The iptables backend, as Jepsen does it: in the receiver's namespace, `INPUT` rules that
//! DROP packets from each cut sender. The whole `filter` table of the node namespace is
//! rewritten by one `iptables-restore` (the namespace is the sandbox's own, so nothing else
//! lives there), which makes apply and heal idempotent. Loss faults share the table: one
//! script per node holds the partition drops and the random (`statistic`) drops at once.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::Ipv4Addr;

/// The program the backend runs (and looks up in `PATH`).
pub(crate) const RESTORE: &str = "iptables-restore";

/// An `iptables-restore` input dropping every packet from `peers`, and each packet from
/// the senders in `lossy` with its probability (one rule per (sender, probability), so
/// two loss faults on one link compound), and nothing else.
pub(crate) fn script(
    peers: &BTreeSet<usize>,
    lossy: &[(usize, f64)],
    addr: impl Fn(usize) -> Ipv4Addr,
) -> String {
    let mut s =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for &p in peers {
        let _ = writeln!(s, "-A INPUT -s {}/32 -j DROP", addr(p));
    }
    for &(p, prob) in lossy {
        let _ = writeln!(
            s,
            "-A INPUT -s {}/32 -m statistic --mode random --probability {prob} -j DROP",
            addr(p)
        );
    }
    s.push_str("COMMIT\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_drops_each_peer_and_nothing_else() {
        let s = script(&BTreeSet::from([1]), &[], |i| {
            Ipv4Addr::new(10, 77, 0, 11 + i as u8)
        });
        assert_eq!(
            s,
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
             -A INPUT -s 10.77.0.12/32 -j DROP\nCOMMIT\n"
        );
        assert!(!script(&BTreeSet::new(), &[], |_| Ipv4Addr::LOCALHOST).contains("DROP"));
    }

    /// A partition and a loss on one node land in one table, loss rules after the drops.
    #[test]
    fn script_holds_partition_and_loss_together() {
        let s = script(&BTreeSet::from([0]), &[(2, 0.25), (2, 0.5)], |i| {
            Ipv4Addr::new(10, 77, 0, 11 + i as u8)
        });
        assert!(s.contains("-A INPUT -s 10.77.0.11/32 -j DROP\n"), "{s}");
        assert!(
            s.contains(
                "-A INPUT -s 10.77.0.13/32 -m statistic --mode random --probability 0.25 -j DROP\n\
                 -A INPUT -s 10.77.0.13/32 -m statistic --mode random --probability 0.5 -j DROP\nCOMMIT\n"
            ),
            "{s}"
        );
    }
}
