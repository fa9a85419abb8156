//! Routing of stanzas sent by local clients (RFC 6120 §8, first slice of
//! RFC 6121 §8.5).
//!
//! Decides where a stanza goes — the server itself, a local account, one of
//! its sessions, or another domain — and answers with the right stanza error
//! when it cannot go anywhere. It never answers an error with an error.

use waxwing_jid::Jid;
use waxwing_proto::{StanzaError, StanzaErrorCondition, StanzaKind, StanzaView, ns, stanza::iq_result};
use waxwing_xml::Element;

use crate::module::{IqKey, IqRequest};
use crate::registry::{SendError, Undelivered};
use crate::server::Server;

impl Server {
    /// Routes a stanza from the local session `from` (its `from` is already stamped).
    pub async fn route_from_client(&self, from: &Jid, stanza: Element) {
        let Some(view) = StanzaView::new(&stanza, ns::CLIENT) else { return };
        let kind = view.kind;
        let to = match view.to() {
            Ok(Some(to)) => to,
            // RFC 6120 §8.1.1.1: no `to` means the sender's own account.
            Ok(None) => from.bare(),
            Err(_) => return self.bounce(&stanza, StanzaErrorCondition::JidMalformed),
        };
        if !self.is_local_domain(to.domain()) {
            // Federation comes with the s2s issue; until then no remote domain is reachable.
            return self.bounce(&stanza, StanzaErrorCondition::RemoteServerNotFound);
        }
        match (to.node().is_some(), to.resource().is_some(), kind) {
            // The server itself, or an account on whose behalf the server answers iqs (RFC 6121 §8.5.1, §8.5.2.1.3).
            (_, false, StanzaKind::Iq) => self.handle_iq(from, to, stanza).await,
            (false, _, _) => self.to_server(from, &to, stanza),
            (true, false, _) => self.to_bare(&to, stanza),
            (true, true, _) => self.to_full(&to, stanza),
        }
    }

    /// Stanzas for the domain that are not iqs to it (presence, messages, or
    /// anything to `domain/resource`).
    fn to_server(&self, _from: &Jid, to: &Jid, stanza: Element) {
        if stanza.name == "iq" && to.resource().is_some() {
            return self.iq_no_handler(&stanza);
        }
        if stanza.name == "message" {
            // RFC 6120 §10.3.1 lets the server handle or silently drop messages to itself.
            tracing::debug!("dropping message addressed to the server");
        }
    }

    /// RFC 6121 §8.5.2, first slice: messages go to every bound resource; the
    /// priority rules and offline storage come with the IM issue.
    fn to_bare(&self, to: &Jid, stanza: Element) {
        // Presence routing (subscriptions, probes, broadcast) is RFC 6121's issue.
        if stanza.name != "message" {
            return;
        }
        let mut delivered = false;
        for (_, handle) in self.sessions.resources(to) {
            delivered |= handle.send(stanza.clone()).is_ok();
        }
        if !delivered {
            self.bounce(&stanza, StanzaErrorCondition::ServiceUnavailable);
        }
    }

    fn to_full(&self, to: &Jid, stanza: Element) {
        let undelivered = match self.sessions.get(to) {
            Some(handle) => match handle.send(stanza) {
                Ok(()) => return,
                Err(undelivered) => undelivered,
            },
            None => Undelivered { reason: SendError::Closed, stanza },
        };
        let stanza = undelivered.stanza;
        match undelivered.reason {
            SendError::Full => self.bounce(&stanza, StanzaErrorCondition::ResourceConstraint),
            // RFC 6121 §8.5.3.2: an iq to an unavailable full JID gets service-unavailable;
            // presence is dropped; messages will fall back to the bare JID with the IM issue.
            SendError::Closed => {
                if matches!(stanza.name.as_str(), "iq" | "message") {
                    self.bounce(&stanza, StanzaErrorCondition::ServiceUnavailable)
                }
            }
        }
    }

    async fn handle_iq(&self, from: &Jid, to: Jid, stanza: Element) {
        let view = StanzaView { element: &stanza, kind: StanzaKind::Iq };
        let Some(iq_type) = view.iq_type() else {
            // RFC 6120 §8.2.3: `type` is required and must be one of the four.
            return self.bounce(&stanza, StanzaErrorCondition::BadRequest);
        };
        if !iq_type.is_request() {
            // Responses to the server (our pings, later our own requests) end here.
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
        let request = IqRequest { from: from.clone(), to, iq_type, element: stanza };
        let reply = match handler.handle(self, &request).await {
            Ok(payload) => iq_result(&request.element, payload),
            Err(error) => match error.reply_to(&request.element) {
                Some(reply) => reply,
                None => return,
            },
        };
        self.deliver_reply(reply);
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
    fn deliver_reply(&self, reply: Element) {
        let Some(to) = reply.attr("to").and_then(|t| Jid::parse(t).ok()) else { return };
        if let Some(handle) = self.sessions.get(&to) {
            let _ = handle.send(reply);
        }
    }
}
