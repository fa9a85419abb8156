//! XEP-0352 Client State Indication: a client that says it is `<inactive/>`
//! (a phone in a pocket) is spared traffic it does not need right now.
//!
//! XEP-0352 leaves what to hold back to the server (§5: "the server can
//! [...] suppress or delay" non-urgent traffic). Held back here, per
//! inactive session:
//! - presence updates (available and unavailable), keeping only the latest
//!   per sender full JID: an inactive client only needs to know where its
//!   contacts stand when it looks again;
//! - messages that carry only XEP-0085 chat states (latest per sender), and
//!   carbon copies of such messages.
//!
//! Everything else is urgent: a message with a body, any iq, subscription
//! requests and other presence types. An urgent stanza first releases what
//! is held (in its original order), so the client never sees things out of
//! order. Becoming `<active/>` releases everything too, and so does holding
//! more than `max_held` stanzas. Held stanzas are only ever ephemeral ones:
//! when the session ends they are dropped, as they would have been by a
//! client that closed.
//!
//! The decision is a [`DeliveryFilter`] (synchronous, on the hot path): the
//! state lives in memory, and sessions that never sent `<inactive/>` cost one
//! atomic load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use waxwing_core::{
    DeliveryFilter, HookFuture, Module, NonzaHandler, Registrations, Server, SessionEvent, SessionHandle, SessionHook,
};
use waxwing_jid::Jid;
use waxwing_proto::{StreamError, ns};
use waxwing_xml::Element;

use crate::ModulesConfig;

pub const CSI: &str = "urn:xmpp:csi:0";
const CHAT_STATES: &str = "http://jabber.org/protocol/chatstates";
const CARBONS: &str = "urn:xmpp:carbons:2";
const FORWARD: &str = "urn:xmpp:forward:0";

pub struct Csi {
    max_held: usize,
}

impl Csi {
    pub fn new(config: &ModulesConfig) -> Csi {
        Csi { max_held: config.csi.max_held }
    }
}

impl Module for Csi {
    fn name(&self) -> &'static str {
        "csi"
    }

    fn register(&self, r: &mut Registrations) {
        let state =
            Arc::new(State { max_held: self.max_held, inactive: AtomicUsize::new(0), sessions: Mutex::default() });
        // §3: advertised as a stream feature once the stream is authenticated.
        r.stream_feature(Element::new("csi", CSI));
        r.nonza(CSI, "active", SetState { state: state.clone(), active: true });
        r.nonza(CSI, "inactive", SetState { state: state.clone(), active: false });
        r.delivery_filter(Hold(state.clone()));
        r.session_hook(Forget(state));
    }
}

struct State {
    max_held: usize,
    /// How many sessions are inactive: the filter's fast path when none is.
    inactive: AtomicUsize,
    /// The inactive sessions only, by full JID.
    sessions: Mutex<HashMap<Jid, Inactive>>,
}

struct Inactive {
    /// The session's id, to tell it from a later one on the same resource.
    id: u64,
    held: Vec<Held>,
}

struct Held {
    /// Stanzas with the same key replace each other (only the latest counts).
    key: Option<(Jid, Kind)>,
    stanza: Element,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Presence,
    ChatState,
}

/// What to do with a stanza for an inactive session.
#[derive(Debug, PartialEq, Eq)]
enum Class {
    Urgent,
    /// Hold it; one with the same key replaces it.
    Hold(Option<Kind>),
}

fn classify(stanza: &Element) -> Class {
    match stanza.name.as_str() {
        // RFC 6121 §4: availability (no type) and unavailable are state
        // updates; subscription requests and answers (§3), probes and errors
        // want attention or are rare.
        "presence" => match stanza.attr("type") {
            None | Some("unavailable") => Class::Hold(Some(Kind::Presence)),
            _ => Class::Urgent,
        },
        "message" if only_chat_states(stanza) => Class::Hold(Some(Kind::ChatState)),
        // A carbon (XEP-0280) of a chat-state-only message: as unimportant
        // as the original, but about someone else's conversation, so kept
        // in full rather than replaced.
        "message" if forwarded_carbon(stanza).is_some_and(only_chat_states) => Class::Hold(None),
        _ => Class::Urgent,
    }
}

/// A message with XEP-0085 chat states and nothing a person would read
/// (§5.5 of XEP-0085 calls these "standalone notifications").
fn only_chat_states(message: &Element) -> bool {
    if message.attr("type") == Some("error") {
        return false;
    }
    let mut any = false;
    for child in message.elements() {
        if child.ns == CHAT_STATES {
            any = true;
        } else if !child.is("thread", ns::CLIENT) {
            return false;
        }
    }
    any
}

fn forwarded_carbon(message: &Element) -> Option<&Element> {
    let wrapper = message.get_child("sent", CARBONS).or_else(|| message.get_child("received", CARBONS))?;
    wrapper.get_child("forwarded", FORWARD)?.get_child("message", ns::CLIENT)
}

