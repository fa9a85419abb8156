//! Turns rxml's raw events into stream events: namespace resolution,
//! per-element limits, the element tree, and the XMPP stream structure.

use rxml::{NcName, RawEvent};

use crate::element::Element;
use crate::error::XmlError;
use crate::limits::Limits;
use crate::namespaces::Scopes;
use crate::reader::{StreamEvent, StreamHeader};
use crate::{NS_STREAMS, NS_XMLNS, is_xml_whitespace};

/// What processing one raw event produced.
#[derive(Debug)]
pub(crate) enum Step {
    /// Nothing complete yet.
    Continue,
    /// A unit ended without an event: whitespace between stanzas.
    Boundary,
    /// A unit ended with an event (every [`StreamEvent`] ends a unit).
    Event(StreamEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the stream header has been read.
    Prolog,
    /// Inside `<stream:stream>`.
    Open,
    /// `</stream:stream>` has been read.
    Closed,
}

/// A start tag being read: rxml reports the name and each attribute as
/// separate events before the closing `>`.
#[derive(Debug)]
struct Head {
    prefix: Option<NcName>,
    local: NcName,
    attrs: Vec<(Option<NcName>, NcName, String)>,
}

/// Builds stream events from raw events; see the module docs.
#[derive(Debug)]
pub(crate) struct Builder {
    limits: Limits,
    state: State,
    scopes: Scopes,
    head: Option<Head>,
    /// The open elements of the current stanza, outermost first.
    open: Vec<Element>,
}

impl Builder {
    pub(crate) fn new(limits: Limits) -> Builder {
        Builder { limits, state: State::Prolog, scopes: Scopes::default(), head: None, open: Vec::new() }
    }

    /// Whether the stream has been closed by `</stream:stream>`.
    pub(crate) fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether nothing of the document has been processed yet.
    pub(crate) fn at_start(&self) -> bool {
        self.state == State::Prolog && self.head.is_none()
    }

    /// Whether we are inside the stream but between stanzas.
    pub(crate) fn between_stanzas(&self) -> bool {
        self.state == State::Open && self.open.is_empty() && self.head.is_none()
    }

    pub(crate) fn process(&mut self, event: RawEvent) -> Result<Step, XmlError> {
        match event {
            // rxml only accepts it at the very start and checks its content.
            RawEvent::XmlDeclaration(..) => Ok(Step::Continue),
            RawEvent::ElementHeadOpen(_, (prefix, local)) => {
                self.open_head(prefix, local)?;
                Ok(Step::Continue)
            }
            RawEvent::Attribute(_, (prefix, local), value) => {
                self.add_attribute(prefix, local, value)?;
                Ok(Step::Continue)
            }
            RawEvent::ElementHeadClose(_) => self.close_head(),
            RawEvent::ElementFoot(_) => Ok(self.close_element()),
            RawEvent::Text(_, text) => self.text(text),
        }
    }

    fn open_head(&mut self, prefix: Option<NcName>, local: NcName) -> Result<(), XmlError> {
        // Depth is checked before anything of the element is kept. The
        // stream root is not part of any stanza and does not count.
        if self.state == State::Open && self.open.len() >= self.limits.max_depth {
            return Err(XmlError::PolicyViolation(format!("elements nested deeper than {}", self.limits.max_depth)));
        }
        self.check_name(opt_str(&prefix), &local)?;
        self.head = Some(Head { prefix, local, attrs: Vec::new() });
        Ok(())
    }

    fn add_attribute(&mut self, prefix: Option<NcName>, local: NcName, value: String) -> Result<(), XmlError> {
        self.check_name(opt_str(&prefix), &local)?;
        let limits = &self.limits;
        let head = self.head.as_mut().ok_or_else(unexpected_event)?;
        if head.attrs.len() >= limits.max_attributes {
            return Err(XmlError::PolicyViolation(format!(
                "more than {} attributes on an element",
                limits.max_attributes
            )));
        }
        if value.len() > limits.max_attribute_bytes {
            return Err(XmlError::PolicyViolation(format!(
                "attribute value longer than {} bytes",
                limits.max_attribute_bytes
            )));
        }
        // XML 1.0 §3.1 "Unique Att Spec". rxml's raw parser leaves this to
        // us; the attribute limit keeps the quadratic scan cheap.
        if head.attrs.iter().any(|(p, l, _)| *p == prefix && *l == local) {
            return Err(XmlError::NotWellFormed(format!(
                "duplicate attribute '{}'",
                display_name(opt_str(&prefix), &local)
            )));
        }
        head.attrs.push((prefix, local, value));
        Ok(())
    }

    fn check_name(&self, prefix: Option<&str>, local: &str) -> Result<(), XmlError> {
        let len = prefix.map_or(0, |p| p.len() + 1) + local.len();
        if len > self.limits.max_attribute_bytes {
            return Err(XmlError::PolicyViolation(format!(
                "name longer than {} bytes",
                self.limits.max_attribute_bytes
            )));
        }
        Ok(())
    }

