//! The scenarios, one module each, and what they share: running a pass of
//! N operations at bounded concurrency.
//!
//! To add a scenario: a module here with `run(opts) -> Result<XReport,
//! String>`, a variant in [`crate::cli::Command`] and in
//! [`crate::output::Report`].

pub mod idle;
pub mod login;
pub mod messages;
pub mod presence;
pub mod register;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::failure::{Failure, FailureCounts};

/// Runs `op(0..n)` with at most `concurrency` operations in flight and
/// returns the results in index order.
///
/// Workers pull the next index when they finish one, so a slow operation
/// delays only its worker, as with real clients arriving independently.
pub async fn for_each_concurrent<T, F, Fut>(n: usize, concurrency: usize, op: F) -> Vec<T>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency.clamp(1, n.max(1)))
        .map(|_| {
            let (op, next) = (op.clone(), next.clone());
            tokio::spawn(async move {
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break out;
                    }
                    out.push((i, op(i).await));
                }
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for worker in workers {
        // A worker only fails by panicking, which is a bug here; its
        // results are lost rather than the whole run.
        if let Ok(out) = worker.await {
            results.extend(out);
        }
    }
    results.sort_unstable_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Checks a count option.
pub(crate) fn positive(name: &str, value: usize) -> Result<usize, String> {
    if value == 0 { Err(format!("{name} must be at least 1")) } else { Ok(value) }
}

/// How a long-lived session ended: a failure during the run, or only at
/// its close.
pub(crate) enum End {
    Clean,
    Died(Failure),
    CloseFailed,
}

/// Adds a session's end to the run's failures or close errors.
pub(crate) fn count_end(end: End, failures: &mut FailureCounts, close_errors: &mut u64) {
    match end {
        End::Clean => {}
        End::Died(f) => failures.add(&f),
        End::CloseFailed => *close_errors += 1,
    }
}
