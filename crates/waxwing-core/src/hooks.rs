//! Typed hooks: the fixed points at which modules see stanzas and session
//! events (DESIGN.md, Modules).
//!
//! A stanza hook gets the stanza by value and either hands it on
//! ([`Flow::Continue`], possibly changed) or keeps it ([`Flow::Handled`]):
//! Prosody's "handlers return whether the chain continues", with ownership
//! making it impossible to both handle and pass on a stanza. Hooks run in
//! ascending priority order; what no hook handles gets the router's default.

use std::future::Future;
use std::pin::Pin;

use waxwing_jid::Jid;
use waxwing_xml::Element;

use crate::server::Server;

/// What a stanza hook did with the stanza.
#[derive(Debug)]
pub enum Flow {
    /// Not mine (or changed): the next hook, then the default, gets it.
    Continue(Element),
    /// Dealt with: nobody else sees it.
    Handled,
}

pub type HookFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where in a stanza's path a [`StanzaHook`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookPoint {
    /// A stanza a local client sent, after `from` was stamped and checked and
    /// before any routing. `from` is the session's full JID; `to` is the
    /// stanza's `to`, or the sender's bare JID when it has none (RFC 6120
    /// §8.1.1.1). Presence broadcast, outbound subscriptions and blocking of
    /// outgoing stanzas live here.
    FromClient,
    /// A message or presence for a local account (its bare JID, or a full
    /// JID with no session behind it), whoever sent it. The account may not
    /// exist: the hook decides what that means for its stanza type. Inbound
    /// subscriptions, probes, bare-JID message delivery and offline storage
    /// live here.
    ToAccount,
    /// A message for a local user, to its bare JID or to any full JID (bound
    /// or not), whoever sent it, before it goes on to the account or to a
    /// session. Runs before [`HookPoint::ToAccount`]. Only messages: presence
    /// and iq have their own paths. The archive (XEP-0313) and carbons
    /// (XEP-0280) live here.
    MessageToUser,
}

/// The addresses a stanza hook sees, already parsed.
#[derive(Debug, Clone)]
pub struct StanzaContext {
    pub from: Jid,
    pub to: Jid,
}

pub trait StanzaHook: Send + Sync + 'static {
    fn handle<'a>(&'a self, server: &'a Server, context: &'a StanzaContext, stanza: Element) -> HookFuture<'a, Flow>;
}

/// A synchronous check on every stanza queued to a bound session by someone
/// else (not the server's own replies), and on iqs from someone else to an
/// account's bare JID, which the server answers on the account's behalf (`to`
/// is then bare). It is on the hot path, so it must not
/// wait: state it needs is kept in memory by its module. Returning `false`
/// drops the stanza; the filter answers the sender itself if the protocol
/// wants an error.
pub trait DeliveryFilter: Send + Sync + 'static {
    fn allow(&self, server: &Server, from: &Jid, to: &Jid, stanza: &Element) -> bool;
}

/// Something that happened to a bound session.
#[derive(Debug)]
pub enum SessionEvent {
    /// A resource was bound; no stanza has been exchanged yet.
    Bound,
    /// The session sent available presence with this priority, having been
    /// unavailable before (its initial presence, RFC 6121 §4.2).
    Available { priority: i8 },
    /// The session ended (it is already unbound). `presence` is the last
    /// available presence it broadcast, if it was available.
    Closed { presence: Option<Element> },
}

pub trait SessionHook: Send + Sync + 'static {
    fn on_event<'a>(&'a self, server: &'a Server, full: &'a Jid, event: &'a SessionEvent) -> HookFuture<'a, ()>;
}

/// An account was removed (its stored data is gone already); modules drop
/// what they keep in memory for it.
pub trait AccountHook: Send + Sync + 'static {
    fn removed<'a>(&'a self, server: &'a Server, bare: &'a Jid) -> HookFuture<'a, ()>;
}

/// Handles a first-level element a bound client sends that is not a stanza
/// (a "nonza": XEP-0352's `<active/>`, for example). Without a handler such
/// an element is a stream error (`unsupported-stanza-type`); a handler may
/// return one too.
pub trait NonzaHandler: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        server: &'a Server,
        full: &'a Jid,
        element: &'a Element,
    ) -> HookFuture<'a, Result<(), waxwing_proto::StreamError>>;
}

/// Waits until what a module has accepted so far is on disk. Stream
/// management (XEP-0198) passes every barrier before it acknowledges
/// stanzas with `<a h/>`, so a module may write in the background, in
/// batches, and still never lose what the server acknowledged.
pub trait DurabilityBarrier: Send + Sync + 'static {
    fn wait<'a>(&'a self, server: &'a Server) -> HookFuture<'a, ()>;
}
