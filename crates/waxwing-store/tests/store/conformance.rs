//! Store behaviour every backend must show. Each function is run once per
//! backend by `main.rs`.

use std::sync::Arc;

use waxwing_sasl::{HashAlg, ScramCredentials};
use waxwing_store::{RosterItem, StoreError, Subscription};

use crate::support::{TestDb, all_creds, creds};

// The archive's tests live in their own file; `main.rs` finds them here.
pub use crate::archive::*;

const DOMAIN: &str = "example.org";

/// Asserts two credentials are equal field by field.
#[track_caller]
fn assert_same(actual: &ScramCredentials, expected: &ScramCredentials) {
    assert_eq!(actual.hash, expected.hash, "hash");
    assert_eq!(actual.salt, expected.salt, "salt");
    assert_eq!(actual.iterations, expected.iterations, "iterations");
    assert_eq!(actual.stored_key, expected.stored_key, "stored_key");
    assert_eq!(actual.server_key, expected.server_key, "server_key");
}

pub async fn create_then_read_back(db: &TestDb) {
    let accounts = db.store.accounts();
    let stored = all_creds("secret");
    accounts.create(DOMAIN, "juliet", &stored).await.unwrap();

    assert!(accounts.exists(DOMAIN, "juliet").await.unwrap());
    assert!(!accounts.exists(DOMAIN, "romeo").await.unwrap());
    assert!(!accounts.exists("other.example", "juliet").await.unwrap());
    for expected in &stored {
        let got =
            accounts.credentials(DOMAIN, "juliet", expected.hash).await.unwrap().expect("credentials for every hash");
        assert_same(&got, expected);
    }
    for hash in HashAlg::ALL {
        assert!(accounts.credentials(DOMAIN, "romeo", hash).await.unwrap().is_none());
    }
}

/// Bytes and integers survive the trip through the database unchanged:
/// NUL and high bytes in BLOB/BYTEA, the full u32 range of iterations.
pub async fn values_round_trip_exactly(db: &TestDb) {
    let accounts = db.store.accounts();
    let all_bytes: Vec<u8> = (0..=255).collect();
    let extreme = [
        ScramCredentials {
            hash: HashAlg::Sha1,
            salt: all_bytes.clone(),
            iterations: u32::MAX,
            stored_key: vec![0; 20],
            server_key: vec![0xff; 20],
        },
        ScramCredentials {
            hash: HashAlg::Sha512,
            salt: Vec::new(),
            iterations: 1,
            stored_key: all_bytes.iter().rev().copied().collect(),
            server_key: vec![0x80; 64],
        },
    ];
    // Non-ASCII localparts are stored as given (the caller prepared them).
    accounts.create(DOMAIN, "ñandú-ü", &extreme).await.unwrap();
    for expected in &extreme {
        let got = accounts.credentials(DOMAIN, "ñandú-ü", expected.hash).await.unwrap().unwrap();
        assert_same(&got, expected);
    }
    assert!(accounts.credentials(DOMAIN, "ñandú-ü", HashAlg::Sha256).await.unwrap().is_none());
}

pub async fn list_is_sorted_and_per_domain(db: &TestDb) {
    let accounts = db.store.accounts();
    assert!(accounts.list(DOMAIN).await.unwrap().is_empty());
    for localpart in ["mercutio", "Zed", "juliet", "été", "romeo", "a"] {
        accounts.create(DOMAIN, localpart, &[]).await.unwrap();
    }
    accounts.create("other.example", "benvolio", &[]).await.unwrap();
    // Code point order, whatever the database's collation.
    assert_eq!(accounts.list(DOMAIN).await.unwrap(), ["Zed", "a", "juliet", "mercutio", "romeo", "été"]);
    assert_eq!(accounts.list("other.example").await.unwrap(), ["benvolio"]);
    assert!(accounts.list("nobody.example").await.unwrap().is_empty());
}

pub async fn create_existing_fails(db: &TestDb) {
    let accounts = db.store.accounts();
    let first = [creds(HashAlg::Sha256, "first")];
    accounts.create(DOMAIN, "juliet", &first).await.unwrap();
    let err = accounts.create(DOMAIN, "juliet", &[creds(HashAlg::Sha256, "second")]).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists), "{err:?}");
    // The failed attempt changed nothing.
    let got = accounts.credentials(DOMAIN, "juliet", HashAlg::Sha256).await.unwrap().unwrap();
    assert_same(&got, &first[0]);
    // The same localpart on another domain is another account.
    accounts.create("other.example", "juliet", &[]).await.unwrap();
}

