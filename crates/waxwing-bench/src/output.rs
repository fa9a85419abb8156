//! The result of a run: one JSON object per scenario, on one line of
//! stdout, so that runs can be appended to a file and compared by a script.
//! Every object has `"scenario"` first, then the [`RunInfo`] fields
//! (`label`, `server`, `domain`, `tls`, `mechanism`), then the scenario's
//! own numbers.
//!
//! [`RunInfo`]: crate::target::RunInfo

use serde::Serialize;

use crate::scenario::idle::IdleReport;
use crate::scenario::login::LoginReport;
use crate::scenario::messages::MessagesReport;
use crate::scenario::presence::PresenceReport;
use crate::scenario::register::RegisterReport;

/// The report of any scenario.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "scenario", rename_all = "lowercase")]
pub enum Report {
    Register(RegisterReport),
    Login(LoginReport),
    Idle(IdleReport),
    Messages(MessagesReport),
    Presence(PresenceReport),
}

impl Report {
    /// The JSON line (without the newline).
    pub fn to_json(&self) -> String {
        // Serialising plain structs of numbers, strings and maps cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Whether the run measured anything at all; the exit status is
    /// non-zero when it did not (e.g. the server was down), so scripts
    /// notice even if they do not read the JSON.
    pub fn measured_something(&self) -> bool {
        match self {
            Report::Register(r) => r.ok > 0,
            Report::Login(r) => r.ok > 0,
            Report::Idle(r) => r.established > 0,
            Report::Messages(r) => r.delivered > 0,
            Report::Presence(r) => r.delivered > 0,
        }
    }
}
