//! XEP-0199: XMPP Ping. The server answers pings addressed to it (and, on
//! behalf of an account, pings to a bare JID: RFC 6121 §8.5.1 lets the server
//! answer iqs to a bare JID itself).

use waxwing_core::module::IqFuture;
use waxwing_core::{IqHandler, IqRequest, Module, Registrations, Server};
use waxwing_proto::{IqType, ns};

pub struct Ping;

impl Module for Ping {
    fn name(&self) -> &'static str {
        "ping"
    }

    fn register(&self, r: &mut Registrations) {
        r.iq(IqType::Get, ns::PING, "ping", Pong);
        r.disco_feature(ns::PING);
    }
}

struct Pong;

impl IqHandler for Pong {
    fn handle<'a>(&'a self, _server: &'a Server, _request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(async { Ok(None) })
    }
}
