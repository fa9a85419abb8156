//! Rosters (RFC 6121): roster items, the roster version, and inbound
//! subscription requests awaiting the user's answer.
//!
//! Accounts and contacts are compared as plain strings, already prepared by
//! the caller (contacts are bare JIDs).
//!
//! Every roster change bumps the account's roster version in the same
//! transaction, so a version always names exactly one roster state. Versions
//! start at 0 again for an account that is removed and registered anew; a
//! caller that hands versions to clients (RFC 6121 §2.6) may want to make them
//! unique across re-registrations.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::accounts::account_id;
use crate::{Store, StoreError};

/// The subscription state of a roster item (RFC 6121 §2.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscription {
    /// Neither side receives the other's presence.
    None,
    /// The user receives the contact's presence.
    To,
    /// The contact receives the user's presence.
    From,
    /// Both receive each other's presence.
    Both,
}

impl Subscription {
    /// The value of the `subscription` attribute: `none`, `to`, `from` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }

    /// The inverse of [`Subscription::as_str`]; `None` for anything else
    /// (including `remove`, which is a request, not a state).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Subscription::None),
            "to" => Some(Subscription::To),
            "from" => Some(Subscription::From),
            "both" => Some(Subscription::Both),
            _ => None,
        }
    }
}

/// One contact in a user's roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterItem {
    /// Bare JID of the contact: the item's key within the roster.
    pub contact: String,
    /// The name the user gave the contact, if any.
    pub name: Option<String>,
    /// The subscription state.
    pub subscription: Subscription,
    /// The user asked to subscribe to the contact's presence and the contact
    /// has not answered yet (`ask='subscribe'`).
    pub ask_subscribe: bool,
    /// The user pre-approved a subscription request from the contact
    /// (RFC 6121 §3.4).
    pub approved: bool,
    /// The groups the item is in, in the order given. Any string is stored
    /// as is, including empty ones and ones holding newlines.
    pub groups: Vec<String>,
}

/// Roster operations on a [`Store`]; obtained from [`Store::roster`].
#[derive(Debug, Clone, Copy)]
pub struct Roster<'a> {
    store: &'a Store,
}

impl<'a> Roster<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        Roster { store }
    }
}

