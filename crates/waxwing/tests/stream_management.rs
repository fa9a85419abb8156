//! XEP-0198 stream management over real sockets: enabling, acks both ways,
//! resumption (and its failures), hibernation, and what happens to
//! unacknowledged stanzas when a session cannot be resumed.

mod im;
mod support;

use std::time::Duration;

use im::{presences, relate, sync};
use support::*;
use waxwing_sasl::HashAlg;
use waxwing_xml::{Element, StreamEvent};

const NS_SM: &str = "urn:xmpp:sm:3";

/// A client past SASL and the stream restart, not bound yet.
async fn authenticated(server: &TestServer, user: &str) -> Client {
    let mut c = Client::connect(server.c2s_addr()).await;
    c.open("localhost").await;
    c.starttls(server.certificate()).await;
    c.open("localhost").await;
    c.scram(user, PASSWORD, HashAlg::Sha256, None).await.expect("SCRAM succeeds");
    c.open("localhost").await;
    c
}

async fn enable(c: &mut Client, resume: bool) -> Element {
    c.send(&format!("<enable xmlns='{NS_SM}'{}/>", if resume { " resume='true'" } else { "" })).await;
    let enabled = c.stanza().await;
    assert!(enabled.is("enabled", NS_SM), "expected <enabled/>, got {enabled}");
    enabled
}

/// Logs in, sends initial presence, enables stream management (resumable if
/// asked); returns the client and the resumption id.
async fn sm_login(server: &TestServer, user: &str, resource: &str, resume: bool) -> (Client, Option<String>) {
    let mut c = server.login_available(user, resource).await;
    let enabled = enable(&mut c, resume).await;
    (c, enabled.attr("id").map(String::from))
}

fn is_sm(el: &Element, name: &str) -> bool {
    el.is(name, NS_SM)
}

/// What arrives until the server is quiet, without its `<r/>` requests.
async fn stanzas(c: &mut Client) -> Vec<Element> {
    c.drain(Duration::from_millis(400)).await.into_iter().filter(|el| !is_sm(el, "r")).collect()
}

/// Like [`stanzas`], counting the stanzas into `h` as an XEP-0198 client
/// does (§4: every message, presence and iq; not the `<r/>`s).
async fn counted(c: &mut Client, h: &mut u32) -> Vec<Element> {
    let got = stanzas(c).await;
    *h += got.iter().filter(|el| el.ns == NS_CLIENT).count() as u32;
    got
}

fn bodies(stanzas: &[Element]) -> Vec<String> {
    stanzas
        .iter()
        .filter(|s| s.name == "message")
        .filter_map(|s| s.get_child("body", NS_CLIENT).map(|b| b.text()))
        .collect()
}

/// Asks the server for its count of our stanzas (`<r/>` → `<a h/>`).
async fn server_h(c: &mut Client) -> u32 {
    c.send(&format!("<r xmlns='{NS_SM}'/>")).await;
    loop {
        let el = c.stanza().await;
        if is_sm(&el, "a") {
            return el.attr("h").unwrap().parse().unwrap();
        }
    }
}

async fn chat(from: &mut Client, to: &str, body: &str) {
    from.send(&format!("<message to='{to}' type='chat' id='{body}'><body>{body}</body></message>")).await;
}

async fn server() -> TestServer {
    let server = TestServer::start().await;
    for user in ["romeo", "juliet"] {
        server.add_user(user).await;
    }
    server
}

