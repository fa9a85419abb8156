//! XEP-0191 Blocking Command over real sockets: the blocklist and its
//! pushes, what happens to stanzas in both directions, persistence, and the
//! presence sent on block and unblock.

mod support;

use std::time::Duration;

use support::*;
use waxwing_store::{RosterItem, Subscription};
use waxwing_xml::Element;

const NS_BLOCKING: &str = "urn:xmpp:blocking";
const NS_BLOCKING_ERRORS: &str = "urn:xmpp:blocking:errors";
const QUIET: Duration = Duration::from_millis(300);

async fn two_users() -> (TestServer, Client, Client) {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    let juliet = server.login("juliet", "balcony").await;
    let romeo = server.login("romeo", "garden").await;
    (server, juliet, romeo)
}

/// Sends an iq and returns the reply with that id, skipping anything else.
async fn iq(client: &mut Client, id: &str, xml: &str) -> Element {
    client.send(xml).await;
    loop {
        let stanza = client.stanza().await;
        if stanza.name == "iq" && stanza.attr("id") == Some(id) {
            return stanza;
        }
    }
}

async fn blocklist(client: &mut Client) -> Vec<String> {
    let reply = iq(client, "bl", &format!("<iq type='get' id='bl'><blocklist xmlns='{NS_BLOCKING}'/></iq>")).await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    let list = reply.get_child("blocklist", NS_BLOCKING).expect("a blocklist");
    list.elements().map(|i| i.attr("jid").unwrap().to_string()).collect()
}

async fn block(client: &mut Client, jids: &[&str]) {
    let items: String = jids.iter().map(|j| format!("<item jid='{j}'/>")).collect();
    let reply =
        iq(client, "b", &format!("<iq type='set' id='b'><block xmlns='{NS_BLOCKING}'>{items}</block></iq>")).await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
}

async fn unblock(client: &mut Client, jids: &[&str]) {
    let items: String = jids.iter().map(|j| format!("<item jid='{j}'/>")).collect();
    let reply =
        iq(client, "u", &format!("<iq type='set' id='u'><unblock xmlns='{NS_BLOCKING}'>{items}</unblock></iq>")).await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
}

#[tokio::test]
async fn blocklist_follows_blocks_and_unblocks() {
    let (_server, mut juliet, _romeo) = two_users().await;
    assert!(blocklist(&mut juliet).await.is_empty());
    block(&mut juliet, &["Romeo@LOCALHOST", "montague.lit", "tybalt@capulet.lit/sword"]).await;
    // Stored prepared, listed in order.
    assert_eq!(blocklist(&mut juliet).await, ["montague.lit", "romeo@localhost", "tybalt@capulet.lit/sword"]);
    // Blocking again is no change and no error.
    block(&mut juliet, &["romeo@localhost"]).await;
    unblock(&mut juliet, &["montague.lit"]).await;
    assert_eq!(blocklist(&mut juliet).await, ["romeo@localhost", "tybalt@capulet.lit/sword"]);
    // §3.5: an empty unblock unblocks everyone.
    unblock(&mut juliet, &[]).await;
    assert!(blocklist(&mut juliet).await.is_empty());
}

#[tokio::test]
async fn pushes_reach_only_resources_that_asked_for_the_list() {
    let (server, mut balcony, _romeo) = two_users().await;
    let mut chamber = server.login("juliet", "chamber").await;
    assert!(blocklist(&mut balcony).await.is_empty());

    block(&mut chamber, &["romeo@localhost"]).await;
    let push = balcony.stanza().await;
    assert_eq!((push.attr("type"), push.attr("to")), (Some("set"), Some("juliet@localhost/balcony")));
    let items: Vec<_> =
        push.get_child("block", NS_BLOCKING).unwrap().elements().map(|i| i.attr("jid").unwrap().to_string()).collect();
    assert_eq!(items, ["romeo@localhost"]);
    // The client acknowledges the push like a roster push; nothing comes back.
    balcony.send(&format!("<iq type='result' id='{}'/>", push.attr("id").unwrap())).await;
    // §3.3: chamber never asked for the list, so it gets the result only.
    chamber.expect_silence(QUIET).await;

    unblock(&mut chamber, &[]).await;
    let push = balcony.stanza().await;
    let unblock_all = push.get_child("unblock", NS_BLOCKING).expect("an unblock push");
    assert_eq!(unblock_all.elements().count(), 0, "§3.5: the unblock-all push is empty");
    chamber.expect_silence(QUIET).await;
    balcony.expect_silence(QUIET).await;
}

fn assert_blocked_error(reply: &Element, to: &str) {
    assert_eq!(reply.attr("type"), Some("error"), "{reply}");
    assert_eq!(reply.attr("from"), Some(to));
    let error = reply.get_child("error", NS_CLIENT).unwrap();
    assert_eq!(error.attr("type"), Some("cancel"));
    assert!(error.get_child("not-acceptable", NS_STANZA_ERRORS).is_some(), "{reply}");
    assert!(error.get_child("blocked", NS_BLOCKING_ERRORS).is_some(), "{reply}");
    assert_eq!(error.get_child("text", NS_STANZA_ERRORS).unwrap().text(), "You have blocked this JID");
}

