//! XEP-0012 last activity of accounts (the server's uptime is in
//! everyday_xeps.rs).

mod support;

use std::time::Duration;

use support::*;
use waxwing_store::{RosterItem, Subscription};
use waxwing_xml::Element;

const LAST: &str = "jabber:iq:last";
const QUIET: Duration = Duration::from_millis(200);

async fn iq(client: &mut Client, id: &str, xml: &str) -> Element {
    client.send(xml).await;
    let reply = client.stanza().await;
    assert_eq!(reply.attr("id"), Some(id), "reply to another request: {reply}");
    reply
}

/// (seconds, text) of a result.
fn last(reply: &Element) -> (u64, String) {
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    let query = reply.get_child("query", LAST).unwrap();
    (query.attr("seconds").unwrap().parse().unwrap(), query.text())
}

async fn ask(client: &mut Client, id: &str, to: Option<&str>) -> Element {
    let to = to.map(|to| format!(" to='{to}'")).unwrap_or_default();
    iq(client, id, &format!("<iq type='get' id='{id}'{to}><query xmlns='{LAST}'/></iq>")).await
}

async fn let_see_presence(server: &TestServer, user: &str, contact: &str) {
    let item = RosterItem {
        contact: contact.to_string(),
        name: None,
        subscription: Subscription::From,
        ask_subscribe: false,
        approved: false,
        groups: Vec::new(),
    };
    server.running().server.store.roster().put("localhost", user, &item).await.unwrap();
}

async fn two_users() -> (TestServer, Client, Client) {
    let server = TestServer::start().await;
    server.add_user("romeo").await;
    server.add_user("juliet").await;
    let romeo = server.login("romeo", "garden").await;
    let juliet = server.login("juliet", "balcony").await;
    (server, romeo, juliet)
}

#[tokio::test]
async fn own_last_unavailable_presence_and_its_status() {
    let (_server, mut romeo, _juliet) = two_users().await;
    // Never offline yet: nothing to tell.
    let reply = ask(&mut romeo, "a0", None).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("item-not-found"));

    romeo.send("<presence><status>Hello</status></presence>").await;
    romeo.drain(QUIET).await;
    romeo.send("<presence type='unavailable'><status>Goodbye</status></presence>").await;
    romeo.drain(QUIET).await;
    let (seconds, text) = last(&ask(&mut romeo, "a1", None).await);
    assert_eq!(text, "Goodbye");
    assert!(seconds < 5, "{seconds}");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (seconds, _) = last(&ask(&mut romeo, "a2", Some("romeo@localhost")).await);
    assert!((1..10).contains(&seconds), "the seconds count up: {seconds}");
}

#[tokio::test]
async fn contacts_need_a_presence_subscription() {
    let (server, mut romeo, mut juliet) = two_users().await;
    romeo.send("<presence type='unavailable'><status>Heading Home</status></presence>").await;
    romeo.drain(QUIET).await;

    // XEP-0012 §3: not allowed to see Romeo's presence, so forbidden.
    let reply = ask(&mut juliet, "c1", Some("romeo@localhost")).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("forbidden"));
    // No such account: the router's answer, whatever the subscription.
    let reply = ask(&mut juliet, "c2", Some("nobody@localhost")).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("service-unavailable"));

    let_see_presence(&server, "romeo", "juliet@localhost").await;
    let reply = ask(&mut juliet, "c3", Some("romeo@localhost")).await;
    assert_eq!(reply.attr("from"), Some("romeo@localhost"));
    assert_eq!(last(&reply).1, "Heading Home");
}

#[tokio::test]
async fn an_available_account_answers_zero() {
    let (server, mut romeo, mut juliet) = two_users().await;
    let_see_presence(&server, "romeo", "juliet@localhost").await;
    romeo.send("<presence type='unavailable'><status>Later</status></presence>").await;
    romeo.drain(QUIET).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    romeo.send("<presence/>").await;
    romeo.drain(QUIET).await;
    // §3: "at least one available resource": seconds 0, no status.
    assert_eq!(last(&ask(&mut juliet, "z1", Some("romeo@localhost")).await), (0, String::new()));
}

#[tokio::test]
async fn disconnecting_while_available_is_a_logout() {
    let (server, mut romeo, mut juliet) = two_users().await;
    let_see_presence(&server, "romeo", "juliet@localhost").await;
    romeo.send("<presence type='unavailable'><status>Old</status></presence>").await;
    romeo.send("<presence/>").await;
    romeo.drain(QUIET).await;
    romeo.close().await;
    tokio::time::sleep(QUIET).await;
    // The last logout is the disconnection, which said nothing.
    let (seconds, text) = last(&ask(&mut juliet, "d1", Some("romeo@localhost")).await);
    assert_eq!(text, "");
    assert!(seconds < 5, "{seconds}");
}

#[tokio::test]
async fn the_last_logout_survives_a_restart() {
    let (mut server, mut romeo, juliet) = two_users().await;
    let_see_presence(&server, "romeo", "juliet@localhost").await;
    romeo.send("<presence/>").await;
    romeo.drain(QUIET).await;
    romeo.send("<presence type='unavailable'><status>Heading Home</status></presence>").await;
    romeo.drain(QUIET).await;
    // The status is noted in memory while sessions remain, stored when the last one ends.
    romeo.close().await;
    drop(juliet);
    tokio::time::sleep(QUIET).await;
    server.restart().await;
    let mut juliet = server.login("juliet", "balcony").await;
    let (_, text) = last(&ask(&mut juliet, "r1", Some("romeo@localhost")).await);
    assert_eq!(text, "Heading Home");
}
