//! XEP-0030 service discovery of the server and of accounts, XEP-0128
//! extension forms (XEP-0157 contact addresses), and the XEP-0115 caps hash
//! in the stream features.

mod support;

use support::*;
use waxwing_store::{RosterItem, Subscription};
use waxwing_xml::Element;

const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
const DATA_FORMS: &str = "jabber:x:data";
const CAPS: &str = "http://jabber.org/protocol/caps";

fn features(query: &Element) -> Vec<String> {
    query.elements().filter(|e| e.is("feature", DISCO_INFO)).filter_map(|e| e.attr("var")).map(String::from).collect()
}

fn identities(query: &Element) -> Vec<(String, String, String, String)> {
    query
        .elements()
        .filter(|e| e.is("identity", DISCO_INFO))
        .map(|e| {
            let attr = |name: &str| e.attr(name).unwrap_or_default().to_string();
            (attr("category"), attr("type"), attr("xml:lang"), attr("name"))
        })
        .collect()
}

fn forms(query: &Element) -> Vec<Element> {
    query.elements().filter(|e| e.is("x", DATA_FORMS)).cloned().collect()
}

/// Sends an iq and returns the reply, checking it answers our id.
async fn iq(client: &mut Client, id: &str, xml: &str) -> Element {
    client.send(xml).await;
    let reply = client.stanza().await;
    assert_eq!(reply.attr("id"), Some(id), "reply to another request: {reply}");
    reply
}

fn result_query(reply: &Element, ns: &str) -> Element {
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    reply.get_child("query", ns).unwrap_or_else(|| panic!("no query in {reply}")).clone()
}

async fn add_contact(server: &TestServer, user: &str, contact: &str, subscription: Subscription) {
    let item = RosterItem {
        contact: contact.to_string(),
        name: None,
        subscription,
        ask_subscribe: false,
        approved: false,
        groups: Vec::new(),
    };
    server.running().server.store.roster().put("localhost", user, &item).await.unwrap();
}

#[tokio::test]
async fn server_info_lists_identity_and_exactly_the_enabled_modules_features() {
    let server = TestServer::start_with(|c| c.modules = Some(vec!["disco".into(), "ping".into()])).await;
    server.add_user("juliet").await;
    let mut juliet = server.login("juliet", "balcony").await;
    let reply =
        iq(&mut juliet, "i1", &format!("<iq type='get' id='i1' to='localhost'><query xmlns='{DISCO_INFO}'/></iq>"))
            .await;
    assert_eq!(reply.attr("from"), Some("localhost"));
    let query = result_query(&reply, DISCO_INFO);
    assert_eq!(identities(&query), [("server".into(), "im".into(), String::new(), "Waxwing".into())]);
    let mut got = features(&query);
    got.sort();
    assert_eq!(got, [DISCO_INFO, DISCO_ITEMS, "urn:xmpp:ping"]);
    assert!(forms(&query).is_empty(), "no contact addresses configured: {query}");
}

#[tokio::test]
async fn server_info_with_all_modules_has_each_feature_once() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    let mut juliet = server.login("juliet", "balcony").await;
    let reply =
        iq(&mut juliet, "i1", &format!("<iq type='get' id='i1' to='localhost'><query xmlns='{DISCO_INFO}'/></iq>"))
            .await;
    let got = features(&result_query(&reply, DISCO_INFO));
    for feature in [
        DISCO_INFO,
        DISCO_ITEMS,
        "jabber:iq:version",
        "urn:xmpp:time",
        "jabber:iq:last",
        "vcard-temp",
        "jabber:iq:private",
    ] {
        assert_eq!(got.iter().filter(|f| *f == feature).count(), 1, "{feature} in {got:?}");
    }
    let expected: Vec<String> = server.running().server.disco_features().iter().map(|f| f.to_string()).collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn contact_addresses_are_an_extension_form_in_server_info() {
    let server = TestServer::start_with(|c| {
        c.contact_info.abuse = vec!["mailto:abuse@localhost".into(), "xmpp:abuse@localhost".into()];
        c.contact_info.support = vec!["https://localhost/support.html".into()];
    })
    .await;
    server.add_user("juliet").await;
    let mut juliet = server.login("juliet", "balcony").await;
    let reply =
        iq(&mut juliet, "i1", &format!("<iq type='get' id='i1' to='localhost'><query xmlns='{DISCO_INFO}'/></iq>"))
            .await;
    let forms = forms(&result_query(&reply, DISCO_INFO));
    assert_eq!(forms.len(), 1);
    assert_eq!(forms[0].attr("type"), Some("result"));
    let fields: Vec<(String, String, Vec<String>)> = forms[0]
        .elements()
        .map(|f| {
            let values = f.elements().map(|v| v.text()).collect();
            (f.attr("var").unwrap().to_string(), f.attr("type").unwrap().to_string(), values)
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("FORM_TYPE".into(), "hidden".into(), vec!["http://jabber.org/network/serverinfo".to_string()]),
            (
                "abuse-addresses".into(),
                "list-multi".into(),
                vec!["mailto:abuse@localhost".to_string(), "xmpp:abuse@localhost".to_string()]
            ),
            ("support-addresses".into(), "list-multi".into(), vec!["https://localhost/support.html".to_string()]),
        ]
    );
}