#[tokio::test]
async fn the_user_cannot_reach_a_blocked_jid() {
    let (_server, mut juliet, mut romeo) = two_users().await;
    block(&mut juliet, &["romeo@localhost"]).await;

    juliet.send("<message to='romeo@localhost' type='chat' id='m1'><body>hello?</body></message>").await;
    assert_blocked_error(&juliet.stanza().await, "romeo@localhost");
    juliet.send("<message to='romeo@localhost/garden' id='m2'><body>hello?</body></message>").await;
    assert_blocked_error(&juliet.stanza().await, "romeo@localhost/garden");
    let reply = iq(
        &mut juliet,
        "v",
        "<iq to='romeo@localhost/garden' type='get' id='v'><query xmlns='jabber:iq:version'/></iq>",
    )
    .await;
    assert_blocked_error(&reply, "romeo@localhost/garden");
    // Presence to a blocked JID is dropped without an error.
    juliet.send("<presence to='romeo@localhost/garden'/>").await;
    juliet.expect_silence(QUIET).await;
    romeo.expect_silence(QUIET).await;

    // Her own server and her own account stay reachable.
    let reply = iq(&mut juliet, "p", "<iq to='localhost' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(reply.attr("type"), Some("result"));
}

#[tokio::test]
async fn a_blocked_jid_cannot_reach_the_user() {
    let (server, mut juliet, mut romeo) = two_users().await;
    // Before the block, his vCard request is answered (she has none).
    let reply =
        iq(&mut romeo, "vc0", "<iq to='juliet@localhost' type='get' id='vc0'><vCard xmlns='vcard-temp'/></iq>").await;
    assert_eq!(error_condition(&reply).as_deref(), Some("item-not-found"));
    block(&mut juliet, &["romeo@localhost"]).await;

    // §3.3: messages get service-unavailable, whichever address they use.
    for to in ["juliet@localhost", "juliet@localhost/balcony"] {
        romeo.send(&format!("<message to='{to}' type='chat' id='m'><body>hi</body></message>")).await;
        let reply = romeo.stanza().await;
        assert_eq!((reply.name.as_str(), reply.attr("type")), ("message", Some("error")), "{reply}");
        assert_eq!(reply.attr("from"), Some(to));
        assert_eq!(error_condition(&reply).as_deref(), Some("service-unavailable"));
    }
    // Refused before anything else on her side sees them: her archive holds
    // none (his holds what he sent, as a sender's archive does).
    let archive = server.running().server.store.archive();
    server.running().server.durable().await;
    assert_eq!(archive.count("localhost", "juliet").await.unwrap(), 0);
    // iq get/set get service-unavailable, to a session or to the account.
    let reply = iq(
        &mut romeo,
        "v",
        "<iq to='juliet@localhost/balcony' type='get' id='v'><query xmlns='jabber:iq:version'/></iq>",
    )
    .await;
    assert_eq!(error_condition(&reply).as_deref(), Some("service-unavailable"));
    let reply =
        iq(&mut romeo, "vc", "<iq to='juliet@localhost' type='get' id='vc'><vCard xmlns='vcard-temp'/></iq>").await;
    assert_eq!(error_condition(&reply).as_deref(), Some("service-unavailable"));
    // Presence of any kind is dropped, and nobody hears of it.
    romeo.send("<presence to='juliet@localhost/balcony'/>").await;
    romeo.send("<presence to='juliet@localhost' type='subscribe'/>").await;
    romeo.send("<iq to='juliet@localhost/balcony' type='result' id='stray'/>").await;
    romeo.expect_silence(QUIET).await;
    juliet.expect_silence(QUIET).await;

    unblock(&mut juliet, &["romeo@localhost"]).await;
    romeo.send("<message to='juliet@localhost/balcony' type='chat'><body>again</body></message>").await;
    assert_eq!(juliet.stanza().await.get_child("body", NS_CLIENT).unwrap().text(), "again");
}

#[tokio::test]
async fn a_full_jid_item_blocks_only_that_resource() {
    let (server, mut juliet, mut garden) = two_users().await;
    let mut orchard = server.login("romeo", "orchard").await;
    block(&mut juliet, &["romeo@localhost/garden"]).await;
    garden.send("<message to='juliet@localhost/balcony'><body>1</body></message>").await;
    assert_eq!(error_condition(&garden.stanza().await).as_deref(), Some("service-unavailable"));
    orchard.send("<message to='juliet@localhost/balcony'><body>2</body></message>").await;
    let got = juliet.stanza().await;
    assert_eq!(got.attr("from"), Some("romeo@localhost/orchard"));
}

#[tokio::test]
async fn malformed_requests_are_refused() {
    let (_server, mut juliet, mut romeo) = two_users().await;
    let reply = iq(&mut juliet, "e1", &format!("<iq type='set' id='e1'><block xmlns='{NS_BLOCKING}'/></iq>")).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("bad-request"));
    for item in ["<item jid='a@b@c'/>", "<item/>", "<item jid=''/>"] {
        let xml = format!(
            "<iq type='set' id='e2'><block xmlns='{NS_BLOCKING}'><item jid='ok@localhost'/>{item}</block></iq>"
        );
        let reply = iq(&mut juliet, "e2", &xml).await;
        assert_eq!(error_condition(&reply).as_deref(), Some("jid-malformed"), "{item}");
        let xml = format!("<iq type='set' id='e3'><unblock xmlns='{NS_BLOCKING}'>{item}</unblock></iq>");
        assert_eq!(error_condition(&iq(&mut juliet, "e3", &xml).await).as_deref(), Some("jid-malformed"));
    }
    // Nothing of the refused blocks was kept.
    assert!(blocklist(&mut juliet).await.is_empty());
    // Someone else's blocklist is not for him to read or change.
    let xml = format!("<iq to='juliet@localhost' type='get' id='o'><blocklist xmlns='{NS_BLOCKING}'/></iq>");
    assert_eq!(error_condition(&iq(&mut romeo, "o", &xml).await).as_deref(), Some("service-unavailable"));
    let xml = format!(
        "<iq to='juliet@localhost' type='set' id='o2'><block xmlns='{NS_BLOCKING}'><item jid='x@y'/></block></iq>"
    );
    assert_eq!(error_condition(&iq(&mut romeo, "o2", &xml).await).as_deref(), Some("service-unavailable"));
    assert!(blocklist(&mut juliet).await.is_empty());
}

