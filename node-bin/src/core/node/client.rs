//! Client requests: validation, the normal quorum paths and the planted-bug shortcuts.

use super::*;

/// Longest lock name, client name or task id accepted.
const MAX_NAME: usize = 200;
/// Longest lease or task duration accepted (one hour).
const MAX_MS: u64 = 3_600_000;

fn check_name(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if s.len() > MAX_NAME {
        return Err(format!("{what} is longer than {MAX_NAME} bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err(format!("{what} contains control characters"));
    }
    Ok(())
}

fn check_ms(what: &str, v: u64, min: u64) -> Result<(), String> {
    if v < min || v > MAX_MS {
        return Err(format!(
            "{what} must be between {min} and {MAX_MS}, got {v}"
        ));
    }
    Ok(())
}

/// Rejects malformed commands before anything happens.
pub fn validate(cmd: &ClientCmd) -> Result<(), String> {
    match cmd {
        ClientCmd::Acquire {
            lock,
            client,
            ttl_ms,
        } => {
            check_name("lock name", lock)?;
            check_name("client", client)?;
            check_ms("ttl_ms", *ttl_ms, 1)
        }
        ClientCmd::Release { lock, client, .. } => {
            check_name("lock name", lock)?;
            check_name("client", client)
        }
        ClientCmd::Submit { id, work_ms } => {
            check_name("task id", id)?;
            check_ms("work_ms", *work_ms, 0)
        }
        ClientCmd::GetTask { id } => check_name("task id", id),
        ClientCmd::Members | ClientCmd::Snapshot | ClientCmd::ReadTasks => Ok(()),
        ClientCmd::Kv { key, op } => kv_client::validate(key, op),
    }
}

impl Node {
    pub(super) fn on_client(
        &mut self,
        now: Duration,
        req: u64,
        cmd: ClientCmd,
        out: &mut Vec<Output>,
    ) {
        if let Err(message) = validate(&cmd) {
            let resp = ClientResp::Error {
                kind: ErrorKind::BadRequest,
                message,
                definite: true,
            };
            out.push(Output::Reply { req, resp });
            return;
        }
        let mut msgs = Vec::new();
        let deadline = now + self.cfg.timing.op_timeout;
        let origin = Origin::Client(req);
        match cmd {
            ClientCmd::Acquire {
                lock,
                client,
                ttl_ms,
            } => self.lock_op(
                now,
                req,
                &lock,
                LockOp::Acquire { client, ttl_ms },
                deadline,
                &mut msgs,
                out,
            ),
            ClientCmd::Release {
                lock,
                client,
                token,
            } => self.lock_op(
                now,
                req,
                &lock,
                LockOp::Release { client, token },
                deadline,
                &mut msgs,
                out,
            ),
            ClientCmd::Submit { id, work_ms } => {
                // Planted bug `ack-before-flush`: a submit arriving while another submit's
                // replication round is in flight joins the next batch and is acknowledged now.
                let batched = self.cfg.bugs.ack_before_flush
                    && self
                        .pending
                        .values()
                        .any(|p| matches!(p.op, RegOp::Task(TaskOp::Submit { .. })));
                if self.cfg.bugs.ack_before_quorum || batched {
                    // Planted bugs: remember it in memory, acknowledge, replicate a second
                    // later (`ack-before-quorum`) or at the next flush (`ack-before-flush`).
                    let due = now
                        + if self.cfg.bugs.ack_before_quorum {
                            Duration::from_secs(1)
                        } else {
                            super::FLUSH_INTERVAL
                        };
                    self.unreplicated.entry(id).or_insert((work_ms, due));
                    out.push(Output::Reply {
                        req,
                        resp: ClientResp::Submitted,
                    });
                } else {
                    let op = RegOp::Task(TaskOp::Submit { work_ms });
                    let fast = Some(tasks::fresh_task(work_ms));
                    self.start(now, origin, task_key(&id), op, fast, deadline, &mut msgs);
                }
            }
            ClientCmd::GetTask { id } => {
                let op = RegOp::Task(TaskOp::Read);
                self.start(now, origin, task_key(&id), op, None, deadline, &mut msgs);
            }
            ClientCmd::Members => {
                let resp = ClientResp::Members(self.member_views());
                out.push(Output::Reply { req, resp });
            }
            ClientCmd::Snapshot => {
                let resp = ClientResp::Snapshot(self.task_snapshot());
                out.push(Output::Reply { req, resp });
            }
            ClientCmd::Kv { key, op } => self.on_kv(now, req, key, op, &mut msgs, out),
            ClientCmd::ReadTasks => self.start_read(now, req, out),
        }
        self.send_all(msgs, out);
    }

    fn member_views(&self) -> Vec<MemberView> {
        let mut v: Vec<MemberView> = self
            .membership
            .members()
            .iter()
            .map(|(id, m)| MemberView {
                id: id.clone(),
                state: m.state,
                incarnation: m.incarnation,
                load: m.load,
            })
            .collect();
        v.push(MemberView {
            id: self.cfg.id.clone(),
            state: Liveness::Alive,
            incarnation: self.membership.incarnation(),
            load: self.load(),
        });
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    fn task_snapshot(&self) -> Vec<(String, Ballot, TaskVal)> {
        self.acceptor
            .slots
            .range("t/".to_string()..)
            .take_while(|(k, _)| k.starts_with("t/"))
            .filter_map(|(k, s)| match &s.accepted {
                Some((b, Value::Task(t))) => Some((k[2..].to_string(), b.clone(), t.clone())),
                _ => None,
            })
            .collect()
    }

    /// An acquire or release: a compare-and-set of the lock's register agreed by a majority,
    /// or, with the planted bug `lock-without-quorum` (or `lonely-restart` on a restarted node
    /// that has heard from no peer), decided locally.
    #[allow(clippy::too_many_arguments)]
    fn lock_op(
        &mut self,
        now: Duration,
        req: u64,
        lock: &str,
        op: LockOp,
        deadline: Duration,
        msgs: &mut Vec<(NodeId, PeerMsg)>,
        out: &mut Vec<Output>,
    ) {
        if self.cfg.bugs.lock_without_quorum || self.lonely(now) {
            self.local_lock(now, req, lock, op, msgs, out);
        } else {
            self.start(
                now,
                Origin::Client(req),
                lock_key(lock),
                RegOp::Lock(op),
                None,
                deadline,
                msgs,
            );
        }
    }

    /// Planted bug `lock-without-quorum`: decide from the local acceptor alone, write it
    /// locally, acknowledge, and only then tell the others (best effort).
    fn local_lock(
        &mut self,
        now: Duration,
        req: u64,
        lock: &str,
        op: LockOp,
        msgs: &mut Vec<(NodeId, PeerMsg)>,
        out: &mut Vec<Output>,
    ) {
        let key = lock_key(lock);
        let quorum = self.proposer.quorum();
        let view = View {
            current: self.acceptor.value(&key).cloned(),
            ages_of_current: vec![self.acceptor.age_ms(&key, now); quorum],
            all_agree: true,
            quorum,
        };
        let me = OpId {
            node: self.cfg.id.clone(),
            gen: self.cfg.gen,
            seq: u64::MAX - req,
        };
        let result = match locks::decide(&op, &view, &me) {
            Decision::Write(value, outcome) => {
                let (ballot, rec) = self.acceptor.write_local(
                    now,
                    &key,
                    &self.cfg.id.clone(),
                    self.cfg.gen,
                    value.clone(),
                );
                out.push(Output::Persist(rec));
                for m in self.cfg.members.iter().filter(|m| **m != self.cfg.id) {
                    let msg = PeerMsg::Accept {
                        key: key.clone(),
                        ballot: ballot.clone(),
                        pid: 0,
                        value: value.clone(),
                    };
                    msgs.push((m.clone(), msg));
                }
                Ok(outcome)
            }
            Decision::Keep(o) => Ok(o),
            Decision::Reject(why) => Err(why),
        };
        let resp = client_resp(result, false);
        out.push(Output::Reply { req, resp });
    }
}
