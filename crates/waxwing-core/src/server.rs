//! The shared state of one running server: hosts, storage, sessions and the
//! dispatch tables built from the modules.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use waxwing_net::c2s::C2sHost;
use waxwing_proto::ns;
use waxwing_sasl::{HashAlg, ScramCredentials};
use waxwing_store::Store;
use waxwing_xml::Element;

use crate::module::{IqHandler, IqKey, Module, Registrations};
use crate::registry::SessionRegistry;

/// Tunables of the session layer.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Stanzas queued for one session before it is considered stuck and closed.
    pub session_queue_len: usize,
    /// Silence after which the server pings the client (XEP-0199)…
    pub idle_timeout: Duration,
    /// …and how long it then waits for any sign of life before closing the
    /// stream with `connection-timeout`.
    pub ping_timeout: Duration,
    /// Time allowed between authentication and resource binding.
    pub bind_timeout: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            session_queue_len: 2048,
            idle_timeout: Duration::from_secs(300),
            ping_timeout: Duration::from_secs(60),
            bind_timeout: Duration::from_secs(60),
        }
    }
}

pub struct Server {
    hosts: Vec<String>,
    host_set: HashSet<String>,
    pub store: Store,
    pub sessions: SessionRegistry,
    pub settings: ServerSettings,
    iq_handlers: HashMap<IqKey, Arc<dyn IqHandler>>,
    disco_features: Vec<&'static str>,
    stream_features: Vec<Element>,
    module_names: Vec<&'static str>,
    /// Session tasks still running (bound or closing), for graceful shutdown.
    pub(crate) live_sessions: std::sync::atomic::AtomicUsize,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl Server {
    /// Builds the server from its hosts (prepared, lowercase), storage and the
    /// enabled modules. A later module's iq handler for the same key is a
    /// configuration bug and panics at start rather than shadowing silently.
    pub fn new(hosts: Vec<String>, store: Store, settings: ServerSettings, modules: &[Arc<dyn Module>]) -> Arc<Server> {
        let mut iq_handlers = HashMap::new();
        let mut disco_features = Vec::new();
        let mut stream_features = Vec::new();
        let mut module_names = Vec::new();
        for module in modules {
            let mut reg = Registrations::default();
            module.register(&mut reg);
            for (key, handler) in reg.iq_handlers {
                if iq_handlers.insert(key.clone(), handler).is_some() {
                    panic!(
                        "module {} registers an iq handler for {key:?} that another module already handles",
                        module.name()
                    );
                }
            }
            disco_features.extend(reg.disco_features);
            stream_features.extend(reg.stream_features);
            module_names.push(module.name());
        }
        disco_features.sort_unstable();
        disco_features.dedup();
        Arc::new(Server {
            host_set: hosts.iter().cloned().collect(),
            hosts,
            store,
            sessions: SessionRegistry::new(),
            settings,
            iq_handlers,
            disco_features,
            stream_features,
            module_names,
            live_sessions: std::sync::atomic::AtomicUsize::new(0),
            shutdown: tokio::sync::watch::Sender::new(false),
        })
    }

    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.host_set.contains(domain)
    }

    pub fn iq_handler(&self, key: &IqKey) -> Option<&Arc<dyn IqHandler>> {
        self.iq_handlers.get(key)
    }

    /// The XEP-0030 features of the enabled modules.
    pub fn disco_features(&self) -> &[&'static str] {
        &self.disco_features
    }

    /// Tells every stream that has no session yet to close (see `session::shutdown_all`).
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub fn module_names(&self) -> &[&'static str] {
        &self.module_names
    }
}

impl C2sHost for Server {
    fn serves(&self, domain: &str) -> bool {
        self.is_local_domain(domain)
    }

    fn default_host(&self) -> &str {
        &self.hosts[0]
    }

    async fn credentials(&self, domain: &str, username: &str, hash: HashAlg) -> Result<Option<ScramCredentials>, ()> {
        self.store.accounts().credentials(domain, username, hash).await.map_err(|e| {
            tracing::error!(error = %e, "credential lookup failed");
        })
    }

    fn bound_features(&self) -> Vec<Element> {
        // RFC 6120 §7.2: binding is the one feature every client needs; the
        // modules add theirs (legacy session, and later SM, CSI…).
        let mut features = vec![Element::new("bind", ns::BIND)];
        features.extend(self.stream_features.iter().cloned());
        features
    }
}
