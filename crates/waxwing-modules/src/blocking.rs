//! XEP-0191 Blocking Command (`urn:xmpp:blocking`).
//!
//! The blocklist is stored per account (`account_data` kind `blocklist`,
//! one key per blocked JID) and kept in memory while the account has bound
//! sessions, because enforcement runs in the synchronous delivery filter on
//! every stanza. Enforcement happens at four points:
//!
//! - stanzas the user sends to a blocked JID (a `FromClient` hook):
//!   `not-acceptable` with `<blocked/>` (§3.3);
//! - stanzas from a blocked JID to the user's account (a `ToAccount` hook,
//!   which also covers offline storage): messages get `service-unavailable`,
//!   presence of any kind is dropped (§3.3);
//! - stanzas delivered to one of the user's sessions, or iqs the server
//!   answers on the account's behalf (the delivery filter): the same rules,
//!   plus iq get/set → `service-unavailable`, other iqs dropped;
//! - what the server sends on the user's behalf to a blocked JID (presence
//!   broadcasts, in the same filter): dropped.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use waxwing_core::module::IqFuture;
use waxwing_core::{
    AccountHook, DeliveryFilter, Flow, HookFuture, HookPoint, IqHandler, IqRequest, Module, Registrations, Server,
    SessionEvent, SessionHook, StanzaContext, StanzaHook,
};
use waxwing_jid::Jid;
use waxwing_proto::stanza::reply_envelope;
use waxwing_proto::{IqType, StanzaError, StanzaErrorCondition, ns};
use waxwing_store::Subscription;
use waxwing_xml::Element;

pub const NS_BLOCKING: &str = "urn:xmpp:blocking";
pub const NS_BLOCKING_ERRORS: &str = "urn:xmpp:blocking:errors";
/// The `account_data` kind holding one entry per blocked JID.
const KIND: &str = "blocklist";

pub struct Blocking;

impl Module for Blocking {
    fn name(&self) -> &'static str {
        "blocking"
    }

    fn register(&self, r: &mut Registrations) {
        let state = Arc::new(State::default());
        r.disco_feature(NS_BLOCKING);
        r.iq(IqType::Get, NS_BLOCKING, "blocklist", GetList(state.clone()));
        r.iq(IqType::Set, NS_BLOCKING, "block", Change { state: state.clone(), block: true });
        r.iq(IqType::Set, NS_BLOCKING, "unblock", Change { state: state.clone(), block: false });
        // Before anything else looks at the stanza: a blocked stanza must not
        // be delivered, stored offline, or answered by another module.
        r.stanza_hook(HookPoint::FromClient, -1000, Outbound(state.clone()));
        // Messages are refused where they first reach the user, before the
        // archive and carbons see them; the rest when they reach the account.
        r.stanza_hook(HookPoint::MessageToUser, -1000, Inbound { state: state.clone(), messages: true });
        r.stanza_hook(HookPoint::ToAccount, -1000, Inbound { state: state.clone(), messages: false });
        r.delivery_filter(Filter(state.clone()));
        r.session_hook(Sessions(state.clone()));
        r.account_hook(Forget(state));
    }
}

/// The blocklists of accounts with bound sessions, by bare JID.
#[derive(Default)]
struct State {
    accounts: DashMap<String, Cached>,
    next_push: AtomicU64,
}

#[derive(Default)]
struct Cached {
    /// Blocked JIDs in canonical form (sorted, for the blocklist answer).
    items: Arc<BTreeSet<String>>,
    /// Resources that asked for the blocklist and so get pushes (§3.3).
    interested: HashSet<String>,
}

impl State {
    /// The account's blocklist: from memory, or from storage when the
    /// account has no session (a stanza for an offline user).
    async fn list(&self, server: &Server, bare: &Jid) -> Result<Arc<BTreeSet<String>>, StanzaError> {
        if let Some(cached) = self.accounts.get(bare.as_str()) {
            return Ok(cached.items.clone());
        }
        load(server, bare).await.map(Arc::new)
    }

