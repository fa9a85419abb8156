-- Message archive of accounts (XEP-0313), PostgreSQL.
--
-- One row per archived message per account: a one-to-one message between two
-- local users is archived twice, once in each party's archive, under
-- different XEP-0359 stanza ids. The row id gives the archive order (the
-- order in which messages were archived), which paging (XEP-0059) follows.

CREATE TABLE archive (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The XEP-0359 stanza id the server gave the message in this archive,
    -- unique among all archives (it has 80 random bits).
    stanza_id     TEXT   NOT NULL,
    -- When it was archived, in Unix seconds.
    stamp         BIGINT NOT NULL,
    -- The other party: bare JID and resource ('' when there was none), so
    -- that the `with` filter can match a bare or a full JID (XEP-0313 §4.1.1).
    with_bare     TEXT   NOT NULL,
    with_resource TEXT   NOT NULL,
    -- The complete serialized message, as delivered.
    stanza        TEXT   NOT NULL,
    -- Full-text index of the body, lowercased and stripped of diacritics by
    -- the store before to_tsvector('simple', ...): the unaccent extension
    -- cannot be assumed to be installable, and the 'simple' configuration
    -- does no language-specific stemming, like SQLite's FTS5 side.
    search        TSVECTOR NOT NULL,
    -- Unique on its own, not per account: ids start with the time (the
    -- server makes them so), so this index is appended to, where one on
    -- (account_id, stanza_id) would take a write at a random place per row.
    -- Lookups give the account too and stay exact.
    UNIQUE (stanza_id)
);

-- Paging walks one account's rows by id.
CREATE INDEX archive_account ON archive (account_id, id);
-- Retention by age deletes by stamp across all accounts.
CREATE INDEX archive_stamp ON archive (stamp);
CREATE INDEX archive_search ON archive USING GIN (search);
