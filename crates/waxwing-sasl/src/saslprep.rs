//! SASLprep (RFC 4013).

use std::borrow::Cow;

use crate::SaslError;

/// Prepares a user name or password with the SASLprep profile of
/// stringprep (RFC 4013): non-ASCII spaces become U+0020, "commonly mapped
/// to nothing" characters are dropped, NFKC, then prohibited output,
/// bidi and unassigned code points are rejected (the "stored strings"
/// rules, RFC 4013 §2.5, so a password that can be stored can always be
/// verified).
///
/// Printable ASCII is returned unchanged, without allocating. Fails with
/// [`SaslError::MalformedRequest`].
///
/// ```
/// use waxwing_sasl::saslprep;
/// // RFC 4013 §3 examples.
/// assert_eq!(saslprep("I\u{AD}X").unwrap(), "IX");
/// assert_eq!(saslprep("\u{AA}").unwrap(), "a");
/// assert_eq!(saslprep("\u{2168}").unwrap(), "IX");
/// assert!(saslprep("\u{7}").is_err());
/// assert!(saslprep("\u{627}1").is_err());
/// ```
pub fn saslprep(s: &str) -> Result<Cow<'_, str>, SaslError> {
    stringprep::saslprep(s).map_err(|_| SaslError::MalformedRequest)
}
