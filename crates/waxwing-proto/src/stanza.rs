//! A cheap view of the routing header of a stanza.
//!
//! The router never decodes payloads: it reads the stanza's name, `type`,
//! `to`, `from` and `id` and forwards the element as it came (ejabberd's
//! `ignore_els` idea). JIDs are parsed on demand so that an invalid `to` can
//! still be answered with `jid-malformed` using the stanza's `id`.

use waxwing_jid::{Jid, JidError};
use waxwing_xml::Element;

use crate::ns;

/// The three stanza kinds of RFC 6120 §8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StanzaKind {
    Message,
    Presence,
    Iq,
}

impl StanzaKind {
    pub fn name(self) -> &'static str {
        match self {
            StanzaKind::Message => "message",
            StanzaKind::Presence => "presence",
            StanzaKind::Iq => "iq",
        }
    }
}

/// The `type` of an iq (RFC 6120 §8.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IqType {
    Get,
    Set,
    Result,
    Error,
}

impl IqType {
    pub fn parse(s: &str) -> Option<IqType> {
        Some(match s {
            "get" => IqType::Get,
            "set" => IqType::Set,
            "result" => IqType::Result,
            "error" => IqType::Error,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            IqType::Get => "get",
            IqType::Set => "set",
            IqType::Result => "result",
            IqType::Error => "error",
        }
    }

    /// A request expects exactly one response (RFC 6120 §8.2.3).
    pub fn is_request(self) -> bool {
        matches!(self, IqType::Get | IqType::Set)
    }
}

/// Borrowed view of a stanza's header.
#[derive(Debug, Clone, Copy)]
pub struct StanzaView<'a> {
    pub element: &'a Element,
    pub kind: StanzaKind,
}

impl<'a> StanzaView<'a> {
    /// `None` when the element is not a stanza in `content_ns` (jabber:client or
    /// jabber:server); RFC 6120 §4.9.3.21 makes that an `unsupported-stanza-type`
    /// stream error, or a nonza the caller handles (SM, CSI…).
    pub fn new(element: &'a Element, content_ns: &str) -> Option<StanzaView<'a>> {
        if element.ns != content_ns {
            return None;
        }
        let kind = match element.name.as_str() {
            "message" => StanzaKind::Message,
            "presence" => StanzaKind::Presence,
            "iq" => StanzaKind::Iq,
            _ => return None,
        };
        Some(StanzaView { element, kind })
    }

    pub fn stanza_type(&self) -> Option<&'a str> {
        self.element.attr("type")
    }

    pub fn id(&self) -> Option<&'a str> {
        self.element.attr("id")
    }

    /// `Ok(None)` when there is no `to`.
    pub fn to(&self) -> Result<Option<Jid>, JidError> {
        self.element.attr("to").map(Jid::parse).transpose()
    }

    pub fn from(&self) -> Result<Option<Jid>, JidError> {
        self.element.attr("from").map(Jid::parse).transpose()
    }

    pub fn is_error(&self) -> bool {
        self.stanza_type() == Some("error")
    }

    /// For an iq: its type, or `None` if missing or invalid.
    pub fn iq_type(&self) -> Option<IqType> {
        if self.kind != StanzaKind::Iq {
            return None;
        }
        self.stanza_type().and_then(IqType::parse)
    }

    /// The single payload child of an iq get/set (RFC 6120 §8.2.3 requires exactly one).
    pub fn iq_payload(&self) -> Option<&'a Element> {
        let mut it = self.element.elements();
        let first = it.next()?;
        if it.next().is_some() { None } else { Some(first) }
    }
}

/// A `<iq type='result'/>` answering `request`, addressed back to its sender.
/// `from`/`to` are swapped; the caller stamps them as needed.
pub fn iq_result(request: &Element, payload: Option<Element>) -> Element {
    let mut reply = reply_envelope(request, "result");
    if let Some(payload) = payload {
        reply.push_child(payload);
    }
    reply
}

/// True for the stanza namespaces of the two stream kinds.
pub fn is_content_ns(namespace: &str) -> bool {
    namespace == ns::CLIENT || namespace == ns::SERVER
}

/// An empty stanza of the same kind as `stanza`, answering it: the given
/// `type`, the same `id`, and `to`/`from` swapped (RFC 6120 §8.2.3, §8.3.1).
pub fn reply_envelope(stanza: &Element, stanza_type: &str) -> Element {
    let mut reply = Element::new(stanza.name.clone(), stanza.ns.clone()).with_attr("type", stanza_type);
    for (from_attr, to_attr) in [("id", "id"), ("from", "to"), ("to", "from")] {
        if let Some(value) = stanza.attr(from_attr) {
            reply.set_attr(to_attr, value);
        }
    }
    reply
}
