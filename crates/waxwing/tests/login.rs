//! Stream negotiation over real sockets: STARTTLS, direct TLS, SASL, binding
//! (RFC 6120 §4–§7, XEP-0368, XEP-0440).

mod support;

use std::time::Duration;

use support::*;
use waxwing_sasl::HashAlg;

#[tokio::test]
async fn before_tls_only_starttls_is_offered() {
    let server = TestServer::start().await;
    let mut c = Client::connect(server.c2s_addr()).await;
    let features = c.open("localhost").await;
    let starttls = features.get_child("starttls", NS_TLS).expect("starttls offered");
    assert!(starttls.get_child("required", NS_TLS).is_some());
    assert_eq!(features.elements().count(), 1, "only starttls before TLS: {features}");
    let header = c.header.clone().unwrap();
    let attr = |k: &str| header.attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(attr("from").as_deref(), Some("localhost"));
    assert_eq!(attr("version").as_deref(), Some("1.0"));
    assert!(attr("id").is_some_and(|id| id.len() >= 16));
    assert_eq!(header.default_ns.as_deref(), Some(NS_CLIENT));
}

#[tokio::test]
async fn scram_sha_256_over_starttls_then_bind() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    let mut c = Client::connect(server.c2s_addr()).await;
    c.open("localhost").await;
    c.starttls(server.certificate()).await;
    c.open("localhost").await;
    let mechanisms = c.mechanisms();
    for m in ["SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512", "SCRAM-SHA-256-PLUS", "PLAIN"] {
        assert!(mechanisms.iter().any(|x| x == m), "{m} missing from {mechanisms:?}");
    }
    // XEP-0440 advertisement of the channel-binding types.
    let cb = c.features.as_ref().unwrap().get_child("sasl-channel-binding", "urn:xmpp:sasl-cb:0").expect("XEP-0440");
    let types: Vec<_> = cb.elements().filter_map(|e| e.attr("type")).collect();
    assert!(types.contains(&"tls-exporter") && types.contains(&"tls-server-end-point"), "{types:?}");
    c.scram("juliet", PASSWORD, HashAlg::Sha256, None).await.unwrap();
    let features = c.open("localhost").await;
    assert!(features.get_child("bind", NS_BIND).is_some());
    let session = features.get_child("session", "urn:ietf:params:xml:ns:xmpp-session").expect("legacy session");
    assert!(session.get_child("optional", "urn:ietf:params:xml:ns:xmpp-session").is_some());
    let jid = c.bind(Some("balcony")).await;
    assert_eq!(jid, "juliet@localhost/balcony");
    // The RFC 3921 session iq is still answered.
    c.send("<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>").await;
    let reply = c.stanza().await;
    assert_eq!(reply.attr("type"), Some("result"));
    assert_eq!(reply.attr("id"), Some("s1"));
    assert_eq!(c.close().await, Ended::Closed);
}

#[tokio::test]
async fn every_scram_variant_and_channel_binding_type() {
    let server = TestServer::start().await;
    server.add_user("romeo").await;
    for hash in HashAlg::ALL {
        for cb in [None, Some("tls-exporter"), Some("tls-server-end-point")] {
            let mut c = Client::connect(server.c2s_addr()).await;
            c.open("localhost").await;
            c.starttls(server.certificate()).await;
            c.open("localhost").await;
            let binding = cb.map(|name| {
                let data = match name {
                    "tls-exporter" => c.exporter.clone().unwrap(),
                    _ => {
                        use sha2::Digest;
                        sha2::Sha256::digest(c.server_cert.as_ref().unwrap().as_ref()).to_vec()
                    }
                };
                (name.to_string(), data)
            });
            c.scram("romeo", PASSWORD, hash, binding).await.unwrap_or_else(|e| panic!("{hash:?} {cb:?}: {e}"));
        }
    }
}

#[tokio::test]
async fn wrong_channel_binding_data_fails() {
    let server = TestServer::start().await;
    server.add_user("romeo").await;
    let mut c = Client::connect(server.c2s_addr()).await;
    c.open("localhost").await;
    c.starttls(server.certificate()).await;
    c.open("localhost").await;
    // As a man-in-the-middle would see it: another TLS channel's exporter value.
    let wrong = Some(("tls-exporter".to_string(), vec![7u8; 32]));
    assert_eq!(c.scram("romeo", PASSWORD, HashAlg::Sha256, wrong).await, Err("not-authorized".into()));
}

