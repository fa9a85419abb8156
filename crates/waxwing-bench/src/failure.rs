//! Why a session failed, as a short stable key for the `failures` map of
//! the JSON report (`"sasl:not-authorized"`, `"timeout:bind"`, ...).

use std::collections::BTreeMap;
use std::fmt;
use std::io;

/// The step of a login (or other exchange) in which something went wrong;
/// it qualifies timeouts and unexpected closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Connect,
    Tls,
    Stream,
    Starttls,
    Sasl,
    Bind,
    Register,
    /// Roster requests and the subscription exchange of `presence` setup.
    Roster,
    Session,
    Close,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Tls => "tls",
            Step::Stream => "stream",
            Step::Starttls => "starttls",
            Step::Sasl => "sasl",
            Step::Bind => "bind",
            Step::Register => "register",
            Step::Roster => "roster",
            Step::Session => "session",
            Step::Close => "close",
        }
    }
}

/// A counted failure. Its [`Display`](fmt::Display) form is the report key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The TCP connection was refused (nothing listening, or backlog full).
    ConnectRefused,
    /// Another connect error, e.g. `AddrNotAvailable` when ephemeral ports
    /// run out (then use `--source-ips`).
    Connect(io::ErrorKind),
    /// The TLS handshake failed (certificate, protocol, ...).
    Tls(String),
    /// No answer within `--timeout` during this step.
    Timeout(Step),
    /// `<stream:error>` with this condition.
    StreamError(String),
    /// The server closed the stream or the connection during this step.
    Closed(Step),
    /// A read or write failed during this step.
    Io(Step),
    /// The server sent something that is not well-formed XML.
    Xml(&'static str),
    /// SASL `<failure>` with this condition (or a client-side check failed,
    /// e.g. `bad-server-signature`, `mechanism-not-offered`).
    Sasl(String),
    /// Resource binding failed with this stanza error condition.
    Bind(String),
    /// In-band registration failed with this stanza error condition.
    Register(String),
    /// A roster request failed with this stanza error condition.
    Roster(String),
    /// The per-user registration command failed (`exit-1`, `spawn`, ...).
    Command(String),
    /// The server did something the protocol does not allow here.
    Protocol(&'static str),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::ConnectRefused => write!(f, "connect:refused"),
            Failure::Connect(kind) => write!(f, "connect:{}", kebab(&format!("{kind:?}"))),
            Failure::Tls(what) => write!(f, "tls:{what}"),
            Failure::Timeout(step) => write!(f, "timeout:{}", step.name()),
            Failure::StreamError(condition) => write!(f, "stream-error:{condition}"),
            Failure::Closed(step) => write!(f, "closed:{}", step.name()),
            Failure::Io(step) => write!(f, "io:{}", step.name()),
            Failure::Xml(condition) => write!(f, "xml:{condition}"),
            Failure::Sasl(condition) => write!(f, "sasl:{condition}"),
            Failure::Bind(condition) => write!(f, "bind:{condition}"),
            Failure::Register(condition) => write!(f, "register:{condition}"),
            Failure::Roster(condition) => write!(f, "roster:{condition}"),
            Failure::Command(what) => write!(f, "command:{what}"),
            Failure::Protocol(what) => write!(f, "protocol:{what}"),
        }
    }
}

/// `ConnectionRefused` → `connection-refused`, to match the style of XMPP
/// condition names in the same map.
fn kebab(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Failure counts by key, merged across tasks.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FailureCounts(pub BTreeMap<String, u64>);

impl FailureCounts {
    pub fn add(&mut self, failure: &Failure) {
        *self.0.entry(failure.to_string()).or_default() += 1;
    }

    pub fn merge(&mut self, other: &FailureCounts) {
        for (key, n) in &other.0 {
            *self.0.entry(key.clone()).or_default() += n;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(Failure::Sasl("not-authorized".into()).to_string(), "sasl:not-authorized");
        assert_eq!(Failure::Connect(io::ErrorKind::AddrNotAvailable).to_string(), "connect:addr-not-available");
        assert_eq!(Failure::Timeout(Step::Bind).to_string(), "timeout:bind");
    }
}