/// A failure half-way through create leaves no account behind.
pub async fn create_is_atomic(db: &TestDb) {
    let accounts = db.store.accounts();
    let mut bad = creds(HashAlg::Sha512, "pw");
    bad.iterations = 0; // violates the schema's CHECK, after the first rows went in
    let err = accounts.create(DOMAIN, "juliet", &[creds(HashAlg::Sha1, "pw"), bad]).await.unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    assert!(!accounts.exists(DOMAIN, "juliet").await.unwrap());
    assert_eq!(db.count_rows("account_credentials").await, 0);
    // And the name is still free.
    accounts.create(DOMAIN, "juliet", &all_creds("pw")).await.unwrap();
}

pub async fn duplicate_hash_rejected(db: &TestDb) {
    let accounts = db.store.accounts();
    let dup = [creds(HashAlg::Sha256, "a"), creds(HashAlg::Sha256, "b")];
    let err = accounts.create(DOMAIN, "juliet", &dup).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateHash("SHA-256")), "{err:?}");
    assert!(!accounts.exists(DOMAIN, "juliet").await.unwrap());

    accounts.create(DOMAIN, "juliet", &[]).await.unwrap();
    let err = accounts.set_credentials(DOMAIN, "juliet", &dup).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateHash("SHA-256")), "{err:?}");
}

pub async fn set_credentials_replaces_all(db: &TestDb) {
    let accounts = db.store.accounts();
    let old = [creds(HashAlg::Sha1, "old"), creds(HashAlg::Sha256, "old")];
    accounts.create(DOMAIN, "juliet", &old).await.unwrap();
    let new = [creds(HashAlg::Sha256, "new"), creds(HashAlg::Sha512, "new")];
    accounts.set_credentials(DOMAIN, "juliet", &new).await.unwrap();

    assert!(accounts.credentials(DOMAIN, "juliet", HashAlg::Sha1).await.unwrap().is_none());
    for expected in &new {
        let got = accounts.credentials(DOMAIN, "juliet", expected.hash).await.unwrap().unwrap();
        assert_same(&got, expected);
    }
    assert_eq!(db.count_rows("account_credentials").await, 2);
}

pub async fn set_credentials_unknown_account(db: &TestDb) {
    let accounts = db.store.accounts();
    let err = accounts.set_credentials(DOMAIN, "nobody", &all_creds("pw")).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert!(!accounts.exists(DOMAIN, "nobody").await.unwrap());
    assert_eq!(db.count_rows("account_credentials").await, 0);
}

/// A failure half-way through a password change keeps the old password.
pub async fn set_credentials_is_atomic(db: &TestDb) {
    let accounts = db.store.accounts();
    let old = all_creds("old");
    accounts.create(DOMAIN, "juliet", &old).await.unwrap();
    let mut bad = creds(HashAlg::Sha512, "new");
    bad.iterations = 0;
    let err = accounts.set_credentials(DOMAIN, "juliet", &[creds(HashAlg::Sha256, "new"), bad]).await.unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    for expected in &old {
        let got = accounts.credentials(DOMAIN, "juliet", expected.hash).await.unwrap().unwrap();
        assert_same(&got, expected);
    }
}

pub async fn remove_cascades(db: &TestDb) {
    let accounts = db.store.accounts();
    accounts.create(DOMAIN, "juliet", &all_creds("pw")).await.unwrap();
    accounts.create(DOMAIN, "romeo", &all_creds("pw2")).await.unwrap();
    assert_eq!(db.count_rows("account_credentials").await, 6);

    assert!(accounts.remove(DOMAIN, "juliet").await.unwrap());
    assert!(!accounts.exists(DOMAIN, "juliet").await.unwrap());
    for hash in HashAlg::ALL {
        assert!(accounts.credentials(DOMAIN, "juliet", hash).await.unwrap().is_none());
    }
    // Credential rows went with the account; romeo's are untouched.
    assert_eq!(db.count_rows("account_credentials").await, 3);
    assert_eq!(accounts.list(DOMAIN).await.unwrap(), ["romeo"]);

    assert!(!accounts.remove(DOMAIN, "juliet").await.unwrap());
    assert!(!accounts.remove("other.example", "romeo").await.unwrap());
    // A removed account can be registered again, without the old credentials.
    accounts.create(DOMAIN, "juliet", &[]).await.unwrap();
    assert!(accounts.credentials(DOMAIN, "juliet", HashAlg::Sha256).await.unwrap().is_none());
}

