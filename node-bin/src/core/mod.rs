//! The sans-IO core: state machines that take messages, ticks and client commands and return
//! messages, replies and log records. No sockets, no clocks, no thread RNG in here.
//!
//! - [`message`]: ids, ballots, register values, peer messages
//! - [`paxos`]: CASPaxos acceptor and proposer (`paxos/tests.rs`: safety on a lossy network)
//! - [`locks`] / [`tasks`]: what each register operation decides
//! - [`membership`] / [`suspicion`]: SWIM (`membership/tests.rs`: detection, refutation, rejoin)
//! - [`wal`]: acceptor log records, framing, replay
//! - [`node`]: everything wired together behind `step(now, input, &mut out)`; `impl Node` is
//!   split over `node/{mod,client,kv_client,failover}.rs`, its simulation tests in `node/tests.rs`
//! - [`taskread`]: the quorum read of every task register (`GET /tasks`)
//! - [`kv`] / [`decision`]: KV register operations; what a decision writes and answers

pub mod decision;
pub mod kv;
pub mod locks;
pub mod membership;
pub mod message;
pub mod node;
pub mod paxos;
pub mod suspicion;
pub mod taskread;
pub mod tasks;
pub mod wal;
