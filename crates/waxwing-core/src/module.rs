//! Modules: one XEP (or RFC area) in one place.
//!
//! A module says what it serves by filling in [`Registrations`] once at start
//! (ejabberd's "registrations as data"); the server builds its dispatch tables
//! from them. Nothing in the core names a particular XEP.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use waxwing_jid::Jid;
use waxwing_proto::{IqType, StanzaError};
use waxwing_xml::Element;

use crate::hooks::{
    AccountHook, DeliveryFilter, DurabilityBarrier, HookFuture, HookPoint, NonzaHandler, SessionHook, StanzaHook,
};
use crate::server::Server;

/// An iq request addressed to the server or to an account it hosts.
pub struct IqRequest {
    /// The sender's full JID (stamped by the server).
    pub from: Jid,
    /// The addressee: the server's domain, or a bare account JID.
    pub to: Jid,
    pub iq_type: IqType,
    /// The whole `<iq/>`, so handlers can read `id` and `xml:lang`.
    pub element: Element,
    pub(crate) answered: AtomicBool,
}

impl IqRequest {
    pub fn new(from: Jid, to: Jid, iq_type: IqType, element: Element) -> IqRequest {
        IqRequest { from, to, iq_type, element, answered: AtomicBool::new(false) }
    }

    /// Sends the `result` now, before the handler returns (its own return
    /// value is then ignored). For handlers whose side effects must reach the
    /// client after the result: RFC 6121 §2.1.5 roster pushes, for example.
    pub fn answer(&self, server: &Server, payload: Option<Element>) {
        if !self.answered.swap(true, Ordering::SeqCst) {
            server.deliver_reply(waxwing_proto::stanza::iq_result(&self.element, payload));
        }
    }

    pub(crate) fn is_answered(&self) -> bool {
        self.answered.load(Ordering::SeqCst)
    }

    /// The one payload child (the router only dispatches iqs that have exactly one).
    pub fn payload(&self) -> &Element {
        self.element.elements().next().expect("the router checks the payload is present")
    }
}

/// A handler's answer: the payload of the `result` (if any), or a stanza error.
pub type IqResponse = Result<Option<Element>, StanzaError>;
pub type IqFuture<'a> = Pin<Box<dyn Future<Output = IqResponse> + Send + 'a>>;

pub trait IqHandler: Send + Sync + 'static {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a>;
}

/// Plain functions and closures are handlers too.
impl<F> IqHandler for F
where
    F: for<'a> Fn(&'a Server, &'a IqRequest) -> IqFuture<'a> + Send + Sync + 'static,
{
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        self(server, request)
    }
}

/// Where an iq payload goes: its type, namespace and element name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IqKey {
    pub iq_type: IqType,
    pub ns: String,
    pub name: String,
}

/// An XEP-0030 identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Identity {
    pub category: &'static str,
    pub kind: &'static str,
    pub name: &'static str,
}

