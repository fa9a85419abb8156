//! `messages`: one-to-one chat messages between P sender→receiver pairs
//! (pair k: PREFIX{2k} → PREFIX{2k+1}'s full JID).
//!
//! Each message body is `wxb SEQ SENT_US[ padding]`: a per-pair sequence
//! number and the send time in microseconds on this process's monotonic
//! clock, so the receiver (same process) computes latency directly and
//! detects duplicates and reordering. Only the body is used, since servers
//! must route it untouched while some rewrite ids.
//!
//! Modes:
//! - `--window W` (default 16): flat out, at most W messages per pair sent
//!   but not yet seen by the receiver; the receiver seeing a message frees
//!   its slot (no XEP-0184 receipts: both ends are in this process);
//! - `--rate R`: R messages per second in total, paced per pair at R/P with
//!   the deficit since the start sent at each tick, so timer jitter does not
//!   lower the rate.
//!
//! Timeline: logins (not measured), warm-up, measured duration, then a
//! drain until every sent message has arrived or `--drain` expires. Rates
//! and latencies count messages *sent* during the measured duration; loss
//! and duplicates count all messages.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, MissedTickBehavior};
use waxwing_xml::{Element, StreamEvent};

use super::{End, count_end, for_each_concurrent, positive};
use crate::cli::MessagesOpts;
use crate::client::{self, Connection, NS_CLIENT, Session};
use crate::failure::{Failure, FailureCounts, Step};
use crate::progress::Progress;
use crate::stats::{Histogram, LatencyMs, round3};
use crate::target::{RunInfo, Target, seconds};

/// The JSON result of `messages`.
#[derive(Debug, Clone, Serialize)]
pub struct MessagesReport {
    #[serde(flatten)]
    pub info: RunInfo,
    /// `"window"` or `"rate"`.
    pub mode: &'static str,
    pub pairs: usize,
    /// Pairs whose two sessions both logged in.
    pub active_pairs: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<usize>,
    /// Requested total rate (msgs/s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Messages sent during the measured duration.
    pub sent: u64,
    /// Of those, how many arrived.
    pub delivered: u64,
    /// `delivered / duration`.
    pub delivered_per_sec: f64,
    /// Send → receive, messages sent during the measured duration.
    pub latency_ms: LatencyMs,
    /// Messages sent (warm-up included) that never arrived.
    pub lost: u64,
    /// Messages that arrived more than once (extra copies).
    pub duplicated: u64,
    /// Messages that arrived after a later one of the same pair.
    pub out_of_order: u64,
    /// `<message type='error'/>` bounced to senders.
    pub message_errors: u64,
    /// Benchmark-looking messages with a sequence number never sent.
    pub unexpected: u64,
    /// Login failures and sessions that died during the run, by cause.
    pub failures: BTreeMap<String, u64>,
    pub close_errors: u64,
}

/// Messages per write: enough to amortise syscalls and TLS records, small
/// enough to keep latency honest.
const MAX_BATCH: usize = 64;
/// Receivers read in large chunks: one read then yields many messages.
const RECEIVER_READ_BUFFER: usize = 64 * 1024;

/// How senders are paced.
#[derive(Debug, Clone, Copy)]
enum Pace {
    Window(usize),
    /// Messages per second for one pair.
    Rate(f64),
}

/// What a pair's sender and receiver share.
struct Pair {
    /// Highest sequence number sent + 1 (incremented before writing).
    sent: AtomicU64,
    /// Distinct messages received.
    received: AtomicU64,
    /// Free window slots (window mode only).
    window: Option<Semaphore>,
    message_errors: AtomicU64,
}

/// The run's timeline, in microseconds since `base`.
#[derive(Debug, Clone, Copy)]
struct Clock {
    base: Instant,
    measure_from_us: u64,
    end_us: u64,
}

impl Clock {
    fn now_us(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }

    fn at(&self, us: u64) -> Instant {
        self.base + Duration::from_micros(us)
    }
}

/// What a receiver found.
#[derive(Debug, Default)]
struct ReceiverStats {
    latency: Histogram,
    /// Messages sent in the measured window that arrived.
    delivered: u64,
    duplicated: u64,
    out_of_order: u64,
    unexpected: u64,
}

