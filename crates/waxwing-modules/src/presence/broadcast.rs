//! Presence broadcast (RFC 6121 §4.2, §4.4, §4.5): what a resource's
//! available or unavailable presence reaches — the resource itself, the
//! account's other available resources and the contacts subscribed to it —
//! and what a resource coming online is sent in return.

use std::collections::HashSet;

use waxwing_core::{Server, SessionEvent, StanzaContext};
use waxwing_jid::Jid;
use waxwing_proto::{datetime, ns};
use waxwing_store::{RosterItem, Subscription};
use waxwing_xml::Element;

use super::directed::Directed;
use crate::roster::account_key;

/// An available presence's priority (§4.7.2.3): an integer from -128 to
/// 127, 0 when absent. Out-of-range values are clamped and malformed ones
/// read as 0, as Prosody does: a client's sloppy priority is no reason to
/// refuse its presence.
pub(super) fn priority_of(presence: &Element) -> i8 {
    let Some(priority) = presence.get_child("priority", ns::CLIENT) else { return 0 };
    priority.text().trim().parse::<i64>().map_or(0, |p| i8::try_from(p.clamp(-128, 127)).unwrap_or(0))
}

/// XEP-0203 delayed delivery.
const NS_DELAY: &str = "urn:xmpp:delay";

/// The copy of an available presence the server keeps to send again later
/// (probe answers, new subscribers, the account's resources coming online):
/// stamped with when the server got it (XEP-0203), as Prosody does and
/// scansion's blocking and pep scripts expect.
fn kept_copy(presence: &Element, domain: &str) -> Element {
    let mut kept = presence.clone();
    if kept.get_child("delay", NS_DELAY).is_none() {
        kept.push_child(Element::new("delay", NS_DELAY).with_attr("from", domain).with_attr("stamp", datetime::now()));
    }
    kept
}

pub(super) fn unavailable(from: &Jid) -> Element {
    Element::new("presence", ns::CLIENT).with_attr("type", "unavailable").with_attr("from", from.as_str())
}

/// A presence sent by a resource without `to` (or to its own bare JID).
pub(super) async fn from_client(
    server: &Server,
    directed: &Directed,
    full: &Jid,
    mut stanza: Element,
    available: bool,
) {
    // Each copy gets the `to` of its recipient; the one kept has none.
    stanza.remove_attr("to");
    let priority = if available { priority_of(&stanza) } else { 0 };
    let kept = available.then(|| kept_copy(&stanza, full.domain()));
    let Some(was_available) = server.sessions.set_presence(full, kept, priority) else { return };
    let Some(me) = server.sessions.info(full) else { return };
    // §4.2.2, §4.4.2: the sending resource gets its presence back too
    // (scansion's basic and basic_roster expect it).
    let _ = me.handle.send(stanza.clone());
    let items = if available || was_available { roster_items(server, &full.bare()).await } else { Vec::new() };
    // An unavailable presence from a resource that never was available has
    // nothing to retract from contacts (§4.5.2 concerns available resources).
    let subscribers =
        if available || was_available { spread(server, full, &stanza, &items).await } else { HashSet::new() };
    if !available {
        // §4.6.3: directed presence ends with the resource's unavailable.
        cancel_directed(server, full, directed.take(full), &stanza, &subscribers).await;
    }
    if available && !was_available {
        initial(server, full, &items).await;
        server.session_event(full, SessionEvent::Available { priority }).await;
    }
}

/// §4.5.2 (and §4.6.3): a session ended — closed by the client, dropped or
/// killed. If it was available, the others learn it is not any more.
pub(super) async fn closed(server: &Server, directed: &Directed, full: &Jid, was_available: bool) {
    // A new session may already hold this full JID (it replaced this one):
    // the directed recipients recorded under the JID are then its own.
    let recipients = if server.sessions.info(full).is_some() { Vec::new() } else { directed.take(full) };
    let stanza = unavailable(full);
    let subscribers = if was_available {
        let items = roster_items(server, &full.bare()).await;
        spread(server, full, &stanza, &items).await
    } else {
        HashSet::new()
    };
    cancel_directed(server, full, recipients, &stanza, &subscribers).await;
}

/// A session took over the full JID of an older one: the older one's
/// directed recipients learn that it left.
pub(super) async fn replaced(server: &Server, directed: &Directed, full: &Jid) {
    let recipients = directed.take(full);
    cancel_directed(server, full, recipients, &unavailable(full), &HashSet::new()).await;
}

/// Sends `stanza` (from `full`, without `to`) to the account's other
/// available resources and to its subscribers (`from`/`both`, §4.2.2).
/// Returns the subscribers' bare JIDs.
async fn spread(server: &Server, full: &Jid, stanza: &Element, items: &[RosterItem]) -> HashSet<Jid> {
    for other in server.sessions.infos(&full.bare()) {
        if other.full != *full && other.is_available() {
            server.deliver_to(full, &other.full, &other.handle, addressed(stanza, &other.full));
        }
    }
    let mut subscribers = HashSet::new();
    for contact in contacts(items, |s| matches!(s, Subscription::From | Subscription::Both)) {
        let copy = addressed(stanza, &contact);
        server.route(&StanzaContext { from: full.clone(), to: contact.clone() }, copy).await;
        subscribers.insert(contact);
    }
    subscribers
}

/// Tells directed-presence recipients that `full` is gone, except those who
/// just had the same news through the broadcast.
async fn cancel_directed(server: &Server, full: &Jid, recipients: Vec<Jid>, stanza: &Element, told: &HashSet<Jid>) {
    for recipient in recipients {
        if told.contains(&recipient.bare()) {
            continue;
        }
        let copy = addressed(stanza, &recipient);
        server.route(&StanzaContext { from: full.clone(), to: recipient }, copy).await;
    }
}

