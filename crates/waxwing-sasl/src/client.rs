//! The client side of SCRAM, for tests and the load generator.

use crate::credentials::Keys;
use crate::crypto::{b64_encode, ct_eq, hash, hi, hmac, random_nonce, xor};
use crate::messages;
use crate::{HashAlg, SaslError, saslprep};

/// A cached or computed `SaltedPassword` with the parameters it belongs to.
#[derive(Clone)]
struct SaltedPassword {
    salt: Vec<u8>,
    iterations: u32,
    value: Vec<u8>,
}

/// One SCRAM exchange, client side.
///
/// ```
/// use waxwing_sasl::{ChannelBindingData, HashAlg, ScramClient, ScramCredentials, ScramServer};
///
/// let creds = ScramCredentials::new_random(HashAlg::Sha256, "pencil", 64).unwrap();
/// let mut client = ScramClient::new(HashAlg::Sha256, "user", "pencil", None);
/// let mut server = ScramServer::new(HashAlg::Sha256, false, false, ChannelBindingData::default());
///
/// let first = server.handle_client_first(&client.client_first()).unwrap();
/// assert_eq!(first.username, "user");
/// let challenge = server.server_first(Some(&creds));
/// let response = client.handle_server_first(&challenge).unwrap();
/// let success = server.handle_client_final(&response).unwrap();
/// client.verify_server_final(&success).unwrap();
/// ```
pub struct ScramClient {
    hash: HashAlg,
    username: String,
    password: String,
    /// `(type, data)` for -PLUS.
    cb: Option<(String, Vec<u8>)>,
    nonce: String,
    /// Replaces the GS2 header derived from `cb` (tests of flag `y`, `a=`…).
    gs2_header_override: Option<String>,
    cache: Option<SaltedPassword>,
    /// Set by `client_first`.
    client_first_bare: Option<String>,
    /// Set by `handle_server_first`.
    salted_password: Option<SaltedPassword>,
    server_signature: Option<Vec<u8>>,
}

