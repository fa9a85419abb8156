//! XEP-0352 Client State Indication: what an inactive session is spared.

mod im;
mod support;

use std::time::Duration;

use im::*;
use support::*;
use waxwing_core::StanzaContext;
use waxwing_jid::Jid;
use waxwing_xml::Element;

const CSI: &str = "urn:xmpp:csi:0";
const CHAT_STATES: &str = "http://jabber.org/protocol/chatstates";

fn status(presence: &Element) -> String {
    presence.get_child("status", NS_CLIENT).map(|s| s.text()).unwrap_or_default()
}

#[tokio::test]
async fn csi_is_a_stream_feature() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    let client = server.login("juliet", "phone").await;
    let features = client.features.as_ref().unwrap();
    assert!(features.get_child("csi", CSI).is_some(), "{features}");
}

/// Presence from a real contact: held while inactive, only the latest
/// released on `<active/>`.
#[tokio::test]
async fn presence_is_held_and_deduplicated_until_active() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    relate(&server, "juliet", "romeo", "Both").await;
    let mut juliet = online(&server, "juliet", "phone").await;
    let mut romeo = online(&server, "romeo", "r").await;
    settle(&mut juliet).await;
    juliet.send(&format!("<inactive xmlns='{CSI}'/>")).await;
    sync(&mut juliet).await;
    for n in 1..=3 {
        romeo.send(&format!("<presence><show>away</show><status>{n}</status></presence>")).await;
    }
    sync(&mut romeo).await;
    // An iq answer is the server's own reply: not held, and it proves the
    // presence had been routed before it.
    let before = sync(&mut juliet).await;
    assert!(before.is_empty(), "nothing reaches an inactive client: {before:?}");
    juliet.send(&format!("<active xmlns='{CSI}'/>")).await;
    let released = sync(&mut juliet).await;
    assert_eq!(released.len(), 1, "{released:?}");
    assert_eq!(released[0].attr("from"), Some("romeo@localhost/r"));
    assert_eq!(status(&released[0]), "3");
    // Active again: everything flows at once.
    romeo.send("<presence><status>4</status></presence>").await;
    sync(&mut romeo).await;
    assert_eq!(sync(&mut juliet).await.len(), 1);
}

/// A message with a body releases what is held, before itself; a chat
/// state alone waits.
#[tokio::test]
async fn an_urgent_message_releases_the_held_stanzas_first() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    relate(&server, "juliet", "romeo", "Both").await;
    let mut juliet = online(&server, "juliet", "phone").await;
    let mut romeo = online(&server, "romeo", "r").await;
    settle(&mut juliet).await;
    juliet.send(&format!("<inactive xmlns='{CSI}'/>")).await;
    sync(&mut juliet).await;
    romeo
        .send(&format!("<message to='juliet@localhost' type='chat'><composing xmlns='{CHAT_STATES}'/></message>"))
        .await;
    romeo.send("<presence><status>typing away</status></presence>").await;
    romeo.send(&format!("<message to='juliet@localhost' type='chat'><paused xmlns='{CHAT_STATES}'/></message>")).await;
    sync(&mut romeo).await;
    juliet.expect_silence(Duration::from_millis(200)).await;
    romeo.send("<message to='juliet@localhost' type='chat'><body>Juliet!</body></message>").await;
    let got = [juliet.stanza().await, juliet.stanza().await, juliet.stanza().await];
    // The presence first; the chat state replaced by the later one, which
    // moved behind it; the message last.
    assert_eq!(got[0].name, "presence", "{got:?}");
    assert!(got[1].get_child("paused", CHAT_STATES).is_some(), "{got:?}");
    assert_eq!(got[2].get_child("body", NS_CLIENT).map(|b| b.text()).as_deref(), Some("Juliet!"));
    juliet.expect_silence(Duration::from_millis(200)).await;
    // Still inactive: presence is held again.
    romeo.send("<presence><status>again</status></presence>").await;
    sync(&mut romeo).await;
    assert!(sync(&mut juliet).await.is_empty());
}

#[tokio::test]
async fn a_subscription_request_is_urgent() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    let mut juliet = online(&server, "juliet", "phone").await;
    let mut romeo = online(&server, "romeo", "r").await;
    juliet.send(&format!("<inactive xmlns='{CSI}'/>")).await;
    sync(&mut juliet).await;
    romeo.send("<presence to='juliet@localhost' type='subscribe'/>").await;
    sync(&mut romeo).await;
    let got = sync(&mut juliet).await;
    assert!(got.iter().any(|s| s.name == "presence" && s.attr("type") == Some("subscribe")), "{got:?}");
}

