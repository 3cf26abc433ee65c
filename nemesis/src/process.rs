//! Node processes: started by one long-lived *spawner thread*, each in its node's network
//! namespace, with its output appended to a log file and a parent-death signal.
//!
//! Why a dedicated thread: `PR_SET_PDEATHSIG` fires when the *thread* that forked the child
//! exits, not when the process does. Forking from a tokio blocking-pool thread would kill
//! the node whenever that pool thread retires (after 10 s idle). The spawner thread lives
//! exactly as long as the sandbox, so a node dies only when the sandbox goes down or the
//! controller process dies (SIGKILL included).

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fault::NodeId;

/// The environment variable every node process carries: `<controller pid>:<its start time>`.
/// `gauntlet clean` uses it to find processes whose controller is gone.
pub const OWNER_ENV: &str = "GAUNTLET_SANDBOX_OWNER";

/// How to start a node's process. Restarts reuse it unchanged (same args, same data dir).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// The program to run.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Extra environment variables (the rest is inherited from the controller).
    pub env: Vec<(OsString, OsString)>,
    /// The file that receives stdout and stderr, appended to across restarts.
    pub log: PathBuf,
    /// The working directory (default: the controller's).
    pub cwd: Option<PathBuf>,
}

impl NodeSpec {
    /// A spec with no extra env and no cwd.
    pub fn new(
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
        log: impl Into<PathBuf>,
    ) -> Self {
        NodeSpec {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            log: log.into(),
            cwd: None,
        }
    }
}

/// What a node's process is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Never spawned.
    NotStarted,
    /// Running (not stopped).
    Running {
        /// Its pid.
        pid: u32,
    },
    /// Stopped by SIGSTOP (a pause fault).
    Paused {
        /// Its pid.
        pid: u32,
    },
    /// Exited or was killed.
    Exited {
        /// How it ended.
        status: ExitStatus,
        /// True when the sandbox killed it (a kill fault or [`crate::Sandbox::kill`]).
        killed_by_sandbox: bool,
    },
}

type SpawnReply = mpsc::Sender<std::io::Result<Child>>;

/// The thread that forks every node process (see the module docs for why).
#[derive(Debug)]
pub(crate) struct Spawner {
    tx: Option<mpsc::Sender<(Command, SpawnReply)>>,
    thread: Option<JoinHandle<()>>,
}

