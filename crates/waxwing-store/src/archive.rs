//! The message archive of accounts (XEP-0313): serialized messages, each
//! under the XEP-0359 stanza id the server gave it, queried by the other
//! party, time, id range and full text, and paged (XEP-0059) in archive
//! order.
//!
//! Writes come in batches ([`Archive::append`]): the caller groups what many
//! sessions archive at once into one transaction, so that one commit (one
//! fsync) serves many messages.
//!
//! Full-text search is accent- and case-insensitive on both backends: the
//! body is normalised here ([`normalize`]: Unicode NFD, combining marks
//! dropped, lowercased) before it is indexed (SQLite FTS5, PostgreSQL
//! `tsvector` with the `simple` configuration), and the search terms go
//! through the same normalisation. A search matches messages containing every
//! word of it.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Connection, Row};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::accounts::account_id;
use crate::{Backend, Store, StoreError};

/// Rows deleted per statement by [`Archive::prune_older_than`], so that
/// a large purge does not hold the write lock for long.
const PRUNE_CHUNK: i64 = 1000;

/// Entries per INSERT statement in [`Archive::append`]: 8 bound values each,
/// far below both backends' limit on bound parameters.
const APPEND_CHUNK: usize = 256;

/// Most ids a query's `ids` filter may name, far below both backends' limit
/// on bound parameters.
pub const MAX_IDS: usize = 1000;

/// A message to archive for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArchived {
    pub domain: String,
    pub localpart: String,
    /// The XEP-0359 stanza id, unique among all archives (a duplicate fails
    /// the batch).
    pub stanza_id: String,
    /// When it was archived, in Unix seconds.
    pub stamp: i64,
    /// The other party's bare JID.
    pub with_bare: String,
    /// The other party's resource, or empty.
    pub with_resource: String,
    /// The serialized message.
    pub stanza: String,
    /// Its body text, for full-text search (normalised by the store).
    pub body: String,
}

/// One archived message, as returned by [`Archive::query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archived {
    pub stanza_id: String,
    /// Unix seconds.
    pub stamp: i64,
    pub stanza: String,
}

/// What a query selects (XEP-0313 §4.1); every given criterion must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveFilter {
    /// The other party's bare JID, and its resource if only that one
    /// resource's messages are wanted.
    pub with: Option<(String, Option<String>)>,
    /// Archived at or after this Unix second.
    pub start: Option<i64>,
    /// Archived at or before this Unix second.
    pub end: Option<i64>,
    /// Only messages archived after the one with this stanza id (exclusive).
    pub after_id: Option<String>,
    /// Only messages archived before the one with this stanza id (exclusive).
    pub before_id: Option<String>,
    /// Only the messages with these stanza ids (at most [`MAX_IDS`]).
    pub ids: Option<Vec<String>>,
    /// Words that must all occur in the body.
    pub fulltext: Option<String>,
}

/// Which page of the matching messages a query returns (XEP-0059).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// The first `max` messages after the one with this stanza id (from the
    /// oldest if `None`).
    After(Option<String>),
    /// The last `max` messages before the one with this stanza id (up to the
    /// newest if `None`).
    Before(Option<String>),
}

/// One page of results, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivePage {
    pub items: Vec<Archived>,
    /// No matching message lies beyond this page in the paging direction.
    pub complete: bool,
    /// How many messages match the filter, on all pages.
    pub count: u64,
    /// The position of the page's first message among all matching ones
    /// (XEP-0059 `<first index>`), if the page is not empty.
    pub first_index: Option<u64>,
}

/// The oldest and newest message of an archive (XEP-0313 §5.1 metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveBounds {
    pub first: (String, i64),
    pub last: (String, i64),
}

/// Archive operations on a [`Store`]; obtained from [`Store::archive`].
#[derive(Debug, Clone, Copy)]
pub struct Archive<'a> {
    store: &'a Store,
}

impl<'a> Archive<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        Archive { store }
    }
}

