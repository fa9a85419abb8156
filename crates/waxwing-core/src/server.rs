//! The shared state of one running server: hosts, storage, sessions and the
//! dispatch tables built from the modules.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::net::IpAddr;
use waxwing_net::c2s::C2sHost;

use waxwing_proto::stanza::iq_result;
use waxwing_proto::{StanzaError, StanzaErrorCondition, StanzaKind, StanzaView, ns};
use waxwing_sasl::{HashAlg, ScramCredentials};
use waxwing_store::Store;
use waxwing_xml::Element;

use dashmap::DashMap;
use waxwing_jid::Jid;

use crate::hooks::{
    AccountHook, DeliveryFilter, DurabilityBarrier, HookPoint, NonzaHandler, SessionEvent, SessionHook, StanzaHook,
};
use crate::module::{DiscoNode, Identity, IqHandler, IqKey, Module, PreAuthIq, PreAuthIqHandler, Registrations};
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
    account_disco_features: Vec<&'static str>,
    identities: Vec<Identity>,
    disco_extensions: Vec<Element>,
    stream_features: Vec<Element>,
    pub(crate) from_client_hooks: Vec<Arc<dyn StanzaHook>>,
    pub(crate) to_account_hooks: Vec<Arc<dyn StanzaHook>>,
    pub(crate) message_to_user_hooks: Vec<Arc<dyn StanzaHook>>,
    pub(crate) delivery_filters: Vec<Arc<dyn DeliveryFilter>>,
    session_hooks: Vec<Arc<dyn SessionHook>>,
    account_hooks: Vec<Arc<dyn AccountHook>>,
    /// Few (a handful of XEPs use them) and rare on the wire: a list will do.
    nonza_handlers: Vec<crate::module::NonzaEntry>,
    durability_barriers: Vec<Arc<dyn DurabilityBarrier>>,
    /// One async lock per account with work in progress (DESIGN.md,
    /// Concurrency): roster and subscription changes of one account happen
    /// in order even when several of its resources act at once.
    account_locks: DashMap<Jid, Arc<tokio::sync::Mutex<()>>>,
    module_names: Vec<&'static str>,
    /// Session tasks still running (bound or closing), for graceful shutdown.
    pub(crate) live_sessions: std::sync::atomic::AtomicUsize,
    shutdown: tokio::sync::watch::Sender<bool>,
    /// When this server was built (XEP-0012 uptime).
    started: Instant,
    /// XEP-0030 nodes of the server, by node name, and who answers them.
    disco_nodes: HashMap<String, Arc<dyn DiscoNode>>,
    /// Handlers of iqs sent before authentication, by payload (namespace, name).
    pre_auth_iqs: HashMap<(String, String), Arc<dyn PreAuthIqHandler>>,
    pre_auth_stream_features: Vec<Element>,
    /// XEP-0198, if a module turned it on.
    stream_management: Option<crate::StreamManagementSettings>,
    /// Iq requests the server sent and whose answers it waits for.
    pub iq_tracker: crate::iq_tracker::IqTracker,
}