    /// Replaces the cached list of an account whose session is asking (so it
    /// has one bound, and its `Closed` event, which forgets the list, comes
    /// later). Called under the account lock.
    fn set_items(&self, account: &Jid, items: BTreeSet<String>) {
        self.accounts.entry(account.to_string()).or_default().items = Arc::new(items);
    }

    /// The cached list only: for the synchronous filter, which cannot wait.
    fn cached_blocks(&self, account: &str, jid: &Jid) -> bool {
        self.accounts.get(account).is_some_and(|cached| blocks(&cached.items, jid))
    }
}

async fn load(server: &Server, bare: &Jid) -> Result<BTreeSet<String>, StanzaError> {
    let node = bare.node().unwrap_or_default();
    match server.store.account_data().list(bare.domain(), node, KIND).await {
        Ok(entries) => Ok(entries.into_iter().map(|(jid, _)| jid).collect()),
        Err(e) => {
            tracing::error!(account = %bare, error = %e, "blocklist lookup failed");
            Err(StanzaError::new(StanzaErrorCondition::InternalServerError))
        }
    }
}

/// The bare part of a JID's canonical string, without allocating.
fn bare_str(jid: &Jid) -> &str {
    let s = jid.as_str();
    match jid.resource() {
        Some(resource) => &s[..s.len() - resource.len() - 1],
        None => s,
    }
}

/// Whether a blocklist covers `jid`, in the order of XEP-0191 §6 (that of
/// XEP-0016): the JID itself (full, or `domain/resource`), its bare JID,
/// then its domain and every parent domain ("any address containing a
/// subdomain"). Every candidate is a slice of the JID's own string.
fn blocks(items: &BTreeSet<String>, jid: &Jid) -> bool {
    if items.is_empty() {
        return false;
    }
    if items.contains(jid.as_str()) || items.contains(bare_str(jid)) {
        return true;
    }
    let mut domain = jid.domain();
    loop {
        if items.contains(domain) {
            return true;
        }
        match domain.split_once('.') {
            Some((_, parent)) => domain = parent,
            None => return false,
        }
    }
}

/// Stanzas between an account's own resources, and between the user and
/// its own server, are never blocked: the user must always be able to reach
/// the server to unblock.
fn exempt(account: &Jid, other: &Jid) -> bool {
    bare_str(other) == bare_str(account) || (other.node().is_none() && other.domain() == account.domain())
}

/// Only the user's own account: iqs with no `to` (or `to` the bare JID).
fn own_account(request: &IqRequest) -> Result<Jid, StanzaError> {
    let bare = request.from.bare();
    if request.to == bare { Ok(bare) } else { Err(StanzaError::new(StanzaErrorCondition::ServiceUnavailable)) }
}

fn item(jid: &str) -> Element {
    Element::new("item", NS_BLOCKING).with_attr("jid", jid)
}

/// §3.2: the blocklist; the requesting resource now gets pushes.
struct GetList(Arc<State>);

impl IqHandler for GetList {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(async move {
            let account = own_account(request)?;
            let _guard = server.lock_account(&account).await;
            let items = self.0.list(server, &account).await?;
            let mut cached = self.0.accounts.entry(account.to_string()).or_default();
            cached.items = items.clone();
            cached.interested.extend(request.from.resource().map(String::from));
            drop(cached);
            let mut list = Element::new("blocklist", NS_BLOCKING);
            for jid in items.iter() {
                list.push_child(item(jid));
            }
            Ok(Some(list))
        })
    }
}

/// §3.3 block, §3.4 unblock, §3.5 unblock all.
struct Change {
    state: Arc<State>,
    block: bool,
}

