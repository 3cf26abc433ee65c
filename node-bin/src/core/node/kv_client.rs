//! KV client requests (read, write, cas): validation, the quorum path, and the planted bug
//! `stale-read`.

use super::*;

/// Longest key accepted.
const MAX_KEY: usize = 200;

/// Rejects a malformed KV command before anything happens.
pub(super) fn validate(key: &str, op: &KvOp) -> Result<(), String> {
    if key.is_empty() {
        return Err("key must not be empty".into());
    }
    if key.len() > MAX_KEY {
        return Err(format!("key is longer than {MAX_KEY} bytes"));
    }
    if key.chars().any(char::is_control) {
        return Err("key contains control characters".into());
    }
    match op {
        KvOp::Read => Ok(()),
        KvOp::Write { value } => kv::check_value("value", value),
        KvOp::Cas { from, to } => {
            kv::check_value("from", from)?;
            kv::check_value("to", to)
        }
    }
}

impl Node {
    pub(super) fn on_kv(
        &mut self,
        now: Duration,
        req: u64,
        key: String,
        op: KvOp,
        msgs: &mut Vec<(NodeId, PeerMsg)>,
        out: &mut Vec<Output>,
    ) {
        let key = kv::kv_key(&key);
        if self.cfg.bugs.stale_read && op == KvOp::Read {
            // Planted bug: answer from this acceptor's copy, which a partition or a lost
            // accept leaves behind the value a majority chose.
            let value = kv::current_value(self.acceptor.value(&key));
            let resp = ClientResp::Kv(KvOutcome::Read(value));
            out.push(Output::Reply { req, resp });
            return;
        }
        let deadline = now + self.cfg.timing.op_timeout;
        let origin = Origin::Client(req);
        self.start(now, origin, key, RegOp::Kv(op), None, deadline, msgs);
    }
}
