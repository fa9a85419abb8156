//! Property tests: honest parties always agree, and no input panics.

use proptest::prelude::*;
use waxwing_sasl::{
    ChannelBindingData, HashAlg, SaslError, ScramClient, ScramCredentials, ScramServer, parse_plain, saslprep,
};

/// Low, because tests run unoptimised.
const ITERATIONS: u32 = 16;

fn hash_alg() -> impl Strategy<Value = HashAlg> {
    prop::sample::select(HashAlg::ALL.to_vec())
}

/// `None`, or one of the two supported binding types.
fn binding() -> impl Strategy<Value = Option<&'static str>> {
    prop::sample::select(vec![None, Some("tls-exporter"), Some("tls-server-end-point")])
}

/// Strings with SCRAM-significant characters (`,` `=` NUL), non-ASCII
/// spaces and mapped-to-nothing characters, plus arbitrary ones.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[a-zA-Z0-9]{1,4}",
        1 => prop::sample::select(vec![",", "=", "=2C", "=3D", " ", "\u{A0}", "\u{AD}", "ü", "\u{2168}", "@", "\0"])
            .prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 1..6).prop_map(|p| p.concat())
}

fn channel_binding_data() -> ChannelBindingData {
    ChannelBindingData {
        tls_exporter: Some(b"exporter binding data".to_vec()),
        tls_server_end_point: Some(b"end point binding data".to_vec()),
    }
}

fn new_server(hash: HashAlg, plus: bool) -> ScramServer {
    ScramServer::new(hash, plus, true, channel_binding_data())
}

/// Drives an exchange as far as it goes; returns each step's output.
struct Transcript {
    client: ScramClient,
    server: ScramServer,
    client_first: Vec<u8>,
    server_first: Vec<u8>,
    client_final: Vec<u8>,
}

fn honest_transcript(hash: HashAlg, creds: &ScramCredentials) -> Transcript {
    let mut client = ScramClient::new(hash, "user", "pencil", None);
    let mut server = new_server(hash, false);
    let client_first = client.client_first();
    server.handle_client_first(&client_first).unwrap();
    let server_first = server.server_first(Some(creds));
    let client_final = client.handle_server_first(&server_first).unwrap();
    Transcript { client, server, client_first, server_first, client_final }
}

