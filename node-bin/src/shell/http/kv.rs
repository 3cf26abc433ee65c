//! The KV endpoints (docs/node-api.md): `GET /kv/{key}`, `PUT /kv/{key}`, `POST /kv/{key}/cas`.

use super::*;
use crate::core::kv::{KvOp, KvOutcome};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WriteBody {
    value: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CasBody {
    from: Value,
    to: Value,
}

async fn call(api: &Api, key: &str, op: KvOp) -> Result<KvOutcome, Response> {
    let cmd = ClientCmd::Kv {
        key: key.to_string(),
        op,
    };
    match api.call(cmd).await {
        ClientResp::Kv(o) => Ok(o),
        other => Err(unexpected(other)),
    }
}

fn mismatch(o: KvOutcome) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("unexpected outcome {o:?}"),
        false,
    )
}

/// `GET /kv/{key}` -> `{"key", "value"}` (`null` when absent), from a quorum round.
pub(super) async fn read(State(api): State<Api>, Path(key): Path<String>) -> Response {
    match call(&api, &key, KvOp::Read).await {
        Ok(KvOutcome::Read(v)) => Json(json!({"key": key, "value": v})).into_response(),
        Ok(o) => mismatch(o),
        Err(r) => r,
    }
}

/// `PUT /kv/{key}` `{"value": V}` -> `{"key", "value"}` once a majority accepted it.
pub(super) async fn write(
    State(api): State<Api>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let b: WriteBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let op = KvOp::Write {
        value: b.value.clone(),
    };
    match call(&api, &key, op).await {
        Ok(KvOutcome::Written) => Json(json!({"key": key, "value": b.value})).into_response(),
        Ok(o) => mismatch(o),
        Err(r) => r,
    }
}

/// `POST /kv/{key}/cas` `{"from": A, "to": B}` -> `{"key", "swapped": bool}`.
pub(super) async fn cas(State(api): State<Api>, Path(key): Path<String>, body: Bytes) -> Response {
    let b: CasBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let op = KvOp::Cas {
        from: b.from,
        to: b.to,
    };
    match call(&api, &key, op).await {
        Ok(KvOutcome::Cas(swapped)) => {
            Json(json!({"key": key, "swapped": swapped})).into_response()
        }
        Ok(o) => mismatch(o),
        Err(r) => r,
    }
}