#[tokio::test]
async fn blocks_persist_and_apply_while_the_user_is_offline() {
    let (server, mut juliet, mut romeo) = two_users().await;
    block(&mut juliet, &["romeo@localhost"]).await;
    assert_eq!(juliet.close().await, Ended::Closed);

    // Not stored for later either: the offline account refuses it.
    romeo.send("<message to='juliet@localhost' type='chat' id='off'><body>while you were out</body></message>").await;
    let reply = romeo.stanza().await;
    assert_eq!(error_condition(&reply).as_deref(), Some("service-unavailable"));

    let mut juliet = server.login("juliet", "balcony").await;
    juliet.send("<presence/>").await;
    let seen = juliet.drain(QUIET).await;
    assert!(seen.iter().all(|s| s.get_child("body", NS_CLIENT).is_none()), "no stored message: {seen:?}");
    assert_eq!(blocklist(&mut juliet).await, ["romeo@localhost"]);
    // Enforced in the new session without asking for the list first.
    romeo.send("<message to='juliet@localhost/balcony'><body>now?</body></message>").await;
    assert_eq!(error_condition(&romeo.stanza().await).as_deref(), Some("service-unavailable"));
}

/// Mutual `both` subscriptions, written to storage directly.
async fn befriend(server: &TestServer, a: &str, b: &str) {
    for (user, contact) in [(a, b), (b, a)] {
        let item = RosterItem {
            contact: format!("{contact}@localhost"),
            name: None,
            subscription: Subscription::Both,
            ask_subscribe: false,
            approved: false,
            groups: Vec::new(),
        };
        server.running().server.store.roster().put("localhost", user, &item).await.unwrap();
    }
}

#[tokio::test]
async fn block_hides_presence_and_unblock_shows_it_again() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    befriend(&server, "juliet", "romeo").await;
    let mut juliet = server.login("juliet", "balcony").await;
    let mut romeo = server.login("romeo", "garden").await;
    romeo.send("<presence/>").await;
    romeo.drain(QUIET).await;
    juliet.send("<presence><status>on the balcony</status></presence>").await;
    juliet.drain(QUIET).await;
    romeo.drain(QUIET).await;

    block(&mut juliet, &["romeo@localhost"]).await;
    // §3.3: he is told she is gone.
    let gone = romeo.stanza().await;
    assert_eq!(gone.name, "presence");
    assert_eq!(gone.attr("type"), Some("unavailable"));
    assert_eq!(gone.attr("from"), Some("juliet@localhost/balcony"));
    // Her later broadcasts do not reach him.
    juliet.send("<presence><show>away</show></presence>").await;
    romeo.expect_silence(QUIET).await;

    unblock(&mut juliet, &["romeo@localhost"]).await;
    // §3.4: her current presence again.
    let back = romeo.stanza().await;
    assert_eq!(back.name, "presence");
    assert_eq!(back.attr("type"), None);
    assert_eq!(back.attr("from"), Some("juliet@localhost/balcony"));
    assert_eq!(back.get_child("show", NS_CLIENT).map(|s| s.text()).as_deref(), Some("away"));
}