/// Queues what is held, oldest first, straight to the session: not through
/// [`Server::deliver_to`], which would run this filter again.
fn release(full: &Jid, handle: &SessionHandle, held: Vec<Held>) {
    for held in held {
        if let Err(undelivered) = handle.send(held.stanza) {
            // Closed: the session is gone and these were ephemeral anyway.
            // Full: the session has just been killed for not reading.
            tracing::debug!(jid = %full, reason = ?undelivered.reason, "held stanzas not released");
            return;
        }
    }
}

impl State {
    fn set(&self, server: &Server, full: &Jid, active: bool) {
        let Some(handle) = server.sessions.get(full) else { return };
        let mut sessions = self.sessions.lock().expect("csi lock");
        if active {
            if let Some(inactive) = sessions.remove(full) {
                self.inactive.fetch_sub(1, Ordering::Relaxed);
                // Under the lock: a stanza routed meanwhile waits in the
                // filter and is queued after these.
                release(full, &handle, inactive.held);
            }
        } else if !sessions.contains_key(full) {
            sessions.insert(full.clone(), Inactive { id: handle.id(), held: Vec::new() });
            self.inactive.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn forget(&self, server: &Server, full: &Jid) {
        let live = server.sessions.get(full).map(|handle| handle.id());
        let mut sessions = self.sessions.lock().expect("csi lock");
        if sessions.get(full).is_some_and(|inactive| Some(inactive.id) != live) {
            sessions.remove(full);
            self.inactive.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// `<active/>` and `<inactive/>` (§4).
struct SetState {
    state: Arc<State>,
    active: bool,
}

impl NonzaHandler for SetState {
    fn handle<'a>(
        &'a self,
        server: &'a Server,
        full: &'a Jid,
        _element: &'a Element,
    ) -> HookFuture<'a, Result<(), StreamError>> {
        Box::pin(async move {
            self.state.set(server, full, self.active);
            Ok(())
        })
    }
}

struct Hold(Arc<State>);

impl DeliveryFilter for Hold {
    fn allow(&self, server: &Server, from: &Jid, to: &Jid, stanza: &Element) -> bool {
        if self.0.inactive.load(Ordering::Relaxed) == 0 || to.resource().is_none() {
            return true;
        }
        let mut sessions = self.0.sessions.lock().expect("csi lock");
        let Some(inactive) = sessions.get_mut(to) else { return true };
        let Some(handle) = server.sessions.get(to).filter(|handle| handle.id() == inactive.id) else {
            // A stale entry (the session ended or was replaced): not ours to hold for.
            sessions.remove(to);
            self.0.inactive.fetch_sub(1, Ordering::Relaxed);
            return true;
        };
        match classify(stanza) {
            Class::Urgent => {
                release(to, &handle, std::mem::take(&mut inactive.held));
                true
            }
            Class::Hold(kind) => {
                let key = kind.map(|kind| (from.clone(), kind));
                if key.is_some() {
                    // The latest replaces the earlier one, and moves to the
                    // end: it is the newest news.
                    inactive.held.retain(|held| held.key != key);
                }
                inactive.held.push(Held { key, stanza: stanza.clone() });
                if inactive.held.len() > self.0.max_held {
                    release(to, &handle, std::mem::take(&mut inactive.held));
                }
                false
            }
        }
    }
}

/// A new session starts active (§4: the server assumes so); an ended one is
/// forgotten, with whatever was held for it.
struct Forget(Arc<State>);

impl SessionHook for Forget {
    fn on_event<'a>(&'a self, server: &'a Server, full: &'a Jid, event: &'a SessionEvent) -> HookFuture<'a, ()> {
        Box::pin(async move {
            if matches!(event, SessionEvent::Bound | SessionEvent::Closed { .. }) {
                self.0.forget(server, full);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Element {
        waxwing_xml::parse_element(xml, ns::CLIENT).unwrap()
    }

    #[test]
    fn what_is_urgent() {
        assert_eq!(classify(&parse("<presence/>")), Class::Hold(Some(Kind::Presence)));
        assert_eq!(classify(&parse("<presence type='unavailable'/>")), Class::Hold(Some(Kind::Presence)));
        assert_eq!(classify(&parse("<presence type='subscribe'/>")), Class::Urgent);
        assert_eq!(
            classify(&parse("<message><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")),
            Class::Hold(Some(Kind::ChatState))
        );
        assert_eq!(
            classify(&parse(
                "<message><body>hi</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>"
            )),
            Class::Urgent
        );
        assert_eq!(
            classify(&parse(
                "<message><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
                 <message xmlns='jabber:client'><paused xmlns='http://jabber.org/protocol/chatstates'/></message>\
                 </forwarded></received></message>"
            )),
            Class::Hold(None)
        );
        assert_eq!(classify(&parse("<message/>")), Class::Urgent);
        assert_eq!(classify(&parse("<iq type='get' id='1'/>")), Class::Urgent);
    }
}
