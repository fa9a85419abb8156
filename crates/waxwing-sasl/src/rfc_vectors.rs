//! The SCRAM examples of RFC 5802 §5 and RFC 7677 §3, replayed through
//! both state machines with the nonces fixed.

use crate::crypto::b64_decode;
use crate::{ChannelBindingData, HashAlg, ScramClient, ScramCredentials, ScramServer};

struct Vector {
    hash: HashAlg,
    client_nonce: &'static str,
    server_nonce: &'static str,
    salt: &'static str,
    client_first: &'static str,
    server_first: &'static str,
    client_final: &'static str,
    server_final: &'static str,
}

/// RFC 5802 §5 (SCRAM-SHA-1).
const RFC5802: Vector = Vector {
    hash: HashAlg::Sha1,
    client_nonce: "fyko+d2lbbFgONRv9qkxdawL",
    server_nonce: "3rfcNHYJY1ZVvWVs7j",
    salt: "QSXCR+Q6sek8bf92",
    client_first: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
    server_first: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    client_final: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    server_final: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

/// RFC 7677 §3 (SCRAM-SHA-256).
const RFC7677: Vector = Vector {
    hash: HashAlg::Sha256,
    client_nonce: "rOprNGfwEbeRWgbNEkqO",
    server_nonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
    client_first: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
    server_first: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    client_final: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    server_final: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

fn replay(v: &Vector) {
    let salt = b64_decode(v.salt).unwrap();
    let creds = ScramCredentials::derive(v.hash, "pencil", &salt, 4096).unwrap();
    let mut client = ScramClient::new(v.hash, "user", "pencil", None).with_fixed_nonce(v.client_nonce);
    let mut server =
        ScramServer::new(v.hash, false, false, ChannelBindingData::default()).with_fixed_nonce(v.server_nonce);

    let client_first = client.client_first();
    assert_eq!(client_first, v.client_first.as_bytes());
    let first = server.handle_client_first(&client_first).unwrap();
    assert_eq!((first.username.as_str(), first.authzid), ("user", None));

    let server_first = server.server_first(Some(&creds));
    assert_eq!(String::from_utf8(server_first.clone()).unwrap(), v.server_first);

    let client_final = client.handle_server_first(&server_first).unwrap();
    assert_eq!(String::from_utf8(client_final.clone()).unwrap(), v.client_final);

    let server_final = server.handle_client_final(&client_final).unwrap();
    assert_eq!(String::from_utf8(server_final.clone()).unwrap(), v.server_final);
    client.verify_server_final(&server_final).unwrap();
    assert_eq!(server.channel_binding_type(), None);

    // The salted password is exposed for caching and, fed back, gives the
    // same exchange without PBKDF2.
    let (cached_salt, iterations, salted) = client.salted_password().unwrap();
    let mut cached = ScramClient::new(v.hash, "user", "wrong password", None)
        .with_fixed_nonce(v.client_nonce)
        .with_cached_salted_password(cached_salt.to_vec(), iterations, salted.to_vec());
    cached.client_first();
    assert_eq!(cached.handle_server_first(&server_first).unwrap(), client_final);
}

#[test]
fn rfc5802_scram_sha1_example() {
    replay(&RFC5802);
}

#[test]
fn rfc7677_scram_sha256_example() {
    replay(&RFC7677);
}