impl Archive<'_> {
    /// Archives every message of `batch` in one transaction, on any pooled
    /// connection. Messages for accounts that do not exist (any more) are
    /// skipped. Returns how many were stored. A steady writer should use an
    /// [`ArchiveWriter`] instead.
    pub async fn append(&self, batch: &[NewArchived]) -> Result<usize, StoreError> {
        let mut conn = self.store.pool().acquire().await?;
        append_on(self.store, &mut conn, batch).await
    }

    /// One page of the account's messages matching `filter`, oldest first, at
    /// most `max` of them.
    ///
    /// Returns `None` if a stanza id that the filter (`after_id`,
    /// `before_id`) or the page names is not in the account's archive
    /// (XEP-0313 §4.1.1 and XEP-0059 §2.5 want `item-not-found` then), and an
    /// empty complete page if there is no such account.
    pub async fn query(
        &self,
        domain: &str,
        localpart: &str,
        filter: &ArchiveFilter,
        page: &Page,
        max: usize,
    ) -> Result<Option<ArchivePage>, StoreError> {
        let mut conn = self.store.pool().acquire().await?;
        let account = match account_id(&mut *conn, domain, localpart).await {
            Ok(id) => id,
            Err(StoreError::NotFound) => {
                return Ok(Some(ArchivePage { items: Vec::new(), complete: true, count: 0, first_index: None }));
            }
            Err(err) => return Err(err),
        };
        let Some(after_row) = row_of(&mut conn, account, filter.after_id.as_deref()).await? else { return Ok(None) };
        let Some(before_row) = row_of(&mut conn, account, filter.before_id.as_deref()).await? else {
            return Ok(None);
        };
        let (page_id, forward) = match page {
            Page::After(id) => (id.as_ref(), true),
            Page::Before(id) => (id.as_ref(), false),
        };
        let Some(page_row) = row_of(&mut conn, account, page_id.map(String::as_str)).await? else { return Ok(None) };

        let conditions = Conditions::new(self.store.backend(), account, filter, after_row, before_row);

        // One row more than asked for tells whether the page is complete.
        let limit = i64::try_from(max).unwrap_or(i64::MAX - 1).saturating_add(1);
        let mut sql = format!("SELECT id, stanza_id, stamp, stanza FROM archive WHERE {}", conditions.sql);
        let mut binds = conditions.binds.clone();
        if let Some(row) = page_row {
            binds.push(Bind::Int(row));
            sql.push_str(&format!(" AND id {} ${}", if forward { '>' } else { '<' }, binds.len()));
        }
        binds.push(Bind::Int(limit));
        sql.push_str(&format!(" ORDER BY id {} LIMIT ${}", if forward { "ASC" } else { "DESC" }, binds.len()));
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &binds).fetch_all(&mut *conn).await?;
        let complete = rows.len() <= max;
        let mut rows: Vec<(i64, Archived)> = rows.iter().take(max).map(archived_from_row).collect::<Result<_, _>>()?;
        if !forward {
            rows.reverse();
        }

        let count_sql = format!("SELECT COUNT(*) FROM archive WHERE {}", conditions.sql);
        let count: i64 = bind_all_scalar(sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql)), &conditions.binds)
            .fetch_one(&mut *conn)
            .await?;
        let first_index = match rows.first() {
            None => None,
            Some((first, _)) => {
                let mut binds = conditions.binds.clone();
                binds.push(Bind::Int(*first));
                let sql = format!("SELECT COUNT(*) FROM archive WHERE {} AND id < ${}", conditions.sql, binds.len());
                let before: i64 =
                    bind_all_scalar(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), &binds).fetch_one(&mut *conn).await?;
                Some(to_u64(before)?)
            }
        };
        Ok(Some(ArchivePage {
            items: rows.into_iter().map(|(_, archived)| archived).collect(),
            complete,
            count: to_u64(count)?,
            first_index,
        }))
    }

    /// The oldest and newest message of the account's archive, or `None` if
    /// it is empty or there is no such account.
    pub async fn bounds(&self, domain: &str, localpart: &str) -> Result<Option<ArchiveBounds>, StoreError> {
        let edge = |order: &'static str| async move {
            let sql = format!(
                "SELECT r.stanza_id, r.stamp FROM archive r JOIN accounts a ON a.id = r.account_id \
                 WHERE a.domain = $1 AND a.localpart = $2 ORDER BY r.id {order} LIMIT 1"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(domain)
                .bind(localpart)
                .fetch_optional(self.store.pool())
                .await?;
            row.map(|row| Ok::<_, StoreError>((row.try_get::<String, _>("stanza_id")?, row.try_get("stamp")?)))
                .transpose()
        };
        let (Some(first), Some(last)) = (edge("ASC").await?, edge("DESC").await?) else { return Ok(None) };
        Ok(Some(ArchiveBounds { first, last }))
    }

    /// How many messages the account's archive holds (0 if there is no such
    /// account).
    pub async fn count(&self, domain: &str, localpart: &str) -> Result<u64, StoreError> {
        crate::accounts::count_rows(self.store, "archive", domain, localpart).await
    }

    /// Deletes the account's oldest messages beyond the newest `keep`.
    /// Returns how many were deleted.
    pub async fn trim(&self, domain: &str, localpart: &str, keep: u64) -> Result<u64, StoreError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let result = sqlx::query(
            "DELETE FROM archive WHERE account_id = (SELECT id FROM accounts WHERE domain = $1 AND localpart = $2) \
             AND id <= (SELECT r.id FROM archive r JOIN accounts a ON a.id = r.account_id \
                        WHERE a.domain = $1 AND a.localpart = $2 ORDER BY r.id DESC LIMIT 1 OFFSET $3)",
        )
        .bind(domain)
        .bind(localpart)
        .bind(keep)
        .execute(self.store.pool())
        .await?;
        Ok(result.rows_affected())
    }

    /// Deletes every message (of all accounts) archived before Unix second
    /// `cutoff`, a chunk per transaction. Returns how many were deleted.
    pub async fn prune_older_than(&self, cutoff: i64) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let result = sqlx::query(
                "DELETE FROM archive WHERE id IN (SELECT id FROM archive WHERE stamp < $1 ORDER BY stamp LIMIT $2)",
            )
            .bind(cutoff)
            .bind(PRUNE_CHUNK)
            .execute(self.store.pool())
            .await?;
            total += result.rows_affected();
            if result.rows_affected() < PRUNE_CHUNK.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}

