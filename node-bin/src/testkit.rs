//! A real `gauntlet-node` cluster on loopback for the process tests (`tests/`) and the
//! benchmark (`benches/node_bench.rs`): one source for both, behind the `testkit` feature.
//! Every process is killed (SIGKILL) when the [`Cluster`] drops; data dirs are temp dirs.
//!
//! # Addresses without a bind-drop-reuse race
//!
//! A node's peers are named on its command line, so every address must be known before any
//! node starts: a node cannot bind port 0 and report its port afterwards. Picking a free port
//! by binding `:0` and dropping it (what this kit did before) races with any other socket in
//! the machine, which may get that port between the drop and the node's bind, and a killed
//! node's port may be taken before its restart.
//!
//! Instead, each cluster owns a block of loopback addresses, `127.77.B.1 ..= 127.77.B.254`
//! (Linux routes all of 127/8 to `lo`), and every node listens on [`PORT`] at an address of
//! its own. Ownership of block `B` is a UDP socket bound to `127.77.B.255:PORT`: the kernel
//! gives that to one socket on the machine only, in any process, and takes it back when its
//! owner exits, even by SIGKILL. [`PORT`] lies below the kernel's ephemeral range, so no
//! `bind(:0)` and no outgoing connection is ever given it. Nobody else binds in an owned block,
//! so a node restarted after kill -9 finds its address free.

use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The port of every test node (each on an address of its own). Below Linux's default
/// ephemeral range (32768-60999), so the kernel never hands it out on its own.
pub const PORT: u16 = 29_170;

/// The second octet of the loopback blocks (`127.77.B.N`).
const BLOCK_OCTET: u8 = 77;

/// One node process.
#[derive(Debug)]
pub struct NodeProc {
    pub id: String,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub child: Option<Child>,
    pub log: PathBuf,
}

/// A cluster of node processes; drop kills them all.
#[derive(Debug)]
pub struct Cluster {
    pub nodes: Vec<NodeProc>,
    pub bin: PathBuf,
    pub extra: Vec<String>,
    /// Extra environment of every node process (e.g. a libfaketime preload).
    pub env: Vec<(String, String)>,
    pub http: reqwest::Client,
    _block: AddrBlock,
    _tmp: tempfile::TempDir,
}

/// A block of loopback addresses owned by one cluster (see the module docs).
#[derive(Debug)]
struct AddrBlock {
    block: u8,
    /// Bound to `127.77.B.255:PORT`; holding it is owning the block.
    _claim: UdpSocket,
}

impl AddrBlock {
    /// Claims a free block with room for `n` nodes whose addresses are all free.
    fn claim(n: usize) -> AddrBlock {
        assert!(
            (1..=254).contains(&n),
            "a loopback block holds 1 to 254 nodes, not {n}"
        );
        check_port_outside_ephemeral_range();
        // Start at a different block per process and per cluster, so concurrent claimers
        // rarely try the same one first.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let start = std::process::id()
            .wrapping_mul(31)
            .wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed));
        for i in 0..256u32 {
            let block = (start.wrapping_add(i) % 256) as u8;
            let Ok(claim) = UdpSocket::bind(block_addr(block, 255)) else {
                continue; // another cluster owns it
            };
            // A node of a test process that died a moment ago may still hold its address
            // (the parent-death SIGKILL is asynchronous): skip such a block.
            if (1..=n).all(|k| addr_is_free(block_addr(block, k as u8))) {
                return AddrBlock {
                    block,
                    _claim: claim,
                };
            }
        }
        panic!("test kit: no free loopback block 127.{BLOCK_OCTET}.*.0/24 for {n} nodes on port {PORT}");
    }

    /// The address of node `k` (1-based).
    fn node(&self, k: usize) -> SocketAddr {
        block_addr(self.block, k as u8)
    }
}

fn block_addr(block: u8, host: u8) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::new(127, BLOCK_OCTET, block, host),
        PORT,
    ))
}

/// True when both TCP and UDP can bind `addr` now. Only used inside an owned block, where no
/// one else binds, so the answer stays true until the node binds.
fn addr_is_free(addr: SocketAddr) -> bool {
    TcpListener::bind(addr).is_ok() && UdpSocket::bind(addr).is_ok()
}

/// Panics with the reason when [`PORT`] lies in this machine's ephemeral port range: the
/// kernel could then hand it to an unrelated socket, and the kit would be racy again.
fn check_port_outside_ephemeral_range() {
    const RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";
    let Ok(text) = std::fs::read_to_string(RANGE) else {
        return; // not Linux, or no procfs: nothing to check against
    };
    let bounds: Vec<u16> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    if let [lo, hi] = bounds[..] {
        assert!(
            !(lo..=hi).contains(&PORT),
            "test kit: port {PORT} lies in this machine's ephemeral port range {lo}-{hi} \
             ({RANGE}); the loopback cluster needs a port the kernel never hands out"
        );
    }
}

