//! [`Target`]: the server and login parameters of a run, resolved once from
//! [`ConnectOpts`] (address looked up, TLS configured, timeouts parsed) and
//! shared by every session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use serde::Serialize;

use crate::cli::{ConnectOpts, MechanismOpt, TlsMode};
use crate::scram_cache::ScramCache;
use crate::source_ip::SourceIps;
use crate::tls::{self, Trust};

/// Everything a session needs to log in.
#[derive(Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub domain: String,
    pub server_name: ServerName<'static>,
    pub tls_mode: TlsMode,
    pub tls_config: Arc<ClientConfig>,
    pub mechanism: MechanismOpt,
    pub user_prefix: String,
    pub password: String,
    pub resource: String,
    /// Per-step timeout.
    pub timeout: Duration,
    pub source_ips: Option<SourceIps>,
    pub scram_cache: ScramCache,
    /// The fields every report starts with.
    pub info: RunInfo,
}

/// Identification of a run, flattened into every JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub label: Option<String>,
    /// `host:port` as given.
    pub server: String,
    pub domain: String,
    pub tls: &'static str,
    pub mechanism: &'static str,
}

impl RunInfo {
    pub fn new(opts: &ConnectOpts) -> RunInfo {
        RunInfo {
            label: opts.label.clone(),
            server: format!("{}:{}", opts.host, opts.port),
            domain: opts.domain.clone(),
            tls: match opts.tls {
                TlsMode::Starttls => "starttls",
                TlsMode::Direct => "direct",
            },
            mechanism: opts.mechanism.name(),
        }
    }
}

impl Target {
    /// Validates the options and resolves the server address.
    pub async fn resolve(opts: &ConnectOpts) -> Result<Target, String> {
        let trust = match (&opts.cafile, opts.insecure) {
            (Some(path), _) => Trust::from_pem_file(path)?,
            (None, true) => Trust::Anyone,
            (None, false) => return Err("TLS needs --cafile PEM (the server's certificate or CA) or --insecure".into()),
        };
        if !(opts.timeout.is_finite() && opts.timeout > 0.0) {
            return Err("--timeout must be a positive number of seconds".into());
        }
        let source_ips = opts.source_ips.as_deref().map(SourceIps::parse).transpose()?;
        let addr = tokio::net::lookup_host((opts.host.as_str(), opts.port))
            .await
            .map_err(|e| format!("--host {}: {e}", opts.host))?
            .next()
            .ok_or_else(|| format!("--host {}: no address", opts.host))?;
        Ok(Target {
            addr,
            domain: opts.domain.clone(),
            server_name: tls::server_name(&opts.domain)?,
            tls_mode: opts.tls,
            tls_config: tls::client_config(&trust, opts.tls)?,
            mechanism: opts.mechanism,
            user_prefix: opts.user_prefix.clone(),
            password: opts.password.clone(),
            resource: opts.resource.clone(),
            timeout: Duration::from_secs_f64(opts.timeout),
            source_ips,
            scram_cache: ScramCache::new(),
            info: RunInfo::new(opts),
        })
    }

    /// The local part of user `i`.
    pub fn user(&self, i: usize) -> String {
        format!("{}{i}", self.user_prefix)
    }
}

/// Parses a seconds option that must be finite and not negative.
pub fn seconds(name: &str, value: f64) -> Result<Duration, String> {
    if value.is_finite() && value >= 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!("{name} must be a non-negative number of seconds"))
    }
}
