//! Domainpart preparation (RFC 7622 §3.2).

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use idna::uts46::{AsciiDenyList, Hyphens, Uts46};

use crate::JidError;
use crate::prep::{check_length, ensure_stable};

/// Characters IDNA treats as label separators (RFC 3490 §3.1); the
/// ideographic and fullwidth ones only matter for the trailing-dot rule,
/// UTS #46 maps them to `.` everywhere else.
const LABEL_SEPARATORS: [char; 4] = ['.', '\u{3002}', '\u{FF0E}', '\u{FF61}'];

/// Prepares a domainpart exactly as [`crate::Jid`] stores it.
///
/// In order:
/// 1. One trailing label separator is removed (RFC 7622 §3.2: `example.com.`
///    and `example.com` are the same domain).
/// 2. `[…]` must hold an IPv6 address, which is put in its RFC 5952
///    canonical text form; a dotted-quad IPv4 address is kept as is.
/// 3. Anything else is a domain name: Nameprep (RFC 3491: case folding,
///    NFKC, prohibited output, the same mapping Prosody and ejabberd apply,
///    e.g. `ß` → `ss`), then UTS #46 *ToUnicode* with the STD3 ASCII rules,
///    which decodes `xn--` A-labels to U-labels and rejects characters such
///    as `@`, `/`, `_` or spaces. Empty labels are rejected.
///
/// The result must be a fixed point of this function, so an A-label whose
/// U-label Nameprep would change (IDNA2008 `xn--zca` = `ß`, which IDNA2003
/// maps to `ss`) is rejected rather than silently renamed.
///
/// The result is 1..=1023 bytes long. Despite the name (kept for symmetry
/// with [`crate::nodeprep`] and [`crate::resourceprep`]) this is more than
/// the RFC 3491 profile: `nameprep(x) == Jid::domain_jid(x)?.domain()`.
///
/// ```
/// assert_eq!(waxwing_jid::nameprep("Example.COM.").unwrap(), "example.com");
/// assert_eq!(waxwing_jid::nameprep("xn--bcher-kva.example").unwrap(), "bücher.example");
/// assert_eq!(waxwing_jid::nameprep("[2001:DB8:0::1]").unwrap(), "[2001:db8::1]");
/// ```
pub fn nameprep(s: &str) -> Result<String, JidError> {
    let s = s.strip_suffix(LABEL_SEPARATORS).unwrap_or(s);
    if s.is_empty() {
        return Err(JidError::EmptyDomain);
    }
    if let Some(literal) = ip_literal(s) {
        return literal;
    }
    let prepared = prepare_dns_name(s).ok_or(JidError::InvalidDomain)?;
    let prepared = ensure_stable(s, prepared, prepare_dns_name).ok_or(JidError::InvalidDomain)?;
    check_length(prepared, JidError::EmptyDomain, JidError::DomainTooLong)
}

/// Recognises the IP-literal and IPv4address alternatives of the RFC 7622
/// domainpart grammar; `None` means "treat as a domain name".
fn ip_literal(s: &str) -> Option<Result<String, JidError>> {
    if let Some(inner) = s.strip_prefix('[') {
        // RFC 3986 IP-literal; IPvFuture and zone identifiers are not allowed.
        let canonical = inner
            .strip_suffix(']')
            .and_then(|addr| addr.parse::<Ipv6Addr>().ok())
            .map(|addr| format!("[{addr}]"))
            .ok_or(JidError::InvalidDomain);
        return Some(canonical);
    }
    // The std parser is strict (exactly four decimal octets, no leading
    // zeros), so `1.2.3` or `010.0.0.1` fall through to the name rules.
    s.parse::<Ipv4Addr>().ok().map(|addr| Ok(addr.to_string()))
}

/// Nameprep followed by UTS #46 ToUnicode; `None` if either rejects.
fn prepare_dns_name(s: &str) -> Option<Cow<'_, str>> {
    let mapped = stringprep::nameprep(s).ok()?;
    let (unicode, result) = Uts46::new().to_unicode(
        mapped.as_bytes(),
        AsciiDenyList::STD3,
        // STD3 host names cannot start or end with a hyphen; `ab--c` style
        // labels are in real use, so positions 3-4 are not checked.
        Hyphens::CheckFirstLast,
    );
    result.ok()?;
    if unicode.split('.').any(str::is_empty) {
        return None;
    }
    if unicode == s { Some(Cow::Borrowed(s)) } else { Some(Cow::Owned(unicode.into_owned())) }
}
