//! Serialisation of [`Element`] trees with correct escaping.
//!
//! Output conventions:
//! - attribute values are single-quoted (as most XMPP servers do);
//! - the element's namespace is expressed with a default namespace
//!   declaration, emitted only where it differs from the inherited one;
//! - elements in the streams namespace (`<stream:features/>`,
//!   `<stream:error/>`) use the `stream:` prefix: RFC 6120 §4.8.5 notes
//!   that some older implementations accept stream-level elements only with
//!   that prefix. The prefix is declared on the element itself so the
//!   output is self-contained;
//! - namespaced attributes (`{uri}local`) get a generated `nsN` prefix
//!   declared on the element carrying them; `xml:*` attributes use the
//!   predefined `xml` prefix, which is never declared.

use std::fmt;
use std::io::Write as _;

use crate::element::{Element, Node};
use crate::{NS_STREAMS, NS_XML, NS_XMLNS};

/// Replacement for characters that cannot be represented in XML 1.0
/// (U+FFFD REPLACEMENT CHARACTER, UTF-8 encoded).
const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

impl Element {
    /// Serialise into `out`.
    ///
    /// `parent_ns` is the default namespace in scope where the element is
    /// written: `xmlns='…'` is emitted only if `ns` differs from it, so a
    /// stanza written inside a `jabber:client` stream passes
    /// `"jabber:client"` and gets no `xmlns`.
    ///
    /// Names are written verbatim and must be valid XML names; text and
    /// attribute values may contain anything (characters XML cannot
    /// represent, such as U+0001, are replaced by U+FFFD). Attribute keys
    /// `xmlns` / `xmlns:*` are skipped: declarations are derived from `ns`
    /// and letting them through could rebind the namespace of the output.
    pub fn write_to(&self, out: &mut Vec<u8>, parent_ns: &str) {
        let in_stream_ns = self.ns == NS_STREAMS;
        out.push(b'<');
        if in_stream_ns {
            out.extend_from_slice(b"stream:");
        }
        out.extend_from_slice(self.name.as_bytes());
        // The default namespace our children inherit.
        let child_ns = if in_stream_ns {
            out.extend_from_slice(b" xmlns:stream='");
            out.extend_from_slice(NS_STREAMS.as_bytes());
            out.push(b'\'');
            parent_ns
        } else {
            if self.ns != parent_ns {
                write_attr(out, "xmlns", &self.ns);
            }
            &self.ns
        };
        write_attrs(out, &self.attrs);

        if self.children.is_empty() {
            out.extend_from_slice(b"/>");
            return;
        }
        out.push(b'>');
        for child in &self.children {
            match child {
                Node::Element(e) => e.write_to(out, child_ns),
                Node::Text(t) => escape(out, t, false),
            }
        }
        out.extend_from_slice(b"</");
        if in_stream_ns {
            out.extend_from_slice(b"stream:");
        }
        out.extend_from_slice(self.name.as_bytes());
        out.push(b'>');
    }

    /// Serialise into a new buffer; see [`Element::write_to`].
    pub fn to_bytes(&self, parent_ns: &str) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out, parent_ns);
        out
    }
}

impl fmt::Display for Element {
    /// Serialise with no inherited namespace (so `xmlns` is always emitted
    /// for namespaced elements).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes("");
        // Always UTF-8: assembled from `str`s and ASCII markup only.
        f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)
    }
}

/// How an attribute key is written.
enum AttrName<'a> {
    /// Unprefixed, or already carrying the predefined `xml:` prefix.
    Verbatim(&'a str),
    /// In the XML namespace: written as `xml:local`.
    Xml(&'a str),
    /// `{uri}local` with a URI needing a generated prefix.
    Namespaced { uri: &'a str, local: &'a str },
    /// Must not be written (namespace declarations, unbindable URIs).
    Skip,
}

fn classify(key: &str) -> AttrName<'_> {
    if key == "xmlns" || key.starts_with("xmlns:") {
        return AttrName::Skip;
    }
    // Local names cannot contain '}', so the last one ends the URI.
    match key.strip_prefix('{').and_then(|rest| rest.rsplit_once('}')) {
        None => AttrName::Verbatim(key),
        Some(("", local)) => AttrName::Verbatim(local),
        Some((NS_XML, local)) => AttrName::Xml(local),
        Some((NS_XMLNS, _)) => AttrName::Skip,
        Some((uri, local)) => AttrName::Namespaced { uri, local },
    }
}

/// Write the attributes, declaring a prefix `nsN` for each distinct
/// attribute namespace. Prefixes are scoped to this element: a child that
/// needs one declares its own, shadowing ours harmlessly.
fn write_attrs(out: &mut Vec<u8>, attrs: &[(String, String)]) {
    // Distinct namespaces in first-use order. Almost always empty, so this
    // allocates nothing in the common case.
    let mut prefixed: Vec<&str> = Vec::new();
    for (key, value) in attrs {
        match classify(key) {
            AttrName::Skip => {}
            AttrName::Verbatim(name) => write_attr(out, name, value),
            AttrName::Xml(local) => {
                out.extend_from_slice(b" xml:");
                write_attr_tail(out, local, value);
            }
            AttrName::Namespaced { uri, local } => {
                let index = match prefixed.iter().position(|u| *u == uri) {
                    Some(i) => i,
                    None => {
                        prefixed.push(uri);
                        let i = prefixed.len() - 1;
                        // Writing into a Vec cannot fail.
                        let _ = write!(out, " xmlns:ns{i}");
                        write_attr_tail(out, "", uri);
                        i
                    }
                };
                let _ = write!(out, " ns{index}:");
                write_attr_tail(out, local, value);
            }
        }
    }
}

