//! The error type shared by parsing and the stringprep profiles.

/// Why a JID, or one of its parts, was rejected.
///
/// Length errors refer to the *prepared* form (RFC 7622 §3.1: each part is
/// 1..=1023 octets after preparation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JidError {
    /// The whole input string was empty.
    #[error("empty JID")]
    Empty,
    /// A `@` separator was present but nothing came before it, or the node
    /// prepared to nothing.
    #[error("empty localpart")]
    EmptyNode,
    /// The domainpart is empty (also after stripping a trailing dot).
    #[error("empty domainpart")]
    EmptyDomain,
    /// A `/` separator was present but nothing came after it, or the
    /// resource prepared to nothing.
    #[error("empty resourcepart")]
    EmptyResource,
    /// The prepared localpart is longer than 1023 bytes.
    #[error("localpart longer than 1023 bytes")]
    NodeTooLong,
    /// The prepared domainpart is longer than 1023 bytes.
    #[error("domainpart longer than 1023 bytes")]
    DomainTooLong,
    /// The prepared resourcepart is longer than 1023 bytes.
    #[error("resourcepart longer than 1023 bytes")]
    ResourceTooLong,
    /// The localpart failed nodeprep (forbidden characters, bidi rules, …).
    #[error("invalid localpart")]
    InvalidNode,
    /// The domainpart is neither a valid IDN nor an IP literal.
    #[error("invalid domainpart")]
    InvalidDomain,
    /// The resourcepart failed resourceprep.
    #[error("invalid resourcepart")]
    InvalidResource,
}
