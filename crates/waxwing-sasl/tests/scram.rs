//! SCRAM server ↔ client exchanges through the public API.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use waxwing_sasl::{
    ChannelBindingData, DEFAULT_ITERATIONS, HashAlg, SaslError, ScramClient, ScramCredentials, ScramServer,
};

/// Low, because tests run unoptimised.
const ITERATIONS: u32 = 32;
const EXPORTER: &[u8] = &[0xE5; 32];
const END_POINT: &[u8] = &[0x5E; 48];

fn cb_data() -> ChannelBindingData {
    ChannelBindingData { tls_exporter: Some(EXPORTER.to_vec()), tls_server_end_point: Some(END_POINT.to_vec()) }
}

fn creds(hash: HashAlg) -> ScramCredentials {
    ScramCredentials::new_random(hash, "pencil", ITERATIONS).unwrap()
}

/// Client-side channel binding: `None`, or `(type, data)`.
type Cb = Option<(&'static str, &'static [u8])>;

struct Exchange {
    client: ScramClient,
    server: ScramServer,
    server_first: Vec<u8>,
    client_final: Vec<u8>,
}

/// Runs an exchange up to (not including) the server's final check.
fn start(hash: HashAlg, user: &str, password: &str, cb: Cb, creds: Option<&ScramCredentials>) -> Exchange {
    let cb_owned = cb.map(|(name, data)| (name.to_owned(), data.to_vec()));
    let mut client = ScramClient::new(hash, user, password, cb_owned);
    let mut server = ScramServer::new(hash, cb.is_some(), true, cb_data());
    server.handle_client_first(&client.client_first()).unwrap();
    let server_first = server.server_first(creds);
    let client_final = client.handle_server_first(&server_first).unwrap();
    Exchange { client, server, server_first, client_final }
}

fn replace(msg: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = std::str::from_utf8(msg).unwrap();
    assert!(text.contains(from), "{text:?} lacks {from:?}");
    text.replacen(from, to, 1).into_bytes()
}

#[test]
fn round_trips_for_every_hash_and_binding() {
    let bindings: [Cb; 3] = [None, Some(("tls-exporter", EXPORTER)), Some(("tls-server-end-point", END_POINT))];
    for hash in HashAlg::ALL {
        let creds = creds(hash);
        for cb in bindings {
            let mut ex = start(hash, "user", "pencil", cb, Some(&creds));
            let server_final = ex.server.handle_client_final(&ex.client_final).unwrap();
            ex.client.verify_server_final(&server_final).unwrap();
            assert_eq!(ex.server.channel_binding_type(), cb.map(|(name, _)| name));
        }
    }
}

#[test]
fn cached_salted_password_is_reused() {
    let creds = creds(HashAlg::Sha512);
    let ex = start(HashAlg::Sha512, "user", "pencil", None, Some(&creds));
    let (salt, iterations, salted) = ex.client.salted_password().unwrap();
    assert_eq!((salt, iterations), (creds.salt.as_slice(), ITERATIONS));

    // With the cache the password is never used, so a wrong one still works.
    let mut client = ScramClient::new(HashAlg::Sha512, "user", "not the password", None).with_cached_salted_password(
        salt.to_vec(),
        iterations,
        salted.to_vec(),
    );
    let mut server = ScramServer::new(HashAlg::Sha512, false, false, cb_data());
    server.handle_client_first(&client.client_first()).unwrap();
    let client_final = client.handle_server_first(&server.server_first(Some(&creds))).unwrap();
    client.verify_server_final(&server.handle_client_final(&client_final).unwrap()).unwrap();

    // A cache entry for other parameters is ignored.
    let mut client = ScramClient::new(HashAlg::Sha512, "user", "pencil", None).with_cached_salted_password(
        b"other".to_vec(),
        iterations,
        vec![0; 64],
    );
    let mut server = ScramServer::new(HashAlg::Sha512, false, false, cb_data());
    server.handle_client_first(&client.client_first()).unwrap();
    let client_final = client.handle_server_first(&server.server_first(Some(&creds))).unwrap();
    assert!(server.handle_client_final(&client_final).is_ok());
}