/// Racing creates of one account: exactly one wins, the others get
/// `AlreadyExists` (not a raw database error), and the winner's credentials
/// are the ones stored.
pub async fn concurrent_creates(db: &TestDb) {
    const RACERS: usize = 8;
    let store = Arc::new(db.store.clone());
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mine = all_creds(&format!("password {i}"));
                let result = store.accounts().create(DOMAIN, "juliet", &mine).await;
                (mine, result)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (mine, result) = task.await.unwrap();
        match result {
            Ok(()) => winners.push(mine),
            Err(StoreError::AlreadyExists) => {}
            Err(other) => panic!("racing create failed with {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    for expected in &winners[0] {
        let got = store.accounts().credentials(DOMAIN, "juliet", expected.hash).await.unwrap().unwrap();
        assert_same(&got, expected);
    }
    assert_eq!(db.count_rows("account_credentials").await, 3);
}

/// Racing password changes all succeed, and the result is exactly one of
/// them: never a mix of hashes from different passwords.
pub async fn concurrent_password_changes(db: &TestDb) {
    const RACERS: usize = 8;
    db.store.accounts().create(DOMAIN, "juliet", &all_creds("initial")).await.unwrap();
    let candidates: Vec<_> = (0..RACERS).map(|i| all_creds(&format!("password {i}"))).collect();
    let store = Arc::new(db.store.clone());
    let tasks: Vec<_> = candidates
        .iter()
        .map(|creds| {
            let (store, creds) = (Arc::clone(&store), creds.clone());
            tokio::spawn(async move { store.accounts().set_credentials(DOMAIN, "juliet", &creds).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("racing set_credentials");
    }
    let stored = current_credentials(&store).await;
    let winner = candidates
        .iter()
        .find(|c| c[0].stored_key == stored[0].stored_key)
        .expect("stored credentials come from one of the racers");
    for (got, expected) in stored.iter().zip(winner) {
        assert_same(got, expected);
    }
    assert_eq!(db.count_rows("account_credentials").await, 3);
}

/// Credentials of juliet for each hash, in order.
async fn current_credentials(store: &waxwing_store::Store) -> Vec<ScramCredentials> {
    let mut out = Vec::new();
    for hash in HashAlg::ALL {
        out.push(store.accounts().credentials(DOMAIN, "juliet", hash).await.unwrap().unwrap());
    }
    out
}

/// Opening an up-to-date database again runs no migration and keeps data.
pub async fn reopen_is_a_no_op(db: &TestDb) {
    db.store.accounts().create(DOMAIN, "juliet", &all_creds("pw")).await.unwrap();
    let again = waxwing_store::Store::open(&db.url).await.unwrap();
    assert_eq!(again.backend(), db.store.backend());
    assert!(again.accounts().exists(DOMAIN, "juliet").await.unwrap());
    again.close().await;
    assert_eq!(db.count_rows("_sqlx_migrations").await, 3);
}

// ---- Rosters -------------------------------------------------------------

fn item(contact: &str) -> RosterItem {
    RosterItem {
        contact: contact.to_owned(),
        name: None,
        subscription: Subscription::None,
        ask_subscribe: false,
        approved: false,
        groups: Vec::new(),
    }
}

pub async fn roster_put_get_update_remove(db: &TestDb) {
    db.store.accounts().create(DOMAIN, "juliet", &[]).await.unwrap();
    let roster = db.store.roster();
    assert!(roster.items(DOMAIN, "juliet").await.unwrap().is_empty());
    assert_eq!(roster.count(DOMAIN, "juliet").await.unwrap(), 0);

    let romeo = RosterItem {
        name: Some("Romeo".into()),
        subscription: Subscription::Both,
        groups: vec!["Friends".into()],
        ..item("romeo@example.net")
    };
    let nurse = RosterItem {
        ask_subscribe: true,
        approved: true,
        subscription: Subscription::From,
        ..item("nurse@example.org")
    };
    let benvolio = RosterItem { subscription: Subscription::To, ..item("benvolio@example.org") };
    for it in [&romeo, &nurse, &benvolio] {
        roster.put(DOMAIN, "juliet", it).await.unwrap();
    }
    assert_eq!(roster.item(DOMAIN, "juliet", "romeo@example.net").await.unwrap().as_ref(), Some(&romeo));
    assert_eq!(roster.item(DOMAIN, "juliet", "nurse@example.org").await.unwrap().as_ref(), Some(&nurse));
    assert!(roster.item(DOMAIN, "juliet", "tybalt@example.org").await.unwrap().is_none());
    // Sorted by contact, not by insertion.
    assert_eq!(roster.items(DOMAIN, "juliet").await.unwrap(), [benvolio.clone(), nurse.clone(), romeo.clone()]);
    assert_eq!(roster.count(DOMAIN, "juliet").await.unwrap(), 3);

    // Putting the same contact replaces every field, including clearing ones.
    let romeo2 =
        RosterItem { name: None, subscription: Subscription::To, ask_subscribe: true, ..item("romeo@example.net") };
    roster.put(DOMAIN, "juliet", &romeo2).await.unwrap();
    assert_eq!(roster.item(DOMAIN, "juliet", "romeo@example.net").await.unwrap(), Some(romeo2));
    assert_eq!(roster.count(DOMAIN, "juliet").await.unwrap(), 3);

    assert!(roster.remove(DOMAIN, "juliet", "romeo@example.net").await.unwrap().is_some());
    assert!(roster.item(DOMAIN, "juliet", "romeo@example.net").await.unwrap().is_none());
    assert_eq!(roster.items(DOMAIN, "juliet").await.unwrap(), [benvolio, nurse]);
    assert_eq!(roster.remove(DOMAIN, "juliet", "romeo@example.net").await.unwrap(), None);

    // Rosters are per account.
    db.store.accounts().create(DOMAIN, "romeo", &[]).await.unwrap();
    assert!(roster.items(DOMAIN, "romeo").await.unwrap().is_empty());
    assert!(roster.item(DOMAIN, "romeo", "nurse@example.org").await.unwrap().is_none());
}

pub async fn roster_version_increments_and_persists(db: &TestDb) {
    let accounts = db.store.accounts();
    accounts.create(DOMAIN, "juliet", &[]).await.unwrap();
    accounts.create(DOMAIN, "romeo", &[]).await.unwrap();
    let roster = db.store.roster();
    assert_eq!(roster.version(DOMAIN, "juliet").await.unwrap(), 0);

    assert_eq!(roster.put(DOMAIN, "juliet", &item("a@example.org")).await.unwrap(), 1);
    assert_eq!(roster.put(DOMAIN, "juliet", &item("b@example.org")).await.unwrap(), 2);
    // Replacing an item is a change too.
    assert_eq!(roster.put(DOMAIN, "juliet", &item("a@example.org")).await.unwrap(), 3);
    assert_eq!(roster.remove(DOMAIN, "juliet", "a@example.org").await.unwrap(), Some(4));
    // Removing nothing changes nothing.
    assert_eq!(roster.remove(DOMAIN, "juliet", "a@example.org").await.unwrap(), None);
    assert_eq!(roster.version(DOMAIN, "juliet").await.unwrap(), 4);
    // Pending requests are not roster items and leave the version alone.
    roster.set_pending_in(DOMAIN, "juliet", "c@example.org", "<presence type='subscribe'/>").await.unwrap();
    assert_eq!(roster.version(DOMAIN, "juliet").await.unwrap(), 4);
    // Versions are per account.
    assert_eq!(roster.version(DOMAIN, "romeo").await.unwrap(), 0);
    assert_eq!(roster.put(DOMAIN, "romeo", &item("a@example.org")).await.unwrap(), 1);

    let again = waxwing_store::Store::open(&db.url).await.unwrap();
    assert_eq!(again.roster().version(DOMAIN, "juliet").await.unwrap(), 4);
    assert_eq!(again.roster().put(DOMAIN, "juliet", &item("d@example.org")).await.unwrap(), 5);
    again.close().await;
    assert_eq!(roster.version(DOMAIN, "juliet").await.unwrap(), 5);
}

/// Group lists come back exactly: order, duplicates, unicode, and the
/// characters the storage format escapes.
pub async fn roster_groups_round_trip(db: &TestDb) {
    db.store.accounts().create(DOMAIN, "juliet", &[]).await.unwrap();
    let roster = db.store.roster();
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec![""],
        vec!["Zeta", "Alpha", "Zeta"],
        vec!["Família", "友達", "Друзья", "🦜 birds", "é\u{301}"],
        vec!["line\nbreak", "back\\slash", "\\n", "trailing\\", "\n", "tab\there", "'quote\"", "<xml/>"],
    ];
    for (i, groups) in cases.iter().enumerate() {
        let it = RosterItem {
            name: Some(format!("名前 {i}")),
            groups: groups.iter().map(|&g| g.to_owned()).collect(),
            ..item(&format!("c{i}@example.org"))
        };
        roster.put(DOMAIN, "juliet", &it).await.unwrap();
        assert_eq!(roster.item(DOMAIN, "juliet", &it.contact).await.unwrap(), Some(it));
    }
    let items = roster.items(DOMAIN, "juliet").await.unwrap();
    let got: Vec<Vec<String>> = items.into_iter().map(|it| it.groups).collect();
    let expected: Vec<Vec<String>> = cases.iter().map(|g| g.iter().map(|&g| g.to_owned()).collect()).collect();
    assert_eq!(got, expected);
}

pub async fn pending_in_set_replace_clear_order(db: &TestDb) {
    db.store.accounts().create(DOMAIN, "juliet", &[]).await.unwrap();
    db.store.accounts().create(DOMAIN, "romeo", &[]).await.unwrap();
    let roster = db.store.roster();
    let stanza =
        |from: &str, n: u32| format!("<presence from='{from}' to='juliet@example.org' type='subscribe' id='{n}'/>");
    assert!(roster.all_pending_in(DOMAIN, "juliet").await.unwrap().is_empty());
    assert!(roster.pending_in(DOMAIN, "juliet", "z@example.org").await.unwrap().is_none());

    // Arrival order, deliberately not alphabetical.
    for contact in ["z@example.org", "a@example.org", "m@example.org"] {
        roster.set_pending_in(DOMAIN, "juliet", contact, &stanza(contact, 1)).await.unwrap();
    }
    assert_eq!(roster.pending_in(DOMAIN, "juliet", "a@example.org").await.unwrap(), Some(stanza("a@example.org", 1)));
    // A repeated request replaces the stanza but keeps its place.
    roster.set_pending_in(DOMAIN, "juliet", "z@example.org", &stanza("z@example.org", 2)).await.unwrap();
    assert_eq!(
        roster.all_pending_in(DOMAIN, "juliet").await.unwrap(),
        [
            ("z@example.org".to_owned(), stanza("z@example.org", 2)),
            ("a@example.org".to_owned(), stanza("a@example.org", 1)),
            ("m@example.org".to_owned(), stanza("m@example.org", 1)),
        ]
    );
    // Not roster items.
    assert_eq!(roster.count(DOMAIN, "juliet").await.unwrap(), 0);
    // Per account.
    assert!(roster.all_pending_in(DOMAIN, "romeo").await.unwrap().is_empty());
    assert!(!roster.clear_pending_in(DOMAIN, "romeo", "a@example.org").await.unwrap());

    assert!(roster.clear_pending_in(DOMAIN, "juliet", "a@example.org").await.unwrap());
    assert!(!roster.clear_pending_in(DOMAIN, "juliet", "a@example.org").await.unwrap());
    assert!(roster.pending_in(DOMAIN, "juliet", "a@example.org").await.unwrap().is_none());
    // A request arriving again after being cleared goes to the end.
    roster.set_pending_in(DOMAIN, "juliet", "a@example.org", &stanza("a@example.org", 3)).await.unwrap();
    let contacts: Vec<String> =
        roster.all_pending_in(DOMAIN, "juliet").await.unwrap().into_iter().map(|(c, _)| c).collect();
    assert_eq!(contacts, ["z@example.org", "m@example.org", "a@example.org"]);
}

/// Concurrent roster changes of one account each get a version of their own.
pub async fn concurrent_roster_puts(db: &TestDb) {
    const RACERS: u64 = 8;
    db.store.accounts().create(DOMAIN, "juliet", &[]).await.unwrap();
    let store = Arc::new(db.store.clone());
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.roster().put(DOMAIN, "juliet", &item(&format!("c{i}@example.org"))).await })
        })
        .collect();
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap().expect("racing put"));
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=RACERS).collect::<Vec<_>>());
    assert_eq!(store.roster().count(DOMAIN, "juliet").await.unwrap(), 8);
}

