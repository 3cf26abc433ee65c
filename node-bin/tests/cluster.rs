//! Process tests: three real `gauntlet-node` processes on loopback ports.

use node_bin::testkit::Cluster;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_gauntlet-node");

async fn all_tasks(c: &Cluster, via: usize) -> BTreeMap<String, Value> {
    let (s, v) = c.get(via, "/tasks").await;
    assert_eq!(s, 200, "GET /tasks failed: {v}");
    v["tasks"]
        .as_object()
        .unwrap()
        .clone()
        .into_iter()
        .collect()
}

async fn task(c: &Cluster, via: usize, id: &str) -> Value {
    c.get(via, &format!("/tasks/{id}")).await.1
}

/// Proves mutual exclusion across nodes, conflict answers that say "definite", lease expiry
/// judged by the acceptors, and fencing tokens that grow with every grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_is_exclusive_and_tokens_grow() {
    let c = Cluster::start(BIN, 3, &[]).await;
    let (s, a) = c.acquire(0, "l", "pa", 30_000).await;
    assert_eq!(s, 200, "{a}");
    let t1 = a["token"].as_u64().unwrap();
    let (s, b) = c.acquire(1, "l", "pb", 30_000).await;
    assert_eq!(s, 409, "a held lock must not be granted again: {b}");
    assert_eq!(b["definite"], true);
    let (s, r) = c.release(2, "l", "pb", t1).await;
    assert_eq!(s, 409, "only the holder may release: {r}");
    assert_eq!(c.release(2, "l", "pa", t1).await.0, 200);
    let (s, b) = c.acquire(1, "l", "pb", 30_000).await;
    assert_eq!(s, 200, "{b}");
    let t2 = b["token"].as_u64().unwrap();
    assert!(t2 > t1, "tokens must grow: {t1} then {t2}");

    // Many clients race for one free lock through all nodes: exactly one wins.
    let mut hs = Vec::new();
    let c = std::sync::Arc::new(c);
    for k in 0..9 {
        let c = c.clone();
        hs.push(tokio::spawn(async move {
            c.acquire(k % 3, "race", &format!("r{k}"), 30_000).await
        }));
    }
    let (mut wins, mut refused) = (0, 0);
    for h in hs {
        let (s, v) = h.await.unwrap();
        match s {
            200 => wins += 1,
            409 => {
                assert_eq!(v["definite"], true);
                refused += 1;
            }
            503 | 504 => {}
            other => panic!("unexpected status {other}: {v}"),
        }
    }
    // Safety: never two winners. (Under heavy load every racer may time out instead.)
    assert!(wins <= 1, "two racers hold the lock at once");
    assert!(
        wins == 1 || refused == 0,
        "refused racers imply a holder, but nobody won"
    );

    // A lease that is not released expires: refused before its TTL, granted after it.
    let (s, v) = c.acquire(0, "lease", "pc", 1500).await;
    assert_eq!(s, 200, "{v}");
    let t3 = v["token"].as_u64().unwrap();
    assert_eq!(c.acquire(1, "lease", "pd", 1500).await.0, 409);
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let (s, v) = c.acquire(2, "lease", "pd", 1500).await;
    assert_eq!(s, 200, "expired lease must be grantable: {v}");
    assert!(v["token"].as_u64().unwrap() > t3);
}

