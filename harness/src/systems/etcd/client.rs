//! etcd's v3 HTTP/JSON gateway (`POST /v3/...`, keys and values base64, 64-bit integers as
//! strings), with the workspace's HTTP client: requests out, [`Reply`] back.
//!
//! How a response becomes ok / fail / info:
//! - 200: ok (a keep-alive's stream line `{"result": ...}` without a TTL is the lease gone:
//!   fail).
//! - An error body `{"error", "code"}`: fail when the gRPC code says the request was refused
//!   whole (invalid argument, not found, permission denied, failed precondition, out of
//!   range, unauthenticated) or the lease is not found; info otherwise (a timeout, a leader
//!   change, unavailable: the request may have reached the leader and been applied).
//! - Connection refused or the connect timed out: fail (nothing was sent).
//! - A timeout after the request went out, a reset, an unreadable body: info.
//! - Reads (range) change nothing, so every error of a read is a fail.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use nemesis::NodeId;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cluster::{BoxFuture, Reply};
use crate::workloads::locks::{LeaseLocksClient, LEASE_GONE};
use crate::workloads::register::RegisterClient;

/// gRPC codes that mean the request was refused as a whole (it changed nothing).
const DEFINITE_CODES: [u64; 6] = [3, 5, 7, 9, 11, 16];

/// One HTTP client for every member; reqwest pools connections per member.
#[derive(Debug, Clone)]
pub struct EtcdClient {
    http: reqwest::Client,
    addrs: BTreeMap<NodeId, SocketAddr>,
}

