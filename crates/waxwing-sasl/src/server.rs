//! The server side of SCRAM (RFC 5802 §5, with RFC 5056/5929/9266
//! channel binding for the -PLUS variants).

use crate::credentials::ScramCredentials;
use crate::crypto::{b64_encode, ct_eq, hash, hmac, process_secret, random_bytes, random_nonce, xor};
use crate::messages::{self, CbFlag};
use crate::{DEFAULT_ITERATIONS, HashAlg, SaslError, saslprep};

/// Channel-binding type of RFC 9266 (TLS 1.3 exporter).
pub const TLS_EXPORTER: &str = "tls-exporter";
/// Channel-binding type of RFC 5929 §4 (hash of the server certificate).
pub const TLS_SERVER_END_POINT: &str = "tls-server-end-point";

/// Channel-binding data the server can offer for this connection (both
/// computed by the TLS layer). `None` means that type is unavailable, e.g.
/// `tls-exporter` on a TLS 1.2 connection without extended master secret.
#[derive(Debug, Clone, Default)]
pub struct ChannelBindingData {
    /// RFC 9266: the 32-byte exporter value for label "EXPORTER-Channel-Binding".
    pub tls_exporter: Option<Vec<u8>>,
    /// RFC 5929 §4: the hash of the server's certificate.
    pub tls_server_end_point: Option<Vec<u8>>,
}

impl ChannelBindingData {
    /// The binding data for a type name, if we support the type and have data.
    fn get(&self, name: &str) -> Option<&[u8]> {
        match name {
            TLS_EXPORTER => self.tls_exporter.as_deref(),
            TLS_SERVER_END_POINT => self.tls_server_end_point.as_deref(),
            _ => None,
        }
    }
}

/// What the server learned from the client-first-message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The user name, with `=2C`/`=3D` decoded and SASLprep applied.
    pub username: String,
    /// The requested authorization identity (`a=`), decoded but otherwise
    /// as sent; the caller decides whether it is acceptable.
    pub authzid: Option<String>,
}

/// One SCRAM exchange, server side. Sans-I/O: feed it the decoded client
/// messages and send what it returns.
///
/// ```text
/// handle_client_first(msg) -> ClientFirst   (look up the user's credentials)
/// server_first(creds)      -> server-first-message
/// handle_client_final(msg) -> server-final-message (success)
/// ```
///
/// Any error, or a call out of this order, ends the exchange: later calls
/// fail with [`SaslError::MalformedRequest`].
pub struct ScramServer {
    hash: HashAlg,
    plus: bool,
    plus_advertised: bool,
    cb: ChannelBindingData,
    cb_type: Option<String>,
    /// Fixed server nonce, for the RFC test vectors.
    fixed_nonce: Option<String>,
    state: State,
}

enum State {
    Start,
    GotClientFirst(PendingClientFirst),
    SentServerFirst(Challenge),
    Finished,
}

/// The parts of the client-first-message needed later.
struct PendingClientFirst {
    /// What `c=` must decode to: `cbind-input = gs2-header [cbind-data]`
    /// (RFC 5802 §7), the data being present only with flag `p`.
    cbind_input: Vec<u8>,
    username: String,
    client_nonce: String,
    bare: String,
}

/// State between server-first and client-final.
struct Challenge {
    client_first: PendingClientFirst,
    server_first: String,
    nonce: String,
    creds: ScramCredentials,
    /// False when `creds` are the decoy for an unknown user.
    user_exists: bool,
}