#[tokio::test]
async fn enable_counts_and_acknowledges_both_ways() {
    let server = server().await;
    let mut romeo = authenticated(&server, "romeo").await;
    let sm = romeo.features.as_ref().unwrap().get_child("sm", NS_SM);
    assert!(sm.is_some(), "<sm/> offered after authentication");
    // XEP-0198 §3: only after binding.
    romeo.send(&format!("<enable xmlns='{NS_SM}'/>")).await;
    let failed = romeo.stanza().await;
    assert!(is_sm(&failed, "failed") && failed.get_child("unexpected-request", NS_STANZA_ERRORS).is_some(), "{failed}");
    romeo.bind(Some("phone")).await;
    let enabled = enable(&mut romeo, false).await;
    assert_eq!(enabled.attr("resume"), None, "not resumable unless asked");
    assert_eq!(enabled.attr("id"), None);
    // Enabling twice, or resuming once bound (§3, §5).
    for misplaced in [format!("<enable xmlns='{NS_SM}'/>"), format!("<resume xmlns='{NS_SM}' previd='x' h='0'/>")] {
        romeo.send(&misplaced).await;
        let failed = romeo.stanza().await;
        assert!(is_sm(&failed, "failed"), "{failed}");
        assert!(failed.get_child("unexpected-request", NS_STANZA_ERRORS).is_some(), "{failed}");
    }
    assert_eq!(server_h(&mut romeo).await, 0);
    romeo.send("<presence/>").await;
    for body in ["a", "b", "c"] {
        chat(&mut romeo, "juliet@localhost", body).await;
    }
    // The server counts what it sends, and asks for an ack with it: here
    // Romeo's own presence, reflected (RFC 6121 §4.2.2).
    let received = romeo.drain(Duration::from_millis(400)).await;
    assert_eq!(received.iter().map(|el| el.name.as_str()).collect::<Vec<_>>(), ["presence", "r"]);
    assert_eq!(server_h(&mut romeo).await, 4, "presence and three messages handled");
    romeo.send(&format!("<a xmlns='{NS_SM}' h='1'/>")).await;

    // Acked: the next stanzas come with a new request.
    let mut juliet = server.login("juliet", "balcony").await;
    for body in ["one", "two", "three"] {
        chat(&mut juliet, "romeo@localhost/phone", body).await;
    }
    sync(&mut juliet).await;
    let received = romeo.drain(Duration::from_millis(400)).await;
    assert_eq!(received.iter().filter(|el| is_sm(el, "r")).count(), 1, "{received:?}");
    assert_eq!(bodies(&received), ["one", "two", "three"]);
    // Acking more than was sent is a stream error that says by how much.
    romeo.send(&format!("<a xmlns='{NS_SM}' h='5'/>")).await;
    let error = loop {
        match romeo.next().await {
            Some(StreamEvent::Stanza(el)) if el.is("error", NS_STREAMS) => break el,
            Some(_) => {}
            None => panic!("stream ended without an error"),
        }
    };
    assert!(error.get_child("undefined-condition", NS_STREAM_ERRORS).is_some(), "{error}");
    let too_high = error.get_child("handled-count-too-high", NS_SM).expect("handled-count-too-high");
    assert_eq!((too_high.attr("h"), too_high.attr("send-count")), (Some("5"), Some("4")));
}

#[tokio::test]
async fn a_dropped_session_is_resumed_with_what_was_not_acknowledged() {
    let server = server().await;
    relate(&server, "juliet", "romeo", "Both").await;
    let (mut romeo, id) = sm_login(&server, "romeo", "phone", true).await;
    let id = id.expect("resumable");
    let mut h = 0;
    let mut juliet = server.login_available("juliet", "balcony").await;
    juliet.drain(Duration::from_millis(300)).await;
    chat(&mut romeo, "juliet@localhost", "hello").await;
    chat(&mut juliet, "romeo@localhost/phone", "one").await;
    chat(&mut juliet, "romeo@localhost/phone", "two").await;
    sync(&mut juliet).await;
    let got = counted(&mut romeo, &mut h).await;
    assert_eq!(bodies(&got), ["one", "two"]);
    assert_eq!(got.last().unwrap().attr("id"), Some("two"));
    // Romeo acknowledges all but the last, then loses his connection.
    h -= 1;
    romeo.send(&format!("<a xmlns='{NS_SM}' h='{h}'/>")).await;
    assert_eq!(server_h(&mut romeo).await, 1);
    drop(romeo);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Hibernating: still available to his contacts, and still receiving.
    chat(&mut juliet, "romeo@localhost/phone", "three").await;
    chat(&mut juliet, "romeo@localhost", "four").await;
    let seen = sync(&mut juliet).await;
    assert!(presences(&seen).is_empty(), "no unavailable presence while hibernating: {seen:?}");

    let mut romeo = authenticated(&server, "romeo").await;
    romeo.send(&format!("<resume xmlns='{NS_SM}' previd='{id}' h='{h}'/>")).await;
    let resumed = romeo.stanza().await;
    assert!(is_sm(&resumed, "resumed"), "{resumed}");
    assert_eq!(resumed.attr("previd"), Some(id.as_str()));
    assert_eq!(resumed.attr("h"), Some("1"), "the server handled Romeo's one message");
    assert_eq!(bodies(&stanzas(&mut romeo).await), ["two", "three", "four"]);
    // Same session, same full JID: it keeps working.
    chat(&mut juliet, "romeo@localhost/phone", "five").await;
    sync(&mut juliet).await;
    assert_eq!(bodies(&stanzas(&mut romeo).await), ["five"]);
    assert!(presences(&juliet.drain(Duration::from_millis(200)).await).is_empty());
}

