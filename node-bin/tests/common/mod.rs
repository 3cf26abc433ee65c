//! A real `gauntlet-node` cluster on loopback for process tests and the benchmark.
//! Every process is killed (SIGKILL) when the guard drops; data dirs are temp dirs.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One node process.
pub struct NodeProc {
    pub id: String,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub child: Option<Child>,
    pub log: PathBuf,
}

/// A cluster of node processes; drop kills them all.
pub struct Cluster {
    pub nodes: Vec<NodeProc>,
    pub bin: PathBuf,
    pub extra: Vec<String>,
    pub http: reqwest::Client,
    _tmp: tempfile::TempDir,
}

/// A port free for both TCP and UDP on 127.0.0.1.
fn free_port() -> u16 {
    for _ in 0..100 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp :0");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port for TCP and UDP");
}

impl Cluster {
    /// Starts `n` nodes with the extra flags `extra` (e.g. `--bug x`) and waits until all
    /// answer /health.
    pub async fn start(bin: &str, n: usize, extra: &[&str]) -> Cluster {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut nodes = Vec::new();
        for i in 1..=n {
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
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
            http,
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

    /// Polls `f` every 50 ms until it returns true or `limit` passes; returns the time taken.
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
