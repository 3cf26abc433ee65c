//! Whole-node simulation: three `Node`s on an in-memory network with a seeded scheduler, no
//! sockets and no sleeps. Exercises locks with leases, task assignment and failover, and a
//! restart from the persisted records.

use super::*;
use rand::Rng;
use std::collections::BTreeSet;

struct World {
    now: Duration,
    nodes: BTreeMap<NodeId, Node>,
    logs: BTreeMap<NodeId, Vec<Record>>,
    down: BTreeSet<NodeId>,
    net: Vec<(NodeId, NodeId, PeerMsg)>,
    replies: BTreeMap<u64, ClientResp>,
    next_req: u64,
    rng: ChaCha8Rng,
    /// Quorum-read fetches to answer: (reader, read, member asked).
    fetches: Vec<(NodeId, u64, NodeId)>,
    /// Ticks given before the node's `next_deadline` (each checked to change nothing).
    early_ticks: u64,
    /// Nodes cut off from every other node (a partition): their messages are dropped.
    isolated: BTreeSet<NodeId>,
    /// The planted bugs of every node (and of every restart).
    bugs: Bugs,
}

fn cfg_with(id: &str, gen: u64, seed: u64, bugs: Bugs) -> Config {
    let timing = Timing {
        claim_lease: Duration::from_millis(1500),
        ..Timing::default()
    };
    Config {
        id: NodeId::from(id),
        members: ["n1", "n2", "n3"]
            .iter()
            .map(|s| NodeId::from(*s))
            .collect(),
        gen,
        seed,
        bugs,
        timing,
    }
}

impl World {
    fn new(seed: u64) -> World {
        World::with_bugs(seed, Bugs::default())
    }

    fn with_bugs(seed: u64, bugs: Bugs) -> World {
        let nodes = ["n1", "n2", "n3"]
            .iter()
            .map(|id| {
                (
                    NodeId::from(*id),
                    Node::new(
                        cfg_with(id, 1, seed, bugs.clone()),
                        Vec::new(),
                        Duration::ZERO,
                    ),
                )
            })
            .collect();
        World {
            now: Duration::ZERO,
            nodes,
            logs: BTreeMap::new(),
            down: BTreeSet::new(),
            net: Vec::new(),
            replies: BTreeMap::new(),
            next_req: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            fetches: Vec::new(),
            early_ticks: 0,
            isolated: BTreeSet::new(),
            bugs,
        }
    }