#[test]
fn wrong_password_is_not_authorized() {
    for hash in HashAlg::ALL {
        let mut ex = start(hash, "user", "pencil!", None, Some(&creds(hash)));
        assert_eq!(ex.server.handle_client_final(&ex.client_final), Err(SaslError::NotAuthorized));
    }
}

#[test]
fn unknown_user_gets_a_normal_looking_challenge() {
    let hash = HashAlg::Sha256;
    let mut ex = start(hash, "nobody", "pencil", None, None);
    let server_first = String::from_utf8(ex.server_first.clone()).unwrap();
    let attrs: Vec<&str> = server_first.split(',').collect();
    assert_eq!(attrs.len(), 3);
    assert!(attrs[0].starts_with("r="));
    let salt = STANDARD.decode(attrs[1].strip_prefix("s=").unwrap()).unwrap();
    assert_eq!(salt.len(), 16, "same length as a real salt");
    assert_eq!(attrs[2], format!("i={DEFAULT_ITERATIONS}"));
    assert_eq!(ex.server.handle_client_final(&ex.client_final), Err(SaslError::NotAuthorized));

    // The fake salt is stable per user (a fresh random one would give the
    // game away on a second attempt) and differs between users and hashes.
    let salt_of = |hash, user| start(hash, user, "x", None, None).server_first;
    let s = |msg: Vec<u8>| String::from_utf8(msg).unwrap().split(',').nth(1).unwrap().to_owned();
    assert_eq!(s(salt_of(hash, "nobody")), attrs[1]);
    assert_ne!(s(salt_of(hash, "somebody")), attrs[1]);
    assert_ne!(s(salt_of(HashAlg::Sha1, "nobody")), attrs[1]);
}

#[test]
fn credentials_for_another_hash_are_treated_as_unknown_user() {
    let mut ex = start(HashAlg::Sha256, "user", "pencil", None, Some(&creds(HashAlg::Sha1)));
    assert_eq!(ex.server.handle_client_final(&ex.client_final), Err(SaslError::NotAuthorized));
}

#[test]
fn tampered_client_final_is_not_authorized() {
    let creds = creds(HashAlg::Sha256);
    let cb: Cb = Some(("tls-exporter", EXPORTER));
    type Tamper<'a> = (&'a str, &'a dyn Fn(&str) -> String);
    let tamper: [Tamper<'_>; 5] = [
        // c= without the binding data, i.e. "p=tls-exporter,,".
        ("binding data", &|m| m.replacen(&m[2..m.find(',').unwrap()], "cD10bHMtZXhwb3J0ZXIsLA==", 1)),
        // A different nonce (server part changed).
        ("nonce", &|m| {
            let r = m.find(",r=").unwrap() + 3;
            let end = r + m[r..].find(',').unwrap();
            format!("{}X{}", &m[..end - 1], &m[end..])
        }),
        // One bit of the proof flipped.
        ("proof", &|m| {
            let p = m.rfind(",p=").unwrap() + 3;
            let mut proof = STANDARD.decode(&m[p..]).unwrap();
            proof[0] ^= 1;
            format!("{}{}", &m[..p], STANDARD.encode(proof))
        }),
        // A proof of the wrong length.
        ("short proof", &|m| format!("{}AAAA", &m[..m.rfind(",p=").unwrap() + 3])),
        // An extension inserted: changes the AuthMessage.
        ("extension", &|m| m.replacen(",p=", ",x=1,p=", 1)),
    ];
    for (what, f) in tamper {
        let mut ex = start(HashAlg::Sha256, "user", "pencil", cb, Some(&creds));
        let msg = f(std::str::from_utf8(&ex.client_final).unwrap());
        assert_ne!(msg.as_bytes(), ex.client_final.as_slice(), "{what}");
        assert_eq!(ex.server.handle_client_final(msg.as_bytes()), Err(SaslError::NotAuthorized), "{what}");
    }
}