/// Builds a stream feature from the server's final disco information: its
/// identities, features and XEP-0128 extension forms (for XEP-0115 caps,
/// whose hash covers all three).
pub type LateStreamFeature = Box<dyn Fn(&[Identity], &[&'static str], &[Element]) -> Element + Send + Sync>;

/// A non-stanza element's (namespace, name) and its handler.
pub(crate) type NonzaEntry = ((&'static str, &'static str), Arc<dyn NonzaHandler>);

/// What one module serves.
#[derive(Default)]
pub struct Registrations {
    pub(crate) iq_handlers: Vec<(IqKey, Arc<dyn IqHandler>)>,
    pub(crate) disco_features: Vec<&'static str>,
    pub(crate) account_disco_features: Vec<&'static str>,
    pub(crate) identities: Vec<Identity>,
    pub(crate) disco_extensions: Vec<Element>,
    pub(crate) stream_features: Vec<Element>,
    pub(crate) late_stream_features: Vec<LateStreamFeature>,
    pub(crate) stanza_hooks: Vec<(HookPoint, i32, Arc<dyn StanzaHook>)>,
    pub(crate) delivery_filters: Vec<Arc<dyn DeliveryFilter>>,
    pub(crate) session_hooks: Vec<Arc<dyn SessionHook>>,
    pub(crate) account_hooks: Vec<Arc<dyn AccountHook>>,
    pub(crate) nonza_handlers: Vec<NonzaEntry>,
    pub(crate) durability_barriers: Vec<Arc<dyn DurabilityBarrier>>,
    pub(crate) disco_nodes: Vec<(String, Arc<dyn DiscoNode>)>,
    pub(crate) pre_auth_iqs: Vec<((String, String), Arc<dyn PreAuthIqHandler>)>,
    pub(crate) pre_auth_stream_features: Vec<Element>,
    pub(crate) stream_management: Option<crate::StreamManagementSettings>,
}

impl Registrations {
    /// Handle iqs of `iq_type` whose payload is `<name xmlns='ns'/>`.
    pub fn iq(&mut self, iq_type: IqType, ns: &str, name: &str, handler: impl IqHandler) {
        let key = IqKey { iq_type, ns: ns.to_string(), name: name.to_string() };
        self.iq_handlers.push((key, Arc::new(handler)));
    }

    /// A feature the server advertises in XEP-0030 disco#info.
    pub fn disco_feature(&mut self, feature: &'static str) {
        self.disco_features.push(feature);
    }

    /// A feature advertised in disco#info of an account's bare JID.
    pub fn account_disco_feature(&mut self, feature: &'static str) {
        self.account_disco_features.push(feature);
    }

    /// An identity of the server in XEP-0030 disco#info.
    pub fn disco_identity(&mut self, category: &'static str, kind: &'static str, name: &'static str) {
        self.identities.push(Identity { category, kind, name });
    }

    /// An XEP-0128 extended information form (`<x xmlns='jabber:x:data'
    /// type='result'>` with a hidden `FORM_TYPE`) in the server's disco#info.
    pub fn disco_extension(&mut self, form: Element) {
        self.disco_extensions.push(form);
    }

    /// A child of `<stream:features/>` offered after authentication.
    pub fn stream_feature(&mut self, feature: Element) {
        self.stream_features.push(feature);
    }

    /// A stream feature computed once every module has registered.
    pub fn late_stream_feature(
        &mut self,
        build: impl Fn(&[Identity], &[&'static str], &[Element]) -> Element + Send + Sync + 'static,
    ) {
        self.late_stream_features.push(Box::new(build));
    }

    /// Sees stanzas at `point`; lower `priority` runs first.
    pub fn stanza_hook(&mut self, point: HookPoint, priority: i32, hook: impl StanzaHook) {
        self.stanza_hooks.push((point, priority, Arc::new(hook)));
    }

    pub fn delivery_filter(&mut self, filter: impl DeliveryFilter) {
        self.delivery_filters.push(Arc::new(filter));
    }

    pub fn session_hook(&mut self, hook: impl SessionHook) {
        self.session_hooks.push(Arc::new(hook));
    }

    pub fn account_hook(&mut self, hook: impl AccountHook) {
        self.account_hooks.push(Arc::new(hook));
    }

    /// Waited for before the server acknowledges stanzas (see [`DurabilityBarrier`]).
    pub fn durability_barrier(&mut self, barrier: impl DurabilityBarrier) {
        self.durability_barriers.push(Arc::new(barrier));
    }

    /// Handles the non-stanza element `<name xmlns='ns'/>` from bound clients.
    pub fn nonza(&mut self, ns: &'static str, name: &'static str, handler: impl NonzaHandler) {
        self.nonza_handlers.push(((ns, name), Arc::new(handler)));
    }

    /// Answers XEP-0030 queries to the server that name `node` (e.g.
    /// XEP-0050's `http://jabber.org/protocol/commands`). The disco module
    /// owns the disco iqs and asks [`Server::disco_node`]; a node claimed
    /// twice is a startup panic, like an iq handler.
    pub fn disco_node(&mut self, node: &str, provider: impl DiscoNode) {
        self.disco_nodes.push((node.to_string(), Arc::new(provider)));
    }

    /// Handles iqs a client sends before it has authenticated whose payload
    /// is `<name xmlns='ns'/>` (XEP-0077 in-band registration). Without one,
    /// such an iq ends the stream with `not-authorized` (RFC 6120 §4.9.3.12).
    pub fn pre_auth_iq(&mut self, ns: &str, name: &str, handler: impl PreAuthIqHandler) {
        self.pre_auth_iqs.push(((ns.to_string(), name.to_string()), Arc::new(handler)));
    }

    /// A child of `<stream:features/>` offered next to SASL, once the stream
    /// is encrypted (XEP-0077's `<register/>`).
    pub fn pre_auth_stream_feature(&mut self, feature: Element) {
        self.pre_auth_stream_features.push(feature);
    }

    /// Turns on XEP-0198 stream management in the session loop (the
    /// per-stream mechanism lives in the core: [`crate::stream_management`]).
    /// The module also registers the `<sm/>` stream feature.
    pub fn stream_management(&mut self, settings: crate::StreamManagementSettings) {
        self.stream_management = Some(settings);
    }
}

/// What a [`DiscoNode`] says about itself in disco#info.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    pub identities: Vec<Identity>,
    pub features: Vec<&'static str>,
}

/// A disco query naming a node of the server.
pub struct NodeQuery<'a> {
    /// Who asks (a full JID).
    pub requester: &'a Jid,
    /// The server domain asked.
    pub to: &'a Jid,
    pub node: &'a str,
}

/// One XEP-0030 node of the server, answered by the module that owns it.
pub trait DiscoNode: Send + Sync + 'static {
    /// The node's disco#info for the requester; `None` if the node does not
    /// exist for them (→ `item-not-found`).
    fn info<'a>(&'a self, server: &'a Server, query: &'a NodeQuery<'a>) -> HookFuture<'a, Option<NodeInfo>>;
    /// The node's `<item/>` children (in the disco#items namespace) for the
    /// requester; `None` if the node does not exist for them.
    fn items<'a>(&'a self, server: &'a Server, query: &'a NodeQuery<'a>) -> HookFuture<'a, Option<Vec<Element>>>;
}

/// An iq sent before authentication: there is no JID yet, only the stream's
/// domain and the peer's address.
pub struct PreAuthIq<'a> {
    /// The host the client opened its stream to.
    pub domain: &'a str,
    pub peer: IpAddr,
    /// The whole `<iq/>`; the dispatcher has checked it is a get or set with
    /// exactly one payload child.
    pub element: &'a Element,
}

impl PreAuthIq<'_> {
    pub fn payload(&self) -> &Element {
        self.element.elements().next().expect("the dispatcher checks the payload is present")
    }
}

pub trait PreAuthIqHandler: Send + Sync + 'static {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a PreAuthIq<'a>) -> IqFuture<'a>;
}

/// A feature module.
pub trait Module: Send + Sync + 'static {
    /// The name used in the config's module list and in logs.
    fn name(&self) -> &'static str;
    fn register(&self, registrations: &mut Registrations);
}