impl Server {
    /// Builds the server from its hosts (prepared, lowercase), storage and the
    /// enabled modules. A later module's iq handler for the same key is a
    /// configuration bug and panics at start rather than shadowing silently.
    pub fn new(hosts: Vec<String>, store: Store, settings: ServerSettings, modules: &[Arc<dyn Module>]) -> Arc<Server> {
        let mut iq_handlers = HashMap::new();
        let mut disco_nodes = HashMap::new();
        let mut pre_auth_iqs = HashMap::new();
        let mut nonza_handlers = Vec::new();
        let mut pre_auth_stream_features = Vec::new();
        let mut stream_management = None;
        let mut all = Registrations::default();
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
            for (node, provider) in reg.disco_nodes {
                if disco_nodes.insert(node.clone(), provider).is_some() {
                    panic!("module {} answers disco node {node:?} that another module already answers", module.name());
                }
            }
            for (key, handler) in reg.pre_auth_iqs {
                if pre_auth_iqs.insert(key.clone(), handler).is_some() {
                    panic!(
                        "module {} handles pre-authentication iq {key:?} that another module handles",
                        module.name()
                    );
                }
            }
            for (key, handler) in reg.nonza_handlers {
                if nonza_handlers.iter().any(|(k, _)| *k == key) {
                    panic!("module {} handles the element {key:?} that another module handles", module.name());
                }
                nonza_handlers.push((key, handler));
            }
            pre_auth_stream_features.extend(reg.pre_auth_stream_features);
            stream_management = reg.stream_management.or(stream_management);
            all.disco_features.extend(reg.disco_features);
            all.account_disco_features.extend(reg.account_disco_features);
            all.identities.extend(reg.identities);
            all.disco_extensions.extend(reg.disco_extensions);
            all.stream_features.extend(reg.stream_features);
            all.late_stream_features.extend(reg.late_stream_features);
            all.stanza_hooks.extend(reg.stanza_hooks);
            all.delivery_filters.extend(reg.delivery_filters);
            all.session_hooks.extend(reg.session_hooks);
            all.account_hooks.extend(reg.account_hooks);
            all.durability_barriers.extend(reg.durability_barriers);
            module_names.push(module.name());
        }
        let Registrations {
            mut disco_features,
            mut account_disco_features,
            mut identities,
            disco_extensions,
            mut stream_features,
            ..
        } = all;
        for features in [&mut disco_features, &mut account_disco_features] {
            features.sort_unstable();
            features.dedup();
        }
        identities.sort();
        identities.dedup();
        stream_features.extend(
            all.late_stream_features.iter().map(|build| build(&identities, &disco_features, &disco_extensions)),
        );
        // A stable sort keeps registration order among equal priorities.
        all.stanza_hooks.sort_by_key(|(_, priority, _)| *priority);
        let hooks_at = |point: HookPoint| -> Vec<Arc<dyn StanzaHook>> {
            all.stanza_hooks.iter().filter(|(p, _, _)| *p == point).map(|(_, _, h)| h.clone()).collect()
        };
        Arc::new(Server {
            from_client_hooks: hooks_at(HookPoint::FromClient),
            to_account_hooks: hooks_at(HookPoint::ToAccount),
            message_to_user_hooks: hooks_at(HookPoint::MessageToUser),
            delivery_filters: all.delivery_filters,
            session_hooks: all.session_hooks,
            account_hooks: all.account_hooks,
            nonza_handlers,
            durability_barriers: all.durability_barriers,
            account_locks: DashMap::new(),
            disco_nodes,
            pre_auth_iqs,
            pre_auth_stream_features,
            stream_management,
            iq_tracker: crate::iq_tracker::IqTracker::new(),
            account_disco_features,
            identities,
            disco_extensions,
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
            started: Instant::now(),
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

    /// Returns once everything the modules accepted so far is on disk.
    pub async fn durable(&self) {
        for barrier in &self.durability_barriers {
            barrier.wait(self).await;
        }
    }

    /// The handler of a non-stanza element from bound clients, by namespace and name.
    pub fn nonza_handler(&self, ns: &str, name: &str) -> Option<&Arc<dyn NonzaHandler>> {
        self.nonza_handlers.iter().find(|((n, e), _)| *n == ns && *e == name).map(|(_, handler)| handler)
    }

    /// The XEP-0030 features of an account's bare JID.
    pub fn account_disco_features(&self) -> &[&'static str] {
        &self.account_disco_features
    }

    /// The server's XEP-0030 identities, sorted.
    pub fn identities(&self) -> &[Identity] {
        &self.identities
    }

    /// The XEP-0128 extension forms of the server's disco#info, in
    /// registration order.
    pub fn disco_extensions(&self) -> &[Element] {
        &self.disco_extensions
    }

    /// The module answering XEP-0030 queries about `node`, if any.
    pub fn disco_node(&self, node: &str) -> Option<&Arc<dyn DiscoNode>> {
        self.disco_nodes.get(node)
    }

    /// When the server was built: XEP-0012 uptime counts from here.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Waits for exclusive use of an account's state (roster, subscriptions).
    /// Hold it only across that account's own changes: taking a second
    /// account's lock while holding one could deadlock.
    pub async fn lock_account(&self, bare: &Jid) -> AccountGuard<'_> {
        let lock = self.account_locks.entry(bare.clone()).or_default().clone();
        let guard = lock.clone().lock_owned().await;
        AccountGuard { server: self, bare: bare.clone(), guard: Some(guard) }
    }

    /// Tells the modules about a session's life (see [`SessionEvent`]).
    pub async fn session_event(&self, full: &Jid, event: SessionEvent) {
        for hook in &self.session_hooks {
            hook.on_event(self, full, &event).await;
        }
    }

    /// Removes an account: its sessions are closed, its data deleted, and the
    /// modules told. Returns whether it existed.
    pub async fn remove_account(&self, bare: &Jid) -> Result<bool, waxwing_store::StoreError> {
        let Some(node) = bare.node() else { return Ok(false) };
        let removed = self.store.accounts().remove(bare.domain(), node).await?;
        if removed {
            for info in self.sessions.infos(bare) {
                // After what is already queued: XEP-0077 §3.2 sends the
                // result of an in-band removal before the stream error.
                info.handle.close_after_queued(waxwing_proto::StreamError::with_text(
                    waxwing_proto::StreamErrorCondition::NotAuthorized,
                    "account removed",
                ));
            }
            for hook in &self.account_hooks {
                hook.removed(self, bare).await;
            }
        }
        Ok(removed)
    }

    /// Tells every stream that has no session yet to close (see `session::shutdown_all`).
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// The XEP-0198 settings, if stream management is on.
    pub fn stream_management(&self) -> Option<&crate::StreamManagementSettings> {
        self.stream_management.as_ref()
    }

    /// Whether [`crate::session::shutdown_all`] has begun.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
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

    fn pre_auth_features(&self, _domain: &str) -> Vec<Element> {
        self.pre_auth_stream_features.clone()
    }

    async fn pre_auth_iq(&self, domain: &str, peer: IpAddr, iq: &Element) -> Option<Element> {
        let view = StanzaView { element: iq, kind: StanzaKind::Iq };
        let payload = view.iq_payload()?;
        let handler = self.pre_auth_iqs.get(&(payload.ns.clone(), payload.name.clone()))?;
        // RFC 6120 §8.2.3: only a get or set carries a request to answer.
        if !view.iq_type().is_some_and(|t| t.is_request()) {
            return StanzaError::new(StanzaErrorCondition::BadRequest).reply_to(iq);
        }
        let request = PreAuthIq { domain, peer, element: iq };
        match handler.handle(self, &request).await {
            Ok(payload) => Some(iq_result(iq, payload)),
            Err(error) => error.reply_to(iq),
        }
    }
}

/// Exclusive use of one account's state, from [`Server::lock_account`].
pub struct AccountGuard<'a> {
    server: &'a Server,
    bare: Jid,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for AccountGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        // Forget the lock when nobody else holds or waits for it, so the map
        // holds only accounts with work in progress.
        self.server.account_locks.remove_if(&self.bare, |_, lock| Arc::strong_count(lock) == 1);
    }
}