#[tokio::test]
async fn direct_tls_login() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    let mut c = Client::connect_direct_tls(server.direct_tls_addr(), server.certificate()).await;
    let features = c.open("localhost").await;
    assert!(features.get_child("starttls", NS_TLS).is_none(), "no STARTTLS on a TLS stream");
    c.scram("juliet", PASSWORD, HashAlg::Sha256, None).await.unwrap();
    c.open("localhost").await;
    assert_eq!(c.bind(Some("tls")).await, "juliet@localhost/tls");
}

#[tokio::test]
async fn plain_inside_tls() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    let mut c = Client::connect_direct_tls(server.direct_tls_addr(), server.certificate()).await;
    c.open("localhost").await;
    assert_eq!(c.plain("juliet", "wrong").await, Err("not-authorized".into()));
    c.plain("juliet", PASSWORD).await.unwrap();
    c.open("localhost").await;
    c.bind(None).await;
}

#[tokio::test]
async fn failures_are_rfc_conditions_and_retry_is_allowed() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    let mut c = Client::connect_direct_tls(server.direct_tls_addr(), server.certificate()).await;
    c.open("localhost").await;
    // Wrong password, unknown user: the same answer (no account enumeration).
    assert_eq!(c.scram("juliet", "nope", HashAlg::Sha256, None).await, Err("not-authorized".into()));
    assert_eq!(c.scram("nobody", "nope", HashAlg::Sha256, None).await, Err("not-authorized".into()));
    // A mechanism we do not offer.
    c.send(&format!("<auth xmlns='{NS_SASL}' mechanism='DIGEST-MD5'/>")).await;
    assert_eq!(failure_condition(&c.stanza().await), "invalid-mechanism");
    // Bad base64.
    c.send(&format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>!!!</auth>")).await;
    assert_eq!(failure_condition(&c.stanza().await), "incorrect-encoding");
    // …and the client may still succeed on this connection? No: 4 failures so far, the 5th closes it.
    assert_eq!(c.scram("juliet", "nope", HashAlg::Sha256, None).await, Err("not-authorized".into()));
    c.expect_stream_error("policy-violation").await;
}

#[tokio::test]
async fn repeated_failures_are_throttled_per_account() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    for _ in 0..5 {
        let mut c = Client::connect_direct_tls(server.direct_tls_addr(), server.certificate()).await;
        c.open("localhost").await;
        assert_eq!(c.scram("juliet", "guess", HashAlg::Sha256, None).await, Err("not-authorized".into()));
    }
    // Even the right password is refused for now: the account is being guessed at.
    let mut c = Client::connect_direct_tls(server.direct_tls_addr(), server.certificate()).await;
    c.open("localhost").await;
    assert_eq!(c.scram("juliet", PASSWORD, HashAlg::Sha256, None).await, Err("temporary-auth-failure".into()));
}

#[tokio::test]
async fn plain_is_not_offered_without_tls_even_when_tls_is_optional() {
    let server = TestServer::start_with(|c| c.c2s.require_tls = false).await;
    server.add_user("juliet").await;
    let mut c = Client::connect(server.c2s_addr()).await;
    c.open("localhost").await;
    let mechanisms = c.mechanisms();
    assert!(!mechanisms.iter().any(|m| m == "PLAIN" || m.ends_with("-PLUS")), "{mechanisms:?}");
    assert_eq!(c.plain("juliet", PASSWORD).await, Err("invalid-mechanism".into()));
    c.scram("juliet", PASSWORD, HashAlg::Sha1, None).await.unwrap();
}

#[tokio::test]
async fn server_generated_resource_and_resource_conflict() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    let mut a = server.login("juliet", "phone").await;
    let mut generated = Client::connect_direct_tls(server.direct_tls_addr(), server.certificate()).await;
    generated.open("localhost").await;
    generated.scram("juliet", PASSWORD, HashAlg::Sha256, None).await.unwrap();
    generated.open("localhost").await;
    let jid = generated.bind(None).await;
    assert!(jid.starts_with("juliet@localhost/") && jid.len() > "juliet@localhost/".len());
    // Same full JID again: the new session wins, the old one gets `conflict`.
    let mut b = server.login("juliet", "phone").await;
    a.expect_stream_error("conflict").await;
    b.send("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(b.stanza().await.attr("type"), Some("result"));
}

#[tokio::test]
async fn unknown_host_and_bad_headers() {
    let server = TestServer::start().await;
    let mut c = Client::connect(server.c2s_addr()).await;
    c.send("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.net' version='1.0'>").await;
    c.expect_stream_error("host-unknown").await;

    let mut c = Client::connect(server.c2s_addr()).await;
    c.send("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>").await;
    c.expect_stream_error("invalid-namespace").await;

    let mut c = Client::connect(server.c2s_addr()).await;
    c.send("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='2.0'>").await;
    c.expect_stream_error("unsupported-version").await;
}

