//! RFC 6121 §4, presence, over real sockets: initial presence, probes and
//! their answers, broadcast of changes to subscribers and to the account's
//! other resources, unavailable when a session ends however it ends,
//! directed presence, priorities, and presence for JIDs nobody is behind.

mod im;
mod support;

use std::time::Duration;

use im::*;
use support::*;
use waxwing_xml::Element;

const QUIET: Duration = Duration::from_millis(300);

async fn verona() -> TestServer {
    let server = TestServer::start().await;
    for user in ["juliet", "romeo", "nurse", "tybalt", "paris"] {
        server.add_user(user).await;
    }
    server
}

fn presence_from(stanzas: &[Element], from: &str) -> Option<Element> {
    stanzas.iter().find(|s| s.name == "presence" && s.attr("from") == Some(from)).cloned()
}

#[tokio::test]
async fn initial_presence_reaches_subscribers_and_brings_back_what_she_may_see() {
    let server = verona().await;
    relate(&server, "juliet", "romeo", "Both").await;
    // Juliet sees the nurse; the nurse does not see her.
    relate(&server, "juliet", "nurse", "To").await;
    // Tybalt sees Juliet; she does not see him.
    relate(&server, "juliet", "tybalt", "From").await;
    let mut others = Vec::new();
    for (user, resource) in [("romeo", "garden"), ("nurse", "kitchen"), ("tybalt", "street"), ("paris", "church")] {
        others.push(online(&server, user, resource).await);
    }

    let mut juliet = server.login("juliet", "balcony").await;
    juliet.send("<presence><status>On the balcony</status></presence>").await;
    // §4.2.2: her own presence comes back to her first, from her full JID.
    let echo = juliet.stanza().await;
    assert_eq!(
        (echo.name.as_str(), echo.attr("from"), echo.attr("to")),
        ("presence", Some("juliet@localhost/balcony"), None)
    );
    assert_eq!(echo.get_child("status", NS_CLIENT).unwrap().text(), "On the balcony");
    // §4.3: the probes bring the presence of those she is subscribed to, to her full JID.
    let mut seen: Vec<_> = presences(&sync(&mut juliet).await);
    seen.sort();
    assert_eq!(
        seen,
        [
            ("available".to_string(), "nurse@localhost/kitchen".to_string(), "juliet@localhost/balcony".to_string()),
            ("available".into(), "romeo@localhost/garden".into(), "juliet@localhost/balcony".into()),
        ]
    );

    // §4.2.2: her subscribers get it, addressed to their bare JIDs.
    let [romeo, nurse, tybalt, paris] = &mut others[..] else { unreachable!() };
    for (client, bare) in [(&mut *romeo, "romeo@localhost"), (&mut *tybalt, "tybalt@localhost")] {
        let got = presence_from(&sync(client).await, "juliet@localhost/balcony").expect("subscriber gets her presence");
        assert_eq!(got.attr("to"), Some(bare));
        assert_eq!(got.get_child("status", NS_CLIENT).unwrap().text(), "On the balcony");
        assert!(got.get_child("delay", "urn:xmpp:delay").is_none(), "a live broadcast is not delayed");
    }
    for client in [nurse, paris] {
        assert!(presences(&sync(client).await).is_empty());
    }
}

#[tokio::test]
async fn changes_are_broadcast_without_new_probes() {
    let server = verona().await;
    relate(&server, "juliet", "romeo", "Both").await;
    let mut romeo = online(&server, "romeo", "garden").await;
    let mut juliet = online(&server, "juliet", "balcony").await;
    sync(&mut romeo).await;

    juliet.send("<presence><show>away</show></presence>").await;
    let at_juliet = sync(&mut juliet).await;
    assert_eq!(presences(&at_juliet), [("available".into(), "juliet@localhost/balcony".into(), String::new())]);
    let got = presence_from(&sync(&mut romeo).await, "juliet@localhost/balcony").unwrap();
    assert_eq!(got.get_child("show", NS_CLIENT).unwrap().text(), "away");

    // §4.5.2: unavailable, with its status, to the same people.
    juliet.send("<presence type='unavailable'><status>Gone to bed</status></presence>").await;
    assert_eq!(
        presences(&sync(&mut juliet).await),
        [("unavailable".into(), "juliet@localhost/balcony".into(), String::new())]
    );
    let got = presence_from(&sync(&mut romeo).await, "juliet@localhost/balcony").unwrap();
    assert_eq!(got.attr("type"), Some("unavailable"));
    assert_eq!(got.get_child("status", NS_CLIENT).unwrap().text(), "Gone to bed");

    // Available again: that is initial presence again, probes included.
    juliet.send("<presence/>").await;
    let back = presences(&sync(&mut juliet).await);
    assert!(
        back.contains(&("available".into(), "romeo@localhost/garden".into(), "juliet@localhost/balcony".into())),
        "{back:?}"
    );
}

