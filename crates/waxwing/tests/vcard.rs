//! XEP-0054 vcard-temp and the XEP-0153 avatar hash the server adds to
//! presence.

mod support;

use std::time::Duration;

use support::*;
use waxwing_xml::Element;

const VCARD: &str = "vcard-temp";
const UPDATE: &str = "vcard-temp:x:update";

const ROMEO_VCARD: &str = "<vCard xmlns='vcard-temp'><FN>Romeo Montague</FN>\
    <N><FAMILY>Montague</FAMILY><GIVEN>Romeo</GIVEN><MIDDLE/><PREFIX/><SUFFIX/></N></vCard>";

/// A vCard whose photo is the three bytes "abc" (base64 `YWJj`, split over
/// lines as clients do): its SHA-1 is the RFC 3174 test vector.
const PHOTO_VCARD: &str = "<vCard xmlns='vcard-temp'><FN>Juliet</FN>\
    <PHOTO><TYPE>image/png</TYPE><BINVAL>YW\nJj</BINVAL></PHOTO></vCard>";
const ABC_SHA1: &str = "a9993e364706816aba3e25717850c26c9cd0d89d";

async fn iq(client: &mut Client, id: &str, xml: &str) -> Element {
    client.send(xml).await;
    let reply = client.stanza().await;
    assert_eq!(reply.attr("id"), Some(id), "reply to another request: {reply}");
    reply
}

fn parse(xml: &str) -> Element {
    waxwing_xml::parse_element(xml, NS_CLIENT).unwrap()
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
async fn set_then_read_by_owner_and_by_anyone() {
    let (_server, mut romeo, mut juliet) = two_users().await;
    let reply = iq(&mut romeo, "v1", &format!("<iq type='set' id='v1'>{ROMEO_VCARD}</iq>")).await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    assert!(reply.children.is_empty(), "{reply}");

    let reply = iq(&mut romeo, "v2", "<iq type='get' id='v2'><vCard xmlns='vcard-temp'/></iq>").await;
    assert_eq!(reply.attr("type"), Some("result"));
    assert_eq!(reply.get_child("vCard", VCARD), Some(&parse(ROMEO_VCARD)));

    // XEP-0054 §3.3: the server answers for Romeo, from his bare JID.
    let reply =
        iq(&mut juliet, "v3", "<iq type='get' id='v3' to='romeo@localhost'><vCard xmlns='vcard-temp'/></iq>").await;
    assert_eq!(reply.attr("from"), Some("romeo@localhost"));
    assert_eq!(reply.get_child("vCard", VCARD), Some(&parse(ROMEO_VCARD)));
}

#[tokio::test]
async fn missing_vcards() {
    let (_server, mut romeo, _juliet) = two_users().await;
    // §3.1: one's own may come back empty…
    let reply = iq(&mut romeo, "m1", "<iq type='get' id='m1'><vCard xmlns='vcard-temp'/></iq>").await;
    assert_eq!(reply.attr("type"), Some("result"));
    assert_eq!(reply.get_child("vCard", VCARD), Some(&Element::new("vCard", VCARD)));
    // …§3.3: someone else's is an error, and so is a nonexistent account's.
    let reply =
        iq(&mut romeo, "m2", "<iq type='get' id='m2' to='juliet@localhost'><vCard xmlns='vcard-temp'/></iq>").await;
    assert_eq!(error_condition(&reply).as_deref(), Some("item-not-found"));
    let reply =
        iq(&mut romeo, "m3", "<iq type='get' id='m3' to='nobody@localhost'><vCard xmlns='vcard-temp'/></iq>").await;
    assert_eq!(error_condition(&reply).as_deref(), Some("service-unavailable"));
}

#[tokio::test]
async fn only_the_owner_may_set() {
    let (_server, mut romeo, mut juliet) = two_users().await;
    let reply = iq(&mut juliet, "f1", &format!("<iq type='set' id='f1' to='romeo@localhost'>{ROMEO_VCARD}</iq>")).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("forbidden"));
    let reply = iq(&mut juliet, "f2", &format!("<iq type='set' id='f2' to='localhost'>{ROMEO_VCARD}</iq>")).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("forbidden"));
    // An explicit `to` of one's own bare JID is one's own vCard.
    let reply = iq(&mut romeo, "f3", &format!("<iq type='set' id='f3' to='romeo@localhost'>{ROMEO_VCARD}</iq>")).await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    let reply =
        iq(&mut juliet, "f4", "<iq type='get' id='f4' to='romeo@localhost'><vCard xmlns='vcard-temp'/></iq>").await;
    assert_eq!(reply.get_child("vCard", VCARD), Some(&parse(ROMEO_VCARD)));
}

