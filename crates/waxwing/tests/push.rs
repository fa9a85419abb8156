//! XEP-0357 Push Notifications. The app server is another logged-in client
//! (`appserver@localhost/push`): an iq to a full JID reaches that session,
//! which reads the notifications and answers them as a push service would.

mod im;
mod support;

use std::time::Duration;

use im::*;
use support::*;
use waxwing_xml::Element;

const PUSH: &str = "urn:xmpp:push:0";
const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const DATA_FORMS: &str = "jabber:x:data";
const APP_SERVER: &str = "appserver@localhost/push";

const OPTIONS: &str = "<x xmlns='jabber:x:data' type='submit'>\
    <field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
    <field var='secret'><value>eruio234vzxc2kla-91</value></field></x>";

async fn enable(client: &mut Client, node: &str, options: &str) -> Element {
    iq(client, "set", None, &format!("<enable xmlns='{PUSH}' jid='{APP_SERVER}' node='{node}'>{options}</enable>"))
        .await
        .0
}

fn field(form: &Element, var: &str) -> Option<String> {
    let field = form.elements().find(|f| f.attr("var") == Some(var))?;
    Some(field.get_child("value", DATA_FORMS)?.text())
}

/// The notification the app server got next: (iq, publish node, summary form).
async fn notification(app: &mut Client) -> (Element, String, Element) {
    let iq = app.stanza().await;
    assert_eq!(iq.name, "iq", "{iq}");
    assert_eq!(iq.attr("type"), Some("set"));
    assert_eq!(iq.attr("from"), Some("juliet@localhost"), "§7: from the user's account");
    let pubsub = iq.get_child("pubsub", PUBSUB).unwrap_or_else(|| panic!("{iq}"));
    let publish = pubsub.get_child("publish", PUBSUB).unwrap();
    let form = publish
        .get_child("item", PUBSUB)
        .and_then(|i| i.get_child("notification", PUSH))
        .and_then(|n| n.get_child("x", DATA_FORMS))
        .unwrap()
        .clone();
    assert_eq!(field(&form, "FORM_TYPE").as_deref(), Some("urn:xmpp:push:summary"));
    (iq.clone(), publish.attr("node").unwrap().to_string(), form)
}

async fn answer(app: &mut Client, request: &Element, error: Option<&str>) {
    let id = request.attr("id").unwrap();
    let to = request.attr("from").unwrap();
    match error {
        None => app.send(&format!("<iq type='result' id='{id}' to='{to}'/>")).await,
        Some(condition) => {
            app.send(&format!(
                "<iq type='error' id='{id}' to='{to}'><error type='cancel'><{condition} xmlns='{NS_STANZA_ERRORS}'/></error></iq>"
            ))
            .await
        }
    }
}

async fn registrations(server: &TestServer) -> usize {
    server.running().server.store.account_data().list("localhost", "juliet", "push").await.unwrap().len()
}

async fn setup(tweak: impl FnOnce(&mut waxwing::config::Config)) -> (TestServer, Client, Client) {
    let server = TestServer::start_with(tweak).await;
    for user in ["juliet", "romeo", "appserver"] {
        server.add_user(user).await;
    }
    let app = server.login("appserver", "push").await;
    let romeo = online(&server, "romeo", "r").await;
    (server, app, romeo)
}

#[tokio::test]
async fn push_is_advertised_on_the_account() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    let mut juliet = server.login("juliet", "phone").await;
    let (info, _) =
        iq(&mut juliet, "get", Some("juliet@localhost"), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
            .await;
    let query = info.get_child("query", "http://jabber.org/protocol/disco#info").unwrap();
    assert!(query.elements().any(|f| f.attr("var") == Some(PUSH)), "{info}");
}

#[tokio::test]
async fn enable_checks_its_input() {
    let (server, _app, mut romeo) = setup(|_| {}).await;
    let mut juliet = server.login("juliet", "phone").await;
    let reply = iq(&mut juliet, "set", None, &format!("<enable xmlns='{PUSH}' jid='{APP_SERVER}'/>")).await.0;
    assert_eq!(error_condition(&reply).as_deref(), Some("bad-request"), "{reply}");
    let reply = iq(&mut juliet, "set", None, &format!("<enable xmlns='{PUSH}' node='n'/>")).await.0;
    assert_eq!(error_condition(&reply).as_deref(), Some("bad-request"), "{reply}");
    let wrong_form = "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>nope</value></field></x>";
    assert_eq!(error_condition(&enable(&mut juliet, "n", wrong_form).await).as_deref(), Some("bad-request"));
    // Nobody registers push services for someone else.
    let reply = iq(
        &mut romeo,
        "set",
        Some("juliet@localhost"),
        &format!("<enable xmlns='{PUSH}' jid='{APP_SERVER}' node='n'/>"),
    )
    .await
    .0;
    assert_eq!(error_condition(&reply).as_deref(), Some("forbidden"), "{reply}");
    assert_eq!(registrations(&server).await, 0);
}

