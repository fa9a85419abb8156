//! Namespace names, one constant per namespace, named after what it is.

/// RFC 6120 §4.8.3: the content namespace of client-to-server streams.
pub const CLIENT: &str = "jabber:client";
/// The content namespace of server-to-server streams.
pub const SERVER: &str = "jabber:server";
/// The namespace of the stream root and of `<stream:features/>` / `<stream:error/>`.
pub const STREAMS: &str = "http://etherx.jabber.org/streams";
pub const STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
pub const STANZA_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const STARTTLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// RFC 3921 session establishment, kept for old clients (RFC 6121 Appendix E).
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// XEP-0440: SASL channel-binding type capability.
pub const SASL_CHANNEL_BINDING: &str = "urn:xmpp:sasl-cb:0";
/// XEP-0199: XMPP ping.
pub const PING: &str = "urn:xmpp:ping";
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