#[tokio::test]
async fn oversized_vcard_is_refused_and_the_old_one_kept() {
    let server = TestServer::start_with(|c| c.vcard.max_bytes = 300).await;
    server.add_user("romeo").await;
    let mut romeo = server.login("romeo", "garden").await;
    iq(&mut romeo, "s1", &format!("<iq type='set' id='s1'>{ROMEO_VCARD}</iq>")).await;
    let big = format!("<vCard xmlns='vcard-temp'><DESC>{}</DESC></vCard>", "x".repeat(400));
    let reply = iq(&mut romeo, "s2", &format!("<iq type='set' id='s2'>{big}</iq>")).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("not-acceptable"));
    let reply = iq(&mut romeo, "s3", "<iq type='get' id='s3'><vCard xmlns='vcard-temp'/></iq>").await;
    assert_eq!(reply.get_child("vCard", VCARD), Some(&parse(ROMEO_VCARD)));
}

#[tokio::test]
async fn setting_an_empty_vcard_removes_it() {
    let (_server, mut romeo, mut juliet) = two_users().await;
    iq(&mut romeo, "e1", &format!("<iq type='set' id='e1'>{ROMEO_VCARD}</iq>")).await;
    let reply = iq(&mut romeo, "e2", "<iq type='set' id='e2'><vCard xmlns='vcard-temp'/></iq>").await;
    assert_eq!(reply.attr("type"), Some("result"));
    let reply =
        iq(&mut juliet, "e3", "<iq type='get' id='e3' to='romeo@localhost'><vCard xmlns='vcard-temp'/></iq>").await;
    assert_eq!(error_condition(&reply).as_deref(), Some("item-not-found"));
}

/// The `<photo/>` of the update element in `presence`, if any.
fn photo(presence: &Element) -> Option<String> {
    presence.get_child("x", UPDATE).map(|x| x.get_child("photo", UPDATE).expect("photo element").text())
}

#[tokio::test]
async fn presence_carries_the_avatar_hash() {
    let (_server, mut romeo, mut juliet) = two_users().await;
    // Directed presence reaches Romeo through the router whatever the
    // presence module does with broadcasts; the hook has run by then.
    let directed = "<presence to='romeo@localhost/garden'/>";

    // No vCard yet: an empty photo says "no avatar" (XEP-0153 §4.1 rule 3).
    juliet.send(directed).await;
    assert_eq!(photo(&romeo.stanza().await), Some(String::new()));

    let reply = iq(&mut juliet, "p1", &format!("<iq type='set' id='p1'>{PHOTO_VCARD}</iq>")).await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    juliet.send(directed).await;
    let presence = romeo.stanza().await;
    assert_eq!(presence.attr("from"), Some("juliet@localhost/balcony"));
    assert_eq!(photo(&presence), Some(ABC_SHA1.to_string()));
    assert_eq!(presence.elements().filter(|e| e.is("x", UPDATE)).count(), 1);

    // A client that speaks XEP-0153 itself is left alone.
    juliet.send("<presence to='romeo@localhost/garden'><x xmlns='vcard-temp:x:update'/></presence>").await;
    let presence = romeo.stanza().await;
    let x = presence.get_child("x", UPDATE).unwrap();
    assert!(x.children.is_empty(), "{presence}");

    // Unavailable presence carries no avatar.
    juliet.send("<presence to='romeo@localhost/garden' type='unavailable'/>").await;
    assert_eq!(photo(&romeo.stanza().await), None);

    // A new vCard without a photo: the hash goes.
    iq(&mut juliet, "p2", "<iq type='set' id='p2'><vCard xmlns='vcard-temp'><FN>J</FN></vCard></iq>").await;
    juliet.send(directed).await;
    assert_eq!(photo(&romeo.stanza().await), Some(String::new()));
    romeo.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn avatar_hash_comes_from_the_stored_vcard_in_a_new_session() {
    let (server, mut romeo, mut juliet) = two_users().await;
    iq(&mut juliet, "p1", &format!("<iq type='set' id='p1'>{PHOTO_VCARD}</iq>")).await;
    juliet.close().await;
    // Give the server time to see the session end and forget its memory of Juliet.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut juliet = server.login("juliet", "chamber").await;
    juliet.send("<presence to='romeo@localhost/garden'/>").await;
    assert_eq!(photo(&romeo.stanza().await), Some(ABC_SHA1.to_string()));
}

#[tokio::test]
async fn broadcast_presence_carries_the_avatar_hash() {
    let (_server, _romeo, mut juliet) = two_users().await;
    iq(&mut juliet, "p1", &format!("<iq type='set' id='p1'>{PHOTO_VCARD}</iq>")).await;
    // RFC 6121 §4.2.2: the server sends Juliet's initial presence back to
    // her own available resources, this one included, as broadcast.
    juliet.send("<presence><status>Hi</status></presence>").await;
    let echoes = juliet.drain(Duration::from_millis(300)).await;
    let own = echoes
        .iter()
        .find(|s| s.name == "presence" && s.attr("from") == Some("juliet@localhost/balcony"))
        .unwrap_or_else(|| panic!("no presence echo in {echoes:?}"));
    assert_eq!(photo(own), Some(ABC_SHA1.to_string()));
}
