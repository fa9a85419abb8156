//! Opening the database: URL parsing, connection pool setup and migrations.

use std::str::FromStr;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use crate::{AccountData, Accounts, Archive, ArchiveWriter, Offline, Roster, StoreError, migrations, sqlite};

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: one file under the server's data directory (the default).
    Sqlite,
    /// PostgreSQL, selected by a `postgres://` URL.
    Postgres,
}

/// Handle to the server's persistent storage.
///
/// Cheap to clone: clones share one connection pool. All queries go through
/// `sqlx::Any`, so each operation has one SQL text for both backends; only the
/// schema (see `migrations/`) and connection setup differ per backend.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies pending
    /// schema migrations.
    ///
    /// Accepted URLs:
    /// - `sqlite://path/to/file.db` or `sqlite:path/to/file.db`: the file and
    ///   its parent directory are created if missing;
    /// - `sqlite::memory:`: a private in-memory database, for tests;
    /// - `postgres://…` or `postgresql://…`: the database must exist.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        // Idempotent; needed before the first `Any` connection.
        sqlx::any::install_default_drivers();

        let (backend, pool, migration_lock) = if url.starts_with("sqlite:") {
            let (pool, lock) = sqlite::open(url).await?;
            (Backend::Sqlite, pool, lock)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // sqlx takes a PostgreSQL advisory lock around migrations itself.
            (Backend::Postgres, AnyPoolOptions::new().connect(url).await?, None)
        } else {
            return Err(StoreError::InvalidUrl(redact(url)));
        };

        // Running an up-to-date migrator is a no-op: applied versions are
        // recorded in `_sqlx_migrations` and verified by checksum.
        migrations::migrator(backend).run(&pool).await?;
        drop(migration_lock);
        tracing::debug!(?backend, "store opened");
        Ok(Store { pool, backend })
    }

    /// The database engine behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Account and credential operations.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts::new(self)
    }

    /// Roster items, roster versions and pending subscription requests.
    pub fn roster(&self) -> Roster<'_> {
        Roster::new(self)
    }

    /// Offline message storage.
    pub fn offline(&self) -> Offline<'_> {
        Offline::new(self)
    }

    /// The message archive (XEP-0313).
    pub fn archive(&self) -> Archive<'_> {
        Archive::new(self)
    }

    /// A writer of archive batches with a connection of its own (see
    /// [`ArchiveWriter`]); it holds one of the pool's connections while it
    /// lives.
    pub fn archive_writer(&self) -> ArchiveWriter {
        ArchiveWriter::new(self.clone())
    }

    /// Small per-account documents (vCard, private XML, blocklist, ...).
    pub fn account_data(&self) -> AccountData<'_> {
        AccountData::new(self)
    }

    /// Closes every connection, waiting for in-flight operations to finish.
    /// Operations started afterwards fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The statement starting a transaction that will write.
    ///
    /// SQLite's default `BEGIN` is DEFERRED: a transaction that reads before
    /// writing must later upgrade its lock, and in WAL mode that upgrade fails
    /// at once with SQLITE_BUSY (no waiting) if another connection committed
    /// in between. `BEGIN IMMEDIATE` takes the write lock up front, so
    /// concurrent writers queue on the busy timeout instead of failing.
    pub(crate) fn begin_write(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }
}

/// The URL without its password, for error messages and logs.
fn redact(url: &str) -> String {
    match sqlx::any::AnyConnectOptions::from_str(url) {
        Ok(options) => {
            let mut url = options.database_url;
            if url.password().is_some() {
                // Only fails for URLs that cannot have a password at all.
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        Err(_) => "<unparsable>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_password() {
        assert_eq!(redact("mysql://user:secret@host/db"), "mysql://user:***@host/db");
        assert_eq!(redact("foo://host/db"), "foo://host/db");
    }

    #[tokio::test]
    async fn rejects_unknown_scheme() {
        let err = Store::open("mysql://u:pw@localhost/db").await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidUrl(ref u) if !u.contains("pw")));
    }
}
