//! XEP-0049 private XML storage.

mod support;

use support::*;
use waxwing_xml::Element;

const PRIVATE: &str = "jabber:iq:private";

async fn iq(client: &mut Client, id: &str, xml: &str) -> Element {
    client.send(xml).await;
    let reply = client.stanza().await;
    assert_eq!(reply.attr("id"), Some(id), "reply to another request: {reply}");
    reply
}

fn parse(xml: &str) -> Element {
    waxwing_xml::parse_element(xml, NS_CLIENT).unwrap()
}

/// The children of the `<query/>` of a result.
fn stored(reply: &Element) -> Vec<Element> {
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    reply.get_child("query", PRIVATE).unwrap().elements().cloned().collect()
}

async fn two_users(tweak: impl FnOnce(&mut waxwing::Config)) -> (TestServer, Client, Client) {
    let server = TestServer::start_with(tweak).await;
    server.add_user("hamlet").await;
    server.add_user("ophelia").await;
    let hamlet = server.login("hamlet", "denmark").await;
    let ophelia = server.login("ophelia", "river").await;
    (server, hamlet, ophelia)
}

const PREFS: &str = "<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>";

#[tokio::test]
async fn store_and_retrieve() {
    let (_server, mut hamlet, mut ophelia) = two_users(|_| {}).await;
    let reply =
        iq(&mut hamlet, "1", &format!("<iq type='set' id='1'><query xmlns='{PRIVATE}'>{PREFS}</query></iq>")).await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    assert!(reply.children.is_empty());

    let get = format!("<iq type='get' id='2'><query xmlns='{PRIVATE}'><exodus xmlns='exodus:prefs'/></query></iq>");
    assert_eq!(stored(&iq(&mut hamlet, "2", &get).await), [parse(PREFS)]);

    // Same namespace, other name: a different document, never stored.
    let reply = iq(
        &mut hamlet,
        "3",
        &format!("<iq type='get' id='3'><query xmlns='{PRIVATE}'><other xmlns='exodus:prefs'/></query></iq>"),
    )
    .await;
    assert_eq!(stored(&reply), [Element::new("other", "exodus:prefs")]);

    // Ophelia's storage is her own: the same query finds nothing there.
    assert_eq!(stored(&iq(&mut ophelia, "2", &get).await), [Element::new("exodus", "exodus:prefs")]);

    // A set replaces the document.
    let newer = "<exodus xmlns='exodus:prefs'><defaultnick>Prince</defaultnick></exodus>";
    iq(&mut hamlet, "4", &format!("<iq type='set' id='4'><query xmlns='{PRIVATE}'>{newer}</query></iq>")).await;
    assert_eq!(stored(&iq(&mut hamlet, "2", &get).await), [parse(newer)]);
}

#[tokio::test]
async fn a_set_may_carry_several_elements() {
    let (_server, mut hamlet, _ophelia) = two_users(|_| {}).await;
    let a1 = "<a xmlns='urn:example:p'>1</a>";
    let a2 = "<a xmlns='urn:example:p'>2</a>";
    let b = "<b xmlns='urn:example:p'>3</b>";
    let reply =
        iq(&mut hamlet, "1", &format!("<iq type='set' id='1'><query xmlns='{PRIVATE}'>{a1}{b}{a2}</query></iq>")).await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    let get_a = format!("<iq type='get' id='2'><query xmlns='{PRIVATE}'><a xmlns='urn:example:p'/></query></iq>");
    assert_eq!(stored(&iq(&mut hamlet, "2", &get_a).await), [parse(a1), parse(a2)]);
    let get_b = format!("<iq type='get' id='3'><query xmlns='{PRIVATE}'><b xmlns='urn:example:p'/></query></iq>");
    assert_eq!(stored(&iq(&mut hamlet, "3", &get_b).await), [parse(b)]);
}

#[tokio::test]
async fn nobody_else_may_read_or_write() {
    let (_server, mut hamlet, mut ophelia) = two_users(|_| {}).await;
    for (id, kind) in [("1", "set"), ("2", "get")] {
        let reply = iq(
            &mut ophelia,
            id,
            &format!("<iq type='{kind}' id='{id}' to='hamlet@localhost'><query xmlns='{PRIVATE}'>{PREFS}</query></iq>"),
        )
        .await;
        assert_eq!(error_condition(&reply).as_deref(), Some("forbidden"), "{kind}");
    }
    let reply = iq(
        &mut hamlet,
        "3",
        &format!("<iq type='get' id='3' to='localhost'><query xmlns='{PRIVATE}'>{PREFS}</query></iq>"),
    )
    .await;
    assert_eq!(error_condition(&reply).as_deref(), Some("forbidden"));
}

#[tokio::test]
async fn malformed_requests() {
    let (_server, mut hamlet, _ophelia) = two_users(|_| {}).await;
    // §2.3: no child, or one without a namespace of its own: not-acceptable.
    for (id, kind, inner) in [
        ("1", "set", ""),
        ("2", "get", ""),
        ("3", "set", "<defaultnick>Hamlet</defaultnick>"),
        ("4", "set", "<query xmlns='jabber:iq:private'/>"),
    ] {
        let reply =
            iq(&mut hamlet, id, &format!("<iq type='{kind}' id='{id}'><query xmlns='{PRIVATE}'>{inner}</query></iq>"))
                .await;
        assert_eq!(error_condition(&reply).as_deref(), Some("not-acceptable"), "{inner}");
    }
    // §2.3: one namespace per get.
    let reply = iq(
        &mut hamlet,
        "5",
        &format!("<iq type='get' id='5'><query xmlns='{PRIVATE}'><a xmlns='urn:a'/><b xmlns='urn:b'/></query></iq>"),
    )
    .await;
    assert_eq!(error_condition(&reply).as_deref(), Some("bad-request"));
}

#[tokio::test]
async fn documents_beyond_the_size_limit_are_refused() {
    let (_server, mut hamlet, _ophelia) = two_users(|c| c.private.max_bytes = 200).await;
    let big = format!("<big xmlns='urn:example:big'>{}</big>", "x".repeat(300));
    let reply =
        iq(&mut hamlet, "1", &format!("<iq type='set' id='1'><query xmlns='{PRIVATE}'>{big}</query></iq>")).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("not-acceptable"));
    let reply = iq(
        &mut hamlet,
        "2",
        &format!("<iq type='get' id='2'><query xmlns='{PRIVATE}'><big xmlns='urn:example:big'/></query></iq>"),
    )
    .await;
    assert_eq!(stored(&reply), [Element::new("big", "urn:example:big")]);
}
