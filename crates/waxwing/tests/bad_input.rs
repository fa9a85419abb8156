//! Bad input gets the stream error RFC 6120 names, closes only the offending
//! stream, and leaves every other session working.

mod support;

use support::*;

/// A logged-in bystander whose session must survive every bad input.
async fn bystander(server: &TestServer) -> Client {
    server.add_user("bystander").await;
    server.login("bystander", "watching").await
}

async fn assert_alive(c: &mut Client) {
    c.send("<iq type='get' id='alive'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let reply = c.stanza().await;
    assert_eq!((reply.attr("id"), reply.attr("type")), (Some("alive"), Some("result")), "{reply}");
}

/// Logs in a fresh session, sends `bad`, and expects `condition`.
async fn bad_bytes_after_login(server: &TestServer, bad: &[u8], condition: &str) {
    let mut c = server.login("mallory", "r").await;
    c.send_bytes(bad).await;
    c.expect_stream_error(condition).await;
}

async fn setup() -> (TestServer, Client) {
    let server = TestServer::start().await;
    server.add_user("mallory").await;
    let by = bystander(&server).await;
    (server, by)
}

macro_rules! bad_input_test {
    ($name:ident, $bytes:expr, $condition:expr) => {
        #[tokio::test]
        async fn $name() {
            let (server, mut by) = setup().await;
            bad_bytes_after_login(&server, $bytes, $condition).await;
            assert_alive(&mut by).await;
        }
    };
}

bad_input_test!(malformed_xml, b"<message><body>hi</message>", "not-well-formed");
bad_input_test!(comment, b"<!-- hello -->", "restricted-xml");
bad_input_test!(processing_instruction, b"<?php echo 1; ?>", "restricted-xml");
bad_input_test!(doctype_inside_stream, b"<!DOCTYPE foo [<!ENTITY a 'b'>]>", "restricted-xml");
bad_input_test!(undeclared_prefix, b"<message><x:body>hi</x:body></message>", "bad-namespace-prefix");
bad_input_test!(invalid_utf8, b"<message><body>\xff\xfe</body></message>", "invalid-xml");
bad_input_test!(control_character, b"<message><body>\x01</body></message>", "invalid-xml");
bad_input_test!(text_between_stanzas, b"hello there", "bad-format");
bad_input_test!(unknown_top_level_element, b"<foo xmlns='urn:example'/>", "unsupported-stanza-type");
bad_input_test!(
    wrong_from,
    b"<message from='romeo@localhost/x' to='bystander@localhost'><body>x</body></message>",
    "invalid-from"
);

#[tokio::test]
async fn billion_laughs_in_the_prolog_is_refused() {
    let (server, mut by) = setup().await;
    let mut c = Client::connect(server.c2s_addr()).await;
    let laughs = b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;'>]><lolz>&lol2;</lolz>";
    c.send_bytes(laughs).await;
    c.expect_stream_error("restricted-xml").await;
    assert_alive(&mut by).await;
}

#[tokio::test]
async fn utf16_is_unsupported_encoding() {
    let (server, mut by) = setup().await;
    let mut c = Client::connect(server.c2s_addr()).await;
    c.send("<?xml version='1.0' encoding='UTF-16'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>").await;
    c.expect_stream_error("unsupported-encoding").await;
    assert_alive(&mut by).await;
}

#[tokio::test]
async fn oversized_stanza_is_a_policy_violation() {
    let (server, mut by) = setup().await;
    let mut c = server.login("mallory", "r").await;
    let body = "x".repeat(300 * 1024);
    // The server may close while we are still writing: that is the point.
    let _ =
        c.try_send_bytes(format!("<message to='bystander@localhost'><body>{body}</body></message>").as_bytes()).await;
    c.expect_stream_error("policy-violation").await;
    // Nothing of it was delivered.
    by.expect_silence(std::time::Duration::from_millis(200)).await;
    assert_alive(&mut by).await;
}

#[tokio::test]
async fn stanza_limit_is_configurable() {
    let server = TestServer::start_with(|c| c.limits.max_stanza_bytes = 16 * 1024).await;
    server.add_user("mallory").await;
    let mut by = bystander(&server).await;
    let mut c = server.login("mallory", "r").await;
    let body = "y".repeat(20 * 1024);
    let _ = c.try_send_bytes(format!("<message><body>{body}</body></message>").as_bytes()).await;
    c.expect_stream_error("policy-violation").await;
    assert_alive(&mut by).await;
}

#[tokio::test]
async fn too_deep_nesting_is_a_policy_violation() {
    let (server, mut by) = setup().await;
    let deep = format!("<message>{}", "<a>".repeat(200));
    bad_bytes_after_login(&server, deep.as_bytes(), "policy-violation").await;
    assert_alive(&mut by).await;
}

#[tokio::test]
async fn too_many_attributes_is_a_policy_violation() {
    let (server, mut by) = setup().await;
    let attrs: String = (0..100).map(|i| format!(" a{i}='v'")).collect();
    bad_bytes_after_login(&server, format!("<message{attrs}/>").as_bytes(), "policy-violation").await;
    assert_alive(&mut by).await;
}

#[tokio::test]
async fn overlong_attribute_is_a_policy_violation() {
    let (server, mut by) = setup().await;
    let value = "v".repeat(10 * 1024);
    bad_bytes_after_login(&server, format!("<message id='{value}'/>").as_bytes(), "policy-violation").await;
    assert_alive(&mut by).await;
}

#[tokio::test]
async fn invalid_to_is_jid_malformed_and_the_session_survives() {
    let (server, mut by) = setup().await;
    let mut c = server.login("mallory", "r").await;
    c.send("<message to='a@b@c' id='m1'><body>x</body></message>").await;
    let reply = c.stanza().await;
    assert_eq!(reply.attr("type"), Some("error"));
    assert_eq!(reply.attr("id"), Some("m1"));
    assert_eq!(error_condition(&reply).as_deref(), Some("jid-malformed"));
    let long = "n".repeat(1024);
    c.send(&format!("<iq to='{long}@localhost' type='get' id='i1'><ping xmlns='urn:xmpp:ping'/></iq>")).await;
    assert_eq!(error_condition(&c.stanza().await).as_deref(), Some("jid-malformed"));
    assert_alive(&mut c).await;
    assert_alive(&mut by).await;
}

#[tokio::test]
async fn bad_input_before_authentication() {
    let (server, mut by) = setup().await;
    let mut c = Client::connect(server.c2s_addr()).await;
    c.send("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'><!-- hi -->").await;
    // The server sends its header, then features, then the error.
    c.expect_stream_error("restricted-xml").await;
    let mut c = Client::connect(server.c2s_addr()).await;
    c.send("<stream xmlns='jabber:client' to='localhost' version='1.0'>").await;
    c.expect_stream_error("invalid-namespace").await;
    let mut c = Client::connect(server.c2s_addr()).await;
    // A TLS ClientHello on the STARTTLS port: not XML at all.
    c.send_bytes(b"\x16\x03\x01\x02\x00garbage").await;
    c.expect_stream_error("not-well-formed").await;
    let mut c = Client::connect(server.c2s_addr()).await;
    c.send_bytes(b"GET / HTTP/1.1\r\n").await;
    c.expect_stream_error("not-well-formed").await;
    assert_alive(&mut by).await;
}
