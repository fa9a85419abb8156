//! Error type of the reader, mapped onto RFC 6120 stream error conditions.

use rxml::error::Error as RxmlError;

/// A fatal error while reading an XML stream.
///
/// Each variant maps to the RFC 6120 §4.9.3 stream error condition of the
/// same name (see [`XmlError::condition`]); the payload is a human-readable
/// description suitable for the optional `<text/>` of a stream error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// `<not-well-formed/>` (RFC 6120 §4.9.3.13): the data is not well-formed XML.
    #[error("not-well-formed: {0}")]
    NotWellFormed(String),
    /// `<restricted-xml/>` (RFC 6120 §4.9.3.18): comments, processing
    /// instructions, DTDs or entity references (RFC 6120 §11.1).
    #[error("restricted-xml: {0}")]
    RestrictedXml(String),
    /// `<invalid-xml/>` (RFC 6120 §4.9.3.11): characters that are not
    /// allowed in XML, or bytes that are not UTF-8.
    #[error("invalid-xml: {0}")]
    InvalidXml(String),
    /// `<bad-format/>` (RFC 6120 §4.9.3.1): well-formed XML that is not a
    /// valid XMPP stream (wrong root element, text at stream level).
    #[error("bad-format: {0}")]
    BadFormat(String),
    /// `<bad-namespace-prefix/>` (RFC 6120 §4.9.3.2): undeclared or
    /// reserved namespace prefix.
    #[error("bad-namespace-prefix: {0}")]
    BadNamespacePrefix(String),
    /// `<invalid-namespace/>` (RFC 6120 §4.9.3.10): the root is not in the
    /// `http://etherx.jabber.org/streams` namespace.
    #[error("invalid-namespace: {0}")]
    InvalidNamespace(String),
    /// `<unsupported-encoding/>` (RFC 6120 §4.9.3.22): the XML declaration
    /// names an encoding other than UTF-8 (RFC 6120 §11.6).
    #[error("unsupported-encoding: {0}")]
    UnsupportedEncoding(String),
    /// `<policy-violation/>` (RFC 6120 §4.9.3.16): one of the
    /// [`Limits`](crate::Limits) was exceeded.
    #[error("policy-violation: {0}")]
    PolicyViolation(String),
}

impl XmlError {
    /// The RFC 6120 stream error condition element name, e.g.
    /// `"not-well-formed"` or `"policy-violation"`.
    pub fn condition(&self) -> &'static str {
        match self {
            XmlError::NotWellFormed(_) => "not-well-formed",
            XmlError::RestrictedXml(_) => "restricted-xml",
            XmlError::InvalidXml(_) => "invalid-xml",
            XmlError::BadFormat(_) => "bad-format",
            XmlError::BadNamespacePrefix(_) => "bad-namespace-prefix",
            XmlError::InvalidNamespace(_) => "invalid-namespace",
            XmlError::UnsupportedEncoding(_) => "unsupported-encoding",
            XmlError::PolicyViolation(_) => "policy-violation",
        }
    }

    /// The human-readable description (without the condition name).
    pub fn text(&self) -> &str {
        match self {
            XmlError::NotWellFormed(t)
            | XmlError::RestrictedXml(t)
            | XmlError::InvalidXml(t)
            | XmlError::BadFormat(t)
            | XmlError::BadNamespacePrefix(t)
            | XmlError::InvalidNamespace(t)
            | XmlError::UnsupportedEncoding(t)
            | XmlError::PolicyViolation(t) => t,
        }
    }
}

// The `&'static str` payloads of `rxml::Error::RestrictedXml` that need a
// more specific condition than `restricted-xml`. They are rxml 0.14
// implementation details; `tests/reader_errors.rs` pins them so that an rxml
// upgrade that changes them fails loudly instead of silently degrading.
const RXML_BAD_ENCODING: &str = "only utf-8 encoding is allowed";
const RXML_TOKEN_TOO_LONG: &str = "long name or reference";
const RXML_EVENT_TOO_LONG: &str = "event too long";
/// What rxml reports for `<!` followed by anything but `--` or `[CDATA[`:
/// in practice `<!DOCTYPE`, `<!ENTITY` and the other DTD declarations.
const RXML_BANG: &str = "malformed cdata or comment section start";

