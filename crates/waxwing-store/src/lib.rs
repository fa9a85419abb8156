//! Persistence for Waxwing: accounts and their SCRAM credentials (later also
//! rosters, offline messages and archives).
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
//! store.close().await;
//! # Ok(()) }
//! ```
//!
//! # Tests
//!
//! The account conformance suite (`tests/store/conformance.rs`) runs against
//! a temporary SQLite file always, and against PostgreSQL when
//! `WAXWING_TEST_POSTGRES_URL` is set (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); each test then works in a
//! schema of its own, dropped afterwards. Without the variable those tests
//! pass with a notice, except under `CI=true`, where they fail.

mod accounts;
mod error;
mod migrations;
mod sqlite;
mod store;

pub use accounts::Accounts;
pub use error::StoreError;
pub use store::{Backend, Store};
