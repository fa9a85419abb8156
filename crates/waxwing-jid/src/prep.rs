//! Per-part preparation: nodeprep and (lenient) resourceprep.
//!
//! XMPP deployments still use the RFC 6122 stringprep profiles rather than
//! the RFC 7613 PRECIS classes, because Prosody and ejabberd do and the
//! prepared forms must agree across the federation. The domainpart lives in
//! [`crate::domain`].

use std::borrow::Cow;

use stringprep::tables;
use unicode_normalization::UnicodeNormalization;

use crate::JidError;

/// Maximum length of each prepared part, in bytes (RFC 7622 §3.1).
pub(crate) const MAX_PART_LEN: usize = 1023;

/// Prepares a localpart with the Nodeprep profile (RFC 6122 appendix A).
///
/// Case-folds and NFKC-normalises, and rejects spaces, controls and the
/// characters `"&'/:<>@`. Unassigned code points are rejected, as for
/// stored strings. Also enforces the 1..=1023 byte length of RFC 7622, so
/// the result is always usable as the node of a [`crate::Jid`] (and as an
/// account name, which is why SASL username handling uses it too).
///
/// ```
/// assert_eq!(waxwing_jid::nodeprep("Juliet").unwrap(), "juliet");
/// assert!(waxwing_jid::nodeprep("romeo@montague").is_err());
/// ```
pub fn nodeprep(s: &str) -> Result<String, JidError> {
    if s.is_empty() {
        return Err(JidError::EmptyNode);
    }
    let prepared = stringprep::nodeprep(s).map_err(|_| JidError::InvalidNode)?;
    let prepared = ensure_stable(s, prepared, |p| stringprep::nodeprep(p).ok()).ok_or(JidError::InvalidNode)?;
    check_length(prepared, JidError::EmptyNode, JidError::NodeTooLong)
}

/// Prepares a resourcepart with the Resourceprep profile (RFC 6122
/// appendix B), leniently: unassigned code points are allowed.
///
/// Resourceprep is pinned to Unicode 3.2, so a strict implementation
/// refuses most emoji (`📱 phone`). Like Prosody, we treat resources as
/// "queries" in the RFC 3454 §7 sense and let unassigned code points
/// through; everything else (mapping, NFKC, prohibited output, bidi) is as
/// specified. No case folding is done: resources are case-sensitive.
///
/// ```
/// assert_eq!(waxwing_jid::resourceprep("📱 phone").unwrap(), "📱 phone");
/// assert!(waxwing_jid::resourceprep("bad\u{7}bell").is_err());
/// ```
pub fn resourceprep(s: &str) -> Result<String, JidError> {
    if s.is_empty() {
        return Err(JidError::EmptyResource);
    }
    let prepared = lenient_resourceprep(s).ok_or(JidError::InvalidResource)?;
    let prepared = ensure_stable(s, prepared, lenient_resourceprep).ok_or(JidError::InvalidResource)?;
    check_length(prepared, JidError::EmptyResource, JidError::ResourceTooLong)
}

/// Resourceprep without the unassigned-code-point check (RFC 3454 §7).
/// Returns `None` when the string contains prohibited output.
fn lenient_resourceprep(s: &str) -> Option<Cow<'_, str>> {
    // Printable ASCII is invariant under every step and never prohibited.
    if s.chars().all(|c| matches!(c, ' '..='~')) {
        return Some(Cow::Borrowed(s));
    }
    // B.3 mapping (table B.1 only: resources keep their case), B.4 NFKC.
    let normalized: String = s.chars().filter(|&c| !tables::commonly_mapped_to_nothing(c)).nfkc().collect();
    // B.5 prohibited output.
    if normalized.chars().any(is_prohibited_in_resource) {
        return None;
    }
    // B.6 bidirectional characters (RFC 3454 §6).
    if violates_bidi_rules(&normalized) {
        return None;
    }
    Some(Cow::Owned(normalized))
}

/// Resourceprep's prohibited output (RFC 6122 B.5): tables C.1.2 to C.9.
/// Unlike nodeprep, ASCII space (C.1.1) is allowed.
fn is_prohibited_in_resource(c: char) -> bool {
    tables::non_ascii_space_character(c)
        || tables::ascii_control_character(c)
        || tables::non_ascii_control_character(c)
        || tables::private_use(c)
        || tables::non_character_code_point(c)
        || tables::surrogate_code(c)
        || tables::inappropriate_for_plain_text(c)
        || tables::inappropriate_for_canonical_representation(c)
        || tables::change_display_properties_or_deprecated(c)
        || tables::tagging_character(c)
}

/// RFC 3454 §6: a string with any RandALCat character must not contain
/// LCat characters, and must start and end with a RandALCat character.
fn violates_bidi_rules(s: &str) -> bool {
    if !s.chars().any(tables::bidi_r_or_al) {
        return false;
    }
    let starts_and_ends_rtl =
        s.chars().next().is_some_and(tables::bidi_r_or_al) && s.chars().next_back().is_some_and(tables::bidi_r_or_al);
    s.chars().any(tables::bidi_l) || !starts_and_ends_rtl
}

/// Returns the prepared string if preparing it again changes nothing.
///
/// Stringprep is meant to be idempotent, but its tables are frozen at
/// Unicode 3.2 while NFKC (and, for domains, UTS #46) follow the current
/// Unicode version. Should some corner of that mismatch ever produce a
/// form that is not a fixed point, two spellings of one address could
/// compare unequal after a round trip through the wire, so we reject the
/// input instead. ASCII output is always stable and skips the check.
pub(crate) fn ensure_stable<'a>(
    input: &str,
    prepared: Cow<'a, str>,
    prep: impl for<'b> Fn(&'b str) -> Option<Cow<'b, str>>,
) -> Option<Cow<'a, str>> {
    if prepared.is_ascii() || prepared == input {
        return Some(prepared);
    }
    match prep(&prepared) {
        Some(again) if again == prepared => Some(prepared),
        _ => None,
    }
}

/// Applies the RFC 7622 §3.1 length rule to a prepared part.
pub(crate) fn check_length(prepared: Cow<'_, str>, empty: JidError, too_long: JidError) -> Result<String, JidError> {
    match prepared.len() {
        0 => Err(empty),
        n if n > MAX_PART_LEN => Err(too_long),
        _ => Ok(prepared.into_owned()),
    }
}
