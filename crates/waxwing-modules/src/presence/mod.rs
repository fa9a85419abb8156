//! RFC 6121 §3–4: presence subscriptions and presence.
//!
//! - What a client sends ([`HookPoint::FromClient`]): presence without `to`
//!   is broadcast ([`broadcast`]); with a `to`, available and unavailable
//!   presence is directed presence, delivered by the router and remembered
//!   ([`directed`]); subscription stanzas go through the Appendix A state
//!   machine ([`subscription`], applied by [`exchange`]); probes are answered
//!   as if sent by the server ([`probe`]).
//! - What reaches a local account ([`HookPoint::ToAccount`]): presence for
//!   its available resources, subscription stanzas for the state machine,
//!   probes for an answer.
//! - Sessions that end retract their presence ([`SessionEvent::Closed`]).
//!
//! Pre-approval (§3.4) is supported and announced as a stream feature.

mod broadcast;
mod directed;
mod exchange;
mod probe;
pub mod subscription;

use std::sync::Arc;

use waxwing_core::{
    Flow, HookFuture, HookPoint, Module, Registrations, Server, SessionEvent, SessionHook, StanzaContext, StanzaHook,
};
use waxwing_jid::Jid;
use waxwing_proto::StanzaErrorCondition;
use waxwing_xml::Element;

use crate::ModulesConfig;
use directed::Directed;
pub(crate) use exchange::cancel_everything;
pub use subscription::{Kind, State};

/// §3.4: the stream feature announcing subscription pre-approval.
pub const NS_PRE_APPROVAL: &str = "urn:xmpp:features:pre-approval";

pub struct Presence {
    max_roster_items: usize,
}

impl Presence {
    pub fn new(config: &ModulesConfig) -> Presence {
        Presence { max_roster_items: config.roster.max_items }
    }
}

impl Module for Presence {
    fn name(&self) -> &'static str {
        "presence"
    }

    fn register(&self, r: &mut Registrations) {
        let shared = Arc::new(Shared { max_roster_items: self.max_roster_items, directed: Directed::default() });
        r.stanza_hook(HookPoint::FromClient, 0, FromClient(shared.clone()));
        r.stanza_hook(HookPoint::ToAccount, 0, ToAccount);
        r.session_hook(Sessions(shared));
        r.stream_feature(Element::new("sub", NS_PRE_APPROVAL));
    }
}

struct Shared {
    /// A subscription that would add a roster item is refused beyond this.
    max_roster_items: usize,
    directed: Directed,
}

/// The `type` of a presence stanza (RFC 6121 §4.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PresenceType {
    Available,
    Unavailable,
    Subscription(Kind),
    Probe,
    Error,
}

impl PresenceType {
    /// `None` for a type RFC 6121 does not define.
    fn of(stanza: &Element) -> Option<PresenceType> {
        match stanza.attr("type") {
            None => Some(PresenceType::Available),
            Some("unavailable") => Some(PresenceType::Unavailable),
            Some("probe") => Some(PresenceType::Probe),
            Some("error") => Some(PresenceType::Error),
            Some(other) => Kind::parse(other).map(PresenceType::Subscription),
        }
    }
}

struct FromClient(Arc<Shared>);

impl StanzaHook for FromClient {
    fn handle<'a>(&'a self, server: &'a Server, context: &'a StanzaContext, stanza: Element) -> HookFuture<'a, Flow> {
        Box::pin(async move {
            if stanza.name != "presence" {
                return Flow::Continue(stanza);
            }
            from_client(&self.0, server, context, stanza).await
        })
    }
}

async fn from_client(shared: &Shared, server: &Server, context: &StanzaContext, stanza: Element) -> Flow {
    let Some(kind) = PresenceType::of(&stanza) else {
        // RFC 6120 §8.3.3.1: a type the protocol does not define.
        server.bounce(&stanza, StanzaErrorCondition::BadRequest);
        return Flow::Handled;
    };
    let from = &context.from;
    // No `to` (the router then names the account) or the account's own bare
    // JID: the resource's broadcast presence (§4.2, §4.4, §4.5).
    let to_account = context.to == from.bare();
    match kind {
        PresenceType::Available | PresenceType::Unavailable if to_account => {
            broadcast::from_client(server, &shared.directed, from, stanza, kind == PresenceType::Available).await;
        }
        PresenceType::Available | PresenceType::Unavailable | PresenceType::Error => {
            // §4.6: directed presence; the router delivers it.
            shared.directed.record(from, &context.to, kind == PresenceType::Available);
            return Flow::Continue(stanza);
        }
        PresenceType::Subscription(kind) => {
            exchange::outbound(server, shared.max_roster_items, from, &context.to, kind, stanza).await;
        }
        PresenceType::Probe if server.is_local_domain(context.to.domain()) => {
            // Answered as a probe from this server would be (§4.3.2).
            probe::answer(server, from, &context.to.bare()).await;
        }
        PresenceType::Probe => return Flow::Continue(stanza),
    }
    Flow::Handled
}

/// Presence for a local account: to its bare JID, or to a full JID with no
/// session behind it.
struct ToAccount;

impl StanzaHook for ToAccount {
    fn handle<'a>(&'a self, server: &'a Server, context: &'a StanzaContext, stanza: Element) -> HookFuture<'a, Flow> {
        Box::pin(async move {
            if stanza.name != "presence" {
                return Flow::Continue(stanza);
            }
            to_account(server, context, stanza).await;
            Flow::Handled
        })
    }
}

async fn to_account(server: &Server, context: &StanzaContext, stanza: Element) {
    let Some(kind) = PresenceType::of(&stanza) else {
        return server.bounce(&stanza, StanzaErrorCondition::BadRequest);
    };
    let account = context.to.bare();
    match kind {
        // §8.5.2.1.1 for the bare JID. For a full JID that is not online
        // (§8.5.3.2.1) there is nobody to show it to: dropped.
        PresenceType::Available | PresenceType::Unavailable | PresenceType::Error => {
            if context.to.is_bare() {
                broadcast::to_available_resources(server, &context.from, &account, &stanza);
            }
        }
        // §8.5.3.2.3: subscription stanzas and probes count for the account
        // whichever of its JIDs they name.
        PresenceType::Subscription(kind) => exchange::inbound(server, &context.from, &account, kind, stanza).await,
        PresenceType::Probe => probe::answer(server, &context.from, &account).await,
    }
}

struct Sessions(Arc<Shared>);

impl SessionHook for Sessions {
    fn on_event<'a>(&'a self, server: &'a Server, full: &'a Jid, event: &'a SessionEvent) -> HookFuture<'a, ()> {
        Box::pin(async move {
            match event {
                SessionEvent::Bound => broadcast::replaced(server, &self.0.directed, full).await,
                SessionEvent::Closed { presence } => {
                    broadcast::closed(server, &self.0.directed, full, presence.is_some()).await
                }
                SessionEvent::Available { .. } => {}
            }
        })
    }
}
