//! The network half of a namespace-mode sandbox: the node namespaces on the bridge, the
//! sockets the controller keeps inside them (probes, rtnetlink), and the partition state.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fault::NodeId;
use crate::ifconfig;
use crate::netns::{self, NodeNs};
use crate::partition::{self, PartitionBackend, PerNode};
use crate::probe::{self, Endpoint};
use crate::sandbox::NetMode;

/// The name of the bridge in the controller namespace.
pub const BRIDGE: &str = "gnt-br";
/// The bridge's address: the controller's address as the nodes see it, and the
/// non-forwarding gateway of the route backend.
pub const CONTROLLER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);

/// The network half of a namespace-mode sandbox.
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) backend: PartitionBackend,
    pub(crate) ns: Vec<Arc<OwnedFd>>,
    probes: Vec<UdpSocket>,
    rtnl: Vec<OwnedFd>,
    ctl_probe: UdpSocket,
    /// Active partitions by guard id, as cut (sender, receiver) index pairs.
    pub(crate) partitions: BTreeMap<u64, BTreeSet<(usize, usize)>>,
    /// What each node namespace has installed now.
    installed: PerNode,
    /// Nodes whose installed state is unknown (a command failed): always rewritten.
    dirty: BTreeSet<usize>,
}

pub(crate) fn node_ip(mode: NetMode, i: usize) -> Ipv4Addr {
    let last = 11 + i as u8;
    match mode {
        NetMode::Namespaces => Ipv4Addr::new(10, 77, 0, last),
        NetMode::Loopback => Ipv4Addr::new(127, 0, 0, last),
    }
}

pub(crate) fn build_net(
    n: usize,
    backend: PartitionBackend,
    timeout: Duration,
    names: &[NodeId],
) -> Result<Net> {
    netns::check_in_controller()?;
    let ctl = netns::controller_fd()?;
    let node_ns: Vec<NodeNs> = netns::make_node_namespaces(n)?;
    let mut script = format!(
        "link add {BRIDGE} type bridge\naddr add {CONTROLLER_ADDR}/24 dev {BRIDGE}\nlink set {BRIDGE} up\n"
    );
    for (i, ns) in node_ns.iter().enumerate() {
        let v = format!("gnt-v{}", i + 1);
        script.push_str(&format!(
            "link add {v} type veth peer name eth0 netns {}\nlink set {v} master {BRIDGE} up\n",
            netns::fd_path(&ns.fd)
        ));
    }
    netns::run_in(ctl, "ip", &["-batch", "-"], Some(&script))?;
    let mut net = Net {
        backend,
        ns: Vec::new(),
        probes: Vec::new(),
        rtnl: Vec::new(),
        ctl_probe: UdpSocket::bind(("0.0.0.0", 0))
            .map_err(|e| Error::io("bind the controller probe socket", e))?,
        partitions: BTreeMap::new(),
        installed: PerNode::new(),
        dirty: BTreeSet::new(),
    };
    net.ctl_probe
        .set_nonblocking(true)
        .map_err(|e| Error::io("set the controller probe non-blocking", e))?;
    for ns in node_ns {
        net.ns.push(Arc::new(ns.fd));
        net.probes.push(ns.probe);
        net.rtnl.push(ns.rtnl);
    }
    for (i, sock) in net.probes.iter().enumerate() {
        let ip = node_ip(NetMode::Namespaces, i);
        ifconfig::set_up(sock, "lo")
            .and_then(|()| ifconfig::set_addr(sock, "eth0", ip, 24))
            .and_then(|()| ifconfig::set_up(sock, "eth0"))
            .map_err(|e| Error::io(format!("configure eth0 of node {}", names[i]), e))?;
    }
    wait_running(&net)?;
    // Ready means: every node reaches every node, and the controller reaches every node.
    verify_cut(&net, names, &BTreeSet::new(), timeout, true)
        .map_err(|e| Error::NotVerified(format!("sandbox not connected after up: {e}")))?;
    Ok(net)
}