impl From<RxmlError> for XmlError {
    fn from(e: RxmlError) -> XmlError {
        let text = e.to_string();
        match e {
            RxmlError::RestrictedXml(RXML_BAD_ENCODING) => XmlError::UnsupportedEncoding(text),
            RxmlError::RestrictedXml(RXML_TOKEN_TOO_LONG | RXML_EVENT_TOO_LONG) => XmlError::PolicyViolation(text),
            // Comments, PIs, XML 1.1, standalone='no'. RFC 6120 §11.1 lists
            // the first two explicitly as restricted.
            RxmlError::RestrictedXml(_) => XmlError::RestrictedXml(text),
            // DTDs and entity declarations (RFC 6120 §11.1). rxml has no
            // grammar for them at all, so they are never expanded and a
            // billion-laughs document dies at its `<!DOCTYPE`.
            RxmlError::InvalidSyntax(RXML_BANG) => {
                XmlError::RestrictedXml(format!("document type and markup declarations are not allowed ({text})"))
            }
            // Only the five predefined entities exist without a DTD, and
            // RFC 6120 §11.1 forbids "internal or external entity
            // references (with the exception of predefined entities)", so
            // `&nbsp;` is a use of restricted XML rather than mere
            // ill-formedness.
            RxmlError::UndeclaredEntity => XmlError::RestrictedXml(text),
            // Character-class problems: the bytes are not (allowed) text.
            RxmlError::InvalidChar(..) | RxmlError::InvalidUtf8Byte(_) => XmlError::InvalidXml(text),
            // rxml reports some characters outside the XML `Char` production
            // (U+FFFE, or a control byte where a name was expected) as merely
            // unexpected; they are character-class problems all the same.
            RxmlError::UnexpectedChar(_, ch, _) if !is_xml_char(ch) => XmlError::InvalidXml(text),
            RxmlError::UnexpectedByte(_, b, _) if !is_xml_char(char::from(b)) => XmlError::InvalidXml(text),
            // Namespace well-formedness: binding a reserved prefix or name,
            // undeclaring a prefix, or using an undeclared one.
            RxmlError::UndeclaredNamespacePrefix(_)
            | RxmlError::ReservedNamespacePrefix
            | RxmlError::ReservedNamespaceName
            | RxmlError::EmptyNamespaceUri => XmlError::BadNamespacePrefix(text),
            // Everything else is a grammar / well-formedness violation
            // (mismatched tags, duplicate attributes, bad names, garbage).
            _ => XmlError::NotWellFormed(text),
        }
    }
}

/// XML 1.0 §2.2 `Char`. (Surrogates cannot occur in a `char`.)
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_and_text() {
        let e = XmlError::PolicyViolation("too big".into());
        assert_eq!(e.condition(), "policy-violation");
        assert_eq!(e.text(), "too big");
        assert_eq!(e.to_string(), "policy-violation: too big");
    }

    #[test]
    fn xml_chars() {
        assert!(is_xml_char('\t') && is_xml_char('a') && is_xml_char('\u{10FFFF}'));
        assert!(!is_xml_char('\u{0}') && !is_xml_char('\u{1F}') && !is_xml_char('\u{FFFE}'));
    }

    #[test]
    fn rxml_mapping() {
        assert_eq!(XmlError::from(RxmlError::RestrictedXml(RXML_BAD_ENCODING)).condition(), "unsupported-encoding");
        assert_eq!(XmlError::from(RxmlError::RestrictedXml("comments")).condition(), "restricted-xml");
        assert_eq!(XmlError::from(RxmlError::InvalidUtf8Byte(0xff)).condition(), "invalid-xml");
        assert_eq!(XmlError::from(RxmlError::ElementMismatch).condition(), "not-well-formed");
    }
}
