//! The error type of every store operation.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The account (or other record) to create already exists.
    #[error("already exists")]
    AlreadyExists,
    /// The account (or other record) to change does not exist.
    #[error("not found")]
    NotFound,
    /// The account already holds as many items of this kind (e.g. offline
    /// messages) as the caller allows; nothing was stored.
    #[error("quota exceeded: the account holds the maximum number of stored items")]
    QuotaExceeded,
    /// The database URL is not one the store understands.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The caller passed two credentials for the same hash algorithm.
    #[error("more than one credential for {0}")]
    DuplicateHash(&'static str),
    /// A stored row cannot be turned back into a value (e.g. an iteration
    /// count out of range): the database was changed behind our back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Creating the directory of the SQLite file failed.
    #[error("cannot create database directory: {0}")]
    Io(#[from] std::io::Error),
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}
