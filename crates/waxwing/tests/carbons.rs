//! XEP-0280 Message Carbons over real connections.

mod im;
mod support;

use im::*;
use support::*;
use waxwing_xml::Element;

const CARBONS: &str = "urn:xmpp:carbons:2";
const FORWARD: &str = "urn:xmpp:forward:0";

async fn enable(client: &mut Client) {
    let (reply, _) = iq(client, "set", None, &format!("<enable xmlns='{CARBONS}'/>")).await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
}

/// Messages among `stanzas` (presence and the like filtered out).
fn messages(stanzas: Vec<Element>) -> Vec<Element> {
    stanzas.into_iter().filter(|s| s.name == "message").collect()
}

/// The carbon in `message`: its direction and the forwarded message, after
/// checking the wrapper comes from `bare` (§11) and is addressed to `to`.
fn carbon<'a>(message: &'a Element, bare: &str, to: &str) -> (&'static str, &'a Element) {
    assert_eq!(message.attr("from"), Some(bare), "{message}");
    assert_eq!(message.attr("to"), Some(to), "{message}");
    let (direction, wrapper) = if let Some(w) = message.get_child("sent", CARBONS) {
        ("sent", w)
    } else {
        ("received", message.get_child("received", CARBONS).unwrap_or_else(|| panic!("not a carbon: {message}")))
    };
    let inner = wrapper.get_child("forwarded", FORWARD).and_then(|f| f.get_child("message", NS_CLIENT)).unwrap();
    (direction, inner)
}

fn body(message: &Element) -> String {
    message.get_child("body", NS_CLIENT).map(|b| b.text()).unwrap_or_default()
}

struct Setup {
    _server: TestServer,
    a: Client,
    b: Client,
    c: Client,
    romeo: Client,
}

/// juliet on three resources, `a` and `b` with carbons on, `c` without; romeo online.
async fn setup() -> Setup {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    let mut a = online(&server, "juliet", "a").await;
    let mut b = online(&server, "juliet", "b").await;
    let mut c = online(&server, "juliet", "c").await;
    let romeo = online(&server, "romeo", "r").await;
    enable(&mut a).await;
    enable(&mut b).await;
    for client in [&mut a, &mut b, &mut c] {
        sync(client).await;
    }
    Setup { _server: server, a, b, c, romeo }
}

#[tokio::test]
async fn carbons_are_advertised_and_enable_is_only_for_oneself() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    let mut juliet = online(&server, "juliet", "a").await;
    let (info, _) =
        iq(&mut juliet, "get", Some("localhost"), "<query xmlns='http://jabber.org/protocol/disco#info'/>").await;
    let query = info.get_child("query", "http://jabber.org/protocol/disco#info").unwrap();
    assert!(query.elements().any(|f| f.attr("var") == Some(CARBONS)), "{info}");
    // Explicitly to one's own bare JID is the same as no `to`.
    let (reply, _) = iq(&mut juliet, "set", Some("juliet@localhost"), &format!("<enable xmlns='{CARBONS}'/>")).await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    let (reply, _) = iq(&mut juliet, "set", Some("romeo@localhost"), &format!("<enable xmlns='{CARBONS}'/>")).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("forbidden"), "{reply}");
    // Disabling twice is fine (§5).
    for _ in 0..2 {
        let (reply, _) = iq(&mut juliet, "set", None, &format!("<disable xmlns='{CARBONS}'/>")).await;
        assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    }
}

#[tokio::test]
async fn what_one_resource_sends_is_copied_to_the_other_enabled_ones() {
    let Setup { mut a, mut b, mut c, mut romeo, _server } = setup().await;
    a.send("<message to='romeo@localhost' type='chat' id='m1'><body>Art thou not Romeo?</body></message>").await;
    sync(&mut a).await;
    let at_b = messages(sync(&mut b).await);
    assert_eq!(at_b.len(), 1, "{at_b:?}");
    let (direction, inner) = carbon(&at_b[0], "juliet@localhost", "juliet@localhost/b");
    assert_eq!(direction, "sent");
    assert_eq!(inner.attr("from"), Some("juliet@localhost/a"));
    assert_eq!(inner.attr("to"), Some("romeo@localhost"));
    assert_eq!(inner.attr("id"), Some("m1"));
    assert_eq!(body(inner), "Art thou not Romeo?");
    assert_eq!(at_b[0].attr("type"), Some("chat"));
    // `c` did not enable carbons; the sender gets no copy of its own message.
    assert!(messages(sync(&mut c).await).is_empty());
    assert!(messages(sync(&mut a).await).is_empty());
    let at_romeo = messages(sync(&mut romeo).await);
    assert_eq!(at_romeo.len(), 1);
    assert!(at_romeo[0].get_child("sent", CARBONS).is_none(), "the original goes out unwrapped");
}

#[tokio::test]
async fn what_one_resource_receives_is_copied_to_the_other_enabled_ones() {
    let Setup { mut a, mut b, mut c, mut romeo, _server } = setup().await;
    romeo.send("<message to='juliet@localhost/a' type='chat'><body>Neither, fair saint</body></message>").await;
    sync(&mut romeo).await;
    let at_a = messages(sync(&mut a).await);
    assert_eq!(at_a.len(), 1);
    assert_eq!(body(&at_a[0]), "Neither, fair saint");
    let at_b = messages(sync(&mut b).await);
    assert_eq!(at_b.len(), 1, "{at_b:?}");
    let (direction, inner) = carbon(&at_b[0], "juliet@localhost", "juliet@localhost/b");
    assert_eq!(direction, "received");
    assert_eq!(inner.attr("from"), Some("romeo@localhost/r"));
    assert_eq!(inner.attr("to"), Some("juliet@localhost/a"));
    // The copy is made after the archive (XEP-0313, on by default) stamped
    // the message, so it carries the same XEP-0359 id as the original.
    let stanza_id = |m: &Element| {
        m.get_child("stanza-id", "urn:xmpp:sid:0").filter(|s| s.attr("by") == Some("juliet@localhost")).cloned()
    };
    assert!(stanza_id(inner).is_some(), "{inner}");
    assert_eq!(stanza_id(inner), stanza_id(&at_a[0]));
    assert!(messages(sync(&mut c).await).is_empty());
}

