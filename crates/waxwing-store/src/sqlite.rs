//! SQLite specifics: turning a `sqlite:` URL into a configured pool.
//!
//! Queries go through `sqlx::Any`, whose pools are configured by URL only,
//! so what SQLite needs beyond the URL is applied with PRAGMAs: once per
//! database file (journal mode) or once per connection (everything else).

use std::str::FromStr;

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyConnection, AnyPool};

use crate::StoreError;

/// Held while migrations run: an exclusive lock on `<database>.lock`.
///
/// sqlx serialises migrations on PostgreSQL with an advisory lock but does
/// nothing on SQLite, so two processes opening a new database at once (two
/// `waxwing user add`, or one beside a starting server) would both try to
/// create the tables and one would fail. The OS releases the lock when the
/// file is closed, even if the process dies.
pub(crate) struct MigrationLock(#[allow(dead_code)] std::fs::File);

async fn lock_for_migration(database: &std::path::Path) -> Result<MigrationLock, StoreError> {
    let mut path = database.as_os_str().to_owned();
    path.push(".lock");
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
        file.lock()?;
        Ok(MigrationLock(file))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Opens a pool on a SQLite URL, creating the file and its directory. The
/// returned lock (none for in-memory databases) must be held until the
/// migrations have run.
pub(crate) async fn open(url: &str) -> Result<(AnyPool, Option<MigrationLock>), StoreError> {
    // Let sqlx validate the URL and percent-decode the file name exactly as
    // it will when connecting; we need that name to create its directory.
    let options = SqliteConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl(format!("{url}: {e}")))?;
    let params = SqliteParams::of(url);

    let pool_options = AnyPoolOptions::new()
        .after_connect(|conn, _meta| Box::pin(async move { configure_sqlite_connection(conn).await }));

    if params.in_memory {
        // Every connection to `sqlite::memory:` opens its own empty database,
        // which vanishes when that connection closes: keep exactly one,
        // forever.
        let pool = pool_options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect(url)
            .await?;
        return Ok((pool, None));
    }

    if let Some(dir) = options.get_filename().parent()
        && !dir.as_os_str().is_empty()
    {
        tokio::fs::create_dir_all(dir).await?;
    }
    let lock = lock_for_migration(options.get_filename()).await?;
    // `Any` takes only a URL, so "create if missing" must be spelled in it
    // (unless the caller chose a mode, e.g. read-only).
    let url = if params.has_mode {
        url.to_owned()
    } else {
        let separator = if params.has_query { '&' } else { '?' };
        format!("{url}{separator}mode=rwc")
    };
    let pool = pool_options.connect(&url).await?;

    // The journal mode is stored in the database file, so setting it once
    // here covers every later connection. WAL lets readers run while one
    // writer commits, and makes a commit a single sequential append.
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL").fetch_one(&pool).await?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "SQLite refused WAL journal mode");
    }
    Ok((pool, Some(lock)))
}

/// What the query part of a SQLite URL says, as far as opening is concerned.
///
/// (sqlx's own parsed options do not expose these, and printing them back
/// with `to_url_lossy` panics for in-memory databases.)
#[derive(Debug, PartialEq, Eq)]
struct SqliteParams {
    /// `sqlite::memory:`, `sqlite://:memory:` or `?mode=memory`.
    in_memory: bool,
    /// The URL has a `?query`.
    has_query: bool,
    /// The query sets `mode`.
    has_mode: bool,
}

impl SqliteParams {
    /// Reads a URL already validated by `SqliteConnectOptions::from_str`,
    /// stripping the scheme the same way.
    fn of(url: &str) -> SqliteParams {
        let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        let (database, query) = match rest.split_once('?') {
            Some((database, query)) => (database, Some(query)),
            None => (rest, None),
        };
        let modes: Vec<&str> =
            query.into_iter().flat_map(|q| q.split('&')).filter_map(|pair| pair.strip_prefix("mode=")).collect();
        SqliteParams {
            in_memory: database == ":memory:" || modes.contains(&"memory"),
            has_query: query.is_some(),
            has_mode: !modes.is_empty(),
        }
    }
}

/// Per-connection SQLite settings (these are not stored in the file).
async fn configure_sqlite_connection(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    // - foreign_keys: SQLite ignores REFERENCES (and so ON DELETE CASCADE)
    //   unless enabled on each connection.
    // - synchronous = FULL: fsync the WAL at every commit. NORMAL (the usual
    //   WAL pairing) survives application crashes but may lose the last
    //   commits on power loss or OS crash; we acknowledge registrations,
    //   password changes and stored messages to clients, so they must survive.
    //   The price is one fsync per write transaction, which XMPP write rates
    //   (far below disk fsync rates) easily afford.
    // - busy_timeout (ms): wait up to 5 s for a concurrent writer's lock
    //   instead of failing at once with "database is locked".
    sqlx::raw_sql("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;")
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_params() {
        let p = SqliteParams::of;
        let params = |in_memory, has_query, has_mode| SqliteParams { in_memory, has_query, has_mode };
        assert_eq!(p("sqlite::memory:"), params(true, false, false));
        assert_eq!(p("sqlite://:memory:"), params(true, false, false));
        assert_eq!(p("sqlite://x.db?mode=memory"), params(true, true, true));
        assert_eq!(p("sqlite:///var/x.db"), params(false, false, false));
        assert_eq!(p("sqlite://x.db?cache=shared"), params(false, true, false));
        assert_eq!(p("sqlite:x.db?cache=shared&mode=ro"), params(false, true, true));
    }
}
