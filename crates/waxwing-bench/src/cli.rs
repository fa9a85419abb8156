//! Command-line options. Every scenario shares [`ConnectOpts`]; adding a
//! scenario means one more [`Command`] variant, an options struct here and a
//! module under [`crate::scenario`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Load generator for XMPP servers (Waxwing, Prosody, ejabberd).
///
/// Progress is printed on stderr every second; the result of the scenario
/// is one JSON line on stdout.
#[derive(Debug, Parser)]
#[command(name = "waxwing-bench", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the accounts PREFIX0..PREFIX{N-1}, by in-band registration
    /// (XEP-0077) or by running a command per user.
    Register(RegisterOpts),
    /// Log N sessions in (TLS, SASL, bind, presence) and out again; reports
    /// logins/s and login latency.
    Login(LoginOpts),
    /// Hold N sessions open and report the server's memory per session.
    Idle(IdleOpts),
    /// Message throughput and latency between sender→receiver pairs.
    Messages(MessagesOpts),
    /// Presence fan-out between users with mutual contacts (set up over
    /// the protocol): deliveries/s, fan-out latency, loss.
    Presence(PresenceOpts),
}

/// How the TLS layer is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlsMode {
    /// Plain TCP, then STARTTLS (RFC 6120 §5).
    Starttls,
    /// TLS from the first byte, ALPN `xmpp-client` (XEP-0368); use the
    /// server's direct-TLS port, e.g. `--port 5223`.
    Direct,
}

/// The SASL mechanism to authenticate with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MechanismOpt {
    #[value(name = "SCRAM-SHA-1", alias = "scram-sha-1")]
    ScramSha1,
    #[value(name = "SCRAM-SHA-256", alias = "scram-sha-256")]
    ScramSha256,
    #[value(name = "SCRAM-SHA-512", alias = "scram-sha-512")]
    ScramSha512,
    #[value(name = "PLAIN", alias = "plain")]
    Plain,
}

impl MechanismOpt {
    /// The registered SASL name.
    pub fn name(self) -> &'static str {
        match self {
            MechanismOpt::ScramSha1 => "SCRAM-SHA-1",
            MechanismOpt::ScramSha256 => "SCRAM-SHA-256",
            MechanismOpt::ScramSha512 => "SCRAM-SHA-512",
            MechanismOpt::Plain => "PLAIN",
        }
    }
}

/// Where and how to connect; shared by all scenarios.
#[derive(Debug, Clone, Args)]
pub struct ConnectOpts {
    /// Address (IP or host name) to connect to.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// TCP port (5222 for STARTTLS, usually 5223 for `--tls direct`).
    #[arg(long, default_value_t = 5222)]
    pub port: u16,
    /// The XMPP domain: stream `to`, TLS SNI, and the domain of user JIDs.
    #[arg(long, default_value = "localhost")]
    pub domain: String,
    /// Prefix of the user names: PREFIX0, PREFIX1, ...
    #[arg(long, default_value = "u")]
    pub user_prefix: String,
    /// Password of every benchmark user.
    #[arg(long, default_value = "pass")]
    pub password: String,
    /// Resource to bind.
    #[arg(long, default_value = "bench")]
    pub resource: String,
    /// STARTTLS or direct TLS.
    #[arg(long, value_enum, default_value = "starttls")]
    pub tls: TlsMode,
    /// Accept any server certificate. For benchmarking against a test
    /// server only: it disables all protection against impostors.
    #[arg(long, conflicts_with = "cafile")]
    pub insecure: bool,
    /// Trust exactly the certificate(s) in this PEM file: either the
    /// server's own (self-signed) certificate or the CA that issued it.
    /// One of --cafile and --insecure is required: the system trust store
    /// is not used (benchmark servers rarely have public certificates).
    #[arg(long)]
    pub cafile: Option<PathBuf>,
    /// SASL mechanism.
    #[arg(long, value_enum, default_value = "SCRAM-SHA-256")]
    pub mechanism: MechanismOpt,
    /// Timeout in seconds for each step (connect, TLS, each server reply).
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Source addresses to bind outgoing sockets to, round-robin: a range
    /// `127.0.0.1-127.0.0.250`, a comma list, or both. One source address
    /// runs out of ephemeral ports beyond about 25k connections.
    #[arg(long)]
    pub source_ips: Option<String>,
    /// Free-form name copied into the JSON result (e.g. which server ran).
    #[arg(long)]
    pub label: Option<String>,
}

