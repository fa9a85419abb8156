//! [`StreamReader`]: incremental reading of an XMPP XML stream.

use rxml::error::EndOrError;
use rxml::{Options, Parse, RawParser, WithOptions};

use crate::builder::{Builder, Step};
use crate::element::Element;
use crate::error::XmlError;
use crate::is_xml_whitespace;
use crate::limits::Limits;

/// The opening `<stream:stream>` tag (RFC 6120 §4.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHeader {
    /// Local name of the root; always `"stream"` once reported.
    pub name: String,
    /// Namespace of the root; always `http://etherx.jabber.org/streams`
    /// once reported.
    pub ns: String,
    /// The default namespace declared on the root (`xmlns='jabber:client'`),
    /// i.e. the content namespace. `None` if not declared or declared empty.
    /// Checking it is up to the caller (RFC 6120 §4.8.2).
    pub default_ns: Option<String>,
    /// `to`, `from`, `id`, `version`, `xml:lang`, … keyed like
    /// [`Element::attrs`]; namespace declarations are not included.
    pub attrs: Vec<(String, String)>,
}

impl StreamHeader {
    /// The value of a header attribute (key convention of [`Element`]).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What the reader produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// The stream header was read.
    Open(StreamHeader),
    /// A complete top-level child of the stream: a stanza, or a nonza such
    /// as `<stream:features/>` or `<starttls/>`.
    Stanza(Element),
    /// `</stream:stream>` was read. Anything after it is ignored.
    Close,
}

/// Incremental reader of one XML stream.
///
/// Feed bytes as they arrive (split anywhere, even inside a UTF-8
/// sequence) and pull events until [`next_event`](Self::next_event)
/// returns `Ok(None)`. Bytes are only buffered until the next call to
/// `next_event`, so draining events after every `feed` keeps memory bounded
/// by the read size plus one stanza. After an error the reader is poisoned:
/// it keeps returning that error.
#[derive(Debug)]
pub struct StreamReader {
    limits: Limits,
    parser: RawParser,
    builder: Builder,
    /// Fed bytes; `buf[pos..]` has not been given to the parser yet.
    buf: Vec<u8>,
    pos: usize,
    /// Bytes the parser consumed since the last unit boundary (end of the
    /// header, of a stanza, or of whitespace between stanzas).
    unit_consumed: usize,
    /// The part of `unit_consumed` that rxml has already attributed to
    /// events (rxml's event metrics are exact). The difference is what rxml
    /// holds internally, i.e. the start of the next unit.
    unit_reported: usize,
    poison: Option<XmlError>,
}

impl StreamReader {
    /// A reader expecting an XML declaration (optional) and stream header.
    pub fn new(limits: Limits) -> StreamReader {
        StreamReader {
            parser: new_parser(&limits),
            builder: Builder::new(limits.clone()),
            limits,
            buf: Vec::new(),
            pos: 0,
            unit_consumed: 0,
            unit_reported: 0,
            poison: None,
        }
    }

    /// Append received bytes. Nothing is parsed until
    /// [`next_event`](Self::next_event). Ignored once poisoned or closed.
    pub fn feed(&mut self, data: &[u8]) {
        if self.poison.is_some() || self.builder.is_closed() {
            return;
        }
        // Compact so the buffer only ever holds unparsed bytes.
        self.buf.drain(..self.pos);
        self.pos = 0;
        self.buf.extend_from_slice(data);
    }

    /// The next event, `Ok(None)` if more bytes are needed (or the stream
    /// was closed). Whitespace between stanzas produces no event.
    pub fn next_event(&mut self) -> Result<Option<StreamEvent>, XmlError> {
        if let Some(e) = &self.poison {
            return Err(e.clone());
        }
        let result = self.advance();
        if let Err(e) = &result {
            self.poison = Some(e.clone());
            self.buf = Vec::new();
            self.pos = 0;
        }
        result
    }

    /// Stream restart (RFC 6120 §4.3.3: after STARTTLS and after SASL
    /// success): discard all parser state, including any poison, and
    /// expect a new XML declaration (optional) and stream header. Bytes fed
    /// but not yet turned into events are dropped, since they belong to the
    /// old stream (or, for STARTTLS, to no XML stream at all).
    pub fn reset(&mut self) {
        *self = StreamReader::new(self.limits.clone());
    }

