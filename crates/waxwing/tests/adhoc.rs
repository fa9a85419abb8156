//! XEP-0050 Ad-Hoc Commands with the XEP-0133 administration commands, each
//! driven over the socket through discovery, execute, the form and its
//! submission.

mod support;

use std::time::Duration;

use support::*;
use waxwing_sasl::HashAlg;
use waxwing_xml::Element;

const NS_COMMANDS: &str = "http://jabber.org/protocol/commands";
const NS_DATA: &str = "jabber:x:data";
const NS_ADMIN: &str = "http://jabber.org/protocol/admin";
const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
const ADD_USER: &str = "http://jabber.org/protocol/admin#add-user";
const DELETE_USER: &str = "http://jabber.org/protocol/admin#delete-user";
const CHANGE_PASSWORD: &str = "http://jabber.org/protocol/admin#change-user-password";
const ONLINE_USERS: &str = "http://jabber.org/protocol/admin#get-online-users-list";
const ANNOUNCE: &str = "http://jabber.org/protocol/admin#announce";

/// A server with `admin@localhost` as its administrator, and a user.
async fn server() -> (TestServer, Client, Client) {
    let server = TestServer::start_with(|config| config.admins = vec!["admin@localhost".into()]).await;
    server.add_user("admin").await;
    server.add_user("juliet").await;
    let admin = server.login("admin", "console").await;
    let juliet = server.login("juliet", "balcony").await;
    (server, admin, juliet)
}

async fn iq(client: &mut Client, id: &str, xml: &str) -> Element {
    client.send(xml).await;
    loop {
        let stanza = client.stanza().await;
        if stanza.name == "iq" && stanza.attr("id") == Some(id) {
            return stanza;
        }
    }
}

fn command(reply: &Element) -> &Element {
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    reply.get_child("command", NS_COMMANDS).expect("a command")
}

/// `execute`: the form comes back with a session (§3.3).
async fn execute(client: &mut Client, node: &str) -> (String, Element) {
    let xml = format!(
        "<iq type='set' to='localhost' id='ex'><command xmlns='{NS_COMMANDS}' node='{node}' action='execute'/></iq>"
    );
    let reply = iq(client, "ex", &xml).await;
    let command = command(&reply);
    assert_eq!(command.attr("status"), Some("executing"), "{reply}");
    assert_eq!(command.attr("node"), Some(node));
    let actions = command.get_child("actions", NS_COMMANDS).expect("actions");
    assert!(actions.get_child("complete", NS_COMMANDS).is_some());
    let form = command.get_child("x", NS_DATA).expect("a form").clone();
    assert_eq!(form.attr("type"), Some("form"));
    assert_eq!(field_values(&form, "FORM_TYPE"), [NS_ADMIN]);
    (command.attr("sessionid").expect("a sessionid").to_string(), form)
}

fn submit_xml(node: &str, session: &str, fields: &[(&str, &[&str])]) -> String {
    let mut x = format!("<x xmlns='{NS_DATA}' type='submit'><field var='FORM_TYPE'><value>{NS_ADMIN}</value></field>");
    for (var, values) in fields {
        x.push_str(&format!("<field var='{var}'>"));
        for value in *values {
            x.push_str(&format!("<value>{value}</value>"));
        }
        x.push_str("</field>");
    }
    x.push_str("</x>");
    format!(
        "<iq type='set' to='localhost' id='sub'><command xmlns='{NS_COMMANDS}' node='{node}' sessionid='{session}' action='complete'>{x}</command></iq>"
    )
}

async fn submit(client: &mut Client, node: &str, session: &str, fields: &[(&str, &[&str])]) -> Element {
    iq(client, "sub", &submit_xml(node, session, fields)).await
}

/// Runs a command through its form to completion and returns the reply.
async fn run(client: &mut Client, node: &str, fields: &[(&str, &[&str])]) -> Element {
    let (session, form) = execute(client, node).await;
    for (var, _) in fields {
        assert!(form.elements().any(|f| f.attr("var") == Some(var)), "the form asks for {var}: {form}");
    }
    submit(client, node, &session, fields).await
}

