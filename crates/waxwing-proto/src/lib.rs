//! XMPP protocol vocabulary shared by every layer: namespaces, a cheap view of a
//! stanza's routing header, stream and stanza errors, and the bytes of the
//! stream framing (headers, features).
//!
//! Nothing here does I/O. Payloads the server handles are decoded by the module
//! that handles them; everything else stays a raw [`Element`] and is forwarded
//! byte-faithfully (see `docs/architecture.md`).

pub mod datetime;
pub mod ns;
pub mod stanza;
pub mod stanza_error;
pub mod stream;
pub mod stream_error;

pub use stanza::{IqType, StanzaKind, StanzaView};
pub use stanza_error::{ErrorType, StanzaError, StanzaErrorCondition};
pub use stream::{StreamOpen, features_bytes, stream_close, stream_header};
pub use stream_error::{StreamError, StreamErrorCondition};
pub use waxwing_xml::Element;
