//! Behaviour specific to SQLite database files.

use std::path::Path;

use waxwing_sasl::HashAlg;
use waxwing_store::{Backend, RosterItem, Store, StoreError, Subscription};

use crate::support::{all_creds, creds};

fn file_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

#[tokio::test]
async fn creates_file_and_missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/nested dir/waxwing.db");
    let store = Store::open(&file_url(&path)).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    assert!(path.is_file());
    store.close().await;
}

#[tokio::test]
async fn uses_wal_and_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("waxwing.db");
    let store = Store::open(&file_url(&path)).await.unwrap();
    store.accounts().create("example.org", "juliet", &[]).await.unwrap();
    // The -wal file exists while the database is open in WAL mode.
    assert!(dir.path().join("waxwing.db-wal").exists());
    store.close().await;

    // journal_mode is persistent: a plain connection sees WAL too.
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&file_url(&path)).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await.unwrap();
    assert_eq!(mode, "wal");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(&dir.path().join("waxwing.db"));
    let stored = all_creds("pw");
    {
        let store = Store::open(&url).await.unwrap();
        store.accounts().create("example.org", "juliet", &stored).await.unwrap();
        store.close().await;
    }
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.accounts().list("example.org").await.unwrap(), ["juliet"]);
    let got = store.accounts().credentials("example.org", "juliet", HashAlg::Sha512).await.unwrap().unwrap();
    let expected = stored.iter().find(|c| c.hash == HashAlg::Sha512).unwrap();
    assert_eq!(got.stored_key, expected.stored_key);
    store.close().await;
}

/// Opening the same file twice, even while the first store is open, applies
/// the migrations once and the second open is a no-op.
#[tokio::test]
async fn migrations_apply_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(&dir.path().join("waxwing.db"));
    let first = Store::open(&url).await.unwrap();
    first.accounts().create("example.org", "juliet", &[]).await.unwrap();
    let second = Store::open(&url).await.unwrap();
    assert!(second.accounts().exists("example.org", "juliet").await.unwrap());
    first.close().await;
    second.close().await;

    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations").fetch_all(&mut conn).await.unwrap();
    assert_eq!(applied, [1, 2, 3]);
    conn.close().await.unwrap();
}

/// Neither the database file nor its WAL ever contains the password.
#[tokio::test]
async fn password_is_never_stored() {
    const PASSWORD: &str = "correct horse battery staple";
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(&dir.path().join("waxwing.db"));
    let store = Store::open(&url).await.unwrap();
    let accounts = store.accounts();
    accounts.create("example.org", "juliet", &all_creds(PASSWORD)).await.unwrap();
    accounts.set_credentials("example.org", "juliet", &[creds(HashAlg::Sha256, PASSWORD)]).await.unwrap();

    // Look while open (data may sit in the WAL) and after close (checkpointed).
    assert_no_file_contains(dir.path(), PASSWORD.as_bytes());
    store.close().await;
    assert_no_file_contains(dir.path(), PASSWORD.as_bytes());
    // Sanity check of the search itself: the account name is in there.
    assert!(any_file_contains(dir.path(), b"juliet"));
}

fn any_file_contains(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

#[track_caller]
fn assert_no_file_contains(dir: &Path, needle: &[u8]) {
    assert!(!any_file_contains(dir, needle), "plaintext found on disk");
}

#[tokio::test]
async fn in_memory_database_is_shared_by_its_pool() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let accounts = store.accounts();
    accounts.create("example.org", "juliet", &all_creds("pw")).await.unwrap();
    // Several operations at once must all see the same database.
    let (a, b) = tokio::join!(accounts.exists("example.org", "juliet"), accounts.list("example.org"));
    assert!(a.unwrap());
    assert_eq!(b.unwrap(), ["juliet"]);
    // A second in-memory store is a different database.
    let other = Store::open("sqlite::memory:").await.unwrap();
    assert!(!other.accounts().exists("example.org", "juliet").await.unwrap());
    store.close().await;
    other.close().await;
}

