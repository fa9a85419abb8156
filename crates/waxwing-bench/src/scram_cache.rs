//! Client-side cache of SCRAM `SaltedPassword`s.
//!
//! PBKDF2 with the server's iteration count (4096 to hundreds of thousands)
//! is by design the most expensive part of a SCRAM login, and it is paid on
//! both sides. Real clients store `SaltedPassword` after the first login
//! and reuse it while the server keeps the same salt and iteration count,
//! so a benchmark that recomputed it every time would measure itself
//! instead of the server. The cache lives for one run (in memory); the
//! `login` scenario fills it with an unmeasured warm-up pass.

use std::collections::HashMap;
use std::sync::Mutex;

use waxwing_sasl::{HashAlg, ScramClient};

/// One cached value: `(salt, iterations, SaltedPassword)`.
type Entry = (Vec<u8>, u32, Vec<u8>);

/// Shared by all sessions of a run. The password is the same for every
/// user of a run, so the key is just the user and the hash.
#[derive(Debug, Default)]
pub struct ScramCache {
    entries: Mutex<HashMap<(String, HashAlg), Entry>>,
}

impl ScramCache {
    pub fn new() -> ScramCache {
        ScramCache::default()
    }

    /// Gives `client` the cached SaltedPassword of `user`, if any; the
    /// client only uses it if the server sends the same salt and count.
    pub fn prime(&self, user: &str, hash: HashAlg, client: ScramClient) -> ScramClient {
        let entry = self.lock().get(&(user.to_owned(), hash)).cloned();
        match entry {
            Some((salt, iterations, salted)) => client.with_cached_salted_password(salt, iterations, salted),
            None => client,
        }
    }

    /// Remembers what `client` used, after a successful exchange (a failed
    /// one may have used a wrong password, which must not be cached).
    pub fn store(&self, user: &str, hash: HashAlg, client: &ScramClient) {
        if let Some((salt, iterations, salted)) = client.salted_password() {
            self.lock().insert((user.to_owned(), hash), (salt.to_vec(), iterations, salted.to_vec()));
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, HashAlg), Entry>> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (single insert/get), so a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
