//! RFC 6121 §2, the roster, over real sockets: get, set and remove, pushes
//! to interested resources, versioning that survives a restart, the §2.3.3
//! errors and the configured limits, and what removing a contact does to the
//! subscriptions (§2.5.2).

mod im;
mod support;

use std::time::Duration;

use im::*;
use support::*;

async fn juliet_server() -> TestServer {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    server
}

#[tokio::test]
async fn set_update_and_remove_push_to_every_interested_resource() {
    let server = juliet_server().await;
    let mut balcony = server.login("juliet", "balcony").await;
    let mut chamber = server.login("juliet", "chamber").await;
    // This one never asks for the roster, so it is not interested (§2.1.6).
    let mut hall = server.login("juliet", "hall").await;
    let empty = roster_get(&mut balcony, None).await.unwrap();
    assert_eq!((empty.attr("ver"), empty.elements().count()), (Some("0"), 0));
    roster_get(&mut chamber, None).await.unwrap();

    // Add: the result comes first, then the push (§2.3.2), to both interested resources.
    balcony.send("<iq type='set' id='add'><query xmlns='jabber:iq:roster'><item jid='Nurse@localhost' name='Nurse'><group>Servants</group><group>Verona</group></item></query></iq>").await;
    let result = balcony.stanza().await;
    assert_eq!((result.attr("type"), result.attr("id")), (Some("result"), Some("add")));
    assert!(result.elements().next().is_none(), "a roster set result is empty: {result}");
    for client in [&mut balcony, &mut chamber] {
        let stanzas = settle(client).await;
        let pushes = pushes(&stanzas);
        assert_eq!(pushes.len(), 1, "{stanzas:?}");
        let (ver, item) = &pushes[0];
        assert_eq!(ver, "1");
        assert_eq!(item.attr("jid"), Some("nurse@localhost"));
        assert_eq!(
            (item.attr("name"), item.attr("subscription"), item.attr("ask")),
            (Some("Nurse"), Some("none"), None)
        );
        let groups: Vec<String> = item.elements().map(|g| g.text()).collect();
        assert_eq!(groups, ["Servants", "Verona"]);
    }
    hall.expect_silence(Duration::from_millis(300)).await;

    // Update: name and groups are replaced as sent (§2.4.1).
    let reply = roster_set(&mut chamber, "<item jid='nurse@localhost' name='Angelica'/>").await;
    assert_eq!(reply.attr("type"), Some("result"));
    let query = roster_get(&mut balcony, None).await.unwrap();
    assert_eq!(query.attr("ver"), Some("2"));
    let items: Vec<_> = query.elements().collect();
    assert_eq!(items.len(), 1);
    assert_eq!((items[0].attr("name"), items[0].elements().count()), (Some("Angelica"), 0));
    let pushed = pushes(&settle(&mut chamber).await);
    assert_eq!(pushed.len(), 1);
    assert_eq!((pushed[0].0.as_str(), pushed[0].1.attr("name")), ("2", Some("Angelica")));

    // Remove: a push with subscription='remove' (§2.5.2).
    let reply = roster_set(&mut balcony, "<item jid='nurse@localhost' subscription='remove'/>").await;
    assert_eq!(reply.attr("type"), Some("result"));
    for client in [&mut balcony, &mut chamber] {
        let pushed = pushes(&settle(client).await);
        let versions_and_items: Vec<_> = pushed
            .iter()
            .map(|(v, i)| (v.clone(), i.attr("jid").map(String::from), i.attr("subscription").map(String::from)))
            .collect();
        assert_eq!(
            versions_and_items.last().unwrap(),
            &("3".into(), Some("nurse@localhost".into()), Some("remove".into()))
        );
    }
    assert_eq!(roster_get(&mut balcony, None).await.unwrap().elements().count(), 0);
    hall.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn versions_answer_up_to_date_clients_with_nothing_and_survive_a_restart() {
    let mut server = juliet_server().await;
    let mut juliet = server.login("juliet", "balcony").await;
    for contact in ["nurse", "tybalt"] {
        let reply = roster_set(&mut juliet, &format!("<item jid='{contact}@localhost'/>")).await;
        assert_eq!(reply.attr("type"), Some("result"));
    }
    // §2.6.3: the client's version is current: an empty result.
    let (reply, _) = iq(&mut juliet, "get", None, "<query xmlns='jabber:iq:roster' ver='2'/>").await;
    assert_eq!(reply.attr("type"), Some("result"));
    assert!(reply.elements().next().is_none(), "expected an empty result, got {reply}");
    // An older version, or none: the whole roster and its version.
    for ver in [Some("1"), Some(""), None] {
        let query = roster_get(&mut juliet, ver).await.unwrap();
        assert_eq!((query.attr("ver"), query.elements().count()), (Some("2"), 2), "ver {ver:?}");
    }
    juliet.close().await;

    server.restart().await;
    let mut juliet = server.login("juliet", "balcony").await;
    assert!(roster_get(&mut juliet, Some("2")).await.is_none(), "the version is the same after a restart");
    roster_set(&mut juliet, "<item jid='romeo@localhost'/>").await;
    let pushed = pushes(&settle(&mut juliet).await);
    assert_eq!(pushed[0].0, "3", "versions go on from where they were");
}

#[tokio::test]
async fn malformed_roster_sets_get_the_rfc_errors_and_change_nothing() {
    let server = TestServer::start_with(|config| {
        config.roster.max_items = 2;
        config.roster.max_text_bytes = 10;
        config.roster.max_groups = 2;
    })
    .await;
    server.add_user("juliet").await;
    let mut juliet = server.login("juliet", "balcony").await;
    roster_get(&mut juliet, None).await;
    let cases = [
        // §2.3.3
        ("<item jid='a@localhost'/><item jid='b@localhost'/>", "bad-request"),
        ("", "bad-request"),
        ("<item jid='a@localhost'><group>G</group><group>G</group></item>", "bad-request"),
        ("<item jid='a@localhost'><group></group></item>", "not-acceptable"),
        ("<item jid='a@localhost'><group>0123456789a</group></item>", "not-acceptable"),
        ("<item jid='a@localhost' name='0123456789a'/>", "not-acceptable"),
        // Configured limits.
        ("<item jid='a@localhost'><group>1</group><group>2</group><group>3</group></item>", "not-acceptable"),
        // The item's JID.
        ("<item jid='@localhost'/>", "jid-malformed"),
        ("<item/>", "bad-request"),
        ("<item jid='a@localhost/phone'/>", "bad-request"),
        ("<item jid='juliet@localhost'/>", "not-allowed"),
        // §2.5.3
        ("<item jid='a@localhost' subscription='remove'/>", "item-not-found"),
    ];
    for (items, condition) in cases {
        let (reply, _) =
            iq(&mut juliet, "set", None, &format!("<query xmlns='jabber:iq:roster'>{items}</query>")).await;
        assert_eq!(reply.attr("type"), Some("error"), "{items}");
        assert_eq!(error_condition(&reply).as_deref(), Some(condition), "{items}");
    }
    // Exactly the limit is fine; one more item is not allowed.
    for contact in ["a", "b"] {
        let reply = roster_set(&mut juliet, &format!("<item jid='{contact}@localhost' name='0123456789'/>")).await;
        assert_eq!(reply.attr("type"), Some("result"));
    }
    let reply = roster_set(&mut juliet, "<item jid='c@localhost'/>").await;
    assert_eq!(error_condition(&reply).as_deref(), Some("not-allowed"));
    // An existing item can still be updated when the roster is full.
    let reply = roster_set(&mut juliet, "<item jid='a@localhost'><group>1</group><group>2</group></item>").await;
    assert_eq!(reply.attr("type"), Some("result"));
    // Only the three good sets changed anything.
    let query = roster_get(&mut juliet, None).await.unwrap();
    assert_eq!((query.attr("ver"), query.elements().count()), (Some("3"), 2));
}

#[tokio::test]
async fn subscription_ask_and_approved_are_not_the_clients_to_set() {
    let server = juliet_server().await;
    let mut juliet = server.login("juliet", "balcony").await;
    let reply =
        roster_set(&mut juliet, "<item jid='romeo@localhost' subscription='both' ask='subscribe' approved='true'/>")
            .await;
    assert_eq!(reply.attr("type"), Some("result"));
    let query = roster_get(&mut juliet, None).await.unwrap();
    let item = query.elements().next().unwrap();
    assert_eq!((item.attr("subscription"), item.attr("ask"), item.attr("approved")), (Some("none"), None, None));
    // An update keeps the subscription state the server keeps.
    relate(&server, "juliet", "romeo", "Both").await;
    roster_set(&mut juliet, "<item jid='romeo@localhost' name='Romeo' subscription='none'/>").await;
    let query = roster_get(&mut juliet, None).await.unwrap();
    let item = query.elements().next().unwrap();
    assert_eq!((item.attr("name"), item.attr("subscription")), (Some("Romeo"), Some("both")));
}

#[tokio::test]
async fn another_accounts_roster_is_forbidden() {
    let server = juliet_server().await;
    let mut romeo = server.login("romeo", "garden").await;
    for (kind, payload) in [
        ("get", "<query xmlns='jabber:iq:roster'/>"),
        ("set", "<query xmlns='jabber:iq:roster'><item jid='paris@localhost'/></query>"),
    ] {
        let (reply, _) = iq(&mut romeo, kind, Some("juliet@localhost"), payload).await;
        assert_eq!(error_condition(&reply).as_deref(), Some("forbidden"), "{kind}");
    }
    assert!(stored_item(&server, "juliet", "paris").await.is_none());
}

#[tokio::test]
async fn stream_features_announce_versioning_and_pre_approval() {
    let server = juliet_server().await;
    let juliet = server.login("juliet", "balcony").await;
    let features = juliet.features.unwrap();
    assert!(features.get_child("ver", "urn:xmpp:features:rosterver").is_some(), "{features}");
    assert!(features.get_child("sub", "urn:xmpp:features:pre-approval").is_some(), "{features}");
}

#[tokio::test]
async fn removing_a_contact_cancels_both_subscriptions() {
    let server = juliet_server().await;
    relate(&server, "juliet", "romeo", "Both").await;
    let mut romeo = server.login("romeo", "garden").await;
    roster_get(&mut romeo, None).await;
    romeo.send("<presence/>").await;
    let mut juliet = server.login("juliet", "balcony").await;
    roster_get(&mut juliet, None).await;
    juliet.send("<presence/>").await;
    settle(&mut juliet).await;
    settle(&mut romeo).await;

    let reply = roster_set(&mut juliet, "<item jid='romeo@localhost' subscription='remove'/>").await;
    assert_eq!(reply.attr("type"), Some("result"));
    let at_juliet = settle(&mut juliet).await;
    let removal = pushes(&at_juliet);
    assert_eq!(removal.len(), 1);
    assert_eq!(removal[0].1.attr("subscription"), Some("remove"));
    // §3.3.3: Romeo's server takes Romeo's presence back from her.
    assert_eq!(
        presences(&at_juliet),
        [("unavailable".into(), "romeo@localhost/garden".into(), "juliet@localhost".into())]
    );

    // §2.5.2: Romeo is told both subscriptions ended, and Juliet goes
    // offline for him (directed at him, scansion's issue1121).
    let at_romeo = settle(&mut romeo).await;
    assert_eq!(
        presences(&at_romeo),
        [
            ("unsubscribe".into(), "juliet@localhost".into(), "romeo@localhost".into()),
            ("unsubscribed".into(), "juliet@localhost".into(), "romeo@localhost".into()),
            ("unavailable".into(), "juliet@localhost/balcony".into(), "romeo@localhost".into()),
        ]
    );
    let subscriptions: Vec<_> =
        pushes(&at_romeo).iter().map(|(_, i)| i.attr("subscription").unwrap().to_string()).collect();
    assert_eq!(subscriptions, ["to", "none"]);
    assert!(stored_item(&server, "juliet", "romeo").await.is_none());
    assert_eq!(state_name(&server, "romeo", "juliet").await, "None");
}
