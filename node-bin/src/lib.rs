//! node-bin: `gauntlet-node`, the leaderless cluster node under test.
//!
//! - [`core`]: the sans-IO state machines (CASPaxos registers, SWIM membership, locks, tasks,
//!   the acceptor log format), unit-tested without sockets or sleeps.
//! - [`shell`]: the tokio shell: UDP between peers, HTTP/JSON for clients, the fsync'd log.
//! - `testkit` (feature `testkit`, on for this crate's tests and benchmark only): a real
//!   loopback cluster of `gauntlet-node` processes, shared by `tests/` and `benches/`.
//!
//! The HTTP API is documented in `docs/node-api.md`; planted bugs in `docs/planted-bugs.md`.

pub mod core;
// node-bin/clippy.toml keeps clock reads and thread RNGs out of the core; the shell and the
// test kit are where real time lives.
#[allow(clippy::disallowed_methods)]
pub mod shell;
#[cfg(feature = "testkit")]
#[allow(clippy::disallowed_methods)]
pub mod testkit;
