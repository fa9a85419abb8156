//! SCRAM message syntax (RFC 5802 §7): parsing and building the four
//! messages, independent of any cryptography or state.
//!
//! Attribute values never contain `,` (user names escape it as `=2C`,
//! nonces exclude it, base64 cannot produce it), so every message is a
//! plain comma-separated list of `x=value` attributes in a fixed order.

use crate::SaslError;
use crate::crypto::{b64_decode, b64_encode};

/// Shorthand: every syntax error is a malformed request.
const MALFORMED: SaslError = SaslError::MalformedRequest;

/// The channel-binding flag of the GS2 header (RFC 5802 §7 `gs2-cbind-flag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CbFlag {
    /// `n`: the client does not support channel binding.
    NotSupported,
    /// `y`: the client supports it but thinks the server does not.
    NotAdvertised,
    /// `p=name`: the client uses channel binding of this type.
    Used(String),
}

/// A parsed client-first-message.
#[derive(Debug)]
pub(crate) struct ClientFirst<'a> {
    /// The raw GS2 header, including both commas; echoed back in `c=`.
    pub gs2_header: &'a str,
    pub cb_flag: CbFlag,
    /// Decoded `a=`, if present.
    pub authzid: Option<String>,
    /// Decoded `n=` (not yet SASLprep'd).
    pub username: String,
    pub nonce: &'a str,
    /// client-first-message-bare, the first part of the AuthMessage.
    pub bare: &'a str,
}

/// Parses `gs2-header client-first-message-bare`.
pub(crate) fn parse_client_first(msg: &str) -> Result<ClientFirst<'_>, SaslError> {
    let mut parts = msg.splitn(3, ',');
    let (Some(flag), Some(authzid_field), Some(bare)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(MALFORMED);
    };
    // Both fields and their commas, exactly as sent.
    let gs2_header = &msg[..flag.len() + authzid_field.len() + 2];
    let cb_flag = match flag {
        "n" => CbFlag::NotSupported,
        "y" => CbFlag::NotAdvertised,
        _ => {
            let name = flag.strip_prefix("p=").ok_or(MALFORMED)?;
            if !is_cb_name(name) {
                return Err(MALFORMED);
            }
            CbFlag::Used(name.to_owned())
        }
    };
    let authzid = match authzid_field {
        "" => None,
        field => Some(decode_saslname(attribute(field, 'a')?)?),
    };

    let mut attrs = bare.split(',');
    let first = attrs.next().ok_or(MALFORMED)?;
    // RFC 5802 §5.1 `m`: reserved for mandatory extensions; a server that
    // does not understand one MUST fail the authentication.
    if first.starts_with("m=") {
        return Err(MALFORMED);
    }
    let username = decode_saslname(attribute(first, 'n')?)?;
    let nonce = parse_nonce(attrs.next())?;
    check_extensions(attrs)?;

    Ok(ClientFirst { gs2_header, cb_flag, authzid, username, nonce, bare })
}

/// A parsed server-first-message.
#[derive(Debug)]
pub(crate) struct ServerFirst<'a> {
    pub nonce: &'a str,
    pub salt: Vec<u8>,
    pub iterations: u32,
}

/// Formats `r=nonce,s=salt,i=iterations`.
pub(crate) fn format_server_first(nonce: &str, salt: &[u8], iterations: u32) -> String {
    format!("r={nonce},s={},i={iterations}", b64_encode(salt))
}

/// Parses a server-first-message (client side).
pub(crate) fn parse_server_first(msg: &str) -> Result<ServerFirst<'_>, SaslError> {
    let mut attrs = msg.split(',');
    let first = attrs.next();
    if first.is_some_and(|a| a.starts_with("m=")) {
        return Err(MALFORMED);
    }
    let nonce = parse_nonce(first)?;
    let salt = attrs.next().ok_or(MALFORMED).and_then(|a| parse_base64(a, 's'))?;
    let iterations =
        attrs.next().ok_or(MALFORMED).and_then(|a| attribute(a, 'i'))?.parse::<u32>().map_err(|_| MALFORMED)?;
    if salt.is_empty() || iterations == 0 {
        return Err(MALFORMED);
    }
    check_extensions(attrs)?;
    Ok(ServerFirst { nonce, salt, iterations })
}

/// A parsed client-final-message.
#[derive(Debug)]
pub(crate) struct ClientFinal<'a> {
    /// Decoded `c=`: the GS2 header followed by any channel-binding data.
    pub channel_binding: Vec<u8>,
    pub nonce: &'a str,
    /// Decoded `p=`.
    pub proof: Vec<u8>,
    /// client-final-message-without-proof, the last part of the AuthMessage.
    pub without_proof: &'a str,
}

