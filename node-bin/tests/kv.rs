//! Process tests of the KV API (`/kv/{key}`): three real `gauntlet-node` processes on loopback.

use node_bin::testkit::Cluster;
use serde_json::{json, Value};
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_gauntlet-node");

async fn put(c: &Cluster, i: usize, key: &str, value: Value) -> (u16, Value) {
    match c
        .http
        .put(c.url(i, &format!("/kv/{key}")))
        .json(&json!({ "value": value }))
        .send()
        .await
    {
        Ok(r) => {
            let s = r.status().as_u16();
            (s, r.json().await.unwrap_or(Value::Null))
        }
        Err(e) => (0, json!({"error": e.to_string()})),
    }
}

async fn read(c: &Cluster, i: usize, key: &str) -> Value {
    let (s, v) = c.get(i, &format!("/kv/{key}")).await;
    assert_eq!(s, 200, "GET /kv/{key} via n{}: {v}", i + 1);
    assert_eq!(v["key"], key);
    v["value"].clone()
}

async fn cas(c: &Cluster, i: usize, key: &str, from: Value, to: Value) -> (u16, Value) {
    c.post(
        i,
        &format!("/kv/{key}/cas"),
        json!({"from": from, "to": to}),
    )
    .await
}

/// Proves read/write/cas through every node see one register: an absent key reads null, a
/// write through one node is read through the others, a cas swaps only when the comparison
/// holds, bad requests are definite 400s that change nothing, and values survive kill -9 of
/// the whole cluster (they were fsync'd by a majority before the reply).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_read_write_cas_through_all_nodes() {
    let mut c = Cluster::start(BIN, 3, &[]).await;
    assert_eq!(read(&c, 0, "a").await, Value::Null);
    let (s, w) = put(&c, 0, "a", json!(1)).await;
    assert_eq!((s, &w), (200, &json!({"key": "a", "value": 1})));
    assert_eq!(read(&c, 1, "a").await, json!(1));
    assert_eq!(read(&c, 2, "a").await, json!(1));

    let (s, r) = cas(&c, 2, "a", json!(7), json!(8)).await;
    assert_eq!((s, &r["swapped"]), (200, &json!(false)), "{r}");
    assert_eq!(read(&c, 0, "a").await, json!(1));
    let (s, r) = cas(&c, 1, "a", json!(1), json!({"x": [2]})).await;
    assert_eq!((s, &r["swapped"]), (200, &json!(true)), "{r}");
    assert_eq!(read(&c, 2, "a").await, json!({"x": [2]}));
    // A cas from null creates an absent key.
    let (s, r) = cas(&c, 0, "b", Value::Null, json!("x")).await;
    assert_eq!((s, &r["swapped"]), (200, &json!(true)), "{r}");

    // Malformed requests: 400, definite, and nothing changes.
    let (s, e) = c.post(0, "/kv/a/cas", json!({"from": 1})).await;
    assert_eq!((s, &e["definite"]), (400, &json!(true)), "{e}");
    let r = c.http.put(c.url(1, "/kv/a")).body("{not json").send().await;
    assert_eq!(r.unwrap().status().as_u16(), 400);
    let (s, e) = put(&c, 2, &"k".repeat(201), json!(1)).await;
    assert_eq!(s, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("key"), "{e}");
    let (s, e) = put(&c, 2, "a", json!("v".repeat(5000))).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(read(&c, 0, "a").await, json!({"x": [2]}));

    for i in 0..3 {
        c.kill(i);
    }
    for i in 0..3 {
        c.spawn(i);
    }
    for i in 0..3 {
        c.wait_healthy(i).await;
    }
    assert_eq!(read(&c, 1, "a").await, json!({"x": [2]}));
    assert_eq!(read(&c, 2, "b").await, json!("x"));
}

/// Proves compare-and-set is atomic under contention: 9 clients on all three nodes increment
/// one counter by cas loops; every swap that returned `swapped: true` counted exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cas_increments_are_not_lost() {
    let c = Arc::new(Cluster::start(BIN, 3, &[]).await);
    assert_eq!(put(&c, 0, "ctr", json!(0)).await.0, 200);
    let mut hs = Vec::new();
    for k in 0..9usize {
        let c = c.clone();
        hs.push(tokio::spawn(async move {
            let (mut ok, mut unknown) = (0u64, 0u64);
            for _ in 0..40 {
                let Some(cur) = c.get(k % 3, "/kv/ctr").await.1["value"].as_u64() else {
                    continue;
                };
                let (s, r) = cas(&c, k % 3, "ctr", json!(cur), json!(cur + 1)).await;
                match (s, r["swapped"].as_bool(), r["definite"].as_bool()) {
                    (200, Some(true), _) => ok += 1,
                    (200, Some(false), _) | (_, _, Some(true)) => {}
                    _ => unknown += 1,
                }
            }
            (ok, unknown)
        }));
    }
    let (mut ok, mut unknown) = (0, 0);
    for h in hs {
        let (o, u) = h.await.unwrap();
        ok += o;
        unknown += u;
    }
    let last = read(&c, 0, "ctr").await.as_u64().unwrap();
    assert!(ok > 0, "no cas ever succeeded");
    assert!(
        last >= ok && last <= ok + unknown,
        "counter {last}, but {ok} swaps acknowledged and {unknown} unknown"
    );
}

/// Proves the planted bug `stale-read`: a node that missed a write (killed during it, then
/// restarted) answers reads from its own stale acceptor, while the correct node reads through
/// a quorum and sees the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_stale_read_serves_a_missed_write_stale() {
    for (bug, expect) in [(false, json!(5)), (true, Value::Null)] {
        let flags: &[&str] = if bug { &["--bug", "stale-read"] } else { &[] };
        let mut c = Cluster::start(BIN, 3, flags).await;
        c.kill(2);
        let (s, w) = put(&c, 0, "s", json!(5)).await;
        assert_eq!(s, 200, "{w}");
        c.spawn(2);
        c.wait_healthy(2).await;
        assert_eq!(
            read(&c, 2, "s").await,
            expect,
            "bug {bug}: read via the node that missed the write"
        );
        assert_eq!(read(&c, 1, "s").await, json!(5), "bug {bug}");
    }
}
