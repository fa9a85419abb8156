//! RFC 3921 §3 session establishment. RFC 6121 dropped it, but old clients
//! still send `<session/>`; we answer it and advertise it as `<optional/>`
//! (draft-cridland-xmpp-session-01) so new clients skip the round trip.

use waxwing_core::module::IqFuture;
use waxwing_core::{IqHandler, IqRequest, Module, Registrations, Server};
use waxwing_proto::{IqType, ns};
use waxwing_xml::Element;

pub struct LegacySession;

impl Module for LegacySession {
    fn name(&self) -> &'static str {
        "legacy_session"
    }

    fn register(&self, r: &mut Registrations) {
        r.iq(IqType::Set, ns::SESSION, "session", Establish);
        r.stream_feature(Element::new("session", ns::SESSION).with_child(Element::new("optional", ns::SESSION)));
    }
}

struct Establish;

impl IqHandler for Establish {
    fn handle<'a>(&'a self, _server: &'a Server, _request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(async { Ok(None) })
    }
}