/// Shows the mechanism and progress, never nonces or keys.
impl std::fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Start => "awaiting client-first",
            State::GotClientFirst(_) => "awaiting credentials",
            State::SentServerFirst(_) => "awaiting client-final",
            State::Finished => "finished",
        };
        f.debug_struct("ScramServer")
            .field("hash", &self.hash)
            .field("plus", &self.plus)
            .field("channel_binding_type", &self.cb_type)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl ScramServer {
    /// Starts an exchange for SCRAM-`hash` (`-PLUS` if `plus`).
    ///
    /// `plus_advertised`: we offered -PLUS mechanisms on this connection; a
    /// client sending GS2 flag `y` then is the victim of a downgrade attack,
    /// so authentication fails (RFC 5802 §6). `cb` is what the TLS layer
    /// can bind to.
    pub fn new(hash: HashAlg, plus: bool, plus_advertised: bool, cb: ChannelBindingData) -> ScramServer {
        ScramServer { hash, plus, plus_advertised, cb, cb_type: None, fixed_nonce: None, state: State::Start }
    }

    /// Uses `nonce` instead of a random server nonce (test vectors only).
    #[cfg(test)]
    pub(crate) fn with_fixed_nonce(mut self, nonce: &str) -> ScramServer {
        self.fixed_nonce = Some(nonce.to_owned());
        self
    }

    /// Parses the client-first-message and checks the channel-binding flag
    /// against the mechanism (RFC 5802 §6):
    ///
    /// - `-PLUS` requires `p=<type>` with a type we have data for
    ///   (`tls-exporter`, `tls-server-end-point`); an unknown or unavailable
    ///   type is [`SaslError::NotAuthorized`];
    /// - a non-PLUS mechanism with `p=` is [`SaslError::MalformedRequest`];
    /// - `y` while we advertised -PLUS is a downgrade: [`SaslError::NotAuthorized`].
    ///
    /// `m=` (mandatory extensions, none of which we support), a bad
    /// `saslname` escape, a user name that fails SASLprep, or any other
    /// syntax error is [`SaslError::MalformedRequest`].
    pub fn handle_client_first(&mut self, msg: &[u8]) -> Result<ClientFirst, SaslError> {
        // Taking the state leaves `Finished` behind, so every early return
        // below ends the exchange; only success installs the next state.
        let State::Start = std::mem::replace(&mut self.state, State::Finished) else {
            return Err(SaslError::MalformedRequest);
        };
        let msg = std::str::from_utf8(msg).map_err(|_| SaslError::MalformedRequest)?;
        let parsed = messages::parse_client_first(msg)?;

        let mut cbind_input = parsed.gs2_header.as_bytes().to_vec();
        match (&parsed.cb_flag, self.plus) {
            (CbFlag::Used(name), true) => {
                let data = self.cb.get(name).ok_or(SaslError::NotAuthorized)?;
                cbind_input.extend_from_slice(data);
                self.cb_type = Some(name.clone());
            }
            (CbFlag::NotAdvertised, false) if self.plus_advertised => {
                return Err(SaslError::NotAuthorized);
            }
            (CbFlag::NotSupported | CbFlag::NotAdvertised, false) => {}
            (CbFlag::Used(_), false) | (CbFlag::NotSupported | CbFlag::NotAdvertised, true) => {
                return Err(SaslError::MalformedRequest);
            }
        }

        let username = saslprep(&parsed.username)?.into_owned();
        if username.is_empty() {
            return Err(SaslError::MalformedRequest);
        }
        self.state = State::GotClientFirst(PendingClientFirst {
            cbind_input,
            username: username.clone(),
            client_nonce: parsed.nonce.to_owned(),
            bare: parsed.bare.to_owned(),
        });
        Ok(ClientFirst { username, authzid: parsed.authzid })
    }

    /// Builds the server-first-message `r=<client+server nonce>,s=<salt>,i=<count>`.
    ///
    /// Pass the user's credentials for this mechanism's hash, or `None` if
    /// there are none (no such user, or `creds.hash` differs from the
    /// mechanism's, which is treated the same way). Even then a normal
    /// answer is sent, with a salt derived from the user name and a
    /// per-process secret (stable across attempts, like a real one) and
    /// [`DEFAULT_ITERATIONS`], so that the exchange does not reveal whether
    /// the account exists; the final step then fails with
    /// [`SaslError::NotAuthorized`] (RFC 5802 §9 recommends this).
    ///
    /// Called out of order, it returns an empty message and the exchange fails.
    pub fn server_first(&mut self, creds: Option<&ScramCredentials>) -> Vec<u8> {
        let State::GotClientFirst(client_first) = std::mem::replace(&mut self.state, State::Finished) else {
            return Vec::new();
        };
        let (creds, user_exists) = match creds {
            Some(creds) if creds.hash == self.hash => (creds.clone(), true),
            _ => (self.decoy_credentials(&client_first.username), false),
        };
        let server_nonce = self.fixed_nonce.take().unwrap_or_else(random_nonce);
        let nonce = format!("{}{server_nonce}", client_first.client_nonce);
        let server_first = messages::format_server_first(&nonce, &creds.salt, creds.iterations);
        let reply = server_first.clone().into_bytes();
        self.state = State::SentServerFirst(Challenge { client_first, server_first, nonce, creds, user_exists });
        reply
    }

    /// Credentials for a user that does not exist: a deterministic salt
    /// (so repeated attempts see the same one, as for a real account) and
    /// random keys that no proof will match.
    fn decoy_credentials(&self, username: &str) -> ScramCredentials {
        let mut input = Vec::with_capacity(username.len() + 8);
        input.extend_from_slice(self.hash.name().as_bytes());
        input.push(0);
        input.extend_from_slice(username.as_bytes());
        let mut salt = hmac(HashAlg::Sha256, process_secret(), &input);
        salt.truncate(16);
        let key_len = self.hash.output_len();
        ScramCredentials {
            hash: self.hash,
            salt,
            iterations: DEFAULT_ITERATIONS,
            stored_key: random_bytes::<64>()[..key_len].to_vec(),
            server_key: random_bytes::<64>()[..key_len].to_vec(),
        }
    }

    /// Verifies the client-final-message and returns the
    /// server-final-message `v=<ServerSignature>`.
    ///
    /// `c=` must be the GS2 header from the first message followed, for
    /// -PLUS, by the binding data of the chosen type; `r=` must be the
    /// combined nonce; and the proof must verify against `stored_key`
    /// (constant-time). Any mismatch is [`SaslError::NotAuthorized`];
    /// syntax errors are [`SaslError::MalformedRequest`].
    pub fn handle_client_final(&mut self, msg: &[u8]) -> Result<Vec<u8>, SaslError> {
        let State::SentServerFirst(challenge) = std::mem::replace(&mut self.state, State::Finished) else {
            return Err(SaslError::MalformedRequest);
        };
        let msg = std::str::from_utf8(msg).map_err(|_| SaslError::MalformedRequest)?;
        let client_final = messages::parse_client_final(msg)?;

        if client_final.nonce != challenge.nonce {
            return Err(SaslError::NotAuthorized);
        }
        if client_final.channel_binding != challenge.client_first.cbind_input {
            return Err(SaslError::NotAuthorized);
        }

        let alg = self.hash;
        let creds = &challenge.creds;
        let auth_message =
            format!("{},{},{}", challenge.client_first.bare, challenge.server_first, client_final.without_proof);
        if client_final.proof.len() != alg.output_len() {
            return Err(SaslError::NotAuthorized);
        }
        // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage), and it
        // must hash to StoredKey (RFC 5802 §3).
        let client_signature = hmac(alg, &creds.stored_key, auth_message.as_bytes());
        let client_key = xor(&client_final.proof, &client_signature);
        let proof_ok = ct_eq(&hash(alg, &client_key), &creds.stored_key);
        // `&` rather than `&&`: the decoy path does the same work.
        if !(proof_ok & challenge.user_exists) {
            return Err(SaslError::NotAuthorized);
        }

        let server_signature = hmac(alg, &creds.server_key, auth_message.as_bytes());
        Ok(format!("v={}", b64_encode(&server_signature)).into_bytes())
    }

    /// The channel-binding type the client used, if any
    /// (`"tls-exporter"` / `"tls-server-end-point"`).
    pub fn channel_binding_type(&self) -> Option<&str> {
        self.cb_type.as_deref()
    }
}
