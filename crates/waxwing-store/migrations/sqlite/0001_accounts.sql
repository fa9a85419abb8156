-- Accounts and their SCRAM credentials (SQLite).
--
-- Every per-account table (roster, offline messages, archive, ...) refers to
-- accounts.id with ON DELETE CASCADE, so removing an account row removes all
-- of its data in one statement.
--
-- Timestamps are Unix seconds in an INTEGER column on both backends so that
-- one SQL code path (sqlx::Any) can read them without backend-specific types.
-- STRICT makes SQLite enforce the declared column types like PostgreSQL does.

CREATE TABLE accounts (
    -- AUTOINCREMENT: ids of removed accounts are never reused, so a stale id
    -- held somewhere in memory can never point at a different, newer account.
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    domain                 TEXT    NOT NULL,
    localpart              TEXT    NOT NULL,
    created_at             INTEGER NOT NULL,
    credentials_updated_at INTEGER NOT NULL,
    UNIQUE (domain, localpart)
) STRICT;

CREATE TABLE account_credentials (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- IANA SCRAM hash name, e.g. 'SHA-256'.
    hash       TEXT    NOT NULL,
    salt       BLOB    NOT NULL,
    iterations INTEGER NOT NULL CHECK (iterations > 0 AND iterations <= 4294967295),
    stored_key BLOB    NOT NULL,
    server_key BLOB    NOT NULL,
    PRIMARY KEY (account_id, hash)
) STRICT;
