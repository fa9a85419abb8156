//! Subscription stanzas between accounts (RFC 6121 §3): the sender's server
//! ("outbound") and the recipient's ("inbound") each run the Appendix A
//! state machine on their own account's view of the other, store the
//! result, push roster changes and send what the transition calls for.
//!
//! Each side holds only its own account's lock, and never while routing to
//! the other side: the other side may answer at once, and its answer needs
//! this side's lock.

use waxwing_core::{Server, StanzaContext};
use waxwing_jid::Jid;
use waxwing_proto::{StanzaErrorCondition, ns};
use waxwing_store::{RosterItem, StoreError, Subscription};
use waxwing_xml::Element;

use super::broadcast::{Show, send_presence_of};
use super::subscription::{self, Kind, State};
use crate::roster::{account_key, item_element, push};

/// The stored view of `contact` in `account`'s roster.
async fn load(server: &Server, account: &Jid, contact: &Jid) -> Result<(Option<RosterItem>, State), StoreError> {
    let (domain, node) = account_key(account);
    let roster = server.store.roster();
    let item = roster.item(domain, node, contact.as_str()).await?;
    let pending_in = roster.pending_in(domain, node, contact.as_str()).await?.is_some();
    let state = State::of(item.as_ref(), pending_in);
    Ok((item, state))
}

/// Stores the move from `before` to `after`: the roster item when what it
/// shows changed (created if needed), the pending request when it came or
/// went (`request` is the one that came). Returns the item and roster
/// version to push, if any.
async fn save(
    server: &Server,
    account: &Jid,
    contact: &Jid,
    item: Option<RosterItem>,
    (before, after): (State, State),
    request: Option<&Element>,
) -> Result<Option<(RosterItem, u64)>, StoreError> {
    let (domain, node) = account_key(account);
    let roster = server.store.roster();
    let mut pushed = None;
    if after.roster_view() != before.roster_view() {
        let mut item = item.unwrap_or_else(|| RosterItem {
            contact: contact.to_string(),
            name: None,
            subscription: Subscription::None,
            ask_subscribe: false,
            approved: false,
            groups: Vec::new(),
        });
        item.subscription = after.subscription;
        item.ask_subscribe = after.pending_out;
        item.approved = after.approved;
        let version = roster.put(domain, node, &item).await?;
        pushed = Some((item, version));
    }
    match (before.pending_in, after.pending_in, request) {
        (false, true, Some(request)) => {
            // §3.1.3: the complete stanza, payloads and all, for redelivery.
            let text = String::from_utf8(request.to_bytes(ns::CLIENT)).expect("serialised XML is UTF-8");
            roster.set_pending_in(domain, node, contact.as_str(), &text).await?;
        }
        (true, false, _) => {
            roster.clear_pending_in(domain, node, contact.as_str()).await?;
        }
        _ => {}
    }
    Ok(pushed)
}

/// The user's server: one of its resources (`user_full`) sent `kind` to `to`.
pub(super) async fn outbound(
    server: &Server,
    max_items: usize,
    user_full: &Jid,
    to: &Jid,
    kind: Kind,
    stanza: Element,
) {
    let user = user_full.bare();
    let contact = to.bare();
    if contact == user {
        // An account does not subscribe to itself: its resources share
        // presence anyway (§4.2.2).
        return;
    }
    let (before, after) = {
        let _guard = server.lock_account(&user).await;
        let (item, before) = match load(server, &user, &contact).await {
            Ok(loaded) => loaded,
            Err(e) => return failed(server, &stanza, e),
        };
        let outcome = subscription::outbound(before, kind);
        if item.is_none() && outcome.state.roster_view() != before.roster_view() {
            let (domain, node) = account_key(&user);
            match server.store.roster().count(domain, node).await {
                Ok(count) if count >= max_items => {
                    return server.bounce(&stanza, StanzaErrorCondition::NotAllowed);
                }
                Ok(_) => {}
                Err(e) => return failed(server, &stanza, e),
            }
        }
        match save(server, &user, &contact, item, (before, outcome.state), None).await {
            // Pushed before the stanza is routed, not after as §3.1.2 words
            // it: a local contact's server answers within the routing (a
            // pre-approval, §3.4), and the user must see its request before
            // the answer (scansion's presence_preapproval).
            Ok(Some((item, version))) => push(server, &user, item_element(&item), version),
            Ok(None) => {}
            Err(e) => return failed(server, &stanza, e),
        }
        if !outcome.route {
            return;
        }
        (before, outcome.state)
    };
    // §3.1.2, §3.1.5, §3.2.2, §3.3.2: stamped with the user's bare JID and
    // addressed to the contact's, whichever resources were named.
    let mut stanza = stanza;
    stanza.set_attr("from", user.as_str());
    stanza.set_attr("to", contact.as_str());
    server.route(&StanzaContext { from: user.clone(), to: contact.clone() }, stanza).await;
    match kind {
        Kind::Subscribed => {
            // §3.1.5: the new subscriber gets the user's current presence.
            send_presence_of(server, &user, &contact, Show::Current { or_unavailable: false }).await;
            if after.user_sees_contact() {
                // Subscribed both ways now: refresh the user's view of the
                // contact, as Prosody does (scansion's issue1121 expects the
                // contact's presence at this point).
                probe(server, &user, &contact).await;
            }
        }
        // §3.2.2: the contact no longer sees the user, so it sees it go.
        Kind::Unsubscribed if before.contact_sees_user() && !after.contact_sees_user() => {
            send_presence_of(server, &user, &contact, Show::Unavailable).await;
        }
        _ => {}
    }
}

