//! Versioned schema migrations, embedded in the binary.
//!
//! `sqlx::migrate!` needs sqlx's `macros` feature, which this workspace does
//! not enable, so the [`Migrator`] is built at run time from SQL files pulled
//! in with `include_str!`. The server binary therefore needs no migration
//! files on disk.
//!
//! Each backend has its own folder (`migrations/sqlite`, `migrations/postgres`)
//! because DDL differs (identity columns, BLOB vs BYTEA, STRICT tables). Both
//! folders must always contain the same versions with the same meaning.
//!
//! Applied migrations are recorded (with a checksum) in `_sqlx_migrations`, so
//! running the migrator on an up-to-date database is a no-op, and editing an
//! already released migration is detected as an error instead of silently
//! diverging: add a new version instead.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::Backend;

/// One migration version: its number, description and SQL for each backend.
struct Version {
    version: i64,
    description: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// All migrations, oldest first. Append new versions; never edit old ones.
const VERSIONS: &[Version] = &[
    Version {
        version: 1,
        description: "accounts",
        sqlite: include_str!("../migrations/sqlite/0001_accounts.sql"),
        postgres: include_str!("../migrations/postgres/0001_accounts.sql"),
    },
    Version {
        version: 2,
        description: "im",
        sqlite: include_str!("../migrations/sqlite/0002_im.sql"),
        postgres: include_str!("../migrations/postgres/0002_im.sql"),
    },
    Version {
        version: 3,
        description: "archive",
        sqlite: include_str!("../migrations/sqlite/0003_archive.sql"),
        postgres: include_str!("../migrations/postgres/0003_archive.sql"),
    },
];

/// Builds the migrator holding every migration for `backend`.
pub(crate) fn migrator(backend: Backend) -> Migrator {
    let migrations = VERSIONS
        .iter()
        .map(|v| {
            let sql = match backend {
                Backend::Sqlite => v.sqlite,
                Backend::Postgres => v.postgres,
            };
            Migration::new(v.version, Cow::Borrowed(v.description), MigrationType::Simple, sql.into_sql_str(), false)
        })
        .collect();
    Migrator::with_migrations(migrations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_strictly_increasing() {
        assert!(VERSIONS.windows(2).all(|w| w[0].version < w[1].version));
    }

    #[test]
    fn both_backends_have_every_version() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let m = migrator(backend);
            let versions: Vec<i64> = m.iter().map(|m| m.version).collect();
            let expected: Vec<i64> = VERSIONS.iter().map(|v| v.version).collect();
            assert_eq!(versions, expected);
        }
    }
}
