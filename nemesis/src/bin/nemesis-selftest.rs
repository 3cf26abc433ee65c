//! `nemesis-selftest`: runs the sandbox for real on this machine and prints what it saw as
//! JSON, so a person (or the crate's tests) can check that namespaces, partitions, kills and
//! pauses work here. Each scenario enters its own controller namespace first, which is why
//! this is a separate process: `cargo test` threads cannot enter one.
//!
//! ```text
//! nemesis-selftest partitions [--backend route|iptables|auto] [--seed N]
//! nemesis-selftest lifecycle
//! nemesis-selftest unverified  # a partition that cannot take effect must be an error
//! nemesis-selftest links [--backend route|iptables]  # loss, slow, netem, with a partition
//! nemesis-selftest clocks      # libfaketime bump, strobe, drift on 5 nodes
//! nemesis-selftest hold [--faults]  # up + 5 nodes (+ every fault kind), print, sleep until killed
//! nemesis-selftest clock-rate --ms N  # (under a node's preload) wall vs monotonic elapsed
//! nemesis-selftest panic       # up + 5 nodes, then panic (teardown must still happen)
//! nemesis-selftest echo --addr IP:PORT       # (node program) TCP echo + UDP logger
//! nemesis-selftest probe --name N --peer NAME=IP:PORT... --round R   # (in a node ns)
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use nemesis::{
    BackendChoice, Fault, Grudge, GrudgeKind, Link, NodeId, NodeSpec, NodeState, Sandbox,
    SandboxConfig,
};
use rand::SeedableRng;
use serde_json::{json, Value};

const PORT: u16 = 7000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("usage: nemesis-selftest partitions|lifecycle|hold|panic|echo|probe ...");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let result = match cmd.as_str() {
        "echo" => echo(rest),
        "probe" => probe(rest),
        "clock-rate" => clock_rate(rest),
        "partitions" | "lifecycle" | "unverified" | "hold" | "panic" | "links" | "clocks" => {
            controller(cmd, rest)
        }
        other => Err(format!("unknown scenario {other:?}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nemesis-selftest {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn flags<'a>(args: &'a [String], name: &str) -> Vec<&'a str> {
    args.windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].as_str())
        .collect()
}

type Res<T> = Result<T, String>;

fn e<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |err| format!("{what}: {err}")
}