fn completed_note(reply: &Element) -> String {
    let command = command(reply);
    assert_eq!(command.attr("status"), Some("completed"), "{reply}");
    command.get_child("note", NS_COMMANDS).map(|n| n.text()).unwrap_or_default()
}

fn field_values(form: &Element, var: &str) -> Vec<String> {
    form.elements()
        .find(|f| f.is("field", NS_DATA) && f.attr("var") == Some(var))
        .map(|f| f.elements().filter(|v| v.is("value", NS_DATA)).map(|v| v.text()).collect())
        .unwrap_or_default()
}

fn command_condition(reply: &Element) -> Option<String> {
    let error = reply.get_child("error", NS_CLIENT)?;
    error.elements().find(|e| e.ns == NS_COMMANDS).map(|e| e.name.clone())
}

async fn can_log_in(server: &TestServer, user: &str, password: &str) -> bool {
    let mut client = Client::connect(server.c2s_addr()).await;
    client.open("localhost").await;
    client.starttls(server.certificate()).await;
    client.open("localhost").await;
    client.scram(user, password, HashAlg::Sha256, None).await.is_ok()
}

#[tokio::test]
async fn discovery_lists_the_commands_an_admin_may_run() {
    let (_server, mut admin, mut juliet) = server().await;
    let info =
        iq(&mut juliet, "i", &format!("<iq type='get' to='localhost' id='i'><query xmlns='{NS_DISCO_INFO}'/></iq>"))
            .await;
    let query = info.get_child("query", NS_DISCO_INFO).unwrap();
    assert!(query.elements().any(|f| f.attr("var") == Some(NS_COMMANDS)), "{info}");

    let list =
        format!("<iq type='get' to='localhost' id='l'><query xmlns='{NS_DISCO_ITEMS}' node='{NS_COMMANDS}'/></iq>");
    let reply = iq(&mut admin, "l", &list).await;
    let query = reply.get_child("query", NS_DISCO_ITEMS).expect("items");
    assert_eq!(query.attr("node"), Some(NS_COMMANDS));
    let nodes: Vec<_> = query.elements().map(|i| i.attr("node").unwrap().to_string()).collect();
    assert_eq!(nodes, [ADD_USER, DELETE_USER, CHANGE_PASSWORD, ONLINE_USERS, ANNOUNCE]);
    assert!(query.elements().all(|i| i.attr("jid") == Some("localhost") && i.attr("name").is_some()));

    // §2.2: others see no command they cannot run.
    let reply = iq(&mut juliet, "l", &list).await;
    assert_eq!(reply.get_child("query", NS_DISCO_ITEMS).expect("items").elements().count(), 0, "{reply}");

    // §2.3: a command node describes itself.
    let node_info =
        format!("<iq type='get' to='localhost' id='n'><query xmlns='{NS_DISCO_INFO}' node='{ADD_USER}'/></iq>");
    let reply = iq(&mut admin, "n", &node_info).await;
    let query = reply.get_child("query", NS_DISCO_INFO).expect("info");
    let identity = query.get_child("identity", NS_DISCO_INFO).unwrap();
    assert_eq!((identity.attr("category"), identity.attr("type")), (Some("automation"), Some("command-node")));
    let features: Vec<_> = query.elements().filter_map(|f| f.attr("var")).collect();
    assert!(features.contains(&NS_COMMANDS) && features.contains(&NS_DATA), "{reply}");
    let reply = iq(&mut juliet, "n", &node_info).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("item-not-found"));
}

#[tokio::test]
async fn only_admins_run_commands() {
    let (_server, _admin, mut juliet) = server().await;
    let xml = format!(
        "<iq type='set' to='localhost' id='f'><command xmlns='{NS_COMMANDS}' node='{ADD_USER}' action='execute'/></iq>"
    );
    assert_eq!(error_condition(&iq(&mut juliet, "f", &xml).await).as_deref(), Some("forbidden"));
    let xml = format!(
        "<iq type='set' to='localhost' id='u'><command xmlns='{NS_COMMANDS}' node='urn:nope' action='execute'/></iq>"
    );
    assert_eq!(error_condition(&iq(&mut juliet, "u", &xml).await).as_deref(), Some("item-not-found"));
}

