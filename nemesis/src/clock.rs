//! Clock faults, per node, with Debian's libfaketime: a sandbox built with
//! [`crate::SandboxConfig::clock_faults`] starts every node with `LD_PRELOAD` of
//! `libfaketime.so.1` and `FAKETIME_TIMESTAMP_FILE` pointing to a file of its own (in a temp
//! dir the sandbox owns). `FAKETIME_NO_CACHE=1` makes libfaketime re-read that file on every
//! clock call, so rewriting it (atomically: write, then rename) moves the node's wall clock
//! at once; `FAKETIME_DONT_FAKE_MONOTONIC=1` leaves CLOCK_MONOTONIC real, so only the wall
//! clock is faulted.
//!
//! The file holds `+S.mmm` (an offset in seconds) and, for a drift, ` xR` (libfaketime's
//! speed syntax). What a node sees: `CLOCK_REALTIME` (and `time`, `gettimeofday`) shifted by
//! the offset; with a drift, wall time elapsed *since the process started* scaled by R (so a
//! drift affects how long a running node believes intervals measured with the wall clock
//! took; a restarted node starts from the offset again). Bumps on one node add up, drifts
//! multiply, a strobe adds its current phase.
//!
//! Nothing lives outside the temp dir and the node processes: the dir is removed at `down`,
//! and [`crate::clean::clean`] removes one whose controller is gone.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::fault::MAX_CLOCK_OFFSET_MS;
use crate::process::owner_tag;

/// Where Debian and others install the preload library.
const LIB_CANDIDATES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/lib64/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
];

/// The prefix of a sandbox's clock dir in the temp dir: `gauntlet-clock-<pid>-<start>-*`.
pub(crate) const DIR_PREFIX: &str = "gauntlet-clock-";

/// Finds `libfaketime.so.1` (the single-threaded-safe build works for threaded programs
/// too as long as the time file is rewritten atomically, which the sandbox does).
pub fn find_libfaketime() -> Result<PathBuf> {
    LIB_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| Error::ClockUnavailable {
            detail: format!(
                "libfaketime.so.1 not found in {}",
                LIB_CANDIDATES.join(", ")
            ),
        })
}

/// One node's active clock faults, by guard id.
#[derive(Debug, Default, Clone)]
struct NodeClock {
    bumps: BTreeMap<u64, i64>,
    drifts: BTreeMap<u64, f64>,
    strobes: BTreeMap<u64, i64>,
}

impl NodeClock {
    /// The total offset (ms, overflow-checked against [`MAX_CLOCK_OFFSET_MS`]) and rate.
    fn total(&self) -> std::result::Result<(i64, f64), String> {
        let mut off: i64 = 0;
        for v in self.bumps.values().chain(self.strobes.values()) {
            off = off
                .checked_add(*v)
                .filter(|o| o.unsigned_abs() <= MAX_CLOCK_OFFSET_MS.unsigned_abs())
                .ok_or_else(|| {
                    format!("the node's offsets add up beyond ±{MAX_CLOCK_OFFSET_MS} ms (10 years)")
                })?;
        }
        Ok((off, self.drifts.values().product()))
    }
}

/// The content of a timestamp file: `+S.mmm` or `-S.mmm`, then ` xR` for a drift.
pub(crate) fn spec(offset_ms: i64, rate: f64) -> String {
    let sign = if offset_ms < 0 { '-' } else { '+' };
    let a = offset_ms.unsigned_abs();
    let mut s = format!("{sign}{}.{:03}", a / 1000, a % 1000);
    if rate != 1.0 {
        s.push_str(&format!(" x{rate}"));
    }
    s
}

type Table = Arc<Mutex<BTreeMap<usize, NodeClock>>>;

#[derive(Debug)]
struct Strobe {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

/// The clock half of a sandbox: the preload, the files, the strobe threads.
#[derive(Debug)]
pub(crate) struct Clocks {
    lib: PathBuf,
    dir: tempfile::TempDir,
    table: Table,
    strobes: Mutex<BTreeMap<u64, Strobe>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn file_of(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("node-{i}.faketime"))
}

/// Rewrites node `i`'s file from the table (write a sibling, then rename over it, so
/// libfaketime never reads half a line).
fn write_node(dir: &Path, table: &Table, i: usize) -> Result<(i64, f64)> {
    let c = lock(table).get(&i).cloned().unwrap_or_default();
    let (off, rate) = c.total().map_err(|detail| Error::BadFault {
        kind: "clock-bump",
        field: "offset_ms",
        detail,
    })?;
    let path = file_of(dir, i);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{}\n", spec(off, rate)))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| Error::io(format!("write the clock file {}", path.display()), e))?;
    Ok((off, rate))
}

impl Clocks {
    /// Finds the library and makes the dir with one `+0.000` file per node.
    pub(crate) fn new(n: usize) -> Result<Clocks> {
        let lib = find_libfaketime()?;
        let prefix = format!("{DIR_PREFIX}{}-", owner_tag().replace(':', "-"));
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir()
            .map_err(|e| Error::io("create the clock dir", e))?;
        let c = Clocks {
            lib,
            dir,
            table: Arc::new(Mutex::new(BTreeMap::new())),
            strobes: Mutex::new(BTreeMap::new()),
        };
        for i in 0..n {
            write_node(c.dir.path(), &c.table, i)?;
        }
        Ok(c)
    }

