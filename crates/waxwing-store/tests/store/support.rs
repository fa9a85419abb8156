//! Test databases for both backends, and credential helpers.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tempfile::TempDir;
use waxwing_sasl::{HashAlg, ScramCredentials};
use waxwing_store::Store;

/// Environment variable naming the PostgreSQL server for the tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/test`.
pub const POSTGRES_URL_VAR: &str = "WAXWING_TEST_POSTGRES_URL";

/// An open store on a throw-away database, plus what is needed to look at
/// the raw tables and to clean up.
pub struct TestDb {
    pub store: Store,
    /// URL of the same database, for opening it a second time.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    /// The directory holding the SQLite file; deleted on drop.
    Sqlite(TempDir),
    /// The PostgreSQL schema to drop, and the server URL without search_path.
    Postgres { server_url: String, schema: String },
}

impl TestDb {
    /// A fresh SQLite database file in a new temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/waxwing.db", dir.path().display());
        let store = Store::open(&url).await.expect("open sqlite store");
        TestDb { store, url, cleanup: Cleanup::Sqlite(dir) }
    }

    /// A fresh schema on the PostgreSQL server named by
    /// [`POSTGRES_URL_VAR`], or `None` (after saying so) if it is unset.
    ///
    /// Every test gets its own schema, selected through `search_path`, so
    /// concurrent test runs against one server never see each other's rows.
    ///
    /// # Panics
    /// If the variable is unset while `CI=true`: CI must run these tests.
    pub async fn postgres(test: &str) -> Option<TestDb> {
        let Ok(server_url) = std::env::var(POSTGRES_URL_VAR) else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{POSTGRES_URL_VAR} is not set, but CI=true: PostgreSQL tests must run in CI");
            }
            announce_skip(test);
            return None;
        };
        let schema = unique_schema_name();
        let mut admin = PgConnection::connect(&server_url).await.expect("connect to PostgreSQL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("create test schema");
        admin.close().await.expect("close admin connection");

        let separator = if server_url.contains('?') { '&' } else { '?' };
        let url = format!("{server_url}{separator}options=-c%20search_path%3D{schema}");
        let store = Store::open(&url).await.expect("open postgres store");
        Some(TestDb { store, url, cleanup: Cleanup::Postgres { server_url, schema } })
    }

    /// Number of rows in `table`, read directly rather than through the store.
    pub async fn count_rows(&self, table: &str) -> i64 {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.url).await.expect("raw connection");
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&mut conn)
            .await
            .expect("count rows");
        conn.close().await.expect("close raw connection");
        count
    }

    /// Closes the store and removes the database.
    pub async fn destroy(self) {
        self.store.close().await;
        match self.cleanup {
            Cleanup::Sqlite(dir) => drop(dir),
            Cleanup::Postgres { server_url, schema } => {
                let mut admin = PgConnection::connect(&server_url).await.expect("connect to PostgreSQL");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&mut admin)
                    .await
                    .expect("drop test schema");
                admin.close().await.expect("close admin connection");
            }
        }
    }
}

/// Says (once per test binary) that the PostgreSQL tests are skipped.
///
/// Written to the real stderr: `eprintln!` output of passing tests is
/// captured by the test harness and would never be seen.
fn announce_skip(test: &str) {
    static ANNOUNCED: std::sync::Once = std::sync::Once::new();
    ANNOUNCED.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPING PostgreSQL tests (postgres_conformance::*, first: {test}): \
             set {POSTGRES_URL_VAR}=postgres://user@host/db to run them\n"
        );
    });
}

/// A schema name unique across concurrent processes and tests: process id,
/// a per-process counter and the clock.
fn unique_schema_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").subsec_nanos();
    format!("wx_test_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Fresh credentials (random salt) for `password`, with the smallest
/// iteration count RFC 7677 allows, to keep the tests fast.
pub fn creds(hash: HashAlg, password: &str) -> ScramCredentials {
    ScramCredentials::new_random(hash, password, 4096).expect("derive credentials")
}

/// One credential per supported hash for `password`.
pub fn all_creds(password: &str) -> Vec<ScramCredentials> {
    HashAlg::ALL.iter().map(|&h| creds(h, password)).collect()
}
