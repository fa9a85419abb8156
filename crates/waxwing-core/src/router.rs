//! Routing of stanzas sent by local clients (RFC 6120 §8, first slice of
//! RFC 6121 §8.5).
//!
//! Decides where a stanza goes — the server itself, a local account, one of
//! its sessions, or another domain — and answers with the right stanza error
//! when it cannot go anywhere. It never answers an error with an error.

use waxwing_jid::Jid;
use waxwing_proto::{StanzaError, StanzaErrorCondition, StanzaKind, StanzaView, ns, stanza::iq_result};
use waxwing_xml::Element;

use std::sync::Arc;

use crate::hooks::{Flow, StanzaContext, StanzaHook};
use crate::module::{IqKey, IqRequest};
use crate::registry::{SendError, SessionHandle, Undelivered};
use crate::server::Server;

impl Server {
    /// Routes a stanza from the local session `from` (its `from` is already
    /// stamped): the [`HookPoint::FromClient`] hooks first, then [`Server::route`].
    pub async fn route_from_client(&self, from: &Jid, stanza: Element) {
        let Some(view) = StanzaView::new(&stanza, ns::CLIENT) else { return };
        let to = match view.to() {
            Ok(Some(to)) => to,
            // RFC 6120 §8.1.1.1: no `to` means the sender's own account.
            Ok(None) => from.bare(),
            Err(_) => return self.bounce(&stanza, StanzaErrorCondition::JidMalformed),
        };
        let context = StanzaContext { from: from.clone(), to };
        let Some(stanza) = self.run_hooks(&self.from_client_hooks, &context, stanza).await else { return };
        self.route(&context, stanza).await
    }

    /// Routes a stanza whose `from` is trustworthy (stamped by the server, or
    /// sent by a module on the server's or an account's behalf) to `to`.
    pub async fn route(&self, context: &StanzaContext, stanza: Element) {
        let to = &context.to;
        if !self.is_local_domain(to.domain()) {
            // Federation comes with the s2s issue; until then no remote domain is reachable.
            return self.bounce(&stanza, StanzaErrorCondition::RemoteServerNotFound);
        }
        let is_iq = stanza.name == "iq";
        let stanza = if stanza.name == "message" && to.node().is_some() && !self.message_to_user_hooks.is_empty() {
            let Some(stanza) = self.run_hooks(&self.message_to_user_hooks, context, stanza).await else { return };
            stanza
        } else {
            stanza
        };
        match (to.node().is_some(), to.resource().is_some()) {
            // The server itself, or an account on whose behalf the server answers iqs (RFC 6121 §8.5.1, §8.5.2.1.3).
            (_, false) if is_iq => self.handle_iq(&context.from, to.clone(), stanza).await,
            (false, _) => self.to_server(to, stanza),
            (true, false) => self.to_account(context, stanza).await,
            (true, true) => self.to_full(context, stanza).await,
        }
    }

    /// Routes again a stanza that was queued to a session which ended before
    /// writing it: as [`Server::route`] to a full JID, but without the
    /// [`HookPoint::MessageToUser`] hooks, which saw it the first time (it
    /// must not be archived or copied twice).
    pub async fn reroute_undelivered(&self, context: &StanzaContext, stanza: Element) {
        if context.to.resource().is_some() && self.is_local_domain(context.to.domain()) {
            self.to_full(context, stanza).await
        } else {
            self.route(context, stanza).await
        }
    }

    async fn run_hooks(
        &self,
        hooks: &[Arc<dyn StanzaHook>],
        context: &StanzaContext,
        mut stanza: Element,
    ) -> Option<Element> {
        for hook in hooks {
            match hook.handle(self, context, stanza).await {
                Flow::Continue(next) => stanza = next,
                Flow::Handled => return None,
            }
        }
        Some(stanza)
    }

    /// Stanzas for the domain that are not iqs to it (presence, messages, or
    /// anything to `domain/resource`).
    fn to_server(&self, to: &Jid, stanza: Element) {
        if stanza.name == "iq" && to.resource().is_some() {
            return self.iq_no_handler(&stanza);
        }
        if stanza.name == "message" {
            // RFC 6120 §10.3.1 lets the server handle or silently drop messages to itself.
            tracing::debug!("dropping message addressed to the server");
        }
    }

    /// A message or presence for a local account: the [`HookPoint::ToAccount`]
    /// hooks decide (RFC 6121 §8.5.2). What none of them takes is dropped if
    /// it is a presence, and answered with `service-unavailable` if it is a
    /// message (§8.5.2.2.1: what a server without offline storage does).
    async fn to_account(&self, context: &StanzaContext, stanza: Element) {
        if stanza.name == "iq" {
            // Only an iq to an unavailable full JID gets here (§8.5.3.1).
            return self.iq_no_handler(&stanza);
        }
        let Some(stanza) = self.run_hooks(&self.to_account_hooks, context, stanza).await else { return };
        if stanza.name == "message" {
            self.bounce(&stanza, StanzaErrorCondition::ServiceUnavailable);
        }
    }

    async fn to_full(&self, context: &StanzaContext, stanza: Element) {
        let Some(handle) = self.sessions.get(&context.to) else {
            // RFC 6121 §8.5.3.2: the account decides (messages may fall back to
            // the bare JID, subscription presence is processed, iqs get an error).
            return self.to_account(context, stanza).await;
        };
        if let Some(stanza) = self.try_deliver(&context.from, &context.to, &handle, stanza) {
            // It closed just now: as if it had not been there.
            Box::pin(self.to_account(context, stanza)).await
        }
    }

