//! XEP-0202: Entity Time of the server.
//!
//! The server keeps UTC, so the offset is always `+00:00` and `<utc/>` is the
//! current time as an XEP-0082 DateTime (`waxwing_proto::datetime`, which
//! formats it by hand and is unit-tested there). As with XEP-0092, a query to
//! an account's bare JID is for the user's client, not for us (RFC 6121
//! §8.5.1: `service-unavailable`).

use waxwing_core::module::IqFuture;
use waxwing_core::{IqRequest, Module, Registrations, Server};
use waxwing_proto::{IqType, StanzaError, StanzaErrorCondition, datetime};
use waxwing_xml::Element;

pub const NS_TIME: &str = "urn:xmpp:time";

pub struct Time;

impl Module for Time {
    fn name(&self) -> &'static str {
        "time"
    }

    fn register(&self, r: &mut Registrations) {
        r.iq(IqType::Get, NS_TIME, "time", answer);
        r.disco_feature(NS_TIME);
    }
}

fn answer<'a>(_server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
    let answer = if request.to.node().is_some() {
        Err(StanzaError::new(StanzaErrorCondition::ServiceUnavailable))
    } else {
        Ok(Some(time_element(&datetime::now())))
    };
    Box::pin(async move { answer })
}

/// `<time><tzo>+00:00</tzo><utc>…</utc></time>` (XEP-0202 §3, Example 2).
fn time_element(utc: &str) -> Element {
    Element::new("time", NS_TIME)
        .with_child(Element::new("tzo", NS_TIME).with_text("+00:00"))
        .with_child(Element::new("utc", NS_TIME).with_text(utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_of_the_answer() {
        let time = time_element("2026-11-25T17:26:36.123Z");
        let children: Vec<_> = time.elements().map(|e| (e.name.as_str(), e.text())).collect();
        assert_eq!(children, [("tzo", "+00:00".to_string()), ("utc", "2026-11-25T17:26:36.123Z".to_string())]);
    }
}
