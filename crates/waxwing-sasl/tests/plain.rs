//! PLAIN (RFC 4616) parsing and verification.

use waxwing_sasl::{HashAlg, PlainCredentials, SaslError, ScramCredentials, parse_plain};

fn plain(authzid: Option<&str>, authcid: &str, password: &str) -> PlainCredentials {
    PlainCredentials { authzid: authzid.map(str::to_owned), authcid: authcid.to_owned(), password: password.to_owned() }
}

#[test]
fn valid_messages() {
    assert_eq!(parse_plain(b"\0tim\0tanstaaftanstaaf"), Ok(plain(None, "tim", "tanstaaftanstaaf")));
    assert_eq!(parse_plain(b"Kurt\0tim\0tanstaaftanstaaf"), Ok(plain(Some("Kurt"), "tim", "tanstaaftanstaaf")));
    assert_eq!(
        parse_plain("juliet@example.com\0juliet\0p ä ss".as_bytes()),
        Ok(plain(Some("juliet@example.com"), "juliet", "p ä ss"))
    );
    // The authcid is SASLprep'd like a SCRAM user name; the password is
    // left for verify_password, which SASLpreps it.
    assert_eq!(parse_plain("\0I\u{AD}X\0I\u{AD}X".as_bytes()), Ok(plain(None, "IX", "I\u{AD}X")));
}

#[test]
fn malformed_messages() {
    let cases: &[&[u8]] = &[
        b"",
        b"\0",
        b"\0\0",
        b"tim",
        b"\0tim",
        b"tim\0pw",
        b"\0\0pw",
        b"\0tim\0",
        b"authz\0\0pw",
        b"\0tim\0pass\0word",
        b"\0tim\0pw\0",
        b"\0\0\0",
        b"\0t\xffm\0pw",
        b"\0tim\0p\xffw",
        b"a\xff\0tim\0pw",
        b"\0\xc3\0pw",
        "\0bell\u{7}\0pw".as_bytes(),
        "\0\u{AD}\0pw".as_bytes(),
    ];
    for msg in cases {
        assert_eq!(parse_plain(msg), Err(SaslError::MalformedRequest), "{:?}", String::from_utf8_lossy(msg));
    }
}

#[test]
fn verifies_against_scram_credentials() {
    let creds = ScramCredentials::derive(HashAlg::Sha256, "tanstaaf", b"salt", 16).unwrap();
    let parsed = parse_plain(b"\0tim\0tanstaaf").unwrap();
    assert!(creds.verify_password(&parsed.password));
    let parsed = parse_plain(b"\0tim\0tanstaafl").unwrap();
    assert!(!creds.verify_password(&parsed.password));
}

#[test]
fn debug_hides_password() {
    let debug = format!("{:?}", parse_plain(b"\0tim\0hunter2").unwrap());
    assert!(debug.contains("tim") && !debug.contains("hunter2"), "{debug}");
}
