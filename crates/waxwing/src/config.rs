//! The configuration file: one TOML document in which every key has a
//! default, so an empty file (or none) runs a server for `localhost`.
//!
//! The structs below are the reference: each field's doc comment is its
//! documentation, and the README's config section mirrors them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use waxwing_jid::Jid;
use waxwing_modules::config as modules;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for the SQLite database and generated certificates.
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://PATH` or `postgres://user@host/db`.
    /// Default: `sqlite://<data_dir>/waxwing.db`.
    pub database: Option<String>,
    /// Log filter (`error`, `warn`, `info`, `debug`, `trace`, or a tracing
    /// directive such as `waxwing_net=debug`). `RUST_LOG` overrides it.
    pub log_level: String,
    /// Enabled modules by name. Default: all of them.
    pub modules: Option<Vec<String>>,
    /// The virtual hosts this server serves.
    pub hosts: Vec<HostConfig>,
    pub c2s: C2sConfig,
    pub limits: LimitsConfig,
    pub auth: AuthConfig,
    /// Bare JIDs of the server's administrators: they may run the XEP-0133
    /// admin commands (add and remove users, list who is online, announce).
    pub admins: Vec<String>,
    pub roster: modules::RosterConfig,
    pub offline: modules::OfflineConfig,
    pub registration: modules::RegistrationConfig,
    pub contact_info: modules::ContactInfoConfig,
    pub version: modules::VersionConfig,
    pub vcard: modules::VcardConfig,
    pub private: modules::PrivateConfig,
    pub stream_management: modules::StreamManagementConfig,
    pub archive: modules::ArchiveConfig,
    pub csi: modules::CsiConfig,
    pub push: modules::PushConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// The domain, e.g. `example.org`.
    pub domain: String,
    /// PEM certificate chain for the domain. Required except for `localhost`,
    /// which gets a self-signed certificate under `data_dir/certs/` when unset.
    pub certificate: Option<PathBuf>,
    /// PEM private key for `certificate`.
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct C2sConfig {
    /// Addresses for client connections with STARTTLS (RFC 6120).
    pub listen: Vec<SocketAddr>,
    /// Addresses for client connections with direct TLS (XEP-0368).
    pub direct_tls_listen: Vec<SocketAddr>,
    /// Refuse authentication before TLS. Only turn off for local debugging.
    pub require_tls: bool,
    /// Seconds allowed from connect to a bound resource.
    pub negotiation_timeout_secs: u64,
    /// Seconds of client silence before the server pings it (XEP-0199).
    pub idle_timeout_secs: u64,
    /// Seconds to wait for any reply to that ping before closing the stream.
    pub ping_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest stanza accepted, in bytes (RFC 6120 §13.12 asks for at least 10000).
    pub max_stanza_bytes: usize,
    /// Deepest element nesting inside a stanza.
    pub max_depth: usize,
    /// Most attributes on one element.
    pub max_attributes: usize,
    /// Longest attribute value, in bytes.
    pub max_attribute_bytes: usize,
    /// Stanzas queued for one client before it is deemed stuck and disconnected.
    pub session_queue: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Failed authentications allowed per address and per account within
    /// `failure_window_secs` before further attempts are refused.
    pub max_failures: u32,
    pub failure_window_secs: u64,
    /// SASL attempts allowed on one connection before it is closed.
    pub max_attempts_per_connection: u32,
    /// PBKDF2 iterations for newly set passwords (RFC 7677 asks for ≥ 4096).
    pub scram_iterations: u32,
    /// SASL mechanisms offered, by name. Default: all of SCRAM-SHA-1/-256/-512,
    /// their -PLUS variants and PLAIN (PLAIN and -PLUS only ever inside TLS).
    pub mechanisms: Option<Vec<String>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            database: None,
            log_level: "info".into(),
            modules: None,
            hosts: vec![HostConfig { domain: "localhost".into(), certificate: None, key: None }],
            c2s: C2sConfig::default(),
            limits: LimitsConfig::default(),
            auth: AuthConfig::default(),
            admins: Vec::new(),
            roster: Default::default(),
            offline: Default::default(),
            registration: Default::default(),
            contact_info: Default::default(),
            version: Default::default(),
            vcard: Default::default(),
            private: Default::default(),
            stream_management: Default::default(),
            archive: Default::default(),
            csi: Default::default(),
            push: Default::default(),
        }
    }
}