// ---- Offline messages ----------------------------------------------------

pub async fn offline_order_and_timestamps(db: &TestDb) {
    db.store.accounts().create(DOMAIN, "juliet", &[]).await.unwrap();
    db.store.accounts().create(DOMAIN, "romeo", &[]).await.unwrap();
    let offline = db.store.offline();
    assert!(offline.list(DOMAIN, "juliet").await.unwrap().is_empty());
    let before = unix_now();
    let stanzas = ["<message id='3'>z</message>", "<message id='1'>a</message>", "<message id='2'>ü 🦜</message>"];
    for stanza in stanzas {
        offline.push(DOMAIN, "juliet", stanza, 100).await.unwrap();
    }
    offline.push(DOMAIN, "romeo", "<message>for romeo</message>", 100).await.unwrap();
    let after = unix_now();

    let list = offline.list(DOMAIN, "juliet").await.unwrap();
    let got: Vec<&str> = list.iter().map(|m| m.stanza.as_str()).collect();
    assert_eq!(got, stanzas);
    assert!(list.windows(2).all(|w| w[0].id < w[1].id), "ids grow with arrival");
    assert!(list.iter().all(|m| (before..=after).contains(&m.stored_at)), "{list:?}");
    assert_eq!(offline.count(DOMAIN, "juliet").await.unwrap(), 3);
    assert_eq!(offline.count(DOMAIN, "romeo").await.unwrap(), 1);
}