#[tokio::test]
async fn add_user_creates_an_account() {
    let (server, mut admin, _juliet) = server().await;
    let reply = run(
        &mut admin,
        ADD_USER,
        &[("accountjid", &["Romeo@localhost"]), ("password", &["montague"]), ("password-verify", &["montague"])],
    )
    .await;
    assert!(completed_note(&reply).contains("romeo@localhost"), "{reply}");
    assert!(can_log_in(&server, "romeo", "montague").await);

    // §5: an existing account is a conflict.
    let reply = run(
        &mut admin,
        ADD_USER,
        &[("accountjid", &["romeo@localhost"]), ("password", &["x"]), ("password-verify", &["x"])],
    )
    .await;
    assert_eq!(error_condition(&reply).as_deref(), Some("conflict"));
    let reply = run(
        &mut admin,
        ADD_USER,
        &[("accountjid", &["tybalt@localhost"]), ("password", &["a"]), ("password-verify", &["b"])],
    )
    .await;
    assert_eq!(error_condition(&reply).as_deref(), Some("not-acceptable"));
    let reply = run(
        &mut admin,
        ADD_USER,
        &[("accountjid", &["tybalt@elsewhere.example"]), ("password", &["a"]), ("password-verify", &["a"])],
    )
    .await;
    assert_eq!(error_condition(&reply).as_deref(), Some("not-acceptable"));
    let reply = run(
        &mut admin,
        ADD_USER,
        &[("accountjid", &["not a jid@@"]), ("password", &["a"]), ("password-verify", &["a"])],
    )
    .await;
    assert_eq!(error_condition(&reply).as_deref(), Some("jid-malformed"));
    assert!(!can_log_in(&server, "tybalt", "a").await);
}

#[tokio::test]
async fn change_user_password_replaces_the_credentials() {
    let (server, mut admin, _juliet) = server().await;
    let reply =
        run(&mut admin, CHANGE_PASSWORD, &[("accountjid", &["juliet@localhost"]), ("password", &["nightingale"])])
            .await;
    completed_note(&reply);
    assert!(can_log_in(&server, "juliet", "nightingale").await);
    assert!(!can_log_in(&server, "juliet", PASSWORD).await);
    let reply = run(&mut admin, CHANGE_PASSWORD, &[("accountjid", &["nobody@localhost"]), ("password", &["x"])]).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("item-not-found"));
}

#[tokio::test]
async fn delete_user_removes_accounts_and_ends_their_sessions() {
    let (server, mut admin, mut juliet) = server().await;
    server.add_user("nurse").await;
    let reply =
        run(&mut admin, DELETE_USER, &[("accountjids", &["juliet@localhost", "nurse@localhost", "ghost@localhost"])])
            .await;
    let note = completed_note(&reply);
    assert!(note.contains("juliet@localhost") && note.contains("nurse@localhost"), "{note}");
    assert!(note.contains("No such account: ghost@localhost"), "{note}");
    juliet.expect_stream_error("not-authorized").await;
    assert!(!can_log_in(&server, "juliet", PASSWORD).await);
    assert!(!can_log_in(&server, "nurse", PASSWORD).await);
    // A malformed JID stops the whole command before anything is deleted.
    server.add_user("friar").await;
    let reply = run(&mut admin, DELETE_USER, &[("accountjids", &["friar@localhost", "@@"])]).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("jid-malformed"));
    assert!(can_log_in(&server, "friar", PASSWORD).await);
}

