//! Real-kernel tests of loss, slow and netem faults: `nemesis-selftest links` applies them
//! in node namespaces and reports what it measured; these tests decide. Root is needed
//! (skipped with a notice otherwise; a failure under CI=true), and iptables and tc.

mod common;
use common::*;

use serde_json::Value;

fn observed_one(v: &Value, what: &str) -> Value {
    let a = v
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no observations: {v}"));
    assert_eq!(a.len(), 1, "{what}: {v}");
    a[0].clone()
}

fn check_links(r: &Value, backend: &str) {
    // The loss was measured and is within the derived tolerance of the plan.
    let loss = observed_one(&r["loss_observed"], "loss");
    let (m, p, tol) = (
        loss["measured"].as_f64().unwrap(),
        loss["planned"].as_f64().unwrap(),
        loss["tolerance"].as_f64().unwrap(),
    );
    assert!((p - 0.3).abs() < 1e-9 && (m - p).abs() <= tol, "{loss}");
    assert!(
        m > 0.0 && m < 1.0,
        "a 30% loss is neither none nor all: {loss}"
    );
    // Twice on one link: the two compound to 1 - 0.7^2.
    let twice = observed_one(&r["loss_twice_observed"], "loss twice");
    assert!(
        (twice["planned"].as_f64().unwrap() - 0.51).abs() < 1e-9,
        "{twice}"
    );
    // p = 1 is held to the exact count.
    let all = observed_one(&r["loss_certain_observed"], "certain loss");
    assert_eq!(all["measured"].as_f64(), Some(1.0), "{all}");
    // One table on the receiver: the loss rule, and (iptables backend) the partition's DROP.
    let rules = r["rules_with_loss_and_cut"].as_str().unwrap();
    assert!(
        rules.contains("-s 10.77.0.11/32 -m statistic --mode random --probability 0.2999"),
        "{rules}"
    );
    let cut_rule = "-A INPUT -s 10.77.0.13/32 -j DROP";
    match backend {
        "iptables" => {
            assert!(rules.contains(cut_rule), "{rules}");
            assert_eq!(r["rules_after_loss_heal"].as_str(), Some(cut_rule));
        }
        _ => assert!(
            !rules.contains(cut_rule),
            "route partitions stay routes: {rules}"
        ),
    }
    for k in ["rules_after_all_heals", "rules_after_drop"] {
        assert_eq!(r[k].as_str(), Some(""), "{k}: {r}");
    }
    // Slow: tbf shown by tc, measured rate near the plan, gone after heal.
    let q = r["qdisc_slow"].as_str().unwrap();
    assert!(q.contains("tbf") && q.contains("rate 8Mbit"), "{q}");
    let rate = observed_one(&r["slow_observed"], "slow");
    let kbit = rate["measured_kbit"].as_f64().unwrap();
    eprintln!("{backend}: tbf 8000 kbit/s planned, measured {kbit:.0} kbit/s");
    assert!((4000.0..=10400.0).contains(&kbit), "{rate}");
    assert!(
        !r["qdisc_after_heal"].as_str().unwrap().contains("tbf"),
        "{r}"
    );
    // heal_all removes both kinds.
    assert_eq!(r["after_heal_all"]["rules"].as_str(), Some(""), "{r}");
    assert!(!r["after_heal_all"]["qdisc"]
        .as_str()
        .unwrap()
        .contains("tbf"));
    // netem: this kernel may lack it; either way the answer is clear and early.
    match r["netem_available"].as_str() {
        Some(why) => {
            let e = r["netem_apply"].as_str().unwrap();
            assert!(
                e.contains("netem") && e.contains(why) && e.contains("unavailable"),
                "{e}"
            );
        }
        None => assert_eq!(r["netem_apply"].as_str(), Some("no error"), "{r}"),
    }
    // Bad input names the field; a node without clock faults has no preload.
    assert!(r["bad_probability"]
        .as_str()
        .unwrap()
        .contains("`probability`"));
    assert!(r["bad_node"].as_str().unwrap().contains("\"n9\""));
    assert!(r["bad_self"].as_str().unwrap().contains("itself"));
    assert_eq!(r["node_env_has_preload"], false);
    assert!(r["clock_fault_without_preload"]
        .as_str()
        .unwrap()
        .contains("clock_faults"));
}

fn run(test: &str, backend: &str) {
    if !privileged(test)
        || !have_tool(test, "iptables-restore", "iptables")
        || !have_tool(test, "tc", "iproute2")
    {
        return;
    }
    let before = host_snapshot();
    let r = report(
        &selftest(&["links", "--backend", backend], None),
        &format!("links --backend {backend}"),
    );
    check_links(&r, backend);
    assert_host_unchanged(&before);
}

/// Loss and a route-backend partition on one node, slow links, netem detection, bad input.
#[test]
fn loss_slow_and_netem_with_route_partitions() {
    run("loss_slow_and_netem_with_route_partitions", "route");
}

/// The same with the iptables backend: partition drops and loss rules share one table.
#[test]
fn loss_and_iptables_partition_share_one_table() {
    run("loss_and_iptables_partition_share_one_table", "iptables");
}