/// Options of `register`.
#[derive(Debug, Clone, Args)]
pub struct RegisterOpts {
    #[command(flatten)]
    pub connect: ConnectOpts,
    /// Number of users to create.
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Registrations (connections or commands) running at the same time.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Instead of in-band registration, run this command per user. The
    /// template is split into words like a shell would (quotes, backslash)
    /// and then `{user}`, `{domain}`, `{jid}`, `{password}` are replaced in
    /// each word; no shell is involved unless you call one, e.g.
    /// 'prosodyctl register {user} {domain} {password}'.
    #[arg(long)]
    pub command: Option<String>,
}

/// Options of `login`.
#[derive(Debug, Clone, Args)]
pub struct LoginOpts {
    #[command(flatten)]
    pub connect: ConnectOpts,
    /// Number of accounts to use (PREFIX0..PREFIX{N-1}).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Number of logins to measure; session i uses user i mod --users.
    /// Defaults to --users.
    #[arg(long)]
    pub sessions: Option<usize>,
    /// Logins in progress at the same time.
    #[arg(long, default_value_t = 20)]
    pub concurrency: usize,
    /// Skip the unmeasured warm-up pass that logs every user in once to
    /// fill the SCRAM SaltedPassword cache (then the first login of each
    /// user also measures the client's PBKDF2).
    #[arg(long)]
    pub no_warmup: bool,
}

/// Options of `idle`.
#[derive(Debug, Clone, Args)]
pub struct IdleOpts {
    #[command(flatten)]
    pub connect: ConnectOpts,
    /// Number of sessions to hold, one per user.
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Logins in progress at the same time.
    #[arg(long, default_value_t = 20)]
    pub concurrency: usize,
    /// PID of the server; its RSS plus that of all its descendants is
    /// measured. Without it only the logins are done.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Seconds to wait before each RSS measurement, so the server settles.
    #[arg(long, default_value_t = 2.0)]
    pub settle: f64,
    /// Seconds to keep the sessions open after the measurement.
    #[arg(long, default_value_t = 0.0)]
    pub hold: f64,
}

/// Options of `messages`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("mode").args(["window", "rate"])))]
pub struct MessagesOpts {
    #[command(flatten)]
    pub connect: ConnectOpts,
    /// Number of sender→receiver pairs; pair k is PREFIX{2k} → PREFIX{2k+1},
    /// so 2×PAIRS accounts are needed.
    #[arg(long, default_value_t = 10)]
    pub pairs: usize,
    /// Flat out, with at most this many messages per pair sent but not yet
    /// seen by the receiver (the default mode, with 16).
    #[arg(long)]
    pub window: Option<usize>,
    /// Paced: this many messages per second in total across all pairs.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Measured seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of sending before the measurement starts (not counted in
    /// rates and latencies, but checked for loss and duplicates).
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Seconds to wait after sending stops for messages still in flight;
    /// what has not arrived by then is lost.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// Bytes of filler added to each message body.
    #[arg(long, default_value_t = 0)]
    pub body_padding: usize,
    /// Logins in progress at the same time while setting up the pairs.
    #[arg(long, default_value_t = 20)]
    pub concurrency: usize,
}

/// Options of `presence`.
#[derive(Debug, Clone, Args)]
pub struct PresenceOpts {
    #[command(flatten)]
    pub connect: ConnectOpts,
    /// Number of accounts (PREFIX0..PREFIX{N-1}); all are online during
    /// the measurement.
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    /// Mutual contacts per user, an even number below --users: user i has
    /// the R/2 users on each side of it on a ring of all users.
    #[arg(long, default_value_t = 20)]
    pub contacts: usize,
    /// Measure exactly this many rounds instead of --duration.
    #[arg(long, conflicts_with = "duration")]
    pub rounds: Option<usize>,
    /// Measured seconds: rounds start until this much time has passed.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds to wait for a round's presence to arrive before the next
    /// round starts; what has not arrived by the end of the run is lost.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// Changing users log out and in again (a full login with a stamped
    /// initial presence) instead of sending unavailable then available
    /// presence on the same session.
    #[arg(long)]
    pub relogin: bool,
    /// Seconds the roster setup waits without any roster changing (for any
    /// user) before the users still incomplete give up. Generous because a
    /// server may work through the whole flood of subscription stanzas
    /// before answering any (Prosody rewrites a roster file per change and
    /// goes quiet for about 40 s at 500 users × 20 contacts).
    #[arg(long, default_value_t = 120.0)]
    pub setup_timeout: f64,
    /// Logins in progress at the same time (setup and measurement).
    #[arg(long, default_value_t = 20)]
    pub concurrency: usize,
}