/// Shows the parameters, never the password or derived keys.
impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("hash", &self.hash)
            .field("username", &self.username)
            .field("channel_binding_type", &self.cb.as_ref().map(|(name, _)| name))
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// `cb`: `None` for no channel binding (GS2 header `n,,`); `Some((type,
    /// data))` for a -PLUS mechanism (`p=type,,`).
    pub fn new(hash: HashAlg, username: &str, password: &str, cb: Option<(String, Vec<u8>)>) -> ScramClient {
        ScramClient {
            hash,
            username: username.to_owned(),
            password: password.to_owned(),
            cb,
            nonce: random_nonce(),
            gs2_header_override: None,
            cache: None,
            client_first_bare: None,
            salted_password: None,
            server_signature: None,
        }
    }

    /// Reuses a `SaltedPassword` from an earlier login (the caller keys its
    /// cache by salt and iteration count), skipping PBKDF2 when the server
    /// sends the same parameters, as real clients do.
    pub fn with_cached_salted_password(
        mut self,
        salt: Vec<u8>,
        iterations: u32,
        salted_password: Vec<u8>,
    ) -> ScramClient {
        self.cache = Some(SaltedPassword { salt, iterations, value: salted_password });
        self
    }

    /// Uses a fixed client nonce (test vectors only).
    #[cfg(test)]
    pub(crate) fn with_fixed_nonce(mut self, nonce: &str) -> ScramClient {
        self.nonce = nonce.to_owned();
        self
    }

    /// Sends `header` as the GS2 header (and in `c=`) instead of the one
    /// implied by the channel binding (protocol-violation tests only).
    #[cfg(test)]
    pub(crate) fn with_gs2_header(mut self, header: &str) -> ScramClient {
        self.gs2_header_override = Some(header.to_owned());
        self
    }

    fn gs2_header(&self) -> String {
        if let Some(header) = &self.gs2_header_override {
            return header.clone();
        }
        match &self.cb {
            None => "n,,".to_owned(),
            Some((name, _)) => format!("p={name},,"),
        }
    }

    /// The client-first-message. The user name is SASLprep'd when
    /// possible (RFC 5802 §5.1 says SHOULD; if it fails the raw name is
    /// sent and the server decides) and `,`/`=` are escaped.
    pub fn client_first(&mut self) -> Vec<u8> {
        let username = saslprep(&self.username).unwrap_or(self.username.as_str().into());
        let bare = format!("n={},r={}", messages::encode_saslname(&username), self.nonce);
        let message = format!("{}{bare}", self.gs2_header());
        self.client_first_bare = Some(bare);
        message.into_bytes()
    }

    /// Handles the server-first-message and returns the client-final-message.
    ///
    /// Fails with [`SaslError::MalformedRequest`] if the message is
    /// malformed, if `client_first` was not called, or if the nonce does
    /// not extend ours with a server part.
    pub fn handle_server_first(&mut self, msg: &[u8]) -> Result<Vec<u8>, SaslError> {
        let bare = self.client_first_bare.as_deref().ok_or(SaslError::MalformedRequest)?;
        let server_first = std::str::from_utf8(msg).map_err(|_| SaslError::MalformedRequest)?;
        let parsed = messages::parse_server_first(server_first)?;
        let server_part = parsed.nonce.strip_prefix(self.nonce.as_str());
        if server_part.is_none_or(str::is_empty) {
            return Err(SaslError::MalformedRequest);
        }

        let salted = self.salted_password_for(parsed.salt, parsed.iterations);
        let mut cbind_input = self.gs2_header().into_bytes();
        if let Some((_, data)) = &self.cb {
            cbind_input.extend_from_slice(data);
        }
        let without_proof = messages::format_client_final_without_proof(&cbind_input, parsed.nonce);
        let auth_message = format!("{bare},{server_first},{without_proof}");

        let alg = self.hash;
        let keys = Keys::from_salted_password(alg, &salted.value);
        let stored_key = hash(alg, &keys.client_key);
        let client_signature = hmac(alg, &stored_key, auth_message.as_bytes());
        let proof = xor(&keys.client_key, &client_signature);
        self.server_signature = Some(hmac(alg, &keys.server_key, auth_message.as_bytes()));
        self.salted_password = Some(salted);
        Ok(format!("{without_proof},p={}", b64_encode(&proof)).into_bytes())
    }

    /// The cached SaltedPassword if its parameters match, else a fresh one.
    fn salted_password_for(&self, salt: Vec<u8>, iterations: u32) -> SaltedPassword {
        if let Some(cached) = &self.cache
            && cached.salt == salt
            && cached.iterations == iterations
        {
            return cached.clone();
        }
        // As in `client_first`: fall back to the raw password if SASLprep
        // fails; the server could not have stored such a password anyway.
        let password = saslprep(&self.password).unwrap_or(self.password.as_str().into());
        let value = hi(self.hash, password.as_bytes(), &salt, iterations);
        SaltedPassword { salt, iterations, value }
    }

    /// Checks the server-final-message: `v=` must carry the expected
    /// ServerSignature (mutual authentication). `e=` or a wrong signature
    /// is [`SaslError::NotAuthorized`].
    pub fn verify_server_final(&self, msg: &[u8]) -> Result<(), SaslError> {
        let expected = self.server_signature.as_deref().ok_or(SaslError::NotAuthorized)?;
        let msg = std::str::from_utf8(msg).map_err(|_| SaslError::MalformedRequest)?;
        let verifier = messages::parse_server_final(msg)?;
        if ct_eq(&verifier, expected) { Ok(()) } else { Err(SaslError::NotAuthorized) }
    }

    /// `(salt, iterations, SaltedPassword)` once the server-first-message
    /// has been handled, for the caller's cache.
    pub fn salted_password(&self) -> Option<(&[u8], u32, &[u8])> {
        self.salted_password.as_ref().map(|s| (s.salt.as_slice(), s.iterations, s.value.as_slice()))
    }
}