/// The `ver` a client would compute from a disco#info answer (XEP-0115 §5.4).
fn ver_of(query: &Element) -> String {
    let ids = identities(query);
    let ids: Vec<(&str, &str, &str, &str)> =
        ids.iter().map(|(c, t, l, n)| (c.as_str(), t.as_str(), l.as_str(), n.as_str())).collect();
    let features = features(query);
    let features: Vec<&str> = features.iter().map(String::as_str).collect();
    waxwing_modules::disco::caps_ver(&ids, &features, &forms(query))
}

#[tokio::test]
async fn caps_in_stream_features_hash_the_disco_info_answer() {
    let server = TestServer::start_with(|c| c.contact_info.admin = vec!["xmpp:admin@localhost".into()]).await;
    server.add_user("juliet").await;
    let mut juliet = server.login("juliet", "balcony").await;
    let c = juliet.features.as_ref().unwrap().get_child("c", CAPS).expect("caps in the stream features").clone();
    assert_eq!(c.attr("hash"), Some("sha-1"));
    let node = c.attr("node").unwrap();
    assert!(node.starts_with("https://"), "{node}");
    let ver = c.attr("ver").unwrap();

    let reply =
        iq(&mut juliet, "i1", &format!("<iq type='get' id='i1' to='localhost'><query xmlns='{DISCO_INFO}'/></iq>"))
            .await;
    let plain = result_query(&reply, DISCO_INFO);
    assert_eq!(ver_of(&plain), ver, "the advertised ver is the hash of what disco#info answers");

    // XEP-0115 §6.2: node#ver answers the same, mirroring the node.
    let reply = iq(
        &mut juliet,
        "i2",
        &format!("<iq type='get' id='i2' to='localhost'><query xmlns='{DISCO_INFO}' node='{node}#{ver}'/></iq>"),
    )
    .await;
    let by_node = result_query(&reply, DISCO_INFO);
    assert_eq!(by_node.attr("node"), Some(format!("{node}#{ver}").as_str()));
    assert_eq!(by_node.children, plain.children);

    let reply = iq(
        &mut juliet,
        "i3",
        &format!("<iq type='get' id='i3' to='localhost'><query xmlns='{DISCO_INFO}' node='{node}#stale'/></iq>"),
    )
    .await;
    assert_eq!(error_condition(&reply).as_deref(), Some("item-not-found"));
}

#[tokio::test]
async fn caps_ver_changes_with_the_enabled_modules() {
    async fn ver(modules: &[&str]) -> String {
        let server =
            TestServer::start_with(|c| c.modules = Some(modules.iter().map(|m| m.to_string()).collect())).await;
        server.add_user("juliet").await;
        let juliet = server.login("juliet", "balcony").await;
        juliet.features.as_ref().unwrap().get_child("c", CAPS).unwrap().attr("ver").unwrap().to_string()
    }
    assert_ne!(ver(&["disco"]).await, ver(&["disco", "ping"]).await);
}

#[tokio::test]
async fn own_account_info_without_and_with_to() {
    let server = TestServer::start().await;
    server.add_user("discoverer").await;
    let mut client = server.login("discoverer", "r").await;
    for (id, to) in [("a1", ""), ("a2", " to='discoverer@localhost'")] {
        let reply =
            iq(&mut client, id, &format!("<iq type='get' id='{id}'{to}><query xmlns='{DISCO_INFO}'/></iq>")).await;
        let query = result_query(&reply, DISCO_INFO);
        assert_eq!(identities(&query), [("account".into(), "registered".into(), String::new(), String::new())]);
        let got = features(&query);
        assert!(got.contains(&DISCO_INFO.to_string()) && got.contains(&DISCO_ITEMS.to_string()), "{got:?}");
        let expected: Vec<String> =
            server.running().server.account_disco_features().iter().map(|f| f.to_string()).collect();
        assert_eq!(got, expected);
    }
    let reply =
        iq(&mut client, "a3", &format!("<iq type='get' id='a3'><query xmlns='{DISCO_INFO}' node='x'/></iq>")).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("item-not-found"));
}