pub async fn offline_quota(db: &TestDb) {
    db.store.accounts().create(DOMAIN, "juliet", &[]).await.unwrap();
    db.store.accounts().create(DOMAIN, "romeo", &[]).await.unwrap();
    let offline = db.store.offline();
    for i in 0..3 {
        offline.push(DOMAIN, "juliet", &format!("<message id='{i}'/>"), 3).await.unwrap();
    }
    let err = offline.push(DOMAIN, "juliet", "<message id='over'/>", 3).await.unwrap_err();
    assert!(matches!(err, StoreError::QuotaExceeded), "{err:?}");
    assert_eq!(offline.count(DOMAIN, "juliet").await.unwrap(), 3);
    assert!(offline.list(DOMAIN, "juliet").await.unwrap().iter().all(|m| m.stanza != "<message id='over'/>"));
    // A smaller quota than what is stored refuses too; a larger one accepts.
    assert!(matches!(offline.push(DOMAIN, "juliet", "<m/>", 1).await, Err(StoreError::QuotaExceeded)));
    offline.push(DOMAIN, "juliet", "<message id='3'/>", 4).await.unwrap();
    assert_eq!(offline.count(DOMAIN, "juliet").await.unwrap(), 4);
    // The quota is per account; 0 stores nothing.
    offline.push(DOMAIN, "romeo", "<m/>", 1).await.unwrap();
    assert!(matches!(offline.push(DOMAIN, "romeo", "<m/>", 0).await, Err(StoreError::QuotaExceeded)));
    assert_eq!(db.count_rows("offline_messages").await, 5);
    // Deleting makes room again.
    let ids: Vec<i64> = offline.list(DOMAIN, "romeo").await.unwrap().iter().map(|m| m.id).collect();
    offline.delete(DOMAIN, "romeo", &ids).await.unwrap();
    offline.push(DOMAIN, "romeo", "<m/>", 1).await.unwrap();
}

