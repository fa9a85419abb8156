//! Mechanism and hash algorithm names.

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-1 (RFC 5802); kept for older clients.
    Sha1,
    /// SHA-256 (RFC 7677).
    Sha256,
    /// SHA-512 (draft-melnikov-scram-sha-512).
    Sha512,
}

impl HashAlg {
    /// Every supported hash, strongest first.
    pub const ALL: [HashAlg; 3] = [HashAlg::Sha512, HashAlg::Sha256, HashAlg::Sha1];

    /// The name used inside mechanism names: `"SHA-1"`, `"SHA-256"`, `"SHA-512"`.
    pub fn name(&self) -> &'static str {
        match self {
            HashAlg::Sha1 => "SHA-1",
            HashAlg::Sha256 => "SHA-256",
            HashAlg::Sha512 => "SHA-512",
        }
    }

    /// Output length in bytes, which is also the length of every SCRAM key.
    pub fn output_len(&self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha512 => 64,
        }
    }
}

/// A SASL mechanism the server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// PLAIN (RFC 4616): only over TLS, and verified against SCRAM credentials.
    Plain,
    /// SCRAM-`hash`, with channel binding when `plus` (RFC 5802 §4).
    Scram {
        /// The hash function.
        hash: HashAlg,
        /// The `-PLUS` variant, with channel binding.
        plus: bool,
    },
}

impl Mechanism {
    /// All server-supported mechanisms, strongest first.
    ///
    /// Channel binding ranks above hash strength: a -PLUS mechanism defeats
    /// a TLS man-in-the-middle, which no hash choice does.
    pub const ALL: [Mechanism; 7] = [
        Mechanism::Scram { hash: HashAlg::Sha512, plus: true },
        Mechanism::Scram { hash: HashAlg::Sha256, plus: true },
        Mechanism::Scram { hash: HashAlg::Sha1, plus: true },
        Mechanism::Scram { hash: HashAlg::Sha512, plus: false },
        Mechanism::Scram { hash: HashAlg::Sha256, plus: false },
        Mechanism::Scram { hash: HashAlg::Sha1, plus: false },
        Mechanism::Plain,
    ];

    /// The registered mechanism name, e.g. `"SCRAM-SHA-256-PLUS"`.
    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram { hash: HashAlg::Sha1, plus: false } => "SCRAM-SHA-1",
            Mechanism::Scram { hash: HashAlg::Sha1, plus: true } => "SCRAM-SHA-1-PLUS",
            Mechanism::Scram { hash: HashAlg::Sha256, plus: false } => "SCRAM-SHA-256",
            Mechanism::Scram { hash: HashAlg::Sha256, plus: true } => "SCRAM-SHA-256-PLUS",
            Mechanism::Scram { hash: HashAlg::Sha512, plus: false } => "SCRAM-SHA-512",
            Mechanism::Scram { hash: HashAlg::Sha512, plus: true } => "SCRAM-SHA-512-PLUS",
        }
    }

    /// Looks a mechanism up by its name. Matching is exact: RFC 4422 §3.1
    /// names are upper case, and clients echo the advertised spelling.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }
}