impl Cluster {
    /// Starts `n` nodes with the extra flags `extra` (e.g. `--bug x`) and waits until all
    /// answer /health.
    pub async fn start(bin: &str, n: usize, extra: &[&str]) -> Cluster {
        Cluster::start_env(bin, n, extra, &[]).await
    }

    /// [`Cluster::start`] with extra environment variables for every node process.
    pub async fn start_env(
        bin: &str,
        n: usize,
        extra: &[&str],
        env: &[(String, String)],
    ) -> Cluster {
        let tmp = tempfile::tempdir().expect("temp dir");
        let block = AddrBlock::claim(n);
        let mut nodes = Vec::new();
        for i in 1..=n {
            let addr = block.node(i);
            let dir = tmp.path().join(format!("n{i}"));
            let log = tmp.path().join(format!("n{i}.log"));
            nodes.push(NodeProc {
                id: format!("n{i}"),
                addr,
                dir,
                child: None,
                log,
            });
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()
            .unwrap();
        let mut c = Cluster {
            nodes,
            bin: PathBuf::from(bin),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: env.to_vec(),
            http,
            _block: block,
            _tmp: tmp,
        };
        for i in 0..n {
            c.spawn(i);
        }
        for i in 0..n {
            c.wait_healthy(i).await;
        }
        c
    }

    /// Starts (or restarts) node `i` on its data dir.
    pub fn spawn(&mut self, i: usize) {
        let peers: Vec<String> = self
            .nodes
            .iter()
            .flat_map(|n| ["--peer".to_string(), format!("{}={}", n.id, n.addr)])
            .collect();
        let node = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .expect("node log");
        let mut cmd = Command::new(&self.bin);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to SIGKILL the child when
        // this (test) process dies, so no node outlives a killed test run.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .args(["--id", &node.id, "--listen", &node.addr.to_string()])
            .args(&peers)
            .arg("--data-dir")
            .arg(&node.dir)
            .args(&self.extra)
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn gauntlet-node");
        node.child = Some(child);
    }

    /// SIGKILL node `i` and reap it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM node `i`, wait for its exit, and return its exit status code.
    pub fn terminate(&mut self, i: usize) -> Option<i32> {
        let mut c = self.nodes[i].child.take()?;
        let pid = nix::unistd::Pid::from_raw(c.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    pub fn url(&self, i: usize, path: &str) -> String {
        format!("http://{}{}", self.nodes[i].addr, path)
    }

    pub async fn wait_healthy(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = self.http.get(self.url(i, "/health")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "node {} never became healthy; log {}",
            i + 1,
            self.nodes[i].log.display()
        );
    }

    /// POSTs JSON; returns (status, body).
    pub async fn post(&self, i: usize, path: &str, body: Value) -> (u16, Value) {
        match self.http.post(self.url(i, path)).json(&body).send().await {
            Ok(r) => {
                let s = r.status().as_u16();
                (s, r.json().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, json!({"error": e.to_string()})),
        }
    }

    pub async fn get(&self, i: usize, path: &str) -> (u16, Value) {
        match self.http.get(self.url(i, path)).send().await {
            Ok(r) => {
                let s = r.status().as_u16();
                (s, r.json().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, json!({"error": e.to_string()})),
        }
    }

    pub async fn acquire(&self, i: usize, lock: &str, client: &str, ttl_ms: u64) -> (u16, Value) {
        self.post(
            i,
            &format!("/locks/{lock}/acquire"),
            json!({"client": client, "ttl_ms": ttl_ms}),
        )
        .await
    }

    pub async fn release(&self, i: usize, lock: &str, client: &str, token: u64) -> (u16, Value) {
        self.post(
            i,
            &format!("/locks/{lock}/release"),
            json!({"client": client, "token": token}),
        )
        .await
    }

    pub async fn submit(&self, i: usize, id: &str, work_ms: u64) -> (u16, Value) {
        self.post(i, "/tasks", json!({"id": id, "work_ms": work_ms}))
            .await
    }

    /// The state `of` has for member `about` in /members.
    pub async fn member_state(&self, of: usize, about: &str) -> Option<String> {
        let (s, v) = self.get(of, "/members").await;
        if s != 200 {
            return None;
        }
        v["members"]
            .as_array()?
            .iter()
            .find(|m| m["id"] == about)
            .map(|m| m["state"].as_str().unwrap_or("").to_string())
    }

    /// Polls `f` every 20 ms until it returns true or `limit` passes; returns the time taken.
    pub async fn wait_until<F, Fut>(limit: Duration, mut f: F) -> Option<Duration>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        while start.elapsed() < limit {
            if f().await {
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// The last lines of node `i`'s log (for failure messages).
    pub fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
