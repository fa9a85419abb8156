//! White-box server tests that need a client violating the protocol
//! (custom GS2 headers), which the public client API cannot do.

use crate::{ChannelBindingData, HashAlg, SaslError, ScramClient, ScramCredentials, ScramServer};

const ITERATIONS: u32 = 16;

fn cb_data() -> ChannelBindingData {
    ChannelBindingData { tls_exporter: Some(vec![7; 32]), tls_server_end_point: Some(vec![9; 32]) }
}

/// Runs a full exchange; returns the first error, from whichever step.
fn exchange(mut client: ScramClient, mut server: ScramServer) -> Result<ScramServer, SaslError> {
    let creds = ScramCredentials::derive(HashAlg::Sha256, "pencil", b"salt", ITERATIONS)?;
    server.handle_client_first(&client.client_first())?;
    let server_first = server.server_first(Some(&creds));
    let client_final = client.handle_server_first(&server_first)?;
    let server_final = server.handle_client_final(&client_final)?;
    client.verify_server_final(&server_final)?;
    Ok(server)
}

fn client(header: &str, cb: Option<(&str, u8)>) -> ScramClient {
    let cb = cb.map(|(name, byte)| (name.to_owned(), vec![byte; 32]));
    ScramClient::new(HashAlg::Sha256, "user", "pencil", cb).with_gs2_header(header)
}

fn server(plus: bool, plus_advertised: bool) -> ScramServer {
    ScramServer::new(HashAlg::Sha256, plus, plus_advertised, cb_data())
}

#[test]
fn flag_y_is_a_downgrade_only_if_plus_was_advertised() {
    // RFC 5802 §6: the client supports channel binding but believes the
    // server does not. If we did advertise -PLUS, someone removed it.
    assert!(exchange(client("y,,", None), server(false, false)).is_ok());
    assert_eq!(exchange(client("y,,", None), server(false, true)).err(), Some(SaslError::NotAuthorized));
    // A -PLUS mechanism with `y` or `n` makes no sense.
    assert_eq!(exchange(client("y,,", None), server(true, true)).err(), Some(SaslError::MalformedRequest));
    assert_eq!(exchange(client("n,,", None), server(true, true)).err(), Some(SaslError::MalformedRequest));
    // `n` on a plain mechanism is fine whether or not -PLUS was offered.
    assert!(exchange(client("n,,", None), server(false, true)).is_ok());
}

#[test]
fn flag_p_requires_a_plus_mechanism() {
    let header = "p=tls-exporter,,";
    assert_eq!(
        exchange(client(header, Some(("tls-exporter", 7))), server(false, true)).err(),
        Some(SaslError::MalformedRequest)
    );
}

#[test]
fn authzid_is_decoded_and_part_of_the_binding() {
    let mut server = server(false, false);
    let mut c = client("n,a=admin=2Cx@example.com,", None);
    let first = server.handle_client_first(&c.client_first()).unwrap();
    assert_eq!(first.authzid.as_deref(), Some("admin,x@example.com"));
    let creds = ScramCredentials::derive(HashAlg::Sha256, "pencil", b"salt", ITERATIONS).unwrap();
    let client_final = c.handle_server_first(&server.server_first(Some(&creds))).unwrap();
    assert!(server.handle_client_final(&client_final).is_ok());
}

#[test]
fn c_must_repeat_the_exact_gs2_header() {
    // The client sends "n,," first but claims "y,," in c=: a MITM could
    // have rewritten the flag, so the binding check must catch it.
    let mut server = server(false, false);
    let mut honest = client("n,,", None).with_fixed_nonce("nonce");
    server.handle_client_first(&honest.client_first()).unwrap();
    let creds = ScramCredentials::derive(HashAlg::Sha256, "pencil", b"salt", ITERATIONS).unwrap();
    let server_first = server.server_first(Some(&creds));
    // Same nonce and user, so only the header differs.
    let mut liar = client("y,,", None).with_fixed_nonce("nonce");
    liar.client_first();
    let client_final = liar.handle_server_first(&server_first).unwrap();
    assert!(client_final.starts_with(b"c=eSws,"));
    assert_eq!(server.handle_client_final(&client_final), Err(SaslError::NotAuthorized));
    assert!(honest.handle_server_first(&server_first).is_ok());
}
