//! The server's small informational iqs: XEP-0092 software version,
//! XEP-0202 entity time and XEP-0012 uptime.

mod support;

use std::time::Duration;

use support::*;
use waxwing_proto::datetime;
use waxwing_xml::Element;

async fn iq(client: &mut Client, id: &str, xml: &str) -> Element {
    client.send(xml).await;
    let reply = client.stanza().await;
    assert_eq!(reply.attr("id"), Some(id), "reply to another request: {reply}");
    reply
}

async fn one_user(tweak: impl FnOnce(&mut waxwing::Config)) -> (TestServer, Client) {
    let server = TestServer::start_with(tweak).await;
    server.add_user("romeo").await;
    let romeo = server.login("romeo", "garden").await;
    (server, romeo)
}

fn children(element: &Element) -> Vec<(String, String)> {
    element.elements().map(|e| (e.name.clone(), e.text())).collect()
}

#[tokio::test]
async fn version_without_os_by_default() {
    let (_server, mut romeo) = one_user(|_| {}).await;
    let reply =
        iq(&mut romeo, "v1", "<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>").await;
    assert_eq!((reply.attr("type"), reply.attr("from")), (Some("result"), Some("localhost")));
    let query = reply.get_child("query", "jabber:iq:version").unwrap();
    assert_eq!(
        children(query),
        [("name".to_string(), "Waxwing".to_string()), ("version".to_string(), env!("CARGO_PKG_VERSION").to_string())]
    );
}

#[tokio::test]
async fn version_with_os_when_configured() {
    let (_server, mut romeo) = one_user(|c| c.version.show_os = true).await;
    let reply =
        iq(&mut romeo, "v1", "<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>").await;
    let query = reply.get_child("query", "jabber:iq:version").unwrap();
    assert_eq!(children(query).last(), Some(&("os".to_string(), std::env::consts::OS.to_string())));
}

#[tokio::test]
async fn version_and_time_of_an_account_are_not_the_servers_to_give() {
    let (_server, mut romeo) = one_user(|_| {}).await;
    let reply = iq(&mut romeo, "b1", "<iq type='get' id='b1'><query xmlns='jabber:iq:version'/></iq>").await;
    assert_eq!(error_condition(&reply).as_deref(), Some("service-unavailable"));
    let reply =
        iq(&mut romeo, "b2", "<iq type='get' id='b2' to='romeo@localhost'><time xmlns='urn:xmpp:time'/></iq>").await;
    assert_eq!(error_condition(&reply).as_deref(), Some("service-unavailable"));
}

#[tokio::test]
async fn entity_time_is_utc_now() {
    let (_server, mut romeo) = one_user(|_| {}).await;
    let before = datetime::unix_now();
    let reply = iq(&mut romeo, "t1", "<iq type='get' id='t1' to='localhost'><time xmlns='urn:xmpp:time'/></iq>").await;
    let after = datetime::unix_now();
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    let time = reply.get_child("time", "urn:xmpp:time").unwrap();
    let got = children(time);
    assert_eq!(got.len(), 2, "{time}");
    assert_eq!(got[0], ("tzo".to_string(), "+00:00".to_string()));
    let (name, utc) = &got[1];
    assert_eq!(name, "utc");
    // XEP-0082 with milliseconds: 2026-11-25T17:26:36.123Z.
    assert!(utc.len() == 24 && utc.ends_with('Z') && utc.as_bytes()[19] == b'.', "{utc}");
    let seconds = &utc[..19];
    assert!(
        (before..=after).any(|t| datetime::format_unix(t).starts_with(seconds)),
        "{utc} is not between {before} and {after}"
    );
}

#[tokio::test]
async fn uptime_counts_seconds_since_start() {
    let (_server, mut romeo) = one_user(|_| {}).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply =
        iq(&mut romeo, "u1", "<iq type='get' id='u1' to='localhost'><query xmlns='jabber:iq:last'/></iq>").await;
    assert_eq!((reply.attr("type"), reply.attr("from")), (Some("result"), Some("localhost")));
    let query = reply.get_child("query", "jabber:iq:last").unwrap();
    let seconds: u64 = query.attr("seconds").unwrap().parse().unwrap();
    // Started just before the login; the test cannot have run for a minute.
    assert!((1..60).contains(&seconds), "{seconds}");
    // XEP-0012 §5: no text from a server.
    assert!(query.children.is_empty(), "{query}");
}
