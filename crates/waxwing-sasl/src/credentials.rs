//! Stored SCRAM credentials (RFC 5802 §3) and their derivation.

use std::fmt;

use crate::crypto::{ct_eq, hash, hi, hmac, random_bytes};
use crate::{HashAlg, SaslError, saslprep};

/// Default PBKDF2 iteration count for new credentials.
///
/// Above the RFC 7677 §4 minimum of 4096; clients cache the salted
/// password (see [`crate::ScramClient::with_cached_salted_password`]), so
/// the cost is paid once per password change rather than per login.
pub const DEFAULT_ITERATIONS: u32 = 10_000;

/// What the server stores per account and hash: never the password.
///
/// `stored_key = H(HMAC(SaltedPassword, "Client Key"))` and
/// `server_key = HMAC(SaltedPassword, "Server Key")`, with
/// `SaltedPassword = Hi(SASLprep(password), salt, iterations)`.
/// Knowing them lets the server verify clients and prove itself, but not
/// impersonate the user elsewhere (RFC 5802 §9).
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    /// The hash these keys were derived with.
    pub hash: HashAlg,
    /// The PBKDF2 salt.
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub iterations: u32,
    /// `H(ClientKey)`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl ScramCredentials {
    /// Derives credentials from a password (SASLprep'd first).
    ///
    /// Fails with [`SaslError::MalformedRequest`] if the password is not
    /// valid SASLprep input or `iterations` is 0 (RFC 5802 requires a
    /// positive count).
    pub fn derive(hash: HashAlg, password: &str, salt: &[u8], iterations: u32) -> Result<Self, SaslError> {
        if iterations == 0 {
            return Err(SaslError::MalformedRequest);
        }
        let password = saslprep(password)?;
        let salted_password = hi(hash, password.as_bytes(), salt, iterations);
        Ok(Self::from_salted_password(hash, salt.to_vec(), iterations, &salted_password))
    }

    /// Like [`derive`](Self::derive) with a fresh 16-byte random salt.
    pub fn new_random(hash: HashAlg, password: &str, iterations: u32) -> Result<Self, SaslError> {
        Self::derive(hash, password, &random_bytes::<16>(), iterations)
    }

    /// Fresh credentials for every hash the server offers (one row each in
    /// storage): what setting a password means.
    pub fn for_every_hash(password: &str, iterations: u32) -> Result<Vec<Self>, SaslError> {
        HashAlg::ALL.iter().map(|hash| Self::new_random(*hash, password, iterations)).collect()
    }

    /// Checks a plaintext password (for PLAIN) by re-deriving `stored_key`
    /// and comparing in constant time. Costs one PBKDF2 run.
    pub fn verify_password(&self, password: &str) -> bool {
        match Self::derive(self.hash, password, &self.salt, self.iterations) {
            Ok(candidate) => ct_eq(&candidate.stored_key, &self.stored_key),
            Err(_) => false,
        }
    }

    pub(crate) fn from_salted_password(
        hash_alg: HashAlg,
        salt: Vec<u8>,
        iterations: u32,
        salted_password: &[u8],
    ) -> Self {
        let keys = Keys::from_salted_password(hash_alg, salted_password);
        ScramCredentials {
            hash: hash_alg,
            salt,
            iterations,
            stored_key: hash(hash_alg, &keys.client_key),
            server_key: keys.server_key,
        }
    }
}

/// The keys derived from a SaltedPassword (RFC 5802 §3).
pub(crate) struct Keys {
    pub(crate) client_key: Vec<u8>,
    pub(crate) server_key: Vec<u8>,
}

impl Keys {
    pub(crate) fn from_salted_password(alg: HashAlg, salted_password: &[u8]) -> Keys {
        Keys {
            client_key: hmac(alg, salted_password, b"Client Key"),
            server_key: hmac(alg, salted_password, b"Server Key"),
        }
    }
}

/// Shows the parameters but never the keys, which are password-equivalent
/// for impersonating the server (and, with a captured exchange, the user).
impl fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredentials")
            .field("hash", &self.hash)
            .field("salt_len", &self.salt.len())
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}
