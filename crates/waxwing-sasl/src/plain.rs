//! The PLAIN mechanism (RFC 4616).

use std::fmt;

use crate::{SaslError, saslprep};

/// A decoded PLAIN message.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    /// The authorization identity, if the client sent a non-empty one.
    pub authzid: Option<String>,
    /// The authentication identity (user name), SASLprep'd as for SCRAM.
    pub authcid: String,
    /// The password exactly as sent; [`crate::ScramCredentials::verify_password`]
    /// applies SASLprep itself.
    pub password: String,
}

/// Parses `[authzid] NUL authcid NUL passwd` (RFC 4616 §2).
///
/// Exactly two NULs are required (none of the fields may contain one), the
/// authcid and password must be non-empty, and every field must be UTF-8.
/// All failures are [`SaslError::MalformedRequest`]: RFC 6120 §6.5.2
/// `incorrect-encoding` is about the base64 around the message, which the
/// XML layer handles.
pub fn parse_plain(msg: &[u8]) -> Result<PlainCredentials, SaslError> {
    let mut fields = msg.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(SaslError::MalformedRequest);
    };
    let utf8 = |field| std::str::from_utf8(field).map_err(|_| SaslError::MalformedRequest);
    let (authzid, authcid, password) = (utf8(authzid)?, utf8(authcid)?, utf8(password)?);
    if authcid.is_empty() || password.is_empty() {
        return Err(SaslError::MalformedRequest);
    }
    let authcid = saslprep(authcid)?;
    if authcid.is_empty() {
        return Err(SaslError::MalformedRequest);
    }
    Ok(PlainCredentials {
        authzid: (!authzid.is_empty()).then(|| authzid.to_owned()),
        authcid: authcid.into_owned(),
        password: password.to_owned(),
    })
}

/// Never prints the password.
impl fmt::Debug for PlainCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainCredentials")
            .field("authzid", &self.authzid)
            .field("authcid", &self.authcid)
            .finish_non_exhaustive()
    }
}