    /// The limits this reader enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Frees the parser's scratch buffers while the stream is idle.
    ///
    /// rxml reserves `max_token_length` bytes for its token scratchpad on
    /// the first byte it lexes and keeps them; across thousands of idle
    /// connections that is most of a session's memory. Call this when all
    /// fed bytes have been consumed and the caller is about to wait for the
    /// network: the next read reserves the scratchpad again.
    pub fn release_temporaries(&mut self) {
        self.parser.release_temporaries();
        if self.pos == self.buf.len() {
            self.buf = Vec::new();
            self.pos = 0;
        }
    }

    fn advance(&mut self) -> Result<Option<StreamEvent>, XmlError> {
        loop {
            if self.builder.is_closed() {
                self.buf.clear();
                self.pos = 0;
                return Ok(None);
            }
            self.skip_keepalives()?;

            // Never hand rxml more than one byte beyond the unit budget, so
            // an oversized stanza is caught as soon as it crosses the limit
            // rather than after rxml swallowed a large chunk of it.
            let budget = self.limits.max_stanza_bytes.saturating_sub(self.unit_consumed);
            let available = self.buf.len() - self.pos;
            let offer = available.min(budget.saturating_add(1));
            let mut input = &self.buf[self.pos..self.pos + offer];
            let offered = input.len();
            let result = self.parser.parse(&mut input, false);
            let consumed = offered - input.len();
            self.pos += consumed;
            self.unit_consumed += consumed;

            let step = match result {
                Ok(Some(event)) => {
                    self.unit_reported += event.metrics().len();
                    self.builder.process(event)?
                }
                // rxml consumed everything it was offered.
                Err(EndOrError::NeedMoreData) => {
                    self.check_unit_size()?;
                    if self.pos == self.buf.len() {
                        self.release_buffer();
                        return Ok(None);
                    }
                    if consumed == 0 {
                        // Cannot happen with rxml 0.14; never spin forever.
                        return Err(XmlError::NotWellFormed("parser stalled".to_owned()));
                    }
                    continue;
                }
                Err(EndOrError::Error(e)) => return Err(e.into()),
                // End of document; only reported with `at_eof`, which we
                // never pass, since an XML stream has no natural end.
                Ok(None) => return Ok(None),
            };
            if !matches!(step, Step::Continue) {
                self.unit_consumed -= self.unit_reported.min(self.unit_consumed);
                self.unit_reported = 0;
            }
            self.check_unit_size()?;
            if let Step::Event(event) = step {
                return Ok(Some(event));
            }
        }
    }

    /// Empty the (fully consumed) input buffer, and give back memory that
    /// one unusually large `feed` made it grow to.
    fn release_buffer(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.buf.shrink_to(RETAINED_BUFFER_CAPACITY);
    }

    /// Drop whitespace between stanzas, or before the first markup of the
    /// stream, without handing it to rxml.
    ///
    /// Between stanzas this is only done when rxml holds no unreported
    /// bytes, i.e. sits exactly at a markup boundary in the root's content,
    /// where whitespace is insignificant for us. This makes keepalives
    /// (RFC 6120 §4.6.1) free and keeps them out of the next stanza's byte
    /// count; rxml would otherwise buffer them as text until the next `<`.
    ///
    /// Before the first markup, rxml would reject whitespace outright. A
    /// client's keepalive can cross our stream restart (RFC 6120 §6.4.6:
    /// the client restarts after receiving `<success/>`, we reset on
    /// sending it), so we tolerate it, even before an XML declaration.
    ///
    /// At that boundary, anything but whitespace or `<` is character data
    /// directly inside the stream, which RFC 6120 never allows: it is refused
    /// here, at once, instead of when rxml finally sees the text end (a client
    /// sending `hello` and waiting would otherwise hang until a timeout).
    fn skip_keepalives(&mut self) -> Result<(), XmlError> {
        let between = self.builder.between_stanzas();
        if self.unit_consumed == 0 && (between || self.builder.at_start()) {
            let skip = self.buf[self.pos..].iter().take_while(|b| is_xml_whitespace(**b)).count();
            self.pos += skip;
            // `&` may start a character reference to whitespace (`&#x20;`),
            // which is allowed; rxml judges that text when it ends.
            if self.buf.get(self.pos).is_some_and(|b| *b != b'<' && !(between && *b == b'&')) {
                return Err(if between {
                    XmlError::BadFormat("character data between stanzas".into())
                } else {
                    // Not XML at all (an HTTP request, a TLS ClientHello on
                    // the STARTTLS port…): say so now rather than wait for more.
                    XmlError::NotWellFormed("the stream must start with '<'".into())
                });
            }
        }
        Ok(())
    }