/// What a resource's initial presence brings it (§4.2.2–4.2.3, §3.1.3).
async fn initial(server: &Server, full: &Jid, items: &[RosterItem]) {
    let account = full.bare();
    let Some(me) = server.sessions.info(full) else { return };
    // The presence of the account's other available resources.
    for other in server.sessions.infos(&account) {
        if let (true, Some(presence)) = (other.full != *full, &other.presence) {
            server.deliver_to(&other.full, full, &me.handle, addressed(presence, full));
        }
    }
    // §4.3.1: probes to the contacts it is subscribed to. From the full JID,
    // as Prosody does: only this resource lacks their presence, so only it
    // gets the answers.
    for contact in contacts(items, |s| matches!(s, Subscription::To | Subscription::Both)) {
        let probe = Element::new("presence", ns::CLIENT)
            .with_attr("type", "probe")
            .with_attr("from", full.as_str())
            .with_attr("to", contact.as_str());
        server.route(&StanzaContext { from: full.clone(), to: contact }, probe).await;
    }
    // §3.1.3: subscription requests still unanswered, as they arrived
    // (payloads included: scansion's keep_full_sub_req), at every login
    // until the user answers them.
    let (domain, node) = account_key(&account);
    let pending = match server.store.roster().all_pending_in(domain, node).await {
        Ok(pending) => pending,
        Err(e) => return tracing::error!(jid = %full, error = %e, "cannot read pending subscription requests"),
    };
    for (contact, text) in pending {
        let (Ok(contact), Ok(request)) = (Jid::parse(&contact), waxwing_xml::parse_element(&text, ns::CLIENT)) else {
            tracing::error!(jid = %full, %contact, "unreadable pending subscription request");
            continue;
        };
        server.deliver_to(&contact, full, &me.handle, request);
    }
}

/// A presence for a local account's bare JID (§8.5.2.1.1): every available
/// resource gets it; with none, it is dropped (§8.5.2.2.1).
pub(super) fn to_available_resources(server: &Server, from: &Jid, account: &Jid, stanza: &Element) {
    for resource in server.sessions.infos(account) {
        if resource.is_available() {
            server.deliver_to(from, &resource.full, &resource.handle, stanza.clone());
        }
    }
}

/// What [`send_presence_of`] sends from each available resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Show {
    /// Its current presence; with `or_unavailable`, an unavailable presence
    /// from the bare JID when no resource is available (a probe's answer).
    Current { or_unavailable: bool },
    /// Unavailable: `to` no longer sees the account.
    Unavailable,
}

/// Sends the presence of each of `account`'s available resources, from its
/// full JID, to `to`.
pub(super) async fn send_presence_of(server: &Server, account: &Jid, to: &Jid, show: Show) {
    let mut sent = false;
    for resource in server.sessions.infos(account) {
        let Some(presence) = &resource.presence else { continue };
        let stanza = match show {
            Show::Current { .. } => addressed(presence, to),
            Show::Unavailable => addressed(&unavailable(&resource.full), to),
        };
        server.route(&StanzaContext { from: resource.full.clone(), to: to.clone() }, stanza).await;
        sent = true;
    }
    if !sent && show == (Show::Current { or_unavailable: true }) {
        // §4.3.2: no resource is available. Nothing more (such as the last
        // unavailable presence's status) is kept to be told.
        let stanza = addressed(&unavailable(account), to);
        server.route(&StanzaContext { from: account.clone(), to: to.clone() }, stanza).await;
    }
}

fn addressed(stanza: &Element, to: &Jid) -> Element {
    let mut copy = stanza.clone();
    copy.set_attr("to", to.as_str());
    copy
}

fn contacts(items: &[RosterItem], wanted: fn(Subscription) -> bool) -> impl Iterator<Item = Jid> + '_ {
    items.iter().filter(move |item| wanted(item.subscription)).filter_map(|item| Jid::parse(&item.contact).ok())
}

async fn roster_items(server: &Server, account: &Jid) -> Vec<RosterItem> {
    let (domain, node) = account_key(account);
    server.store.roster().items(domain, node).await.unwrap_or_else(|e| {
        tracing::error!(jid = %account, error = %e, "cannot read the roster for a presence broadcast");
        Vec::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(inner: &str) -> Element {
        waxwing_xml::parse_element(&format!("<presence xmlns='jabber:client'>{inner}</presence>"), ns::CLIENT).unwrap()
    }

    #[test]
    fn the_kept_copy_says_when_it_was_sent() {
        let kept = kept_copy(&presence("<status>Here</status>"), "example.com");
        let delay = kept.get_child("delay", NS_DELAY).unwrap();
        assert_eq!(delay.attr("from"), Some("example.com"));
        assert!(delay.attr("stamp").is_some_and(|s| s.ends_with('Z')));
        assert_eq!(kept.get_child("status", ns::CLIENT).unwrap().text(), "Here");
        // A client's own stamp is left alone.
        let own = presence("<delay xmlns='urn:xmpp:delay' stamp='2002-09-10T23:08:25Z'/>");
        assert_eq!(kept_copy(&own, "example.com"), own);
    }

    #[test]
    fn priorities() {
        assert_eq!(priority_of(&presence("")), 0);
        assert_eq!(priority_of(&presence("<priority>5</priority>")), 5);
        assert_eq!(priority_of(&presence("<priority> -1 </priority>")), -1);
        assert_eq!(priority_of(&presence("<priority>-129</priority>")), -128);
        assert_eq!(priority_of(&presence("<priority>1000</priority>")), 127);
        assert_eq!(priority_of(&presence("<priority>high</priority>")), 0);
    }
}