/// Waits (bounded, 5 s) until every link of the sandbox is operationally up: node `eth0`s
/// and the controller's ports. Probing earlier would lose packets to links still coming up.
fn wait_running(net: &Net) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut links: Vec<(&UdpSocket, String)> =
        net.probes.iter().map(|s| (s, "eth0".to_owned())).collect();
    links.extend((1..=net.probes.len()).map(|i| (&net.ctl_probe, format!("gnt-v{i}"))));
    for (sock, name) in links {
        while !ifconfig::is_running(sock, &name)
            .map_err(|e| Error::io(format!("check link {name}"), e))?
        {
            if Instant::now() > deadline {
                return Err(Error::NotVerified(format!("link {name} not up after 5 s")));
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    Ok(())
}

/// Probes all pairs of `net` against the set of cut pairs.
fn verify_cut(
    net: &Net,
    names: &[NodeId],
    cut: &BTreeSet<(usize, usize)>,
    timeout: Duration,
    with_controller: bool,
) -> std::result::Result<Instant, String> {
    let eps: Vec<Endpoint<'_>> = net
        .probes
        .iter()
        .enumerate()
        .map(|(i, s)| Endpoint {
            name: names[i].0.clone(),
            sock: s,
            addr: SocketAddr::new(
                IpAddr::V4(node_ip(NetMode::Namespaces, i)),
                s.local_addr().map(|a| a.port()).unwrap_or(0),
            ),
        })
        .collect();
    let mut senders: Vec<Endpoint<'_>> = net
        .probes
        .iter()
        .zip(&eps)
        .map(|(s, e)| Endpoint {
            name: e.name.clone(),
            sock: s,
            addr: e.addr,
        })
        .collect();
    if with_controller {
        senders.push(Endpoint {
            name: "controller".into(),
            sock: &net.ctl_probe,
            addr: SocketAddr::new(IpAddr::V4(CONTROLLER_ADDR), 0),
        });
    }
    probe::verify(&senders, &eps, cut, timeout)
}

impl Net {
    /// Makes every node namespace match the union of the active partitions, then verifies
    /// it by probing. Returns the instant the state was installed (confirmed by the probes).
    pub(crate) fn install(&mut self, nodes: &[NodeId], timeout: Duration) -> Result<Instant> {
        let cut: BTreeSet<(usize, usize)> = self.partitions.values().flatten().copied().collect();
        let want = partition::per_node(self.backend, &cut);
        let empty = BTreeSet::new();
        let mut touch: BTreeSet<usize> = self.dirty.clone();
        for i in want.keys().chain(self.installed.keys()) {
            if want.get(i).unwrap_or(&empty) != self.installed.get(i).unwrap_or(&empty) {
                touch.insert(*i);
            }
        }
        let mut first_err = None;
        let mut done = |net: &mut Net, i: usize, r: Result<()>| match r {
            Ok(()) => {
                net.dirty.remove(&i);
                match want.get(&i) {
                    Some(s) => net.installed.insert(i, s.clone()),
                    None => net.installed.remove(&i),
                };
            }
            Err(e) => {
                net.dirty.insert(i);
                first_err.get_or_insert(e);
            }
        };
        let ip = |p: usize| node_ip(NetMode::Namespaces, p);
        match self.backend {
            PartitionBackend::Route => {
                for &i in &touch {
                    let wanted: BTreeSet<Ipv4Addr> = want
                        .get(&i)
                        .unwrap_or(&empty)
                        .iter()
                        .map(|p| ip(*p))
                        .collect();
                    // A dirty node may hold any peer route: remove them all.
                    let remove: BTreeSet<Ipv4Addr> = if self.dirty.contains(&i) {
                        (0..nodes.len()).filter(|p| *p != i).map(ip).collect()
                    } else {
                        self.installed
                            .get(&i)
                            .unwrap_or(&empty)
                            .iter()
                            .map(|p| ip(*p))
                            .collect()
                    };
                    let r = partition::route::set_routes(
                        &self.rtnl[i],
                        &wanted,
                        &remove,
                        CONTROLLER_ADDR,
                    )
                    .map_err(|e| {
                        Error::io(format!("set partition routes of node {}", nodes[i]), e)
                    });
                    done(self, i, r);
                }
            }
            PartitionBackend::Iptables => {
                let mut pending = Vec::new();
                for &i in &touch {
                    let (prog, args, input) =
                        partition::iptables_command(want.get(&i).unwrap_or(&empty), ip);
                    pending.push((
                        i,
                        netns::start_in(self.ns[i].as_raw_fd(), prog, &args, Some(&input)),
                    ));
                }
                for (i, p) in pending {
                    done(self, i, p.and_then(|p| p.finish()).map(|_| ()));
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        let at = Instant::now();
        verify_cut(self, nodes, &cut, timeout, false).map_err(Error::NotVerified)?;
        Ok(at)
    }

    /// The `ip -batch` script that deletes the sandbox's links in the controller namespace.
    pub(crate) fn teardown_script(&self) -> String {
        let mut script = format!("link del {BRIDGE}\n");
        for i in 0..self.ns.len() {
            script.push_str(&format!("link del gnt-v{}\n", i + 1));
        }
        script
    }
}
