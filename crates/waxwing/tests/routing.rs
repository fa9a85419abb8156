//! The first slice of routing: stanzas between bound sessions by full JID,
//! iq errors where nobody answers, never an error in reply to an error, and
//! the server stamping `from`.

mod support;

use std::time::Duration;

use support::*;

async fn two_users() -> (TestServer, Client, Client) {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    let juliet = server.login("juliet", "balcony").await;
    let romeo = server.login("romeo", "garden").await;
    (server, juliet, romeo)
}

#[tokio::test]
async fn message_between_full_jids_with_from_stamped() {
    let (_server, mut juliet, mut romeo) = two_users().await;
    juliet
        .send("<message to='romeo@localhost/garden' type='chat' id='m1'><body>Wherefore art thou?</body><x xmlns='urn:example:extra' a='1'>kept</x></message>")
        .await;
    let m = romeo.stanza().await;
    assert_eq!(m.attr("from"), Some("juliet@localhost/balcony"));
    assert_eq!(m.attr("to"), Some("romeo@localhost/garden"));
    assert_eq!(m.attr("id"), Some("m1"));
    assert_eq!(m.get_child("body", NS_CLIENT).unwrap().text(), "Wherefore art thou?");
    // Unknown payloads pass through untouched.
    let extra = m.get_child("x", "urn:example:extra").unwrap();
    assert_eq!((extra.attr("a"), extra.text().as_str()), (Some("1"), "kept"));
}

#[tokio::test]
async fn claiming_own_bare_or_full_jid_is_allowed_and_restamped() {
    let (_server, mut juliet, mut romeo) = two_users().await;
    juliet.send("<message from='juliet@localhost' to='romeo@localhost/garden'><body>1</body></message>").await;
    assert_eq!(romeo.stanza().await.attr("from"), Some("juliet@localhost/balcony"));
    juliet.send("<message from='JULIET@localhost/balcony' to='romeo@localhost/garden'><body>2</body></message>").await;
    assert_eq!(romeo.stanza().await.attr("from"), Some("juliet@localhost/balcony"));
}

#[tokio::test]
async fn iq_between_clients_and_the_response_back() {
    let (_server, mut juliet, mut romeo) = two_users().await;
    juliet.send("<iq to='romeo@localhost/garden' type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>").await;
    let request = romeo.stanza().await;
    assert_eq!(request.attr("from"), Some("juliet@localhost/balcony"));
    romeo
        .send("<iq to='juliet@localhost/balcony' type='result' id='v1'><query xmlns='jabber:iq:version'><name>x</name></query></iq>")
        .await;
    let response = juliet.stanza().await;
    assert_eq!((response.attr("type"), response.attr("id")), (Some("result"), Some("v1")));
    assert_eq!(response.attr("from"), Some("romeo@localhost/garden"));
}

#[tokio::test]
async fn iq_to_an_offline_full_jid_is_service_unavailable() {
    let (_server, mut juliet, _romeo) = two_users().await;
    juliet.send("<iq to='romeo@localhost/elsewhere' type='get' id='q'><query xmlns='jabber:iq:version'/></iq>").await;
    let reply = juliet.stanza().await;
    assert_eq!(reply.attr("type"), Some("error"));
    assert_eq!(reply.attr("id"), Some("q"));
    assert_eq!(reply.attr("from"), Some("romeo@localhost/elsewhere"));
    assert_eq!(error_condition(&reply).as_deref(), Some("service-unavailable"));
}

#[tokio::test]
async fn unhandled_iq_to_the_server_is_service_unavailable() {
    let (_server, mut juliet, _romeo) = two_users().await;
    juliet.send("<iq to='localhost' type='get' id='u'><query xmlns='urn:example:unknown'/></iq>").await;
    let reply = juliet.stanza().await;
    assert_eq!(error_condition(&reply).as_deref(), Some("service-unavailable"));
    assert_eq!(reply.attr("from"), Some("localhost"));
    // Without `to`, the iq is for the account, handled by the server: same answer.
    juliet.send("<iq type='set' id='u2'><query xmlns='urn:example:unknown'/></iq>").await;
    assert_eq!(error_condition(&juliet.stanza().await).as_deref(), Some("service-unavailable"));
}