    /// The `>` of a start tag: resolve namespaces and either produce the
    /// stream header or open a stanza (child) element.
    fn close_head(&mut self) -> Result<Step, XmlError> {
        let head = self.head.take().ok_or_else(unexpected_event)?;

        // Namespace declarations apply to the element's own name and
        // attributes, so split them off and open the scope first.
        let mut declarations = Vec::new();
        let mut plain = Vec::with_capacity(head.attrs.len());
        for (prefix, local, value) in head.attrs {
            match opt_str(&prefix) {
                Some("xmlns") => declarations.push((Some(local.as_str().to_owned()), value)),
                None if local == "xmlns" => declarations.push((None, value)),
                _ => plain.push((prefix, local, value)),
            }
        }
        // Namespaces in XML 1.0 §3: nothing may be bound to the xmlns
        // namespace name. (rxml checks the corresponding rules for `xml`.)
        if declarations.iter().any(|(_, uri)| uri == NS_XMLNS) {
            return Err(XmlError::BadNamespacePrefix(format!("'{NS_XMLNS}' cannot be bound")));
        }
        let default_ns = declarations.iter().find(|(p, _)| p.is_none()).map(|(_, uri)| uri.clone());
        self.scopes.push(declarations);

        let ns = self.scopes.resolve(opt_str(&head.prefix))?.to_owned();
        let mut attrs: Vec<(String, String)> = Vec::with_capacity(plain.len());
        for (prefix, local, value) in plain {
            let key = self.scopes.attr_key(opt_str(&prefix), &local)?;
            // Namespaces in XML 1.0 §6.3 "Attributes Unique": two prefixes
            // bound to one URI must not qualify the same local name.
            if attrs.iter().any(|(k, _)| *k == key) {
                return Err(XmlError::NotWellFormed(format!("duplicate attribute '{key}'")));
            }
            attrs.push((key, value));
        }

        let name = head.local.as_str().to_owned();
        if self.state == State::Prolog {
            return open_stream(name, ns, default_ns, attrs).map(|header| {
                self.state = State::Open;
                Step::Event(StreamEvent::Open(header))
            });
        }
        self.open.push(Element { name, ns, attrs, children: Vec::new() });
        Ok(Step::Continue)
    }

    /// An end tag (or the end of an empty-element tag).
    fn close_element(&mut self) -> Step {
        self.scopes.pop();
        let Some(element) = self.open.pop() else {
            // Nothing of a stanza open: this was the stream root.
            self.state = State::Closed;
            return Step::Event(StreamEvent::Close);
        };
        match self.open.last_mut() {
            Some(parent) => {
                parent.push_child(element);
                Step::Continue
            }
            None => Step::Event(StreamEvent::Stanza(element)),
        }
    }

    fn text(&mut self, text: String) -> Result<Step, XmlError> {
        match self.open.last_mut() {
            Some(parent) => {
                parent.push_text(text);
                Ok(Step::Continue)
            }
            // Between stanzas only whitespace (keepalives, RFC 6120 §4.6.1)
            // may appear; the stream content model has no text.
            None if text.bytes().all(is_xml_whitespace) => Ok(Step::Boundary),
            None => Err(XmlError::BadFormat("character data between stanzas".to_owned())),
        }
    }
}

/// Validate the root element (RFC 6120 §4.8.1, §4.9.3.1, §4.9.3.10) and
/// build the header. The content namespace is left to the caller.
fn open_stream(
    name: String,
    ns: String,
    default_ns: Option<String>,
    attrs: Vec<(String, String)>,
) -> Result<StreamHeader, XmlError> {
    if ns != NS_STREAMS {
        return Err(XmlError::InvalidNamespace(format!("stream root in namespace '{ns}', expected '{NS_STREAMS}'")));
    }
    if name != "stream" {
        return Err(XmlError::BadFormat(format!("stream root is <{name}/>, expected <stream/>")));
    }
    Ok(StreamHeader {
        name,
        ns,
        // `xmlns=''` means "no default namespace".
        default_ns: default_ns.filter(|uri| !uri.is_empty()),
        attrs,
    })
}

/// rxml guarantees the event order; this only guards against a broken
/// guarantee turning into a panic.
fn unexpected_event() -> XmlError {
    XmlError::NotWellFormed("unexpected parser event".to_owned())
}

fn display_name(prefix: Option<&str>, local: &str) -> String {
    match prefix {
        Some(p) => format!("{p}:{local}"),
        None => local.to_owned(),
    }
}

fn opt_str(prefix: &Option<NcName>) -> Option<&str> {
    prefix.as_ref().map(|p| p.as_str())
}