/// A writer of archive batches that keeps one connection for itself.
///
/// A SQLite connection keeps the pages it read in its cache only while no
/// other connection writes; the pool hands out its connections in turn, so
/// batches written on whichever connection is free would each start from a
/// cache emptied by the previous batch. One connection for every batch keeps
/// the pages it appends to (the ends of the indexes) cached.
#[derive(Debug)]
pub struct ArchiveWriter {
    store: Store,
    conn: Option<PoolConnection<Any>>,
}

impl ArchiveWriter {
    pub(crate) fn new(store: Store) -> ArchiveWriter {
        ArchiveWriter { store, conn: None }
    }

    /// Gives the connection back to the pool (the next batch takes one
    /// again). Hold it only while batches keep coming: closing the store
    /// waits for every connection to be returned.
    pub fn release(&mut self) {
        self.conn = None;
    }

    /// Whether the writer holds a connection now.
    pub fn holds_connection(&self) -> bool {
        self.conn.is_some()
    }

    /// As [`Archive::append`], on this writer's connection.
    pub async fn append(&mut self, batch: &[NewArchived]) -> Result<usize, StoreError> {
        // A pool of one connection (an in-memory database) must not lose it
        // to the writer: every other operation would wait forever.
        if self.store.pool().options().get_max_connections() <= 1 {
            return self.store.archive().append(batch).await;
        }
        let conn = match &mut self.conn {
            Some(conn) => conn,
            none => none.insert(self.store.pool().acquire().await?),
        };
        let result = append_on(&self.store, conn, batch).await;
        if result.is_err() {
            // The connection may be broken: take a fresh one next time.
            self.conn = None;
        }
        result
    }
}