#[test]
fn extensions_are_ignored_when_client_signs_them() {
    // Unknown non-mandatory extensions after r= are allowed (RFC 5802 §5).
    let mut server = ScramServer::new(HashAlg::Sha1, false, false, cb_data());
    let first = server.handle_client_first(b"n,,n=user,r=abcdef,x=ext").unwrap();
    assert_eq!(first.username, "user");
}

#[test]
fn client_with_wrong_binding_data_is_rejected() {
    // What a TLS man-in-the-middle would compute: its own exporter value.
    let mut ex = start(HashAlg::Sha1, "user", "pencil", Some(("tls-exporter", &[0; 32])), Some(&creds(HashAlg::Sha1)));
    assert_eq!(ex.server.handle_client_final(&ex.client_final), Err(SaslError::NotAuthorized));
}

#[test]
fn unsupported_or_unavailable_binding_type_fails() {
    let only_end_point = ChannelBindingData { tls_exporter: None, tls_server_end_point: Some(END_POINT.to_vec()) };
    let mut server = ScramServer::new(HashAlg::Sha256, true, true, only_end_point);
    assert_eq!(server.handle_client_first(b"p=tls-exporter,,n=user,r=abc"), Err(SaslError::NotAuthorized));
    let mut server = ScramServer::new(HashAlg::Sha256, true, true, cb_data());
    assert_eq!(server.handle_client_first(b"p=tls-unique,,n=user,r=abc"), Err(SaslError::NotAuthorized));
    assert_eq!(server.channel_binding_type(), None);
}