#[tokio::test]
async fn resuming_a_live_connection_replaces_it() {
    let server = server().await;
    let (mut old, id) = sm_login(&server, "romeo", "phone", true).await;
    let id = id.unwrap();
    let mut juliet = server.login("juliet", "balcony").await;
    chat(&mut juliet, "romeo@localhost/phone", "one").await;
    sync(&mut juliet).await;
    assert_eq!(bodies(&stanzas(&mut old).await), ["one"]);
    let mut new = authenticated(&server, "romeo").await;
    new.send(&format!("<resume xmlns='{NS_SM}' previd='{id}' h='0'/>")).await;
    assert!(is_sm(&new.stanza().await, "resumed"));
    assert_eq!(bodies(&stanzas(&mut new).await), ["one"], "unacknowledged on the old connection");
    old.expect_stream_error("conflict").await;
}

#[tokio::test]
async fn resumption_fails_for_unknown_ids_and_other_accounts() {
    let server = server().await;
    let (romeo, id) = sm_login(&server, "romeo", "phone", true).await;
    let id = id.unwrap();
    drop(romeo);
    for (user, previd) in [("juliet", id.as_str()), ("romeo", "no-such-session")] {
        let mut c = authenticated(&server, user).await;
        c.send(&format!("<resume xmlns='{NS_SM}' previd='{previd}' h='0'/>")).await;
        let failed = c.stanza().await;
        assert!(is_sm(&failed, "failed"), "{failed}");
        assert!(failed.get_child("item-not-found", NS_STANZA_ERRORS).is_some(), "{failed}");
        // The stream stays usable: the client binds instead.
        c.bind(Some("other")).await;
        sync(&mut c).await;
    }
    // Juliet's attempt did not consume Romeo's session.
    let mut romeo = authenticated(&server, "romeo").await;
    romeo.send(&format!("<resume xmlns='{NS_SM}' previd='{id}' h='0'/>")).await;
    assert!(is_sm(&romeo.stanza().await, "resumed"));
}

#[tokio::test]
async fn an_expired_session_hands_its_messages_to_the_account() {
    let server = TestServer::start_with(|config| config.stream_management.resume_timeout_secs = 1).await;
    for user in ["romeo", "juliet"] {
        server.add_user(user).await;
    }
    relate(&server, "juliet", "romeo", "Both").await;
    let (mut phone, id) = sm_login(&server, "romeo", "phone", true).await;
    let mut juliet = server.login_available("juliet", "balcony").await;
    chat(&mut phone, "juliet@localhost", "hi").await;
    chat(&mut juliet, "romeo@localhost/phone", "one").await;
    sync(&mut juliet).await;
    assert_eq!(bodies(&stanzas(&mut phone).await), ["one"]);
    drop(phone);
    tokio::time::sleep(Duration::from_millis(200)).await;
    chat(&mut juliet, "romeo@localhost/phone", "two").await;
    sync(&mut juliet).await;
    // After the timeout the session closes as any other would.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = juliet.drain(Duration::from_millis(300)).await;
    assert_eq!(presences(&seen), [("unavailable".into(), "romeo@localhost/phone".into(), "juliet@localhost".into())]);
    let mut c = authenticated(&server, "romeo").await;
    c.send(&format!("<resume xmlns='{NS_SM}' previd='{}' h='1'/>", id.unwrap())).await;
    let failed = c.stanza().await;
    assert!(failed.get_child("item-not-found", NS_STANZA_ERRORS).is_some(), "{failed}");
    assert_eq!(failed.attr("h"), Some("1"), "§5: the server still knows Romeo's 'hi' was handled");
    // Neither message was acknowledged: both wait in offline storage.
    c.bind(Some("laptop")).await;
    c.send("<presence/>").await;
    assert_eq!(bodies(&stanzas(&mut c).await), ["one", "two"]);
}

