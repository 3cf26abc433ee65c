//! The kernel-only backend: in the sender's namespace, one `/32` route per unreachable peer
//! via the bridge address in the controller namespace. The controller does not forward
//! (`ip_forward=0`), and with forwarding off the kernel drops such a packet in `ip_error`
//! without sending ICMP: a silent drop, like iptables DROP, not a refusal.
//!
//! Our routes carry their own protocol number, so `route flush proto 77` removes exactly
//! them and nothing else.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::Ipv4Addr;

/// The route protocol number that marks the sandbox's partition routes.
pub(crate) const PROTO: u8 = 77;

/// An `ip -batch` script that makes `peers` unreachable (and only them).
pub(crate) fn script(
    peers: &BTreeSet<usize>,
    addr: impl Fn(usize) -> Ipv4Addr,
    gateway: Ipv4Addr,
) -> String {
    let mut s = format!("route flush proto {PROTO}\n");
    for &p in peers {
        let _ = writeln!(
            s,
            "route replace {}/32 via {gateway} dev eth0 proto {PROTO}",
            addr(p)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_flushes_then_routes_each_peer_to_the_gateway() {
        let s = script(
            &BTreeSet::from([0, 2]),
            |i| Ipv4Addr::new(10, 77, 0, 11 + i as u8),
            Ipv4Addr::new(10, 77, 0, 1),
        );
        assert_eq!(
            s,
            "route flush proto 77\n\
             route replace 10.77.0.11/32 via 10.77.0.1 dev eth0 proto 77\n\
             route replace 10.77.0.13/32 via 10.77.0.1 dev eth0 proto 77\n"
        );
    }
}
