//! The [`Jid`] type.

use std::fmt;
use std::str::FromStr;

use crate::{JidError, nameprep, nodeprep, resourceprep};

/// A prepared XMPP address, `[node@]domain[/resource]` (RFC 7622).
///
/// Every constructor applies nodeprep, [`nameprep`] and resourceprep to
/// the parts, so two `Jid`s are equal exactly when they denote the same
/// address (`Juliet@EXAMPLE.com.` equals `juliet@example.com`), and
/// `Display` gives the canonical form.
///
/// ```
/// use waxwing_jid::Jid;
///
/// let jid = Jid::parse("Juliet@Example.COM/balcony").unwrap();
/// assert_eq!(jid.node(), Some("juliet"));
/// assert_eq!(jid.domain(), "example.com");
/// assert_eq!(jid.resource(), Some("balcony"));
/// assert_eq!(jid.bare().to_string(), "juliet@example.com");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    /// The canonical string form. Since parsing it again yields the same
    /// parts, comparing, hashing and ordering by it is the same as doing so
    /// by the parts.
    full: String,
    /// Length of the node in bytes; 0 means "no node" (a present node is
    /// never empty).
    node_len: u16,
    /// Byte offset where the domain ends: `full.len()` for bare JIDs,
    /// otherwise the position of the `/` before the resource.
    domain_end: u16,
}

impl Jid {
    /// Parses and prepares a JID.
    ///
    /// Follows RFC 7622 §3.1: the resource is everything after the first
    /// `/` (so it may itself contain `/` and `@`), and the node is whatever
    /// precedes the first `@` in the remainder.
    pub fn parse(s: &str) -> Result<Jid, JidError> {
        if s.is_empty() {
            return Err(JidError::Empty);
        }
        let (bare, resource) = match s.split_once('/') {
            Some((bare, resource)) => (bare, Some(resource)),
            None => (s, None),
        };
        let (node, domain) = match bare.split_once('@') {
            Some((node, domain)) => (Some(node), domain),
            None => (None, bare),
        };
        Jid::new(node, domain, resource)
    }

    /// Builds a JID from its parts, preparing each one.
    ///
    /// `Some("")` for the node or resource is an error, as is a node or
    /// resource that prepares to the empty string.
    pub fn new(node: Option<&str>, domain: &str, resource: Option<&str>) -> Result<Jid, JidError> {
        // Prepare the domain first: it is the part that must always exist,
        // so `@/` reports the domain, matching the order of RFC 7622 §3.1.
        let domain = nameprep(domain)?;
        let node = node.map(nodeprep).transpose()?;
        let resource = resource.map(resourceprep).transpose()?;
        Ok(Jid::from_prepared(node.as_deref(), &domain, resource.as_deref()))
    }

    /// A JID consisting of just a (prepared) domain, e.g. a server or
    /// component address.
    pub fn domain_jid(domain: &str) -> Result<Jid, JidError> {
        Jid::new(None, domain, None)
    }

    /// Assembles already-prepared parts (each 1..=1023 bytes).
    fn from_prepared(node: Option<&str>, domain: &str, resource: Option<&str>) -> Jid {
        let mut full =
            String::with_capacity(node.map_or(0, |n| n.len() + 1) + domain.len() + resource.map_or(0, |r| r.len() + 1));
        if let Some(node) = node {
            full.push_str(node);
            full.push('@');
        }
        full.push_str(domain);
        let domain_end = full.len();
        if let Some(resource) = resource {
            full.push('/');
            full.push_str(resource);
        }
        // Prepared parts are at most 1023 bytes, so the offsets fit in u16.
        Jid { node_len: to_u16(node.map_or(0, str::len)), domain_end: to_u16(domain_end), full }
    }

    /// The prepared localpart, if any.
    pub fn node(&self) -> Option<&str> {
        match self.node_len() {
            0 => None,
            len => Some(&self.full[..len]),
        }
    }

    /// The prepared domainpart (never empty; IPv6 literals keep their brackets).
    pub fn domain(&self) -> &str {
        let start = match self.node_len() {
            0 => 0,
            len => len + 1,
        };
        &self.full[start..self.domain_end()]
    }

    /// The prepared resourcepart, if any.
    pub fn resource(&self) -> Option<&str> {
        self.full.get(self.domain_end() + 1..)
    }

    /// `true` when the JID has no resource.
    pub fn is_bare(&self) -> bool {
        self.domain_end() == self.full.len()
    }

    /// The same JID without its resource.
    pub fn bare(&self) -> Jid {
        Jid { full: self.full[..self.domain_end()].to_owned(), node_len: self.node_len, domain_end: self.domain_end }
    }

    /// The bare form of this JID with `resource` (prepared) attached,
    /// replacing any existing resource.
    pub fn with_resource(&self, resource: &str) -> Result<Jid, JidError> {
        let resource = resourceprep(resource)?;
        Ok(Jid::from_prepared(self.node(), self.domain(), Some(&resource)))
    }

    /// The canonical string form, as also given by `Display`.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    fn node_len(&self) -> usize {
        usize::from(self.node_len)
    }

    fn domain_end(&self) -> usize {
        usize::from(self.domain_end)
    }
}

/// Converts a byte offset of a JID (at most 3 × 1023 + 2) to `u16`.
fn to_u16(offset: usize) -> u16 {
    u16::try_from(offset).expect("prepared JID parts are at most 1023 bytes each")
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jid({:?})", self.full)
    }
}

impl FromStr for Jid {
    type Err = JidError;

    fn from_str(s: &str) -> Result<Jid, JidError> {
        Jid::parse(s)
    }
}

impl AsRef<str> for Jid {
    fn as_ref(&self) -> &str {
        &self.full
    }
}
