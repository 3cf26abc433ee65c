//! One low-priority thread for bulk work (encoding and decoding large task lists), so that a
//! quorum read of many tasks competes for the CPU with the core and network threads only at
//! a lower priority (nice +5) and one at a time, and never delays SWIM acks into false
//! suspicions.

use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

fn queue() -> &'static Mutex<Sender<Job>> {
    static QUEUE: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("bulk".into())
            .spawn(move || {
                // SAFETY: setpriority on the calling thread (who = 0 means this thread on Linux);
                // it only lowers this thread's own scheduling priority.
                let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 5) };
                if rc != 0 {
                    tracing::debug!("could not lower the bulk thread's priority");
                }
                while let Ok(job) = rx.recv() {
                    job();
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot spawn the bulk thread");
        }
        Mutex::new(tx)
    })
}

/// Runs `f` on the bulk thread and waits for its result (`None` if the thread is gone).
pub async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    let sent = queue().lock().map(|q| q.send(job).is_ok()).unwrap_or(false);
    if !sent {
        return None;
    }
    rx.await.ok()
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn runs_jobs_and_returns_results() {
        assert_eq!(super::run(|| 2 + 2).await, Some(4));
    }
}
