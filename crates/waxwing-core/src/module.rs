//! Modules: one XEP (or RFC area) in one place.
//!
//! A module says what it serves by filling in [`Registrations`] once at start
//! (ejabberd's "registrations as data"); the server builds its dispatch tables
//! from them. Nothing in the core names a particular XEP.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use waxwing_jid::Jid;
use waxwing_proto::{IqType, StanzaError};
use waxwing_xml::Element;

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
}

impl IqRequest {
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

/// What one module serves.
#[derive(Default)]
pub struct Registrations {
    pub(crate) iq_handlers: Vec<(IqKey, Arc<dyn IqHandler>)>,
    pub(crate) disco_features: Vec<&'static str>,
    pub(crate) stream_features: Vec<Element>,
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

    /// A child of `<stream:features/>` offered after authentication.
    pub fn stream_feature(&mut self, feature: Element) {
        self.stream_features.push(feature);
    }
}

/// A feature module.
pub trait Module: Send + Sync + 'static {
    /// The name used in the config's module list and in logs.
    fn name(&self) -> &'static str;
    fn register(&self, registrations: &mut Registrations);
}
