//! SASL for Waxwing, as sans-I/O state machines: no sockets, no XML, just
//! the mechanism messages (already base64-decoded) in and out.
//!
//! - SCRAM-SHA-1/-256/-512 and their -PLUS variants (RFC 5802, RFC 7677),
//!   with `tls-exporter` (RFC 9266) and `tls-server-end-point` (RFC 5929)
//!   channel binding: [`ScramServer`], and [`ScramClient`] for tests and
//!   load generation;
//! - PLAIN (RFC 4616): [`parse_plain`], verified with
//!   [`ScramCredentials::verify_password`];
//! - SASLprep (RFC 4013): [`saslprep`].
//!
//! Accounts store only [`ScramCredentials`] (salted keys, per hash), never
//! passwords. Failures are RFC 6120 §6.5 conditions ([`SaslError`]).

mod client;
mod credentials;
mod crypto;
mod error;
mod mechanism;
mod messages;
mod plain;
mod saslprep;
mod server;

pub use client::ScramClient;
pub use credentials::{DEFAULT_ITERATIONS, ScramCredentials};
pub use error::SaslError;
pub use mechanism::{HashAlg, Mechanism};
pub use plain::{PlainCredentials, parse_plain};
pub use saslprep::saslprep;
pub use server::{ChannelBindingData, ClientFirst, ScramServer, TLS_EXPORTER, TLS_SERVER_END_POINT};

#[cfg(test)]
mod rfc_vectors;
#[cfg(test)]
mod server_tests;
