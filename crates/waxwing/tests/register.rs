//! XEP-0077 In-Band Registration over real sockets: creating an account
//! before authentication (only when allowed, only over TLS, rate-limited per
//! address), and password changes and account removal once logged in.

mod support;

use std::time::Duration;

use support::*;
use waxwing_sasl::HashAlg;
use waxwing_xml::Element;

const NS_REGISTER: &str = "jabber:iq:register";
const NS_REGISTER_FEATURE: &str = "http://jabber.org/features/iq-register";

async fn open_server(max_per_ip_per_hour: u32) -> TestServer {
    TestServer::start_with(|config| {
        config.registration.allow = true;
        config.registration.max_per_ip_per_hour = max_per_ip_per_hour;
    })
    .await
}

/// A client at the SASL step: connected, TLS up, post-TLS features read.
async fn unauthenticated(server: &TestServer) -> Client {
    let mut client = Client::connect(server.c2s_addr()).await;
    let features = client.open("localhost").await;
    // Never offered on the plaintext stream, where the password would travel in clear.
    assert!(features.get_child("register", NS_REGISTER_FEATURE).is_none(), "{features}");
    client.starttls(server.certificate()).await;
    client.open("localhost").await;
    client
}

fn offers_registration(client: &Client) -> bool {
    client.features.as_ref().is_some_and(|f| f.get_child("register", NS_REGISTER_FEATURE).is_some())
}

async fn register(client: &mut Client, id: &str, username: &str, password: &str) -> Element {
    client
        .send(&format!(
            "<iq type='set' id='{id}'><query xmlns='{NS_REGISTER}'><username>{username}</username><password>{password}</password></query></iq>"
        ))
        .await;
    let reply = client.stanza().await;
    assert_eq!(reply.attr("id"), Some(id), "{reply}");
    reply
}

#[tokio::test]
async fn registration_is_off_unless_allowed() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    let mut client = unauthenticated(&server).await;
    assert!(!offers_registration(&client));
    // XEP-0077 §3.1: a host without in-band registration says service-unavailable.
    client.send(&format!("<iq type='get' id='r1'><query xmlns='{NS_REGISTER}'/></iq>")).await;
    assert_eq!(error_condition(&client.stanza().await).as_deref(), Some("service-unavailable"));
    let reply = register(&mut client, "r2", "mallory", "secret").await;
    assert_eq!(error_condition(&reply).as_deref(), Some("service-unavailable"));
    assert!(!server.running().server.account_exists(&waxwing_jid::Jid::parse("mallory@localhost").unwrap()).await);
    // The stream goes on to authenticate as usual.
    client.scram("juliet", PASSWORD, HashAlg::Sha256, None).await.expect("login after the refusal");
}

#[tokio::test]
async fn without_the_module_an_iq_before_authentication_ends_the_stream() {
    let server = TestServer::start_with(|config| {
        config.registration.allow = true;
        let modules = waxwing_modules::names().into_iter().filter(|m| *m != "register");
        config.modules = Some(modules.map(String::from).collect());
    })
    .await;
    let mut client = unauthenticated(&server).await;
    assert!(!offers_registration(&client));
    // RFC 6120 §4.9.3.12: a stanza before authentication.
    client.send(&format!("<iq type='get' id='r1'><query xmlns='{NS_REGISTER}'/></iq>")).await;
    client.expect_stream_error("not-authorized").await;
}

