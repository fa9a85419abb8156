//! The stream framing: opening headers, features and the closing tag
//! (RFC 6120 §4.2–§4.3).

use waxwing_xml::{Element, StreamHeader, escape_attribute as escape_attr};

use crate::ns;

/// What an initiating entity put in its stream header, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOpen {
    pub to: Option<String>,
    pub from: Option<String>,
    pub version: Option<String>,
    pub lang: Option<String>,
    pub content_ns: Option<String>,
}

impl StreamOpen {
    pub fn from_header(header: &StreamHeader) -> StreamOpen {
        let get = |k: &str| header.attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        StreamOpen {
            to: get("to"),
            from: get("from"),
            version: get("version"),
            lang: get("xml:lang"),
            content_ns: header.default_ns.clone(),
        }
    }

    /// RFC 6120 §4.7.5: a major version above 1 is unsupported; a missing
    /// version means a pre-RFC (0.9) peer, which we do not serve.
    pub fn supports_version_1(&self) -> bool {
        match self.version.as_deref() {
            Some(v) => v.split('.').next().and_then(|m| m.parse::<u32>().ok()) == Some(1),
            None => false,
        }
    }
}

/// The responding entity's stream header (RFC 6120 §4.7), preceded by the XML
/// declaration. Attribute values are escaped (`to` may echo client input).
pub fn stream_header(content_ns: &str, from: &str, to: Option<&str>, id: &str, lang: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"<?xml version='1.0'?><stream:stream xmlns='");
    escape_attr(&mut out, content_ns);
    out.extend_from_slice(b"' xmlns:stream='");
    out.extend_from_slice(ns::STREAMS.as_bytes());
    out.extend_from_slice(b"' version='1.0' from='");
    escape_attr(&mut out, from);
    if let Some(to) = to {
        out.extend_from_slice(b"' to='");
        escape_attr(&mut out, to);
    }
    out.extend_from_slice(b"' id='");
    escape_attr(&mut out, id);
    out.extend_from_slice(b"' xml:lang='");
    escape_attr(&mut out, lang);
    out.extend_from_slice(b"'>");
    out
}

/// `<stream:features>` with the given children, each in its own namespace.
pub fn features_bytes(features: &[Element], content_ns: &str) -> Vec<u8> {
    let mut out = b"<stream:features>".to_vec();
    for feature in features {
        feature.write_to(&mut out, content_ns);
    }
    out.extend_from_slice(b"</stream:features>");
    out
}

pub fn stream_close() -> &'static [u8] {
    b"</stream:stream>"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_escapes_attributes() {
        let h = String::from_utf8(stream_header(ns::CLIENT, "localhost", Some("a'b"), "id1", "en")).unwrap();
        assert!(h.contains("to='a&apos;b'"), "{h}");
        assert!(h.contains("xmlns='jabber:client'"));
    }

    #[test]
    fn version_check() {
        let mut open = StreamOpen { to: None, from: None, version: Some("1.0".into()), lang: None, content_ns: None };
        assert!(open.supports_version_1());
        open.version = Some("2.0".into());
        assert!(!open.supports_version_1());
        open.version = None;
        assert!(!open.supports_version_1());
    }
}
