-- Message archive of accounts (XEP-0313), SQLite.
--
-- One row per archived message per account: a one-to-one message between two
-- local users is archived twice, once in each party's archive, under
-- different XEP-0359 stanza ids. The row id gives the archive order (the
-- order in which messages were archived), which paging (XEP-0059) follows.

CREATE TABLE archive (
    -- AUTOINCREMENT: ids only grow, so they give the archive order even
    -- after the newest rows were deleted.
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The XEP-0359 stanza id the server gave the message in this archive,
    -- unique among all archives (it has 80 random bits).
    stanza_id     TEXT    NOT NULL,
    -- When it was archived, in Unix seconds.
    stamp         INTEGER NOT NULL,
    -- The other party: bare JID and resource ('' when there was none), so
    -- that the `with` filter can match a bare or a full JID (XEP-0313 §4.1.1).
    with_bare     TEXT    NOT NULL,
    with_resource TEXT    NOT NULL,
    -- The complete serialized message, as delivered.
    stanza        TEXT    NOT NULL,
    -- Unique on its own, not per account: ids start with the time (the
    -- server makes them so), so this index is appended to, where one on
    -- (account_id, stanza_id) would take a write at a random place per row.
    -- Lookups give the account too and stay exact.
    UNIQUE (stanza_id)
) STRICT;

-- Paging walks one account's rows by id.
CREATE INDEX archive_account ON archive (account_id, id);
-- Retention by age deletes by stamp across all accounts.
CREATE INDEX archive_stamp ON archive (stamp);

-- Full-text index of the message bodies, already lowercased and stripped of
-- diacritics by the store (the same normalisation as the PostgreSQL side and
-- as the search terms); unicode61 with remove_diacritics 2 would also catch
-- what that normalisation misses. Contentless: the text lives in `stanza`,
-- and the rowid is archive.id.
CREATE VIRTUAL TABLE archive_fts USING fts5 (
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Every way a row goes (retention, account removal through ON DELETE
-- CASCADE) takes its index entry with it.
CREATE TRIGGER archive_fts_delete AFTER DELETE ON archive BEGIN
    DELETE FROM archive_fts WHERE rowid = old.id;
END;
