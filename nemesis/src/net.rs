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
use crate::shaping::{self, Shape};

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
    /// Active loss faults by guard id: lossy (sender, receiver) pairs and the probability.
    pub(crate) losses: BTreeMap<u64, (BTreeSet<(usize, usize)>, f64)>,
    /// The `iptables-restore` script each node namespace holds now (absent: no rules).
    installed_ipt: BTreeMap<usize, String>,
    dirty_ipt: BTreeSet<usize>,
    /// Active slow/netem faults by guard id: the nodes and the shape.
    pub(crate) shapes: BTreeMap<u64, (BTreeSet<usize>, Shape)>,
    /// The root qdisc each node's `eth0` has now (absent: the default).
    installed_shape: BTreeMap<usize, Shape>,
    dirty_shape: BTreeSet<usize>,
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
        losses: BTreeMap::new(),
        installed_ipt: BTreeMap::new(),
        dirty_ipt: BTreeSet::new(),
        shapes: BTreeMap::new(),
        installed_shape: BTreeMap::new(),
        dirty_shape: BTreeSet::new(),
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
    verify_cut(
        &net,
        names,
        &BTreeSet::new(),
        &BTreeSet::new(),
        timeout,
        true,
    )
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

/// Probes all pairs of `net` against the set of cut pairs (lossy pairs not cut are skipped).
fn verify_cut(
    net: &Net,
    names: &[NodeId],
    cut: &BTreeSet<(usize, usize)>,
    lossy: &BTreeSet<(usize, usize)>,
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
    probe::verify(&senders, &eps, cut, lossy, timeout)
}

/// How many datagrams a loss verification sends per link. The measured loss of a link with
/// planned probability p is then binomial: standard deviation sqrt(p(1-p)/N), 2.5 points at
/// p = 0.5.
pub(crate) const LOSS_PROBES: u32 = 400;

/// The accepted distance between measured and planned loss: 4 standard deviations of the
/// binomial measurement plus one probe's worth (so p = 0 and p = 1, whose deviation is 0,
/// are held to the exact count). A correct link fails it with probability about 6e-5.
pub(crate) fn loss_tolerance(p: f64, n: u32) -> f64 {
    4.0 * (p * (1.0 - p) / f64::from(n)).sqrt() + 1.0 / f64::from(n)
}

