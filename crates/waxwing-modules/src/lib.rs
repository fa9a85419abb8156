//! Feature modules, one XEP or RFC area per file (DESIGN.md, Modules).
//!
//! Each module declares what it handles through
//! [`waxwing_core::Registrations`]; this file is the one list of them.

use std::sync::Arc;

use waxwing_core::Module;

pub mod config;

pub mod adhoc;
pub mod blocking;
pub mod carbons;
pub mod contact_info;
pub mod csi;
pub mod disco;
pub mod last_activity;
pub mod legacy_session;
pub mod mam;
pub mod message;
pub mod offline;
pub mod ping;
pub mod presence;
pub mod private;
pub mod push;
pub mod register;
pub mod roster;
pub mod stream_management;
pub mod time;
pub mod vcard;
pub mod version;

pub use config::ModulesConfig;

/// Every module, by its config name, set up with `config`.
pub fn available(config: &ModulesConfig) -> Vec<Arc<dyn Module>> {
    vec![
        Arc::new(legacy_session::LegacySession),
        Arc::new(ping::Ping),
        Arc::new(disco::Disco),
        Arc::new(roster::Roster::new(config)),
        Arc::new(presence::Presence::new(config)),
        Arc::new(message::Message),
        Arc::new(offline::Offline::new(config)),
        Arc::new(blocking::Blocking),
        Arc::new(vcard::Vcard::new(config)),
        Arc::new(private::Private::new(config)),
        Arc::new(last_activity::LastActivity),
        Arc::new(time::Time),
        Arc::new(version::Version::new(config)),
        Arc::new(contact_info::ContactInfo::new(config)),
        Arc::new(register::Register::new(config)),
        Arc::new(adhoc::Adhoc::new(config)),
        Arc::new(stream_management::StreamManagement::new(config)),
        Arc::new(carbons::Carbons::new(config)),
        Arc::new(mam::Mam::new(config)),
        Arc::new(csi::Csi::new(config)),
        Arc::new(push::Push::new(config)),
    ]
}

/// The modules named in `enabled` (unknown names are reported by the config
/// check before this is called), in the order of [`available`].
pub fn enabled(enabled: &[String], config: &ModulesConfig) -> Vec<Arc<dyn Module>> {
    available(config).into_iter().filter(|m| enabled.iter().any(|name| name == m.name())).collect()
}

/// The names of every available module, for config validation and defaults.
pub fn names() -> Vec<&'static str> {
    available(&ModulesConfig::default()).iter().map(|m| m.name()).collect()
}
