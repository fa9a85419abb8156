//! XEP-0280 Message Carbons: every device of a user sees both sides of its
//! conversations.
//!
//! A session opts in with `<enable/>` (and out with `<disable/>`); the
//! choice lives in memory, keyed by full JID and session id, and ends with
//! the session. Two hooks make the copies:
//! - [`HookPoint::FromClient`]: what a resource sends is copied, wrapped in
//!   `<sent/>`, to the user's other enabled resources (§6, sending);
//! - [`HookPoint::MessageToUser`]: what a user receives is copied, wrapped in
//!   `<received/>`, to its enabled resources that do not get the original
//!   anyway (§6, receiving).
//!
//! Copies are queued straight to the chosen sessions (through the delivery
//! filters, but not through the hooks again): a copy is never archived,
//! stored offline or copied once more.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use waxwing_core::module::IqFuture;
use waxwing_core::{
    Flow, HookFuture, HookPoint, IqHandler, IqRequest, Module, Registrations, Server, SessionEvent, SessionHook,
    StanzaContext, StanzaHook,
};
use waxwing_jid::Jid;
use waxwing_proto::{IqType, StanzaError, StanzaErrorCondition, ns};
use waxwing_xml::Element;

use crate::ModulesConfig;
use crate::message::MessageType;

pub const CARBONS: &str = "urn:xmpp:carbons:2";
const FORWARD: &str = "urn:xmpp:forward:0";
/// XEP-0334 processing hints.
const HINTS: &str = "urn:xmpp:hints";
const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// Payloads that make a bodiless message part of a conversation (§6.1):
/// receipts, chat states, chat markers, corrections.
const IM_PAYLOADS: &[&str] = &[
    "urn:xmpp:receipts",
    "http://jabber.org/protocol/chatstates",
    "urn:xmpp:chat-markers:0",
    "urn:xmpp:message-correct:0",
];
/// After the other FromClient hooks (blocking runs at -1000, presence at 0):
/// a message they stop is not copied either.
const SENT_PRIORITY: i32 = 1000;
/// Before the archive (100), so that a spoofed carbon is gone before anyone
/// stores it.
const SPOOF_PRIORITY: i32 = -100;
/// After the archive, so that the copies carry the XEP-0359 `<stanza-id/>`
/// it adds (clients use it to find the message in the archive later).
const RECEIVED_PRIORITY: i32 = 200;

pub struct Carbons;

impl Carbons {
    pub fn new(_config: &ModulesConfig) -> Carbons {
        Carbons
    }
}

impl Module for Carbons {
    fn name(&self) -> &'static str {
        "carbons"
    }

    fn register(&self, r: &mut Registrations) {
        let state = Arc::new(State::default());
        r.disco_feature(CARBONS);
        r.iq(IqType::Set, CARBONS, "enable", Toggle { state: state.clone(), enable: true });
        r.iq(IqType::Set, CARBONS, "disable", Toggle { state: state.clone(), enable: false });
        r.stanza_hook(HookPoint::FromClient, SENT_PRIORITY, Sent(state.clone()));
        r.stanza_hook(HookPoint::MessageToUser, SPOOF_PRIORITY, DropSpoofed);
        r.stanza_hook(HookPoint::MessageToUser, RECEIVED_PRIORITY, Received(state.clone()));
        r.session_hook(Forget(state));
    }
}

/// `<enable/>` or `<disable/>` (§4, §5).
struct Toggle {
    state: Arc<State>,
    enable: bool,
}

impl IqHandler for Toggle {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(async move { self.state.toggle(server, request, self.enable) })
    }
}

/// The sessions that enabled carbons: full JID → session id. The id tells a
/// session apart from a later one that bound the same resource.
#[derive(Default)]
struct State {
    enabled: Mutex<HashMap<Jid, u64>>,
}

impl State {
    fn toggle(&self, server: &Server, request: &IqRequest, enable: bool) -> Result<Option<Element>, StanzaError> {
        // §4/§5: sent to the user's own bare JID (or with no `to`, which the
        // router turns into it). Nobody switches carbons for someone else.
        if request.to != request.from.bare() {
            return Err(StanzaError::new(StanzaErrorCondition::Forbidden));
        }
        let Some(handle) = server.sessions.get(&request.from) else {
            return Err(StanzaError::new(StanzaErrorCondition::ItemNotFound));
        };
        let mut enabled = self.enabled.lock().expect("carbons lock");
        // §4/§5 ("relaxed" since 0.9): enabling twice, or disabling what is
        // not enabled, is not an error.
        if enable {
            enabled.insert(request.from.clone(), handle.id());
        } else {
            enabled.remove(&request.from);
        }
        Ok(None)
    }

