//! `login`: N complete logins (TCP, TLS, SASL, bind, presence, close) at
//! concurrency C. Latency is from the start of the TCP connect to the bind
//! result; the rate counts successful logins over the whole pass,
//! including the clean closes.
//!
//! With a SCRAM mechanism an unmeasured warm-up pass first logs every user
//! in once, filling the client's SaltedPassword cache (see
//! [`crate::scram_cache`]), so that the measured pass costs the client one
//! HMAC per login, as for a real client, instead of a PBKDF2.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{for_each_concurrent, positive};
use crate::cli::{LoginOpts, MechanismOpt};
use crate::client;
use crate::failure::{Failure, FailureCounts};
use crate::progress::{Counters, Progress};
use crate::stats::{Histogram, LatencyMs, round3};
use crate::target::{RunInfo, Target};

/// The JSON result of `login`.
#[derive(Debug, Clone, Serialize)]
pub struct LoginReport {
    #[serde(flatten)]
    pub info: RunInfo,
    pub users: usize,
    pub sessions: usize,
    pub concurrency: usize,
    /// Whether the SCRAM cache warm-up pass ran.
    pub warmup: bool,
    pub ok: u64,
    pub failed: u64,
    pub logins_per_sec: f64,
    /// Connect → bind result, successful logins only.
    pub latency_ms: LatencyMs,
    /// Failed logins by cause.
    pub failures: BTreeMap<String, u64>,
    /// Logged-in sessions whose clean close did not complete.
    pub close_errors: u64,
    pub duration_s: f64,
}

/// What one login attempt gives.
struct Outcome {
    result: Result<Duration, Failure>,
    closed_cleanly: bool,
}

pub async fn run(opts: LoginOpts) -> Result<LoginReport, String> {
    let users = positive("--users", opts.users)?;
    let concurrency = positive("--concurrency", opts.concurrency)?;
    let sessions = positive("--sessions", opts.sessions.unwrap_or(users))?;
    let target = Arc::new(Target::resolve(&opts.connect).await?);

    let warmup = opts.connect.mechanism != MechanismOpt::Plain && !opts.no_warmup;
    if warmup {
        let outcomes = pass(&target, "login warm-up", sessions.min(users), users, concurrency).await;
        let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
        if failed > 0 {
            eprintln!("login warm-up: {failed} logins failed (they will be measured with a cold cache)");
        }
    }

    let started = Instant::now();
    let outcomes = pass(&target, "login", sessions, users, concurrency).await;
    let duration = started.elapsed();

    let mut latency = Histogram::new();
    let mut failures = FailureCounts::default();
    let mut close_errors = 0;
    for outcome in &outcomes {
        match &outcome.result {
            Ok(d) => {
                latency.record(*d);
                close_errors += u64::from(!outcome.closed_cleanly);
            }
            Err(f) => failures.add(f),
        }
    }
    let ok = latency.count();
    Ok(LoginReport {
        info: target.info.clone(),
        users,
        sessions,
        concurrency,
        warmup,
        ok,
        failed: failures.total(),
        logins_per_sec: round3(ok as f64 / duration.as_secs_f64().max(1e-9)),
        latency_ms: latency.summary_ms(),
        failures: failures.0,
        close_errors,
        duration_s: round3(duration.as_secs_f64()),
    })
}

/// Logs `sessions` sessions in and out, session i as user i mod `users`.
async fn pass(target: &Arc<Target>, phase: &str, sessions: usize, users: usize, concurrency: usize) -> Vec<Outcome> {
    let counters = Counters::new();
    let _progress = Progress::counting(phase, counters.clone(), sessions);
    let target = target.clone();
    for_each_concurrent(sessions, concurrency, move |i| {
        let (target, counters) = (target.clone(), counters.clone());
        async move {
            // With more sessions than users, concurrent sessions of one user
            // get distinct resources, so the server sees no resource
            // conflict: round r > 0 binds RESOURCE-r.
            let round = i / users;
            let resource = if round == 0 { target.resource.clone() } else { format!("{}-{round}", target.resource) };
            let outcome = login_once(&target, &target.user(i % users), &resource).await;
            counters.finished(outcome.result.is_ok());
            outcome
        }
    })
    .await
}

async fn login_once(target: &Target, user: &str, resource: &str) -> Outcome {
    match client::login_as(target, user, resource).await {
        Ok(session) => {
            let latency = session.login_latency;
            let closed_cleanly = session.conn.close().await.is_ok();
            Outcome { result: Ok(latency), closed_cleanly }
        }
        Err(f) => Outcome { result: Err(f), closed_cleanly: false },
    }
}