    fn check_unit_size(&self) -> Result<(), XmlError> {
        if self.unit_consumed > self.limits.max_stanza_bytes {
            return Err(XmlError::PolicyViolation(format!(
                "stanza or stream header larger than {} bytes",
                self.limits.max_stanza_bytes
            )));
        }
        Ok(())
    }
}

/// Input buffer capacity kept across reads (a typical socket read size).
const RETAINED_BUFFER_CAPACITY: usize = 64 * 1024;

fn new_parser(limits: &Limits) -> RawParser {
    RawParser::with_options(Options { max_token_length: rxml_token_length(limits), ..Options::default() })
}

/// rxml's `max_token_length` for our limits.
///
/// rxml rejects longer names and attribute values while lexing, before
/// buffering them; the builder then applies the exact limit, so rxml must
/// never be the stricter one (hence the slack). The floor keeps rxml's text
/// chunks (sized by the same option) reasonably large. The cap exists
/// because rxml preallocates a buffer of this size per parser.
fn rxml_token_length(limits: &Limits) -> usize {
    limits.max_attribute_bytes.saturating_add(16).clamp(1024, MAX_RXML_TOKEN_LENGTH)
}

/// See [`rxml_token_length`]; also documented on [`Limits`].
const MAX_RXML_TOKEN_LENGTH: usize = 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_can_move_between_threads() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<StreamReader>();
        assert_send::<StreamEvent>();
        assert_send::<XmlError>();
    }

    #[test]
    fn buffer_is_released_after_a_large_feed() {
        let mut reader = StreamReader::new(Limits::default());
        reader.feed(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>");
        let mut big = b"<a>".to_vec();
        big.resize(200 * 1024, b'x');
        reader.feed(&big);
        assert!(matches!(reader.next_event(), Ok(Some(StreamEvent::Open(_)))));
        assert_eq!(reader.next_event(), Ok(None));
        assert!(reader.buf.capacity() <= RETAINED_BUFFER_CAPACITY);
    }
}

/// Parses one element serialised with [`Element::to_bytes`]`(content_ns)`,
/// e.g. a stanza kept in storage, as if it had arrived on a stream whose
/// default namespace is `content_ns`. The same restrictions and (default)
/// limits apply as on a stream.
pub fn parse_element(text: &str, content_ns: &str) -> Result<Element, XmlError> {
    let mut header = Vec::with_capacity(128);
    header.extend_from_slice(b"<stream:stream xmlns='");
    crate::escape_attribute(&mut header, content_ns);
    header.extend_from_slice(b"' xmlns:stream='http://etherx.jabber.org/streams'>");
    // The limit also applies to the synthetic header: room for both.
    let max_stanza_bytes = text.len().max(header.len()) + 64;
    let mut reader = StreamReader::new(Limits { max_stanza_bytes, ..Limits::default() });
    reader.feed(&header);
    reader.feed(text.as_bytes());
    reader.feed(b"</stream:stream>");
    loop {
        match reader.next_event()? {
            Some(StreamEvent::Open(_)) => continue,
            Some(StreamEvent::Stanza(element)) => return Ok(element),
            Some(StreamEvent::Close) | None => return Err(XmlError::NotWellFormed("no complete element".into())),
        }
    }
}

#[cfg(test)]
mod parse_element_tests {
    use super::*;

    #[test]
    fn round_trips_a_stored_stanza() {
        let original = Element::new("message", "jabber:client")
            .with_attr("to", "a@b")
            .with_child(Element::new("body", "jabber:client").with_text("x < y & 'z'"))
            .with_child(Element::new("preauth", "urn:xmpp:pars:0").with_attr("token", "t"));
        let text = String::from_utf8(original.to_bytes("jabber:client")).unwrap();
        assert_eq!(parse_element(&text, "jabber:client").unwrap(), original);
        // Shorter than the synthetic stream header it is parsed inside.
        assert_eq!(parse_element("<presence/>", "jabber:client").unwrap().name, "presence");
        assert!(parse_element("<message>", "jabber:client").is_err());
        assert!(parse_element("", "jabber:client").is_err());
    }
}