#[tokio::test]
async fn a_new_account_is_registered_then_used() {
    let server = open_server(5).await;
    let mut client = unauthenticated(&server).await;
    assert!(offers_registration(&client));

    client.send(&format!("<iq type='get' id='r1'><query xmlns='{NS_REGISTER}'/></iq>")).await;
    let form = client.stanza().await;
    assert_eq!(form.attr("type"), Some("result"), "{form}");
    let query = form.get_child("query", NS_REGISTER).unwrap();
    for field in ["instructions", "username", "password"] {
        assert!(query.get_child(field, NS_REGISTER).is_some(), "missing {field}: {form}");
    }
    assert!(query.get_child("registered", NS_REGISTER).is_none());

    // The username is prepared (nodeprep) like any JID's localpart.
    let reply = register(&mut client, "r2", "Hamlet", "to be or not").await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    // The same stream goes on to authenticate as the new account.
    client.scram("hamlet", "to be or not", HashAlg::Sha512, None).await.expect("the new account logs in");
    client.open("localhost").await;
    assert_eq!(client.bind(Some("elsinore")).await, "hamlet@localhost/elsinore");

    // And it logs in on a fresh connection with every hash.
    for hash in [HashAlg::Sha1, HashAlg::Sha256] {
        let mut again = unauthenticated(&server).await;
        again.scram("hamlet", "to be or not", hash, None).await.expect("login");
    }
}

#[tokio::test]
async fn bad_registrations_are_refused() {
    let server = open_server(5).await;
    server.add_user("juliet").await;
    let mut client = unauthenticated(&server).await;
    // XEP-0077 §3.1: a taken username is a conflict, whatever its case.
    let reply = register(&mut client, "c1", "JULIET", "secret").await;
    assert_eq!(error_condition(&reply).as_deref(), Some("conflict"));
    // Missing or empty information is not-acceptable.
    let reply = register(&mut client, "c2", "horatio", "").await;
    assert_eq!(error_condition(&reply).as_deref(), Some("not-acceptable"));
    client
        .send(&format!("<iq type='set' id='c3'><query xmlns='{NS_REGISTER}'><username>horatio</username></query></iq>"))
        .await;
    assert_eq!(error_condition(&client.stanza().await).as_deref(), Some("not-acceptable"));
    // A username that is not a valid localpart.
    for username in ["a@b", "x:y&lt;z", " "] {
        let reply = register(&mut client, "c4", username, "secret").await;
        assert_eq!(error_condition(&reply).as_deref(), Some("not-acceptable"), "{username}");
    }
    // There is nothing to remove before authentication.
    client.send(&format!("<iq type='set' id='c5'><query xmlns='{NS_REGISTER}'><remove/></query></iq>")).await;
    assert_eq!(error_condition(&client.stanza().await).as_deref(), Some("unexpected-request"));
    // None of that created an account.
    assert!(!server.running().server.account_exists(&waxwing_jid::Jid::parse("horatio@localhost").unwrap()).await);
    // Other stanzas are still not allowed before authentication.
    client.send("<message to='juliet@localhost'><body>hi</body></message>").await;
    client.expect_stream_error("not-authorized").await;
}

#[tokio::test]
async fn registrations_are_limited_per_address() {
    let server = open_server(2).await;
    let mut client = unauthenticated(&server).await;
    for (id, user) in [("l1", "one"), ("l2", "two")] {
        assert_eq!(register(&mut client, id, user, "pw").await.attr("type"), Some("result"));
    }
    // A new connection from the same address counts too.
    let mut client = unauthenticated(&server).await;
    let reply = register(&mut client, "l3", "three", "pw").await;
    assert_eq!(error_condition(&reply).as_deref(), Some("policy-violation"));
    let error = reply.get_child("error", NS_CLIENT).unwrap();
    assert_eq!(error.attr("type"), Some("wait"));
    // Failed attempts do not count: a conflict is not a registration.
    let server = open_server(1).await;
    server.add_user("taken").await;
    let mut client = unauthenticated(&server).await;
    assert_eq!(error_condition(&register(&mut client, "l4", "taken", "pw").await).as_deref(), Some("conflict"));
    assert_eq!(register(&mut client, "l5", "free", "pw").await.attr("type"), Some("result"));
}

