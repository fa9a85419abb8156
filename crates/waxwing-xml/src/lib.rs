//! Reading and writing the XML of XMPP streams (RFC 6120).
//!
//! - [`StreamReader`] incrementally parses the never-ending
//!   `<stream:stream>` document into [`StreamEvent`]s: the header, each
//!   top-level child as an [`Element`] tree, and the close. It enforces the
//!   restricted XML profile of RFC 6120 §11 and the [`Limits`], reporting
//!   violations as [`XmlError`]s that name the stream error condition to
//!   send.
//! - [`Element::write_to`] serialises trees with correct escaping.
//!
//! Parsing is done by [`rxml`]'s push parser; this crate does no I/O.
//!
//! ```
//! use waxwing_xml::{Limits, StreamEvent, StreamReader};
//!
//! let mut reader = StreamReader::new(Limits::default());
//! reader.feed(b"<stream:stream xmlns='jabber:client' \
//!     xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>");
//! reader.feed(b"<message to='romeo@example.net'><body>hi</body></message>");
//! let Some(StreamEvent::Open(header)) = reader.next_event().unwrap() else { panic!() };
//! assert_eq!(header.default_ns.as_deref(), Some("jabber:client"));
//! let Some(StreamEvent::Stanza(message)) = reader.next_event().unwrap() else { panic!() };
//! assert_eq!(message.get_child("body", "jabber:client").unwrap().text(), "hi");
//! assert_eq!(
//!     message.to_bytes("jabber:client"),
//!     b"<message to='romeo@example.net'><body>hi</body></message>"
//! );
//! assert_eq!(reader.next_event().unwrap(), None);
//! ```

mod builder;
mod element;
mod error;
mod limits;
mod namespaces;
mod reader;
mod serialize;

pub use element::{Element, Node};
pub use error::XmlError;
pub use limits::Limits;
pub use reader::{StreamEvent, StreamHeader, StreamReader};

/// The streams namespace of the root element (RFC 6120 §4.8.1).
pub const NS_STREAMS: &str = "http://etherx.jabber.org/streams";

/// The namespace bound to the `xml` prefix (used by `xml:lang`).
pub const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// The namespace of `xmlns` declarations; it can never be bound.
const NS_XMLNS: &str = "http://www.w3.org/2000/xmlns/";

/// XML 1.0 §2.3 `S`: space, tab, CR, LF.
fn is_xml_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}