/// Beyond `max_held`, everything is released at once.
#[tokio::test]
async fn too_much_held_is_released() {
    let server = TestServer::start_with(|config| config.csi.max_held = 3).await;
    server.add_user("juliet").await;
    let mut juliet = server.login_available("juliet", "phone").await;
    juliet.send(&format!("<inactive xmlns='{CSI}'/>")).await;
    sync(&mut juliet).await;
    let core = &server.running().server;
    let to = Jid::parse("juliet@localhost/phone").unwrap();
    for n in 0..3 {
        route_presence(core, &format!("c{n}@localhost/x"), &to, "1").await;
    }
    assert!(sync(&mut juliet).await.is_empty());
    route_presence(core, "c3@localhost/x", &to, "1").await;
    let got = sync(&mut juliet).await;
    let from: Vec<_> = got.iter().map(|s| s.attr("from").unwrap()).collect();
    assert_eq!(from, ["c0@localhost/x", "c1@localhost/x", "c2@localhost/x", "c3@localhost/x"]);
}

/// Routes a presence from `from` to `to` through the server's router, as a
/// contact's broadcast would; returns its size on the wire.
async fn route_presence(server: &waxwing_core::Server, from: &str, to: &Jid, status: &str) -> usize {
    let presence = Element::new("presence", NS_CLIENT)
        .with_attr("from", from)
        .with_attr("to", to.as_str())
        .with_child(Element::new("show", NS_CLIENT).with_text("away"))
        .with_child(Element::new("status", NS_CLIENT).with_text(status));
    route(server, from, to, presence).await
}

async fn route(server: &waxwing_core::Server, from: &str, to: &Jid, stanza: Element) -> usize {
    let bytes = stanza.to_bytes(NS_CLIENT).len();
    server.route(&StanzaContext { from: Jid::parse(from).unwrap(), to: to.clone() }, stanza).await;
    bytes
}

/// The figure: an inactive phone with 100 contacts, each changing presence
/// 5 times, and a few chat states, until a message arrives.
#[tokio::test]
async fn saving_for_an_inactive_session_with_100_busy_contacts() {
    const CONTACTS: usize = 100;
    const CHANGES: usize = 5;
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    let mut juliet = server.login_available("juliet", "phone").await;
    juliet.send(&format!("<inactive xmlns='{CSI}'/>")).await;
    sync(&mut juliet).await;
    let core = &server.running().server;
    let to = Jid::parse("juliet@localhost/phone").unwrap();
    let (mut routed, mut routed_bytes) = (0usize, 0usize);
    for change in 1..=CHANGES {
        for contact in 0..CONTACTS {
            routed_bytes +=
                route_presence(core, &format!("contact{contact}@localhost/res"), &to, &change.to_string()).await;
            routed += 1;
        }
    }
    // Three contacts type, pause and type again: 9 chat states.
    for contact in 0..3 {
        for state in ["composing", "paused", "composing"] {
            let message = Element::new("message", NS_CLIENT)
                .with_attr("from", format!("contact{contact}@localhost/res"))
                .with_attr("to", to.as_str())
                .with_attr("type", "chat")
                .with_child(Element::new(state, CHAT_STATES));
            routed_bytes += route(core, &format!("contact{contact}@localhost/res"), &to, message).await;
            routed += 1;
        }
    }
    assert!(sync(&mut juliet).await.is_empty(), "all held");
    // Contact 0 finally says something: urgent.
    let message = Element::new("message", NS_CLIENT)
        .with_attr("from", "contact0@localhost/res")
        .with_attr("to", to.as_str())
        .with_attr("type", "chat")
        .with_child(Element::new("body", NS_CLIENT).with_text("Are you there?"));
    let message_bytes = route(core, "contact0@localhost/res", &to, message).await;
    let got = sync(&mut juliet).await;
    let sent_bytes: usize = got.iter().map(|s| s.to_bytes(NS_CLIENT).len()).sum();
    let presences: Vec<_> = got.iter().filter(|s| s.name == "presence").collect();
    let chat_states = got.iter().filter(|s| s.name == "message" && s.get_child("body", NS_CLIENT).is_none()).count();
    assert_eq!(routed, CONTACTS * CHANGES + 9);
    // One presence per contact, each the latest; one chat state per typist.
    assert_eq!(presences.len(), CONTACTS);
    assert!(presences.iter().all(|p| status(p) == CHANGES.to_string()));
    assert_eq!(chat_states, 3);
    assert_eq!(got.len(), CONTACTS + 3 + 1);
    assert_eq!(got.last().unwrap().get_child("body", NS_CLIENT).map(|b| b.text()).as_deref(), Some("Are you there?"));
    let would = routed_bytes + message_bytes;
    println!(
        "CSI saving: without CSI {} stanzas / {} bytes; with CSI {} stanzas / {} bytes ({:.0}% of the bytes)",
        routed + 1,
        would,
        got.len(),
        sent_bytes,
        100.0 * sent_bytes as f64 / would as f64
    );
    assert!(sent_bytes < would / 4);
}
