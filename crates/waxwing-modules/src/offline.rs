//! XEP-0160: messages for an account with no available resource are kept
//! and delivered, oldest first, when one of its resources sends available
//! presence with a non-negative priority.
//!
//! The message module hands on only the messages that should be kept
//! (normal and chat with nobody to read them); this module stores them with
//! a XEP-0203 delay stamp. Storage is durable before anything else happens,
//! and a message is deleted only after it was queued to a session; one
//! that a dying session never wrote comes back here (see the session's
//! re-routing of its queue).

use std::sync::Arc;

use waxwing_core::{
    Flow, HookFuture, HookPoint, Module, Registrations, Server, SessionEvent, SessionHook, StanzaContext, StanzaHook,
};
use waxwing_jid::Jid;
use waxwing_proto::{StanzaError, StanzaErrorCondition, datetime, ns};
use waxwing_store::StoreError;
use waxwing_xml::Element;

use crate::ModulesConfig;

const DELAY: &str = "urn:xmpp:delay";
const MSGOFFLINE: &str = "msgoffline";
/// XEP-0334 processing hints.
const HINTS: &str = "urn:xmpp:hints";

pub struct Offline {
    max_messages: usize,
}

impl Offline {
    pub fn new(config: &ModulesConfig) -> Offline {
        Offline { max_messages: config.offline.max_messages }
    }
}

impl Module for Offline {
    fn name(&self) -> &'static str {
        "offline"
    }

    fn register(&self, r: &mut Registrations) {
        let settings = Arc::new(Settings { max_messages: self.max_messages });
        // After the message module (priority 0), which decides what is left to keep.
        r.stanza_hook(HookPoint::ToAccount, 100, Store(settings));
        r.session_hook(Flush);
        r.disco_feature(MSGOFFLINE);
    }
}

struct Settings {
    max_messages: usize,
}

struct Store(Arc<Settings>);

impl StanzaHook for Store {
    fn handle<'a>(&'a self, server: &'a Server, context: &'a StanzaContext, stanza: Element) -> HookFuture<'a, Flow> {
        Box::pin(async move {
            if stanza.name != "message" || !matches!(stanza.attr("type"), None | Some("normal") | Some("chat")) {
                return Flow::Continue(stanza);
            }
            if worth_keeping(&stanza) {
                store(server, &context.to.bare(), stanza, self.0.max_messages).await;
            } else {
                tracing::debug!(to = %context.to, "not keeping a message without content for later");
            }
            Flow::Handled
        })
    }
}

/// XEP-0160 §3 keeps messages of type normal or chat; XEP-0334 lets the
/// sender say otherwise. A message with nothing but chat states (XEP-0085
/// §5.5: not to be stored) is dropped quietly: an error for "is typing" would
/// only confuse the sender's client.
fn worth_keeping(message: &Element) -> bool {
    if message.get_child("no-store", HINTS).is_some() {
        return false;
    }
    message.get_child("store", HINTS).is_some()
        || message
            .elements()
            .any(|child| child.is("body", ns::CLIENT) || child.ns != ns::CLIENT && !is_chat_state(child))
}

fn is_chat_state(child: &Element) -> bool {
    child.ns == "http://jabber.org/protocol/chatstates"
}

async fn store(server: &Server, bare: &Jid, mut message: Element, max: usize) {
    let Some(node) = bare.node() else { return };
    // XEP-0203: the recipient learns when the server got it.
    message.push_child(
        Element::new("delay", DELAY)
            .with_attr("from", bare.domain())
            .with_attr("stamp", datetime::now())
            .with_text("Offline Storage"),
    );
    let text = String::from_utf8(message.to_bytes(ns::CLIENT)).expect("serialised XML is UTF-8");
    match server.store.offline().push(bare.domain(), node, &text, max).await {
        Ok(()) => tracing::debug!(to = %bare, "message stored offline"),
        Err(StoreError::QuotaExceeded) => {
            // XEP-0160 §3: the sender learns it was not kept.
            let error = StanzaError::new(StanzaErrorCondition::ServiceUnavailable)
                .with_text("The recipient's offline message storage is full");
            if let Some(reply) = error.reply_to(&message) {
                server.deliver_reply(reply);
            }
        }
        Err(e) => {
            tracing::error!(to = %bare, error = %e, "cannot store offline message");
            server.bounce(&message, StanzaErrorCondition::InternalServerError);
        }
    }
}

struct Flush;

impl SessionHook for Flush {
    fn on_event<'a>(&'a self, server: &'a Server, full: &'a Jid, event: &'a SessionEvent) -> HookFuture<'a, ()> {
        Box::pin(async move {
            if let SessionEvent::Available { priority } = event
                && *priority >= 0
            {
                flush(server, full).await;
            }
        })
    }
}

/// Hands the stored messages to the session that just became available.
async fn flush(server: &Server, full: &Jid) {
    let bare = full.bare();
    let Some(node) = bare.node() else { return };
    // Two resources coming online at once must not both get the messages.
    let _guard = server.lock_account(&bare).await;
    let stored = match server.store.offline().list(bare.domain(), node).await {
        Ok(stored) => stored,
        Err(e) => return tracing::error!(jid = %full, error = %e, "cannot read offline messages"),
    };
    if stored.is_empty() {
        return;
    }
    let Some(info) = server.sessions.info(full) else { return };
    let mut handed = Vec::with_capacity(stored.len());
    for message in stored {
        let element = match waxwing_xml::parse_element(&message.stanza, ns::CLIENT) {
            Ok(element) => element,
            Err(e) => {
                // Unreadable rows would block the queue forever; they were
                // written by us, so this is a bug worth shouting about.
                tracing::error!(jid = %full, id = message.id, error = %e, "dropping unreadable offline message");
                handed.push(message.id);
                continue;
            }
        };
        let from = element.attr("from").and_then(|f| Jid::parse(f).ok()).unwrap_or_else(|| bare.clone());
        if !server.deliver_to(&from, full, &info.handle, element) {
            break;
        }
        handed.push(message.id);
    }
    if let Err(e) = server.store.offline().delete(bare.domain(), node, &handed).await {
        tracing::error!(jid = %full, error = %e, "cannot delete delivered offline messages");
    }
}
