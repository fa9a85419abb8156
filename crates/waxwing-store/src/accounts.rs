//! Accounts and their SCRAM credentials.
//!
//! An account is identified by `(domain, localpart)`, both already prepared
//! (nodeprep'd, lower-cased) by the caller: the store compares them as plain
//! strings. Internally each account has a numeric id that every per-account
//! table references with `ON DELETE CASCADE`.
//!
//! Only SCRAM verifiers (salt, iteration count, StoredKey, ServerKey) are
//! stored, one row per hash algorithm; never the password itself.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use waxwing_sasl::{HashAlg, ScramCredentials};

use crate::{Store, StoreError};

/// Account operations on a [`Store`]; obtained from [`Store::accounts`].
#[derive(Debug, Clone, Copy)]
pub struct Accounts<'a> {
    store: &'a Store,
}

impl<'a> Accounts<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        Accounts { store }
    }
}

impl Accounts<'_> {
    /// Creates an account with one credential row per element of `creds`
    /// (which may be empty: an account nobody can log in to yet).
    ///
    /// Fails with [`StoreError::AlreadyExists`] if the account exists, also
    /// when a concurrent call creates it first, and with
    /// [`StoreError::DuplicateHash`] if two credentials share a hash.
    /// Either everything is stored or nothing is.
    pub async fn create(&self, domain: &str, localpart: &str, creds: &[ScramCredentials]) -> Result<(), StoreError> {
        check_distinct_hashes(creds)?;
        let now = unix_now();
        let mut tx = self.store.pool().begin_with(self.store.begin_write()).await?;
        // ON CONFLICT DO NOTHING rather than catching the unique violation:
        // a failed statement would abort the whole PostgreSQL transaction,
        // and the losing side of a concurrent create simply gets no row.
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO accounts (domain, localpart, created_at, credentials_updated_at) \
             VALUES ($1, $2, $3, $3) \
             ON CONFLICT (domain, localpart) DO NOTHING \
             RETURNING id",
        )
        .bind(domain)
        .bind(localpart)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        // Returning early drops `tx`, which rolls it back.
        let id = id.ok_or(StoreError::AlreadyExists)?;
        insert_credentials(&mut tx, id, creds).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces all credentials of an account, e.g. on a password change.
    ///
    /// Fails with [`StoreError::NotFound`] if there is no such account. Either
    /// all old credentials are replaced or none are.
    pub async fn set_credentials(
        &self,
        domain: &str,
        localpart: &str,
        creds: &[ScramCredentials],
    ) -> Result<(), StoreError> {
        check_distinct_hashes(creds)?;
        let mut tx = self.store.pool().begin_with(self.store.begin_write()).await?;
        // Writing the account row first locks it (a row lock on PostgreSQL),
        // so two concurrent password changes run one after the other instead
        // of interleaving their DELETE and INSERTs into a key conflict.
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE accounts SET credentials_updated_at = $3 \
             WHERE domain = $1 AND localpart = $2 \
             RETURNING id",
        )
        .bind(domain)
        .bind(localpart)
        .bind(unix_now())
        .fetch_optional(&mut *tx)
        .await?;
        let id = id.ok_or(StoreError::NotFound)?;
        sqlx::query("DELETE FROM account_credentials WHERE account_id = $1").bind(id).execute(&mut *tx).await?;
        insert_credentials(&mut tx, id, creds).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The account's credentials for `hash`, or `None` if the account does
    /// not exist or has no credentials for that hash.
    pub async fn credentials(
        &self,
        domain: &str,
        localpart: &str,
        hash: HashAlg,
    ) -> Result<Option<ScramCredentials>, StoreError> {
        let row = sqlx::query(
            "SELECT c.salt, c.iterations, c.stored_key, c.server_key \
             FROM account_credentials c JOIN accounts a ON a.id = c.account_id \
             WHERE a.domain = $1 AND a.localpart = $2 AND c.hash = $3",
        )
        .bind(domain)
        .bind(localpart)
        .bind(hash.name())
        .fetch_optional(self.store.pool())
        .await?;
        row.map(|row| credentials_from_row(hash, &row)).transpose()
    }

    /// Whether the account exists.
    pub async fn exists(&self, domain: &str, localpart: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT id FROM accounts WHERE domain = $1 AND localpart = $2")
            .bind(domain)
            .bind(localpart)
            .fetch_optional(self.store.pool())
            .await?;
        Ok(row.is_some())
    }

    /// Removes the account and, by `ON DELETE CASCADE`, everything keyed on
    /// it. Returns `false` if there was no such account.
    pub async fn remove(&self, domain: &str, localpart: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM accounts WHERE domain = $1 AND localpart = $2")
            .bind(domain)
            .bind(localpart)
            .execute(self.store.pool())
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// The localparts of all accounts of `domain`, sorted by code point.
    pub async fn list(&self, domain: &str) -> Result<Vec<String>, StoreError> {
        let mut localparts: Vec<String> = sqlx::query_scalar("SELECT localpart FROM accounts WHERE domain = $1")
            .bind(domain)
            .fetch_all(self.store.pool())
            .await?;
        // Sorted here, not with ORDER BY: PostgreSQL would sort by the
        // database's collation (locale-dependent), SQLite by bytes. Rust's
        // `String` order is code point order on every backend.
        localparts.sort_unstable();
        Ok(localparts)
    }
}