#[tokio::test]
async fn a_bare_jid_message_is_copied_only_where_it_would_not_arrive() {
    let Setup { mut a, mut b, mut c, mut romeo, _server } = setup().await;
    // `b` goes negative: bare-JID messages skip it (RFC 6121 §8.5.2.1.1),
    // so it needs the copy; `a` and `c` get the message itself.
    b.send("<presence><priority>-1</priority></presence>").await;
    sync(&mut b).await;
    sync(&mut a).await;
    sync(&mut c).await;
    romeo.send("<message to='juliet@localhost' type='chat'><body>Wherefore</body></message>").await;
    sync(&mut romeo).await;
    let at_a = messages(sync(&mut a).await);
    assert_eq!(at_a.len(), 1);
    assert!(at_a[0].get_child("received", CARBONS).is_none(), "a gets the original, no copy: {at_a:?}");
    let at_c = messages(sync(&mut c).await);
    assert_eq!(at_c.len(), 1);
    let at_b = messages(sync(&mut b).await);
    assert_eq!(at_b.len(), 1, "{at_b:?}");
    let (direction, inner) = carbon(&at_b[0], "juliet@localhost", "juliet@localhost/b");
    assert_eq!((direction, body(inner).as_str()), ("received", "Wherefore"));
}

#[tokio::test]
async fn private_no_copy_groupchat_and_disabled_sessions_get_no_copies() {
    let Setup { mut a, mut b, mut c, mut romeo, _server } = setup().await;
    a.send(&format!("<message to='romeo@localhost' type='chat'><body>1</body><private xmlns='{CARBONS}'/></message>"))
        .await;
    a.send("<message to='romeo@localhost' type='chat'><body>2</body><no-copy xmlns='urn:xmpp:hints'/></message>").await;
    sync(&mut a).await;
    // §7: the <private/> element is not stripped on the way (since XEP-0280 0.9).
    let at_romeo = messages(sync(&mut romeo).await);
    assert_eq!(at_romeo.len(), 2);
    assert!(at_romeo[0].get_child("private", CARBONS).is_some());
    romeo
        .send(&format!(
            "<message to='juliet@localhost/a' type='chat'><body>3</body><private xmlns='{CARBONS}'/></message>"
        ))
        .await;
    // A headline is not part of a conversation.
    romeo.send("<message to='juliet@localhost/a' type='headline'><body>4</body></message>").await;
    sync(&mut romeo).await;
    assert_eq!(messages(sync(&mut a).await).len(), 2);
    assert!(messages(sync(&mut b).await).is_empty());
    // After <disable/>, b gets nothing; a still copies to nobody else.
    let (reply, _) = iq(&mut b, "set", None, &format!("<disable xmlns='{CARBONS}'/>")).await;
    assert_eq!(reply.attr("type"), Some("result"));
    a.send("<message to='romeo@localhost' type='chat'><body>5</body></message>").await;
    sync(&mut a).await;
    assert!(messages(sync(&mut b).await).is_empty());
    assert!(messages(sync(&mut c).await).is_empty());
}

#[tokio::test]
async fn a_carbon_from_someone_else_is_dropped() {
    let Setup { mut a, mut b, mut romeo, _server, .. } = setup().await;
    // romeo tries to make juliet's clients believe she wrote something (§11).
    romeo
        .send(&format!(
            "<message to='juliet@localhost/a' type='chat'><sent xmlns='{CARBONS}'><forwarded xmlns='{FORWARD}'>\
             <message xmlns='jabber:client' from='juliet@localhost/b' to='romeo@localhost' type='chat'>\
             <body>I love Paris</body></message></forwarded></sent></message>"
        ))
        .await;
    romeo.send("<message to='juliet@localhost' type='chat'><body>honest</body></message>").await;
    sync(&mut romeo).await;
    let at_a = messages(sync(&mut a).await);
    assert_eq!(at_a.len(), 1, "only the honest message arrives: {at_a:?}");
    assert_eq!(body(&at_a[0]), "honest");
    let at_b = messages(sync(&mut b).await);
    assert_eq!(at_b.len(), 1, "{at_b:?}");
    assert_eq!(body(&at_b[0]), "honest", "b is available too and gets the original, no copy");
}

#[tokio::test]
async fn carbons_end_with_the_session() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    let mut a = online(&server, "juliet", "a").await;
    let mut b = online(&server, "juliet", "b").await;
    enable(&mut b).await;
    b.close().await;
    // The same resource again: a new session, carbons off until it asks.
    let mut b = online(&server, "juliet", "b").await;
    sync(&mut a).await;
    a.send("<message to='romeo@localhost' type='chat'><body>x</body></message>").await;
    sync(&mut a).await;
    assert!(messages(sync(&mut b).await).is_empty());
    enable(&mut b).await;
    a.send("<message to='romeo@localhost' type='chat'><body>y</body></message>").await;
    sync(&mut a).await;
    assert_eq!(messages(sync(&mut b).await).len(), 1);
}
