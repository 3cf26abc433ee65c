//! Process tests of the node's clocks: `GET /time` shows a wall-clock fault, and the planted
//! bug `lease-by-wall-clock` re-grants a live lease after a wall-clock jump ahead, which the
//! correct node (leases by the monotonic clock) refuses. The clock is moved per process with
//! Debian's libfaketime, as the harness's clock faults do (nemesis/src/clock.rs).
// A process test: reading the host clock is what it checks (clippy.toml bans it in the core).
#![allow(clippy::disallowed_methods)]

use node_bin::testkit::Cluster;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_gauntlet-node");

const LIBFAKETIME: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
];

/// The preload, or `None` after saying why the test is skipped. Under `CI=true` a missing
/// libfaketime fails the test (CI installs it: .ci/run).
fn libfaketime() -> Option<PathBuf> {
    let found = LIBFAKETIME.iter().map(PathBuf::from).find(|p| p.is_file());
    if found.is_none() {
        let why = "libfaketime.so.1 is not installed (apt-get install libfaketime)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("SKIPPED: {why}");
    }
    found
}

/// The environment that puts a node's wall clock under the timestamp file `file`.
fn faked(lib: &Path, file: &Path) -> Vec<(String, String)> {
    vec![
        ("LD_PRELOAD".into(), lib.display().to_string()),
        ("FAKETIME_TIMESTAMP_FILE".into(), file.display().to_string()),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}

/// Sets the offset every process under `file` sees (written aside, then renamed).
fn set_offset(file: &Path, secs: i64) {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, format!("{secs:+}.000\n")).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

fn real_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// The wall clock's offset from the real one that node `i` reports in `GET /time`.
async fn offset_ms(c: &Cluster, i: usize) -> f64 {
    let before = real_ms();
    let (s, v) = c.get(i, "/time").await;
    let after = real_ms();
    assert_eq!(s, 200, "GET /time: {v}");
    assert!(v["monotonic_ms"].as_f64().unwrap() > 0.0, "{v}");
    v["wall_ms"].as_f64().unwrap() - (before + after) / 2.0
}

/// Proves `GET /time` reports the node's own (faulted) wall clock: about 0 ms off with the
/// file at +0, about +3600 s once the file says so, about -90 s after that, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_endpoint_shows_a_wall_clock_fault() {
    let Some(lib) = libfaketime() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clock");
    set_offset(&file, 0);
    let c = Cluster::start_env(BIN, 1, &[], &faked(&lib, &file)).await;
    // The bound is the HTTP round trip plus libfaketime's millisecond file: generous, as the
    // point is the hours between the cases.
    let near = |got: f64, want: f64| (got - want).abs() < 2_000.0;
    let o = offset_ms(&c, 0).await;
    assert!(near(o, 0.0), "offset {o} ms with the file at +0");
    set_offset(&file, 3600);
    let o = offset_ms(&c, 0).await;
    assert!(
        near(o, 3_600_000.0),
        "offset {o} ms with the file at +3600 s"
    );
    set_offset(&file, -90);
    let o = offset_ms(&c, 0).await;
    assert!(near(o, -90_000.0), "offset {o} ms with the file at -90 s");
}

/// Proves the planted bug `lease-by-wall-clock`: a 60 s lease, then every node's wall clock
/// jumps 120 s ahead; the bug's acceptors see the lease as 120 s old and grant the lock to a
/// second client (200), while correct nodes, ageing leases by the monotonic clock, refuse (409).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_lease_by_wall_clock_regrants_after_a_jump_ahead() {
    let Some(lib) = libfaketime() else { return };
    for bug in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clock");
        set_offset(&file, 0);
        let extra: &[&str] = if bug {
            &["--bug", "lease-by-wall-clock"]
        } else {
            &[]
        };
        let c = Cluster::start_env(BIN, 3, extra, &faked(&lib, &file)).await;
        assert_eq!(c.acquire(0, "l", "pa", 60_000).await.0, 200, "bug={bug}");
        set_offset(&file, 120);
        for i in 0..3 {
            let o = offset_ms(&c, i).await;
            assert!((o - 120_000.0).abs() < 2_000.0, "n{}: offset {o}", i + 1);
        }
        let (s, v) = c.acquire(1, "l", "pb", 60_000).await;
        let want = if bug { 200 } else { 409 };
        assert_eq!(s, want, "bug={bug}: {v}");
        drop(c);
    }
}
