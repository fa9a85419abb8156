//! `waxwing-bench`: a load generator for XMPP servers.
//!
//! It speaks plain RFC 6120 client-to-server XMPP (STARTTLS or direct TLS,
//! SASL SCRAM/PLAIN, resource binding), so it measures Waxwing, Prosody and
//! ejabberd alike. Each scenario is a module under [`scenario`]:
//!
//! - [`scenario::register`]: create the benchmark accounts (XEP-0077 or a
//!   per-user command such as `prosodyctl register`);
//! - [`scenario::login`]: full logins per second and their latency;
//! - [`scenario::idle`]: server memory per established session;
//! - [`scenario::messages`]: one-to-one message throughput, latency, loss;
//! - [`scenario::presence`]: presence fan-out to mutual contacts (rosters
//!   set up over the protocol): deliveries/s, latency, loss.
//!
//! Progress goes to stderr once a second; each scenario ends with one JSON
//! line on stdout ([`output`]). The binary is a thin wrapper around
//! [`run`], which integration tests call directly.

pub mod cli;
pub mod client;
pub mod failure;
pub mod output;
pub mod progress;
pub mod rss;
pub mod scenario;
pub mod scram_cache;
pub mod source_ip;
pub mod stats;
pub mod target;
pub mod tls;

pub use cli::{Cli, Command};
pub use output::Report;

/// Runs the scenario selected on the command line and returns its report.
///
/// `Err` only for problems that make the run impossible to start (bad
/// option values, unreadable CA file); everything that goes wrong while
/// talking to the server is counted in the report instead.
pub async fn run(cli: Cli) -> Result<Report, String> {
    match cli.command {
        Command::Register(opts) => scenario::register::run(opts).await.map(Report::Register),
        Command::Login(opts) => scenario::login::run(opts).await.map(Report::Login),
        Command::Idle(opts) => scenario::idle::run(opts).await.map(Report::Idle),
        Command::Messages(opts) => scenario::messages::run(opts).await.map(Report::Messages),
        Command::Presence(opts) => scenario::presence::run(opts).await.map(Report::Presence),
    }
}
