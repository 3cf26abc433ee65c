//! The tokio shell around the core: UDP to peers, HTTP for clients, the fsync'd log on the
//! core's own thread, SIGTERM handling.
//!
//! - [`config`]: flags and their validation
//! - [`clock`]: the clock the core measures time with (monotonic, or the wall clock under the
//!   planted bug `lease-by-wall-clock`), and `GET /time`
//! - [`storage`]: the data dir (acceptor log, boot generation)
//! - [`driver`]: the core thread with group commit
//! - [`net`]: peer datagrams
//! - [`http`]: the client API (`http/mod.rs`; the KV endpoints in `http/kv.rs`)
//! - [`bulk`] / [`taskview`]: a low-priority thread for encoding large task lists; the durable
//!   task view that quorum reads use without the core thread

pub mod bulk;
pub mod clock;
pub mod config;
pub mod driver;
pub mod http;
pub mod net;
pub mod storage;
pub mod taskview;

use crate::core::node::{Config, Node};
use anyhow::Context;
use config::NodeConfig;
use driver::DriverMsg;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

/// Runs a node until SIGTERM or SIGINT.
pub fn run(cfg: NodeConfig) -> anyhow::Result<()> {
    clock::process_start();
    let start = clock::CoreClock::start(cfg.wall_clock_leases);
    let dir = &cfg.data_dir;
    let gen =
        storage::next_generation(dir).with_context(|| format!("data dir {}", dir.display()))?;
    let (log, records) =
        storage::Log::open(dir).with_context(|| format!("data dir {}", dir.display()))?;
    tracing::info!(id = %cfg.id, gen, slots = records.len(), log_records = log.records(), "replayed the acceptor log");
    let seed = crate::core::node::node_seed(cfg.seed, &cfg.id, gen);
    let core_cfg = Config {
        id: cfg.id.clone(),
        members: cfg.peers.keys().cloned().collect(),
        gen,
        seed,
        bugs: cfg.bugs.clone(),
        timing: cfg.timing.clone(),
    };
    if cfg.bugs != Default::default() {
        tracing::warn!(bugs = ?cfg.bugs, "PLANTED BUGS ARE ON");
    }
    if cfg.wall_clock_leases {
        tracing::warn!(
            "PLANTED BUG IS ON: lease-by-wall-clock (the core measures time with the wall clock)"
        );
    }
    let tasks = Arc::new(taskview::TaskView::default());
    tasks.apply(&records);
    let node = Node::new(core_cfg, records, start.elapsed());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(serve(cfg, node, log, tasks, start))
}

async fn serve(
    cfg: NodeConfig,
    node: Node,
    log: storage::Log,
    tasks: Arc<taskview::TaskView>,
    start: clock::CoreClock,
) -> anyhow::Result<()> {
    let tcp = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("bind TCP {}", cfg.listen))?;
    let (core_tx, core_rx) = std::sync::mpsc::channel::<DriverMsg>();
    let (net_tx, net_rx) = tokio::sync::mpsc::unbounded_channel();
    let (fetch_tx, fetch_rx) = tokio::sync::mpsc::unbounded_channel();
    let tick = cfg.tick;
    let loopback = core_tx.clone();
    let view = tasks.clone();
    let io = driver::Io {
        net: net_tx,
        fetch: fetch_tx,
    };
    let core = std::thread::Builder::new()
        .name("core".into())
        .spawn(move || driver::run(node, log, view, core_rx, loopback, io, start, tick))
        .context("spawn the core thread")?;
    // Peer traffic gets its own thread and runtime, so that heavy HTTP work (a quorum read of
    // many tasks) can never delay probe acks into false suspicions.
    let (bound_tx, bound_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
    let (listen, me, peers, to_core) = (
        cfg.listen,
        cfg.id.clone(),
        cfg.peers.clone(),
        core_tx.clone(),
    );
    std::thread::Builder::new()
        .name("net".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("net")
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = bound_tx.send(Err(e));
                    return;
                }
            };
            rt.block_on(async move {
                let udp = match net::bind(listen) {
                    Ok(u) => Arc::new(u),
                    Err(e) => {
                        let _ = bound_tx.send(Err(e));
                        return;
                    }
                };
                let _ = bound_tx.send(Ok(()));
                tokio::spawn(net::recv_loop(
                    udp.clone(),
                    me.clone(),
                    peers.clone(),
                    to_core,
                ));
                net::send_loop(udp, me, peers, net_rx).await;
            });
        })
        .context("spawn the net thread")?;
    bound_rx
        .recv()
        .context("the net thread died")?
        .with_context(|| format!("bind UDP {}", cfg.listen))?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_millis(500))
        .build()
        .context("http client")?;
    let api = http::Api {
        id: cfg.id.clone(),
        peers: Arc::new(cfg.peers.clone()),
        core: core_tx.clone(),
        tasks,
        http,
        wait: cfg.timing.op_timeout + Duration::from_secs(2),
        read_wait: cfg.timing.read_timeout + Duration::from_secs(2),
    };
    tokio::spawn(http::fetch_loop(api.clone(), fetch_rx));
    let app = http::router(api);
    tracing::info!(id = %cfg.id, listen = %cfg.listen, members = cfg.peers.len(), "node up");
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    };
    tokio::select! {
        r = axum::serve(tcp, app) => r.context("http server")?,
        _ = shutdown => {}
    }
    let _ = core_tx.send(DriverMsg::Stop);
    let _ = tokio::task::spawn_blocking(move || core.join()).await;
    Ok(())
}
