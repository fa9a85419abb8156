//! Small per-account documents: a vCard, private XML storage (XEP-0049),
//! blocklist entries (XEP-0191), the last logout time (XEP-0012), and so on.
//!
//! Each document is a text value under a `(kind, key)` pair chosen by the
//! caller: `kind` names the feature (e.g. `"vcard"`), `key` the document
//! within it (e.g. the blocked JID, or `""` for a single document). The store
//! gives neither any meaning.

use sqlx::Row;

use crate::accounts::account_id;
use crate::{Store, StoreError};

/// Per-account document operations on a [`Store`]; obtained from
/// [`Store::account_data`].
#[derive(Debug, Clone, Copy)]
pub struct AccountData<'a> {
    store: &'a Store,
}

impl<'a> AccountData<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        AccountData { store }
    }
}

impl AccountData<'_> {
    /// The value stored under `(kind, key)`, or `None` if there is none (or
    /// no such account).
    pub async fn get(
        &self,
        domain: &str,
        localpart: &str,
        kind: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let value = sqlx::query_scalar(
            "SELECT d.value FROM account_data d JOIN accounts a ON a.id = d.account_id \
             WHERE a.domain = $1 AND a.localpart = $2 AND d.kind = $3 AND d.key = $4",
        )
        .bind(domain)
        .bind(localpart)
        .bind(kind)
        .bind(key)
        .fetch_optional(self.store.pool())
        .await?;
        Ok(value)
    }

    /// Stores `value` under `(kind, key)`, replacing any earlier value.
    ///
    /// Fails with [`StoreError::NotFound`] if there is no such account.
    pub async fn put(
        &self,
        domain: &str,
        localpart: &str,
        kind: &str,
        key: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        // Selecting the account yields no row to insert if it does not
        // exist, which tells that case apart in a single statement.
        let result = sqlx::query(
            "INSERT INTO account_data (account_id, kind, key, value) \
             SELECT id, $3, $4, $5 FROM accounts WHERE domain = $1 AND localpart = $2 \
             ON CONFLICT (account_id, kind, key) DO UPDATE SET value = excluded.value",
        )
        .bind(domain)
        .bind(localpart)
        .bind(kind)
        .bind(key)
        .bind(value)
        .execute(self.store.pool())
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes the value under `(kind, key)`. Returns `false` if there was
    /// none.
    ///
    /// Fails with [`StoreError::NotFound`] if there is no such account.
    pub async fn delete(&self, domain: &str, localpart: &str, kind: &str, key: &str) -> Result<bool, StoreError> {
        let id = account_id(self.store.pool(), domain, localpart).await?;
        let result = sqlx::query("DELETE FROM account_data WHERE account_id = $1 AND kind = $2 AND key = $3")
            .bind(id)
            .bind(kind)
            .bind(key)
            .execute(self.store.pool())
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Every `(key, value)` of `kind`, sorted by key (code point order);
    /// empty if there is no such account.
    pub async fn list(&self, domain: &str, localpart: &str, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.key, d.value FROM account_data d JOIN accounts a ON a.id = d.account_id \
             WHERE a.domain = $1 AND a.localpart = $2 AND d.kind = $3",
        )
        .bind(domain)
        .bind(localpart)
        .bind(kind)
        .fetch_all(self.store.pool())
        .await?;
        let mut entries = rows
            .iter()
            .map(|row| Ok((row.try_get("key")?, row.try_get("value")?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Sorted here for the same reason as `Accounts::list`: ORDER BY would
        // follow PostgreSQL's locale-dependent collation.
        entries.sort_unstable_by(|a: &(String, String), b| a.0.cmp(&b.0));
        Ok(entries)
    }

    /// Deletes every value of `kind` and returns how many there were.
    ///
    /// Fails with [`StoreError::NotFound`] if there is no such account.
    pub async fn clear(&self, domain: &str, localpart: &str, kind: &str) -> Result<u64, StoreError> {
        let id = account_id(self.store.pool(), domain, localpart).await?;
        let result = sqlx::query("DELETE FROM account_data WHERE account_id = $1 AND kind = $2")
            .bind(id)
            .bind(kind)
            .execute(self.store.pool())
            .await?;
        Ok(result.rows_affected())
    }
}