    /// The user's carbons-enabled sessions, except `except`.
    fn targets(&self, server: &Server, bare: &Jid, except: Option<&Jid>) -> Vec<waxwing_core::ResourceInfo> {
        let enabled = self.enabled.lock().expect("carbons lock");
        if enabled.is_empty() {
            return Vec::new();
        }
        server
            .sessions
            .infos(bare)
            .into_iter()
            .filter(|info| Some(&info.full) != except && enabled.get(&info.full) == Some(&info.handle.id()))
            .collect()
    }
}

/// Whether a message takes part in carbons at all (§6.1). `incoming`: it is
/// being received by the user (rather than sent by one of its resources).
fn eligible(message: &Element, incoming: bool) -> bool {
    // §7: the sender asked for no copies; XEP-0334 says the same in general.
    if message.get_child("private", CARBONS).is_some() || message.get_child("no-copy", HINTS).is_some() {
        return false;
    }
    // A copy is never copied again (and a copy from elsewhere is spoofed:
    // see `Received`).
    if is_carbon(message) {
        return false;
    }
    match MessageType::of(message) {
        MessageType::Chat => true,
        MessageType::Normal => {
            message.get_child("body", ns::CLIENT).is_some()
                || message.elements().any(|child| IM_PAYLOADS.contains(&child.ns.as_str()))
        }
        // §6.1: an error answering an eligible message. Which message it
        // answers is not known here; the one kind that can be told apart is
        // a bounce of a message the user sent to a bare JID (the usual case
        // for chat), which comes back from that bare JID.
        MessageType::Error => {
            incoming && message.attr("from").and_then(|f| Jid::parse(f).ok()).is_some_and(|f| f.resource().is_none())
        }
        // Groupchat copies would duplicate the room's own fan-out to every
        // joined resource; headlines are not conversations.
        MessageType::Groupchat | MessageType::Headline => false,
    }
}

fn is_carbon(message: &Element) -> bool {
    message.get_child("sent", CARBONS).is_some() || message.get_child("received", CARBONS).is_some()
}

/// `<message from=bare to=target type=…><{direction} xmlns=carbons><forwarded>original</forwarded></…></message>`
/// (§6, Examples 6 and 9).
fn wrap(direction: &str, bare: &Jid, target: &Jid, original: &Element) -> Element {
    let mut copy =
        Element::new("message", ns::CLIENT).with_attr("from", bare.as_str()).with_attr("to", target.as_str());
    if let Some(kind) = original.attr("type") {
        copy.set_attr("type", kind);
    }
    copy.with_child(
        Element::new(direction, CARBONS).with_child(Element::new("forwarded", FORWARD).with_child(original.clone())),
    )
}

fn send_copies(
    server: &Server,
    direction: &str,
    bare: &Jid,
    targets: &[waxwing_core::ResourceInfo],
    original: &Element,
) {
    for info in targets {
        let copy = wrap(direction, bare, &info.full, original);
        server.deliver_to(bare, &info.full, &info.handle, copy);
    }
}

/// Copies of what a resource sends, to the user's other enabled resources.
struct Sent(Arc<State>);

impl StanzaHook for Sent {
    fn handle<'a>(&'a self, server: &'a Server, context: &'a StanzaContext, stanza: Element) -> HookFuture<'a, Flow> {
        Box::pin(async move {
            let bare = context.from.bare();
            // A message to the user's own account reaches its resources
            // through normal delivery, and `Received` copies it where it
            // would not arrive: a `<sent/>` copy on top would be a duplicate.
            if stanza.name != "message" || context.to.bare() == bare || !eligible(&stanza, false) {
                return Flow::Continue(stanza);
            }
            let targets = self.0.targets(server, &bare, Some(&context.from));
            send_copies(server, "sent", &bare, &targets, &stanza);
            Flow::Continue(stanza)
        })
    }
}

/// §11: a carbon is only ever from the user's own bare JID. One from
/// anybody else is an attempt to put words in the user's mouth; clients must
/// ignore it, and the server does not even pass it on (or archive it).
struct DropSpoofed;

