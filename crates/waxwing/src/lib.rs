//! The Waxwing server assembled from its crates: configuration, startup,
//! listeners, user administration and shutdown. `main.rs` is the command
//! line around it; the integration tests start it in-process through
//! [`start`].

pub mod config;
pub mod users;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use waxwing_core::{Server, ServerSettings};
use waxwing_net::c2s::{C2sContext, C2sSettings, negotiate};
use waxwing_net::throttle::{AuthThrottle, ThrottleConfig};
use waxwing_net::tls::{CertSource, CertStore};
use waxwing_net::{Transport, XmppStream, listener};
use waxwing_store::Store;

pub use config::{Config, ConfigError};

/// A running server.
pub struct Running {
    pub server: Arc<Server>,
    pub certs: Arc<CertStore>,
    /// Bound addresses of the STARTTLS listeners (useful with port 0).
    pub c2s_addrs: Vec<SocketAddr>,
    /// Bound addresses of the direct-TLS listeners.
    pub direct_tls_addrs: Vec<SocketAddr>,
    accept_loops: Vec<JoinHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("database: {0}")]
    Store(#[from] waxwing_store::StoreError),
    #[error("TLS: {0}")]
    Tls(#[from] waxwing_net::tls::TlsError),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
}

/// Opens storage, loads certificates, binds the listeners and starts accepting.
pub async fn start(config: Config) -> Result<Running, StartError> {
    config.validate()?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
    let store = Store::open(&config.database_url()).await?;
    let certs = CertStore::load(cert_sources(&config))?;
    let modules = waxwing_modules::enabled(&config.module_names(), &config.modules_config());
    let settings = ServerSettings {
        session_queue_len: config.limits.session_queue,
        idle_timeout: Config::secs(config.c2s.idle_timeout_secs),
        ping_timeout: Config::secs(config.c2s.ping_timeout_secs),
        bind_timeout: Config::secs(config.c2s.negotiation_timeout_secs),
    };
    let server = Server::new(config.domains(), store, settings, &modules);
    let throttle = Arc::new(AuthThrottle::new(ThrottleConfig {
        max_failures: config.auth.max_failures,
        window: Config::secs(config.auth.failure_window_secs),
    }));
    let settings = C2sSettings {
        require_tls: config.c2s.require_tls,
        negotiation_timeout: Config::secs(config.c2s.negotiation_timeout_secs),
        max_auth_attempts: config.auth.max_attempts_per_connection,
        mechanisms: config.sasl_mechanisms(),
    };
    let starttls_ctx = C2sContext {
        host: server.clone(),
        settings: settings.clone(),
        certs: certs.clone(),
        tls_config: certs.server_config(&[]),
        throttle: throttle.clone(),
        shutdown: server.shutdown_signal(),
    };
    // XEP-0368: direct TLS is told apart from other TLS services by ALPN.
    let direct_ctx = C2sContext { tls_config: certs.server_config(&[b"xmpp-client"]), ..starttls_ctx.clone() };

    let mut running = Running {
        server: server.clone(),
        certs,
        c2s_addrs: Vec::new(),
        direct_tls_addrs: Vec::new(),
        accept_loops: Vec::new(),
    };
    let limits = config.xml_limits();
    for (addrs, direct, ctx) in
        [(&config.c2s.listen, false, &starttls_ctx), (&config.c2s.direct_tls_listen, true, &direct_ctx)]
    {
        for addr in addrs {
            let listener = bind(*addr)?;
            let local = listener.local_addr().map_err(|e| StartError::Listen(*addr, e))?;
            tracing::info!(address = %local, direct_tls = direct, "listening for clients");
            if direct { &mut running.direct_tls_addrs } else { &mut running.c2s_addrs }.push(local);
            running.accept_loops.push(tokio::spawn(accept_loop(listener, direct, ctx.clone(), limits.clone())));
        }
    }
    tracing::info!(hosts = ?config.domains(), modules = ?server.module_names(), "waxwing started");
    Ok(running)
}

/// Binds `addr`; a `[::]` wildcard falls back to `0.0.0.0` on hosts without IPv6.
fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    match listener::bind(addr) {
        Ok(l) => Ok(l),
        Err(e) if addr.ip().is_unspecified() && addr.is_ipv6() => {
            let v4 = SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), addr.port());
            tracing::warn!(address = %addr, error = %e, "IPv6 unavailable, listening on IPv4 only");
            listener::bind(v4).map_err(|e| StartError::Listen(v4, e))
        }
        Err(e) => Err(StartError::Listen(addr, e)),
    }
}

fn cert_sources(config: &Config) -> Vec<(String, CertSource)> {
    config
        .hosts
        .iter()
        .zip(config.domains())
        .map(|(host, domain)| {
            let source = match (&host.certificate, &host.key) {
                (Some(cert), Some(key)) => CertSource::Files { cert: cert.clone(), key: key.clone() },
                _ => {
                    let dir = config.data_dir.join("certs");
                    CertSource::SelfSigned {
                        cert: dir.join(format!("{domain}.crt")),
                        key: dir.join(format!("{domain}.key")),
                    }
                }
            };
            (domain, source)
        })
        .collect()
}

async fn accept_loop(listener: TcpListener, direct_tls: bool, ctx: C2sContext<Server>, limits: waxwing_xml::Limits) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        tokio::spawn(connection(tcp, peer, direct_tls, ctx.clone(), limits.clone()));
    }
}

/// One client connection from accept to close.
///
/// Every phase is a separate heap allocation and each local's scope ends
/// before the next phase starts, so that the task of an established session
/// holds the session and nothing left over from negotiation.
async fn connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    direct_tls: bool,
    ctx: C2sContext<Server>,
    limits: waxwing_xml::Limits,
) {
    let _ = listener::configure(&tcp);
    let session = {
        let stream = if direct_tls {
            let handshake = Box::pin(XmppStream::accept_tls(tcp, peer, limits, ctx.tls_config.clone(), &ctx.certs));
            match tokio::time::timeout(ctx.settings.negotiation_timeout, handshake).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            }
        } else {
            XmppStream::new(Transport::Plain(tcp), peer, limits)
        };
        match Box::pin(negotiate(stream, &ctx)).await {
            Ok(authenticated) => Box::pin(waxwing_core::session::run(ctx.host.clone(), Box::new(authenticated))),
            Err(e) => return tracing::debug!(%peer, error = %e, "negotiation ended"),
        }
    };
    drop(ctx);
    session.await
}

impl Running {
    /// Re-reads certificates (SIGHUP). Established sessions keep their TLS state.
    pub fn reload_certificates(&self) -> Result<(), waxwing_net::tls::TlsError> {
        self.certs.reload()
    }

    /// Stops accepting, closes every session with `system-shutdown`, and
    /// closes the database.
    pub async fn shutdown(self) {
        for task in &self.accept_loops {
            task.abort();
        }
        waxwing_core::session::shutdown_all(&self.server, Duration::from_secs(5)).await;
        self.server.store.close().await;
        tracing::info!("waxwing stopped");
    }
}
