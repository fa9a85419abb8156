//! Offline messages (XEP-0160): serialized stanzas kept for an account while
//! it has no session, delivered and deleted at its next login, in arrival
//! order.

use sqlx::Row;

use crate::accounts::{account_id, lock_account, unix_now};
use crate::{Store, StoreError};

/// Ids per `DELETE ... IN (...)` statement: far below both backends' limit on
/// bound parameters (32766 for SQLite, 65535 for PostgreSQL).
const DELETE_CHUNK: usize = 500;

/// One stored message, as returned by [`Offline::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineMessage {
    /// Identifies the message for [`Offline::delete`]; grows with arrival.
    pub id: i64,
    /// When the message was stored, in Unix seconds (e.g. for a XEP-0203
    /// delay stamp).
    pub stored_at: i64,
    /// The serialized stanza, as given to [`Offline::push`].
    pub stanza: String,
}

/// Offline message operations on a [`Store`]; obtained from [`Store::offline`].
#[derive(Debug, Clone, Copy)]
pub struct Offline<'a> {
    store: &'a Store,
}

impl<'a> Offline<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        Offline { store }
    }
}

impl Offline<'_> {
    /// Appends a serialized stanza to the account's offline messages.
    ///
    /// Fails with [`StoreError::QuotaExceeded`] (storing nothing) if the
    /// account already holds `max` messages, also when concurrent pushes
    /// race for the last place, and with [`StoreError::NotFound`] if there is
    /// no such account.
    pub async fn push(&self, domain: &str, localpart: &str, stanza: &str, max: usize) -> Result<(), StoreError> {
        let mut tx = self.store.pool().begin_with(self.store.begin_write()).await?;
        // Without the lock, two PostgreSQL transactions could both count
        // max - 1 messages and both insert.
        let id = lock_account(&mut tx, domain, localpart).await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM offline_messages WHERE account_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        if usize::try_from(count).map_or(true, |count| count >= max) {
            tx.rollback().await?;
            return Err(StoreError::QuotaExceeded);
        }
        sqlx::query("INSERT INTO offline_messages (account_id, stored_at, stanza) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(unix_now())
            .bind(stanza)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every stored message of the account, oldest first; empty if there is
    /// no such account.
    pub async fn list(&self, domain: &str, localpart: &str) -> Result<Vec<OfflineMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.id, o.stored_at, o.stanza \
             FROM offline_messages o JOIN accounts a ON a.id = o.account_id \
             WHERE a.domain = $1 AND a.localpart = $2 \
             ORDER BY o.id",
        )
        .bind(domain)
        .bind(localpart)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OfflineMessage {
                    id: row.try_get("id")?,
                    stored_at: row.try_get("stored_at")?,
                    stanza: row.try_get("stanza")?,
                })
            })
            .collect()
    }

    /// Deletes the account's messages with the given ids (typically once
    /// they were handed to a session). Ids that name no message of this
    /// account are ignored. Either all are deleted or none are.
    ///
    /// Fails with [`StoreError::NotFound`] if there is no such account.
    pub async fn delete(&self, domain: &str, localpart: &str, ids: &[i64]) -> Result<(), StoreError> {
        let mut tx = self.store.pool().begin_with(self.store.begin_write()).await?;
        let id = account_id(&mut *tx, domain, localpart).await?;
        for chunk in ids.chunks(DELETE_CHUNK) {
            // Only numbered placeholders are formatted into the SQL; the ids
            // themselves are bound.
            let placeholders: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let sql =
                format!("DELETE FROM offline_messages WHERE account_id = $1 AND id IN ({})", placeholders.join(", "));
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id);
            for &message in chunk {
                query = query.bind(message);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The number of stored messages of the account (0 if there is no such
    /// account).
    pub async fn count(&self, domain: &str, localpart: &str) -> Result<usize, StoreError> {
        crate::accounts::count_rows(self.store, "offline_messages", domain, localpart)
            .await
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    }
}