impl Roster<'_> {
    /// Every item of the account's roster, sorted by contact (code point
    /// order); empty if the account does not exist.
    pub async fn items(&self, domain: &str, localpart: &str) -> Result<Vec<RosterItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.contact, r.name, r.subscription, r.ask_subscribe, r.approved, r.groups \
             FROM roster_items r JOIN accounts a ON a.id = r.account_id \
             WHERE a.domain = $1 AND a.localpart = $2",
        )
        .bind(domain)
        .bind(localpart)
        .fetch_all(self.store.pool())
        .await?;
        let mut items = rows.iter().map(item_from_row).collect::<Result<Vec<_>, _>>()?;
        // Sorted here for the same reason as `Accounts::list`: ORDER BY would
        // follow PostgreSQL's locale-dependent collation.
        items.sort_unstable_by(|a, b| a.contact.cmp(&b.contact));
        Ok(items)
    }

    /// The roster item for `contact`, or `None` if there is none (or no such
    /// account).
    pub async fn item(&self, domain: &str, localpart: &str, contact: &str) -> Result<Option<RosterItem>, StoreError> {
        let row = sqlx::query(
            "SELECT r.contact, r.name, r.subscription, r.ask_subscribe, r.approved, r.groups \
             FROM roster_items r JOIN accounts a ON a.id = r.account_id \
             WHERE a.domain = $1 AND a.localpart = $2 AND r.contact = $3",
        )
        .bind(domain)
        .bind(localpart)
        .bind(contact)
        .fetch_optional(self.store.pool())
        .await?;
        row.as_ref().map(item_from_row).transpose()
    }

    /// The number of items in the account's roster (0 if there is no such
    /// account).
    pub async fn count(&self, domain: &str, localpart: &str) -> Result<usize, StoreError> {
        crate::accounts::count_rows(self.store, "roster_items", domain, localpart)
            .await
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// Inserts the item, or replaces the one with the same contact, and
    /// returns the account's new roster version; both happen in one
    /// transaction.
    ///
    /// Fails with [`StoreError::NotFound`] if there is no such account.
    pub async fn put(&self, domain: &str, localpart: &str, item: &RosterItem) -> Result<u64, StoreError> {
        let mut tx = self.store.pool().begin_with(self.store.begin_write()).await?;
        let (id, version) = bump_version(&mut tx, domain, localpart).await?;
        sqlx::query(
            "INSERT INTO roster_items \
             (account_id, contact, name, subscription, ask_subscribe, approved, groups) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (account_id, contact) DO UPDATE SET \
             name = excluded.name, subscription = excluded.subscription, \
             ask_subscribe = excluded.ask_subscribe, approved = excluded.approved, groups = excluded.groups",
        )
        .bind(id)
        .bind(item.contact.as_str())
        .bind(item.name.as_deref())
        .bind(item.subscription.as_str())
        .bind(i64::from(item.ask_subscribe))
        .bind(i64::from(item.approved))
        .bind(encode_groups(&item.groups))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Removes the item for `contact` and returns the account's new roster
    /// version, or `None` (version unchanged) if there was no such item.
    ///
    /// Fails with [`StoreError::NotFound`] if there is no such account.
    pub async fn remove(&self, domain: &str, localpart: &str, contact: &str) -> Result<Option<u64>, StoreError> {
        let mut tx = self.store.pool().begin_with(self.store.begin_write()).await?;
        // Bumped before knowing whether anything is deleted, so that every
        // roster writer locks the account row first: taking the item's row
        // lock first could deadlock against a concurrent `put`.
        let (id, version) = bump_version(&mut tx, domain, localpart).await?;
        let deleted = sqlx::query("DELETE FROM roster_items WHERE account_id = $1 AND contact = $2")
            .bind(id)
            .bind(contact)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(version))
    }

    /// The account's current roster version: 0 until its roster first
    /// changes, and 0 if there is no such account.
    pub async fn version(&self, domain: &str, localpart: &str) -> Result<u64, StoreError> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT roster_version FROM accounts WHERE domain = $1 AND localpart = $2")
                .bind(domain)
                .bind(localpart)
                .fetch_optional(self.store.pool())
                .await?;
        version.map_or(Ok(0), version_from_db)
    }

    /// Records the inbound subscription request of `contact` (the complete
    /// serialized subscribe stanza), replacing an earlier one from the same
    /// contact. A replaced request keeps its place in the arrival order.
    ///
    /// Fails with [`StoreError::NotFound`] if there is no such account.
    pub async fn set_pending_in(
        &self,
        domain: &str,
        localpart: &str,
        contact: &str,
        stanza: &str,
    ) -> Result<(), StoreError> {
        // One statement: selecting the account yields no row to insert if it
        // does not exist, which tells that case apart without a transaction.
        let result = sqlx::query(
            "INSERT INTO roster_pending_in (account_id, contact, stanza) \
             SELECT id, $3, $4 FROM accounts WHERE domain = $1 AND localpart = $2 \
             ON CONFLICT (account_id, contact) DO UPDATE SET stanza = excluded.stanza",
        )
        .bind(domain)
        .bind(localpart)
        .bind(contact)
        .bind(stanza)
        .execute(self.store.pool())
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The pending subscription request of `contact`, if any.
    pub async fn pending_in(&self, domain: &str, localpart: &str, contact: &str) -> Result<Option<String>, StoreError> {
        let stanza = sqlx::query_scalar(
            "SELECT p.stanza FROM roster_pending_in p JOIN accounts a ON a.id = p.account_id \
             WHERE a.domain = $1 AND a.localpart = $2 AND p.contact = $3",
        )
        .bind(domain)
        .bind(localpart)
        .bind(contact)
        .fetch_optional(self.store.pool())
        .await?;
        Ok(stanza)
    }

    /// Forgets the pending subscription request of `contact` (answered or
    /// cancelled). Returns `false` if there was none.
    ///
    /// Fails with [`StoreError::NotFound`] if there is no such account.
    pub async fn clear_pending_in(&self, domain: &str, localpart: &str, contact: &str) -> Result<bool, StoreError> {
        let id = account_id(self.store.pool(), domain, localpart).await?;
        let result = sqlx::query("DELETE FROM roster_pending_in WHERE account_id = $1 AND contact = $2")
            .bind(id)
            .bind(contact)
            .execute(self.store.pool())
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Every pending subscription request as `(contact, stanza)`, in the
    /// order they first arrived; empty if there is no such account.
    pub async fn all_pending_in(&self, domain: &str, localpart: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.contact, p.stanza FROM roster_pending_in p JOIN accounts a ON a.id = p.account_id \
             WHERE a.domain = $1 AND a.localpart = $2 \
             ORDER BY p.id",
        )
        .bind(domain)
        .bind(localpart)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(|row| Ok((row.try_get("contact")?, row.try_get("stanza")?))).collect()
    }
}