#[tokio::test]
async fn iq_with_no_or_two_payloads_is_bad_request() {
    let (_server, mut juliet, _romeo) = two_users().await;
    juliet.send("<iq to='localhost' type='get' id='b1'/>").await;
    assert_eq!(error_condition(&juliet.stanza().await).as_deref(), Some("bad-request"));
    juliet
        .send("<iq to='localhost' type='get' id='b2'><ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_eq!(error_condition(&juliet.stanza().await).as_deref(), Some("bad-request"));
    juliet.send("<iq to='localhost' type='bogus' id='b3'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(error_condition(&juliet.stanza().await).as_deref(), Some("bad-request"));
}

#[tokio::test]
async fn ping_the_server() {
    let (_server, mut juliet, _romeo) = two_users().await;
    juliet.send("<iq to='localhost' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let reply = juliet.stanza().await;
    assert_eq!(
        (reply.attr("type"), reply.attr("id"), reply.attr("from")),
        (Some("result"), Some("p1"), Some("localhost"))
    );
    assert_eq!(reply.attr("to"), Some("juliet@localhost/balcony"));
}

#[tokio::test]
async fn never_an_error_in_reply_to_an_error() {
    let (_server, mut juliet, _romeo) = two_users().await;
    juliet
        .send("<message to='romeo@localhost/nowhere' type='error' id='e1'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
        .await;
    juliet
        .send("<iq to='romeo@localhost/nowhere' type='error' id='e2'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
        .await;
    juliet.send("<message to='nobody.example' type='error' id='e3'/>").await;
    juliet.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn remote_domains_are_not_reachable_yet() {
    let (_server, mut juliet, _romeo) = two_users().await;
    juliet.send("<message to='someone@example.org' id='r1'><body>x</body></message>").await;
    assert_eq!(error_condition(&juliet.stanza().await).as_deref(), Some("remote-server-not-found"));
}

#[tokio::test]
async fn message_to_a_full_jid_of_no_account_is_service_unavailable() {
    let (_server, mut juliet, _romeo) = two_users().await;
    juliet.send("<message to='nobody@localhost/x' id='o1'><body>x</body></message>").await;
    assert_eq!(error_condition(&juliet.stanza().await).as_deref(), Some("service-unavailable"));
}

#[tokio::test]
async fn a_closed_session_is_unreachable_and_rebindable() {
    let (server, mut juliet, mut romeo) = two_users().await;
    assert_eq!(romeo.close().await, Ended::Closed);
    juliet.send("<iq to='romeo@localhost/garden' type='get' id='gone'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(error_condition(&juliet.stanza().await).as_deref(), Some("service-unavailable"));
    let mut romeo = server.login("romeo", "garden").await;
    juliet.send("<message to='romeo@localhost/garden'><body>back?</body></message>").await;
    assert_eq!(romeo.stanza().await.get_child("body", NS_CLIENT).unwrap().text(), "back?");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_without_stalling_others() {
    let server = TestServer::start_with(|c| {
        c.limits.session_queue = 8;
        // Without the archive: each archived message waits for a commit, so
        // Juliet's flood piles up unprocessed, and the bounces it earns can
        // fill her own 8-stanza queue while her session works through it,
        // which closes her instead of Romeo (see mam.rs for the archive).
        c.modules = Some(waxwing_modules::names().into_iter().filter(|m| *m != "mam").map(String::from).collect());
    })
    .await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    server.add_user("mercutio").await;
    let mut juliet = server.login("juliet", "balcony").await;
    let mut romeo = server.login("romeo", "garden").await; // never reads from now on
    let mut mercutio = server.login("mercutio", "street").await;
    let body = "z".repeat(8 * 1024);
    // Fill Romeo's TCP buffers, then his queue, reading Juliet's replies as we go
    // (she must keep reading too, or the same policy would close her).
    let mut errors = Vec::new();
    for batch in 0..500 {
        for i in 0..10 {
            juliet
                .send(&format!("<message to='romeo@localhost/garden' id='f{batch}-{i}'><body>{body}</body></message>"))
                .await;
        }
        errors.extend(juliet.drain(Duration::from_millis(5)).await.into_iter().filter_map(|e| error_condition(&e)));
        if !errors.is_empty() {
            break;
        }
    }
    assert!(errors.iter().all(|e| e == "resource-constraint" || e == "service-unavailable"), "{errors:?}");
    assert!(!errors.is_empty(), "Romeo was never found stuck");
    // Others are unaffected.
    mercutio.send("<message to='juliet@localhost/balcony'><body>still here</body></message>").await;
    let got = juliet.drain(Duration::from_millis(300)).await;
    assert!(got.iter().any(|m| m.attr("from") == Some("mercutio@localhost/street")), "{got:?}");
    // Romeo, once he reads, finds his stream closed with a policy violation.
    romeo.expect_stream_error("policy-violation").await;
}

#[tokio::test]
async fn stanzas_carry_the_language_of_the_stream_they_came_on() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    let mut romeo = server.login("romeo", "garden").await;
    // Juliet's stream declares French (RFC 6120 §4.7.4).
    let mut juliet = Client::connect(server.c2s_addr()).await;
    juliet.open_with("localhost", " xml:lang='fr'").await;
    juliet.starttls(server.certificate()).await;
    juliet.open_with("localhost", " xml:lang='fr'").await;
    juliet.scram("juliet", PASSWORD, waxwing_sasl::HashAlg::Sha256, None).await.unwrap();
    juliet.open_with("localhost", " xml:lang='fr'").await;
    juliet.bind(Some("balcony")).await;
    juliet.send("<message to='romeo@localhost/garden'><body>Bonsoir</body></message>").await;
    juliet.send("<message to='romeo@localhost/garden' xml:lang='it'><body>Buona notte</body></message>").await;
    assert_eq!(romeo.stanza().await.attr("xml:lang"), Some("fr"));
    assert_eq!(romeo.stanza().await.attr("xml:lang"), Some("it"));
    // A stream that declared nothing adds nothing.
    let mut plain = server.login("juliet", "chamber").await;
    plain.send("<message to='romeo@localhost/garden'><body>hi</body></message>").await;
    assert_eq!(romeo.stanza().await.attr("xml:lang"), None);
}
