//! Network namespaces: the controller's own (entered once, at process start) and the
//! nodes' (made on demand, held only by file descriptors, so they vanish with the process).
//!
//! Nothing here ever names a namespace in `/run/netns`: a named namespace is a bind mount
//! that outlives a SIGKILLed controller. Unnamed ones live exactly as long as some process
//! is in them or holds an fd, which is what makes the sandbox leak-proof.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use nix::sched::{unshare, CloneFlags};

use crate::error::{Error, Result};

/// Identity of a namespace: the (device, inode) of its nsfs file.
pub(crate) type NsId = (u64, u64);

/// The controller namespace this process entered, recorded once.
#[derive(Debug)]
struct Controller {
    /// The namespace the process was in before (the host's, as far as we can tell).
    host: NsId,
    /// The private namespace it moved into.
    ns: NsId,
    /// An fd of that namespace, so helper commands can be pinned to it.
    fd: OwnedFd,
    /// Whether a user namespace was needed (not root).
    user_ns: bool,
}

static CONTROLLER: OnceLock<Controller> = OnceLock::new();

/// The (dev, inode) of the network namespace of the calling *thread*.
pub(crate) fn current_ns() -> Result<NsId> {
    ns_id_of("/proc/thread-self/ns/net")
}

fn ns_id_of(path: &str) -> Result<NsId> {
    let m = std::fs::metadata(path).map_err(|e| Error::io(format!("stat {path}"), e))?;
    Ok((m.dev(), m.ino()))
}

/// How many threads the process has (from /proc/self/status).
fn thread_count() -> Result<usize> {
    let s = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| Error::io("read /proc/self/status", e))?;
    Ok(s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0))
}

/// Moves this process into a fresh, private network namespace (the *controller namespace*)
/// where the sandbox will build its bridge. When not root, a user namespace is made first,
/// which works where the kernel allows unprivileged user namespaces.
///
/// **Must be called while the process has a single thread** — first thing in `main`, before
/// building a tokio runtime or starting any thread: a network namespace belongs to a thread,
/// and threads started earlier would stay in the host's namespace (and a user namespace
/// cannot be entered at all by a multi-threaded process). Calling it again once entered is a
/// harmless no-op.
///
/// After it returns, everything the process does on the network happens in the private
/// namespace: the host's interfaces, routes and firewall are out of reach, and the namespace
/// (with the bridge and all node links) disappears when the process exits, however it exits.
/// IP forwarding is switched off in it: the kernel-only partition backend relies on that.
pub fn enter_controller_namespace() -> Result<()> {
    if let Some(c) = CONTROLLER.get() {
        if current_ns()? == c.ns {
            return Ok(());
        }
        return Err(Error::NotInControllerNamespace);
    }
    let threads = thread_count()?;
    if threads != 1 {
        return Err(Error::NotSingleThreaded { threads });
    }
    let host = current_ns()?;
    let root = nix::unistd::geteuid().is_root();
    if root {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| Error::NamespaceUnavailable {
            what: "unshare(CLONE_NEWNET) as root".into(),
            source: e,
            hint: "the kernel may lack CONFIG_NET_NS, or a seccomp/container policy forbids it; \
                   use --net loopback"
                .into(),
        })?;
    } else {
        enter_user_and_net_ns()?;
    }
    let ns = current_ns()?;
    if ns == host {
        // Defensive: never go on in the host namespace.
        return Err(Error::NotInControllerNamespace);
    }
    let fd: OwnedFd = File::open("/proc/thread-self/ns/net")
        .map_err(|e| Error::io("open /proc/thread-self/ns/net", e))?
        .into();
    // Only now, provably in the private namespace, touch its sysctls.
    write_file("/proc/sys/net/ipv4/ip_forward", "0")?;
    let c = Controller {
        host,
        ns,
        fd,
        user_ns: !root,
    };
    let _ = CONTROLLER.set(c);
    set_link_up_lo()?;
    tracing::debug!(user_ns = !root, "entered the controller network namespace");
    Ok(())
}

