//! Account behaviour every backend must show. Each function is run once per
//! backend by `main.rs`.

use std::sync::Arc;

use waxwing_sasl::{HashAlg, ScramCredentials};
use waxwing_store::StoreError;

use crate::support::{TestDb, all_creds, creds};

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
    assert_eq!(db.count_rows("_sqlx_migrations").await, 1);
}
