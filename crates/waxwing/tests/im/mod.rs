//! Helpers shared by the roster, presence and subscription tests (RFC 6121):
//! roster requests over the wire, and reading or arranging the stored
//! subscription state between two accounts.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use waxwing_store::{RosterItem, Subscription};
use waxwing_xml::Element;

use crate::support::*;

pub const NS_ROSTER: &str = "jabber:iq:roster";

/// Everything the server sends until it has been quiet for a while.
pub async fn settle(client: &mut Client) -> Vec<Element> {
    client.drain(Duration::from_millis(300)).await
}

/// Sends an iq built around `payload` with a fresh id and returns its
/// answer, with whatever arrived before it.
pub async fn iq(client: &mut Client, iq_type: &str, to: Option<&str>, payload: &str) -> (Element, Vec<Element>) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let to = to.map(|to| format!(" to='{to}'")).unwrap_or_default();
    client.send(&format!("<iq type='{iq_type}' id='{id}'{to}>{payload}</iq>")).await;
    let mut before = Vec::new();
    loop {
        let stanza = client.stanza().await;
        if stanza.name == "iq" && stanza.attr("id") == Some(id.as_str()) {
            return (stanza, before);
        }
        before.push(stanza);
    }
}

/// Everything the server had queued for `client` before now. A session's
/// stanzas are handled one after the other and its queue is first in,
/// first out, so once the answer to this ping arrives, so has everything
/// that its earlier stanzas caused — for this client and, when called on
/// the sender first, for any other client on this server.
pub async fn sync(client: &mut Client) -> Vec<Element> {
    let (reply, before) = iq(client, "get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    before
}

/// Logs in, asks for the roster (so the resource is interested, RFC 6121
/// §2.1.6), sends initial presence and consumes everything that brings.
pub async fn online(server: &TestServer, user: &str, resource: &str) -> Client {
    let mut client = server.login(user, resource).await;
    roster_get(&mut client, None).await;
    client.send("<presence/>").await;
    sync(&mut client).await;
    client
}

/// A roster get; the result's `<query/>`, if it has one.
pub async fn roster_get(client: &mut Client, ver: Option<&str>) -> Option<Element> {
    let ver = ver.map(|v| format!(" ver='{v}'")).unwrap_or_default();
    let (reply, _) = iq(client, "get", None, &format!("<query xmlns='{NS_ROSTER}'{ver}/>")).await;
    assert_eq!(reply.attr("type"), Some("result"), "roster get failed: {reply}");
    reply.get_child("query", NS_ROSTER).cloned()
}

/// A roster set of one `<item/>`; the reply (result or error).
pub async fn roster_set(client: &mut Client, item: &str) -> Element {
    iq(client, "set", None, &format!("<query xmlns='{NS_ROSTER}'>{item}</query>")).await.0
}

/// The roster push in `stanza`, as (version, item), if it is one.
pub fn as_push(stanza: &Element) -> Option<(String, Element)> {
    if stanza.name != "iq" || stanza.attr("type") != Some("set") || stanza.attr("from").is_some() {
        return None;
    }
    let query = stanza.get_child("query", NS_ROSTER)?;
    let item = query.elements().next()?.clone();
    Some((query.attr("ver")?.to_string(), item))
}

/// The pushes among `stanzas`, in order.
pub fn pushes(stanzas: &[Element]) -> Vec<(String, Element)> {
    stanzas.iter().filter_map(as_push).collect()
}

/// The presence stanzas among `stanzas` as (type or "available", from, to).
pub fn presences(stanzas: &[Element]) -> Vec<(String, String, String)> {
    stanzas
        .iter()
        .filter(|s| s.name == "presence")
        .map(|s| {
            let kind = s.attr("type").unwrap_or("available").to_string();
            (kind, s.attr("from").unwrap_or_default().to_string(), s.attr("to").unwrap_or_default().to_string())
        })
        .collect()
}

pub fn jid(user: &str) -> String {
    format!("{user}@localhost")
}

fn roster(server: &TestServer) -> waxwing_store::Roster<'_> {
    server.running().server.store.roster()
}

pub async fn stored_item(server: &TestServer, user: &str, contact: &str) -> Option<RosterItem> {
    roster(server).item("localhost", user, &jid(contact)).await.unwrap()
}

/// The Appendix A.1 name of `user`'s view of `contact` as stored, with
/// "+approved" when a pre-approval is recorded.
pub async fn state_name(server: &TestServer, user: &str, contact: &str) -> String {
    let item = stored_item(server, user, contact).await;
    let pending_in = roster(server).pending_in("localhost", user, &jid(contact)).await.unwrap().is_some();
    let subscription = item.as_ref().map_or(Subscription::None, |i| i.subscription);
    let mut name = match subscription {
        Subscription::None => "None",
        Subscription::To => "To",
        Subscription::From => "From",
        Subscription::Both => "Both",
    }
    .to_string();
    if item.as_ref().is_some_and(|i| i.ask_subscribe) {
        name.push_str("+PO");
    }
    if pending_in {
        name.push_str("+PI");
    }
    if item.as_ref().is_some_and(|i| i.approved) {
        name.push_str("+approved");
    }
    name
}

/// Stores `user`'s view of `contact` as the Appendix A.1 state `name`
/// (a pending request is stored as a plain subscribe stanza).
pub async fn set_state(server: &TestServer, user: &str, contact: &str, name: &str) {
    let mut parts = name.split('+');
    let subscription = match parts.next().unwrap() {
        "None" => Subscription::None,
        "To" => Subscription::To,
        "From" => Subscription::From,
        "Both" => Subscription::Both,
        other => panic!("no state {other}"),
    };
    let flags: Vec<&str> = parts.collect();
    let item = RosterItem {
        contact: jid(contact),
        name: None,
        subscription,
        ask_subscribe: flags.contains(&"PO"),
        approved: flags.contains(&"approved"),
        groups: Vec::new(),
    };
    roster(server).put("localhost", user, &item).await.unwrap();
    if flags.contains(&"PI") {
        let request =
            format!("<presence xmlns='jabber:client' type='subscribe' from='{}' to='{}'/>", jid(contact), jid(user));
        roster(server).set_pending_in("localhost", user, &jid(contact), &request).await.unwrap();
    }
}

/// Two accounts that see each other's presence as `user_view` says from
/// `user`'s side (the contact's side is its mirror image).
pub async fn relate(server: &TestServer, user: &str, contact: &str, user_view: &str) {
    set_state(server, user, contact, user_view).await;
    set_state(server, contact, user, &mirror(user_view)).await;
}

/// The contact's view of a relationship given the user's (Appendix A.1).
pub fn mirror(state: &str) -> String {
    let mut parts = state.split('+');
    let subscription = match parts.next().unwrap() {
        "To" => "From",
        "From" => "To",
        other => other,
    };
    let mut out = subscription.to_string();
    let flags: Vec<&str> = parts.collect();
    // Pending out on one side is pending in on the other.
    if flags.contains(&"PI") {
        out.push_str("+PO");
    }
    if flags.contains(&"PO") {
        out.push_str("+PI");
    }
    out
}