fn enter_user_and_net_ns() -> Result<()> {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET).map_err(|e| {
        Error::NamespaceUnavailable {
            what: "unshare(CLONE_NEWUSER | CLONE_NEWNET) as a normal user".into(),
            source: e,
            hint: "this kernel does not allow unprivileged user namespaces (check \
                   /proc/sys/user/max_user_namespaces, kernel.unprivileged_userns_clone, \
                   or AppArmor's kernel.apparmor_restrict_unprivileged_userns); run as root \
                   or use --net loopback"
                .into(),
        }
    })?;
    write_file("/proc/self/setgroups", "deny")?;
    write_file("/proc/self/uid_map", &format!("0 {uid} 1"))?;
    write_file("/proc/self/gid_map", &format!("0 {gid} 1"))?;
    Ok(())
}

fn write_file(path: &str, content: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(format!("open {path} for writing"), e))?;
    f.write_all(content.as_bytes())
        .map_err(|e| Error::io(format!("write {content:?} to {path}"), e))
}

/// Brings `lo` up in the calling thread's namespace, with an ioctl (no `ip` needed yet).
fn set_link_up_lo() -> Result<()> {
    let sock = std::net::UdpSocket::bind(("0.0.0.0", 0))
        .map_err(|e| Error::io("open a socket in the controller namespace", e))?;
    crate::ifconfig::set_up(&sock, "lo")
        .map_err(|e| Error::io("set lo up in the controller namespace", e))
}

/// The controller record, or an error when the process never entered one.
fn controller() -> Result<&'static Controller> {
    CONTROLLER.get().ok_or(Error::NotInControllerNamespace)
}

/// Succeeds when the calling thread is in the controller namespace this process entered
/// (and therefore not in the host's).
pub(crate) fn check_in_controller() -> Result<()> {
    let c = controller()?;
    let now = current_ns()?;
    if now != c.ns || now == c.host {
        return Err(Error::NotInControllerNamespace);
    }
    Ok(())
}

/// The raw fd of the controller namespace (valid for the life of the process).
pub(crate) fn controller_fd() -> Result<RawFd> {
    Ok(controller()?.fd.as_raw_fd())
}

/// Whether this process entered its controller namespace through a user namespace.
pub fn controller_uses_user_namespace() -> bool {
    CONTROLLER.get().is_some_and(|c| c.user_ns)
}

/// Whether [`enter_controller_namespace`] has succeeded in this process.
pub fn controller_namespace_entered() -> bool {
    CONTROLLER.get().is_some()
}

/// A node namespace held by fd, plus a UDP socket made inside it (for probes).
#[derive(Debug)]
pub(crate) struct NodeNs {
    pub fd: OwnedFd,
    pub probe: std::net::UdpSocket,
    /// A NETLINK_ROUTE socket bound to this namespace (the route backend's channel).
    pub rtnl: OwnedFd,
}

/// Makes `n` fresh network namespaces as children of the controller's, each with a UDP
/// probe socket and an rtnetlink socket made inside it. Runs on a short-lived thread: `unshare(CLONE_NEWNET)`
/// moves only the calling thread, so the controller's other threads are unaffected, and the
/// thread's own namespace does not matter once it exits (the fds keep the namespaces alive).
pub(crate) fn make_node_namespaces(n: usize) -> Result<Vec<NodeNs>> {
    let ctl = controller_fd()?;
    std::thread::scope(|s| {
        s.spawn(move || -> Result<Vec<NodeNs>> {
            // Start from the controller namespace even if the caller's thread is elsewhere.
            setns_raw(ctl)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                unshare(CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::sys("unshare(CLONE_NEWNET) for a node", e))?;
                let fd: OwnedFd = File::open("/proc/thread-self/ns/net")
                    .map_err(|e| Error::io("open a node namespace", e))?
                    .into();
                let probe = std::net::UdpSocket::bind(("0.0.0.0", 0))
                    .map_err(|e| Error::io("bind a probe socket in a node namespace", e))?;
                probe
                    .set_nonblocking(true)
                    .map_err(|e| Error::io("set a probe socket non-blocking", e))?;
                let rtnl = crate::partition::route::open_rtnl()
                    .map_err(|e| Error::io("open rtnetlink in a node namespace", e))?;
                out.push(NodeNs { fd, probe, rtnl });
            }
            Ok(out)
        })
        .join()
        .unwrap_or_else(|_| Err(Error::Config("namespace thread panicked".into())))
    })
}

/// Moves the calling thread into the namespace `fd`.
fn setns_raw(fd: RawFd) -> Result<()> {
    // SAFETY: setns only reads the fd number; an invalid fd yields EBADF, no UB.
    let rc = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(Error::sys("setns(CLONE_NEWNET)", nix::errno::Errno::last()));
    }
    Ok(())
}

