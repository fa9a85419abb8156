//! XEP-0092: Software Version of the server.
//!
//! The server reports its name and version; the operating system only when
//! the operator opts in (`[version] show_os`), since §4 warns that
//! revealing it helps attackers. A query to an account's bare JID is not
//! ours to answer: the software there is the user's client, reachable at a
//! full JID, so it gets `service-unavailable` like any unhandled iq
//! (RFC 6121 §8.5.1).

use waxwing_core::module::IqFuture;
use waxwing_core::{IqHandler, IqRequest, Module, Registrations, Server};
use waxwing_proto::{IqType, StanzaError, StanzaErrorCondition};
use waxwing_xml::Element;

use crate::ModulesConfig;

pub const NS_VERSION: &str = "jabber:iq:version";

pub struct Version {
    show_os: bool,
}

impl Version {
    pub fn new(config: &ModulesConfig) -> Version {
        Version { show_os: config.version.show_os }
    }
}

impl Module for Version {
    fn name(&self) -> &'static str {
        "version"
    }

    fn register(&self, r: &mut Registrations) {
        r.iq(IqType::Get, NS_VERSION, "query", Answer { show_os: self.show_os });
        r.disco_feature(NS_VERSION);
    }
}

struct Answer {
    show_os: bool,
}

impl IqHandler for Answer {
    fn handle<'a>(&'a self, _server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        let answer = if request.to.node().is_some() {
            Err(StanzaError::new(StanzaErrorCondition::ServiceUnavailable))
        } else {
            Ok(Some(version_query(self.show_os)))
        };
        Box::pin(async move { answer })
    }
}

fn version_query(show_os: bool) -> Element {
    // The modules crate shares the workspace version with the binary.
    let mut query = Element::new("query", NS_VERSION)
        .with_child(Element::new("name", NS_VERSION).with_text("Waxwing"))
        .with_child(Element::new("version", NS_VERSION).with_text(env!("CARGO_PKG_VERSION")));
    if show_os {
        query.push_child(Element::new("os", NS_VERSION).with_text(std::env::consts::OS));
    }
    query
}
