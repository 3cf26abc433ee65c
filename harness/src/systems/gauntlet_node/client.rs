//! The HTTP client of `gauntlet-node` (docs/node-api.md): requests out, [`Reply`] back.
//!
//! How a response becomes ok / fail / info:
//! - 200: ok.
//! - An error body `{"error", "definite"}`: fail when `definite` is true, info otherwise. A
//!   body without `definite` counts as definite for 400 and 409 and indefinite otherwise.
//! - Connection refused or the connect timed out: fail (nothing was sent).
//! - A timeout after the request went out, a reset, an unreadable body: info.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use nemesis::NodeId;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::cluster::{BoxFuture, Reply};
use crate::workloads::locks::LocksClient;
use crate::workloads::tasks::TasksClient;

/// One HTTP client for every node; reqwest pools connections per node.
#[derive(Debug, Clone)]
pub struct NodeClient {
    http: reqwest::Client,
    addrs: BTreeMap<NodeId, SocketAddr>,
}

impl NodeClient {
    /// A client whose every request ends within `timeout`.
    pub fn new(addrs: BTreeMap<NodeId, SocketAddr>, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(1)))
            .no_proxy()
            .build()?;
        Ok(NodeClient { http, addrs })
    }

    /// Sends one request and classifies the outcome.
    pub async fn call(
        &self,
        node: &NodeId,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply<Value> {
        let Some(addr) = self.addrs.get(node) else {
            return Reply::Fail(format!("unknown node {node}"));
        };
        let mut req = self.http.request(method, format!("http://{addr}{path}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Reply::Fail(format!("connect: {}", chain(&e))),
            Err(e) if e.is_timeout() => return Reply::Info("timeout".into()),
            Err(e) => return Reply::Info(chain(&e)),
        };
        let status = resp.status();
        let body: Value = match resp.json().await {
            Ok(v) => v,
            Err(e) if e.is_timeout() => return Reply::Info("timeout reading the response".into()),
            Err(e) => return Reply::Info(format!("HTTP {status}, unreadable body: {}", chain(&e))),
        };
        classify(status, body)
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// Maps a status and a JSON body to a reply.
fn classify(status: StatusCode, body: Value) -> Reply<Value> {
    if status == StatusCode::OK {
        return Reply::Ok(body);
    }
    let msg = body
        .get("error")
        .and_then(Value::as_str)
        .map(|m| format!("HTTP {}: {m}", status.as_u16()))
        .unwrap_or_else(|| format!("HTTP {}: {body}", status.as_u16()));
    let definite = body
        .get("definite")
        .and_then(Value::as_bool)
        .unwrap_or(matches!(status.as_u16(), 400 | 409));
    if definite {
        Reply::Fail(msg)
    } else {
        Reply::Info(msg)
    }
}

/// A 200 whose body cannot be read is `Info` ([`Reply::read_ok`]).
fn map<T>(r: Reply<Value>, f: impl FnOnce(Value) -> Result<T, String>) -> Reply<T> {
    r.read_ok(f)
}

impl TasksClient for NodeClient {
    fn submit<'a>(
        &'a self,
        node: &'a NodeId,
        task: &'a str,
        work_ms: u64,
    ) -> BoxFuture<'a, Reply<()>> {
        Box::pin(async move {
            let body = json!({"id": task, "work_ms": work_ms});
            let r = self.call(node, Method::POST, "/tasks", Some(body)).await;
            map(r, |_| Ok(()))
        })
    }

    fn read_tasks<'a>(&'a self, node: &'a NodeId) -> BoxFuture<'a, Reply<Value>> {
        Box::pin(async move {
            let r = self.call(node, Method::GET, "/tasks", None).await;
            map(r, |v| match v.get("tasks") {
                Some(t) if t.is_object() => Ok(t.clone()),
                _ => Err(format!("GET /tasks: no \"tasks\" object in {v}")),
            })
        })
    }
}

impl LocksClient for NodeClient {
    fn acquire<'a>(
        &'a self,
        node: &'a NodeId,
        lock: &'a str,
        client: &'a str,
        ttl_ms: u64,
    ) -> BoxFuture<'a, Reply<u64>> {
        Box::pin(async move {
            let body = json!({"client": client, "ttl_ms": ttl_ms});
            let path = format!("/locks/{lock}/acquire");
            let r = self.call(node, Method::POST, &path, Some(body)).await;
            map(r, |v| {
                v.get("token")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| format!("acquire: no token in {v}"))
            })
        })
    }

    fn release<'a>(
        &'a self,
        node: &'a NodeId,
        lock: &'a str,
        client: &'a str,
        token: u64,
    ) -> BoxFuture<'a, Reply<()>> {
        Box::pin(async move {
            let body = json!({"client": client, "token": token});
            let path = format!("/locks/{lock}/release");
            let r = self.call(node, Method::POST, &path, Some(body)).await;
            map(r, |_| Ok(()))
        })
    }
}

mod register;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_fail_or_info_by_definiteness() {
        let c = |s: u16, b: Value| classify(StatusCode::from_u16(s).unwrap(), b);
        assert_eq!(c(200, json!({"id": "t"})), Reply::Ok(json!({"id": "t"})));
        assert!(matches!(
            c(409, json!({"error": "held", "definite": true})),
            Reply::Fail(_)
        ));
        assert!(matches!(
            c(503, json!({"error": "no quorum", "definite": true})),
            Reply::Fail(_)
        ));
        assert!(matches!(
            c(503, json!({"error": "maybe", "definite": false})),
            Reply::Info(_)
        ));
        assert!(matches!(
            c(504, json!({"error": "timed out"})),
            Reply::Info(_)
        ));
        assert!(matches!(c(400, json!({})), Reply::Fail(_)));
        assert!(matches!(c(500, json!({})), Reply::Info(_)));
    }

    #[tokio::test]
    async fn refused_connection_is_a_definite_fail() {
        // A port nothing listens on (bound then dropped): the connect is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let n = NodeId("n1".into());
        let c = NodeClient::new([(n.clone(), port)].into(), Duration::from_millis(500)).unwrap();
        assert!(matches!(c.submit(&n, "t", 1).await, Reply::Fail(_)));
    }
}
