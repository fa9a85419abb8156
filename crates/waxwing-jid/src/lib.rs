//! XMPP addresses (JIDs) for Waxwing.
//!
//! Parsing follows RFC 7622 §3.1, but the parts are prepared with the
//! stringprep profiles of RFC 6122 (Nodeprep, Nameprep, Resourceprep), as
//! Prosody and ejabberd still do, rather than with PRECIS: prepared forms
//! must match those of the servers we federate with.
//!
//! - node: Nodeprep (case-folded, NFKC, no `"&'/:<>@` or spaces);
//! - domain: trailing dot removed, Nameprep + IDNA ToUnicode, or an IPv4 /
//!   bracketed IPv6 literal (see [`nameprep`]);
//! - resource: Resourceprep, but accepting code points unassigned in
//!   Unicode 3.2 (emoji), as Prosody does (see [`resourceprep`]).
//!
//! Each prepared part must be 1..=1023 bytes long.

mod domain;
mod error;
mod jid;
mod prep;

pub use domain::nameprep;
pub use error::JidError;
pub use jid::Jid;
pub use prep::{nodeprep, resourceprep};
