-- Per-account instant-messaging data (PostgreSQL): rosters (RFC 6121),
-- pending inbound subscription requests, offline messages (XEP-0160) and
-- small per-account documents (vCard, private XML, blocklist, ...).
--
-- Every table refers to accounts.id with ON DELETE CASCADE. Booleans are
-- BIGINT 0/1 on both backends: sqlx::Any cannot decode a SQLite integer as a
-- bool, so one SQL code path needs integers here too.

-- Incremented with every roster change; the basis of roster versioning
-- (RFC 6121 §2.6). A column here, not a table of its own, so that bumping it
-- also locks the account row and serialises roster writes.
ALTER TABLE accounts ADD COLUMN roster_version BIGINT NOT NULL DEFAULT 0 CHECK (roster_version >= 0);

CREATE TABLE roster_items (
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- Bare JID of the contact, prepared by the caller.
    contact       TEXT   NOT NULL,
    name          TEXT,
    subscription  TEXT   NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
    ask_subscribe BIGINT NOT NULL CHECK (ask_subscribe IN (0, 1)),
    approved      BIGINT NOT NULL CHECK (approved IN (0, 1)),
    -- Each group followed by a newline; backslash and newline inside a group
    -- escaped as \\ and \n (see roster.rs). Keeps the order, needs no join.
    groups        TEXT   NOT NULL,
    PRIMARY KEY (account_id, contact)
);

-- Subscription requests awaiting the user's answer, from contacts that may
-- not be in the roster at all; the id gives the arrival order.
CREATE TABLE roster_pending_in (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    contact    TEXT   NOT NULL,
    -- The complete serialized <presence type='subscribe'/>.
    stanza     TEXT   NOT NULL,
    UNIQUE (account_id, contact)
);

CREATE TABLE offline_messages (
    -- IDENTITY values only grow, so they give the arrival order (pushes to
    -- one account are serialised) and an id handed to a session can never
    -- name a later message.
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    stored_at  BIGINT NOT NULL,
    stanza     TEXT   NOT NULL
);

-- Also serves the ON DELETE CASCADE lookup by account_id.
CREATE INDEX offline_messages_account ON offline_messages (account_id, id);

CREATE TABLE account_data (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- What the document is, e.g. 'vcard', 'private', 'blocklist'.
    kind       TEXT   NOT NULL,
    key        TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    PRIMARY KEY (account_id, kind, key)
);