impl IqHandler for Change {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(async move {
            let account = own_account(request)?;
            let mut jids = Vec::new();
            for child in request.payload().elements().filter(|e| e.is("item", NS_BLOCKING)) {
                let jid = child.attr("jid").and_then(|j| Jid::parse(j).ok());
                jids.push(jid.ok_or_else(|| StanzaError::new(StanzaErrorCondition::JidMalformed))?);
            }
            if self.block && jids.is_empty() {
                // §3.3: a block must name at least one JID.
                return Err(StanzaError::new(StanzaErrorCondition::BadRequest));
            }
            let changed = {
                let _guard = server.lock_account(&account).await;
                let before = self.state.list(server, &account).await?;
                if self.block {
                    self.store_blocks(server, &account, &before, &jids).await?
                } else {
                    self.unblock(server, &account, &before, &jids).await?
                }
            };
            if self.block && !changed.is_empty() {
                // §3.3: the contacts are told the user is gone before the
                // block is enforced (the filter would drop it), and outside
                // the account lock, like everything routed.
                send_unavailable(server, &account, &changed).await;
                let _guard = server.lock_account(&account).await;
                // From storage, which has any concurrent change of this account too.
                let items = load(server, &account).await?;
                self.state.set_items(&account, items);
            }
            request.answer(server, None);
            self.push(server, &account, request.payload());
            if !self.block {
                resend_presence(server, &account, &changed).await;
            }
            Ok(None)
        })
    }
}

impl Change {
    /// Stores the new items. Returns the newly blocked JIDs, which are
    /// enforced once the contacts have been told (see [`Change::handle`]).
    async fn store_blocks(
        &self,
        server: &Server,
        account: &Jid,
        before: &BTreeSet<String>,
        jids: &[Jid],
    ) -> Result<Vec<Jid>, StanzaError> {
        let node = account.node().expect("accounts have a localpart");
        let mut added: Vec<Jid> = jids.iter().filter(|j| !before.contains(j.as_str())).cloned().collect();
        added.sort();
        added.dedup();
        for jid in &added {
            if let Err(e) = server.store.account_data().put(account.domain(), node, KIND, jid.as_str(), "").await {
                tracing::error!(%account, error = %e, "storing a blocked JID failed");
                return Err(StanzaError::new(StanzaErrorCondition::InternalServerError));
            }
        }
        Ok(added)
    }

    /// Removes the named items, or all of them (§3.5). Returns the JIDs that
    /// were blocked and no longer are.
    async fn unblock(
        &self,
        server: &Server,
        account: &Jid,
        before: &BTreeSet<String>,
        jids: &[Jid],
    ) -> Result<Vec<Jid>, StanzaError> {
        let node = account.node().expect("accounts have a localpart");
        let data = server.store.account_data();
        let (removed, result): (Vec<Jid>, _) = if jids.is_empty() {
            let all = before.iter().filter_map(|j| Jid::parse(j).ok()).collect();
            (all, data.clear(account.domain(), node, KIND).await.map(|_| ()))
        } else {
            let removed: Vec<Jid> = jids.iter().filter(|j| before.contains(j.as_str())).cloned().collect();
            let mut result = Ok(());
            for jid in &removed {
                if let Err(e) = data.delete(account.domain(), node, KIND, jid.as_str()).await {
                    result = Err(e);
                    break;
                }
            }
            (removed, result)
        };
        if let Err(e) = result {
            tracing::error!(%account, error = %e, "removing blocked JIDs failed");
            return Err(StanzaError::new(StanzaErrorCondition::InternalServerError));
        }
        let mut items = before.clone();
        for jid in &removed {
            items.remove(jid.as_str());
        }
        self.state.set_items(account, items);
        Ok(removed)
    }

    /// §3.3–§3.5: the same change, to every resource that asked for the list.
    fn push(&self, server: &Server, account: &Jid, change: &Element) {
        let resources: Vec<String> = match self.state.accounts.get(account.as_str()) {
            Some(cached) => cached.interested.iter().cloned().collect(),
            None => return,
        };
        let mut payload = Element::new(change.name.clone(), NS_BLOCKING);
        for child in change.elements().filter(|e| e.is("item", NS_BLOCKING)) {
            if let Some(jid) = child.attr("jid").and_then(|j| Jid::parse(j).ok()) {
                payload.push_child(item(jid.as_str()));
            }
        }
        for resource in resources {
            let Ok(full) = account.with_resource(&resource) else { continue };
            let id = self.state.next_push.fetch_add(1, Ordering::Relaxed);
            let push = Element::new("iq", ns::CLIENT)
                .with_attr("type", "set")
                .with_attr("id", format!("wx-blocklist-{id}"))
                .with_attr("to", full.as_str())
                .with_child(payload.clone());
            server.deliver_reply(push);
        }
    }
}

