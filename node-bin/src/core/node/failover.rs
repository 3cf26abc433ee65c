//! Task life on this node: assignment, claims, the runner's renew/done proposals, the
//! write-behind buffer of the `ack-before-quorum` bug, and the failover scan.

use super::*;

impl Node {
    /// After a submit: hand the task to the less loaded of two random alive members.
    pub(super) fn assign(&mut self, now: Duration, id: &str, msgs: &mut Vec<(NodeId, PeerMsg)>) {
        let load = self.load();
        let to = self.membership.pick_by_load(load);
        if to == self.cfg.id {
            self.start_claim(now, id, true, false, msgs);
        } else {
            msgs.push((to, PeerMsg::Assign { id: id.to_string() }));
        }
    }

    pub(super) fn start_claim(
        &mut self,
        now: Duration,
        id: &str,
        assigned: bool,
        owner_dead: bool,
        msgs: &mut Vec<(NodeId, PeerMsg)>,
    ) {
        let key = task_key(id);
        if self.runner.jobs.contains_key(id) || self.proposer.busy(&key) {
            return;
        }
        let op = TaskOp::Claim {
            by: self.cfg.id.clone(),
            assigned,
            owner_dead,
            claim_lease_ms: self.cfg.timing.claim_lease.as_millis() as u64,
        };
        let deadline = now + self.cfg.timing.op_timeout;
        self.start(
            now,
            Origin::Claim,
            key,
            RegOp::Task(op),
            None,
            deadline,
            msgs,
        );
    }

    pub(super) fn tick_runner(
        &mut self,
        now: Duration,
        msgs: &mut Vec<(NodeId, PeerMsg)>,
        _out: &mut [Output],
    ) {
        let mut starts = Vec::new();
        for (id, job) in self.runner.jobs.iter_mut() {
            if job.in_flight {
                continue;
            }
            if now >= job.finish_at {
                job.in_flight = true;
                starts.push((
                    id.clone(),
                    Origin::Done,
                    TaskOp::Done {
                        by: self.cfg.id.clone(),
                    },
                ));
            } else if now >= job.next_renew {
                job.in_flight = true;
                let op = TaskOp::Renew {
                    by: self.cfg.id.clone(),
                    claim: job.claim,
                };
                starts.push((id.clone(), Origin::Renew, op));
            }
        }
        for (id, origin, op) in starts {
            let deadline = now + self.cfg.timing.claim_lease / 3;
            self.start(
                now,
                origin,
                task_key(&id),
                RegOp::Task(op),
                None,
                deadline,
                msgs,
            );
        }
    }

    pub(super) fn tick_unreplicated(&mut self, now: Duration, msgs: &mut Vec<(NodeId, PeerMsg)>) {
        let due: Vec<String> = self
            .unreplicated
            .iter()
            .filter(|(_, (_, d))| *d <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for id in due {
            let (work_ms, _) = self.unreplicated.remove(&id).expect("listed above");
            let op = RegOp::Task(TaskOp::Submit { work_ms });
            let deadline = now + self.cfg.timing.op_timeout;
            self.start(
                now,
                Origin::Replicate,
                task_key(&id),
                op,
                None,
                deadline,
                msgs,
            );
        }
    }

    /// Failover: claims tasks whose holder is dead or whose claim lease ran out, as seen by
    /// the local acceptor. The claim itself is a compare-and-set, so a stale local copy only
    /// costs a wasted round.
    pub(super) fn scan(&mut self, now: Duration, msgs: &mut Vec<(NodeId, PeerMsg)>) {
        for (id, st) in self.membership.members() {
            if st.state == Liveness::Dead {
                self.dead_since.entry(id.clone()).or_insert(st.since);
            } else {
                self.dead_since.remove(id);
            }
        }
        let in_flight = self
            .pending
            .values()
            .filter(|p| matches!(p.origin, Origin::Claim))
            .count();
        let mut budget = SCAN_CLAIMS_IN_FLIGHT.saturating_sub(in_flight);
        let alive = self.membership.alive();
        let lease = self.cfg.timing.claim_lease;
        let bug = self.cfg.bugs.failover_skips_cas;
        let mut claims = Vec::new();
        for (key, slot) in self.acceptor.slots.range("t/".to_string()..) {
            if budget == 0 || !key.starts_with("t/") {
                break;
            }
            let Some((_, Value::Task(t))) = &slot.accepted else {
                continue;
            };
            let id = &key[2..];
            if t.state == TaskState::Done
                || self.runner.jobs.contains_key(id)
                || self.proposer.busy(key)
            {
                continue;
            }
            let stagger = lease / 4 * failover_rank(id, &self.cfg.id, &alive) as u32;
            let age = Duration::from_millis(self.acceptor.age_ms(key, now));
            let owner_dead_for = t
                .owner
                .as_ref()
                .and_then(|o| self.dead_since.get(o))
                .map(|s| now.saturating_sub(*s));
            let mine = t.owner.as_ref() == Some(&self.cfg.id);
            let (claim, dead) = match t.state {
                TaskState::Pending => (!bug && age >= lease + stagger, false),
                TaskState::Running if mine => (!bug, false),
                TaskState::Running => match owner_dead_for {
                    Some(d) if bug => (d >= lease * 2 + stagger, true),
                    Some(d) if d >= stagger => (true, true),
                    _ => (!bug && age >= lease + stagger, false),
                },
                TaskState::Done => (false, false),
            };
            if claim {
                claims.push((id.to_string(), dead));
                budget -= 1;
            }
        }
        for (id, dead) in claims {
            self.start_claim(now, &id, false, dead, msgs);
        }
    }
}