/// Increments the roster version of an account and returns its id and the
/// new version.
///
/// The write also locks the account row (PostgreSQL), which serialises all
/// roster changes of one account: versions are never handed out twice.
async fn bump_version(conn: &mut AnyConnection, domain: &str, localpart: &str) -> Result<(i64, u64), StoreError> {
    let row = sqlx::query(
        "UPDATE accounts SET roster_version = roster_version + 1 \
         WHERE domain = $1 AND localpart = $2 \
         RETURNING id, roster_version",
    )
    .bind(domain)
    .bind(localpart)
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok((row.try_get("id")?, version_from_db(row.try_get("roster_version")?)?))
}

fn version_from_db(version: i64) -> Result<u64, StoreError> {
    u64::try_from(version).map_err(|_| StoreError::Corrupt(format!("roster version {version}")))
}

/// Rebuilds an item from a `SELECT contact, name, subscription,
/// ask_subscribe, approved, groups` row.
fn item_from_row(row: &AnyRow) -> Result<RosterItem, StoreError> {
    let subscription: String = row.try_get("subscription")?;
    let groups: String = row.try_get("groups")?;
    Ok(RosterItem {
        contact: row.try_get("contact")?,
        name: row.try_get("name")?,
        subscription: Subscription::parse(&subscription)
            .ok_or_else(|| StoreError::Corrupt(format!("subscription {subscription:?}")))?,
        ask_subscribe: bool_from_db(row.try_get("ask_subscribe")?)?,
        approved: bool_from_db(row.try_get("approved")?)?,
        groups: decode_groups(&groups)?,
    })
}

/// Booleans are stored as 0/1 (see the migration).
fn bool_from_db(value: i64) -> Result<bool, StoreError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(StoreError::Corrupt(format!("boolean {value}"))),
    }
}

/// Groups as one text column: each group followed by `\n`, with `\` and
/// newlines inside a group escaped as `\\` and `\n`.
///
/// A hand-rolled format rather than JSON, which would add a dependency for
/// this one column. Terminating (not separating) each group keeps `[]` and
/// `[""]` apart, and escaping makes every string round-trip.
fn encode_groups(groups: &[String]) -> String {
    let mut out = String::new();
    for group in groups {
        for c in group.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('\n');
    }
    out
}

/// The inverse of [`encode_groups`].
fn decode_groups(text: &str) -> Result<Vec<String>, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("roster groups {text:?}"));
    let mut groups = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\n' => groups.push(std::mem::take(&mut current)),
            '\\' => match chars.next() {
                Some('\\') => current.push('\\'),
                Some('n') => current.push('\n'),
                _ => return Err(corrupt()),
            },
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        return Err(corrupt());
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_round_trips() {
        for s in [Subscription::None, Subscription::To, Subscription::From, Subscription::Both] {
            assert_eq!(Subscription::parse(s.as_str()), Some(s));
        }
        assert_eq!(Subscription::parse("remove"), None);
        assert_eq!(Subscription::parse("Both"), None);
    }

    #[test]
    fn groups_round_trip() {
        let cases: &[&[&str]] = &[
            &[],
            &[""],
            &["", ""],
            &["Friends"],
            &["Friends", "Work", "Friends"],
            &["a\nb", "back\\slash", "\\n", "trailing\\", "\n"],
            &["Família", "友達", "🦜 birds"],
        ];
        for &case in cases {
            let groups: Vec<String> = case.iter().map(|&g| g.to_owned()).collect();
            let encoded = encode_groups(&groups);
            assert_eq!(decode_groups(&encoded).unwrap(), groups, "{encoded:?}");
        }
        assert_eq!(encode_groups(&["a".into(), "b".into()]), "a\nb\n");
    }

    #[test]
    fn corrupt_groups_are_rejected() {
        for text in ["no terminator", "a\nb", "bad \\x escape\n", "dangling \\"] {
            assert!(matches!(decode_groups(text), Err(StoreError::Corrupt(_))), "{text:?}");
        }
    }
}