/// The contacts a block of `item` hides the user from: those allowed to see
/// the user's presence (RFC 6121 `from` or `both`) whom the item covers. A
/// full-JID item concerns that one resource of a contact.
async fn subscribed_targets(server: &Server, account: &Jid, items: &[Jid]) -> Vec<Jid> {
    let node = account.node().expect("accounts have a localpart");
    let roster = match server.store.roster().items(account.domain(), node).await {
        Ok(roster) => roster,
        Err(e) => {
            tracing::error!(%account, error = %e, "roster lookup failed");
            return Vec::new();
        }
    };
    let list: BTreeSet<String> = items.iter().map(|j| j.to_string()).collect();
    let mut targets = Vec::new();
    for contact in roster {
        if !matches!(contact.subscription, Subscription::From | Subscription::Both) {
            continue;
        }
        let Ok(contact) = Jid::parse(&contact.contact) else { continue };
        if blocks(&list, &contact) {
            targets.push(contact.clone());
        }
        targets.extend(items.iter().filter(|i| i.resource().is_some() && i.bare() == contact).cloned());
    }
    targets
}

/// §3.3: unavailable presence from each available resource to the newly
/// blocked contacts that could see it.
async fn send_unavailable(server: &Server, account: &Jid, added: &[Jid]) {
    let available: Vec<Jid> =
        server.sessions.infos(account).into_iter().filter(|r| r.is_available()).map(|r| r.full).collect();
    if available.is_empty() || added.is_empty() {
        return;
    }
    for target in subscribed_targets(server, account, added).await {
        for full in &available {
            let presence = Element::new("presence", ns::CLIENT)
                .with_attr("type", "unavailable")
                .with_attr("from", full.as_str())
                .with_attr("to", target.as_str());
            server.route(&StanzaContext { from: full.clone(), to: target.clone() }, presence).await;
        }
    }
}

/// §3.4: the user's current presence again, to the unblocked contacts that
/// may see it. Sent as the answer to a probe from each of them (RFC 6121
/// §4.3.2), so that the presence module decides exactly what a contact sees
/// and whether its subscription allows it.
async fn resend_presence(server: &Server, account: &Jid, removed: &[Jid]) {
    if removed.is_empty() || !server.sessions.infos(account).iter().any(|r| r.is_available()) {
        return;
    }
    for target in subscribed_targets(server, account, removed).await {
        let probe = Element::new("presence", ns::CLIENT)
            .with_attr("type", "probe")
            .with_attr("from", target.as_str())
            .with_attr("to", account.as_str());
        server.route(&StanzaContext { from: target, to: account.clone() }, probe).await;
    }
}

/// §3.3: what the user sends to a blocked JID is refused with
/// `not-acceptable` and `<blocked/>`; responses and presence are dropped
/// (an error about them would tell the client nothing it can act on).
struct Outbound(Arc<State>);

impl StanzaHook for Outbound {
    fn handle<'a>(&'a self, server: &'a Server, context: &'a StanzaContext, stanza: Element) -> HookFuture<'a, Flow> {
        Box::pin(async move {
            if exempt(&context.from, &context.to) {
                return Flow::Continue(stanza);
            }
            let account = context.from.bare();
            let blocked = match self.0.list(server, &account).await {
                Ok(items) => blocks(&items, &context.to),
                Err(_) => false,
            };
            if !blocked {
                return Flow::Continue(stanza);
            }
            if let Some(reply) = blocked_error(&stanza) {
                server.deliver_reply(reply);
            }
            Flow::Handled
        })
    }
}

