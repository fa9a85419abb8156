//! Feature modules, one XEP or RFC area per file (DESIGN.md, Modules).
//!
//! Each module declares what it handles through
//! [`waxwing_core::Registrations`]; this file is the one list of them.

use std::sync::Arc;

use waxwing_core::Module;

pub mod legacy_session;
pub mod ping;

/// Every module, by its config name.
pub fn available() -> Vec<Arc<dyn Module>> {
    vec![Arc::new(legacy_session::LegacySession), Arc::new(ping::Ping)]
}

/// The modules named in `enabled` (unknown names are reported by the config
/// check before this is called), in the order of [`available`].
pub fn enabled(enabled: &[String]) -> Vec<Arc<dyn Module>> {
    available().into_iter().filter(|m| enabled.iter().any(|name| name == m.name())).collect()
}

/// The names of every available module, for config validation and defaults.
pub fn names() -> Vec<&'static str> {
    available().iter().map(|m| m.name()).collect()
}