/// Racing pushes never store more than the quota.
pub async fn concurrent_offline_pushes(db: &TestDb) {
    const RACERS: usize = 16;
    const MAX: usize = 5;
    db.store.accounts().create(DOMAIN, "juliet", &[]).await.unwrap();
    let store = Arc::new(db.store.clone());
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(
                async move { store.offline().push(DOMAIN, "juliet", &format!("<message id='{i}'/>"), MAX).await },
            )
        })
        .collect();
    let (mut stored, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => stored += 1,
            Err(StoreError::QuotaExceeded) => refused += 1,
            Err(other) => panic!("racing push failed with {other:?}"),
        }
    }
    assert_eq!((stored, refused), (MAX, RACERS - MAX));
    assert_eq!(store.offline().count(DOMAIN, "juliet").await.unwrap(), MAX);
}

pub async fn offline_delete_by_ids(db: &TestDb) {
    db.store.accounts().create(DOMAIN, "juliet", &[]).await.unwrap();
    db.store.accounts().create(DOMAIN, "romeo", &[]).await.unwrap();
    let offline = db.store.offline();
    for i in 0..5 {
        offline.push(DOMAIN, "juliet", &format!("<message id='{i}'/>"), 2000).await.unwrap();
    }
    offline.push(DOMAIN, "romeo", "<message id='r'/>", 10).await.unwrap();
    let ids: Vec<i64> = offline.list(DOMAIN, "juliet").await.unwrap().iter().map(|m| m.id).collect();
    let romeo_id = offline.list(DOMAIN, "romeo").await.unwrap()[0].id;

    // Nothing to delete is fine; another account's id is ignored.
    offline.delete(DOMAIN, "juliet", &[]).await.unwrap();
    offline.delete(DOMAIN, "juliet", &[ids[1], ids[3], romeo_id, i64::MAX]).await.unwrap();
    let left: Vec<String> = offline.list(DOMAIN, "juliet").await.unwrap().into_iter().map(|m| m.stanza).collect();
    assert_eq!(left, ["<message id='0'/>", "<message id='2'/>", "<message id='4'/>"]);
    assert_eq!(offline.count(DOMAIN, "romeo").await.unwrap(), 1);
    // Deleting again is a no-op.
    offline.delete(DOMAIN, "juliet", &[ids[1]]).await.unwrap();
    assert_eq!(offline.count(DOMAIN, "juliet").await.unwrap(), 3);

    // More ids than fit in one statement.
    for i in 0..1200 {
        offline.push(DOMAIN, "juliet", &format!("<message id='bulk{i}'/>"), 2000).await.unwrap();
    }
    let all: Vec<i64> = offline.list(DOMAIN, "juliet").await.unwrap().iter().map(|m| m.id).collect();
    assert_eq!(all.len(), 1203);
    offline.delete(DOMAIN, "juliet", &all[..1202]).await.unwrap();
    let left: Vec<String> = offline.list(DOMAIN, "juliet").await.unwrap().into_iter().map(|m| m.stanza).collect();
    assert_eq!(left, ["<message id='bulk1199'/>"]);
}