#[tokio::test]
async fn rejects_unsupported_urls() {
    for url in ["mysql://localhost/db", "waxwing.db", ""] {
        let err = Store::open(url).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidUrl(_)), "{url}: {err:?}");
    }
}

/// Two processes opening a brand-new database at once (two `waxwing user add`,
/// or one beside a starting server) must not both try to create the schema.
#[tokio::test]
async fn concurrent_first_opens_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let opens: Vec<_> = (0..6)
        .map(|_| {
            tokio::spawn({
                let url = url.clone();
                async move { Store::open(&url).await }
            })
        })
        .collect();
    for open in opens {
        let store = open.await.unwrap().expect("every concurrent open succeeds");
        store.close().await;
    }
}

/// The roster version is stored, not kept in memory.
#[tokio::test]
async fn roster_version_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(&dir.path().join("waxwing.db"));
    let item = RosterItem {
        contact: "romeo@example.net".into(),
        name: Some("Roméo".into()),
        subscription: Subscription::Both,
        ask_subscribe: false,
        approved: true,
        groups: vec!["Montague".into(), "Vérone".into()],
    };
    {
        let store = Store::open(&url).await.unwrap();
        store.accounts().create("example.org", "juliet", &[]).await.unwrap();
        store.roster().put("example.org", "juliet", &item).await.unwrap();
        assert_eq!(store.roster().put("example.org", "juliet", &item).await.unwrap(), 2);
        store.offline().push("example.org", "juliet", "<message/>", 10).await.unwrap();
        store.close().await;
    }
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.roster().version("example.org", "juliet").await.unwrap(), 2);
    assert_eq!(store.roster().items("example.org", "juliet").await.unwrap(), [item]);
    assert_eq!(store.offline().count("example.org", "juliet").await.unwrap(), 1);
    assert_eq!(store.roster().remove("example.org", "juliet", "romeo@example.net").await.unwrap(), Some(3));
    store.close().await;
}

/// A database created by the first schema version (accounts only) is
/// upgraded in place: accounts are kept and start with an empty roster at
/// version 0.
#[tokio::test]
async fn upgrades_a_version_1_database() {
    use std::borrow::Cow;

    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};

    let dir = tempfile::tempdir().unwrap();
    let url = file_url(&dir.path().join("waxwing.db"));
    {
        use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
        use std::str::FromStr;
        let options = SqliteConnectOptions::from_str(&url).unwrap().create_if_missing(true).foreign_keys(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        // Same description and SQL as the store's version 1, so the checksum
        // the store verifies matches.
        let v1 = Migration::new(
            1,
            Cow::Borrowed("accounts"),
            MigrationType::Simple,
            include_str!("../../migrations/sqlite/0001_accounts.sql").into_sql_str(),
            false,
        );
        Migrator::with_migrations(vec![v1]).run(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO accounts (domain, localpart, created_at, credentials_updated_at) \
             VALUES ('example.org', 'juliet', 1, 1)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }

    let store = Store::open(&url).await.unwrap();
    assert!(store.accounts().exists("example.org", "juliet").await.unwrap());
    assert_eq!(store.roster().version("example.org", "juliet").await.unwrap(), 0);
    assert!(store.roster().items("example.org", "juliet").await.unwrap().is_empty());
    let item = RosterItem {
        contact: "romeo@example.net".into(),
        name: None,
        subscription: Subscription::None,
        ask_subscribe: true,
        approved: false,
        groups: Vec::new(),
    };
    assert_eq!(store.roster().put("example.org", "juliet", &item).await.unwrap(), 1);
    store.account_data().put("example.org", "juliet", "vcard", "", "<vCard/>").await.unwrap();
    assert!(store.accounts().remove("example.org", "juliet").await.unwrap());
    assert!(store.roster().items("example.org", "juliet").await.unwrap().is_empty());
    store.close().await;
}