#[tokio::test]
async fn an_offline_message_notifies_the_app_server_until_it_answers_with_an_error() {
    let (server, mut app, mut romeo) = setup(|_| {}).await;
    let mut juliet = online(&server, "juliet", "phone").await;
    assert_eq!(enable(&mut juliet, "node-1", OPTIONS).await.attr("type"), Some("result"));
    // While she is online, nothing is pushed.
    romeo.send("<message to='juliet@localhost' type='chat'><body>online</body></message>").await;
    sync(&mut romeo).await;
    app.expect_silence(Duration::from_millis(300)).await;
    juliet.close().await;

    romeo.send("<message to='juliet@localhost' type='chat'><body>Wherefore art thou</body></message>").await;
    let (request, node, form) = notification(&mut app).await;
    assert_eq!(node, "node-1");
    assert_eq!(field(&form, "message-count").as_deref(), Some("1"));
    // Off by default: the push service learns neither who nor what.
    assert_eq!(field(&form, "last-message-body"), None);
    assert_eq!(field(&form, "last-message-sender"), None);
    let options = request.get_child("pubsub", PUBSUB).unwrap().get_child("publish-options", PUBSUB).unwrap();
    assert_eq!(field(options.get_child("x", DATA_FORMS).unwrap(), "secret").as_deref(), Some("eruio234vzxc2kla-91"));
    answer(&mut app, &request, None).await;

    romeo.send("<message to='juliet@localhost' type='chat'><body>Deny thy father</body></message>").await;
    let (request, _, form) = notification(&mut app).await;
    assert_eq!(field(&form, "message-count").as_deref(), Some("2"), "the first is still waiting offline");
    // §7.1: an error disables the registration.
    answer(&mut app, &request, Some("item-not-found")).await;
    for _ in 0..100 {
        if registrations(&server).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(registrations(&server).await, 0);
    romeo.send("<message to='juliet@localhost' type='chat'><body>And refuse thy name</body></message>").await;
    sync(&mut romeo).await;
    app.expect_silence(Duration::from_millis(300)).await;

    // Notifying did not keep the messages from offline storage.
    let mut juliet = server.login("juliet", "phone").await;
    juliet.send("<presence/>").await;
    let bodies: Vec<String> =
        settle(&mut juliet).await.iter().filter_map(|s| s.get_child("body", NS_CLIENT).map(|b| b.text())).collect();
    assert_eq!(bodies, ["Wherefore art thou", "Deny thy father", "And refuse thy name"]);
}

#[tokio::test]
async fn with_include_body_the_summary_says_who_and_what() {
    let (server, mut app, mut romeo) = setup(|config| config.push.include_body = true).await;
    let mut juliet = server.login("juliet", "phone").await;
    assert_eq!(enable(&mut juliet, "n", "").await.attr("type"), Some("result"));
    juliet.close().await;
    romeo.send("<message to='juliet@localhost' type='chat'><body>O Romeo</body></message>").await;
    let (request, _, form) = notification(&mut app).await;
    assert_eq!(field(&form, "last-message-body").as_deref(), Some("O Romeo"));
    assert_eq!(field(&form, "last-message-sender").as_deref(), Some("romeo@localhost/r"));
    assert!(request.get_child("pubsub", PUBSUB).unwrap().get_child("publish-options", PUBSUB).is_none());
    answer(&mut app, &request, None).await;
    // A message without a body (a chat state) wakes nobody.
    romeo.send("<message to='juliet@localhost' type='chat'><gone xmlns='http://jabber.org/protocol/chatstates'/></message>").await;
    sync(&mut romeo).await;
    app.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn registrations_survive_a_restart_and_disable_removes_them() {
    let (mut server, app, _romeo) = setup(|_| {}).await;
    let mut juliet = server.login("juliet", "phone").await;
    assert_eq!(enable(&mut juliet, "a", "").await.attr("type"), Some("result"));
    assert_eq!(enable(&mut juliet, "b", "").await.attr("type"), Some("result"));
    juliet.close().await;
    drop(app);
    server.restart().await;
    let mut app = server.login("appserver", "push").await;
    let mut romeo = online(&server, "romeo", "r").await;
    romeo.send("<message to='juliet@localhost'><body>after the restart</body></message>").await;
    let mut nodes = vec![notification(&mut app).await.1, notification(&mut app).await.1];
    nodes.sort();
    assert_eq!(nodes, ["a", "b"]);
    // Disable one node, then the whole service.
    let mut juliet = server.login("juliet", "phone").await;
    let reply = iq(&mut juliet, "set", None, &format!("<disable xmlns='{PUSH}' jid='{APP_SERVER}' node='a'/>")).await.0;
    assert_eq!(reply.attr("type"), Some("result"));
    assert_eq!(registrations(&server).await, 1);
    let reply = iq(&mut juliet, "set", None, &format!("<disable xmlns='{PUSH}' jid='{APP_SERVER}'/>")).await.0;
    assert_eq!(reply.attr("type"), Some("result"));
    assert_eq!(registrations(&server).await, 0);
}

/// An app server that cannot be reached gets an error from our own router
/// (RFC 6121 §8.5.3.1: an iq to a full JID with no session behind it gets
/// service-unavailable); that answer counts as the service's, and the
/// registration goes.
#[tokio::test]
async fn an_unreachable_app_server_is_disabled() {
    let (server, _app, mut romeo) = setup(|_| {}).await;
    let mut juliet = server.login("juliet", "phone").await;
    let reply =
        iq(&mut juliet, "set", None, &format!("<enable xmlns='{PUSH}' jid='appserver@localhost/gone' node='n'/>"))
            .await
            .0;
    assert_eq!(reply.attr("type"), Some("result"));
    juliet.close().await;
    assert_eq!(registrations(&server).await, 1);
    romeo.send("<message to='juliet@localhost' type='chat'><body>anyone?</body></message>").await;
    for _ in 0..100 {
        if registrations(&server).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(registrations(&server).await, 0);
}
