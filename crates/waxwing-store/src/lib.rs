//! Persistence for Waxwing: accounts and each account's data.
//!
//! - [`Store::accounts`]: accounts and SCRAM credentials;
//! - [`Store::roster`]: roster items, the roster version (RFC 6121 §2.6) and
//!   inbound subscription requests awaiting an answer;
//! - [`Store::offline`]: offline messages (XEP-0160), in arrival order and
//!   up to a caller-chosen quota;
//! - [`Store::archive`]: the message archive (XEP-0313), with full-text
//!   search, written in batches;
//! - [`Store::account_data`]: small documents keyed by `(kind, key)`, such as
//!   a vCard, private XML or blocklist entries.
//!
//! Accounts are named by `(domain, localpart)`, already prepared by the
//! caller; the store compares plain strings. Reads about an account that does
//! not exist return nothing (empty, `None`, 0); writes fail with
//! [`StoreError::NotFound`]. Removing an account removes all its data.
//!
//! SQLite (one WAL-mode file under the server's data directory) is the
//! default backend; PostgreSQL is used when the URL says `postgres://`. The
//! schema is versioned and migrated when the [`Store`] is opened.
//!
//! All operations run the same SQL on both backends through `sqlx::Any`;
//! only the schema files (`migrations/sqlite`, `migrations/postgres`) and the
//! connection setup differ.
//!
//! ```no_run
//! # async fn demo(creds: Vec<waxwing_sasl::ScramCredentials>) -> Result<(), waxwing_store::StoreError> {
//! let store = waxwing_store::Store::open("sqlite:///var/lib/waxwing/waxwing.db").await?;
//! store.accounts().create("example.org", "juliet", &creds).await?;
//! assert!(store.accounts().exists("example.org", "juliet").await?);
//! store.offline().push("example.org", "juliet", "<message/>", 100).await?;
//! assert_eq!(store.offline().count("example.org", "juliet").await?, 1);
//! store.close().await;
//! # Ok(()) }
//! ```
//!
//! # Tests
//!
//! The conformance suite (`tests/store/conformance.rs`) runs against
//! a temporary SQLite file always, and against PostgreSQL when
//! `WAXWING_TEST_POSTGRES_URL` is set (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); each test then works in a
//! schema of its own, dropped afterwards. Without the variable those tests
//! pass with a notice, except under `CI=true`, where they fail.

mod account_data;
mod accounts;
mod archive;
mod error;
mod migrations;
mod offline;
mod roster;
mod sqlite;
mod store;

pub use account_data::AccountData;
pub use accounts::Accounts;
pub use archive::{
    Archive, ArchiveBounds, ArchiveFilter, ArchivePage, ArchiveWriter, Archived, MAX_IDS, NewArchived, Page, normalize,
};
pub use error::StoreError;
pub use offline::{Offline, OfflineMessage};
pub use roster::{Roster, RosterItem, Subscription};
pub use store::{Backend, Store};