#[tokio::test]
async fn unacknowledged_messages_go_to_another_resource_when_the_session_ends() {
    let server = server().await;
    let (mut phone, _) = sm_login(&server, "romeo", "phone", false).await;
    let mut laptop = server.login_available("romeo", "laptop").await;
    let mut h = 0;
    counted(&mut phone, &mut h).await;
    let mut juliet = server.login("juliet", "balcony").await;
    chat(&mut juliet, "romeo@localhost/phone", "one").await;
    chat(&mut juliet, "romeo@localhost/phone", "two").await;
    sync(&mut juliet).await;
    let got = counted(&mut phone, &mut h).await;
    assert_eq!(bodies(&got), ["one", "two"]);
    phone.send(&format!("<a xmlns='{NS_SM}' h='{}'/>", h - 1)).await;
    sync(&mut phone).await;
    // Not resumable: the session ends with the connection, and the
    // unacknowledged message follows RFC 6121 §8.5.3.2.1 to the other resource.
    drop(phone);
    let got = stanzas(&mut laptop).await;
    assert_eq!(bodies(&got), ["two"], "{got:?}");
}

#[tokio::test]
async fn a_client_that_never_acks_is_closed_without_losing_anything() {
    let server = TestServer::start_with(|config| config.stream_management.max_unacked = 3).await;
    for user in ["romeo", "juliet"] {
        server.add_user(user).await;
    }
    let (mut phone, _) = sm_login(&server, "romeo", "phone", true).await;
    let mut juliet = server.login("juliet", "balcony").await;
    let sent: Vec<String> = (1..=5).map(|n| format!("m{n}")).collect();
    for body in &sent {
        chat(&mut juliet, "romeo@localhost/phone", body).await;
    }
    sync(&mut juliet).await;
    // A policy close is not a dropped connection: no hibernation.
    phone.expect_stream_error("policy-violation").await;
    let mut c = server.login("romeo", "laptop").await;
    c.send("<presence/>").await;
    let mut got = bodies(&stanzas(&mut c).await);
    got.sort();
    assert_eq!(got, sent, "every message once, from offline storage");
}

#[tokio::test]
async fn unacknowledged_iq_requests_are_answered_with_an_error() {
    let server = server().await;
    let (mut phone, _) = sm_login(&server, "romeo", "phone", false).await;
    let mut juliet = server.login("juliet", "balcony").await;
    juliet.send("<iq type='get' id='v1' to='romeo@localhost/phone'><query xmlns='jabber:iq:version'/></iq>").await;
    let got = stanzas(&mut phone).await;
    assert!(got.iter().any(|s| s.attr("id") == Some("v1")), "{got:?}");
    drop(phone);
    let reply = juliet.stanza().await;
    assert_eq!((reply.attr("id"), reply.attr("type")), (Some("v1"), Some("error")), "{reply}");
    assert_eq!(error_condition(&reply).as_deref(), Some("service-unavailable"));
}

#[tokio::test]
async fn shutdown_stores_what_hibernating_sessions_hold() {
    let mut server = server().await;
    let (mut phone, _) = sm_login(&server, "romeo", "phone", true).await;
    let mut juliet = server.login("juliet", "balcony").await;
    chat(&mut juliet, "romeo@localhost/phone", "one").await;
    sync(&mut juliet).await;
    assert_eq!(bodies(&stanzas(&mut phone).await), ["one"]);
    drop(phone);
    tokio::time::sleep(Duration::from_millis(200)).await;
    chat(&mut juliet, "romeo@localhost", "two").await;
    sync(&mut juliet).await;
    drop(juliet);
    server.restart().await;
    let mut c = server.login("romeo", "laptop").await;
    c.send("<presence/>").await;
    assert_eq!(bodies(&stanzas(&mut c).await), ["one", "two"]);
}