#[tokio::test]
async fn a_session_that_ends_is_unavailable_to_subscribers() {
    let server = verona().await;
    relate(&server, "juliet", "romeo", "From").await;
    let mut romeo = online(&server, "romeo", "garden").await;

    // A clean close.
    let mut juliet = online(&server, "juliet", "balcony").await;
    sync(&mut romeo).await;
    juliet.close().await;
    let gone = romeo.stanza().await;
    assert_eq!(
        (gone.attr("type"), gone.attr("from"), gone.attr("to")),
        (Some("unavailable"), Some("juliet@localhost/balcony"), Some("romeo@localhost"))
    );

    // A connection that just drops (§4.5.3).
    let juliet = online(&server, "juliet", "chamber").await;
    sync(&mut romeo).await;
    drop(juliet);
    let gone = romeo.stanza().await;
    assert_eq!((gone.attr("type"), gone.attr("from")), (Some("unavailable"), Some("juliet@localhost/chamber")));

    // A session replaced by a new one for the same full JID (RFC 6120
    // §7.7.2.2): the old one is gone, whether or not the new one is available.
    let mut old = online(&server, "juliet", "tomb").await;
    sync(&mut romeo).await;
    let _new = server.login("juliet", "tomb").await;
    old.expect_stream_error("conflict").await;
    let gone = romeo.stanza().await;
    assert_eq!((gone.attr("type"), gone.attr("from")), (Some("unavailable"), Some("juliet@localhost/tomb")));

    // A session that never was available has nothing to retract.
    let mut juliet = server.login("juliet", "hall").await;
    juliet.close().await;
    romeo.expect_silence(QUIET).await;
}

#[tokio::test]
async fn an_accounts_resources_share_their_presence() {
    let server = verona().await;
    let mut balcony = online(&server, "juliet", "balcony").await;
    // Bound but never available: sees none of it.
    let mut hall = server.login("juliet", "hall").await;

    let mut chamber = server.login("juliet", "chamber").await;
    chamber.send("<presence><priority>-1</priority></presence>").await;
    let at_chamber = sync(&mut chamber).await;
    assert_eq!(
        presences(&at_chamber),
        [
            // Its own first, then the other available resource's (§4.2.2).
            ("available".to_string(), "juliet@localhost/chamber".to_string(), String::new()),
            ("available".into(), "juliet@localhost/balcony".into(), "juliet@localhost/chamber".into()),
        ]
    );
    let at_balcony = sync(&mut balcony).await;
    let got = presence_from(&at_balcony, "juliet@localhost/chamber").unwrap();
    assert_eq!(got.attr("to"), Some("juliet@localhost/balcony"));
    assert_eq!(got.get_child("priority", NS_CLIENT).unwrap().text(), "-1");
    assert!(sync(&mut hall).await.is_empty());

    // The priority is kept: a message to the bare JID skips the negative one
    // (RFC 6121 §8.5.2.1.1).
    let mut romeo = server.login("romeo", "garden").await;
    romeo.send("<message to='juliet@localhost' type='chat'><body>Hist!</body></message>").await;
    sync(&mut romeo).await;
    assert_eq!(sync(&mut balcony).await.iter().filter(|s| s.name == "message").count(), 1);
    assert!(sync(&mut chamber).await.is_empty());

    // Unavailable reaches the other available resources too.
    chamber.send("<presence type='unavailable'/>").await;
    sync(&mut chamber).await;
    let got = presence_from(&sync(&mut balcony).await, "juliet@localhost/chamber").unwrap();
    assert_eq!(got.attr("type"), Some("unavailable"));
}

#[tokio::test]
async fn directed_presence_is_retracted_when_the_session_ends() {
    let server = verona().await;
    let mut paris = online(&server, "paris", "church").await;
    let mut tybalt = online(&server, "tybalt", "street").await;
    let mut juliet = online(&server, "juliet", "balcony").await;

    // §4.6: neither is a contact; both get what she sends them.
    juliet.send("<presence to='paris@localhost'><status>For you</status></presence>").await;
    juliet.send("<presence to='tybalt@localhost/street'/>").await;
    sync(&mut juliet).await;
    assert_eq!(
        presences(&sync(&mut paris).await),
        [("available".into(), "juliet@localhost/balcony".into(), "paris@localhost".into())]
    );
    assert_eq!(
        presences(&sync(&mut tybalt).await),
        [("available".into(), "juliet@localhost/balcony".into(), "tybalt@localhost/street".into())]
    );
    // A directed unavailable ends it for Tybalt (§4.6.3).
    juliet.send("<presence type='unavailable' to='tybalt@localhost/street'/>").await;
    sync(&mut juliet).await;
    assert_eq!(presences(&sync(&mut tybalt).await)[0].0, "unavailable");
    // Later broadcasts are not for directed recipients.
    juliet.send("<presence><show>dnd</show></presence>").await;
    sync(&mut juliet).await;
    assert!(sync(&mut paris).await.is_empty());

    juliet.close().await;
    let gone = paris.stanza().await;
    assert_eq!((gone.attr("type"), gone.attr("from")), (Some("unavailable"), Some("juliet@localhost/balcony")));
    tybalt.expect_silence(QUIET).await;

    // Also when she never broadcast any presence.
    let mut juliet = server.login("juliet", "garden").await;
    juliet.send("<presence to='paris@localhost'/>").await;
    sync(&mut juliet).await;
    assert_eq!(presences(&sync(&mut paris).await).len(), 1);
    juliet.close().await;
    let gone = paris.stanza().await;
    assert_eq!((gone.attr("type"), gone.attr("from")), (Some("unavailable"), Some("juliet@localhost/garden")));
}

