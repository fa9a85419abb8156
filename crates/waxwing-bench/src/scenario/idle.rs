//! `idle`: log N sessions in (one per user), hold them, and report how
//! much resident memory the server needs per session:
//! `(RSS after - RSS before) / established`, where RSS is that of `--pid`
//! and all its descendants, each measured after `--settle` seconds of
//! quiet. Then every session is closed cleanly.
//!
//! Measure against a freshly started server: allocators keep memory freed
//! by earlier runs and reuse it, so a warm server shows (much) less growth.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::watch;

use super::{for_each_concurrent, positive};
use crate::cli::IdleOpts;
use crate::client;
use crate::failure::{Failure, FailureCounts, Step};
use crate::progress::{Counters, Progress};
use crate::rss;
use crate::stats::round3;
use crate::target::{RunInfo, Target, seconds};

/// The JSON result of `idle`.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    #[serde(flatten)]
    pub info: RunInfo,
    pub sessions: usize,
    pub concurrency: usize,
    /// Sessions logged in and held.
    pub established: u64,
    pub failed: u64,
    /// Login failures, and held sessions the server dropped, by cause.
    pub failures: BTreeMap<String, u64>,
    pub pid: Option<u32>,
    pub rss_kib_before: Option<u64>,
    pub rss_kib_after: Option<u64>,
    /// `(after - before) / established`; may be negative if the server
    /// returned memory to the OS meanwhile.
    pub kib_per_session: Option<f64>,
    pub settle_s: f64,
    pub login_duration_s: f64,
    pub logins_per_sec: f64,
    /// Held sessions that ended before we closed them.
    pub dropped: u64,
    pub close_errors: u64,
}

pub async fn run(opts: IdleOpts) -> Result<IdleReport, String> {
    let users = positive("--users", opts.users)?;
    let concurrency = positive("--concurrency", opts.concurrency)?;
    let settle = seconds("--settle", opts.settle)?;
    let hold = seconds("--hold", opts.hold)?;
    let target = Arc::new(Target::resolve(&opts.connect).await?);
    let measure = |what: &str| -> Result<Option<u64>, String> {
        opts.pid.map(|pid| rss::tree_rss_kib(pid).map_err(|e| format!("--pid {pid}: {e} ({what})"))).transpose()
    };

    tokio::time::sleep(settle).await;
    let before = measure("before")?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let counters = Counters::new();
    let started = Instant::now();
    let results = {
        let _progress = Progress::counting("idle login", counters.clone(), users);
        let target = target.clone();
        for_each_concurrent(users, concurrency, move |i| {
            let (target, counters, stop) = (target.clone(), counters.clone(), stop_rx.clone());
            async move {
                let result = client::login(&target, &target.user(i)).await;
                counters.finished(result.is_ok());
                // Each held session is its own task: it answers pings and
                // closes when told to.
                result.map(|session| tokio::spawn(session.conn.hold(stop)))
            }
        })
        .await
    };
    let login_duration = started.elapsed();

    let mut failures = FailureCounts::default();
    let mut holders = Vec::new();
    for result in results {
        match result {
            Ok(holder) => holders.push(holder),
            Err(f) => failures.add(&f),
        }
    }
    let established = holders.len() as u64;
    eprintln!("idle: {established} sessions established, settling for {:.1}s", settle.as_secs_f64());
    tokio::time::sleep(settle).await;
    let after = measure("after")?;
    tokio::time::sleep(hold).await;

    // A held session ending in anything but a (failed) close was ended by
    // the server while we held it.
    let mut dropped = 0;
    let mut close_errors = 0;
    let _ = stop_tx.send(true);
    {
        let _progress = Progress::start("idle close", |_| "closing sessions".into());
        for holder in holders {
            match holder.await {
                Ok(Ok(())) => {}
                Ok(Err(Failure::Timeout(Step::Close) | Failure::Io(Step::Close))) => close_errors += 1,
                Ok(Err(f)) => {
                    dropped += 1;
                    failures.add(&f);
                }
                Err(_) => dropped += 1,
            }
        }
    }

    let kib_per_session = match (before, after) {
        (Some(b), Some(a)) if established > 0 => Some(round3((a as f64 - b as f64) / established as f64)),
        _ => None,
    };
    Ok(IdleReport {
        info: target.info.clone(),
        sessions: users,
        concurrency,
        established,
        failed: users as u64 - established,
        failures: failures.0,
        pid: opts.pid,
        rss_kib_before: before,
        rss_kib_after: after,
        kib_per_session,
        settle_s: round3(settle.as_secs_f64()),
        login_duration_s: round3(login_duration.as_secs_f64()),
        logins_per_sec: round3(established as f64 / login_duration.as_secs_f64().max(1e-9)),
        dropped,
        close_errors,
    })
}