/// The §3.3 error for an outbound stanza, or `None` for stanzas that are
/// dropped instead (errors, iq responses, presence).
fn blocked_error(stanza: &Element) -> Option<Element> {
    let kind = stanza.attr("type");
    let answerable = match stanza.name.as_str() {
        "message" => kind != Some("error"),
        "iq" => matches!(kind, Some("get" | "set")),
        _ => false,
    };
    if !answerable {
        return None;
    }
    // Built by hand: the text carries no xml:lang, as Prosody's does.
    let error = Element::new("error", stanza.ns.clone())
        .with_attr("type", "cancel")
        .with_child(Element::new("not-acceptable", ns::STANZA_ERRORS))
        .with_child(Element::new("text", ns::STANZA_ERRORS).with_text("You have blocked this JID"))
        .with_child(Element::new("blocked", NS_BLOCKING_ERRORS));
    Some(reply_envelope(stanza, "error").with_child(error))
}

/// §3.3, inbound: what a blocked JID sends to the user's account.
fn refuse_inbound(server: &Server, stanza: &Element) {
    let request = stanza.name == "iq" && matches!(stanza.attr("type"), Some("get" | "set"));
    if stanza.name == "message" || request {
        // Errors are never answered (bounce checks); presence never is (§3.3).
        server.bounce(stanza, StanzaErrorCondition::ServiceUnavailable);
    }
}

/// Stanzas for the account itself (bare JID, or an unbound resource),
/// including those that would be stored offline.
struct Inbound {
    state: Arc<State>,
    /// Which stanzas this instance sees: messages (at `MessageToUser`, which
    /// every message for a local user passes first) or the rest.
    messages: bool,
}

impl StanzaHook for Inbound {
    fn handle<'a>(&'a self, server: &'a Server, context: &'a StanzaContext, stanza: Element) -> HookFuture<'a, Flow> {
        Box::pin(async move {
            if (stanza.name == "message") != self.messages || exempt(&context.to, &context.from) {
                return Flow::Continue(stanza);
            }
            let account = context.to.bare();
            let blocked = match self.state.list(server, &account).await {
                Ok(items) => blocks(&items, &context.from),
                // Fail closed: a storage error must not let a blocked JID through.
                Err(_) => true,
            };
            if !blocked {
                return Flow::Continue(stanza);
            }
            refuse_inbound(server, &stanza);
            Flow::Handled
        })
    }
}

/// Every delivery to a session (and every iq answered for an account): the
/// recipient may have blocked the sender, or the sender the recipient.
struct Filter(Arc<State>);

impl DeliveryFilter for Filter {
    fn allow(&self, server: &Server, from: &Jid, to: &Jid, stanza: &Element) -> bool {
        if exempt(to, from) {
            return true;
        }
        if self.0.cached_blocks(bare_str(to), from) {
            refuse_inbound(server, stanza);
            return false;
        }
        // Sent on behalf of a user who blocked the recipient (a presence
        // broadcast, say): it must not leak, and nobody is told.
        !self.0.cached_blocks(bare_str(from), to)
    }
}

/// Loads the list when an account's first session binds; forgets it (and
/// the resource's interest) when sessions close.
struct Sessions(Arc<State>);

impl SessionHook for Sessions {
    fn on_event<'a>(&'a self, server: &'a Server, full: &'a Jid, event: &'a SessionEvent) -> HookFuture<'a, ()> {
        Box::pin(async move {
            let account = full.bare();
            match event {
                SessionEvent::Bound => {
                    // Under the account lock, so that a closing session
                    // cannot forget the list a binding one just loaded.
                    let _guard = server.lock_account(&account).await;
                    if self.0.accounts.contains_key(account.as_str()) {
                        return;
                    }
                    // A failed load leaves the account uncached: the hooks
                    // read storage again, and fail closed.
                    if let Ok(items) = load(server, &account).await {
                        let cached = Cached { items: Arc::new(items), interested: HashSet::new() };
                        self.0.accounts.insert(account.to_string(), cached);
                    }
                }
                SessionEvent::Closed { .. } => {
                    let _guard = server.lock_account(&account).await;
                    if server.sessions.infos(&account).is_empty() {
                        self.0.accounts.remove(account.as_str());
                    } else if let (Some(mut cached), Some(resource)) =
                        (self.0.accounts.get_mut(account.as_str()), full.resource())
                    {
                        cached.interested.remove(resource);
                    }
                }
                SessionEvent::Available { .. } => {}
            }
        })
    }
}