#[test]
fn channel_binding_flag_must_match_mechanism() {
    // (plus, plus_advertised, client-first, expected)
    type Case = (bool, bool, &'static [u8], Result<(), SaslError>);
    let cases: [Case; 6] = [
        (false, false, b"n,,n=u,r=a", Ok(())),
        (false, false, b"y,,n=u,r=a", Ok(())),
        (false, true, b"y,,n=u,r=a", Err(SaslError::NotAuthorized)),
        (false, true, b"p=tls-exporter,,n=u,r=a", Err(SaslError::MalformedRequest)),
        (true, true, b"n,,n=u,r=a", Err(SaslError::MalformedRequest)),
        (true, true, b"y,,n=u,r=a", Err(SaslError::MalformedRequest)),
    ];
    for (plus, advertised, msg, expected) in cases {
        let mut server = ScramServer::new(HashAlg::Sha256, plus, advertised, cb_data());
        assert_eq!(server.handle_client_first(msg).map(|_| ()), expected, "{}", String::from_utf8_lossy(msg));
    }
}

#[test]
fn username_is_decoded_and_saslprepped() {
    let cases: [(&[u8], &str); 4] = [
        (b"n,,n=user,r=a", "user"),
        (b"n,,n=a=2Cb=3Dc,r=a", "a,b=c"),
        ("n,,n=I\u{AD}X,r=a".as_bytes(), "IX"),
        ("n,,n=\u{2168},r=a".as_bytes(), "IX"),
    ];
    for (msg, expected) in cases {
        let mut server = ScramServer::new(HashAlg::Sha256, false, false, cb_data());
        assert_eq!(server.handle_client_first(msg).unwrap().username, expected);
    }
    // The client escapes what it sends.
    let mut client = ScramClient::new(HashAlg::Sha256, "a,b=c", "pw", None);
    let first = String::from_utf8(client.client_first()).unwrap();
    assert!(first.starts_with("n,,n=a=2Cb=3Dc,r="), "{first}");
}

#[test]
fn malformed_client_first_messages() {
    let cases: &[&[u8]] = &[
        b"",
        b"n",
        b"n,",
        b"n,,",
        b"x,,n=user,r=abc",
        b"p=,,n=user,r=abc",
        b"p=tls exporter,,n=user,r=abc",
        b"n,b=admin,n=user,r=abc",
        b"n,a=,n=user,r=abc",
        b"n,a=x=41,n=user,r=abc",
        b"n,,m=ext,n=user,r=abc",
        b"n,,r=abc,n=user",
        b"n,,n=user",
        b"n,,n=,r=abc",
        b"n,,n=us=er,r=abc",
        b"n,,n=user,r=",
        b"n,,n=user,r=a b",
        b"n,,n=user,r=abc,x",
        b"n,,n=user,r=abc,=x",
        b"n,,n=user,r=abc,xy=1",
        b"n,,n=user\0,r=abc",
        b"n,,n=\xff,r=abc",
        "n,,n=bell\u{7},r=abc".as_bytes(),
        "n,,n=\u{627}1,r=abc".as_bytes(),
        " n,,n=user,r=abc".as_bytes(),
    ];
    for msg in cases {
        let mut server = ScramServer::new(HashAlg::Sha256, false, false, cb_data());
        assert_eq!(
            server.handle_client_first(msg).err(),
            Some(SaslError::MalformedRequest),
            "{}",
            String::from_utf8_lossy(msg)
        );
    }
}

#[test]
fn malformed_client_final_messages() {
    let creds = creds(HashAlg::Sha256);
    let good = start(HashAlg::Sha256, "user", "pencil", None, Some(&creds)).client_final;
    let good = String::from_utf8(good).unwrap();
    let nonce = good.split(',').nth(1).unwrap();
    let proof = good.split(',').nth(2).unwrap();
    let cases = [
        String::new(),
        "c=biws".to_owned(),
        format!("c=biws,{nonce}"),
        format!("c=biws,{nonce},p=!!!!"),
        format!("c=biws,{nonce},p=AAA"),
        format!("c=biw,{nonce},{proof}"),
        format!("{nonce},c=biws,{proof}"),
        format!("c=biws,{proof}"),
        format!("c=biws,{nonce},x,{proof}"),
        format!("c=biws,{nonce},{proof},x=1"),
        format!("c=biws,{nonce}\u{0},{proof}"),
    ];
    for msg in cases {
        let mut ex = start(HashAlg::Sha256, "user", "pencil", None, Some(&creds));
        assert_eq!(ex.server.handle_client_final(msg.as_bytes()), Err(SaslError::MalformedRequest), "{msg}");
    }
    let mut ex = start(HashAlg::Sha256, "user", "pencil", None, Some(&creds));
    assert_eq!(ex.server.handle_client_final(b"c=biws,\xff"), Err(SaslError::MalformedRequest));
}

#[test]
fn out_of_order_calls_fail() {
    let creds = creds(HashAlg::Sha1);
    let mut server = ScramServer::new(HashAlg::Sha1, false, false, cb_data());
    assert_eq!(server.server_first(Some(&creds)), Vec::<u8>::new());
    assert_eq!(server.handle_client_final(b"c=biws,r=a,p=AAAA"), Err(SaslError::MalformedRequest));

    let mut ex = start(HashAlg::Sha1, "user", "pencil", None, Some(&creds));
    assert_eq!(ex.server.handle_client_first(b"n,,n=user,r=abc"), Err(SaslError::MalformedRequest));
    assert_eq!(ex.server.server_first(Some(&creds)), Vec::<u8>::new());
    assert!(ex.server.handle_client_final(&ex.client_final).is_err(), "state was consumed");

    // A failed step ends the exchange: no second guess at the proof.
    let mut ex = start(HashAlg::Sha1, "user", "pencil", None, Some(&creds));
    let bad = replace(&ex.client_final, ",p=", ",p=A");
    assert!(ex.server.handle_client_final(&bad).is_err());
    assert_eq!(ex.server.handle_client_final(&ex.client_final), Err(SaslError::MalformedRequest));

    let mut client = ScramClient::new(HashAlg::Sha1, "user", "pencil", None);
    assert_eq!(client.handle_server_first(b"r=abc,s=QQ==,i=1"), Err(SaslError::MalformedRequest));
    assert_eq!(client.verify_server_final(b"v=AAAA"), Err(SaslError::NotAuthorized));
}

#[test]
fn client_checks_the_server() {
    let creds = creds(HashAlg::Sha256);
    let ex = start(HashAlg::Sha256, "user", "pencil", None, Some(&creds));
    assert_eq!(ex.client.verify_server_final(b"e=invalid-proof"), Err(SaslError::NotAuthorized));
    assert_eq!(ex.client.verify_server_final(b"v=AAAA"), Err(SaslError::NotAuthorized));
    assert_eq!(ex.client.verify_server_final(b"x=AAAA"), Err(SaslError::MalformedRequest));

    // A server-first whose nonce does not extend ours, or with no server
    // part, or with a zero iteration count or mandatory extension.
    let mut client = ScramClient::new(HashAlg::Sha256, "user", "pencil", None);
    let first = String::from_utf8(client.client_first()).unwrap();
    let nonce = first.rsplit("r=").next().unwrap().to_owned();
    for bad in [
        "r=other,s=QQ==,i=4096".to_owned(),
        format!("r={nonce},s=QQ==,i=4096"),
        format!("r={nonce}x,s=QQ==,i=0"),
        format!("r={nonce}x,s=,i=4096"),
        format!("r={nonce}x,s=QQ==,i=-1"),
        format!("m=1,r={nonce}x,s=QQ==,i=4096"),
    ] {
        assert_eq!(client.handle_server_first(bad.as_bytes()), Err(SaslError::MalformedRequest), "{bad}");
    }
}

#[test]
fn credentials() {
    let creds = ScramCredentials::derive(HashAlg::Sha256, "IX", b"salt", ITERATIONS).unwrap();
    assert_eq!(creds.stored_key.len(), 32);
    assert_eq!(creds.server_key.len(), 32);
    assert!(creds.verify_password("IX"));
    // SASLprep: soft hyphen dropped, roman numeral nine NFKC'd to "IX".
    assert!(creds.verify_password("I\u{AD}X"));
    assert!(creds.verify_password("\u{2168}"));
    assert!(!creds.verify_password("ix"));
    assert!(!creds.verify_password("bell\u{7}"));

    let derived_again = ScramCredentials::derive(HashAlg::Sha256, "I\u{AD}X", b"salt", ITERATIONS).unwrap();
    assert_eq!(derived_again, creds);

    let a = ScramCredentials::new_random(HashAlg::Sha1, "pw", ITERATIONS).unwrap();
    let b = ScramCredentials::new_random(HashAlg::Sha1, "pw", ITERATIONS).unwrap();
    assert_eq!(a.salt.len(), 16);
    assert_ne!(a.salt, b.salt);
    assert_eq!(a.stored_key.len(), 20);
    assert_eq!(ScramCredentials::new_random(HashAlg::Sha512, "pw", 1).unwrap().server_key.len(), 64);

    assert_eq!(ScramCredentials::derive(HashAlg::Sha1, "pw", b"s", 0), Err(SaslError::MalformedRequest));
    assert_eq!(ScramCredentials::derive(HashAlg::Sha1, "\u{7}", b"s", 1), Err(SaslError::MalformedRequest));
}

#[test]
fn credentials_debug_hides_keys() {
    let creds = ScramCredentials::derive(HashAlg::Sha1, "pencil", b"salt", ITERATIONS).unwrap();
    let debug = format!("{creds:?}");
    assert!(debug.contains("Sha1") && debug.contains("iterations: 32"), "{debug}");
    for key in [&creds.stored_key, &creds.server_key] {
        assert!(!debug.contains(&format!("{key:?}")[1..10]), "{debug}");
        assert!(!debug.contains(&STANDARD.encode(key)));
    }
    assert!(!debug.contains("stored_key") && !debug.contains("server_key"), "{debug}");
}
