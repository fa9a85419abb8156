//! Stream errors (RFC 6120 §4.9). A stream error is unrecoverable: the server
//! sends it, closes the stream and the TCP connection.

use waxwing_xml::{Element, XmlError};

use crate::ns;

macro_rules! conditions {
    ($($variant:ident => $name:literal;)*) => {
        /// RFC 6120 §4.9.3 defined conditions.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum StreamErrorCondition { $($variant),* }

        impl StreamErrorCondition {
            pub fn name(self) -> &'static str {
                match self { $(StreamErrorCondition::$variant => $name),* }
            }
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(StreamErrorCondition::$variant),)* _ => None }
            }
        }
    };
}

conditions! {
    BadFormat => "bad-format";
    BadNamespacePrefix => "bad-namespace-prefix";
    Conflict => "conflict";
    ConnectionTimeout => "connection-timeout";
    HostGone => "host-gone";
    HostUnknown => "host-unknown";
    ImproperAddressing => "improper-addressing";
    InternalServerError => "internal-server-error";
    InvalidFrom => "invalid-from";
    InvalidNamespace => "invalid-namespace";
    InvalidXml => "invalid-xml";
    NotAuthorized => "not-authorized";
    NotWellFormed => "not-well-formed";
    PolicyViolation => "policy-violation";
    RemoteConnectionFailed => "remote-connection-failed";
    Reset => "reset";
    ResourceConstraint => "resource-constraint";
    RestrictedXml => "restricted-xml";
    SeeOtherHost => "see-other-host";
    SystemShutdown => "system-shutdown";
    UndefinedCondition => "undefined-condition";
    UnsupportedEncoding => "unsupported-encoding";
    UnsupportedFeature => "unsupported-feature";
    UnsupportedStanzaType => "unsupported-stanza-type";
    UnsupportedVersion => "unsupported-version";
}

/// A stream error with optional human-readable text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream error {}{}", condition.name(), text.as_deref().map(|t| format!(": {t}")).unwrap_or_default())]
pub struct StreamError {
    pub condition: StreamErrorCondition,
    pub text: Option<String>,
}

impl StreamError {
    pub fn new(condition: StreamErrorCondition) -> StreamError {
        StreamError { condition, text: None }
    }

    pub fn with_text(condition: StreamErrorCondition, text: impl Into<String>) -> StreamError {
        StreamError { condition, text: Some(text.into()) }
    }

    /// `<stream:error>…</stream:error>`, written with the `stream:` prefix the
    /// stream header declared (some clients match on the prefixed name).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = b"<stream:error>".to_vec();
        Element::new(self.condition.name(), ns::STREAM_ERRORS).write_to(&mut out, "");
        if let Some(text) = &self.text {
            Element::new("text", ns::STREAM_ERRORS)
                .with_attr("xml:lang", "en")
                .with_text(text.clone())
                .write_to(&mut out, "");
        }
        out.extend_from_slice(b"</stream:error>");
        out
    }
}

impl From<XmlError> for StreamError {
    fn from(err: XmlError) -> Self {
        let condition = StreamErrorCondition::from_name(err.condition()).unwrap_or(StreamErrorCondition::NotWellFormed);
        StreamError::with_text(condition, err.text().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_with_stream_prefix() {
        let e = StreamError::with_text(StreamErrorCondition::HostUnknown, "no <such> host");
        let s = String::from_utf8(e.to_bytes()).unwrap();
        assert!(s.starts_with("<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'"));
        assert!(s.contains("no &lt;such&gt; host"));
        assert!(s.ends_with("</stream:error>"));
    }

    #[test]
    fn xml_errors_map_to_their_condition() {
        let e: StreamError = XmlError::RestrictedXml("comment".into()).into();
        assert_eq!(e.condition, StreamErrorCondition::RestrictedXml);
        let e: StreamError = XmlError::PolicyViolation("too big".into()).into();
        assert_eq!(e.condition, StreamErrorCondition::PolicyViolation);
    }
}