#[tokio::test]
async fn another_account_info_needs_a_presence_subscription() {
    let server = TestServer::start().await;
    for user in ["juliet", "romeo"] {
        server.add_user(user).await;
    }
    let mut juliet = server.login("juliet", "balcony").await;
    let ask = format!("<iq type='get' id='o1' to='romeo@localhost'><query xmlns='{DISCO_INFO}'/></iq>");

    // XEP-0030 §8: no subscription, or only Juliet's to Romeo's presence
    // seen from his side as none: service-unavailable, like a missing account.
    let reply = iq(&mut juliet, "o1", &ask).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("service-unavailable"));
    add_contact(&server, "romeo", "juliet@localhost", Subscription::To).await;
    let reply = iq(&mut juliet, "o1", &ask).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("service-unavailable"));
    let reply = iq(
        &mut juliet,
        "o2",
        &format!("<iq type='get' id='o2' to='nobody@localhost'><query xmlns='{DISCO_INFO}'/></iq>"),
    )
    .await;
    assert_eq!(error_condition(&reply).as_deref(), Some("service-unavailable"));

    // Romeo lets Juliet see his presence: she may discover his account.
    add_contact(&server, "romeo", "juliet@localhost", Subscription::From).await;
    let reply = iq(&mut juliet, "o1", &ask).await;
    assert_eq!(reply.attr("from"), Some("romeo@localhost"));
    let query = result_query(&reply, DISCO_INFO);
    assert_eq!(identities(&query), [("account".into(), "registered".into(), String::new(), String::new())]);
}

#[tokio::test]
async fn items_are_empty_and_unknown_nodes_not_found() {
    let server = TestServer::start().await;
    for user in ["juliet", "romeo"] {
        server.add_user(user).await;
    }
    let mut juliet = server.login("juliet", "balcony").await;
    for (id, to) in [("t1", "localhost"), ("t2", "juliet@localhost"), ("t3", "romeo@localhost")] {
        let reply =
            iq(&mut juliet, id, &format!("<iq type='get' id='{id}' to='{to}'><query xmlns='{DISCO_ITEMS}'/></iq>"))
                .await;
        let query = result_query(&reply, DISCO_ITEMS);
        assert!(query.children.is_empty(), "{query}");
        assert_eq!(query.attr("node"), None);
    }
    let reply = iq(
        &mut juliet,
        "t4",
        &format!(
            "<iq type='get' id='t4' to='localhost'><query xmlns='{DISCO_ITEMS}' node='urn:example:no-such-node'/></iq>"
        ),
    )
    .await;
    assert_eq!(error_condition(&reply).as_deref(), Some("item-not-found"));
}

#[tokio::test]
async fn nodes_of_the_server_are_answered_by_the_module_that_registered_them() {
    // XEP-0050's command list is a node the adhoc module registers.
    let commands = "http://jabber.org/protocol/commands";
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    let mut juliet = server.login("juliet", "balcony").await;
    let reply = iq(
        &mut juliet,
        "n1",
        &format!("<iq type='get' id='n1' to='localhost'><query xmlns='{DISCO_INFO}' node='{commands}'/></iq>"),
    )
    .await;
    let query = result_query(&reply, DISCO_INFO);
    assert_eq!(query.attr("node"), Some(commands));
    assert_eq!(identities(&query)[0].0, "automation");
    let reply = iq(
        &mut juliet,
        "n2",
        &format!("<iq type='get' id='n2' to='localhost'><query xmlns='{DISCO_ITEMS}' node='{commands}'/></iq>"),
    )
    .await;
    assert_eq!(result_query(&reply, DISCO_ITEMS).attr("node"), Some(commands));
    // An account has no such node.
    let reply = iq(
        &mut juliet,
        "n3",
        &format!("<iq type='get' id='n3' to='juliet@localhost'><query xmlns='{DISCO_ITEMS}' node='{commands}'/></iq>"),
    )
    .await;
    assert_eq!(error_condition(&reply).as_deref(), Some("item-not-found"));
}
