//! RFC 6121 §8.5 message delivery and XEP-0160 offline storage, over sockets.

mod support;

use std::time::Duration;

use support::*;

const QUIET: Duration = Duration::from_millis(400);

fn bodies(stanzas: &[waxwing_xml::Element]) -> Vec<String> {
    stanzas
        .iter()
        .filter(|s| s.name == "message")
        .filter_map(|m| m.get_child("body", NS_CLIENT).map(|b| b.text()))
        .collect()
}

async fn server_with(users: &[&str]) -> TestServer {
    let server = TestServer::start().await;
    for user in users {
        server.add_user(user).await;
    }
    server
}

#[tokio::test]
async fn bare_jid_messages_reach_every_available_resource_with_non_negative_priority() {
    let server = server_with(&["juliet", "romeo"]).await;
    let mut phone = server.login_available("juliet", "phone").await;
    let mut laptop = server.login("juliet", "laptop").await;
    laptop.send("<presence><priority>5</priority></presence>").await;
    laptop.drain(QUIET).await;
    let mut hidden = server.login("juliet", "hidden").await;
    hidden.send("<presence><priority>-1</priority></presence>").await;
    hidden.drain(QUIET).await;
    // Bound but never available: not a delivery target (§8.5.2.1.1).
    let mut silent = server.login("juliet", "silent").await;

    let mut romeo = server.login_available("romeo", "garden").await;
    // The resources see each other's presence (RFC 6121 §4.2.2); not what this test is about.
    for client in [&mut phone, &mut laptop, &mut hidden] {
        client.drain(Duration::from_millis(100)).await;
    }
    romeo.send("<message to='juliet@localhost' type='chat' id='c1'><body>hello</body></message>").await;
    for client in [&mut phone, &mut laptop] {
        let m = client.stanza().await;
        assert_eq!((m.attr("from"), m.attr("to")), (Some("romeo@localhost/garden"), Some("juliet@localhost")));
        assert_eq!(bodies(&[m]), ["hello"]);
    }
    hidden.expect_silence(QUIET).await;
    silent.expect_silence(Duration::from_millis(50)).await;
    romeo.expect_silence(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn offline_messages_are_kept_in_order_with_a_delay_stamp() {
    let server = server_with(&["juliet", "romeo"]).await;
    let mut romeo = server.login_available("romeo", "garden").await;
    for i in 1..=3 {
        romeo.send(&format!("<message to='juliet@localhost' type='chat'><body>m{i}</body></message>")).await;
    }
    // Also to a full JID that is not online: treated as the bare JID (§8.5.3.2.1).
    romeo.send("<message to='juliet@localhost/gone'><body>m4</body></message>").await;
    // Only chat states: not kept, and no error either.
    romeo
        .send("<message to='juliet@localhost' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
        .await;
    // A headline nobody can read now is dropped (§8.5.2.2.1).
    romeo.send("<message to='juliet@localhost' type='headline'><body>news</body></message>").await;
    romeo.expect_silence(QUIET).await;

    // Bound but not yet available: nothing yet.
    let mut juliet = server.login("juliet", "balcony").await;
    juliet.expect_silence(QUIET).await;
    juliet.send("<presence/>").await;
    let got = juliet.drain(QUIET).await;
    assert_eq!(bodies(&got), ["m1", "m2", "m3", "m4"]);
    let first = got.iter().find(|s| s.name == "message").unwrap();
    assert_eq!(first.attr("from"), Some("romeo@localhost/garden"));
    let delay = first.get_child("delay", "urn:xmpp:delay").expect("XEP-0203 delay");
    assert_eq!(delay.attr("from"), Some("localhost"));
    assert!(delay.attr("stamp").is_some_and(|s| s.ends_with('Z') && s.len() >= 20), "{delay:?}");

    // Delivered once only.
    let mut other = server.login_available("juliet", "other").await;
    other.expect_silence(QUIET).await;
}

#[tokio::test]
async fn offline_messages_survive_a_restart() {
    let mut server = server_with(&["juliet", "romeo"]).await;
    let mut romeo = server.login_available("romeo", "garden").await;
    romeo.send("<message to='juliet@localhost'><body>kept</body></message>").await;
    romeo.expect_silence(QUIET).await;
    drop(romeo);
    server.restart().await;
    let mut juliet = server.login("juliet", "balcony").await;
    juliet.send("<presence/>").await;
    assert_eq!(bodies(&juliet.drain(QUIET).await), ["kept"]);
}

#[tokio::test]
async fn a_full_offline_store_is_an_error_to_the_sender() {
    let server = TestServer::start_with(|c| c.offline.max_messages = 2).await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    let mut romeo = server.login_available("romeo", "garden").await;
    for i in 1..=3 {
        romeo.send(&format!("<message to='juliet@localhost' id='o{i}'><body>{i}</body></message>")).await;
    }
    let error = romeo.stanza().await;
    assert_eq!((error.attr("type"), error.attr("id")), (Some("error"), Some("o3")));
    assert_eq!(error_condition(&error).as_deref(), Some("service-unavailable"));
    let mut juliet = server.login("juliet", "balcony").await;
    juliet.send("<presence/>").await;
    assert_eq!(bodies(&juliet.drain(QUIET).await), ["1", "2"]);
}

#[tokio::test]
async fn messages_to_nobody_or_of_the_wrong_type_get_errors() {
    let server = server_with(&["juliet", "romeo"]).await;
    let mut romeo = server.login_available("romeo", "garden").await;
    let _juliet = server.login_available("juliet", "balcony").await;
    for (to, kind, id) in [
        // §8.5.1: no such account.
        ("nobody@localhost", "chat", "n1"),
        ("nobody@localhost/x", "normal", "n2"),
        // §8.5.2.1.1: groupchat to a bare JID.
        ("juliet@localhost", "groupchat", "g1"),
        // §8.5.3.2.1: groupchat to an unavailable full JID.
        ("juliet@localhost/gone", "groupchat", "g2"),
    ] {
        romeo.send(&format!("<message to='{to}' type='{kind}' id='{id}'><body>x</body></message>")).await;
        let error = romeo.stanza().await;
        assert_eq!((error.attr("type"), error.attr("id")), (Some("error"), Some(id)));
        assert_eq!(error_condition(&error).as_deref(), Some("service-unavailable"), "{id}");
    }
    // Headlines and errors to nobody vanish silently.
    romeo.send("<message to='nobody@localhost' type='headline'><body>x</body></message>").await;
    romeo.send("<message to='nobody@localhost' type='error'/>").await;
    romeo.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_message_to_a_resource_that_left_goes_to_the_others() {
    let server = server_with(&["juliet", "romeo"]).await;
    let mut phone = server.login_available("juliet", "phone").await;
    let mut romeo = server.login_available("romeo", "garden").await;
    romeo.send("<message to='juliet@localhost/laptop' type='chat'><body>where are you</body></message>").await;
    assert_eq!(bodies(&[phone.stanza().await]), ["where are you"]);
}
