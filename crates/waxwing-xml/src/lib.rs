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
//! # Behaviour callers rely on
//!
//! - **Keepalives**: whitespace between stanzas (RFC 6120 §4.6.1) yields no
//!   event and does not count towards the next stanza's size.
//! - **Text between stanzas** is `bad-format`, but rxml only judges a text
//!   run once it ends (at the next `<`, or after about
//!   `max_attribute_bytes` of it), so `"hello"` alone is not yet an error.
//! - **XML declaration**: optional, and only allowed as the very first bytes
//!   of a stream (also of a restarted one: after [`StreamReader::reset`] the
//!   peer may send a new `<?xml …?>`). Whitespace before the first markup
//!   is skipped, even before an XML declaration (more lenient than XML 1.0
//!   and rxml, so that a keepalive crossing a restart is harmless).
//! - **Stream close**: after `</stream:stream>` ([`StreamEvent::Close`])
//!   further input is ignored and `next_event` returns `Ok(None)`.
//! - **Restart**: [`StreamReader::reset`] drops bytes fed but not yet
//!   parsed. Call it right after the event that triggers the restart and
//!   feed only bytes received after that point (for STARTTLS, after the TLS
//!   handshake).
//! - **Stanza delivery**: a stanza is reported as soon as the `>` of its end
//!   tag has been fed; no lookahead byte is needed.
//! - **Errors** are fatal: the reader is poisoned, and the caller sends the
//!   stream error named by [`XmlError::condition`] and closes the stream.
//! - **Serialisation** uses single quotes, omits `xmlns` where inherited,
//!   and writes streams-namespace elements with the `stream:` prefix.
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
pub use reader::{StreamEvent, StreamHeader, StreamReader, parse_element};
pub use serialize::escape_attribute;

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