impl EtcdClient {
    /// A client whose every request ends within `timeout`.
    pub fn new(addrs: BTreeMap<NodeId, SocketAddr>, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(1)))
            .no_proxy()
            .build()?;
        Ok(EtcdClient { http, addrs })
    }

    /// `POST /v3/{path}` with a JSON body, classified.
    pub async fn post(&self, node: &NodeId, path: &str, body: Value) -> Reply<Value> {
        let Some(addr) = self.addrs.get(node) else {
            return Reply::Fail(format!("unknown node {node}"));
        };
        let req = self
            .http
            .post(format!("http://{addr}/v3/{path}"))
            .json(&body);
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Reply::Fail(format!("connect: {}", chain(&e))),
            Err(e) if e.is_timeout() => return Reply::Info("timeout".into()),
            Err(e) => return Reply::Info(chain(&e)),
        };
        let status = resp.status();
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) if e.is_timeout() => return Reply::Info("timeout reading the response".into()),
            Err(e) => return Reply::Info(format!("HTTP {status}, unreadable body: {}", chain(&e))),
        };
        // A streaming call (keep-alive) answers one JSON object per line; we send one
        // message, so the first line is the answer.
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        match serde_json::from_str::<Value>(first) {
            Ok(v) => classify(status, v),
            Err(e) => Reply::Info(format!(
                "HTTP {status}, body is not JSON ({e}): {first:.200}"
            )),
        }
    }

    /// A read: like [`EtcdClient::post`], but every error is a fail.
    async fn post_read(&self, node: &NodeId, path: &str, body: Value) -> Reply<Value> {
        match self.post(node, path, body).await {
            Reply::Info(e) => Reply::Fail(e),
            r => r,
        }
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

/// Maps a status and a JSON body (or a stream's first line) to a reply.
fn classify(status: StatusCode, body: Value) -> Reply<Value> {
    let err = body.get("error").filter(|e| !e.is_null());
    if status == StatusCode::OK && err.is_none() {
        return Reply::Ok(body.get("result").cloned().unwrap_or(body));
    }
    // A stream's error line nests the gRPC status: {"error": {"grpc_code", "message"}}.
    let (msg, code) = match err {
        Some(Value::Object(o)) => (
            o.get("message").and_then(Value::as_str).unwrap_or(""),
            o.get("grpc_code").or(o.get("code")).and_then(Value::as_u64),
        ),
        Some(Value::String(s)) => (s.as_str(), body.get("code").and_then(Value::as_u64)),
        _ => ("", body.get("code").and_then(Value::as_u64)),
    };
    let text = format!(
        "HTTP {}: {}",
        status.as_u16(),
        if msg.is_empty() {
            body.to_string()
        } else {
            msg.to_string()
        }
    );
    let definite =
        code.is_some_and(|c| DEFINITE_CODES.contains(&c)) || msg.contains("lease not found");
    if definite {
        Reply::Fail(text)
    } else {
        Reply::Info(text)
    }
}

/// A 200 whose body cannot be read is `Info` ([`Reply::read_ok`]).
fn map<T>(r: Reply<Value>, f: impl FnOnce(Value) -> Result<T, String>) -> Reply<T> {
    r.read_ok(f)
}

/// A 64-bit integer field of a gateway response (the gateway writes them as strings and
/// leaves out zeros).
fn int_field(v: &Value, key: &str) -> Option<i64> {
    match v.get(key) {
        None => Some(0),
        Some(Value::String(s)) => s.parse().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    }
}

/// An unsigned 64-bit field (member ids use the whole range).
fn uint_field(v: &Value, key: &str) -> Option<u64> {
    match v.get(key) {
        None => Some(0),
        Some(Value::String(s)) => s.parse().ok(),
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (what the gateway takes for bytes).
pub fn b64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` when it is not base64.
pub fn unb64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A register's stored value: its decimal text.
fn decode_value(kv: &Value) -> Result<u64, String> {
    let raw = kv.get("value").and_then(Value::as_str).unwrap_or("");
    let bytes = unb64(raw).ok_or_else(|| format!("value {raw:?} is not base64"))?;
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| format!("value {bytes:?} is not an integer"))
}

impl RegisterClient for EtcdClient {
    fn read<'a>(&'a self, node: &'a NodeId, key: &'a str) -> BoxFuture<'a, Reply<Option<u64>>> {
        Box::pin(async move {
            // Linearizable: `serializable` is left false.
            let r = self
                .post_read(node, "kv/range", json!({"key": b64(key.as_bytes())}))
                .await;
            match map(r, |v| match v.get("kvs").and_then(Value::as_array) {
                None => Ok(None),
                Some(kvs) if kvs.is_empty() => Ok(None),
                Some(kvs) => decode_value(&kvs[0]).map(Some),
            }) {
                // A read changes nothing: one we cannot read is a fail too.
                Reply::Info(e) => Reply::Fail(e),
                r => r,
            }
        })
    }

    fn write<'a>(&'a self, node: &'a NodeId, key: &'a str, value: u64) -> BoxFuture<'a, Reply<()>> {
        Box::pin(async move {
            let body =
                json!({"key": b64(key.as_bytes()), "value": b64(value.to_string().as_bytes())});
            map(self.post(node, "kv/put", body).await, |_| Ok(()))
        })
    }

    fn cas<'a>(
        &'a self,
        node: &'a NodeId,
        key: &'a str,
        from: u64,
        to: u64,
    ) -> BoxFuture<'a, Reply<bool>> {
        Box::pin(async move {
            let k = b64(key.as_bytes());
            let body = json!({
                "compare": [{"key": k, "target": "VALUE", "result": "EQUAL",
                             "value": b64(from.to_string().as_bytes())}],
                "success": [{"request_put": {"key": k, "value": b64(to.to_string().as_bytes())}}],
            });
            let r = self.post(node, "kv/txn", body).await;
            // The gateway leaves `succeeded` out when it is false.
            map(r, |v| {
                Ok(v.get("succeeded").and_then(Value::as_bool).unwrap_or(false))
            })
        })
    }
}

impl LeaseLocksClient for EtcdClient {
    fn grant<'a>(&'a self, node: &'a NodeId, ttl_ms: u64) -> BoxFuture<'a, Reply<i64>> {
        Box::pin(async move {
            // etcd's TTLs are whole seconds: round up (the lease lasts at least ttl_ms, which
            // is all the checker assumes).
            let ttl_s = ttl_ms.div_ceil(1000).max(1);
            let r = self
                .post(node, "lease/grant", json!({"TTL": ttl_s.to_string()}))
                .await;
            map(r, |v| match int_field(&v, "ID") {
                Some(id) if id != 0 => Ok(id),
                _ => Err(format!("lease grant: no ID in {v}")),
            })
        })
    }

    fn keepalive<'a>(&'a self, node: &'a NodeId, lease: i64) -> BoxFuture<'a, Reply<i64>> {
        Box::pin(async move {
            let r = self
                .post(node, "lease/keepalive", json!({"ID": lease.to_string()}))
                .await;
            match map(r, |v| {
                int_field(&v, "TTL").ok_or_else(|| format!("keep-alive: bad TTL in {v}"))
            }) {
                Reply::Ok(ttl) if ttl <= 0 => Reply::Fail(LEASE_GONE.into()),
                r => r,
            }
        })
    }

    fn lock<'a>(
        &'a self,
        node: &'a NodeId,
        lock: &'a str,
        lease: i64,
    ) -> BoxFuture<'a, Reply<(u64, String)>> {
        Box::pin(async move {
            let body = json!({"name": b64(lock.as_bytes()), "lease": lease.to_string()});
            // The fencing token: the revision of the response's header. The lock key was
            // created at or before it, and a later acquirer's key (created after its invoke)
            // at a later revision, so tokens grow as the locks checker wants. The ok stands
            // as the member sent it: that is what the client believes, even when the lease
            // ran out while the member was paused (Jepsen's finding; no second read that
            // would hide it).
            let r = self.post(node, "lock/lock", body).await;
            map(r, |v| {
                let key = v.get("key").and_then(Value::as_str);
                let rev = v.get("header").and_then(|h| int_field(h, "revision"));
                match (key, rev) {
                    (Some(k), Some(rev)) if rev > 0 => Ok((rev as u64, k.to_string())),
                    _ => Err(format!("lock: no key or header revision in {v}")),
                }
            })
        })
    }

    fn unlock<'a>(&'a self, node: &'a NodeId, key: &'a str) -> BoxFuture<'a, Reply<()>> {
        Box::pin(async move {
            map(
                self.post(node, "lock/unlock", json!({ "key": key })).await,
                |_| Ok(()),
            )
        })
    }

    fn revoke<'a>(&'a self, node: &'a NodeId, lease: i64) -> BoxFuture<'a, Reply<()>> {
        Box::pin(async move {
            let r = self
                .post(node, "lease/revoke", json!({"ID": lease.to_string()}))
                .await;
            map(r, |_| Ok(()))
        })
    }
}

/// The member's status: `Ok` when it answers and knows a leader.
pub async fn leader_of(probe: &EtcdClient, node: &NodeId) -> Result<(), String> {
    match probe.post(node, "maintenance/status", json!({})).await {
        Reply::Ok(v) => match uint_field(&v, "leader") {
            Some(l) if l != 0 => Ok(()),
            _ => Err(format!("{node} knows no leader yet")),
        },
        Reply::Fail(e) | Reply::Info(e) => Err(format!("{node}: status: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_use_all_64_bits() {
        let v = json!({"leader": "11721756683260819100", "TTL": "2"});
        assert_eq!(uint_field(&v, "leader"), Some(11_721_756_683_260_819_100));
        assert_eq!(uint_field(&json!({}), "leader"), Some(0));
        assert_eq!(int_field(&v, "TTL"), Some(2));
    }

    #[test]
    fn base64_round_trips_and_matches_known_encodings() {
        for (raw, enc) in [
            ("", ""),
            ("l", "bA=="),
            ("l0", "bDA="),
            ("k12", "azEy"),
            ("42", "NDI="),
        ] {
            assert_eq!(b64(raw.as_bytes()), enc);
            assert_eq!(unb64(enc).unwrap(), raw.as_bytes());
        }
        assert_eq!(unb64("bDA"), Some(b"l0".to_vec()));
        assert_eq!(unb64("b!A="), None);
    }

    #[test]
    fn errors_map_to_fail_or_info_by_grpc_code() {
        let c = |s: u16, b: Value| classify(StatusCode::from_u16(s).unwrap(), b);
        assert_eq!(c(200, json!({"kvs": []})), Reply::Ok(json!({"kvs": []})));
        assert_eq!(
            c(200, json!({"result": {"TTL": "2"}})),
            Reply::Ok(json!({"TTL": "2"}))
        );
        let lease = json!({"error": "etcdserver: requested lease not found", "code": 2});
        assert!(matches!(c(500, lease), Reply::Fail(_)));
        let timeout = json!({"error": "etcdserver: request timed out", "code": 14});
        assert!(matches!(c(503, timeout), Reply::Info(_)));
        let invalid = json!({"error": "etcdserver: key is not provided", "code": 3});
        assert!(matches!(c(400, invalid), Reply::Fail(_)));
        let stream = json!({"error": {"grpc_code": 14, "message": "unavailable"}});
        assert!(matches!(c(200, stream), Reply::Info(_)));
        assert!(matches!(c(502, json!({})), Reply::Info(_)));
    }

    #[tokio::test]
    async fn refused_connection_is_a_definite_fail() {
        // A port nothing listens on (bound then dropped): the connect is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let n = NodeId("n1".into());
        let c = EtcdClient::new([(n.clone(), port)].into(), Duration::from_millis(500)).unwrap();
        assert!(matches!(c.write(&n, "k", 1).await, Reply::Fail(_)));
        assert!(matches!(c.grant(&n, 2000).await, Reply::Fail(_)));
    }
}