impl Spawner {
    pub(crate) fn start() -> Result<Spawner> {
        let (tx, rx) = mpsc::channel::<(Command, SpawnReply)>();
        let thread = std::thread::Builder::new()
            .name("nemesis-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .map_err(|e| Error::io("start the spawner thread", e))?;
        Ok(Spawner {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    fn spawn(&self, cmd: Command) -> std::io::Result<Child> {
        let gone = || std::io::Error::other("the sandbox's spawner thread is gone");
        let tx = self.tx.as_ref().ok_or_else(gone)?;
        let (rtx, rrx) = mpsc::channel();
        tx.send((cmd, rtx)).map_err(|_| gone())?;
        rrx.recv().map_err(|_| gone())?
    }

    /// Stops the thread (after the nodes are dead: their death signal is tied to it).
    pub(crate) fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One node's process and its history.
#[derive(Debug)]
pub(crate) struct NodeProc {
    pub spec: NodeSpec,
    child: Option<Child>,
    exit: Option<ExitStatus>,
    killed_by_sandbox: bool,
    paused: bool,
    pub restarts: u32,
}

/// `<pid>:<starttime>` of this process, the value of [`OWNER_ENV`].
pub fn owner_tag() -> String {
    let pid = std::process::id();
    format!("{pid}:{}", start_time(pid).unwrap_or(0))
}

/// Field 22 of /proc/PID/stat: the start time, which tells a pid's reuse apart.
pub fn start_time(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The state letter of /proc/PID/stat (`R`, `S`, `T`, `Z`, ...).
pub(crate) fn proc_state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 2..].chars().next()
}

impl NodeProc {
    /// Starts the process for `spec` in namespace `ns_fd` (None: the controller's own, for
    /// loopback mode).
    pub(crate) fn start(
        node: &NodeId,
        spec: NodeSpec,
        ns_fd: Option<RawFd>,
        spawner: &Spawner,
    ) -> Result<NodeProc> {
        let child = launch(node, &spec, ns_fd, spawner)?;
        Ok(NodeProc {
            spec,
            child: Some(child),
            exit: None,
            killed_by_sandbox: false,
            paused: false,
            restarts: 0,
        })
    }

    /// Reaps the child if it has exited, and returns the current state.
    pub(crate) fn state(&mut self) -> NodeState {
        if let Some(c) = self.child.as_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                self.exit = Some(status);
                self.child = None;
                self.paused = false;
            }
        }
        match (&self.child, self.exit) {
            (Some(c), _) if self.paused => NodeState::Paused { pid: c.id() },
            (Some(c), _) => NodeState::Running { pid: c.id() },
            (None, Some(status)) => NodeState::Exited {
                status,
                killed_by_sandbox: self.killed_by_sandbox,
            },
            (None, None) => NodeState::NotStarted,
        }
    }

    fn not_running(&mut self, node: &NodeId) -> Error {
        Error::NotRunning {
            node: node.clone(),
            exit: self.exit.map(|s| s.to_string()),
        }
    }

    /// SIGKILL and reap; returns when the pid is gone. Killing a dead node is a no-op.
    pub(crate) fn kill(&mut self) -> Result<Instant> {
        if let NodeState::Exited { .. } | NodeState::NotStarted = self.state() {
            return Ok(Instant::now());
        }
        let Some(child) = self.child.as_mut() else {
            return Ok(Instant::now());
        };
        // Child::kill sends SIGKILL to a pid we have not reaped, so it cannot be reused.
        child
            .kill()
            .map_err(|e| Error::io(format!("SIGKILL pid {}", child.id()), e))?;
        let status = child
            .wait()
            .map_err(|e| Error::io(format!("reap pid {}", child.id()), e))?;
        let at = Instant::now();
        self.exit = Some(status);
        self.child = None;
        self.paused = false;
        self.killed_by_sandbox = true;
        Ok(at)
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. For a clean shutdown before teardown.
    pub(crate) fn terminate(&mut self, grace: Duration) -> Result<Instant> {
        let pid = match self.state() {
            NodeState::Running { pid } | NodeState::Paused { pid } => pid,
            _ => return Ok(Instant::now()),
        };
        signal(pid, libc::SIGCONT)?;
        signal(pid, libc::SIGTERM)?;
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let NodeState::Exited { .. } = self.state() {
                return Ok(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.kill()
    }

    /// The pid of the live (running or stopped) process, or why there is none.
    fn live_pid(&mut self, node: &NodeId) -> Result<u32> {
        match self.state() {
            NodeState::Running { pid } | NodeState::Paused { pid } => Ok(pid),
            _ => Err(self.not_running(node)),
        }
    }

    /// SIGSTOP; returns once /proc shows the process stopped (state `T`).
    pub(crate) fn pause(&mut self, node: &NodeId) -> Result<Instant> {
        let pid = self.live_pid(node)?;
        signal(pid, libc::SIGSTOP)?;
        self.paused = true;
        wait_for_state(node, pid, |c| c == 'T', "stopped (T)")
    }

    /// SIGCONT; returns once /proc shows the process no longer stopped.
    pub(crate) fn resume(&mut self, node: &NodeId) -> Result<Instant> {
        let pid = self.live_pid(node)?;
        signal(pid, libc::SIGCONT)?;
        self.paused = false;
        wait_for_state(node, pid, |c| c != 'T', "running (not T)")
    }

    /// Starts the process again with the same spec unless it is running; returns the pid.
    pub(crate) fn restart(
        &mut self,
        node: &NodeId,
        ns_fd: Option<RawFd>,
        spawner: &Spawner,
    ) -> Result<u32> {
        if let NodeState::Running { pid } | NodeState::Paused { pid } = self.state() {
            return Ok(pid);
        }
        let child = launch(node, &self.spec, ns_fd, spawner)?;
        let pid = child.id();
        self.child = Some(child);
        self.exit = None;
        self.killed_by_sandbox = false;
        self.paused = false;
        self.restarts += 1;
        Ok(pid)
    }
}

fn signal(pid: u32, sig: libc::c_int) -> Result<()> {
    // SAFETY: kill(2) with a pid we spawned and have not reaped (the caller checked), so
    // it cannot name another process.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    if rc != 0 {
        return Err(Error::sys(
            format!("kill({pid}, {sig})"),
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

/// Polls /proc/PID/stat until `ok(state)`; bounded to 2 s.
fn wait_for_state(
    node: &NodeId,
    pid: u32,
    ok: impl Fn(char) -> bool,
    want: &str,
) -> Result<Instant> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let st = proc_state(pid);
        if st.is_some_and(&ok) {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            return Err(Error::NotVerified(format!(
                "node {node} (pid {pid}) is in state {st:?}, expected {want} after 2 s"
            )));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Forks the node's program on the spawner thread.
fn launch(
    node: &NodeId,
    spec: &NodeSpec,
    ns_fd: Option<RawFd>,
    spawner: &Spawner,
) -> Result<Child> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .map_err(|e| Error::io(format!("open log {} of node {node}", spec.log.display()), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| Error::io(format!("dup log fd of node {node}"), e))?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .env(OWNER_ENV, owner_tag());
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: runs in the forked child before exec and only calls child_setup, which is
    // async-signal-safe. The node gets its own process group, so a Ctrl-C at the terminal
    // reaches the controller, which then tears down in order, not every node at once.
    unsafe {
        cmd.pre_exec(move || crate::netns::child_setup(ns_fd, parent, true));
    }
    spawner.spawn(cmd).map_err(|e| Error::Spawn {
        node: node.clone(),
        program: spec.program.clone(),
        source: e,
    })
}