/// The contact's server: `kind` arrived from `from` for the local `account`.
pub(super) async fn inbound(server: &Server, from: &Jid, account: &Jid, kind: Kind, stanza: Element) {
    let contact = from.bare();
    if contact == *account || !server.account_exists(account).await {
        // §8.5.1: subscription stanzas for an account that does not exist are ignored.
        return;
    }
    // Between bare JIDs (§3.1.3: a request to a full JID counts for the
    // account), whatever the sender's server wrote.
    let mut stanza = stanza;
    stanza.set_attr("from", contact.as_str());
    stanza.set_attr("to", account.as_str());
    let (before, outcome) = {
        let _guard = server.lock_account(account).await;
        let (item, before) = match load(server, account, &contact).await {
            Ok(loaded) => loaded,
            Err(e) => return tracing::error!(%account, error = %e, "cannot read the roster for a subscription"),
        };
        let outcome = subscription::inbound(before, kind);
        let request = (kind == Kind::Subscribe).then_some(&stanza);
        let pushed = match save(server, account, &contact, item, (before, outcome.state), request).await {
            Ok(pushed) => pushed,
            Err(e) => return tracing::error!(%account, error = %e, "cannot store a subscription change"),
        };
        if outcome.deliver {
            deliver(server, &contact, account, &stanza, kind);
        }
        // §3.1.6: the stanza reaches the user before the push it causes.
        if let Some((item, version)) = pushed {
            push(server, account, item_element(&item), version);
        }
        (before, outcome)
    };
    match kind {
        Kind::Subscribe if outcome.auto_approve => {
            // §3.1.3 (already subscribed) and §3.4 (pre-approved): answered
            // for the user, with its presence as after any approval (§3.1.5).
            send(server, account, &contact, Kind::Subscribed).await;
            send_presence_of(server, account, &contact, Show::Current { or_unavailable: true }).await;
        }
        Kind::Subscribe => {
            // Prosody acknowledges a request it cannot answer at once with
            // unavailable presence from the bare JID; scansion's issue1121
            // expects it. It reveals nothing: the requester is not subscribed.
            let ack = Element::new("presence", ns::CLIENT)
                .with_attr("type", "unavailable")
                .with_attr("from", account.as_str())
                .with_attr("to", contact.as_str());
            server.route(&StanzaContext { from: account.clone(), to: contact.clone() }, ack).await;
        }
        // §3.3.3: the contact cancelled its subscription: it sees the user go.
        Kind::Unsubscribe if before.contact_sees_user() && !outcome.state.contact_sees_user() => {
            send_presence_of(server, account, &contact, Show::Unavailable).await;
        }
        _ => {}
    }
}

/// Hands an inbound subscription stanza to the user: a request to every
/// available resource (§3.1.3; kept for later, it also reaches those that
/// come online), the others to the interested ones (§3.1.6, §3.2.3, §3.3.3).
fn deliver(server: &Server, contact: &Jid, account: &Jid, stanza: &Element, kind: Kind) {
    for resource in server.sessions.infos(account) {
        let wanted = if kind == Kind::Subscribe { resource.is_available() } else { resource.interested };
        if wanted {
            server.deliver_to(contact, &resource.full, &resource.handle, stanza.clone());
        }
    }
}

/// §2.5.2: the user removed `contact` from its roster, which was in state
/// `before`: every subscription and request between them ends.
pub(crate) async fn cancel_everything(server: &Server, user: &Jid, contact: &Jid, before: State) {
    if before.user_sees_contact() || before.pending_out {
        send(server, user, contact, Kind::Unsubscribe).await;
    }
    if before.contact_sees_user() || before.pending_in {
        send(server, user, contact, Kind::Unsubscribed).await;
    }
    if before.contact_sees_user() {
        // As for any cancellation (§3.2.2): the contact sees the user go.
        // Directed at the contact, not broadcast (scansion's issue1121).
        send_presence_of(server, user, contact, Show::Unavailable).await;
    }
}

/// Sends a subscription stanza of `kind` from one bare JID to another.
pub(super) async fn send(server: &Server, from: &Jid, to: &Jid, kind: Kind) {
    let stanza = Element::new("presence", ns::CLIENT)
        .with_attr("type", kind.as_str())
        .with_attr("from", from.as_str())
        .with_attr("to", to.as_str());
    server.route(&StanzaContext { from: from.clone(), to: to.clone() }, stanza).await;
}

async fn probe(server: &Server, from: &Jid, to: &Jid) {
    let stanza = Element::new("presence", ns::CLIENT)
        .with_attr("type", "probe")
        .with_attr("from", from.as_str())
        .with_attr("to", to.as_str());
    server.route(&StanzaContext { from: from.clone(), to: to.clone() }, stanza).await;
}

fn failed(server: &Server, stanza: &Element, e: StoreError) {
    tracing::error!(error = %e, "subscription storage failed");
    server.bounce(stanza, StanzaErrorCondition::InternalServerError);
}
