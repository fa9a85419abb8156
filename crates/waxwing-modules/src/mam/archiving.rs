//! Which messages are archived, in whose archive, and the XEP-0359 stanza id
//! the recipient's copy carries.
//!
//! A one-to-one message between two users is archived once per party that
//! has an account here: the sender's copy when the sender's client sends it
//! ([`HookPoint::FromClient`](waxwing_core::HookPoint)), the recipient's when
//! it is routed to the recipient
//! ([`HookPoint::MessageToUser`](waxwing_core::HookPoint)), whoever sent it.

use std::sync::Arc;

use base64::Engine;
use waxwing_core::{Flow, HookFuture, Server, StanzaContext, StanzaHook};
use waxwing_jid::Jid;
use waxwing_proto::ns;
use waxwing_store::NewArchived;
use waxwing_xml::Element;

use super::{NS_HINTS, NS_SID, State};
use crate::message::MessageType;

/// After blocking (-1000), which refuses what may not be sent at all.
pub(super) const HOOK_PRIORITY: i32 = 100;

/// The sender's copy of a message a local client sends.
pub(super) struct Outgoing(pub(super) Arc<State>);

impl StanzaHook for Outgoing {
    fn handle<'a>(&'a self, server: &'a Server, context: &'a StanzaContext, stanza: Element) -> HookFuture<'a, Flow> {
        Box::pin(async move {
            let owner = context.from.bare();
            // A message to oneself is archived once, as it arrives.
            if stanza.name == "message" && context.to.bare() != owner && archivable(&stanza) {
                let with = context.to.clone();
                if self.0.wants(server, &owner, &with.bare()).await {
                    // The sender's own archive id is not added to the stanza:
                    // it is the sender's, and the recipient has its own.
                    let entry = entry(&owner, &with, &stanza, new_stanza_id());
                    // Written in the background, in batches (see `writer`):
                    // acknowledgements wait for it (`Durable`), messages not.
                    self.0.writer(server).queue(entry).await;
                }
            }
            Flow::Continue(stanza)
        })
    }
}

/// The recipient's copy of a message to a local user.
pub(super) struct Incoming(pub(super) Arc<State>);

impl StanzaHook for Incoming {
    fn handle<'a>(
        &'a self,
        server: &'a Server,
        context: &'a StanzaContext,
        mut stanza: Element,
    ) -> HookFuture<'a, Flow> {
        Box::pin(async move {
            let owner = context.to.bare();
            // XEP-0359 §5: a stanza id claiming to be by the recipient's
            // account can only be forged by the sender; the recipient must
            // be able to trust those it sees.
            stanza.children.retain(|node| match node {
                waxwing_xml::Node::Element(child) => {
                    !(child.is("stanza-id", NS_SID) && child.attr("by") == Some(owner.as_str()))
                }
                waxwing_xml::Node::Text(_) => true,
            });
            if !archivable(&stanza) {
                // Nor did `Outgoing` archive the sender's copy: the same rules.
                return Flow::Continue(stanza);
            }
            if self.0.wants(server, &owner, &context.from.bare()).await {
                let id = new_stanza_id();
                let entry = entry(&owner, &context.from, &stanza, id.clone());
                // Queued, not awaited: delivery does not wait for the disk,
                // so archiving does not cap throughput; what the server
                // acknowledges (XEP-0198) waits for the commit (`Durable`).
                self.0.writer(server).queue(entry).await;
                stanza
                    .push_child(Element::new("stanza-id", NS_SID).with_attr("by", owner.as_str()).with_attr("id", id));
            }
            Flow::Continue(stanza)
        })
    }
}

/// XEP-0313 §5 (business rules): messages of type normal or chat with a body
/// are archived; groupchat, headline and error are not. XEP-0334 hints
/// override: `<store/>` asks for a message without body (e.g. encrypted) to be
/// kept, `<no-store/>` and `<no-permanent-store/>` for none to be.
fn archivable(message: &Element) -> bool {
    if !matches!(MessageType::of(message), MessageType::Chat | MessageType::Normal) {
        return false;
    }
    if message.get_child("no-store", NS_HINTS).is_some() || message.get_child("no-permanent-store", NS_HINTS).is_some()
    {
        return false;
    }
    message.get_child("body", ns::CLIENT).is_some() || message.get_child("store", NS_HINTS).is_some()
}

fn entry(owner: &Jid, with: &Jid, stanza: &Element, stanza_id: String) -> NewArchived {
    NewArchived {
        domain: owner.domain().to_owned(),
        localpart: owner.node().unwrap_or_default().to_owned(),
        stanza_id,
        stamp: waxwing_proto::datetime::unix_now(),
        with_bare: with.bare().as_str().to_owned(),
        with_resource: with.resource().unwrap_or_default().to_owned(),
        stanza: String::from_utf8(stanza.to_bytes(ns::CLIENT)).expect("serialised XML is UTF-8"),
        body: stanza.get_child("body", ns::CLIENT).map(Element::text).unwrap_or_default(),
    }
}

/// A new XEP-0359 stanza id: the time in milliseconds (12 hex digits), then
/// 80 random bits in URL-safe base64. The random part makes ids unguessable
/// (XEP-0359 §7); the time prefix makes them grow, so that the archive's
/// index on them is appended to instead of written at random places.
pub(super) fn new_stanza_id() -> String {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let mut random = [0u8; 10];
    getrandom::fill(&mut random).expect("the OS random source works");
    format!("{:012x}{}", millis & 0xffff_ffff_ffff, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanza_ids_are_unique_and_grow() {
        let a = new_stanza_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_stanza_id();
        assert_eq!(a.len(), 26);
        assert!(a[..12] < b[..12], "{a} {b}");
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(new_stanza_id(), new_stanza_id());
    }
}