/// Stores `batch` in one transaction on `conn`.
///
/// Rows go in with one multi-row statement per [`APPEND_CHUNK`] entries
/// (and on SQLite one more for the full-text index), not one per entry:
/// each statement is a round trip to the database (for SQLite, to its
/// worker thread), which costs more than the insert itself.
async fn append_on(store: &Store, conn: &mut AnyConnection, batch: &[NewArchived]) -> Result<usize, StoreError> {
    let backend = store.backend();
    let mut tx = conn.begin_with(store.begin_write()).await?;
    let mut stored = 0;
    for chunk in batch.chunks(APPEND_CHUNK) {
        let searches: HashMap<&str, String> =
            chunk.iter().map(|e| (e.stanza_id.as_str(), normalize(&e.body))).collect();
        // One VALUES row per entry, joined with accounts: an entry for a
        // missing account yields no row instead of failing the batch.
        // Ids are assigned in the order the SELECT yields rows, and the
        // join may reorder them (PostgreSQL's hash join does): ORDER BY
        // keeps the archive order the order of the batch.
        // Only numbered placeholders are formatted into the SQL.
        let width = if backend == Backend::Postgres { 8 } else { 7 };
        let rows: Vec<String> = (0..chunk.len())
            .map(|row| {
                let params: Vec<String> = (1..=width).map(|col| format!("${}", row * width + col)).collect();
                // Last: the entry's position, to insert in batch order.
                format!("({}, {row})", params.join(", "))
            })
            .collect();
        let (search_column, search_value) = match backend {
            Backend::Postgres => (", search", ", to_tsvector('simple', v.column8)"),
            Backend::Sqlite => ("", ""),
        };
        let sql = format!(
            "INSERT INTO archive (account_id, stanza_id, stamp, with_bare, with_resource, stanza{search_column}) \
             SELECT a.id, v.column3, v.column4, v.column5, v.column6, v.column7{search_value} \
             FROM (VALUES {}) AS v, accounts a \
             WHERE a.domain = v.column1 AND a.localpart = v.column2 \
             ORDER BY v.column{} \
             RETURNING id, stanza_id",
            rows.join(", "),
            width + 1
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for entry in chunk {
            query = query
                .bind(&entry.domain)
                .bind(&entry.localpart)
                .bind(&entry.stanza_id)
                .bind(entry.stamp)
                .bind(&entry.with_bare)
                .bind(&entry.with_resource)
                .bind(&entry.stanza);
            if backend == Backend::Postgres {
                query = query.bind(&searches[entry.stanza_id.as_str()]);
            }
        }
        let inserted = query.fetch_all(&mut *tx).await?;
        stored += inserted.len();
        if backend == Backend::Sqlite {
            let mut index: Vec<(i64, &str)> = Vec::with_capacity(inserted.len());
            for row in &inserted {
                let stanza_id: String = row.try_get("stanza_id")?;
                let search = searches.get(stanza_id.as_str()).map(String::as_str).unwrap_or_default();
                if !search.is_empty() {
                    index.push((row.try_get("id")?, search));
                }
            }
            if !index.is_empty() {
                let rows: Vec<String> = (0..index.len()).map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2)).collect();
                let sql = format!("INSERT INTO archive_fts (rowid, body) VALUES {}", rows.join(", "));
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (id, search) in index {
                    query = query.bind(id).bind(search);
                }
                query.execute(&mut *tx).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(stored)
}

/// The row id of the message with `stanza_id` in account `account`'s
/// archive: `Some(None)` when no id was given, `None` when it names nothing.
async fn row_of(
    conn: &mut sqlx::AnyConnection,
    account: i64,
    stanza_id: Option<&str>,
) -> Result<Option<Option<i64>>, StoreError> {
    let Some(stanza_id) = stanza_id else { return Ok(Some(None)) };
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM archive WHERE account_id = $1 AND stanza_id = $2")
        .bind(account)
        .bind(stanza_id)
        .fetch_optional(conn)
        .await?;
    Ok(id.map(Some))
}

/// Lowercases `text` and strips its diacritics (NFD, then combining marks
/// dropped): "Élan" and "elan" index and match alike.
pub fn normalize(text: &str) -> String {
    text.nfd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

/// A value bound to a numbered placeholder.
#[derive(Debug, Clone)]
enum Bind {
    Int(i64),
    Text(String),
}

/// The WHERE clause of a query and its bound values; placeholders are
/// numbered in order of appearance ($1, $2, ...), which both backends read
/// the same way.
struct Conditions {
    sql: String,
    binds: Vec<Bind>,
}

impl Conditions {
    fn new(
        backend: Backend,
        account: i64,
        filter: &ArchiveFilter,
        after_row: Option<i64>,
        before_row: Option<i64>,
    ) -> Conditions {
        let mut c = Conditions { sql: String::new(), binds: Vec::new() };
        c.push("account_id = ", Bind::Int(account));
        if let Some((bare, resource)) = &filter.with {
            c.push(" AND with_bare = ", Bind::Text(bare.clone()));
            if let Some(resource) = resource {
                c.push(" AND with_resource = ", Bind::Text(resource.clone()));
            }
        }
        if let Some(start) = filter.start {
            c.push(" AND stamp >= ", Bind::Int(start));
        }
        if let Some(end) = filter.end {
            c.push(" AND stamp <= ", Bind::Int(end));
        }
        if let Some(row) = after_row {
            c.push(" AND id > ", Bind::Int(row));
        }
        if let Some(row) = before_row {
            c.push(" AND id < ", Bind::Int(row));
        }
        if let Some(ids) = &filter.ids {
            if ids.is_empty() {
                c.sql.push_str(" AND 1 = 0");
            } else {
                c.sql.push_str(" AND stanza_id IN (");
                for (i, id) in ids.iter().take(MAX_IDS).enumerate() {
                    if i > 0 {
                        c.sql.push_str(", ");
                    }
                    c.push("", Bind::Text(id.clone()));
                }
                c.sql.push(')');
            }
        }
        if let Some(text) = &filter.fulltext {
            let words = search_words(text);
            if !words.is_empty() {
                match backend {
                    // Each word quoted as an FTS5 string: the user's text is
                    // never read as FTS5 query syntax. Words side by side
                    // are ANDed.
                    Backend::Sqlite => {
                        let query = words.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(" ");
                        c.push(" AND id IN (SELECT rowid FROM archive_fts WHERE archive_fts MATCH ", Bind::Text(query));
                        c.sql.push(')');
                    }
                    // plainto_tsquery ANDs the words and ignores operators.
                    Backend::Postgres => {
                        c.push(" AND search @@ plainto_tsquery('simple', ", Bind::Text(words.join(" ")));
                        c.sql.push(')');
                    }
                }
            }
        }
        c
    }

    fn push(&mut self, sql: &str, bind: Bind) {
        self.binds.push(bind);
        self.sql.push_str(sql);
        self.sql.push_str(&format!("${}", self.binds.len()));
    }
}

/// The normalised words of a search: runs of letters and digits.
fn search_words(text: &str) -> Vec<String> {
    normalize(text).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    binds: &[Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for bind in binds {
        query = match bind {
            Bind::Int(v) => query.bind(*v),
            Bind::Text(v) => query.bind(v.clone()),
        };
    }
    query
}

fn bind_all_scalar<'q>(
    mut query: sqlx::query::QueryScalar<'q, sqlx::Any, i64, sqlx::any::AnyArguments>,
    binds: &[Bind],
) -> sqlx::query::QueryScalar<'q, sqlx::Any, i64, sqlx::any::AnyArguments> {
    for bind in binds {
        query = match bind {
            Bind::Int(v) => query.bind(*v),
            Bind::Text(v) => query.bind(v.clone()),
        };
    }
    query
}

fn archived_from_row(row: &AnyRow) -> Result<(i64, Archived), StoreError> {
    Ok((
        row.try_get("id")?,
        Archived { stanza_id: row.try_get("stanza_id")?, stamp: row.try_get("stamp")?, stanza: row.try_get("stanza")? },
    ))
}

fn to_u64(count: i64) -> Result<u64, StoreError> {
    u64::try_from(count).map_err(|_| StoreError::Corrupt(format!("row count {count}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_case_and_accents() {
        assert_eq!(normalize("Crème BRÛLÉE"), "creme brulee");
        assert_eq!(normalize("Ñandú"), "nandu");
        assert_eq!(normalize("straße"), "straße");
    }

    #[test]
    fn search_words_drop_syntax() {
        assert_eq!(search_words("\"Café\" OR* au-lait"), ["cafe", "or", "au", "lait"]);
        assert!(search_words("  ***  ").is_empty());
    }
}
