//! Real tests of the libfaketime clock faults: `nemesis-selftest clocks` runs nodes under
//! the preload, applies bumps, a drift and a strobe, and reports each node's clock as a
//! process under the same preload sees it (`date`, and a process that times itself).

mod common;
use common::*;

/// Bumps move the wall clock by the plan and add up; overflow is refused and changes
/// nothing; a drift of 2 doubles elapsed wall time while the monotonic clock stays real; a
/// strobe shows both offsets then rests at 0; heal and heal_all restore the real clock; the
/// timestamp dir is gone after down.
#[test]
fn bump_drift_and_strobe_move_the_nodes_clock() {
    let t = "bump_drift_and_strobe_move_the_nodes_clock";
    if !privileged(t) || !have_libfaketime(t) {
        return;
    }
    let r = report(&selftest(&["clocks"], None), "clocks");
    let near = |k: &str, want: f64, tol: f64| {
        let v = r[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {r}"));
        assert!(
            (v - want).abs() <= tol,
            "{k}: {v} ms, want {want} ± {tol}: {r}"
        );
    };
    assert_eq!(r["node_env_has_preload"], true, "{r}");
    near("before", 0.0, 50.0);
    near("bump_date", 5_000.0, 50.0);
    near("other_node_date", 0.0, 50.0);
    near("two_bumps_date", 5_000.0 - 3_600_000.0, 50.0);
    near("after_overflow_date", 5_000.0 - 3_600_000.0, 50.0);
    assert!(r["overflow"].as_str().unwrap().contains("10 years"), "{r}");
    near("healed_date", 0.0, 50.0);
    near("heal_all_date", 0.0, 50.0);
    let obs = &r["bump_observed"][0];
    assert_eq!(obs["planned_offset_ms"], 5000, "{obs}");
    assert!((obs["observed_offset_ms"].as_f64().unwrap() - 5000.0).abs() < 50.0);
    let ratio = r["drift_rate"]["ratio"].as_f64().unwrap();
    assert!(
        (1.8..=2.2).contains(&ratio),
        "drift x2 measured {ratio}: {r}"
    );
    let ratio = r["healed_rate"]["ratio"].as_f64().unwrap();
    assert!(
        (0.9..=1.1).contains(&ratio),
        "healed drift measured {ratio}: {r}"
    );
    let samples: Vec<f64> = r["strobe_samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(samples.iter().any(|v| v.abs() < 50.0), "{samples:?}");
    assert!(
        samples.iter().any(|v| (v - 10_000.0).abs() < 50.0),
        "{samples:?}"
    );
    near("strobe_rest", 0.0, 100.0);
    assert!(r["clock_dir"].as_str().is_some(), "{r}");
    assert!(
        r["clock_dir_after_down"].is_null(),
        "dir left after down: {r}"
    );
}