    /// The dir holding the timestamp files.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The environment a node (or a clock probe) runs with.
    pub(crate) fn env(&self, i: usize) -> Vec<(OsString, OsString)> {
        vec![
            ("LD_PRELOAD".into(), self.lib.clone().into_os_string()),
            (
                "FAKETIME_TIMESTAMP_FILE".into(),
                file_of(self.dir.path(), i).into_os_string(),
            ),
            ("FAKETIME_NO_CACHE".into(), "1".into()),
            ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ]
    }

    /// Adds a bump or drift of guard `id` to the nodes and rewrites their files. An
    /// overflowing sum is refused before any file changes.
    pub(crate) fn add(
        &self,
        id: u64,
        idx: &[usize],
        bump: Option<i64>,
        rate: Option<f64>,
    ) -> Result<()> {
        {
            let mut t = lock(&self.table);
            for &i in idx {
                let mut c = t.get(&i).cloned().unwrap_or_default();
                if let Some(b) = bump {
                    c.bumps.insert(id, b);
                }
                if let Some(r) = rate {
                    c.drifts.insert(id, r);
                }
                c.total().map_err(|detail| Error::BadFault {
                    kind: "clock-bump",
                    field: "offset_ms",
                    detail,
                })?;
            }
            for &i in idx {
                let c = t.entry(i).or_default();
                if let Some(b) = bump {
                    c.bumps.insert(id, b);
                }
                if let Some(r) = rate {
                    c.drifts.insert(id, r);
                }
            }
        }
        for &i in idx {
            write_node(self.dir.path(), &self.table, i)?;
        }
        Ok(())
    }

    /// Starts a strobe: phase `a` written now, then a thread flips between `a` and `b` every
    /// `period` until `duration` passed (then the strobe's part is 0) or the guard heals.
    pub(crate) fn strobe(
        &self,
        id: u64,
        idx: &[usize],
        a: i64,
        b: i64,
        period: Duration,
        duration: Duration,
    ) -> Result<()> {
        let set = |table: &Table, dir: &Path, v: i64| -> Result<()> {
            for &i in idx {
                lock(table).entry(i).or_default().strobes.insert(id, v);
                write_node(dir, table, i)?;
            }
            Ok(())
        };
        // Refuse an overflow before anything is written.
        for v in [a, b] {
            let t = lock(&self.table);
            for &i in idx {
                let mut c = t.get(&i).cloned().unwrap_or_default();
                c.strobes.insert(id, v);
                c.total().map_err(|detail| Error::BadFault {
                    kind: "clock-strobe",
                    field: "a_ms/b_ms",
                    detail,
                })?;
            }
        }
        set(&self.table, self.dir.path(), a)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let (table, dir, idx2, stop2) = (
            self.table.clone(),
            self.dir.path().to_owned(),
            idx.to_vec(),
            stop.clone(),
        );
        let thread = std::thread::Builder::new()
            .name(format!("clock-strobe-{id}"))
            .spawn(move || {
                let end = Instant::now() + duration;
                let mut phase_b = true;
                let (m, cv) = &*stop2;
                let mut stopped = lock(m);
                // Bounded by `duration` (or the stop flag).
                while !*stopped && Instant::now() < end {
                    let wait = period.min(end.saturating_duration_since(Instant::now()));
                    stopped = cv
                        .wait_timeout(stopped, wait)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                    if *stopped || Instant::now() >= end {
                        break;
                    }
                    let v = if phase_b { b } else { a };
                    phase_b = !phase_b;
                    for &i in &idx2 {
                        lock(&table).entry(i).or_default().strobes.insert(id, v);
                        if let Err(e) = write_node(&dir, &table, i) {
                            tracing::error!("clock strobe {id}: {e}");
                        }
                    }
                }
                if !*stopped {
                    for &i in &idx2 {
                        lock(&table).entry(i).or_default().strobes.insert(id, 0);
                        if let Err(e) = write_node(&dir, &table, i) {
                            tracing::error!("clock strobe {id} end: {e}");
                        }
                    }
                }
            })
            .map_err(|e| Error::io("start a clock strobe thread", e))?;
        lock(&self.strobes).insert(id, Strobe { stop, thread });
        Ok(())
    }

    fn stop_strobe(&self, id: u64) {
        if let Some(s) = lock(&self.strobes).remove(&id) {
            *lock(&s.stop.0) = true;
            s.stop.1.notify_all();
            let _ = s.thread.join();
        }
    }

