//! Progress lines on stderr, one per second, so an operator watching a long
//! run sees it move (and sees it stall). stdout stays reserved for the
//! JSON result.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// A ticker printing `[  3.0s] phase: <line>` every second until dropped.
pub struct Progress {
    ticker: JoinHandle<()>,
}

impl Progress {
    /// Starts printing; `line` is called once a second with the time since
    /// the start and returns the text after the phase name.
    pub fn start(phase: &str, line: impl Fn(Duration) -> String + Send + 'static) -> Progress {
        let phase = phase.to_owned();
        let started = Instant::now();
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_secs(1));
            interval.tick().await; // the first tick is immediate
            loop {
                interval.tick().await;
                let elapsed = started.elapsed();
                eprintln!("[{:6.1}s] {phase}: {}", elapsed.as_secs_f64(), line(elapsed));
            }
        });
        Progress { ticker }
    }

    /// The usual line for a pass of N operations: done/total, failures, rate.
    pub fn counting(phase: &str, counters: Arc<Counters>, total: usize) -> Progress {
        // (time, done) at the previous line, for the rate over the last second.
        let last = std::sync::Mutex::new((Duration::ZERO, 0u64));
        Progress::start(phase, move |elapsed| {
            let done = counters.done.load(Ordering::Relaxed);
            let failed = counters.failed.load(Ordering::Relaxed);
            let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
            let rate = (done - last.1) as f64 / (elapsed - last.0).as_secs_f64().max(1e-3);
            *last = (elapsed, done);
            format!("{done}/{total} done, {failed} failed, {rate:.0}/s")
        })
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

/// Shared counters of a pass: operations finished (ok or not) and failed.
#[derive(Debug, Default)]
pub struct Counters {
    pub done: AtomicU64,
    pub failed: AtomicU64,
}

impl Counters {
    pub fn new() -> Arc<Counters> {
        Arc::new(Counters::default())
    }

    pub fn finished(&self, ok: bool) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}
