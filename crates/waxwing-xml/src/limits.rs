//! Resource limits enforced while reading a stream.

/// Limits applied while reading. Exceeding any of them gives
/// [`XmlError::PolicyViolation`](crate::XmlError::PolicyViolation)
/// (RFC 6120 §4.9.3.16; §13.12 asks servers to guard against resource
/// exhaustion).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Bytes of one top-level child of the stream (a stanza or nonza), from
    /// its `<` to the end of its closing tag. Also caps the XML declaration
    /// plus stream header. Counted as bytes are consumed, so an oversized
    /// stanza is rejected as soon as the limit is crossed, not after it was
    /// buffered completely. Default 256 KiB.
    pub max_stanza_bytes: usize,
    /// Element nesting depth inside a stanza; the stanza element itself has
    /// depth 1. Default 32.
    pub max_depth: usize,
    /// Attributes per element, counting namespace declarations (they cost
    /// the same to process). Default 64.
    pub max_attributes: usize,
    /// Bytes of one attribute value (after reference expansion), and of one
    /// element or attribute name. Default 8 KiB. Values above about 1 MiB
    /// act as about 1 MiB: the parser preallocates a buffer of this size
    /// per reader, so it is capped there.
    pub max_attribute_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_stanza_bytes: 256 * 1024, max_depth: 32, max_attributes: 64, max_attribute_bytes: 8 * 1024 }
    }
}
