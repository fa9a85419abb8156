//! Stanza errors (RFC 6120 §8.3).

use waxwing_xml::Element;

use crate::ns;

/// RFC 6120 §8.3.2: what the sender should do about the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Auth,
    Cancel,
    Continue,
    Modify,
    Wait,
}

impl ErrorType {
    pub fn name(self) -> &'static str {
        match self {
            ErrorType::Auth => "auth",
            ErrorType::Cancel => "cancel",
            ErrorType::Continue => "continue",
            ErrorType::Modify => "modify",
            ErrorType::Wait => "wait",
        }
    }
}

macro_rules! conditions {
    ($($variant:ident => $name:literal, $default:ident;)*) => {
        /// RFC 6120 §8.3.3 defined conditions.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum StanzaErrorCondition { $($variant),* }

        impl StanzaErrorCondition {
            pub fn name(self) -> &'static str {
                match self { $(StanzaErrorCondition::$variant => $name),* }
            }
            /// The error type RFC 6120 §8.3.3 gives in its examples for the condition.
            pub fn default_type(self) -> ErrorType {
                match self { $(StanzaErrorCondition::$variant => ErrorType::$default),* }
            }
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(StanzaErrorCondition::$variant),)* _ => None }
            }
        }
    };
}

conditions! {
    BadRequest => "bad-request", Modify;
    Conflict => "conflict", Cancel;
    FeatureNotImplemented => "feature-not-implemented", Cancel;
    Forbidden => "forbidden", Auth;
    Gone => "gone", Cancel;
    InternalServerError => "internal-server-error", Cancel;
    ItemNotFound => "item-not-found", Cancel;
    JidMalformed => "jid-malformed", Modify;
    NotAcceptable => "not-acceptable", Modify;
    NotAllowed => "not-allowed", Cancel;
    NotAuthorized => "not-authorized", Auth;
    PolicyViolation => "policy-violation", Modify;
    RecipientUnavailable => "recipient-unavailable", Wait;
    Redirect => "redirect", Modify;
    RegistrationRequired => "registration-required", Auth;
    RemoteServerNotFound => "remote-server-not-found", Cancel;
    RemoteServerTimeout => "remote-server-timeout", Wait;
    ResourceConstraint => "resource-constraint", Wait;
    ServiceUnavailable => "service-unavailable", Cancel;
    SubscriptionRequired => "subscription-required", Auth;
    UndefinedCondition => "undefined-condition", Cancel;
    UnexpectedRequest => "unexpected-request", Wait;
}

/// A stanza error to send back to the sender of a stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    pub error_type: ErrorType,
    pub condition: StanzaErrorCondition,
    pub text: Option<String>,
    /// RFC 6120 §8.3.2: an application-specific condition element, in its
    /// own namespace, sent after the defined condition and the text.
    pub application: Option<Box<Element>>,
}

impl StanzaError {
    pub fn new(condition: StanzaErrorCondition) -> StanzaError {
        StanzaError { error_type: condition.default_type(), condition, text: None, application: None }
    }

    pub fn with_application(mut self, condition: Element) -> StanzaError {
        self.application = Some(Box::new(condition));
        self
    }

    pub fn with_text(mut self, text: impl Into<String>) -> StanzaError {
        self.text = Some(text.into());
        self
    }

    /// `<error type='…'><condition xmlns='…stanzas'/><text/></error>` in `content_ns`.
    pub fn to_element(&self, content_ns: &str) -> Element {
        let mut error = Element::new("error", content_ns)
            .with_attr("type", self.error_type.name())
            .with_child(Element::new(self.condition.name(), ns::STANZA_ERRORS));
        if let Some(text) = &self.text {
            error.push_child(
                Element::new("text", ns::STANZA_ERRORS).with_attr("xml:lang", "en").with_text(text.clone()),
            );
        }
        if let Some(application) = &self.application {
            error.push_child((**application).clone());
        }
        error
    }

    /// The error reply to `stanza` (RFC 6120 §8.3.1): same name and id, `to` and
    /// `from` swapped, type `error`. `None` when `stanza` is itself an error:
    /// an error is never answered with an error, or two servers could loop.
    /// Nor is an iq `result` (RFC 6120 §8.2.3: responses are not answered).
    ///
    /// The original payload is not echoed back (§8.3.1 makes it optional); it
    /// would only spend the sender's bandwidth and could carry a large body.
    pub fn reply_to(&self, stanza: &Element) -> Option<Element> {
        let stanza_type = stanza.attr("type");
        if stanza_type == Some("error") || (stanza.name == "iq" && stanza_type == Some("result")) {
            return None;
        }
        let mut reply = crate::stanza::reply_envelope(stanza, "error");
        reply.push_child(self.to_element(&stanza.ns));
        Some(reply)
    }
}

impl From<StanzaErrorCondition> for StanzaError {
    fn from(condition: StanzaErrorCondition) -> Self {
        StanzaError::new(condition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_condition_comes_last() {
        let error = StanzaError::new(StanzaErrorCondition::BadRequest)
            .with_text("why")
            .with_application(Element::new("bad-sessionid", "http://jabber.org/protocol/commands"))
            .to_element(ns::CLIENT);
        let names: Vec<_> = error.elements().map(|e| (e.name.as_str(), e.ns.as_str())).collect();
        assert_eq!(
            names,
            [
                ("bad-request", ns::STANZA_ERRORS),
                ("text", ns::STANZA_ERRORS),
                ("bad-sessionid", "http://jabber.org/protocol/commands")
            ]
        );
    }

    #[test]
    fn reply_swaps_addresses_and_keeps_id() {
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "get")
            .with_attr("id", "q1")
            .with_attr("from", "a@x/r")
            .with_attr("to", "x");
        let reply = StanzaError::new(StanzaErrorCondition::ServiceUnavailable).reply_to(&iq).unwrap();
        assert_eq!(reply.attr("type"), Some("error"));
        assert_eq!(reply.attr("id"), Some("q1"));
        assert_eq!(reply.attr("to"), Some("a@x/r"));
        assert_eq!(reply.attr("from"), Some("x"));
        let error = reply.get_child("error", ns::CLIENT).unwrap();
        assert_eq!(error.attr("type"), Some("cancel"));
        assert!(error.get_child("service-unavailable", ns::STANZA_ERRORS).is_some());
    }

    #[test]
    fn never_an_error_in_reply_to_an_error() {
        let msg = Element::new("message", ns::CLIENT).with_attr("type", "error");
        assert!(StanzaError::new(StanzaErrorCondition::BadRequest).reply_to(&msg).is_none());
    }

    #[test]
    fn condition_names_round_trip() {
        for c in [StanzaErrorCondition::JidMalformed, StanzaErrorCondition::UnexpectedRequest] {
            assert_eq!(StanzaErrorCondition::from_name(c.name()), Some(c));
        }
    }
}