/// Changes one byte of `msg`, or truncates it.
fn mutate(msg: &[u8], index: usize, byte: u8, truncate: bool) -> Vec<u8> {
    let mut msg = msg.to_vec();
    if msg.is_empty() {
        return msg;
    }
    let index = index % msg.len();
    if truncate {
        msg.truncate(index);
    } else {
        msg[index] = byte;
    }
    msg
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// For any user name and password the server can store, an honest
    /// client authenticates, with or without channel binding, and both
    /// sides agree on who it is.
    #[test]
    fn client_and_server_agree(hash in hash_alg(), user in text(), password in text(), cb in binding()) {
        let Ok(creds) = ScramCredentials::derive(hash, &password, b"some salt", ITERATIONS) else {
            return Ok(()); // Not a storable password.
        };
        let prepared_user = saslprep(&user).map(|u| u.into_owned());
        let cb_data = channel_binding_data();
        let client_cb = cb.map(|name| {
            let data = if name == "tls-exporter" { &cb_data.tls_exporter } else { &cb_data.tls_server_end_point };
            (name.to_owned(), data.clone().unwrap())
        });
        let mut client = ScramClient::new(hash, &user, &password, client_cb);
        let mut server = ScramServer::new(hash, cb.is_some(), true, cb_data);

        let first = server.handle_client_first(&client.client_first());
        match prepared_user {
            Ok(ref u) if !u.is_empty() => prop_assert_eq!(&first.unwrap().username, u),
            _ => {
                prop_assert_eq!(first, Err(SaslError::MalformedRequest));
                return Ok(());
            }
        }
        let client_final = client.handle_server_first(&server.server_first(Some(&creds))).unwrap();
        let server_final = server.handle_client_final(&client_final).unwrap();
        prop_assert_eq!(client.verify_server_final(&server_final), Ok(()));
        prop_assert_eq!(server.channel_binding_type(), cb);
        prop_assert!(creds.verify_password(&password));
    }

    #[test]
    fn wrong_password_never_authenticates(hash in hash_alg(), password in "[ -~]{1,12}", other in "[ -~]{1,12}") {
        prop_assume!(password != other);
        let creds = ScramCredentials::derive(hash, &password, b"salt", ITERATIONS).unwrap();
        let mut client = ScramClient::new(hash, "user", &other, None);
        let mut server = new_server(hash, false);
        server.handle_client_first(&client.client_first()).unwrap();
        let client_final = client.handle_server_first(&server.server_first(Some(&creds))).unwrap();
        prop_assert_eq!(server.handle_client_final(&client_final), Err(SaslError::NotAuthorized));
        prop_assert!(!creds.verify_password(&other));
    }

    #[test]
    fn random_client_first_never_panics(hash in hash_alg(), plus in any::<bool>(), msg in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut server = new_server(hash, plus);
        if server.handle_client_first(&msg).is_ok() {
            let reply = server.server_first(None);
            prop_assert!(reply.starts_with(b"r="));
        }
    }

    #[test]
    fn random_client_final_never_panics(msg in prop::collection::vec(any::<u8>(), 0..128), text in "[a-zA-Z0-9=,+/]{0,128}") {
        let creds = ScramCredentials::derive(HashAlg::Sha1, "pencil", b"salt", ITERATIONS).unwrap();
        let mut t = honest_transcript(HashAlg::Sha1, &creds);
        prop_assert!(t.server.handle_client_final(&msg).is_err());
        let mut t2 = honest_transcript(HashAlg::Sha1, &creds);
        prop_assert!(t2.server.handle_client_final(text.as_bytes()).is_err());
        // And after the failure, everything keeps failing.
        prop_assert!(t.server.handle_client_final(&t.client_final).is_err());
    }

    #[test]
    fn mutated_messages_never_panic_or_authenticate(
        index in any::<usize>(), byte in any::<u8>(), truncate in any::<bool>(), which in 0..3u8,
    ) {
        let creds = ScramCredentials::derive(HashAlg::Sha256, "pencil", b"salt", ITERATIONS).unwrap();
        let t = honest_transcript(HashAlg::Sha256, &creds);
        if which == 0 {
            // Mutated client-first, then the (now mismatching) honest final.
            let msg = mutate(&t.client_first, index, byte, truncate);
            let mut server = new_server(HashAlg::Sha256, false);
            if server.handle_client_first(&msg).is_ok() {
                server.server_first(Some(&creds));
                let result = server.handle_client_final(&t.client_final);
                prop_assert!(msg == t.client_first || result.is_err());
            }
        } else if which == 1 {
            // Mutated server-first: the client may or may not accept it, but
            // its answer cannot satisfy the server.
            let msg = mutate(&t.server_first, index, byte, truncate);
            let mut client = t.client;
            let mut server = t.server;
            if let Ok(client_final) = client.handle_server_first(&msg) {
                let result = server.handle_client_final(&client_final);
                prop_assert!(msg == t.server_first || result.is_err());
            }
        } else {
            let msg = mutate(&t.client_final, index, byte, truncate);
            let mut server = t.server;
            let result = server.handle_client_final(&msg);
            prop_assert!(msg == t.client_final || result.is_err(), "{}", String::from_utf8_lossy(&msg));
        }
    }

    #[test]
    fn random_server_messages_never_panic(
        first in prop::collection::vec(any::<u8>(), 0..96),
        suffix in "[a-zA-Z0-9=,+/]{0,48}",
        last in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut client = ScramClient::new(HashAlg::Sha256, "user", "pencil", None);
        let client_first = String::from_utf8(client.client_first()).unwrap();
        let nonce = client_first.rsplit("r=").next().unwrap();
        let _ = client.handle_server_first(&first);
        let plausible = format!("r={nonce}{suffix}");
        let _ = client.handle_server_first(plausible.as_bytes());
        let _ = client.verify_server_final(&last);
        prop_assert!(client.verify_server_final(b"v=").is_err());
    }

    #[test]
    fn random_plain_never_panics(msg in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(creds) = parse_plain(&msg) {
            prop_assert!(!creds.authcid.is_empty() && !creds.password.is_empty());
            prop_assert!(creds.authzid.as_deref() != Some(""));
        }
    }
}