    fn absorb(&mut self, from: &NodeId, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Send { to, msg } => self.net.push((from.clone(), to, msg)),
                Output::Reply { req, resp } => {
                    self.replies.insert(req, resp);
                }
                Output::Persist(r) => self.logs.entry(from.clone()).or_default().push(r),
                Output::FetchTasks { read, from: asked } => {
                    self.fetches.push((from.clone(), read, asked))
                }
            }
        }
    }

    fn input(&mut self, id: &NodeId, input: Input) {
        if self.down.contains(id) {
            return;
        }
        let mut out = Vec::new();
        let node = self.nodes.get_mut(id).unwrap();
        if matches!(input, Input::Tick) && self.now < node.next_deadline() {
            // The property the simulator's event jumps rely on: a tick before the deadline
            // changes nothing, neither the state nor the outputs.
            let before = format!("{node:?}");
            node.step(self.now, input, &mut out);
            assert!(out.is_empty(), "tick before the deadline gave {out:?}");
            assert_eq!(before, format!("{node:?}"), "tick before the deadline");
            self.early_ticks += 1;
            return;
        }
        node.step(self.now, input, &mut out);
        self.absorb(id, out);
    }

    /// Answers the pending quorum-read fetches from each member's log (every record this
    /// world persists is durable); a member that is down cannot answer.
    fn answer_fetches(&mut self) {
        for (reader, read, asked) in std::mem::take(&mut self.fetches) {
            let snapshot = (!self.down.contains(&asked)).then(|| {
                let mut d = crate::core::taskread::DurableTasks::default();
                d.apply(self.logs.get(&asked).map_or(&[][..], |v| &v[..]));
                d.snapshot()
            });
            let input = Input::Tasks {
                read,
                from: asked,
                snapshot,
            };
            self.input(&reader, input);
        }
    }

    /// Runs `ms` of simulated time: 5 ms ticks, messages delivered in random order, 2 % lost.
    fn run(&mut self, ms: u64) {
        for _ in 0..ms / 5 {
            self.now += Duration::from_millis(5);
            let ids: Vec<NodeId> = self.nodes.keys().cloned().collect();
            for id in &ids {
                self.input(id, Input::Tick);
            }
            self.answer_fetches();
            let mut budget = 10_000;
            while !self.net.is_empty() && budget > 0 {
                budget -= 1;
                let i = self.rng.gen_range(0..self.net.len());
                let (from, to, msg) = self.net.swap_remove(i);
                let cut =
                    from != to && (self.isolated.contains(&from) || self.isolated.contains(&to));
                if self.down.contains(&from) || cut || self.rng.gen_bool(0.02) {
                    continue;
                }
                self.input(&to, Input::Peer { from, msg });
            }
        }
    }

    /// Sends a client command and runs until it is answered (at most 5 s).
    fn call(&mut self, via: &str, cmd: ClientCmd) -> ClientResp {
        self.next_req += 1;
        let req = self.next_req;
        self.input(&NodeId::from(via), Input::Client { req, cmd });
        for _ in 0..1000 {
            if let Some(r) = self.replies.remove(&req) {
                return r;
            }
            self.run(5);
        }
        panic!("no reply to request {req}");
    }

    fn acquire(&mut self, via: &str, lock: &str, client: &str, ttl_ms: u64) -> ClientResp {
        let cmd = ClientCmd::Acquire {
            lock: lock.into(),
            client: client.into(),
            ttl_ms,
        };
        self.call(via, cmd)
    }

    /// Quorum read of all tasks through the live nodes' snapshots.
    fn tasks(&mut self) -> BTreeMap<String, TaskVal> {
        let live: Vec<NodeId> = self
            .nodes
            .keys()
            .filter(|n| !self.down.contains(*n))
            .cloned()
            .collect();
        let snaps = live
            .iter()
            .map(|n| match self.call(&n.0, ClientCmd::Snapshot) {
                ClientResp::Snapshot(s) => s,
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>();
        tasks::merge(snaps)
    }

    fn restart(&mut self, id: &str, seed: u64) {
        let nid = NodeId::from(id);
        let mut last: BTreeMap<Key, Record> = BTreeMap::new();
        for r in self.logs.get(&nid).cloned().unwrap_or_default() {
            last.insert(r.key.clone(), r);
        }
        let cfg = cfg_with(id, 2, seed, self.bugs.clone());
        let node = Node::new(cfg, last.into_values().collect(), self.now);
        self.nodes.insert(nid.clone(), node);
        self.down.remove(&nid);
    }
}

fn token(r: &ClientResp) -> u64 {
    match r {
        ClientResp::Granted { token } => *token,
        other => panic!("expected a grant, got {other:?}"),
    }
}

#[test]
fn lease_is_exclusive_until_a_majority_judges_it_expired() {
    for seed in 0..5 {
        let mut w = World::new(seed);
        w.run(500);
        let t1 = token(&w.acquire("n1", "l", "a", 1000));
        let r = w.acquire("n2", "l", "b", 1000);
        assert!(
            matches!(
                r,
                ClientResp::Error {
                    kind: ErrorKind::Conflict,
                    definite: true,
                    ..
                }
            ),
            "seed {seed}: {r:?}"
        );
        w.run(1100);
        let t2 = token(&w.acquire("n3", "l", "b", 1000));
        assert!(t2 > t1, "seed {seed}: tokens must grow ({t1}, {t2})");
    }
}

#[test]
fn tasks_are_done_and_fail_over_when_their_holder_dies() {
    let mut failed_over = 0;
    for seed in 0..4 {
        let mut w = World::new(seed);
        w.run(500);
        for i in 0..15 {
            let via = ["n1", "n2", "n3"][i % 3];
            let r = w.call(
                via,
                ClientCmd::Submit {
                    id: format!("t{i}"),
                    work_ms: 2000,
                },
            );
            assert_eq!(r, ClientResp::Submitted, "seed {seed}");
        }
        w.run(300);
        let before = w.tasks();
        let on_n1: Vec<String> = before
            .iter()
            .filter(|(_, t)| t.owner == Some(NodeId::from("n1")) && t.state == TaskState::Running)
            .map(|(k, _)| k.clone())
            .collect();
        w.down.insert(NodeId::from("n1"));
        w.run(8000);
        let after = w.tasks();
        assert_eq!(
            after.len(),
            15,
            "seed {seed}: every acknowledged task is there"
        );
        for (id, t) in &after {
            assert_eq!(t.state, TaskState::Done, "seed {seed}: {id} {t:?}");
        }
        for id in &on_n1 {
            assert!(
                after[id].runs >= 2 && after[id].owner != Some(NodeId::from("n1")),
                "seed {seed}: {id} failed over"
            );
        }
        failed_over += on_n1.len();
    }
    assert!(failed_over > 0, "n1 never ran a task: nothing was tested");
}

#[test]
fn restarted_node_keeps_its_promises_and_grants() {
    let mut w = World::new(42);
    w.run(500);
    let t1 = token(&w.acquire("n1", "l", "a", 60_000));
    // n2 and n3 restart from their logs: the grant must survive on the majority.
    for id in ["n2", "n3"] {
        w.down.insert(NodeId::from(id));
        w.net.clear();
        w.restart(id, 43);
    }
    w.run(300);
    let r = w.acquire("n2", "l", "b", 1000);
    assert!(
        matches!(
            r,
            ClientResp::Error {
                kind: ErrorKind::Conflict,
                ..
            }
        ),
        "{r:?}"
    );
    let rel = w.call(
        "n3",
        ClientCmd::Release {
            lock: "l".into(),
            client: "a".into(),
            token: t1,
        },
    );
    assert_eq!(rel, ClientResp::Released);
    assert!(token(&w.acquire("n3", "l", "b", 1000)) > t1);
}

#[test]
fn malformed_commands_are_refused_definitely() {
    let mut w = World::new(1);
    let r = w.acquire("n1", "", "a", 10);
    assert!(
        matches!(
            r,
            ClientResp::Error {
                kind: ErrorKind::BadRequest,
                definite: true,
                ..
            }
        ),
        "{r:?}"
    );
    let r = w.acquire("n1", "l", "a", 0);
    assert!(
        matches!(
            r,
            ClientResp::Error {
                kind: ErrorKind::BadRequest,
                ..
            }
        ),
        "{r:?}"
    );
    assert!(w.logs.is_empty(), "a refused command writes nothing");
}

fn kv(w: &mut World, via: &str, key: &str, op: KvOp) -> ClientResp {
    let cmd = ClientCmd::Kv {
        key: key.into(),
        op,
    };
    w.call(via, cmd)
}

/// Proves a KV read goes through a quorum: a node that was down during a write still reads
/// the written value, while with the planted bug `stale-read` it answers from its own empty
/// acceptor.
#[test]
fn kv_read_through_a_quorum_and_the_stale_read_bug() {
    let mut w = World::new(5);
    w.down.insert(NodeId::from("n3"));
    let write = KvOp::Write {
        value: serde_json::json!(7),
    };
    assert_eq!(
        kv(&mut w, "n1", "k", write),
        ClientResp::Kv(KvOutcome::Written)
    );
    w.down.remove(&NodeId::from("n3"));
    let seven = ClientResp::Kv(KvOutcome::Read(serde_json::json!(7)));
    assert_eq!(kv(&mut w, "n3", "k", KvOp::Read), seven);
    // The quorum read wrote the value back (the quorum disagreed), so bring in a new key.
    w.down.insert(NodeId::from("n3"));
    let write = KvOp::Write {
        value: serde_json::json!(8),
    };
    kv(&mut w, "n2", "j", write);
    w.down.remove(&NodeId::from("n3"));
    w.nodes
        .get_mut(&NodeId::from("n3"))
        .unwrap()
        .cfg
        .bugs
        .stale_read = true;
    let stale = ClientResp::Kv(KvOutcome::Read(serde_json::Value::Null));
    assert_eq!(kv(&mut w, "n3", "j", KvOp::Read), stale);
}

/// Proves compare-and-set is atomic across nodes with lost and reordered messages: in every
/// round all three nodes try the same swap at once, at most one succeeds, and the counter
/// ends at exactly the number of swaps (plus those whose outcome was reported unknown).
#[test]
fn kv_concurrent_cas_from_every_node_swaps_once_per_round() {
    for seed in 1..4 {
        let mut w = World::new(seed);
        let (mut swaps, mut unknown) = (0u64, 0u64);
        for _ in 0..20 {
            let cur = match kv(&mut w, "n1", "c", KvOp::Read) {
                ClientResp::Kv(KvOutcome::Read(v)) => v.as_u64().unwrap_or(0),
                other => panic!("seed {seed}: read failed: {other:?}"),
            };
            let mut reqs = Vec::new();
            for via in ["n1", "n2", "n3"] {
                w.next_req += 1;
                let op = KvOp::Cas {
                    from: if cur == 0 {
                        serde_json::Value::Null
                    } else {
                        serde_json::json!(cur)
                    },
                    to: serde_json::json!(cur + 1),
                };
                let cmd = ClientCmd::Kv {
                    key: "c".into(),
                    op,
                };
                let req = w.next_req;
                w.input(&NodeId::from(via), Input::Client { req, cmd });
                reqs.push(req);
            }
            let mut round = 0;
            for _ in 0..1000 {
                if reqs.iter().all(|r| w.replies.contains_key(r)) {
                    break;
                }
                w.run(5);
            }
            for r in &reqs {
                match w.replies.remove(r) {
                    Some(ClientResp::Kv(KvOutcome::Cas(true))) => round += 1,
                    Some(ClientResp::Kv(KvOutcome::Cas(false))) => {}
                    Some(ClientResp::Error { definite: true, .. }) => {}
                    Some(ClientResp::Error { .. }) => unknown += 1,
                    other => panic!("seed {seed}: unexpected {other:?}"),
                }
            }
            assert!(round <= 1, "seed {seed}: {round} swaps of one value");
            swaps += round;
        }
        let last = match kv(&mut w, "n2", "c", KvOp::Read) {
            ClientResp::Kv(KvOutcome::Read(v)) => v.as_u64().unwrap_or(0),
            other => panic!("seed {seed}: {other:?}"),
        };
        eprintln!("seed {seed}: {swaps} swaps in 20 rounds, {unknown} unknown, counter {last}");
        assert!(swaps > 0, "seed {seed}: no swap succeeded");
        assert!(
            last >= swaps && last <= swaps + unknown,
            "seed {seed}: counter {last}, {swaps} swaps, {unknown} unknown"
        );
    }
}

#[test]
fn ticks_before_the_next_deadline_change_nothing() {
    // Every tick `World` gives before a node's deadline is checked in `World::input`; this
    // test makes sure there are many of them while locks, tasks, failover and reads run.
    for seed in 0..6 {
        let mut w = World::new(seed);
        w.run(500);
        for i in 0..10 {
            let via = ["n1", "n2", "n3"][i % 3];
            let cmd = ClientCmd::Submit {
                id: format!("t{i}"),
                work_ms: 200,
            };
            w.call(via, cmd);
            w.acquire(via, "l", &format!("c{i}"), 300);
        }
        w.down.insert(NodeId::from("n3"));
        w.run(3000);
        w.restart("n3", seed);
        w.run(1000);
        assert!(
            w.early_ticks > 500,
            "seed {seed}: only {} early ticks",
            w.early_ticks
        );
    }
}

#[test]
fn quorum_read_of_tasks_goes_through_the_core() {
    let mut w = World::new(7);
    w.run(500);
    for i in 0..5 {
        let cmd = ClientCmd::Submit {
            id: format!("t{i}"),
            work_ms: 0,
        };
        assert_eq!(w.call("n1", cmd), ClientResp::Submitted);
    }
    w.down.insert(NodeId::from("n3"));
    let ClientResp::Tasks(all) = w.call("n2", ClientCmd::ReadTasks) else {
        panic!("a majority is up: the read must succeed");
    };
    assert_eq!(all.len(), 5, "{all:?}");
    w.down.insert(NodeId::from("n1"));
    let r = w.call("n2", ClientCmd::ReadTasks);
    assert_eq!(
        r,
        ClientResp::Error {
            kind: ErrorKind::Unavailable,
            message: "quorum read failed: 1 of 3 members answered, 2 needed".into(),
            definite: true,
        }
    );
}

fn granted(r: &ClientResp) -> bool {
    matches!(r, ClientResp::Granted { .. })
}

/// `lonely-restart`: a node restarted while cut off from every peer grants a lock the
/// majority has granted, once it has heard from nobody for `LONELY_GRACE`; without the bug, or
/// without the restart, or once it hears a peer, it does not.
#[test]
fn lonely_restart_grants_alone_only_after_a_restart_while_cut_off() {
    let n3 = NodeId::from("n3");
    for bug in [false, true] {
        let bugs = Bugs {
            lonely_restart: bug,
            ..Bugs::default()
        };
        let mut w = World::with_bugs(7, bugs);
        w.run(500);
        // n2 is cut off but not restarted: it never decides alone.
        w.isolated.insert(NodeId::from("n2"));
        w.run(LONELY_GRACE.as_millis() as u64 + 500);
        let r = w.acquire("n2", "l0", "x", 1000);
        assert!(
            !granted(&r),
            "bug {bug}: a node cut off without a restart: {r:?}"
        );
        w.isolated.clear();
        w.run(1000);
        // n3 is cut off, killed and restarted while still cut off.
        w.isolated.insert(n3.clone());
        w.down.insert(n3.clone());
        w.run(100);
        w.restart("n3", 8);
        let t1 = token(&w.acquire("n1", "l", "a", 60_000));
        // Within the grace it still asks a majority (and times out).
        let r = w.acquire("n3", "l", "b", 60_000);
        assert!(!granted(&r), "bug {bug}: within the grace: {r:?}");
        w.run(LONELY_GRACE.as_millis() as u64);
        // After it, only the bug grants the lock `a` holds: a split lock.
        let r = w.acquire("n3", "l", "b", 60_000);
        assert_eq!(
            granted(&r),
            bug,
            "bug {bug}: lonely after the grace: {r:?} (a holds {t1})"
        );
        // Healed: n3 hears its peers and asks the majority again.
        w.isolated.clear();
        w.run(1000);
        let r = w.acquire("n3", "l", "c", 60_000);
        assert!(!granted(&r), "bug {bug}: after the heal: {r:?}");
    }
}

/// `ack-before-flush`: a submit that arrives while another submit replicates is acknowledged
/// at once; a kill before the flush (`FLUSH_INTERVAL`) loses it, and without the kill the
/// flush replicates it. Without the bug, neither submit is acknowledged before its quorum.
#[test]
fn ack_before_flush_acks_a_batched_submit_that_a_kill_in_the_window_loses() {
    let n1 = NodeId::from("n1");
    let submit = |id: &str| ClientCmd::Submit {
        id: id.into(),
        work_ms: 10,
    };
    for (bug, kill) in [(false, true), (true, false), (true, true)] {
        let bugs = Bugs {
            ack_before_flush: bug,
            ..Bugs::default()
        };
        let mut w = World::with_bugs(3, bugs);
        w.run(500);
        // Two submits reach n1 in the same instant: the second finds the first replicating.
        w.input(
            &n1,
            Input::Client {
                req: 901,
                cmd: submit("first"),
            },
        );
        w.input(
            &n1,
            Input::Client {
                req: 902,
                cmd: submit("second"),
            },
        );
        assert!(
            !w.replies.contains_key(&901),
            "bug {bug}: the first waits for its quorum"
        );
        assert_eq!(
            w.replies.get(&902).cloned(),
            bug.then_some(ClientResp::Submitted),
            "bug {bug}: the second is acknowledged at once only with the bug"
        );
        if kill {
            // SIGKILL within the window; its datagrams in flight are dropped too (the first
            // submit, never acknowledged, may go either way; it is not checked).
            w.down.insert(n1.clone());
            w.net.retain(|(from, _, _)| *from != n1);
            w.run(100);
            w.restart("n1", 4);
        }
        w.run(3000);
        let tasks = w.tasks();
        assert_eq!(
            tasks.contains_key("second"),
            !(bug && kill),
            "bug {bug}, kill {kill}: the acknowledged submit {}",
            if bug && kill { "is lost" } else { "is there" }
        );
    }
}