/// What every child the sandbox forks does between fork and exec: join the namespace `fd`
/// (if any), optionally leave the controller's process group, and ask to be SIGKILLed when
/// the forking thread dies — then check the controller did not die before that request.
///
/// # Safety
/// Only to be called in a forked child before exec (inside `pre_exec`): it makes only
/// async-signal-safe syscalls (setns, setpgid, prctl, getppid), allocates nothing and takes
/// no lock.
pub(crate) unsafe fn child_setup(
    fd: Option<RawFd>,
    parent: libc::pid_t,
    own_group: bool,
) -> std::io::Result<()> {
    // SAFETY: plain syscalls on integers; the caller guarantees we are in a fresh child.
    unsafe {
        if let Some(fd) = fd {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        if own_group {
            libc::setpgid(0, 0);
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::getppid() != parent {
            return Err(std::io::Error::other("controller died during spawn"));
        }
    }
    Ok(())
}

/// Makes `cmd` run inside the network namespace `fd` and die with the controller (the thread
/// that spawns it waits for it, so the parent-death signal cannot fire early). The fd must
/// stay open until the child has been spawned.
pub(crate) fn pin_to_ns(cmd: &mut Command, fd: RawFd) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and only calls child_setup,
    // which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || child_setup(Some(fd), parent, false));
    }
}

/// Starts `program args` inside the namespace `fd`, feeding `stdin` when given, and returns
/// the running child (stdout null, stderr piped) so several can run at once.
pub(crate) fn start_in(
    fd: RawFd,
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<Pending> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    pin_to_ns(&mut cmd, fd);
    let line = format!("{program} {}", args.join(" "));
    let mut child = cmd.spawn().map_err(|e| Error::Command {
        command: line.clone(),
        status: if e.kind() == std::io::ErrorKind::NotFound {
            format!("could not start: {program} is not on PATH (install it: iproute2, iptables)")
        } else {
            format!("could not start: {e}")
        },
        stderr: String::new(),
    })?;
    if let Some(input) = stdin {
        if let Some(mut w) = child.stdin.take() {
            // A write error shows up as the command's failure below.
            let _ = w.write_all(input.as_bytes());
        }
    }
    Ok(Pending {
        child,
        line,
        input: stdin.map(str::to_owned),
    })
}

/// A helper command started by [`start_in`].
#[derive(Debug)]
pub(crate) struct Pending {
    child: std::process::Child,
    line: String,
    input: Option<String>,
}

impl Pending {
    /// Waits for the command; an error carries its command line, input and stderr.
    pub(crate) fn finish(mut self) -> Result<String> {
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let status = self
            .child
            .wait()
            .map_err(|e| Error::io(format!("wait for `{}`", self.line), e))?;
        if status.success() {
            return Ok(out);
        }
        let mut command = self.line;
        if let Some(i) = self.input {
            command = format!("{command} <<< {i:?}");
        }
        Err(Error::Command {
            command,
            status: status.to_string(),
            stderr: err.trim().to_owned(),
        })
    }
}

/// Runs a helper command to completion inside the namespace `fd`; returns its stdout.
pub(crate) fn run_in(
    fd: RawFd,
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String> {
    start_in(fd, program, args, stdin)?.finish()
}

/// A path another process can open to reach the namespace behind our fd (used for
/// `ip link ... netns PATH`, which iproute2 opens as a file when it contains a '/').
pub(crate) fn fd_path(fd: &impl AsFd) -> String {
    format!("/proc/{}/fd/{}", std::process::id(), fd.as_fd().as_raw_fd())
}

/// Finds `program` in `$PATH` (the way a shell would), for backend detection.
pub fn find_in_path(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entering from a multi-threaded process is refused (a user namespace could not be
    /// entered, and threads started earlier would stay in the host's namespace).
    #[test]
    fn entering_with_threads_running_is_refused() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let _ = rx.recv();
        });
        let err = enter_controller_namespace().unwrap_err();
        assert!(
            matches!(err, Error::NotSingleThreaded { threads } if threads >= 2),
            "{err}"
        );
        assert!(err.to_string().contains("before tokio"), "{err}");
        assert!(!controller_namespace_entered());
        drop(tx);
        t.join().unwrap();
    }

    #[test]
    fn path_lookup_finds_executables_only() {
        assert!(find_in_path("sh").is_some());
        assert!(find_in_path("no-such-program-gauntlet").is_none());
    }
}