#[tokio::test]
async fn a_message_for_a_hibernating_session_wakes_the_phone() {
    let server = server().await;
    server.add_user("appserver").await;
    let mut app = server.login("appserver", "push").await;
    let (mut phone, id) = sm_login(&server, "juliet", "phone", true).await;
    phone
        .send(
            "<iq type='set' id='push'><enable xmlns='urn:xmpp:push:0' jid='appserver@localhost/push' node='n1'/></iq>",
        )
        .await;
    let mut h = 0;
    assert_eq!(
        counted(&mut phone, &mut h).await.iter().find(|s| s.attr("id") == Some("push")).unwrap().attr("type"),
        Some("result")
    );
    let mut romeo = server.login("romeo", "garden").await;
    chat(&mut romeo, "juliet@localhost", "awake").await;
    sync(&mut romeo).await;
    app.expect_silence(Duration::from_millis(300)).await;
    counted(&mut phone, &mut h).await;
    phone.send(&format!("<a xmlns='{NS_SM}' h='{h}'/>")).await;
    sync(&mut phone).await;
    drop(phone);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Queued to the hibernating session, and nobody reads it: push (XEP-0357 §7).
    chat(&mut romeo, "juliet@localhost", "asleep").await;
    let notification = app.stanza().await;
    assert_eq!((notification.name.as_str(), notification.attr("from")), ("iq", Some("juliet@localhost")));
    let publish =
        notification.get_child("pubsub", "http://jabber.org/protocol/pubsub").and_then(|p| p.elements().next());
    assert_eq!(publish.and_then(|p| p.attr("node")), Some("n1"), "{notification}");
    // The phone wakes, resumes, and reads it.
    let mut phone = authenticated(&server, "juliet").await;
    phone.send(&format!("<resume xmlns='{NS_SM}' previd='{}' h='{h}'/>", id.unwrap())).await;
    assert!(is_sm(&phone.stanza().await, "resumed"));
    assert_eq!(bodies(&stanzas(&mut phone).await), ["asleep"]);
}

#[tokio::test]
async fn without_a_resume_timeout_resumption_is_not_offered() {
    let server = TestServer::start_with(|config| config.stream_management.resume_timeout_secs = 0).await;
    server.add_user("romeo").await;
    let mut romeo = server.login("romeo", "phone").await;
    let enabled = enable(&mut romeo, true).await;
    assert_eq!((enabled.attr("resume"), enabled.attr("id")), (None, None), "{enabled}");
    // Acks still work.
    romeo.send("<presence/>").await;
    assert_eq!(server_h(&mut romeo).await, 1);
}

#[tokio::test]
async fn carbon_copies_are_not_handed_to_the_other_resources() {
    let server = server().await;
    let (mut phone, _) = sm_login(&server, "romeo", "phone", false).await;
    phone.send("<iq type='set' id='c'><enable xmlns='urn:xmpp:carbons:2'/></iq>").await;
    let mut laptop = server.login_available("romeo", "laptop").await;
    let mut juliet = server.login("juliet", "balcony").await;
    chat(&mut juliet, "romeo@localhost/laptop", "hi").await;
    sync(&mut juliet).await;
    assert_eq!(bodies(&stanzas(&mut laptop).await), ["hi"]);
    let got = stanzas(&mut phone).await;
    assert!(got.iter().any(|s| s.get_child("received", "urn:xmpp:carbons:2").is_some()), "a carbon: {got:?}");
    // The phone never acknowledges the carbon; the laptop has the original.
    drop(phone);
    let got = stanzas(&mut laptop).await;
    assert!(got.iter().all(|s| s.name == "presence"), "only the phone's unavailable presence: {got:?}");
}