/// The node program: a TCP echo server, and a UDP socket that logs every datagram.
fn echo(args: &[String]) -> Res<()> {
    let addr: SocketAddr = flag(args, "--addr")
        .ok_or("--addr missing")?
        .parse()
        .map_err(e("--addr"))?;
    let tcp = TcpListener::bind(addr).map_err(e("bind tcp"))?;
    let udp = UdpSocket::bind(addr).map_err(e("bind udp"))?;
    println!("listening {addr}");
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            println!("udp {} from {from}", String::from_utf8_lossy(&buf[..n]));
        }
    });
    for s in tcp.incoming().flatten() {
        std::thread::spawn(move || {
            let mut s = s;
            let mut buf = [0u8; 256];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
    Ok(())
}

/// Runs inside a node namespace: UDP datagrams to every peer, then a TCP connect (with an
/// echo) to each; prints `{"peer": "ok"|"timeout"|"refused"|"error: ..."}`.
fn probe(args: &[String]) -> Res<()> {
    let name = flag(args, "--name").ok_or("--name missing")?;
    let round = flag(args, "--round").ok_or("--round missing")?;
    let mut peers = BTreeMap::new();
    for p in flags(args, "--peer") {
        let (n, a) = p.split_once('=').ok_or("--peer wants NAME=IP:PORT")?;
        peers.insert(n.to_owned(), a.parse::<SocketAddr>().map_err(e("--peer"))?);
    }
    let udp = UdpSocket::bind("0.0.0.0:0").map_err(e("bind"))?;
    for _ in 0..3 {
        for a in peers.values() {
            let _ = udp.send_to(format!("r{round} {name}").as_bytes(), a);
        }
    }
    let results: BTreeMap<String, String> = std::thread::scope(|s| {
        let hs: Vec<_> = peers
            .iter()
            .map(|(n, a)| (n.clone(), s.spawn(move || tcp_check(*a))))
            .collect();
        hs.into_iter()
            .map(|(n, h)| (n, h.join().unwrap_or_else(|_| "panic".into())))
            .collect()
    });
    println!("{}", json!(results));
    Ok(())
}

fn tcp_check(a: SocketAddr) -> String {
    match TcpStream::connect_timeout(&a, Duration::from_millis(400)) {
        Ok(mut s) => {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4];
            match s.write_all(b"ping").and_then(|_| s.read_exact(&mut buf)) {
                Ok(()) if &buf == b"ping" => "ok".into(),
                Ok(()) => "bad echo".into(),
                Err(e) => format!("error: echo {e}"),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => "timeout".into(),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => "refused".into(),
        Err(e) => format!("error: {e}"),
    }
}

fn controller(cmd: &str, args: &[String]) -> Res<()> {
    nemesis::enter_controller_namespace().map_err(|e| e.to_string())?;
    let backend: BackendChoice = flag(args, "--backend").unwrap_or("route").parse()?;
    let dir = tempfile::tempdir().map_err(e("tempdir"))?;
    let nodes = NodeId::cluster(5);
    let mut cfg = SandboxConfig::new(nodes.clone());
    cfg.backend = backend;
    let with_faults = args.iter().any(|a| a == "--faults");
    cfg.clock_faults = cmd == "clocks" || with_faults;
    let t = Instant::now();
    let sb = Sandbox::up(cfg).map_err(|e| e.to_string())?;
    let up_ms = t.elapsed().as_secs_f64() * 1e3;
    let exe = std::env::current_exe().map_err(e("current_exe"))?;
    for n in &nodes {
        let addr = SocketAddr::new(sb.node_addr(n).map_err(|e| e.to_string())?, PORT);
        let spec = NodeSpec::new(
            &exe,
            ["echo".to_string(), "--addr".into(), addr.to_string()],
            dir.path().join(format!("{n}.log")),
        );
        sb.spawn(n, spec).map_err(|e| e.to_string())?;
    }
    wait_listening(&sb, dir.path())?;
    let out = match cmd {
        "partitions" => partitions(&sb, dir.path(), args)?,
        "lifecycle" => lifecycle(&sb)?,
        "unverified" => unverified(&sb)?,
        "links" => links(&sb)?,
        "clocks" => clocks(&sb, &exe)?,
        "hold" | "panic" => {
            // Every new fault kind in force while the controller is killed; the guards are
            // leaked on purpose (a SIGKILL never runs their drop).
            let mut held = Vec::new();
            if with_faults {
                let n = |i: usize| nodes[i].clone();
                for f in [
                    Fault::Partition {
                        grudge: GrudgeKind::IsolateOne
                            .generate(&nodes, &mut rand::rngs::StdRng::seed_from_u64(3)),
                    },
                    Fault::Loss {
                        links: vec![Link::new(n(0), n(1))],
                        probability: 0.5,
                    },
                    Fault::Slow {
                        nodes: vec![n(2)],
                        rate_kbit: 8000,
                        burst_bytes: 16000,
                        latency_ms: 50,
                    },
                    Fault::ClockBump {
                        nodes: vec![n(3)],
                        offset_ms: 60_000,
                    },
                    Fault::ClockStrobe {
                        nodes: vec![n(4)],
                        a_ms: 0,
                        b_ms: 5_000,
                        period_ms: 10,
                        duration_ms: 120_000,
                    },
                ] {
                    held.push(s(sb.apply(&f))?);
                }
            }
            let pids: BTreeMap<String, u32> = nodes
                .iter()
                .map(|n| (n.0.clone(), sb.pid(n).ok().flatten().unwrap_or(0)))
                .collect();
            let ns: BTreeMap<String, u64> = pids
                .iter()
                .map(|(n, p)| (n.clone(), ns_inode(&format!("/proc/{p}/ns/net"))))
                .collect();
            let report = json!({"controller_pid": std::process::id(), "pids": pids, "netns": ns,
                "controller_netns": ns_inode("/proc/self/ns/net"),
                "clock_dir": sb.clock_dir(), "faults": held.len()});
            std::mem::forget(held);
            println!("{report}");
            let _ = std::io::stdout().flush();
            if cmd == "panic" {
                panic!("deliberate panic with the sandbox up");
            }
            // Bounded: the test kills us long before this.
            std::thread::sleep(Duration::from_secs(120));
            return Ok(());
        }
        _ => unreachable!("dispatched above"),
    };
    let clock_dir = sb.clock_dir();
    let t = Instant::now();
    sb.down().map_err(|e| e.to_string())?;
    let down_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut out = out;
    out["clock_dir_after_down"] = json!(clock_dir.filter(|d| d.exists()));
    out["up_ms"] = json!(up_ms);
    out["down_ms"] = json!(down_ms);
    println!("{out}");
    Ok(())
}

fn ns_inode(path: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0)
}

fn wait_listening(sb: &Sandbox, dir: &Path) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    for n in sb.nodes() {
        let log = dir.join(format!("{n}.log"));
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("listening")
        {
            if Instant::now() > deadline {
                return Err(format!("node {n} never listened; log: {}", log.display()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(())
}

/// Runs the probe program in every node namespace at once; returns node -> peer -> result.
fn probe_all(sb: &Sandbox, round: usize) -> Res<BTreeMap<String, BTreeMap<String, String>>> {
    let exe = std::env::current_exe().map_err(e("current_exe"))?;
    std::thread::scope(|s| {
        let hs: Vec<_> = sb
            .nodes()
            .iter()
            .map(|n| {
                let exe = exe.clone();
                let h = s.spawn(move || -> Res<BTreeMap<String, String>> {
                    let mut c = Command::new(&exe);
                    c.args(["probe", "--name", &n.0, "--round", &round.to_string()]);
                    for p in sb.nodes().iter().filter(|p| *p != n) {
                        let a = sb.node_addr(p).map_err(|e| e.to_string())?;
                        c.arg("--peer").arg(format!("{p}={a}:{PORT}"));
                    }
                    let out = sb.run_in(n, c).map_err(|e| e.to_string())?;
                    if !out.status.success() {
                        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
                    }
                    serde_json::from_slice(&out.stdout).map_err(e("probe output"))
                });
                (n.0.clone(), h)
            })
            .collect();
        hs.into_iter()
            .map(|(n, h)| Ok((n, h.join().map_err(|_| "probe thread panicked")??)))
            .collect()
    })
}

/// Which (sender, receiver) UDP datagrams of `round` reached the echo nodes (from logs).
fn udp_delivered(sb: &Sandbox, dir: &Path, round: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for n in sb.nodes() {
        let f = std::fs::File::open(dir.join(format!("{n}.log")));
        let Ok(f) = f else { continue };
        let tag = format!("udp r{round} ");
        let mut senders: Vec<String> = BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| {
                l.strip_prefix(&tag)
                    .map(|r| r.split(' ').next().unwrap_or("").to_owned())
            })
            .collect();
        senders.sort();
        senders.dedup();
        out.extend(senders.into_iter().map(|s| (s, n.0.clone())));
    }
    out
}

/// The UDP deliveries of `round` once they settled: the echo nodes may be scheduled late on a
/// loaded machine, so wait (bounded, 5 s) until every pair the grudge leaves open has shown up
/// in the logs, then 50 ms more for any cut pair that would wrongly show up. This only decides
/// when to look; the test compares what was seen with the grudge.
fn udp_settled(sb: &Sandbox, dir: &Path, round: usize, grudge: &Grudge) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let open = sb
        .nodes()
        .iter()
        .flat_map(|s| sb.nodes().iter().map(move |r| (s, r)))
        .filter(|(s, r)| s != r && !grudge.drops(r, s))
        .count();
    while Instant::now() < deadline {
        let got = udp_delivered(sb, dir, round);
        let open_got = got
            .iter()
            .filter(|(s, r)| !grudge.drops(&NodeId::from(r.as_str()), &NodeId::from(s.as_str())))
            .count();
        if open_got >= open {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(50));
    udp_delivered(sb, dir, round)
}

fn partitions(sb: &Sandbox, dir: &Path, args: &[String]) -> Res<Value> {
    let seed: u64 = flag(args, "--seed")
        .unwrap_or("1")
        .parse()
        .map_err(e("--seed"))?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut cases = Vec::new();
    for (k, kind) in GrudgeKind::ALL.into_iter().enumerate() {
        let grudge = kind.generate(sb.nodes(), &mut rng);
        let fault = Fault::Partition {
            grudge: grudge.clone(),
        };
        let t = Instant::now();
        let guard = sb.apply(&fault).map_err(|e| format!("apply {kind}: {e}"))?;
        let apply_ms = t.elapsed().as_secs_f64() * 1e3;
        // Applying the same fault twice must be harmless (a second guard, same union).
        let again = sb
            .apply(&fault)
            .map_err(|e| format!("re-apply {kind}: {e}"))?;
        let tcp = probe_all(sb, k)?;
        let udp = udp_settled(sb, dir, k, &grudge);
        again
            .heal()
            .map_err(|e| format!("heal {kind} (second guard): {e}"))?;
        guard.heal().map_err(|e| format!("heal {kind}: {e}"))?;
        let healed_tcp = probe_all(sb, 100 + k)?;
        let healed_udp = udp_settled(sb, dir, 100 + k, &Grudge::default());
        cases.push(
            json!({"kind": kind.name(), "grudge": grudge, "apply_ms": apply_ms,
            "tcp": tcp, "udp": udp, "healed_tcp": healed_tcp, "healed_udp": healed_udp}),
        );
    }
    cases.push(composed(sb, dir, &mut rng)?);
    Ok(json!({"backend": sb.backend(), "seed": seed, "cases": cases}))
}

/// Two partitions at once, and a kill from another thread while both are in force; healing
/// the first leaves exactly the second in force.
fn composed(sb: &Sandbox, dir: &Path, rng: &mut rand_chacha::ChaCha8Rng) -> Res<Value> {
    let nodes = sb.nodes().to_vec();
    let g1 = nemesis::grudge::halves(&nodes, rng);
    let g2 = nemesis::grudge::one_way_grudge(&nodes[4..5], &nodes[..1]);
    let a = s(sb.apply(&Fault::Partition { grudge: g1 }))?;
    let b = s(sb.apply(&Fault::Partition { grudge: g2.clone() }))?;
    let n3 = nodes[2].clone();
    std::thread::scope(|sc| {
        sc.spawn(|| -> Res<()> {
            let k = s(sb.apply(&Fault::Kill {
                nodes: vec![n3.clone()],
            }))?;
            s(k.heal()).map(|_| ())
        })
        .join()
        .map_err(|_| "kill thread panicked".to_string())?
    })?;
    let addr = SocketAddr::new(s(sb.node_addr(&n3))?, PORT);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("restarted {n3} does not listen on {addr}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    s(a.heal())?;
    let tcp = probe_all(sb, 200)?;
    let udp = udp_settled(sb, dir, 200, &g2);
    s(b.heal())?;
    let healed_tcp = probe_all(sb, 201)?;
    let healed_udp = udp_settled(sb, dir, 201, &Grudge::default());
    Ok(
        json!({"kind": "composed", "grudge": g2, "tcp": tcp, "udp": udp,
        "healed_tcp": healed_tcp, "healed_udp": healed_udp,
        "restarts_n3": s(sb.restarts(&n3))?}),
    )
}

/// Breaks the route backend on purpose — IP forwarding switched on in the controller
/// namespace (this process's own, never the host's), so "dropped" packets get through — and
/// reports what `apply` said, and whether the failed partition was rolled back.
fn unverified(sb: &Sandbox) -> Res<Value> {
    const FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
    if !nemesis::controller_namespace_entered() {
        return Err("refusing to touch ip_forward outside a controller namespace".into());
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let grudge = nemesis::grudge::halves(sb.nodes(), &mut rng);
    std::fs::write(FORWARD, "1").map_err(e("enable forwarding"))?;
    let res = sb.apply(&Fault::Partition { grudge });
    std::fs::write(FORWARD, "0").map_err(e("disable forwarding"))?;
    let error = match res {
        Ok(_guard) => None,
        Err(err) => Some(err.to_string()),
    };
    // Rolled back: full connectivity, which an empty partition verifies.
    let empty = sb.apply(&Fault::Partition {
        grudge: Grudge::default(),
    });
    let rolled_back = empty.is_ok();
    drop(empty);
    let tcp = probe_all(sb, 300)?;
    Ok(json!({"error": error, "rolled_back": rolled_back, "tcp_after": tcp}))
}

fn state_name(s: NodeState) -> String {
    match s {
        NodeState::NotStarted => "not-started".into(),
        NodeState::Running { .. } => "running".into(),
        NodeState::Paused { .. } => "paused".into(),
        NodeState::Exited {
            status,
            killed_by_sandbox,
        } => format!("exited({status}, by_sandbox={killed_by_sandbox})"),
    }
}

fn lifecycle(sb: &Sandbox) -> Res<Value> {
    let n1 = NodeId::from("n1");
    let n2 = NodeId::from("n2");
    let pid1 = s(sb.pid(&n1))?.ok_or("n1 has no pid")?;
    let ns1 = ns_inode(&format!("/proc/{pid1}/ns/net"));
    let kill = s(sb.apply(&Fault::Kill {
        nodes: vec![n1.clone()],
    }))?;
    let after_kill = state_name(s(sb.state(&n1))?);
    let pid1_gone = !Path::new(&format!("/proc/{pid1}")).exists();
    let exit = s(sb.exit_status(&n1))?.map(|x| x.to_string());
    s(kill.heal())?;
    let pid1b = s(sb.pid(&n1))?.ok_or("n1 not restarted")?;
    let ns1b = ns_inode(&format!("/proc/{pid1b}/ns/net"));
    let restarts = s(sb.restarts(&n1))?;
    // Heal twice is harmless: a second restart of a running node changes nothing.
    let pid1c = s(sb.restart(&n1))?;
    let pid2 = s(sb.pid(&n2))?.ok_or("n2 has no pid")?;
    let pause = s(sb.apply(&Fault::Pause {
        nodes: vec![n2.clone()],
    }))?;
    let paused_stat = proc_state(pid2);
    let paused_state = state_name(s(sb.state(&n2))?);
    s(pause.heal())?;
    let resumed_stat = proc_state(pid2);
    // Dropping a guard heals as a backstop.
    drop(s(sb.apply(&Fault::Pause {
        nodes: vec![n2.clone()],
    }))?);
    let after_drop_stat = proc_state(pid2);
    // A fault on an unknown node is an error naming it.
    let unknown = sb
        .apply(&Fault::Kill {
            nodes: vec!["n9".into()],
        })
        .err()
        .map(|e| e.to_string());
    // heal_all restarts a node killed directly and resumes a paused one.
    s(sb.kill(&NodeId::from("n3")))?;
    s(sb.pause(&NodeId::from("n4")))?;
    s(sb.heal_all())?;
    let after_heal_all = [
        state_name(s(sb.state(&"n3".into()))?),
        state_name(s(sb.state(&"n4".into()))?),
    ];
    Ok(json!({
        "pid1": pid1, "ns1": ns1, "after_kill": after_kill, "pid1_gone": pid1_gone,
        "exit": exit, "pid1_restarted": pid1b, "ns1_restarted": ns1b, "restarts": restarts,
        "restart_again_pid": pid1c, "paused_stat": paused_stat, "paused_state": paused_state,
        "resumed_stat": resumed_stat, "after_drop_stat": after_drop_stat,
        "unknown_node_error": unknown, "after_heal_all": after_heal_all,
    }))
}

fn s<T>(x: nemesis::Result<T>) -> Res<T> {
    x.map_err(|e| e.to_string())
}

fn proc_state(pid: u32) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    s.rfind(')')
        .and_then(|i| s.get(i + 2..i + 3))
        .unwrap_or("?")
        .to_owned()
}

/// Under a node's preload: spins `--ms` of monotonic time and prints how much wall-clock
/// time the process saw pass meanwhile, and the ratio (the drift's rate).
fn clock_rate(args: &[String]) -> Res<()> {
    let ms: u64 = flag(args, "--ms")
        .unwrap_or("300")
        .parse()
        .map_err(e("--ms"))?;
    let w0 = std::time::SystemTime::now();
    let m0 = Instant::now();
    // Bounded: ends after `ms` of the (real) monotonic clock.
    while m0.elapsed() < Duration::from_millis(ms) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mono = m0.elapsed().as_secs_f64();
    let wall = std::time::SystemTime::now()
        .duration_since(w0)
        .map(|d| d.as_secs_f64())
        .map_err(e("the wall clock went back"))?;
    println!(
        "{}",
        json!({"wall_s": wall, "mono_s": mono, "ratio": wall / mono})
    );
    Ok(())
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// A node's wall-clock offset as `date` under its preload shows it, ms.
fn date_offset(sb: &Sandbox, n: &NodeId) -> Res<f64> {
    let mut c = Command::new("date");
    c.arg("+%s%N");
    let r0 = std::time::SystemTime::now();
    let out = s(sb.run_in(n, c))?;
    let r1 = std::time::SystemTime::now();
    let fake: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(e("parse date"))?;
    let ns = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as f64)
            .unwrap_or(0.0)
    };
    Ok((fake - (ns(r0) + ns(r1)) / 2.0) / 1e6)
}

/// The iptables rules of a node namespace (`iptables-save`, comments dropped).
fn rules(sb: &Sandbox, n: &NodeId) -> Res<String> {
    let out = s(sb.run_in(n, Command::new("iptables-save")))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("-A"))
        .collect::<Vec<_>>()
        .join("\n"))
}

fn qdisc(sb: &Sandbox, n: &NodeId) -> Res<String> {
    let mut c = Command::new("tc");
    c.args(["qdisc", "show", "dev", "eth0"]);
    let out = s(sb.run_in(n, c))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn err_of<T>(r: nemesis::Result<T>) -> String {
    match r {
        Ok(_) => "no error".into(),
        Err(e) => e.to_string(),
    }
}

/// Loss, slow and netem faults, alone and with a partition on the same receiver; each
/// step's observations, the rules and qdiscs the nodes hold, and the timings.
fn links(sb: &Sandbox) -> Res<Value> {
    let n: Vec<NodeId> = sb.nodes().to_vec();
    let mut out = json!({});
    let pid = sb.pid(&n[0]).ok().flatten().unwrap_or(0);
    let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    out["node_env_has_preload"] = json!(String::from_utf8_lossy(&env).contains("LD_PRELOAD="));
    out["clock_fault_without_preload"] = json!(err_of(sb.apply(&Fault::ClockBump {
        nodes: vec![n[0].clone()],
        offset_ms: 1,
    })));
    // A partition on n2 (n3 -> n2 cut) and a loss on n2 (n1 -> n2) at once.
    let mut g = BTreeMap::new();
    g.insert(
        n[1].clone(),
        std::collections::BTreeSet::from([n[2].clone()]),
    );
    let cut = s(sb.apply(&Fault::Partition { grudge: Grudge(g) }))?;
    let t = Instant::now();
    let loss = s(sb.apply(&Fault::Loss {
        links: vec![Link::new(n[0].clone(), n[1].clone())],
        probability: 0.3,
    }))?;
    out["loss_apply_ms"] = json!(ms_since(t));
    out["loss_observed"] = json!(loss.observed());
    out["rules_with_loss_and_cut"] = json!(rules(sb, &n[1])?);
    // The same loss again on the same link: the two compound.
    let again = s(sb.apply(&Fault::Loss {
        links: vec![Link::new(n[0].clone(), n[1].clone())],
        probability: 0.3,
    }))?;
    out["loss_twice_observed"] = json!(again.observed());
    s(again.heal())?;
    let t = Instant::now();
    s(loss.heal())?;
    out["loss_heal_ms"] = json!(ms_since(t));
    out["rules_after_loss_heal"] = json!(rules(sb, &n[1])?);
    s(cut.heal())?;
    out["rules_after_all_heals"] = json!(rules(sb, &n[1])?);
    // A certain loss (p = 1) is a cut as far as the probes see.
    let all = s(sb.apply(&Fault::Loss {
        links: vec![Link::new(n[3].clone(), n[4].clone())],
        probability: 1.0,
    }))?;
    out["loss_certain_observed"] = json!(all.observed());
    drop(all);
    out["rules_after_drop"] = json!(rules(sb, &n[4])?);
    // Slow: n1's egress at 8 Mbit/s.
    let t = Instant::now();
    let slow = s(sb.apply(&Fault::Slow {
        nodes: vec![n[0].clone()],
        rate_kbit: 8000,
        burst_bytes: 16000,
        latency_ms: 50,
    }))?;
    out["slow_apply_ms"] = json!(ms_since(t));
    out["slow_observed"] = json!(slow.observed());
    out["qdisc_slow"] = json!(qdisc(sb, &n[0])?);
    out["netem_conflict"] = json!(err_of(sb.apply(&Fault::Netem {
        nodes: vec![n[0].clone()],
        delay_ms: 5,
        duplicate: 0.0,
        reorder: 0.0,
    })));
    let t = Instant::now();
    s(slow.heal())?;
    out["slow_heal_ms"] = json!(ms_since(t));
    out["qdisc_after_heal"] = json!(qdisc(sb, &n[0])?);
    // netem: available or a clear error.
    out["netem_available"] = json!(sb.netem_available().err());
    out["netem_apply"] = json!(err_of(sb.apply(&Fault::Netem {
        nodes: vec![n[1].clone()],
        delay_ms: 5,
        duplicate: 0.0,
        reorder: 0.0,
    })));
    // Bad input never touches the nodes.
    out["bad_probability"] = json!(err_of(sb.apply(&Fault::Loss {
        links: vec![Link::new(n[0].clone(), n[1].clone())],
        probability: f64::NAN,
    })));
    out["bad_node"] = json!(err_of(sb.apply(&Fault::Loss {
        links: vec![Link::new(n[0].clone(), NodeId::from("n9"))],
        probability: 0.5,
    })));
    out["bad_self"] = json!(err_of(sb.apply(&Fault::Loss {
        links: vec![Link::new(n[0].clone(), n[0].clone())],
        probability: 0.5,
    })));
    // heal_all removes loss and slow alike.
    let _l = s(sb.apply(&Fault::Loss {
        links: vec![Link::new(n[2].clone(), n[3].clone())],
        probability: 0.5,
    }))?;
    let _s = s(sb.apply(&Fault::Slow {
        nodes: vec![n[2].clone()],
        rate_kbit: 4000,
        burst_bytes: 16000,
        latency_ms: 50,
    }))?;
    s(sb.heal_all())?;
    out["after_heal_all"] = json!({"rules": rules(sb, &n[3])?, "qdisc": qdisc(sb, &n[2])?});
    Ok(out)
}

/// Clock faults on nodes running under libfaketime: each offset as `date` under the node's
/// preload shows it, the drift as a process measures it, a strobe's flips.
fn clocks(sb: &Sandbox, exe: &Path) -> Res<Value> {
    let n: Vec<NodeId> = sb.nodes().to_vec();
    let mut out = json!({});
    let pid = sb.pid(&n[0]).ok().flatten().unwrap_or(0);
    let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    out["node_env_has_preload"] = json!(String::from_utf8_lossy(&env).contains("LD_PRELOAD="));
    out["clock_dir"] = json!(sb.clock_dir());
    out["before"] = json!(date_offset(sb, &n[0])?);
    let t = Instant::now();
    let bump = s(sb.apply(&Fault::ClockBump {
        nodes: vec![n[0].clone()],
        offset_ms: 5_000,
    }))?;
    out["bump_apply_ms"] = json!(ms_since(t));
    out["bump_observed"] = json!(bump.observed());
    out["bump_date"] = json!(date_offset(sb, &n[0])?);
    out["other_node_date"] = json!(date_offset(sb, &n[1])?);
    // Two bumps on one node add up.
    let back = s(sb.apply(&Fault::ClockBump {
        nodes: vec![n[0].clone()],
        offset_ms: -3_600_000,
    }))?;
    out["two_bumps_date"] = json!(date_offset(sb, &n[0])?);
    out["overflow"] = json!(err_of(sb.apply(&Fault::ClockBump {
        nodes: vec![n[0].clone()],
        offset_ms: -nemesis::fault::MAX_CLOCK_OFFSET_MS,
    })));
    out["after_overflow_date"] = json!(date_offset(sb, &n[0])?);
    s(back.heal())?;
    s(bump.heal())?;
    out["healed_date"] = json!(date_offset(sb, &n[0])?);
    // Drift: x2, measured by a process that lives 300 ms.
    let drift = s(sb.apply(&Fault::ClockDrift {
        nodes: vec![n[2].clone()],
        rate: 2.0,
    }))?;
    let mut c = Command::new(exe);
    c.args(["clock-rate", "--ms", "300"]);
    let o = s(sb.run_in(&n[2], c))?;
    out["drift_rate"] =
        serde_json::from_slice::<Value>(&o.stdout).map_err(e("clock-rate output"))?;
    s(drift.heal())?;
    let mut c = Command::new(exe);
    c.args(["clock-rate", "--ms", "300"]);
    let o = s(sb.run_in(&n[2], c))?;
    out["healed_rate"] =
        serde_json::from_slice::<Value>(&o.stdout).map_err(e("clock-rate output"))?;
    // Strobe between 0 and +10 s every 20 ms for 600 ms: sample until both are seen.
    let strobe = s(sb.apply(&Fault::ClockStrobe {
        nodes: vec![n[3].clone()],
        a_ms: 0,
        b_ms: 10_000,
        period_ms: 20,
        duration_ms: 600,
    }))?;
    let t = Instant::now();
    let mut seen = Vec::new();
    // Bounded: the strobe lasts 600 ms.
    while t.elapsed() < Duration::from_millis(500) {
        seen.push(date_offset(sb, &n[3])?);
    }
    out["strobe_samples"] = json!(seen);
    // After its duration the strobe rests at 0 (polled, bounded by 2 s).
    let t = Instant::now();
    let mut rest = date_offset(sb, &n[3])?;
    while rest.abs() > 100.0 && t.elapsed() < Duration::from_secs(2) {
        rest = date_offset(sb, &n[3])?;
    }
    out["strobe_rest"] = json!(rest);
    drop(strobe);
    // heal_all resets every clock.
    let _b = s(sb.apply(&Fault::ClockBump {
        nodes: vec![n[4].clone()],
        offset_ms: 7_000,
    }))?;
    s(sb.heal_all())?;
    out["heal_all_date"] = json!(date_offset(sb, &n[4])?);
    Ok(out)
}