#[tokio::test]
async fn online_users_are_listed() {
    let (server, mut admin, _juliet) = server().await;
    let _second = server.login("juliet", "chamber").await;
    let (session, form) = execute(&mut admin, ONLINE_USERS).await;
    let max_items = form.elements().find(|f| f.attr("var") == Some("max_items")).expect("max_items");
    assert_eq!(max_items.attr("type"), Some("list-single"));
    let reply = submit(&mut admin, ONLINE_USERS, &session, &[("max_items", &["25"])]).await;
    completed_note(&reply);
    let result = command(&reply).get_child("x", NS_DATA).expect("a result form");
    assert_eq!(result.attr("type"), Some("result"));
    // Accounts, not sessions: Juliet's two resources are one user.
    assert_eq!(field_values(result, "onlineuserjids"), ["admin@localhost", "juliet@localhost"]);
    let reply = run(&mut admin, ONLINE_USERS, &[("max_items", &["7"])]).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("not-acceptable"));
}

#[tokio::test]
async fn announce_reaches_every_session() {
    let (server, mut admin, mut juliet) = server().await;
    let mut chamber = server.login("juliet", "chamber").await;
    let reply = run(&mut admin, ANNOUNCE, &[("announcement", &["The service goes down", "in five minutes."])]).await;
    // The admin's own session, and Juliet's two.
    assert_eq!(completed_note(&reply), "The announcement was sent to 3 sessions.");
    for client in [&mut juliet, &mut chamber] {
        let message = client.stanza().await;
        assert_eq!(message.name, "message");
        assert_eq!(message.attr("from"), Some("localhost"));
        assert_eq!(message.attr("type"), Some("headline"));
        assert_eq!(message.get_child("body", NS_CLIENT).unwrap().text(), "The service goes down\nin five minutes.");
    }
}

#[tokio::test]
async fn sessions_are_checked_cancelled_and_single_use() {
    let (server, mut admin, _juliet) = server().await;
    // Cancel ends the session (§3.4.4); it cannot be submitted afterwards.
    let (session, _) = execute(&mut admin, ADD_USER).await;
    let cancel = format!(
        "<iq type='set' to='localhost' id='c'><command xmlns='{NS_COMMANDS}' node='{ADD_USER}' sessionid='{session}' action='cancel'/></iq>"
    );
    let reply = iq(&mut admin, "c", &cancel).await;
    assert_eq!(command(&reply).attr("status"), Some("canceled"));
    let fields: &[(&str, &[&str])] =
        &[("accountjid", &["x@localhost"]), ("password", &["p"]), ("password-verify", &["p"])];
    let reply = submit(&mut admin, ADD_USER, &session, fields).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("bad-request"));
    assert_eq!(command_condition(&reply).as_deref(), Some("bad-sessionid"));

    // A session belongs to the resource that started it.
    let (session, _) = execute(&mut admin, ADD_USER).await;
    let mut other = server.login("admin", "laptop").await;
    let reply = submit(&mut other, ADD_USER, &session, fields).await;
    assert_eq!(command_condition(&reply).as_deref(), Some("bad-sessionid"));
    // A submission that is not the form asked for is bad-payload, and the
    // session stays open for a corrected one.
    let no_form = format!(
        "<iq type='set' to='localhost' id='sub'><command xmlns='{NS_COMMANDS}' node='{ADD_USER}' sessionid='{session}'/></iq>"
    );
    let reply = iq(&mut admin, "sub", &no_form).await;
    assert_eq!(command_condition(&reply).as_deref(), Some("bad-payload"));
    // Unknown actions are malformed; there is no next stage.
    for (action, condition) in [("fly", "malformed-action"), ("next", "bad-action")] {
        let xml = format!(
            "<iq type='set' to='localhost' id='a'><command xmlns='{NS_COMMANDS}' node='{ADD_USER}' sessionid='{session}' action='{action}'/></iq>"
        );
        assert_eq!(command_condition(&iq(&mut admin, "a", &xml).await).as_deref(), Some(condition));
    }
    // Still usable after those refusals: the command completes.
    let reply = submit(&mut admin, ADD_USER, &session, fields).await;
    completed_note(&reply);
    admin.expect_silence(Duration::from_millis(200)).await;
}
