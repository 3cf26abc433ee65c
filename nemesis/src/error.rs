//! The one error type of the crate. Every variant names what failed and where, so the
//! harness can show it to a user without more context.

use std::path::PathBuf;

use crate::fault::NodeId;

/// Shorthand used across the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong in the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel or the privileges do not allow the namespaces the sandbox needs.
    #[error("network namespaces unavailable: {what}: {source}. {hint}")]
    NamespaceUnavailable {
        /// The step that failed (e.g. "unshare(CLONE_NEWUSER)").
        what: String,
        /// The errno the kernel returned.
        source: nix::errno::Errno,
        /// What the user can do about it.
        hint: String,
    },

    /// `Sandbox::up` in namespace mode was called by a process that did not first call
    /// [`crate::enter_controller_namespace`]; going on would change the host's network.
    #[error(
        "refusing to touch the host network: call nemesis::enter_controller_namespace() \
         at the start of main (before any thread) before Sandbox::up, or use loopback mode"
    )]
    NotInControllerNamespace,

    /// [`crate::enter_controller_namespace`] was called after threads were started.
    #[error(
        "enter_controller_namespace must be called while the process has one thread \
         (it has {threads}); call it first thing in main, before tokio or any thread starts"
    )]
    NotSingleThreaded {
        /// How many threads the process had.
        threads: usize,
    },

    /// The sandbox was taken down; its nodes and namespaces are gone.
    #[error("the sandbox is down")]
    Down,

    /// Only one sandbox can be up per controller process at a time (they share a subnet).
    #[error("a sandbox is already up in this process; take it down first")]
    AlreadyUp,

    /// The configuration is unusable.
    #[error("bad sandbox configuration: {0}")]
    Config(String),

    /// A node id the sandbox does not know.
    #[error("unknown node {0}")]
    UnknownNode(NodeId),

    /// The node has never been spawned, so there is nothing to restart or signal.
    #[error("node {0} has no process (spawn it first)")]
    NotSpawned(NodeId),

    /// The node's process is not running (it exited or was killed).
    #[error("node {node} is not running{}", exit.as_ref().map(|e| format!(" ({e})")).unwrap_or_default())]
    NotRunning {
        /// The node.
        node: NodeId,
        /// How it ended, when known.
        exit: Option<String>,
    },

    /// The operation needs namespaces, but the sandbox runs in loopback mode.
    #[error("{what} is not supported in loopback mode (it needs network namespaces)")]
    Unsupported {
        /// The operation.
        what: String,
    },

    /// The chosen partition backend cannot work here.
    #[error("partition backend {backend} unavailable: {detail}")]
    BackendUnavailable {
        /// The backend name.
        backend: String,
        /// Why.
        detail: String,
    },

    /// A helper command (`ip`, `iptables-restore`) failed.
    #[error("command `{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, for the user to rerun.
        command: String,
        /// Its exit status or the spawn error.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },

    /// A fault names a node the sandbox lacks, or a value out of range.
    #[error("bad fault `{kind}`: field `{field}`: {detail}")]
    BadFault {
        /// The fault's kind (`loss`, `clock-bump`, ...).
        kind: &'static str,
        /// The field that is wrong.
        field: &'static str,
        /// What is wrong with it.
        detail: String,
    },

    /// The kernel has no `sch_netem`, so delay, duplication and reordering cannot be applied.
    #[error(
        "fault `{kind}` needs the netem queueing discipline, which this kernel lacks ({detail}); \
         delay, duplication and reordering are unavailable here"
    )]
    NetemUnavailable {
        /// The fault's kind.
        kind: &'static str,
        /// What `tc` said when the sandbox tried netem in a scratch namespace.
        detail: String,
    },

    /// Clock faults need Debian's libfaketime, and it is not installed.
    #[error("clock faults need libfaketime: {detail} (install it: apt-get install libfaketime)")]
    ClockUnavailable {
        /// Where it was looked for.
        detail: String,
    },

    /// Clock faults were applied to a sandbox that was not configured for them (its nodes
    /// run without the preload).
    #[error(
        "fault `{kind}` needs a sandbox built with SandboxConfig::clock_faults = true \
         (its nodes were started without libfaketime)"
    )]
    ClockFaultsDisabled {
        /// The fault's kind.
        kind: &'static str,
    },

    /// Two faults that cannot hold at once on one node (a slow link and netem both want
    /// the root queueing discipline of `eth0`).
    #[error("fault `{kind}` conflicts on node {node}: {detail}")]
    Conflict {
        /// The fault's kind.
        kind: &'static str,
        /// The node.
        node: NodeId,
        /// What is in the way.
        detail: String,
    },

    /// A fault was applied but the check afterwards found it did not take effect.
    #[error("fault did not take effect: {0}")]
    NotVerified(String),

    /// An IO error with what the sandbox was doing.
    #[error("{what}: {source}")]
    Io {
        /// What the sandbox was doing.
        what: String,
        /// The error.
        source: std::io::Error,
    },

    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// The call and its argument.
        what: String,
        /// The errno.
        source: nix::errno::Errno,
    },

    /// Spawning a node's program failed.
    #[error("cannot start node {node} ({program}): {source}")]
    Spawn {
        /// The node.
        node: NodeId,
        /// The program path.
        program: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl Error {
    /// An [`Error::Io`] with a description of what was being done.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// An [`Error::Sys`] with a description of the call.
    pub(crate) fn sys(what: impl Into<String>, source: nix::errno::Errno) -> Self {
        Error::Sys {
            what: what.into(),
            source,
        }
    }
}