/// ` name='value'`
fn write_attr(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b' ');
    write_attr_tail(out, name, value);
}

/// `name='value'` (the caller wrote any leading space and prefix).
fn write_attr_tail(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"='");
    escape(out, value, true);
    out.push(b'\'');
}

/// Append `s` escaped for text content (`attr == false`) or for a
/// single- or double-quoted attribute value (`attr == true`).
///
/// Beyond the mandatory `&` and `<`:
/// - `>` is escaped everywhere so `]]>` can never appear in text;
/// - CR is written as `&#xD;`, and in attributes TAB and LF too, because
///   XML parsers normalise literal line ends and (in attributes) whitespace
///   (XML 1.0 §2.11, §3.3.3); references survive, so values round-trip;
/// - characters not allowed in XML 1.0 (C0 controls other than TAB, LF,
///   CR; U+FFFE; U+FFFF) cannot be represented even as references and are
///   replaced by U+FFFD rather than producing a stream the peer must reject.
///
/// Works on bytes and copies unescaped runs in one go. All bytes we look
/// for are ASCII or the lead byte of a 3-byte sequence, so this never
/// splits a UTF-8 sequence.
/// Escapes `value` for use inside a single-quoted attribute, for callers that
/// write framing by hand (the stream header, which is never a whole element).
pub fn escape_attribute(out: &mut Vec<u8>, value: &str) {
    escape(out, value, true)
}

pub(crate) fn escape(out: &mut Vec<u8>, s: &str, attr: bool) {
    let bytes = s.as_bytes();
    let mut run_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (replacement, len): (&[u8], usize) = match bytes[i] {
            b'&' => (b"&amp;", 1),
            b'<' => (b"&lt;", 1),
            b'>' => (b"&gt;", 1),
            b'\'' if attr => (b"&apos;", 1),
            b'"' if attr => (b"&quot;", 1),
            b'\t' if attr => (b"&#x9;", 1),
            b'\n' if attr => (b"&#xA;", 1),
            b'\r' => (b"&#xD;", 1),
            b'\t' | b'\n' => {
                i += 1;
                continue;
            }
            0x00..=0x1f => (REPLACEMENT, 1),
            // U+FFFE and U+FFFF are EF BF BE / EF BF BF.
            0xef if bytes.get(i + 1) == Some(&0xbf) && matches!(bytes.get(i + 2), Some(0xbe | 0xbf)) => {
                (REPLACEMENT, 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[run_start..i]);
        out.extend_from_slice(replacement);
        i += len;
        run_start = i;
    }
    out.extend_from_slice(&bytes[run_start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str, attr: bool) -> String {
        let mut out = Vec::new();
        escape(&mut out, s, attr);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_text() {
        assert_eq!(esc("a<b>&c'\"", false), "a&lt;b&gt;&amp;c'\"");
        assert_eq!(esc("]]>", false), "]]&gt;");
        assert_eq!(esc("l1\nl2\tx\r", false), "l1\nl2\tx&#xD;");
        assert_eq!(esc("héllo ☃ 🎉", false), "héllo ☃ 🎉");
    }

    #[test]
    fn escapes_attributes() {
        assert_eq!(esc("a<b>&c'\"", true), "a&lt;b&gt;&amp;c&apos;&quot;");
        assert_eq!(esc("\t\n\r", true), "&#x9;&#xA;&#xD;");
    }

    #[test]
    fn replaces_unrepresentable_chars() {
        assert_eq!(esc("a\u{1}b\u{0}", false), "a\u{FFFD}b\u{FFFD}");
        assert_eq!(esc("\u{FFFE}\u{FFFF}\u{FFFD}\u{FFEF}", true), "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFEF}");
    }

    #[test]
    fn omits_inherited_namespace() {
        let e = Element::new("message", "jabber:client")
            .with_attr("to", "a@b")
            .with_child(Element::new("body", "jabber:client").with_text("1 < 2"));
        assert_eq!(
            String::from_utf8(e.to_bytes("jabber:client")).unwrap(),
            "<message to='a@b'><body>1 &lt; 2</body></message>"
        );
        assert_eq!(e.to_string(), "<message xmlns='jabber:client' to='a@b'><body>1 &lt; 2</body></message>");
    }

    #[test]
    fn undeclares_default_namespace_for_unqualified_child() {
        let e = Element::new("a", "urn:x").with_child(Element::new("b", ""));
        assert_eq!(e.to_string(), "<a xmlns='urn:x'><b xmlns=''/></a>");
    }

    #[test]
    fn namespaced_attributes() {
        let e = Element::new("a", "urn:x")
            .with_attr("xml:lang", "en")
            .with_attr("{urn:p}one", "1")
            .with_attr("{urn:q}two", "2")
            .with_attr("{urn:p}three", "3")
            .with_attr(format!("{{{NS_XML}}}space"), "preserve")
            .with_attr("{}plain", "p")
            .with_attr("xmlns", "urn:evil")
            .with_attr("xmlns:evil", "urn:evil");
        assert_eq!(
            e.to_string(),
            "<a xmlns='urn:x' xml:lang='en' xmlns:ns0='urn:p' ns0:one='1' \
             xmlns:ns1='urn:q' ns1:two='2' ns0:three='3' xml:space='preserve' plain='p'/>"
        );
    }

    #[test]
    fn stream_namespace_uses_stream_prefix() {
        let e = Element::new("features", NS_STREAMS)
            .with_child(Element::new("bind", "urn:ietf:params:xml:ns:xmpp-bind"))
            .with_child(Element::new("x", "jabber:client"));
        assert_eq!(
            String::from_utf8(e.to_bytes("jabber:client")).unwrap(),
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
             <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><x/></stream:features>"
        );
    }
}