#[tokio::test]
async fn probes_are_answered_according_to_the_subscription() {
    let server = verona().await;
    relate(&server, "juliet", "romeo", "Both").await;
    let mut romeo = online(&server, "romeo", "garden").await;

    // §4.3.2: subscribed, and she is offline: unavailable from her bare JID.
    romeo.send("<presence type='probe' to='juliet@localhost'/>").await;
    assert_eq!(
        presences(&sync(&mut romeo).await),
        [("unavailable".into(), "juliet@localhost".into(), "romeo@localhost/garden".into())]
    );

    // Online: her resource's presence, to the full JID that asked.
    let _juliet = online(&server, "juliet", "balcony").await;
    sync(&mut romeo).await;
    romeo.send("<presence type='probe' to='juliet@localhost'/>").await;
    let answer = sync(&mut romeo).await;
    assert_eq!(
        presences(&answer),
        [("available".into(), "juliet@localhost/balcony".into(), "romeo@localhost/garden".into())]
    );
    // Presence sent again later says when it was sent (XEP-0203).
    let delay = answer[0].get_child("delay", "urn:xmpp:delay").expect("a delay stamp");
    assert_eq!(delay.attr("from"), Some("localhost"));

    // Not subscribed: nothing is revealed.
    let mut paris = online(&server, "paris", "church").await;
    paris.send("<presence type='probe' to='juliet@localhost'/>").await;
    assert!(sync(&mut paris).await.is_empty());
    // A prober that thinks it is subscribed learns that it is not (the
    // "unsubscribed" answer fixes its roster).
    set_state(&server, "paris", "juliet", "To").await;
    paris.send("<presence type='probe' to='juliet@localhost'/>").await;
    let answer = sync(&mut paris).await;
    assert_eq!(presences(&answer), [("unsubscribed".into(), "juliet@localhost".into(), "paris@localhost".into())]);
    assert_eq!(state_name(&server, "paris", "juliet").await, "None");
    // No such account: no answer at all (§8.5.1).
    paris.send("<presence type='probe' to='ghost@localhost'/>").await;
    assert!(sync(&mut paris).await.is_empty());
}

#[tokio::test]
async fn presence_for_a_bare_jid_reaches_its_available_resources_only() {
    let server = verona().await;
    let mut balcony = online(&server, "juliet", "balcony").await;
    let mut chamber = online(&server, "juliet", "chamber").await;
    sync(&mut balcony).await;
    let mut hall = server.login("juliet", "hall").await;
    let mut romeo = online(&server, "romeo", "garden").await;

    romeo.send("<presence to='juliet@localhost'><status>Below</status></presence>").await;
    sync(&mut romeo).await;
    for client in [&mut balcony, &mut chamber] {
        assert_eq!(
            presences(&sync(client).await),
            [("available".into(), "romeo@localhost/garden".into(), "juliet@localhost".into())]
        );
    }
    assert!(sync(&mut hall).await.is_empty());

    // §8.5.3.2.1: to a full JID nobody is bound to, presence is dropped;
    // so is presence for an account that does not exist (§8.5.1), quietly.
    romeo.send("<presence to='juliet@localhost/nowhere'/>").await;
    romeo.send("<presence to='ghost@localhost'/>").await;
    romeo.send("<presence type='subscribe' to='ghost@localhost/x'/>").await;
    let at_romeo = sync(&mut romeo).await;
    assert!(at_romeo.iter().all(|s| s.attr("type") != Some("error")), "{at_romeo:?}");
    for client in [&mut balcony, &mut chamber, &mut hall] {
        assert!(sync(client).await.is_empty());
    }
}

#[tokio::test]
async fn an_undefined_presence_type_is_a_bad_request() {
    let server = verona().await;
    let mut juliet = online(&server, "juliet", "balcony").await;
    let mut romeo = online(&server, "romeo", "garden").await;
    juliet.send("<presence type='invisible' id='p1'/>").await;
    juliet.send("<presence type='invisible' to='romeo@localhost' id='p2'/>").await;
    let errors = sync(&mut juliet).await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    for (error, id) in errors.iter().zip(["p1", "p2"]) {
        assert_eq!((error.attr("type"), error.attr("id")), (Some("error"), Some(id)));
        assert_eq!(error_condition(error).as_deref(), Some("bad-request"));
    }
    assert!(sync(&mut romeo).await.is_empty());
}