impl StanzaHook for DropSpoofed {
    fn handle<'a>(&'a self, _server: &'a Server, context: &'a StanzaContext, stanza: Element) -> HookFuture<'a, Flow> {
        Box::pin(async move {
            if is_carbon(&stanza) && context.from.bare() != context.to.bare() {
                tracing::debug!(from = %context.from, to = %context.to, "dropping a spoofed carbon");
                return Flow::Handled;
            }
            Flow::Continue(stanza)
        })
    }
}

/// Copies of what a user receives, to its enabled resources that do not get
/// the original.
struct Received(Arc<State>);

impl StanzaHook for Received {
    fn handle<'a>(&'a self, server: &'a Server, context: &'a StanzaContext, stanza: Element) -> HookFuture<'a, Flow> {
        Box::pin(async move {
            let bare = context.to.bare();
            if context.from.bare() == bare && context.to.resource().is_some() {
                // Between two resources of one user: both ends are the user's.
                return Flow::Continue(stanza);
            }
            if !eligible(&stanza, true) {
                return Flow::Continue(stanza);
            }
            // XEP-0280 §6 (MUC private messages): a private message from a
            // room occupant, sent to one joined resource, is that client's
            // business; the other clients are not in the room.
            if context.to.resource().is_some() && stanza.get_child("x", MUC_USER).is_some() {
                return Flow::Continue(stanza);
            }
            let bound_target = context.to.resource().is_some() && server.sessions.get(&context.to).is_some();
            let targets: Vec<_> = self
                .0
                .targets(server, &bare, None)
                .into_iter()
                .filter(|info| {
                    if bound_target {
                        // To a full JID that is bound: it goes there, and
                        // only there; everyone else gets a copy.
                        info.full != context.to
                    } else {
                        // To the bare JID (or a full JID that is gone,
                        // treated alike, RFC 6121 §8.5.3.2.1): the message
                        // module delivers to the available resources with
                        // non-negative priority (§8.5.2.1.1); copies go to
                        // the enabled ones it leaves out.
                        !(info.is_available() && info.priority >= 0)
                    }
                })
                .collect();
            send_copies(server, "received", &bare, &targets, &stanza);
            Flow::Continue(stanza)
        })
    }
}

/// A new session starts with carbons off; an ended one is forgotten.
struct Forget(Arc<State>);

impl SessionHook for Forget {
    fn on_event<'a>(&'a self, server: &'a Server, full: &'a Jid, event: &'a SessionEvent) -> HookFuture<'a, ()> {
        Box::pin(async move {
            if matches!(event, SessionEvent::Bound | SessionEvent::Closed { .. }) {
                let mut enabled = self.0.enabled.lock().expect("carbons lock");
                // Only if no live session of that id is behind it: a session
                // that replaced the closed one (same resource) keeps its own.
                let live = server.sessions.get(full).map(|handle| handle.id());
                if enabled.get(full).is_some_and(|id| Some(*id) != live) {
                    enabled.remove(full);
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(xml: &str) -> Element {
        waxwing_xml::parse_element(xml, ns::CLIENT).unwrap()
    }

    #[test]
    fn eligibility_follows_section_6_1() {
        assert!(eligible(&message("<message type='chat'><body>hi</body></message>"), false));
        assert!(eligible(&message("<message><body>hi</body></message>"), false));
        assert!(eligible(&message("<message><received xmlns='urn:xmpp:receipts' id='x'/></message>"), false));
        assert!(!eligible(&message("<message/>"), false));
        assert!(!eligible(&message("<message type='groupchat'><body>hi</body></message>"), true));
        assert!(!eligible(&message("<message type='headline'><body>hi</body></message>"), true));
        assert!(!eligible(
            &message("<message type='chat'><body>hi</body><private xmlns='urn:xmpp:carbons:2'/></message>"),
            false
        ));
        assert!(!eligible(
            &message("<message type='chat'><body>hi</body><no-copy xmlns='urn:xmpp:hints'/></message>"),
            true
        ));
        assert!(!eligible(
            &message(
                "<message type='chat'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'/></sent></message>"
            ),
            true
        ));
        assert!(eligible(&message("<message type='error' from='romeo@localhost'/>"), true));
        assert!(!eligible(&message("<message type='error' from='romeo@localhost/a'/>"), true));
        assert!(!eligible(&message("<message type='error' from='romeo@localhost'/>"), false));
    }
}