/// The id of an existing account, for writes to its per-account tables.
///
/// Using the id outside the transaction that read it is safe: ids are never
/// reused, so a removed account's id matches no row instead of another
/// account's.
pub(crate) async fn account_id<'c, E>(executor: E, domain: &str, localpart: &str) -> Result<i64, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM accounts WHERE domain = $1 AND localpart = $2")
        .bind(domain)
        .bind(localpart)
        .fetch_optional(executor)
        .await?;
    id.ok_or(StoreError::NotFound)
}

/// Locks the account row until the transaction ends and returns its id.
///
/// `SELECT ... FOR UPDATE` does not exist in SQLite, but a write takes a row
/// lock on PostgreSQL and is harmless inside SQLite's already exclusive
/// `BEGIN IMMEDIATE` transaction, so a write that changes nothing serves both.
pub(crate) async fn lock_account(conn: &mut AnyConnection, domain: &str, localpart: &str) -> Result<i64, StoreError> {
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE accounts SET created_at = created_at \
         WHERE domain = $1 AND localpart = $2 \
         RETURNING id",
    )
    .bind(domain)
    .bind(localpart)
    .fetch_optional(conn)
    .await?;
    id.ok_or(StoreError::NotFound)
}

/// Inserts one credential row per element of `creds` for account `id`.
async fn insert_credentials(conn: &mut AnyConnection, id: i64, creds: &[ScramCredentials]) -> Result<(), StoreError> {
    for cred in creds {
        sqlx::query(
            "INSERT INTO account_credentials \
             (account_id, hash, salt, iterations, stored_key, server_key) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(cred.hash.name())
        .bind(cred.salt.as_slice())
        .bind(i64::from(cred.iterations))
        .bind(cred.stored_key.as_slice())
        .bind(cred.server_key.as_slice())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Rebuilds credentials from a `SELECT salt, iterations, stored_key, server_key` row.
fn credentials_from_row(hash: HashAlg, row: &AnyRow) -> Result<ScramCredentials, StoreError> {
    let iterations: i64 = row.try_get("iterations")?;
    let iterations =
        u32::try_from(iterations).map_err(|_| StoreError::Corrupt(format!("iteration count {iterations}")))?;
    Ok(ScramCredentials {
        hash,
        salt: row.try_get("salt")?,
        iterations,
        stored_key: row.try_get("stored_key")?,
        server_key: row.try_get("server_key")?,
    })
}

/// Rejects two credentials for the same hash: the table allows one per hash,
/// and a raw primary-key violation would tell the caller nothing useful.
fn check_distinct_hashes(creds: &[ScramCredentials]) -> Result<(), StoreError> {
    for (i, cred) in creds.iter().enumerate() {
        if creds[..i].iter().any(|earlier| earlier.hash == cred.hash) {
            return Err(StoreError::DuplicateHash(cred.hash.name()));
        }
    }
    Ok(())
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// How many rows of a per-account `table` (one with an `account_id` column)
/// belong to the account; 0 if there is no such account.
pub(crate) async fn count_rows(
    store: &Store,
    table: &'static str,
    domain: &str,
    localpart: &str,
) -> Result<u64, StoreError> {
    let sql = format!(
        "SELECT COUNT(*) FROM {table} t JOIN accounts a ON a.id = t.account_id WHERE a.domain = $1 AND a.localpart = $2"
    );
    // `table` is one of our own table names, never input.
    let count: i64 =
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(domain).bind(localpart).fetch_one(store.pool()).await?;
    u64::try_from(count).map_err(|_| StoreError::Corrupt(format!("row count {count}")))
}
