//! The register workload's client of `gauntlet-node`: `GET /kv/{key}`, `PUT /kv/{key}`,
//! `POST /kv/{key}/cas` (docs/node-api.md), with the same ok/fail/info rules as the others.

use super::*;
use crate::workloads::register::RegisterClient;

impl RegisterClient for NodeClient {
    fn read<'a>(&'a self, node: &'a NodeId, key: &'a str) -> BoxFuture<'a, Reply<Option<u64>>> {
        Box::pin(async move {
            let r = self
                .call(node, Method::GET, &format!("/kv/{key}"), None)
                .await;
            map(r, |v| match v.get("value") {
                Some(Value::Null) => Ok(None),
                Some(x) if x.is_u64() => Ok(x.as_u64()),
                _ => Err(format!("read {key}: no integer or null \"value\" in {v}")),
            })
        })
    }

    fn write<'a>(&'a self, node: &'a NodeId, key: &'a str, value: u64) -> BoxFuture<'a, Reply<()>> {
        Box::pin(async move {
            let body = json!({ "value": value });
            let r = self
                .call(node, Method::PUT, &format!("/kv/{key}"), Some(body))
                .await;
            map(r, |_| Ok(()))
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
            let body = json!({"from": from, "to": to});
            let r = self
                .call(node, Method::POST, &format!("/kv/{key}/cas"), Some(body))
                .await;
            map(r, |v| {
                v.get("swapped")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| format!("cas {key}: no \"swapped\" in {v}"))
            })
        })
    }
}
