//! The modules' settings, one struct per module. Each field's doc comment is
//! its documentation; the binary's config file has one section per struct
//! (`[roster]`, `[offline]`…) and the README mirrors them.

use serde::Deserialize;

/// Everything the modules can be told, built by the binary from its config file.
#[derive(Debug, Clone, Default)]
pub struct ModulesConfig {
    /// Bare JIDs of the server's administrators (XEP-0133 admin commands).
    pub admins: Vec<String>,
    /// PBKDF2 iterations for passwords set in-band (XEP-0077 registration and
    /// password changes, XEP-0133 commands): the binary's `auth.scram_iterations`.
    /// `None`: `waxwing_sasl::DEFAULT_ITERATIONS`.
    pub scram_iterations: Option<u32>,
    pub roster: RosterConfig,
    pub offline: OfflineConfig,
    pub registration: RegistrationConfig,
    pub contact_info: ContactInfoConfig,
    pub version: VersionConfig,
    pub vcard: VcardConfig,
    pub private: PrivateConfig,
    pub stream_management: StreamManagementConfig,
    pub archive: ArchiveConfig,
    pub csi: CsiConfig,
    pub push: PushConfig,
}

/// `[roster]`: RFC 6121 rosters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RosterConfig {
    /// Most contacts one account may have (a roster set beyond it gets `not-allowed`).
    pub max_items: usize,
    /// Longest item `name` and group name, in bytes (beyond: `not-acceptable`, RFC 6121 §2.3.3).
    pub max_text_bytes: usize,
    /// Most groups on one item.
    pub max_groups: usize,
}

impl Default for RosterConfig {
    fn default() -> Self {
        RosterConfig { max_items: 1000, max_text_bytes: 1023, max_groups: 64 }
    }
}

/// `[offline]`: XEP-0160 offline messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OfflineConfig {
    /// Messages kept per account while it is offline; beyond that the sender
    /// gets `service-unavailable` (XEP-0160 §3): nothing is dropped silently.
    pub max_messages: usize,
}

impl Default for OfflineConfig {
    fn default() -> Self {
        OfflineConfig { max_messages: 1000 }
    }
}

/// `[registration]`: XEP-0077 in-band registration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// Let anyone create an account from the login screen. Off by default:
    /// open registration attracts spammers. Password changes and account
    /// removal by logged-in users are always available.
    pub allow: bool,
    /// Accounts one IP address may create per hour.
    pub max_per_ip_per_hour: u32,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        RegistrationConfig { allow: false, max_per_ip_per_hour: 5 }
    }
}

/// `[contact_info]`: XEP-0157 contact addresses, as URIs
/// (`mailto:…`, `xmpp:…`, `https://…`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContactInfoConfig {
    pub abuse: Vec<String>,
    pub admin: Vec<String>,
    pub feedback: Vec<String>,
    pub sales: Vec<String>,
    pub security: Vec<String>,
    pub status: Vec<String>,
    pub support: Vec<String>,
}

/// `[version]`: XEP-0092 software version.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VersionConfig {
    /// Also report the operating system (off by default: XEP-0092 §4 notes
    /// that it helps attackers).
    pub show_os: bool,
}

/// `[vcard]`: XEP-0054 vcard-temp.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VcardConfig {
    /// Largest vCard stored, in bytes (avatars are inside it, base64).
    pub max_bytes: usize,
}

impl Default for VcardConfig {
    fn default() -> Self {
        VcardConfig { max_bytes: 256 * 1024 }
    }
}

/// `[private]`: XEP-0049 private XML storage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivateConfig {
    /// Largest document stored per namespace, in bytes.
    pub max_bytes: usize,
}

impl Default for PrivateConfig {
    fn default() -> Self {
        PrivateConfig { max_bytes: 64 * 1024 }
    }
}

/// `[stream_management]`: XEP-0198.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamManagementConfig {
    /// How long a dropped session that enabled resumption waits for its
    /// client to come back, in seconds (0: resumption not offered).
    pub resume_timeout_secs: u64,
    /// Unacknowledged stanzas kept per session; a client that lets more pile
    /// up is disconnected (its stanzas go to offline storage, not lost).
    pub max_unacked: usize,
}

impl Default for StreamManagementConfig {
    fn default() -> Self {
        StreamManagementConfig { resume_timeout_secs: 300, max_unacked: 1000 }
    }
}

/// `[archive]`: XEP-0313 message archive of accounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// What is archived for accounts that set no preference: `always`,
    /// `roster` (only conversations with roster contacts) or `never`.
    pub default_mode: String,
    /// Messages older than this many days are deleted (0: kept forever).
    pub max_age_days: u64,
    /// Most messages kept per account; the oldest go first (0: no limit).
    pub max_messages: u64,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig { default_mode: "always".into(), max_age_days: 0, max_messages: 0 }
    }
}

/// `[csi]`: XEP-0352 client state indication.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsiConfig {
    /// Stanzas held for one inactive session before everything is flushed anyway.
    pub max_held: usize,
}

impl Default for CsiConfig {
    fn default() -> Self {
        CsiConfig { max_held: 500 }
    }
}

/// `[push]`: XEP-0357 push notifications.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// Put the sender and the message body in the notification's summary
    /// form. Off by default: the push service (and the phone vendor's
    /// relay) would see message contents.
    pub include_body: bool,
}