pub async fn run(opts: MessagesOpts) -> Result<MessagesReport, String> {
    let pairs = positive("--pairs", opts.pairs)?;
    let concurrency = positive("--concurrency", opts.concurrency)?;
    let duration = seconds("--duration", opts.duration)?;
    let warmup = seconds("--warmup", opts.warmup)?;
    let drain = seconds("--drain", opts.drain)?;
    if duration.is_zero() {
        return Err("--duration must be positive".into());
    }
    let (mode, pace) = match (opts.window, opts.rate) {
        (_, Some(rate)) if !(rate.is_finite() && rate > 0.0) => return Err("--rate must be positive".into()),
        (_, Some(rate)) => ("rate", Pace::Rate(rate / pairs as f64)),
        (window, None) => ("window", Pace::Window(positive("--window", window.unwrap_or(16))?)),
    };
    let target = Arc::new(Target::resolve(&opts.connect).await?);

    // Log in every session; pair k is sessions 2k (sender) and 2k+1.
    let logins = {
        let target = target.clone();
        let _progress = Progress::start("messages login", |_| "logging in the pairs".into());
        for_each_concurrent(2 * pairs, concurrency, move |i| {
            let target = target.clone();
            async move { client::login(&target, &target.user(i)).await }
        })
        .await
    };
    let mut failures = FailureCounts::default();
    let mut close_errors = 0;
    let mut active = Vec::new();
    let mut logins = logins.into_iter();
    while let (Some(sender), Some(receiver)) = (logins.next(), logins.next()) {
        match (sender, receiver) {
            (Ok(s), Ok(r)) => active.push((s, r)),
            (s, r) => {
                for result in [s, r] {
                    match result {
                        Ok(session) => close_errors += u64::from(session.conn.close().await.is_err()),
                        Err(f) => failures.add(&f),
                    }
                }
            }
        }
    }
    let active_pairs = active.len();
    if active_pairs == 0 {
        eprintln!("messages: no pair could log in");
    }
    // Per-pair pace for the pairs that actually run.
    let pace = match pace {
        Pace::Rate(_) if active_pairs > 0 => Pace::Rate(opts.rate.unwrap_or(0.0) / active_pairs as f64),
        other => other,
    };

    let base = Instant::now();
    let measure_from_us = warmup.as_micros() as u64;
    let clock = Clock { base, measure_from_us, end_us: measure_from_us + duration.as_micros() as u64 };
    let padding = if opts.body_padding == 0 { String::new() } else { format!(" {}", "x".repeat(opts.body_padding)) };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shared = Vec::new();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for (k, (sender, mut receiver)) in active.into_iter().enumerate() {
        let pair = Arc::new(Pair {
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            window: match pace {
                Pace::Window(w) => Some(Semaphore::new(w)),
                Pace::Rate(_) => None,
            },
            message_errors: AtomicU64::new(0),
        });
        shared.push(pair.clone());
        receiver.conn.set_read_buffer(RECEIVER_READ_BUFFER);
        let to = client::attr(&receiver.jid);
        // Spread the pairs' ticks over one period instead of all at once.
        let offset = k as f64 / active_pairs as f64;
        let (p, stop, padding, timeout) = (pair.clone(), stop_rx.clone(), padding.clone(), target.timeout);
        senders.push(tokio::spawn(async move {
            sender_task(sender, &p, &to, clock, pace, offset, &padding, timeout, stop).await
        }));
        receivers.push(tokio::spawn(receiver_task(receiver.conn, pair, clock, stop_rx.clone())));
    }

    let totals = {
        let shared = shared.clone();
        move || {
            let sent: u64 = shared.iter().map(|p| p.sent.load(Ordering::Relaxed)).sum();
            let received: u64 = shared.iter().map(|p| p.received.load(Ordering::Relaxed)).sum();
            (sent, received)
        }
    };
    {
        let progress_totals = totals.clone();
        // Totals at the previous line, for per-second rates.
        let last = std::sync::Mutex::new((0u64, 0u64));
        let _progress = Progress::start("messages", move |elapsed| {
            let (sent, received) = progress_totals();
            let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
            let line = format!(
                "{}sent {sent} ({}/s), received {received} ({}/s), in flight {}",
                if elapsed < warmup { "warm-up, " } else { "" },
                sent - last.0,
                received - last.1,
                sent.saturating_sub(received)
            );
            *last = (sent, received);
            line
        });
        tokio::time::sleep_until(clock.at(clock.end_us)).await;
        // Drain: wait for what is still in flight.
        let drain_end = Instant::now() + drain;
        loop {
            let (sent, received) = totals();
            if received >= sent || Instant::now() >= drain_end {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let _ = stop_tx.send(true);

    let mut stats = ReceiverStats::default();
    for receiver in receivers {
        let Ok((pair_stats, result)) = receiver.await else { continue };
        stats.latency.merge(&pair_stats.latency);
        stats.delivered += pair_stats.delivered;
        stats.duplicated += pair_stats.duplicated;
        stats.out_of_order += pair_stats.out_of_order;
        stats.unexpected += pair_stats.unexpected;
        count_end(result, &mut failures, &mut close_errors);
    }
    let mut sent_measured = 0;
    for sender in senders {
        let Ok((sent, result)) = sender.await else { continue };
        sent_measured += sent;
        count_end(result, &mut failures, &mut close_errors);
    }
    let (sent_total, received_total) = totals();
    Ok(MessagesReport {
        info: target.info.clone(),
        mode,
        pairs,
        active_pairs,
        window: opts.window.or(if mode == "window" { Some(16) } else { None }),
        rate: opts.rate,
        duration_s: round3(duration.as_secs_f64()),
        warmup_s: round3(warmup.as_secs_f64()),
        sent: sent_measured,
        delivered: stats.delivered,
        delivered_per_sec: round3(stats.delivered as f64 / duration.as_secs_f64()),
        latency_ms: stats.latency.summary_ms(),
        lost: sent_total.saturating_sub(received_total),
        duplicated: stats.duplicated,
        out_of_order: stats.out_of_order,
        message_errors: shared.iter().map(|p| p.message_errors.load(Ordering::Relaxed)).sum(),
        unexpected: stats.unexpected,
        failures: failures.0,
        close_errors,
    })
}

/// Sends until the end of the measured duration, then keeps the session
/// (answering pings) until stopped and closes it. Returns the number of
/// messages sent in the measured window.
#[allow(clippy::too_many_arguments)]
async fn sender_task(
    session: Session,
    pair: &Pair,
    to: &str,
    clock: Clock,
    pace: Pace,
    offset: f64,
    padding: &str,
    timeout: Duration,
    stop: watch::Receiver<bool>,
) -> (u64, End) {
    let mut conn = session.conn;
    let mut sender = Sender { pair, to, clock, padding, measured: 0, batch: Vec::with_capacity(8192) };
    if let Err(f) = sender.send_until_end(&mut conn, pace, offset, timeout).await {
        return (sender.measured, End::Died(f));
    }
    let end = match conn.hold(stop).await {
        Ok(()) => End::Clean,
        Err(Failure::Timeout(Step::Close) | Failure::Io(Step::Close)) => End::CloseFailed,
        Err(f) => End::Died(f),
    };
    (sender.measured, end)
}

struct Sender<'a> {
    pair: &'a Pair,
    /// The receiver's full JID, attribute-escaped.
    to: &'a str,
    clock: Clock,
    padding: &'a str,
    /// Messages sent in the measured window.
    measured: u64,
    batch: Vec<u8>,
}

impl Sender<'_> {
    async fn send_until_end(
        &mut self,
        conn: &mut Connection,
        pace: Pace,
        offset: f64,
        timeout: Duration,
    ) -> Result<(), Failure> {
        let end = self.clock.at(self.clock.end_us);
        let mut ticker = match pace {
            Pace::Rate(per_pair) => {
                // Tick at the message period, but not faster than 1 kHz
                // (tokio timers have millisecond resolution); each tick
                // sends whatever the schedule says is due.
                let period = Duration::from_secs_f64((1.0 / per_pair).max(0.001));
                let first = self.clock.base + period.mul_f64(offset);
                let mut ticker = tokio::time::interval_at(first, period);
                ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
                Some(Ticker { interval: ticker, per_pair, phase: 1.0 - offset })
            }
            Pace::Window(_) => None,
        };
        loop {
            while let Some(event) = conn.poll_event()? {
                self.handle_event(conn, event).await?;
            }
            let n = tokio::select! {
                biased;
                () = tokio::time::sleep_until(end) => return Ok(()),
                read = conn.read_more(Step::Session) => { read?; continue; }
                n = next_batch(self.pair, ticker.as_mut(), &self.clock) => n,
            };
            if n == 0 {
                continue;
            }
            self.write_batch(conn, n, end + timeout).await?;
        }
    }

    /// Writes `n` messages in one go. A write still blocked `deadline`
    /// (server not reading) fails the session.
    async fn write_batch(&mut self, conn: &mut Connection, n: u64, deadline: Instant) -> Result<(), Failure> {
        use std::fmt::Write;
        self.batch.clear();
        let mut text = String::with_capacity(256 * n as usize);
        let now_us = self.clock.now_us();
        let first = self.pair.sent.fetch_add(n, Ordering::AcqRel);
        for seq in first..first + n {
            let _ = write!(
                text,
                "<message to='{}' type='chat' id='{seq}'><body>wxb {seq} {now_us}{}</body></message>",
                self.to, self.padding
            );
        }
        if now_us >= self.clock.measure_from_us && now_us < self.clock.end_us {
            self.measured += n;
        }
        self.batch.extend_from_slice(text.as_bytes());
        match tokio::time::timeout_at(deadline, conn.send_untimed(&self.batch)).await {
            Err(_) => Err(Failure::Timeout(Step::Session)),
            Ok(result) => result,
        }
    }

    async fn handle_event(&mut self, conn: &mut Connection, event: StreamEvent) -> Result<(), Failure> {
        match event {
            StreamEvent::Stanza(el) if el.is("message", NS_CLIENT) && el.attr("type") == Some("error") => {
                self.pair.message_errors.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            other => conn.handle_other(other).await,
        }
    }
}

/// Rate-mode pacing of one sender.
struct Ticker {
    interval: tokio::time::Interval,
    per_pair: f64,
    /// Message j is due at `(j + 1 - phase) / per_pair` seconds: pairs are
    /// staggered over one period rather than all sending at once.
    phase: f64,
}

/// Waits until messages may be sent and says how many.
async fn next_batch(pair: &Pair, ticker: Option<&mut Ticker>, clock: &Clock) -> u64 {
    match (ticker, &pair.window) {
        (Some(ticker), _) => {
            ticker.interval.tick().await;
            let due = (clock.base.elapsed().as_secs_f64() * ticker.per_pair + ticker.phase) as u64;
            // After a stall, catch up in bounded bursts.
            due.saturating_sub(pair.sent.load(Ordering::Relaxed)).min(16 * MAX_BATCH as u64)
        }
        (None, Some(window)) => {
            let Ok(permit) = window.acquire().await else { return 0 };
            permit.forget();
            let mut n = 1;
            while n < MAX_BATCH as u64 {
                let Ok(permit) = window.try_acquire() else { break };
                permit.forget();
                n += 1;
            }
            n
        }
        (None, None) => std::future::pending().await,
    }
}

/// Receives until stopped, then closes the session.
async fn receiver_task(
    mut conn: Connection,
    pair: Arc<Pair>,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
) -> (ReceiverStats, End) {
    let mut receiver =
        Receiver { pair: &pair, clock, stats: ReceiverStats::default(), seen: Vec::new(), highest: None };
    let result: Result<(), Failure> = async {
        loop {
            while let Some(event) = conn.poll_event()? {
                match event {
                    StreamEvent::Stanza(el) if receiver.is_bench_message(&el) => receiver.record(&el),
                    other => conn.handle_other(other).await?,
                }
            }
            if *stop.borrow_and_update() {
                return Ok(());
            }
            tokio::select! {
                read = conn.read_more(Step::Session) => read?,
                changed = stop.changed() => if changed.is_err() { return Ok(()) },
            }
        }
    }
    .await;
    let stats = receiver.stats;
    let end = match result {
        Err(f) => End::Died(f),
        Ok(()) => match conn.close().await {
            Ok(()) => End::Clean,
            Err(_) => End::CloseFailed,
        },
    };
    (stats, end)
}

struct Receiver<'a> {
    pair: &'a Pair,
    clock: Clock,
    stats: ReceiverStats,
    /// Bit set of the sequence numbers received.
    seen: Vec<u64>,
    highest: Option<u64>,
}

impl Receiver<'_> {
    fn is_bench_message(&self, el: &Element) -> bool {
        el.is("message", NS_CLIENT) && el.attr("type") != Some("error")
    }

    /// Accounts for one received message.
    fn record(&mut self, el: &Element) {
        let now_us = self.clock.now_us();
        let Some((seq, sent_us)) = el.get_child("body", NS_CLIENT).and_then(|b| parse_body(&b.text())) else {
            // Not one of ours (a server announcement, say): ignore.
            return;
        };
        // `sent` is raised before a message is written, so a sequence
        // number at or above it was never sent (and must not make us
        // allocate a huge bit set).
        if seq >= self.pair.sent.load(Ordering::Acquire) {
            self.stats.unexpected += 1;
            return;
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if word >= self.seen.len() {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & bit != 0 {
            self.stats.duplicated += 1;
            return;
        }
        self.seen[word] |= bit;
        self.pair.received.fetch_add(1, Ordering::Relaxed);
        if let Some(window) = &self.pair.window {
            window.add_permits(1);
        }
        match self.highest {
            Some(h) if seq < h => self.stats.out_of_order += 1,
            _ => self.highest = Some(seq),
        }
        if (self.clock.measure_from_us..self.clock.end_us).contains(&sent_us) {
            self.stats.delivered += 1;
            self.stats.latency.record_us(now_us.saturating_sub(sent_us));
        }
    }
}

/// `wxb SEQ SENT_US[ padding]` → `(SEQ, SENT_US)`.
fn parse_body(body: &str) -> Option<(u64, u64)> {
    let mut words = body.split(' ');
    if words.next()? != "wxb" {
        return None;
    }
    Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        assert_eq!(parse_body("wxb 12 3456"), Some((12, 3456)));
        assert_eq!(parse_body("wxb 12 3456 xxxx"), Some((12, 3456)));
        assert_eq!(parse_body("hello"), None);
        assert_eq!(parse_body("wxb x 1"), None);
        assert_eq!(parse_body("wxb 1"), None);
    }
}
