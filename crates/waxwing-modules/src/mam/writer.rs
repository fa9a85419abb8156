//! The archive writer: one task per server that stores archive entries in
//! batches, one transaction per batch (group commit).
//!
//! Every message is held until the batch that holds its archive entries is
//! committed (the recipient's copy waits for its own commit; the sender's
//! copy of a message to a local user is only queued, since jobs commit in
//! order and the recipient's wait, or a barrier, follows it): a message that
//! was delivered (or acknowledged by routing) is in the archive, and survives
//! a crash of the server right after. The latency this costs is one
//! commit; the throughput comes from grouping, since all entries that arrive
//! while a commit is running go into the next one together.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use waxwing_store::{ArchiveWriter, NewArchived, Store};

use crate::config::ArchiveConfig;

/// Most entries per transaction: large enough to amortise a commit, small
/// enough that one batch does not hold SQLite's write lock for long.
const MAX_BATCH: usize = 256;

/// Entries waiting for the writer before senders wait for room.
const QUEUE_LEN: usize = 4096;

/// How long the writer keeps its connection without a batch to write.
const RELEASE_AFTER: Duration = Duration::from_millis(100);

/// How often messages beyond `max_age_days` are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

struct Job {
    /// `None`: a barrier, done once everything queued before it is committed.
    entry: Option<NewArchived>,
    /// Told whether the entry is committed.
    done: oneshot::Sender<bool>,
}

/// Handle to the writer task; the task ends when the handle is dropped.
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    pub(crate) fn start(store: Store, config: &ArchiveConfig) -> Writer {
        let (jobs, rx) = mpsc::channel(QUEUE_LEN);
        tokio::spawn(run(store, rx, config.max_messages, config.max_age_days));
        Writer { jobs }
    }

    /// Queues `entry` and returns at once, without waiting for the commit.
    /// Jobs are committed in the order they were queued, batch after batch,
    /// so whoever later waits with [`Writer::barrier`] knows that this one is
    /// committed too.
    pub(crate) async fn queue(&self, entry: NewArchived) {
        drop(self.submit(Some(entry)).await);
    }

    /// Returns once everything queued before is committed (or failed).
    pub(crate) async fn barrier(&self) {
        let _ = self.submit(None).await.await;
    }

    async fn submit(&self, entry: Option<NewArchived>) -> oneshot::Receiver<bool> {
        let (done, committed) = oneshot::channel();
        // Only fails if the writer task is gone (the runtime is shutting
        // down); the receiver then says "not committed".
        let _ = self.jobs.send(Job { entry, done }).await;
        committed
    }
}

async fn run(store: Store, mut jobs: mpsc::Receiver<Job>, max_messages: u64, max_age_days: u64) {
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut archive = store.archive_writer();
    loop {
        tokio::select! {
            received = jobs.recv_many(&mut batch, MAX_BATCH) => {
                if received == 0 {
                    return; // Every sender is gone: the server was dropped.
                }
                write(&store, &mut archive, &mut batch, max_messages).await;
            }
            _ = prune.tick(), if max_age_days > 0 => prune_old(&store, max_age_days).await,
            // Idle: the connection goes back to the pool, which must have
            // them all back to close (at shutdown).
            _ = tokio::time::sleep(RELEASE_AFTER), if archive.holds_connection() => archive.release(),
        }
    }
}

/// Commits `batch` in one transaction, trims the archives it grew and tells
/// every waiting hook.
async fn write(store: &Store, archive: &mut ArchiveWriter, batch: &mut Vec<Job>, max_messages: u64) {
    let started = std::time::Instant::now();
    let entries: Vec<NewArchived> = batch.iter().filter_map(|job| job.entry.clone()).collect();
    let ok = entries.is_empty()
        || match archive.append(&entries).await {
            Ok(_) => true,
            Err(error) => {
                tracing::error!(%error, entries = entries.len(), "archiving failed");
                false
            }
        };
    tracing::debug!(
        entries = entries.len(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "archive batch written"
    );
    if ok && max_messages > 0 {
        // Retention by count, before the waiters are released: nothing waits
        // on the archive to deliver a message (only acknowledgements and
        // queries do), and a query then never sees more than the limit.
        let accounts: BTreeSet<(&str, &str)> =
            entries.iter().map(|e| (e.domain.as_str(), e.localpart.as_str())).collect();
        for (domain, localpart) in accounts {
            if let Err(error) = store.archive().trim(domain, localpart, max_messages).await {
                tracing::error!(%error, "trimming the archive failed");
            }
        }
    }
    for job in batch.drain(..) {
        // The waiter may have given up (its session ended): fine.
        let _ = job.done.send(ok);
    }
}

async fn prune_old(store: &Store, max_age_days: u64) {
    let age = i64::try_from(max_age_days.saturating_mul(86_400)).unwrap_or(i64::MAX);
    let cutoff = waxwing_proto::datetime::unix_now().saturating_sub(age);
    match store.archive().prune_older_than(cutoff).await {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, "expired archived messages deleted"),
        Err(error) => tracing::error!(%error, "deleting expired archived messages failed"),
    }
}