// ---- Account data --------------------------------------------------------

pub async fn account_data_crud(db: &TestDb) {
    db.store.accounts().create(DOMAIN, "juliet", &[]).await.unwrap();
    db.store.accounts().create(DOMAIN, "romeo", &[]).await.unwrap();
    let data = db.store.account_data();
    assert!(data.get(DOMAIN, "juliet", "vcard", "").await.unwrap().is_none());

    data.put(DOMAIN, "juliet", "vcard", "", "<vCard xmlns='vcard-temp'><FN>Juliet</FN></vCard>").await.unwrap();
    assert_eq!(
        data.get(DOMAIN, "juliet", "vcard", "").await.unwrap().as_deref(),
        Some("<vCard xmlns='vcard-temp'><FN>Juliet</FN></vCard>")
    );
    data.put(DOMAIN, "juliet", "vcard", "", "<vCard xmlns='vcard-temp'/>").await.unwrap();
    assert_eq!(data.get(DOMAIN, "juliet", "vcard", "").await.unwrap().as_deref(), Some("<vCard xmlns='vcard-temp'/>"));

    // Same key under another kind, or another account, is another document.
    for blocked in ["tybalt@example.org", "Paris@example.org", "été@example.org", "capulet.example"] {
        data.put(DOMAIN, "juliet", "blocklist", blocked, "").await.unwrap();
    }
    data.put(DOMAIN, "juliet", "private", "", "ünïcødé 🦜").await.unwrap();
    data.put(DOMAIN, "romeo", "blocklist", "tybalt@example.org", "").await.unwrap();
    assert_eq!(data.get(DOMAIN, "juliet", "private", "").await.unwrap().as_deref(), Some("ünïcødé 🦜"));
    let keys: Vec<String> =
        data.list(DOMAIN, "juliet", "blocklist").await.unwrap().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["Paris@example.org", "capulet.example", "tybalt@example.org", "été@example.org"]);
    assert_eq!(
        data.list(DOMAIN, "juliet", "vcard").await.unwrap(),
        [(String::new(), "<vCard xmlns='vcard-temp'/>".to_owned())]
    );
    assert!(data.list(DOMAIN, "juliet", "nothing").await.unwrap().is_empty());

    assert!(data.delete(DOMAIN, "juliet", "blocklist", "tybalt@example.org").await.unwrap());
    assert!(!data.delete(DOMAIN, "juliet", "blocklist", "tybalt@example.org").await.unwrap());
    assert!(data.get(DOMAIN, "juliet", "blocklist", "tybalt@example.org").await.unwrap().is_none());
    assert!(data.get(DOMAIN, "romeo", "blocklist", "tybalt@example.org").await.unwrap().is_some());

    assert_eq!(data.clear(DOMAIN, "juliet", "blocklist").await.unwrap(), 3);
    assert_eq!(data.clear(DOMAIN, "juliet", "blocklist").await.unwrap(), 0);
    assert!(data.list(DOMAIN, "juliet", "blocklist").await.unwrap().is_empty());
    // Other kinds and accounts are untouched.
    assert!(data.get(DOMAIN, "juliet", "vcard", "").await.unwrap().is_some());
    assert_eq!(data.list(DOMAIN, "romeo", "blocklist").await.unwrap().len(), 1);
}

// ---- Across all of them --------------------------------------------------

