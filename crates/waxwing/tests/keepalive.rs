//! Dead connections are found: a silent client is pinged (XEP-0199) and, if
//! it stays silent, closed with `connection-timeout`. Clients that answer, or
//! send whitespace keepalives, stay.

mod support;

use std::time::Duration;

use support::*;

async fn server() -> TestServer {
    let server = TestServer::start_with(|c| {
        c.c2s.idle_timeout_secs = 1;
        c.c2s.ping_timeout_secs = 1;
    })
    .await;
    server.add_user("juliet").await;
    server
}

#[tokio::test]
async fn a_silent_client_is_pinged_then_closed() {
    let server = server().await;
    let mut c = server.login("juliet", "r").await;
    let ping = c.stanza().await;
    assert_eq!(ping.attr("type"), Some("get"));
    assert_eq!(ping.attr("from"), Some("localhost"));
    assert!(ping.get_child("ping", "urn:xmpp:ping").is_some(), "{ping}");
    c.expect_stream_error("connection-timeout").await;
}

#[tokio::test]
async fn a_client_that_answers_stays() {
    let server = server().await;
    let mut c = server.login("juliet", "r").await;
    for _ in 0..2 {
        let ping = c.stanza().await;
        let id = ping.attr("id").unwrap();
        c.send(&format!("<iq type='result' id='{id}' to='localhost'/>")).await;
    }
    c.send("<iq type='get' id='me'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(c.stanza().await.attr("id"), Some("me"));
}

#[tokio::test]
async fn whitespace_keepalives_keep_the_session() {
    let server = server().await;
    let mut c = server.login("juliet", "r").await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        c.send(" ").await;
    }
    // 2.4 s without a stanza and no ping: whitespace counted as life.
    c.send("<iq type='get' id='me'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(c.stanza().await.attr("id"), Some("me"));
}
