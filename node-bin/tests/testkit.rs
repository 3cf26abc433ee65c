//! Tests of the loopback-cluster kit itself (`node_bin::testkit`): the addresses it gives
//! nodes can be taken by nobody else, so a node never fails to bind, first or after kill -9.

use node_bin::testkit::{Cluster, PORT};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_gauntlet-node");

/// The address whose socket owns the block of `node` (`127.77.B.255:PORT`, module docs).
fn claim_of(node: SocketAddr) -> SocketAddr {
    let IpAddr::V4(ip) = node.ip() else {
        panic!("test nodes are on IPv4 loopback: {node}")
    };
    let [a, b, block, _] = ip.octets();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, block, 255)), PORT)
}

/// Two clusters started at once own disjoint blocks; while one lives, nobody can take its
/// block (the claim socket is exclusive machine-wide, as a bind from this process shows) nor
/// the node addresses; once it is dropped, its nodes are gone and the block is free again.
/// The port is one the kernel never hands out to `bind(:0)` or outgoing connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_own_disjoint_blocks_that_nobody_else_can_take() {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let bounds: Vec<u16> = range
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    assert!(
        !(bounds[0]..=bounds[1]).contains(&PORT),
        "port {PORT} lies in the ephemeral range {range}"
    );
    let (a, b) = tokio::join!(Cluster::start(BIN, 2, &[]), Cluster::start(BIN, 2, &[]));
    let claims: Vec<SocketAddr> = [&a, &b].map(|c| claim_of(c.nodes[0].addr)).to_vec();
    assert_ne!(claims[0], claims[1], "two clusters share a block");
    for (c, claim) in [(&a, claims[0]), (&b, claims[1])] {
        for n in &c.nodes {
            assert_eq!(n.addr.port(), PORT);
            assert_eq!(
                claim_of(n.addr),
                claim,
                "{} outside its cluster's block",
                n.id
            );
            assert!(TcpListener::bind(n.addr).is_err(), "{} is not bound", n.id);
        }
        let taken = UdpSocket::bind(claim);
        assert!(taken.is_err(), "the block of {claim} is not owned");
    }
    let addrs: Vec<SocketAddr> = a.nodes.iter().map(|n| n.addr).collect();
    drop(a);
    let reclaimed = UdpSocket::bind(claims[0]);
    assert!(reclaimed.is_ok(), "a dropped cluster keeps its block");
    for addr in addrs {
        assert!(
            TcpListener::bind(addr).is_ok() && UdpSocket::bind(addr).is_ok(),
            "{addr} still bound after the cluster was dropped"
        );
    }
    drop(b);
}

/// A node killed with SIGKILL comes back on its own address even when many sockets were bound
/// to kernel-chosen ports meanwhile (what other tests on the machine do): it rejoins and the
/// others see it alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_restarts_on_its_address_whatever_else_binds_meanwhile() {
    let mut c = Cluster::start(BIN, 3, &[]).await;
    let addr = c.nodes[0].addr;
    c.kill(0);
    let others: Vec<(TcpListener, UdpSocket)> = (0..64)
        .map(|_| {
            let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
            let udp = UdpSocket::bind("0.0.0.0:0").unwrap();
            (tcp, udp)
        })
        .collect();
    c.spawn(0);
    c.wait_healthy(0).await;
    assert_eq!(c.nodes[0].addr, addr);
    let cl = &c;
    let back = Cluster::wait_until(Duration::from_secs(15), || async {
        cl.member_state(1, "n1").await.as_deref() == Some("alive")
    })
    .await;
    assert!(back.is_some(), "n1 did not rejoin\n{}", c.log_tail(0));
    drop(others);
}