struct Forget(Arc<State>);

impl AccountHook for Forget {
    fn removed<'a>(&'a self, _server: &'a Server, bare: &'a Jid) -> HookFuture<'a, ()> {
        Box::pin(async move {
            self.0.accounts.remove(bare.as_str());
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|i| Jid::parse(i).unwrap().to_string()).collect()
    }

    fn jid(s: &str) -> Jid {
        Jid::parse(s).unwrap()
    }

    #[test]
    fn bare_item_covers_every_resource() {
        let items = list(&["romeo@montague.lit"]);
        assert!(blocks(&items, &jid("romeo@montague.lit")));
        assert!(blocks(&items, &jid("romeo@montague.lit/orchard")));
        assert!(!blocks(&items, &jid("benvolio@montague.lit")));
        assert!(!blocks(&items, &jid("montague.lit")));
    }

    #[test]
    fn full_item_covers_only_that_resource() {
        let items = list(&["romeo@montague.lit/orchard"]);
        assert!(blocks(&items, &jid("romeo@montague.lit/orchard")));
        assert!(!blocks(&items, &jid("romeo@montague.lit/garden")));
        assert!(!blocks(&items, &jid("romeo@montague.lit")));
    }

    #[test]
    fn domain_item_covers_the_domain_its_users_and_subdomains() {
        let items = list(&["montague.lit"]);
        for covered in ["montague.lit", "romeo@montague.lit/x", "montague.lit/res", "chat.montague.lit"] {
            assert!(blocks(&items, &jid(covered)), "{covered}");
        }
        assert!(!blocks(&items, &jid("capulet.lit")));
        assert!(!blocks(&items, &jid("notmontague.lit")));
    }

    #[test]
    fn domain_resource_item_covers_only_that_jid() {
        let items = list(&["montague.lit/bot"]);
        assert!(blocks(&items, &jid("montague.lit/bot")));
        assert!(!blocks(&items, &jid("montague.lit")));
        assert!(!blocks(&items, &jid("romeo@montague.lit/bot")));
    }

    #[test]
    fn items_are_compared_prepared() {
        let items = list(&["Romeo@MONTAGUE.lit"]);
        assert!(blocks(&items, &jid("romeo@montague.lit/x")));
    }

    #[test]
    fn own_account_and_server_are_exempt() {
        let me = jid("juliet@capulet.lit/balcony");
        assert!(exempt(&me, &jid("juliet@capulet.lit/chamber")));
        assert!(exempt(&me, &jid("capulet.lit")));
        assert!(!exempt(&me, &jid("nurse@capulet.lit")));
        assert!(!exempt(&me, &jid("montague.lit")));
    }

    #[test]
    fn outbound_error_is_the_xep_one() {
        let message = Element::new("message", ns::CLIENT)
            .with_attr("from", "juliet@capulet.lit/balcony")
            .with_attr("to", "romeo@montague.lit")
            .with_attr("id", "m1");
        let reply = blocked_error(&message).unwrap();
        assert_eq!(reply.attr("type"), Some("error"));
        assert_eq!(reply.attr("to"), Some("juliet@capulet.lit/balcony"));
        assert_eq!(reply.attr("from"), Some("romeo@montague.lit"));
        let error = reply.get_child("error", ns::CLIENT).unwrap();
        assert!(error.get_child("not-acceptable", ns::STANZA_ERRORS).is_some());
        assert!(error.get_child("blocked", NS_BLOCKING_ERRORS).is_some());
        let presence = Element::new("presence", ns::CLIENT).with_attr("to", "romeo@montague.lit");
        assert!(blocked_error(&presence).is_none());
        assert!(blocked_error(&message.clone().with_attr("type", "error")).is_none());
    }
}