    /// Removes every part of guard `id` from every node and rewrites the files it touched.
    /// A no-op when it is already gone.
    pub(crate) fn remove(&self, id: u64) -> Result<()> {
        self.stop_strobe(id);
        let touched: Vec<usize> = {
            let mut t = lock(&self.table);
            t.iter_mut()
                .filter_map(|(i, c)| {
                    let hit = c.bumps.remove(&id).is_some()
                        | c.drifts.remove(&id).is_some()
                        | c.strobes.remove(&id).is_some();
                    hit.then_some(*i)
                })
                .collect()
        };
        for i in touched {
            write_node(self.dir.path(), &self.table, i)?;
        }
        Ok(())
    }

    /// Stops every strobe and resets every node's clock to the real one.
    pub(crate) fn clear(&self) -> Result<()> {
        let ids: Vec<u64> = lock(&self.strobes).keys().copied().collect();
        for id in ids {
            self.stop_strobe(id);
        }
        let nodes: Vec<usize> = {
            let mut t = lock(&self.table);
            let n = t.keys().copied().collect();
            t.clear();
            n
        };
        for i in nodes {
            write_node(self.dir.path(), &self.table, i)?;
        }
        Ok(())
    }

    /// The node's planned offset (ms) and rate now.
    pub(crate) fn planned(&self, i: usize) -> (i64, f64) {
        lock(&self.table)
            .get(&i)
            .cloned()
            .unwrap_or_default()
            .total()
            .unwrap_or((0, 1.0))
    }

    /// Asks the node's clock: runs `date +%s%N` under the node's preload and returns the
    /// offset it showed against the real clock (ms, relative to the middle of the real
    /// interval around the call) and half that interval (the measurement's uncertainty).
    pub(crate) fn observe(&self, i: usize) -> Result<(f64, f64)> {
        let mut cmd = Command::new("date");
        cmd.arg("+%s%N");
        for (k, v) in self.env(i) {
            cmd.env(k, v);
        }
        let now_ns = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as f64)
                .unwrap_or(0.0)
        };
        let r0 = now_ns();
        let out = cmd
            .output()
            .map_err(|e| Error::io("run `date` under libfaketime", e))?;
        let r1 = now_ns();
        let text = String::from_utf8_lossy(&out.stdout);
        let fake: f64 = text.trim().parse().map_err(|_| Error::Command {
            command: "date +%s%N (under libfaketime)".into(),
            status: out.status.to_string(),
            stderr: format!(
                "printed {:?}; {}",
                text.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })?;
        Ok(((fake - (r0 + r1) / 2.0) / 1e6, (r1 - r0) / 2.0 / 1e6))
    }

    /// Stops the strobes (the dir goes when the value is dropped).
    pub(crate) fn shutdown(&self) {
        let ids: Vec<u64> = lock(&self.strobes).keys().copied().collect();
        for id in ids {
            self.stop_strobe(id);
        }
    }
}

impl Drop for Clocks {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Clock dirs in `tmp` whose controller (pid + start time in the name) is gone.
pub(crate) fn orphan_dirs(tmp: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(tmp) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let rest = name.strip_prefix(DIR_PREFIX)?;
            let mut parts = rest.splitn(3, '-');
            let pid: u32 = parts.next()?.parse().ok()?;
            let start: u64 = parts.next()?.parse().ok()?;
            (crate::process::start_time(pid) != Some(start)).then(|| e.path())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_spells_offsets_and_rates_as_libfaketime_reads_them() {
        assert_eq!(spec(0, 1.0), "+0.000");
        assert_eq!(spec(2500, 1.0), "+2.500");
        assert_eq!(spec(-3_600_000, 1.0), "-3600.000");
        assert_eq!(spec(-5, 1.01), "-0.005 x1.01");
    }

    /// Offsets add up; a sum beyond the bound is an error, not a wrapped value.
    #[test]
    fn offsets_add_and_overflow_is_refused() {
        let mut c = NodeClock::default();
        c.bumps.insert(1, 1000);
        c.bumps.insert(2, -250);
        c.drifts.insert(3, 2.0);
        assert_eq!(c.total().unwrap(), (750, 2.0));
        c.bumps.insert(4, MAX_CLOCK_OFFSET_MS);
        assert!(c.total().unwrap_err().contains("10 years"));
        c.bumps.insert(5, i64::MAX);
        assert!(c.total().is_err());
    }

    /// A dir named for a live controller (this process) is not an orphan; one named for a
    /// pid that does not exist is.
    #[test]
    fn orphan_clock_dirs_are_those_of_dead_controllers() {
        let tmp = tempfile::tempdir().unwrap();
        let mine = tmp
            .path()
            .join(format!("{DIR_PREFIX}{}-x", owner_tag().replace(':', "-")));
        let dead = tmp.path().join(format!("{DIR_PREFIX}999999999-1-x"));
        std::fs::create_dir(&mine).unwrap();
        std::fs::create_dir(&dead).unwrap();
        assert_eq!(orphan_dirs(tmp.path()), vec![dead]);
    }
}