impl Net {
    /// Makes every node namespace match the union of the active partitions, then verifies
    /// it by probing. Returns the instant the state was installed (confirmed by the probes).
    pub(crate) fn install(&mut self, nodes: &[NodeId], timeout: Duration) -> Result<Instant> {
        let cut: BTreeSet<(usize, usize)> = self.partitions.values().flatten().copied().collect();
        let mut first_err = None;
        if self.backend == PartitionBackend::Route {
            if let Err(e) = self.install_routes(&cut, nodes) {
                first_err.get_or_insert(e);
            }
        }
        if let Err(e) = self.install_iptables(&cut) {
            first_err.get_or_insert(e);
        }
        if let Err(e) = self.install_shapes() {
            first_err.get_or_insert(e);
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        let at = Instant::now();
        let lossy: BTreeSet<(usize, usize)> = self
            .losses
            .values()
            .flat_map(|(pairs, _)| pairs.iter().copied())
            .collect();
        verify_cut(self, nodes, &cut, &lossy, timeout, false).map_err(Error::NotVerified)?;
        Ok(at)
    }

    /// The wanted iptables script of every node that needs rules: partition drops (iptables
    /// backend) and loss rules (either backend).
    fn iptables_want(&self, cut: &BTreeSet<(usize, usize)>) -> BTreeMap<usize, String> {
        let drops = match self.backend {
            PartitionBackend::Iptables => partition::per_node(PartitionBackend::Iptables, cut),
            PartitionBackend::Route => PerNode::new(),
        };
        let mut lossy: BTreeMap<usize, Vec<(usize, f64)>> = BTreeMap::new();
        for (pairs, p) in self.losses.values() {
            for &(s, r) in pairs {
                lossy.entry(r).or_default().push((s, *p));
            }
        }
        let empty = BTreeSet::new();
        let ip = |p: usize| node_ip(NetMode::Namespaces, p);
        drops
            .keys()
            .chain(lossy.keys())
            .map(|&i| {
                let (_, _, script) = partition::iptables_command(
                    drops.get(&i).unwrap_or(&empty),
                    lossy.get(&i).map(Vec::as_slice).unwrap_or(&[]),
                    ip,
                );
                (i, script)
            })
            .collect()
    }

    fn install_iptables(&mut self, cut: &BTreeSet<(usize, usize)>) -> Result<()> {
        let want = self.iptables_want(cut);
        let mut touch = self.dirty_ipt.clone();
        for i in want.keys().chain(self.installed_ipt.keys()) {
            if want.get(i) != self.installed_ipt.get(i) {
                touch.insert(*i);
            }
        }
        let none = partition::iptables_command(&BTreeSet::new(), &[], |_| Ipv4Addr::LOCALHOST).2;
        let mut pending = Vec::new();
        for &i in &touch {
            let script = want.get(&i).unwrap_or(&none);
            pending.push((
                i,
                netns::start_in(
                    self.ns[i].as_raw_fd(),
                    partition::iptables::RESTORE,
                    &["-w"],
                    Some(script),
                ),
            ));
        }
        let mut first_err = None;
        for (i, p) in pending {
            match p.and_then(|p| p.finish()) {
                Ok(_) => {
                    self.dirty_ipt.remove(&i);
                    match want.get(&i) {
                        Some(s) => self.installed_ipt.insert(i, s.clone()),
                        None => self.installed_ipt.remove(&i),
                    };
                }
                Err(e) => {
                    self.dirty_ipt.insert(i);
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The wanted root qdisc of every shaped node: the slowest tbf, or the newest netem
    /// (the sandbox refuses to mix the two on one node).
    fn shapes_want(&self) -> BTreeMap<usize, Shape> {
        let mut want: BTreeMap<usize, Shape> = BTreeMap::new();
        for (nodes, shape) in self.shapes.values() {
            for &i in nodes {
                let keep = match (want.get(&i), shape) {
                    (
                        Some(Shape::Tbf { rate_kbit: old, .. }),
                        Shape::Tbf { rate_kbit: new, .. },
                    ) => new >= old,
                    _ => false,
                };
                if !keep {
                    want.insert(i, shape.clone());
                }
            }
        }
        want
    }

    /// The root qdisc node `i` should have under the active faults.
    pub(crate) fn wanted_shape(&self, i: usize) -> Option<Shape> {
        self.shapes_want().remove(&i)
    }

    /// The kind of shape a node already has from another fault (for conflict checks).
    pub(crate) fn shape_kind_of(&self, i: usize) -> Option<&'static str> {
        self.shapes
            .values()
            .find(|(nodes, _)| nodes.contains(&i))
            .map(|(_, s)| s.qdisc())
    }

    fn install_shapes(&mut self) -> Result<()> {
        let want = self.shapes_want();
        let mut touch = self.dirty_shape.clone();
        for i in want.keys().chain(self.installed_shape.keys()) {
            if want.get(i) != self.installed_shape.get(i) {
                touch.insert(*i);
            }
        }
        let mut first_err = None;
        for i in touch {
            match shaping::set(self.ns[i].as_raw_fd(), "eth0", want.get(&i)) {
                Ok(()) => {
                    self.dirty_shape.remove(&i);
                    match want.get(&i) {
                        Some(s) => self.installed_shape.insert(i, s.clone()),
                        None => self.installed_shape.remove(&i),
                    };
                }
                Err(e) => {
                    self.dirty_shape.insert(i);
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The loss a link has under every active loss fault: 1 - Π(1 - p).
    pub(crate) fn planned_loss(&self, pair: (usize, usize)) -> f64 {
        1.0 - self
            .losses
            .values()
            .filter(|(pairs, _)| pairs.contains(&pair))
            .map(|(_, p)| 1.0 - p)
            .product::<f64>()
    }

    /// Whether the link is cut by an active partition.
    pub(crate) fn is_cut(&self, pair: (usize, usize)) -> bool {
        self.partitions.values().any(|c| c.contains(&pair))
    }

    /// Sends [`LOSS_PROBES`] datagrams over the link and returns how many arrived.
    pub(crate) fn delivered(&self, (s, r): (usize, usize), timeout: Duration) -> u32 {
        let to = Endpoint {
            name: String::new(),
            sock: &self.probes[r],
            addr: SocketAddr::new(
                IpAddr::V4(node_ip(NetMode::Namespaces, r)),
                self.probes[r].local_addr().map(|a| a.port()).unwrap_or(0),
            ),
        };
        probe::count_delivered(&self.probes[s], &to, LOSS_PROBES, timeout)
    }

    /// The throughput node `i` reaches toward the controller, kbit/s, over `window` (see
    /// [`probe::measure_rate`]), with the number of datagrams it rests on.
    pub(crate) fn egress_rate(
        &self,
        i: usize,
        burst: u64,
        window: Duration,
    ) -> Option<(f64, usize)> {
        let to = Endpoint {
            name: "controller".into(),
            sock: &self.ctl_probe,
            addr: SocketAddr::new(
                IpAddr::V4(CONTROLLER_ADDR),
                self.ctl_probe.local_addr().map(|a| a.port()).unwrap_or(0),
            ),
        };
        probe::measure_rate(&self.probes[i], &to, burst, window)
    }

    /// `tc qdisc show dev eth0` in node `i`'s namespace.
    pub(crate) fn qdisc_of(&self, i: usize) -> Result<String> {
        shaping::show(self.ns[i].as_raw_fd(), "eth0")
    }

    fn install_routes(&mut self, cut: &BTreeSet<(usize, usize)>, nodes: &[NodeId]) -> Result<()> {
        let want = partition::per_node(self.backend, cut);
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
            let r = partition::route::set_routes(&self.rtnl[i], &wanted, &remove, CONTROLLER_ADDR)
                .map_err(|e| Error::io(format!("set partition routes of node {}", nodes[i]), e));
            done(self, i, r);
        }
        first_err.map_or(Ok(()), Err)
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
