//! The HTTP/JSON client API (docs/node-api.md) and the peer endpoint of the quorum read.
//!
//! - this file: the router, locks, tasks, members, health and the quorum read of tasks
//! - `kv`: the KV endpoints (`/kv/{key}`, `/kv/{key}/cas`)

mod kv;

use super::bulk;
use super::driver::{DriverMsg, Fetch};
use super::taskview::{Entry, TaskView};
use crate::core::message::NodeId;
use crate::core::node::{ClientCmd, ClientResp, ErrorKind};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Shared state of the HTTP handlers.
#[derive(Debug, Clone)]
pub struct Api {
    pub id: NodeId,
    pub peers: Arc<BTreeMap<NodeId, SocketAddr>>,
    pub core: Sender<DriverMsg>,
    /// Durable task registers of this node (for quorum reads without the core thread).
    pub tasks: Arc<TaskView>,
    pub http: reqwest::Client,
    /// How long a handler waits for the core (a little over the core's own deadline).
    pub wait: Duration,
    /// How long `GET /tasks` waits for the core's quorum read (a little over its deadline).
    pub read_wait: Duration,
}

/// Builds the router.
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/locks/:name/acquire", post(acquire))
        .route("/locks/:name/release", post(release))
        .route("/tasks", post(submit).get(all_tasks))
        .route("/tasks/:id", get(get_task))
        .route("/members", get(members))
        .route("/health", get(health))
        .route("/time", get(time))
        .route("/internal/tasks", get(snapshot))
        .route("/kv/:key", get(kv::read).put(kv::write))
        .route("/kv/:key/cas", post(kv::cas))
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        .with_state(api)
}

fn error(status: StatusCode, message: impl Into<String>, definite: bool) -> Response {
    let body = json!({"error": message.into(), "definite": definite});
    (status, Json(body)).into_response()
}

fn bad_request(message: String) -> Response {
    error(StatusCode::BAD_REQUEST, message, true)
}

async fn not_found(uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {uri}"),
        true,
    )
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let msg = format!("method {method} is not allowed on {uri}");
    error(StatusCode::METHOD_NOT_ALLOWED, msg, true)
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| Box::new(bad_request(format!("bad JSON body: {e}"))))
}

impl Api {
    /// Hands `cmd` to the core and waits for its reply.
    async fn call(&self, cmd: ClientCmd) -> ClientResp {
        self.call_within(cmd, self.wait).await
    }

    /// Hands `cmd` to the core and waits at most `wait` for its reply.
    async fn call_within(&self, cmd: ClientCmd, wait: Duration) -> ClientResp {
        let (tx, rx) = oneshot::channel();
        let sent = self.core.send(DriverMsg::Client { cmd, reply: tx }).is_ok();
        if !sent {
            return ClientResp::Error {
                kind: ErrorKind::Unavailable,
                message: "node is shutting down".into(),
                definite: true,
            };
        }
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(_)) => ClientResp::Error {
                kind: ErrorKind::Unavailable,
                message: "node stopped while handling the request".into(),
                definite: false,
            },
            Err(_) => ClientResp::Error {
                kind: ErrorKind::Timeout,
                message: "timed out waiting for the node".into(),
                definite: false,
            },
        }
    }
}

fn error_response(kind: ErrorKind, message: String, definite: bool) -> Response {
    let status = match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
    };
    error(status, message, definite)
}

fn unexpected(resp: ClientResp) -> Response {
    match resp {
        ClientResp::Error {
            kind,
            message,
            definite,
        } => error_response(kind, message, definite),
        other => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("unexpected reply {other:?}"),
            false,
        ),
    }
}

#[derive(Deserialize)]
struct AcquireBody {
    client: String,
    ttl_ms: u64,
}

async fn acquire(State(api): State<Api>, Path(name): Path<String>, body: Bytes) -> Response {
    let b: AcquireBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let cmd = ClientCmd::Acquire {
        lock: name.clone(),
        client: b.client,
        ttl_ms: b.ttl_ms,
    };
    match api.call(cmd).await {
        ClientResp::Granted { token } => {
            Json(json!({"lock": name, "token": token})).into_response()
        }
        other => unexpected(other),
    }
}

#[derive(Deserialize)]
struct ReleaseBody {
    client: String,
    token: u64,
}

async fn release(State(api): State<Api>, Path(name): Path<String>, body: Bytes) -> Response {
    let b: ReleaseBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let cmd = ClientCmd::Release {
        lock: name.clone(),
        client: b.client,
        token: b.token,
    };
    match api.call(cmd).await {
        ClientResp::Released => Json(json!({"lock": name, "released": true})).into_response(),
        other => unexpected(other),
    }
}

#[derive(Deserialize)]
struct SubmitBody {
    id: String,
    #[serde(default)]
    work_ms: u64,
}

async fn submit(State(api): State<Api>, body: Bytes) -> Response {
    let b: SubmitBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let cmd = ClientCmd::Submit {
        id: b.id.clone(),
        work_ms: b.work_ms,
    };
    match api.call(cmd).await {
        ClientResp::Submitted => Json(json!({"id": b.id})).into_response(),
        other => unexpected(other),
    }
}

