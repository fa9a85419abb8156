-- Accounts and their SCRAM credentials (PostgreSQL).
--
-- Every per-account table (roster, offline messages, archive, ...) refers to
-- accounts.id with ON DELETE CASCADE, so removing an account row removes all
-- of its data in one statement.
--
-- Timestamps are Unix seconds in a BIGINT column on both backends so that one
-- SQL code path (sqlx::Any) can read them: Any has no timestamp type.
-- Integers are BIGINT because Any binds Rust i64 as int8, and iteration
-- counts are u32, which does not fit PostgreSQL's signed INTEGER.

CREATE TABLE accounts (
    -- IDENTITY never reuses values, so a stale id can never point at a newer account.
    id                     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain                 TEXT   NOT NULL,
    localpart              TEXT   NOT NULL,
    created_at             BIGINT NOT NULL,
    credentials_updated_at BIGINT NOT NULL,
    UNIQUE (domain, localpart)
);

CREATE TABLE account_credentials (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- IANA SCRAM hash name, e.g. 'SHA-256'.
    hash       TEXT   NOT NULL,
    salt       BYTEA  NOT NULL,
    iterations BIGINT NOT NULL CHECK (iterations > 0 AND iterations <= 4294967295),
    stored_key BYTEA  NOT NULL,
    server_key BYTEA  NOT NULL,
    PRIMARY KEY (account_id, hash)
);