/// Tasks submitted to any node are acknowledged, spread by load, and all become done; the
/// final quorum read lists every one. Malformed requests are refused and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_submitted_anywhere_become_done() {
    let c = Cluster::start(BIN, 3, &[]).await;
    for i in 0..30 {
        let (s, v) = c.submit(i % 3, &format!("t{i}"), 20).await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = c.post(0, "/tasks", serde_json::json!({"work_ms": 5})).await;
    assert_eq!((s, &v["definite"]), (400, &Value::Bool(true)), "{v}");
    let done = Cluster::wait_until(Duration::from_secs(20), || async {
        let t = all_tasks(&c, 1).await;
        t.len() == 30 && t.values().all(|v| v["state"] == "done")
    })
    .await;
    let t = all_tasks(&c, 2).await;
    assert!(done.is_some(), "not all done: {t:?}");
    assert_eq!(t.len(), 30, "exactly the submitted tasks: {t:?}");
    let mut owners = BTreeMap::new();
    for i in 0..30 {
        let v = task(&c, i % 3, &format!("t{i}")).await;
        assert_eq!(v["state"], "done");
        *owners
            .entry(v["owner"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert!(
        owners.len() >= 2,
        "load-based assignment should use several nodes: {owners:?}"
    );
    assert_eq!(c.get(0, "/tasks/nope").await.0, 404);
    let (s, v) = c.get(0, "/locks/l/acquire").await;
    assert_eq!((s, &v["definite"]), (405, &Value::Bool(true)), "{v}");
}

/// kill -9 of a node running tasks: another node claims them (runs grows) and finishes them;
/// the restarted node replays its log, rejoins (alive everywhere) and serves reads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_fails_over_and_restarted_node_rejoins() {
    let mut c = Cluster::start(BIN, 3, &["--claim-lease-ms", "2000"]).await;
    for i in 0..24 {
        assert_eq!(c.submit(1 + i % 2, &format!("k{i}"), 3000).await.0, 200);
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut victims = Vec::new();
    for i in 0..24 {
        let v = task(&c, 1, &format!("k{i}")).await;
        if v["owner"] == "n1" && v["state"] == "running" {
            victims.push(format!("k{i}"));
        }
    }
    assert!(
        !victims.is_empty(),
        "n1 got no task to run (assignment by load should give it some)"
    );
    c.kill(0);
    let cl = &c;
    let ok = Cluster::wait_until(Duration::from_secs(30), || async {
        let t = all_tasks(cl, 1).await;
        t.len() == 24 && t.values().all(|v| v["state"] == "done")
    })
    .await;
    assert!(
        ok.is_some(),
        "tasks not finished after kill -9 of n1: {:?}\n{}",
        all_tasks(&c, 1).await,
        c.log_tail(1)
    );
    for id in &victims {
        let v = task(&c, 2, id).await;
        assert_ne!(
            v["owner"], "n1",
            "{id} must have been finished elsewhere: {v}"
        );
        assert!(
            v["runs"].as_u64().unwrap() >= 2,
            "{id} was claimed again: {v}"
        );
    }
    assert_eq!(c.member_state(1, "n1").await.as_deref(), Some("dead"));
    c.spawn(0);
    c.wait_healthy(0).await;
    let cl = &c;
    let back = Cluster::wait_until(Duration::from_secs(15), || async {
        cl.member_state(1, "n1").await.as_deref() == Some("alive")
            && cl.member_state(2, "n1").await.as_deref() == Some("alive")
    })
    .await;
    assert!(
        back.is_some(),
        "restarted n1 must rejoin by itself\n{}",
        c.log_tail(0)
    );
    let log = std::fs::read_to_string(&c.nodes[0].log).unwrap();
    let replay = log
        .lines()
        .rfind(|l| l.contains("replayed the acceptor log"))
        .unwrap()
        .to_string();
    assert!(
        !replay.contains("slots=0"),
        "the restarted node must replay its log: {replay}"
    );
    assert_eq!(task(&c, 0, &victims[0]).await["state"], "done");
    assert_eq!(c.terminate(0), Some(0), "SIGTERM must exit cleanly");
}

/// Planted bug `lock-without-quorum`: a node that missed a grant (it was down) grants the lock
/// again from its own state — two clients hold one lock. Without the bug it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_lock_without_quorum_splits_a_lock() {
    for bug in [false, true] {
        let extra: &[&str] = if bug {
            &["--bug", "lock-without-quorum"]
        } else {
            &[]
        };
        let mut c = Cluster::start(BIN, 3, extra).await;
        c.kill(1);
        let (s, v) = c.acquire(0, "l", "pa", 60_000).await;
        assert_eq!(s, 200, "{v}");
        c.spawn(1);
        c.wait_healthy(1).await;
        let (s, v) = c.acquire(1, "l", "pb", 60_000).await;
        if bug {
            assert_eq!(s, 200, "the bug should grant a held lock: {v}");
        } else {
            assert_eq!(s, 409, "a held lock must be refused: {v}");
        }
    }
}

/// Planted bug `early-lease-expiry`: a 4 s lease is granted to another client after ~1.2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_early_lease_expiry_regrants_a_live_lease() {
    for bug in [false, true] {
        let extra: &[&str] = if bug {
            &["--bug", "early-lease-expiry"]
        } else {
            &[]
        };
        let c = Cluster::start(BIN, 3, extra).await;
        assert_eq!(c.acquire(0, "l", "pa", 4000).await.0, 200);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let (s, v) = c.acquire(1, "l", "pb", 4000).await;
        let want = if bug { 200 } else { 409 };
        assert_eq!(s, want, "bug={bug}: {v}");
    }
}

/// Planted bug `ack-before-quorum`: a task acknowledged just before its node is killed is
/// gone from the final read. Without the bug it survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_ack_before_quorum_loses_an_acknowledged_task() {
    for bug in [false, true] {
        let extra: &[&str] = if bug {
            &["--bug", "ack-before-quorum"]
        } else {
            &[]
        };
        let mut c = Cluster::start(BIN, 3, extra).await;
        assert_eq!(c.submit(0, "doomed", 10).await.0, 200);
        c.kill(0);
        c.spawn(0);
        c.wait_healthy(0).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let t = all_tasks(&c, 1).await;
        assert_eq!(t.contains_key("doomed"), !bug, "bug={bug}: {t:?}");
    }
}

/// Planted bug `failover-skips-cas`: a node killed and restarted at once forgets the tasks it
/// had claimed, and nobody takes them over while it is alive: they stay `running` forever.
/// Without the bug the restarted node re-claims them and they finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_failover_skips_cas_leaves_tasks_not_done() {
    for bug in [false, true] {
        let mut extra = vec!["--claim-lease-ms", "1500"];
        if bug {
            extra.extend(["--bug", "failover-skips-cas"]);
        }
        let mut c = Cluster::start(BIN, 3, &extra).await;
        for i in 0..12 {
            c.submit(1, &format!("f{i}"), 3000).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut mine = Vec::new();
        for i in 0..12 {
            let v = task(&c, 1, &format!("f{i}")).await;
            if v["owner"] == "n1" && v["state"] == "running" {
                mine.push(format!("f{i}"));
            }
        }
        assert!(!mine.is_empty(), "n1 runs nothing");
        c.kill(0);
        c.spawn(0);
        c.wait_healthy(0).await;
        tokio::time::sleep(Duration::from_secs(9)).await;
        let t = all_tasks(&c, 2).await;
        let stuck = mine.iter().filter(|id| t[*id]["state"] != "done").count();
        if bug {
            assert!(
                stuck > 0,
                "the bug should leave n1's tasks unfinished: {t:?}"
            );
        } else {
            assert_eq!(stuck, 0, "all tasks must finish: {t:?}");
        }
    }
}