async fn get_task(State(api): State<Api>, Path(id): Path<String>) -> Response {
    match api.call(ClientCmd::GetTask { id: id.clone() }).await {
        ClientResp::Task(Some(t)) => Json(json!({
            "id": id, "state": t.state.as_str(), "runs": t.runs,
            "owner": t.owner.map(|o| o.0),
        }))
        .into_response(),
        ClientResp::Task(None) => error(StatusCode::NOT_FOUND, format!("no task {id}"), true),
        other => unexpected(other),
    }
}

async fn members(State(api): State<Api>) -> Response {
    match api.call(ClientCmd::Members).await {
        ClientResp::Members(ms) => {
            let list: Vec<Value> = ms
                .into_iter()
                .map(|m| {
                    let addr = api.peers.get(&m.id).map(|a| a.to_string());
                    json!({"id": m.id.0, "addr": addr, "state": m.state.as_str(),
                           "incarnation": m.incarnation, "load": m.load})
                })
                .collect();
            Json(json!({"members": list})).into_response()
        }
        other => unexpected(other),
    }
}

async fn health(State(api): State<Api>) -> Response {
    Json(json!({"id": api.id.0, "ok": true})).into_response()
}

/// `GET /time`: this process's wall and monotonic clocks (docs/node-api.md), so the harness
/// can see what a clock fault did to the node.
async fn time(State(api): State<Api>) -> Response {
    let mut v = super::clock::now_json();
    v["id"] = json!(api.id.0);
    Json(v).into_response()
}

type Snap = Vec<Entry>;

/// Serializes a large body off the async workers.
async fn big_json(v: Value) -> Response {
    match bulk::run(move || serde_json::to_vec(&v)).await {
        Some(Ok(bytes)) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the response",
            true,
        ),
    }
}

async fn local_snapshot(api: &Api) -> Option<Snap> {
    let view = api.tasks.clone();
    bulk::run(move || view.snapshot()).await
}

/// `GET /internal/tasks`: this node's durable copy of every task register.
async fn snapshot(State(api): State<Api>) -> Response {
    let Some(snap) = local_snapshot(&api).await else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "snapshot failed", true);
    };
    big_json(json!({ "tasks": snap })).await
}

#[derive(Deserialize)]
struct SnapBody {
    tasks: Snap,
}

async fn fetch_peer(http: reqwest::Client, addr: SocketAddr) -> Option<Snap> {
    let url = format!("http://{addr}/internal/tasks");
    let resp = http
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let bytes = resp.bytes().await.ok()?;
    let parsed = bulk::run(move || serde_json::from_slice::<SnapBody>(&bytes));
    parsed.await?.ok().map(|b| b.tasks)
}

/// Carries out the core's fetches for its quorum reads ([`crate::core::node::Output::FetchTasks`]):
/// this node's own durable registers from the task view, a peer's over `GET /internal/tasks`,
/// each answer (or `None` when the peer could not answer) back to the core. Once the core has
/// answered a read, its fetches still running are aborted.
pub async fn fetch_loop(api: Api, mut rx: tokio::sync::mpsc::UnboundedReceiver<Fetch>) {
    let mut running: BTreeMap<u64, Vec<tokio::task::AbortHandle>> = BTreeMap::new();
    while let Some(f) = rx.recv().await {
        let (read, from) = match f {
            Fetch::Start { read, from } => (read, from),
            Fetch::Done { read } => {
                for h in running.remove(&read).unwrap_or_default() {
                    h.abort();
                }
                continue;
            }
        };
        let api = api.clone();
        let task = tokio::spawn(async move {
            let snapshot = if from == api.id {
                local_snapshot(&api).await
            } else {
                match api.peers.get(&from) {
                    Some(addr) => fetch_peer(api.http.clone(), *addr).await,
                    None => None,
                }
            };
            let _ = api.core.send(DriverMsg::Tasks {
                read,
                from,
                snapshot,
            });
        });
        running.entry(read).or_default().push(task.abort_handle());
    }
}

/// `GET /tasks`: the core's quorum read of every task register (`core::taskread`): a majority
/// of the configured cluster answers and the highest-ballot value of each task is kept, so
/// every acknowledged task appears.
async fn all_tasks(State(api): State<Api>) -> Response {
    let merged = match api.call_within(ClientCmd::ReadTasks, api.read_wait).await {
        ClientResp::Tasks(m) => m,
        other => return unexpected(other),
    };
    let body = bulk::run(move || {
        // Written directly: with tens of thousands of tasks a serde_json::Value tree is the
        // slowest part of the read.
        let mut out = String::with_capacity(merged.len() * 48 + 16);
        out.push_str("{\"tasks\":{");
        for (i, (id, (state, runs))) in merged.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let id = serde_json::to_string(id).unwrap_or_else(|_| "\"?\"".into());
            out.push_str(&format!(
                "{id}:{{\"state\":\"{}\",\"runs\":{runs}}}",
                state.as_str()
            ));
        }
        out.push_str("}}");
        Ok::<_, serde_json::Error>(out.into_bytes())
    });
    match body.await {
        Some(Ok(bytes)) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the task list",
            true,
        ),
    }
}