impl Default for C2sConfig {
    fn default() -> Self {
        C2sConfig {
            listen: vec!["[::]:5222".parse().expect("valid address")],
            direct_tls_listen: vec!["[::]:5223".parse().expect("valid address")],
            require_tls: true,
            negotiation_timeout_secs: 60,
            idle_timeout_secs: 300,
            ping_timeout_secs: 60,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let xml = waxwing_xml::Limits::default();
        LimitsConfig {
            max_stanza_bytes: xml.max_stanza_bytes,
            max_depth: xml.max_depth,
            max_attributes: xml.max_attributes,
            max_attribute_bytes: xml.max_attribute_bytes,
            session_queue: 2048,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            max_failures: 5,
            failure_window_secs: 60,
            max_attempts_per_connection: 5,
            scram_iterations: waxwing_sasl::DEFAULT_ITERATIONS,
            mechanisms: None,
        }
    }
}

/// A configuration error that names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), reason: reason.into() }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { path: path.to_path_buf(), reason: e.to_string() })?;
        Config::parse(&text, path)
    }

    /// Parses and validates; `origin` only names the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: origin.to_path_buf(), reason: e.to_string() })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: values in range, domains valid, files present.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.hosts.is_empty() {
            return Err(invalid("hosts", "at least one host is required"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, host) in self.hosts.iter().enumerate() {
            let key = format!("hosts[{i}].domain");
            let jid = Jid::domain_jid(&host.domain).map_err(|e| invalid(&key, format!("invalid domain: {e}")))?;
            if !seen.insert(jid.domain().to_string()) {
                return Err(invalid(key, format!("{} is listed twice", jid.domain())));
            }
            match (&host.certificate, &host.key) {
                (Some(cert), Some(key_path)) => {
                    for (k, p) in [("certificate", cert), ("key", key_path)] {
                        if !p.is_file() {
                            return Err(invalid(format!("hosts[{i}].{k}"), format!("{} does not exist", p.display())));
                        }
                    }
                }
                (None, None) if jid.domain() == "localhost" => {}
                (None, None) => {
                    return Err(invalid(
                        format!("hosts[{i}].certificate"),
                        "a certificate and key are required (only localhost gets a self-signed one)",
                    ));
                }
                (Some(_), None) => return Err(invalid(format!("hosts[{i}].key"), "certificate given without key")),
                (None, Some(_)) => {
                    return Err(invalid(format!("hosts[{i}].certificate"), "key given without certificate"));
                }
            }
        }
        if let Some(modules) = &self.modules {
            let known = waxwing_modules::names();
            for (i, name) in modules.iter().enumerate() {
                if !known.contains(&name.as_str()) {
                    return Err(invalid(
                        format!("modules[{i}]"),
                        format!("unknown module {name:?}; known: {}", known.join(", ")),
                    ));
                }
            }
        }
        if let Some(db) = &self.database
            && !(db.starts_with("sqlite:") || db.starts_with("postgres://") || db.starts_with("postgresql://"))
        {
            return Err(invalid("database", "must start with sqlite:// or postgres://"));
        }
        if self.limits.max_stanza_bytes < 10_000 {
            return Err(invalid("limits.max_stanza_bytes", "RFC 6120 §13.12 requires at least 10000"));
        }
        for (key, value) in [
            ("limits.max_depth", self.limits.max_depth),
            ("limits.max_attributes", self.limits.max_attributes),
            ("limits.max_attribute_bytes", self.limits.max_attribute_bytes),
            ("limits.session_queue", self.limits.session_queue),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.auth.scram_iterations < 4096 {
            return Err(invalid("auth.scram_iterations", "RFC 7677 requires at least 4096"));
        }
        if let Some(mechanisms) = &self.auth.mechanisms {
            if mechanisms.is_empty() {
                return Err(invalid("auth.mechanisms", "at least one mechanism is required"));
            }
            for (i, name) in mechanisms.iter().enumerate() {
                if waxwing_sasl::Mechanism::from_name(name).is_none() {
                    let known: Vec<_> = waxwing_sasl::Mechanism::ALL.iter().map(|m| m.name()).collect();
                    return Err(invalid(
                        format!("auth.mechanisms[{i}]"),
                        format!("unknown mechanism {name:?}; known: {}", known.join(", ")),
                    ));
                }
            }
        }
        if self.auth.max_attempts_per_connection == 0 {
            return Err(invalid("auth.max_attempts_per_connection", "must be at least 1"));
        }
        for (key, secs) in [
            ("c2s.negotiation_timeout_secs", self.c2s.negotiation_timeout_secs),
            ("c2s.idle_timeout_secs", self.c2s.idle_timeout_secs),
            ("c2s.ping_timeout_secs", self.c2s.ping_timeout_secs),
        ] {
            if secs == 0 {
                return Err(invalid(key, "must be at least 1 second"));
            }
        }
        for (i, admin) in self.admins.iter().enumerate() {
            match Jid::parse(admin) {
                Ok(jid) if jid.node().is_some() && jid.resource().is_none() => {}
                _ => return Err(invalid(format!("admins[{i}]"), format!("{admin:?} is not a bare JID (user@domain)"))),
            }
        }
        for (key, value) in [
            ("roster.max_items", self.roster.max_items),
            ("offline.max_messages", self.offline.max_messages),
            ("vcard.max_bytes", self.vcard.max_bytes),
            ("private.max_bytes", self.private.max_bytes),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if !matches!(self.archive.default_mode.as_str(), "always" | "roster" | "never") {
            return Err(invalid("archive.default_mode", "must be \"always\", \"roster\" or \"never\""));
        }
        if self.c2s.listen.is_empty() && self.c2s.direct_tls_listen.is_empty() {
            return Err(invalid("c2s.listen", "no client listener configured"));
        }
        Ok(())
    }

    /// The database URL, defaulting to SQLite in the data directory.
    pub fn database_url(&self) -> String {
        self.database.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("waxwing.db").display()))
    }

    /// Prepared (lowercase, IDNA) host domains, in config order.
    pub fn domains(&self) -> Vec<String> {
        self.hosts.iter().filter_map(|h| Jid::domain_jid(&h.domain).ok().map(|j| j.domain().to_string())).collect()
    }

    pub fn module_names(&self) -> Vec<String> {
        self.modules.clone().unwrap_or_else(|| waxwing_modules::names().into_iter().map(String::from).collect())
    }

    /// What the modules are told.
    pub fn modules_config(&self) -> waxwing_modules::ModulesConfig {
        waxwing_modules::ModulesConfig {
            admins: self.admins.iter().filter_map(|a| Jid::parse(a).ok().map(|j| j.to_string())).collect(),
            scram_iterations: Some(self.auth.scram_iterations),
            roster: self.roster.clone(),
            offline: self.offline.clone(),
            registration: self.registration.clone(),
            contact_info: self.contact_info.clone(),
            version: self.version.clone(),
            vcard: self.vcard.clone(),
            private: self.private.clone(),
            stream_management: self.stream_management.clone(),
            archive: self.archive.clone(),
            csi: self.csi.clone(),
            push: self.push.clone(),
        }
    }

    /// The enabled SASL mechanisms, in our order of preference.
    pub fn sasl_mechanisms(&self) -> Vec<waxwing_sasl::Mechanism> {
        waxwing_sasl::Mechanism::ALL
            .into_iter()
            .filter(|m| self.auth.mechanisms.as_ref().is_none_or(|names| names.iter().any(|n| n == m.name())))
            .collect()
    }

    pub fn xml_limits(&self) -> waxwing_xml::Limits {
        waxwing_xml::Limits {
            max_stanza_bytes: self.limits.max_stanza_bytes,
            max_depth: self.limits.max_depth,
            max_attributes: self.limits.max_attributes,
            max_attribute_bytes: self.limits.max_attribute_bytes,
        }
    }

    pub fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn empty_file_is_the_default_localhost_server() {
        let c = parse("").unwrap();
        assert_eq!(c.domains(), vec!["localhost"]);
        assert!(c.c2s.require_tls);
        assert!(c.database_url().starts_with("sqlite://"));
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("[c2s]\nrequire_tsl = false\n").unwrap_err().to_string();
        assert!(e.contains("require_tsl"), "{e}");
        let e = parse("[[hosts]]\ndomain = \"example.org\"\n").unwrap_err().to_string();
        assert!(e.contains("hosts[0].certificate"), "{e}");
        let e = parse("[limits]\nmax_stanza_bytes = 100\n").unwrap_err().to_string();
        assert!(e.contains("limits.max_stanza_bytes"), "{e}");
        let e = parse("[auth]\nmechanisms = [\"SCRAM-SHA-256\", \"DIGEST-MD5\"]\n").unwrap_err().to_string();
        assert!(e.contains("auth.mechanisms[1]"), "{e}");
        let e = parse("admins = [\"localhost\"]\n").unwrap_err().to_string();
        assert!(e.contains("admins[0]"), "{e}");
        let e = parse("[offline]\nmax_messages = 0\n").unwrap_err().to_string();
        assert!(e.contains("offline.max_messages"), "{e}");
        let e = parse("[roster]\nmax_itemz = 3\n").unwrap_err().to_string();
        assert!(e.contains("max_itemz"), "{e}");
        let e = parse("modules = [\"nope\"]\n").unwrap_err().to_string();
        assert!(e.contains("modules[0]"), "{e}");
        let e = parse("[c2s]\nlisten = [\"not an address\"]\n").unwrap_err().to_string();
        assert!(e.contains("listen"), "{e}");
    }
}
