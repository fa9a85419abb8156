//! RFC 6121 §8.5: where a message for a local account goes — which of its
//! resources, or (when none is available) on to offline storage.
//!
//! Runs as a [`HookPoint::ToAccount`] hook, so it sees messages to a bare JID
//! and to full JIDs that have no session behind them. A message it does not
//! deliver, bounce or drop is handed on: the offline module, if enabled,
//! stores it; otherwise the router answers `service-unavailable`, which is
//! what §8.5.2.2.1 asks of a server without offline storage.

use waxwing_core::{Flow, HookFuture, HookPoint, Module, Registrations, Server, StanzaContext, StanzaHook};
use waxwing_proto::StanzaErrorCondition;
use waxwing_xml::Element;

pub struct Message;

impl Module for Message {
    fn name(&self) -> &'static str {
        "message"
    }

    fn register(&self, r: &mut Registrations) {
        r.stanza_hook(HookPoint::ToAccount, 0, DeliverToAccount);
    }
}

/// The `type` of a message (RFC 6121 §5.2.2); absent or unknown means normal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Chat,
    Error,
    Groupchat,
    Headline,
    Normal,
}

impl MessageType {
    pub fn of(message: &Element) -> MessageType {
        match message.attr("type") {
            Some("chat") => MessageType::Chat,
            Some("error") => MessageType::Error,
            Some("groupchat") => MessageType::Groupchat,
            Some("headline") => MessageType::Headline,
            // §5.2.2: an unrecognised type is treated as normal.
            _ => MessageType::Normal,
        }
    }
}

struct DeliverToAccount;

impl StanzaHook for DeliverToAccount {
    fn handle<'a>(&'a self, server: &'a Server, context: &'a StanzaContext, stanza: Element) -> HookFuture<'a, Flow> {
        Box::pin(async move {
            if stanza.name != "message" {
                return Flow::Continue(stanza);
            }
            deliver(server, context, stanza).await
        })
    }
}

async fn deliver(server: &Server, context: &StanzaContext, stanza: Element) -> Flow {
    let kind = MessageType::of(&stanza);
    let bare = context.to.bare();
    let to_full = context.to.resource().is_some();
    // Only reached for a full JID when that resource is not bound (§8.5.3.2.1):
    // groupchat then gets an error, errors are dropped, and the other types
    // are treated as if sent to the bare JID.
    if to_full && kind == MessageType::Groupchat {
        server.bounce(&stanza, StanzaErrorCondition::ServiceUnavailable);
        return Flow::Handled;
    }
    let resources = server.sessions.infos(&bare);
    if resources.is_empty() && !server.account_exists(&bare).await {
        // §8.5.1: no such account; headlines and errors are dropped, the rest
        // answered with service-unavailable (which does not reveal more than
        // an offline account would without storage).
        if !matches!(kind, MessageType::Headline | MessageType::Error) {
            server.bounce(&stanza, StanzaErrorCondition::ServiceUnavailable);
        }
        return Flow::Handled;
    }
    match kind {
        // §8.5.2.1.1 / §8.5.2.2.1: never delivered to a bare JID, and an
        // error to an account is of no use to any particular resource.
        MessageType::Groupchat => {
            server.bounce(&stanza, StanzaErrorCondition::ServiceUnavailable);
            return Flow::Handled;
        }
        MessageType::Error => return Flow::Handled,
        _ => {}
    }
    // §8.5.2.1.1: normal, chat and headline go to the available resources with
    // non-negative priority. The RFC allows only the highest-priority ones;
    // we deliver to all of them, as Prosody does, so that every device a
    // person uses sees the conversation.
    let mut delivered = false;
    for info in resources.iter().filter(|r| r.is_available() && r.priority >= 0) {
        delivered |= server.deliver_to(&context.from, &info.full, &info.handle, stanza.clone());
    }
    if delivered {
        return Flow::Handled;
    }
    match kind {
        // §8.5.2.2.1: a headline nobody can see now is not worth keeping.
        MessageType::Headline => Flow::Handled,
        // Normal and chat: offline storage, or service-unavailable without it.
        _ => Flow::Continue(stanza),
    }
}
