//! SASL failure conditions.

/// Why an authentication exchange failed: the defined conditions of
/// RFC 6120 §6.5, so the XMPP layer can put [`SaslError::condition`]
/// straight into a `<failure/>` element.
///
/// Within this crate: syntax errors in a client message (including bad
/// UTF-8 or bad base64 *inside* a mechanism message) are
/// [`MalformedRequest`](SaslError::MalformedRequest); anything to do with
/// credentials, nonces or channel bindings not matching is
/// [`NotAuthorized`](SaslError::NotAuthorized), which deliberately does
/// not tell an attacker which check failed.
/// [`IncorrectEncoding`](SaslError::IncorrectEncoding) is left to the XML
/// layer, which decodes the base64 of the `<auth/>`/`<response/>` element
/// (RFC 6120 §6.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The client aborted the exchange.
    #[error("authentication aborted")]
    Aborted,
    /// The account is disabled.
    #[error("account disabled")]
    AccountDisabled,
    /// The credentials have expired.
    #[error("credentials expired")]
    CredentialsExpired,
    /// The mechanism requires an encrypted connection.
    #[error("encryption required")]
    EncryptionRequired,
    /// The base64 of the XMPP element was invalid.
    #[error("incorrect encoding")]
    IncorrectEncoding,
    /// The authorization identity is invalid or not permitted.
    #[error("invalid authzid")]
    InvalidAuthzid,
    /// The mechanism is not supported or not offered.
    #[error("invalid mechanism")]
    InvalidMechanism,
    /// A mechanism message could not be parsed or violates the protocol.
    #[error("malformed request")]
    MalformedRequest,
    /// The mechanism is weaker than policy allows.
    #[error("mechanism too weak")]
    MechanismTooWeak,
    /// The credentials (or channel binding, or nonce) are wrong.
    #[error("not authorized")]
    NotAuthorized,
    /// A temporary server-side error.
    #[error("temporary authentication failure")]
    TemporaryAuthFailure,
}

impl SaslError {
    /// The RFC 6120 §6.5 element name for this condition, e.g. `"not-authorized"`.
    pub fn condition(&self) -> &'static str {
        match self {
            SaslError::Aborted => "aborted",
            SaslError::AccountDisabled => "account-disabled",
            SaslError::CredentialsExpired => "credentials-expired",
            SaslError::EncryptionRequired => "encryption-required",
            SaslError::IncorrectEncoding => "incorrect-encoding",
            SaslError::InvalidAuthzid => "invalid-authzid",
            SaslError::InvalidMechanism => "invalid-mechanism",
            SaslError::MalformedRequest => "malformed-request",
            SaslError::MechanismTooWeak => "mechanism-too-weak",
            SaslError::NotAuthorized => "not-authorized",
            SaslError::TemporaryAuthFailure => "temporary-auth-failure",
        }
    }
}