#[tokio::test]
async fn a_connection_may_not_chat_before_authenticating() {
    let server = open_server(100).await;
    let mut client = unauthenticated(&server).await;
    let mut ended = false;
    for i in 0..12 {
        client.send(&format!("<iq type='get' id='g{i}'><query xmlns='{NS_REGISTER}'/></iq>")).await;
        match client.next().await {
            Some(waxwing_xml::StreamEvent::Stanza(el)) if el.name == "iq" => {}
            Some(waxwing_xml::StreamEvent::Stanza(el)) if el.name == "error" => {
                assert!(i >= 10, "cut off after {i} requests");
                assert!(el.get_child("policy-violation", NS_STREAM_ERRORS).is_some(), "{el}");
                ended = true;
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(ended, "the stream should end after too many requests");
}

#[tokio::test]
async fn a_logged_in_user_is_registered_and_changes_the_password() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    let mut juliet = server.login("juliet", "balcony").await;

    juliet.send(&format!("<iq type='get' id='g'><query xmlns='{NS_REGISTER}'/></iq>")).await;
    let reply = juliet.stanza().await;
    let query = reply.get_child("query", NS_REGISTER).expect("a query");
    assert!(query.get_child("registered", NS_REGISTER).is_some(), "{reply}");
    assert_eq!(query.get_child("username", NS_REGISTER).unwrap().text(), "juliet");

    // Not someone else's password, and never an empty one (§3.3).
    let change = |id: &str, user: &str, password: &str| {
        format!(
            "<iq type='set' id='{id}' to='localhost'><query xmlns='{NS_REGISTER}'><username>{user}</username><password>{password}</password></query></iq>"
        )
    };
    juliet.send(&change("p1", "romeo", "x")).await;
    assert_eq!(error_condition(&juliet.stanza().await).as_deref(), Some("bad-request"));
    juliet.send(&change("p2", "juliet", "")).await;
    assert_eq!(error_condition(&juliet.stanza().await).as_deref(), Some("not-acceptable"));

    juliet.send(&change("p3", "Juliet", "wherefore")).await;
    let reply = juliet.stanza().await;
    assert_eq!((reply.attr("type"), reply.attr("id")), (Some("result"), Some("p3")), "{reply}");

    for hash in [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha512] {
        let mut old = unauthenticated(&server).await;
        assert_eq!(old.scram("juliet", PASSWORD, hash, None).await, Err("not-authorized".to_string()));
        let mut new = unauthenticated(&server).await;
        new.scram("juliet", "wherefore", hash, None).await.expect("the new password works");
    }
    // The session that changed it goes on.
    juliet.send("<iq type='get' id='ping'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(juliet.stanza().await.attr("type"), Some("result"));
}

#[tokio::test]
async fn a_user_removes_the_account() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    let mut balcony = server.login("juliet", "balcony").await;
    let mut chamber = server.login("juliet", "chamber").await;
    let mut romeo = server.login("romeo", "garden").await;

    // §3.2: <remove/> must be alone.
    balcony
        .send(&format!(
            "<iq type='set' id='x'><query xmlns='{NS_REGISTER}'><remove/><username>juliet</username></query></iq>"
        ))
        .await;
    assert_eq!(error_condition(&balcony.stanza().await).as_deref(), Some("bad-request"));
    // Nobody removes someone else's account.
    romeo
        .send(&format!(
            "<iq type='set' id='y' to='juliet@localhost'><query xmlns='{NS_REGISTER}'><remove/></query></iq>"
        ))
        .await;
    assert_eq!(error_condition(&romeo.stanza().await).as_deref(), Some("service-unavailable"));

    balcony.send(&format!("<iq type='set' id='bye'><query xmlns='{NS_REGISTER}'><remove/></query></iq>")).await;
    // The result first, then the stream error, on the requesting session…
    let reply = balcony.stanza().await;
    assert_eq!((reply.attr("type"), reply.attr("id")), (Some("result"), Some("bye")), "{reply}");
    balcony.expect_stream_error("not-authorized").await;
    // …and every other session of the account ends too.
    chamber.expect_stream_error("not-authorized").await;

    let mut again = unauthenticated(&server).await;
    assert_eq!(again.scram("juliet", PASSWORD, HashAlg::Sha256, None).await, Err("not-authorized".to_string()));
    romeo.send("<message to='juliet@localhost' type='chat'><body>Juliet?</body></message>").await;
    assert_eq!(error_condition(&romeo.stanza().await).as_deref(), Some("service-unavailable"));
    romeo.expect_silence(Duration::from_millis(200)).await;
}