/// Reads about a missing account find nothing; writes fail with `NotFound`
/// and store nothing.
pub async fn unknown_account(db: &TestDb) {
    let (roster, offline, data) = (db.store.roster(), db.store.offline(), db.store.account_data());
    // Exists on another domain only, so nothing may leak across.
    db.store.accounts().create("other.example", "juliet", &[]).await.unwrap();
    roster.put("other.example", "juliet", &item("a@example.org")).await.unwrap();

    assert!(roster.items(DOMAIN, "juliet").await.unwrap().is_empty());
    assert!(roster.item(DOMAIN, "juliet", "a@example.org").await.unwrap().is_none());
    assert_eq!(roster.count(DOMAIN, "juliet").await.unwrap(), 0);
    assert_eq!(roster.version(DOMAIN, "juliet").await.unwrap(), 0);
    assert!(roster.pending_in(DOMAIN, "juliet", "a@example.org").await.unwrap().is_none());
    assert!(roster.all_pending_in(DOMAIN, "juliet").await.unwrap().is_empty());
    assert!(offline.list(DOMAIN, "juliet").await.unwrap().is_empty());
    assert_eq!(offline.count(DOMAIN, "juliet").await.unwrap(), 0);
    assert!(data.get(DOMAIN, "juliet", "vcard", "").await.unwrap().is_none());
    assert!(data.list(DOMAIN, "juliet", "vcard").await.unwrap().is_empty());

    let not_found = |result: Result<(), StoreError>| assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    not_found(roster.put(DOMAIN, "juliet", &item("a@example.org")).await.map(drop));
    not_found(roster.remove(DOMAIN, "juliet", "a@example.org").await.map(drop));
    not_found(roster.set_pending_in(DOMAIN, "juliet", "a@example.org", "<presence/>").await);
    not_found(roster.clear_pending_in(DOMAIN, "juliet", "a@example.org").await.map(drop));
    not_found(offline.push(DOMAIN, "juliet", "<message/>", 10).await);
    not_found(offline.delete(DOMAIN, "juliet", &[1]).await);
    not_found(data.put(DOMAIN, "juliet", "vcard", "", "<vCard/>").await);
    not_found(data.delete(DOMAIN, "juliet", "vcard", "").await.map(drop));
    not_found(data.clear(DOMAIN, "juliet", "vcard").await.map(drop));

    for table in ["roster_pending_in", "offline_messages", "account_data"] {
        assert_eq!(db.count_rows(table).await, 0, "{table}");
    }
    assert_eq!(db.count_rows("roster_items").await, 1);
}

/// Removing an account removes its roster, pending requests, offline
/// messages and documents, and only its own.
pub async fn remove_account_removes_im_data(db: &TestDb) {
    let (roster, offline, data) = (db.store.roster(), db.store.offline(), db.store.account_data());
    for user in ["juliet", "romeo"] {
        db.store.accounts().create(DOMAIN, user, &[]).await.unwrap();
        let item = RosterItem { groups: vec!["g".into()], ..item("nurse@example.org") };
        roster.put(DOMAIN, user, &item).await.unwrap();
        roster.put(DOMAIN, user, &item).await.unwrap();
        roster.set_pending_in(DOMAIN, user, "tybalt@example.org", "<presence type='subscribe'/>").await.unwrap();
        offline.push(DOMAIN, user, "<message/>", 10).await.unwrap();
        data.put(DOMAIN, user, "vcard", "", "<vCard/>").await.unwrap();
    }
    let tables = ["roster_items", "roster_pending_in", "offline_messages", "account_data"];
    for table in tables {
        assert_eq!(db.count_rows(table).await, 2, "{table}");
    }

    assert!(db.store.accounts().remove(DOMAIN, "juliet").await.unwrap());
    for table in tables {
        assert_eq!(db.count_rows(table).await, 1, "{table}");
    }
    assert_eq!(roster.count(DOMAIN, "romeo").await.unwrap(), 1);
    assert_eq!(roster.version(DOMAIN, "romeo").await.unwrap(), 2);

    // Registering the name again starts from nothing.
    db.store.accounts().create(DOMAIN, "juliet", &[]).await.unwrap();
    assert!(roster.items(DOMAIN, "juliet").await.unwrap().is_empty());
    assert_eq!(roster.version(DOMAIN, "juliet").await.unwrap(), 0);
    assert!(roster.all_pending_in(DOMAIN, "juliet").await.unwrap().is_empty());
    assert!(offline.list(DOMAIN, "juliet").await.unwrap().is_empty());
    assert!(data.get(DOMAIN, "juliet", "vcard", "").await.unwrap().is_none());
}

fn unix_now() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970");
    i64::try_from(now.as_secs()).expect("seconds fit i64")
}