    /// Queues a stanza from `from` to one bound session, through the delivery
    /// filters. For modules that have chosen the session themselves (RFC 6121
    /// §8.5.2 bare-JID delivery, broadcasts). Returns whether it was queued;
    /// a full queue has been bounced already.
    pub fn deliver_to(&self, from: &Jid, to: &Jid, handle: &SessionHandle, stanza: Element) -> bool {
        self.try_deliver(from, to, handle, stanza).is_none()
    }

    /// Filters, then queues. Hands the stanza back only if the session has
    /// closed; a filtered stanza is dealt with by its filter, and one for a
    /// full queue is bounced here.
    fn try_deliver(&self, from: &Jid, to: &Jid, handle: &SessionHandle, stanza: Element) -> Option<Element> {
        if self.delivery_filters.iter().any(|f| !f.allow(self, from, to, &stanza)) {
            return None;
        }
        match handle.send(stanza) {
            Ok(()) => None,
            Err(Undelivered { reason: SendError::Full, stanza }) => {
                self.bounce(&stanza, StanzaErrorCondition::ResourceConstraint);
                None
            }
            Err(Undelivered { reason: SendError::Closed, stanza }) => Some(stanza),
        }
    }

    async fn handle_iq(&self, from: &Jid, to: Jid, stanza: Element) {
        if to.node().is_some() && to != from.bare() && !self.account_exists(&to).await {
            // RFC 6121 §8.5.1: no such account.
            return self.bounce(&stanza, StanzaErrorCondition::ServiceUnavailable);
        }
        if to.node().is_some()
            && to != from.bare()
            && self.delivery_filters.iter().any(|f| !f.allow(self, from, &to, &stanza))
        {
            // The server answers for the account here (RFC 6121 §8.5.1), so
            // what the account refuses (XEP-0191 blocking) it refuses too.
            return;
        }
        let view = StanzaView { element: &stanza, kind: StanzaKind::Iq };
        let Some(iq_type) = view.iq_type() else {
            // RFC 6120 §8.2.3: `type` is required and must be one of the four.
            return self.bounce(&stanza, StanzaErrorCondition::BadRequest);
        };
        if !iq_type.is_request() {
            // Responses to the server or to an account: answers to requests
            // the server sent (XEP-0357 notifications…) go to whoever waits
            // for them; the rest (answers to our keepalive pings) end here.
            self.iq_tracker.resolve(from, stanza);
            return;
        }
        let Some(payload) = view.iq_payload() else {
            // §8.2.3: a get or set contains exactly one payload child.
            return self.bounce(&stanza, StanzaErrorCondition::BadRequest);
        };
        let key = IqKey { iq_type, ns: payload.ns.clone(), name: payload.name.clone() };
        let Some(handler) = self.iq_handler(&key).cloned() else {
            return self.iq_no_handler(&stanza);
        };
        let request = IqRequest::new(from.clone(), to, iq_type, stanza);
        let response = handler.handle(self, &request).await;
        if request.is_answered() {
            return;
        }
        let reply = match response {
            Ok(payload) => iq_result(&request.element, payload),
            Err(error) => match error.reply_to(&request.element) {
                Some(reply) => reply,
                None => return,
            },
        };
        self.deliver_reply(reply);
    }

    /// Sends an iq request (get or set) from `from` — the server's domain or
    /// a local account's bare JID — to `to`, with a fresh `id`, and returns
    /// what resolves with its answer. An error the server itself generates
    /// because `to` cannot be reached counts as an answer. Callers should
    /// wait with a timeout: the addressee may never answer.
    pub async fn send_iq(&self, from: &Jid, to: &Jid, mut iq: Element) -> crate::iq_tracker::PendingIq {
        let pending = self.iq_tracker.track(to);
        iq.set_attr("id", pending.id());
        iq.set_attr("from", from.as_str());
        iq.set_attr("to", to.as_str());
        self.route(&StanzaContext { from: from.clone(), to: to.clone() }, iq).await;
        pending
    }

    /// Whether a local account exists (a storage failure counts as no).
    pub async fn account_exists(&self, bare: &Jid) -> bool {
        let Some(node) = bare.node() else { return false };
        match self.store.accounts().exists(bare.domain(), node).await {
            Ok(exists) => exists,
            Err(e) => {
                tracing::error!(error = %e, "account lookup failed");
                false
            }
        }
    }

    /// RFC 6120 §8.4: an iq nobody handles gets `service-unavailable`.
    fn iq_no_handler(&self, stanza: &Element) {
        self.bounce(stanza, StanzaErrorCondition::ServiceUnavailable);
    }

    /// Answers `stanza` with an error, unless it is an error itself.
    pub fn bounce(&self, stanza: &Element, condition: StanzaErrorCondition) {
        if let Some(reply) = StanzaError::new(condition).reply_to(stanza) {
            self.deliver_reply(reply);
        }
    }

    /// Sends a reply to the local full JID in its `to`. Replies go only to
    /// sessions: a reply must never be stored or forwarded elsewhere.
    pub fn deliver_reply(&self, reply: Element) {
        let Some(to) = reply.attr("to").and_then(|t| Jid::parse(t).ok()) else { return };
        if to.resource().is_none() && reply.name == "iq" {
            // An error the server generated for one of its own requests
            // (see [`Server::send_iq`]): no session has a bare JID.
            if let Some(from) = reply.attr("from").and_then(|f| Jid::parse(f).ok()) {
                self.iq_tracker.resolve(&from, reply);
            }
            return;
        }
        if let Some(handle) = self.sessions.get(&to) {
            let _ = handle.send(reply);
        }
    }
}