#[tokio::test]
async fn stanzas_before_authentication_are_not_authorized() {
    let server = TestServer::start().await;
    let mut c = Client::connect_direct_tls(server.direct_tls_addr(), server.certificate()).await;
    c.open("localhost").await;
    c.send("<message to='juliet@localhost'><body>hi</body></message>").await;
    c.expect_stream_error("not-authorized").await;
}

#[tokio::test]
async fn stanzas_before_bind_are_not_authorized() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    let mut c = Client::connect_direct_tls(server.direct_tls_addr(), server.certificate()).await;
    c.open("localhost").await;
    c.scram("juliet", PASSWORD, HashAlg::Sha256, None).await.unwrap();
    c.open("localhost").await;
    c.send("<message to='juliet@localhost'><body>hi</body></message>").await;
    c.expect_stream_error("not-authorized").await;
}

#[tokio::test]
async fn auth_before_required_starttls_is_refused() {
    let server = TestServer::start().await;
    let mut c = Client::connect(server.c2s_addr()).await;
    c.open("localhost").await;
    c.send(&format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>AGp1bGlldABwYXNz</auth>")).await;
    c.expect_stream_error("policy-violation").await;
}

#[tokio::test]
async fn whitespace_keepalives_are_accepted() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    let mut c = server.login("juliet", "r").await;
    for _ in 0..3 {
        c.send(" ").await;
        c.send("\n").await;
    }
    c.send("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(c.stanza().await.attr("id"), Some("p"));
    c.expect_silence(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn only_the_configured_mechanisms_are_offered() {
    let server = TestServer::start_with(|c| c.auth.mechanisms = Some(vec!["SCRAM-SHA-256".into()])).await;
    server.add_user("juliet").await;
    let mut c = Client::connect_direct_tls(server.direct_tls_addr(), server.certificate()).await;
    c.open("localhost").await;
    assert_eq!(c.mechanisms(), vec!["SCRAM-SHA-256".to_string()]);
    assert_eq!(c.scram("juliet", PASSWORD, HashAlg::Sha1, None).await, Err("invalid-mechanism".into()));
    c.scram("juliet", PASSWORD, HashAlg::Sha256, None).await.unwrap();
}

#[tokio::test]
async fn each_virtual_host_gets_its_own_certificate_by_sni() {
    // An operator-provided certificate for a second host (made here with the
    // same generator the server uses for localhost).
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("example.test.crt"), certs.path().join("example.test.key"));
    let store = waxwing_net::tls::CertStore::load(vec![(
        "example.test".into(),
        waxwing_net::tls::CertSource::SelfSigned { cert: cert.clone(), key: key.clone() },
    )])
    .unwrap();
    let example_cert = store.certified_key("example.test").unwrap().cert[0].clone();
    let server = TestServer::start_with(|c| {
        c.hosts.push(waxwing::config::HostConfig {
            domain: "Example.Test".into(),
            certificate: Some(cert.clone()),
            key: Some(key.clone()),
        })
    })
    .await;
    server.add_user("juliet@example.test").await;
    server.add_user("juliet@localhost").await;
    // The pinning verifier only accepts the expected certificate for each name.
    let mut c = Client::connect_direct_tls_to(server.direct_tls_addr(), example_cert.clone(), "example.test").await;
    assert_eq!(c.server_cert.as_ref(), Some(&example_cert));
    c.open("example.test").await;
    c.scram("juliet", PASSWORD, HashAlg::Sha256, None).await.unwrap();
    c.open("example.test").await;
    assert_eq!(c.bind(Some("r")).await, "juliet@example.test/r");
    let mut l = Client::connect_direct_tls(server.direct_tls_addr(), server.certificate()).await;
    assert_ne!(l.server_cert.as_ref(), Some(&example_cert));
    l.open("localhost").await;
    l.scram("juliet", PASSWORD, HashAlg::Sha256, None).await.unwrap();
    // Accounts are per host: juliet@localhost and juliet@example.test are different people.
    l.open("localhost").await;
    assert_eq!(l.bind(Some("r")).await, "juliet@localhost/r");
    l.send("<message to='juliet@example.test/r'><body>hello other me</body></message>").await;
    assert_eq!(c.stanza().await.attr("from"), Some("juliet@localhost/r"));
}