/// Formats client-final-message-without-proof.
pub(crate) fn format_client_final_without_proof(cbind_input: &[u8], nonce: &str) -> String {
    format!("c={},r={nonce}", b64_encode(cbind_input))
}

/// Parses `c=…,r=…[,extensions],p=…`.
pub(crate) fn parse_client_final(msg: &str) -> Result<ClientFinal<'_>, SaslError> {
    // The proof is always the last attribute and base64 has no ','.
    let split = msg.rfind(",p=").ok_or(MALFORMED)?;
    let (without_proof, proof) = (&msg[..split], &msg[split + 1..]);
    let proof = parse_base64(proof, 'p')?;

    let mut attrs = without_proof.split(',');
    let channel_binding = attrs.next().ok_or(MALFORMED).and_then(|a| parse_base64(a, 'c'))?;
    let nonce = parse_nonce(attrs.next())?;
    check_extensions(attrs)?;
    Ok(ClientFinal { channel_binding, nonce, proof, without_proof })
}

/// Parses a server-final-message: `Ok(verifier)` for `v=`, `Err` for
/// `e=` or anything malformed.
pub(crate) fn parse_server_final(msg: &str) -> Result<Vec<u8>, SaslError> {
    let mut attrs = msg.split(',');
    let first = attrs.next().ok_or(MALFORMED)?;
    if first.starts_with("e=") {
        return Err(SaslError::NotAuthorized);
    }
    let verifier = parse_base64(first, 'v')?;
    check_extensions(attrs)?;
    Ok(verifier)
}

/// The value of `attr` if it is `name=value`.
fn attribute(attr: &str, name: char) -> Result<&str, SaslError> {
    attr.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')).ok_or(MALFORMED)
}

fn parse_base64(attr: &str, name: char) -> Result<Vec<u8>, SaslError> {
    b64_decode(attribute(attr, name)?).ok_or(MALFORMED)
}

/// `r=` with a non-empty run of printable ASCII other than `,`.
fn parse_nonce(attr: Option<&str>) -> Result<&str, SaslError> {
    let nonce = attribute(attr.ok_or(MALFORMED)?, 'r')?;
    let printable = |b: u8| (0x21..=0x7e).contains(&b) && b != b',';
    if nonce.is_empty() || !nonce.bytes().all(printable) {
        return Err(MALFORMED);
    }
    Ok(nonce)
}

/// Optional trailing extensions: `ALPHA "=" 1*value-char` each. Their
/// meaning is ignored, as RFC 5802 §5 allows for non-mandatory ones.
fn check_extensions<'a>(attrs: impl Iterator<Item = &'a str>) -> Result<(), SaslError> {
    for attr in attrs {
        let mut chars = attr.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.next() == Some('=')
            && !chars.as_str().is_empty();
        if !valid {
            return Err(MALFORMED);
        }
    }
    Ok(())
}

/// RFC 5056 channel-binding type names: `1*(ALPHA / DIGIT / "." / "-")`.
fn is_cb_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// Decodes a `saslname`: `=2C` → `,`, `=3D` → `=`; any other `=` is an
/// error (RFC 5802 §5.1 `n`: the server MUST fail the authentication).
fn decode_saslname(name: &str) -> Result<String, SaslError> {
    if name.is_empty() {
        return Err(MALFORMED);
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(pos) = rest.find('=') {
        out.push_str(&rest[..pos]);
        let escaped = rest.get(pos..pos + 3);
        out.push(match escaped {
            Some("=2C") => ',',
            Some("=3D") => '=',
            _ => return Err(MALFORMED),
        });
        rest = &rest[pos + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Encodes a `saslname`, escaping `=` first so `,` escapes stay intact.
pub(crate) fn encode_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saslname_round_trip() {
        for name in ["user", "a,b", "a=b", "=2C", ",=,", "ü"] {
            assert_eq!(decode_saslname(&encode_saslname(name)).unwrap(), name);
        }
        for bad in ["", "a=", "a=2", "a=2c", "a=41", "=", "x=3d"] {
            assert_eq!(decode_saslname(bad), Err(MALFORMED), "{bad:?}");
        }
    }

    #[test]
    fn client_first_gs2_header() {
        let cf = parse_client_first("p=tls-exporter,a=ad=2Cmin,n=user,r=abc,x=ext").unwrap();
        assert_eq!(cf.gs2_header, "p=tls-exporter,a=ad=2Cmin,");
        assert_eq!(cf.cb_flag, CbFlag::Used("tls-exporter".into()));
        assert_eq!(cf.authzid.as_deref(), Some("ad,min"));
        assert_eq!(cf.username, "user");
        assert_eq!(cf.nonce, "abc");
        assert_eq!(cf.bare, "n=user,r=abc,x=ext");
    }
}
