//! XEP-0313 Message Archive Management for accounts, with XEP-0359 stanza
//! ids, XEP-0059 paging and XEP-0431 full-text search.
//!
//! - [`archiving`]: which messages go into whose archive, and the stanza id
//!   stamped on the recipient's copy;
//! - [`writer`]: one task per server that writes archive entries in batches
//!   (group commit);
//! - [`query`]: archive queries, form discovery and metadata;
//! - [`prefs`]: the user's archiving preferences (XEP-0313 §6).

mod archiving;

mod prefs;
mod query;
mod writer;

use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use waxwing_core::{AccountHook, DurabilityBarrier, HookFuture, HookPoint, Module, Registrations, Server};
use waxwing_jid::Jid;
use waxwing_proto::IqType;

use crate::ModulesConfig;
use crate::config::ArchiveConfig;

pub const NS_MAM: &str = "urn:xmpp:mam:2";
pub const NS_MAM_EXTENDED: &str = "urn:xmpp:mam:2#extended";
pub const NS_SID: &str = "urn:xmpp:sid:0";
pub const NS_FULLTEXT: &str = "urn:xmpp:fulltext:0";
pub const NS_FORWARD: &str = "urn:xmpp:forward:0";
pub const NS_DELAY: &str = "urn:xmpp:delay";
pub const NS_RSM: &str = "http://jabber.org/protocol/rsm";
pub const NS_HINTS: &str = "urn:xmpp:hints";

pub struct Mam {
    config: ArchiveConfig,
}

impl Mam {
    pub fn new(config: &ModulesConfig) -> Mam {
        Mam { config: config.archive.clone() }
    }
}

/// What the module keeps for one server.
pub(crate) struct State {
    config: ArchiveConfig,
    /// The default archiving mode for accounts without preferences.
    default_mode: prefs::Mode,
    /// The batch writer, started on the first message archived (it needs the
    /// server's store, which `register` does not have).
    writer: OnceLock<writer::Writer>,
    /// Preferences of accounts that archived or changed them since the start,
    /// so that archiving a message needs no read.
    prefs: DashMap<Jid, Arc<prefs::Prefs>>,
}

impl State {
    fn writer(&self, server: &Server) -> &writer::Writer {
        self.writer.get_or_init(|| writer::Writer::start(server.store.clone(), &self.config))
    }
}

impl Module for Mam {
    fn name(&self) -> &'static str {
        "mam"
    }

    fn register(&self, r: &mut Registrations) {
        let default_mode = prefs::Mode::parse(&self.config.default_mode).unwrap_or_else(|| {
            tracing::warn!(mode = %self.config.default_mode, "unknown archive.default_mode; using \"always\"");
            prefs::Mode::Always
        });
        let state = Arc::new(State {
            config: self.config.clone(),
            default_mode,
            writer: OnceLock::new(),
            prefs: DashMap::new(),
        });
        // XEP-0313 §7: the archive is the account's, so its bare JID
        // advertises it; XEP-0359 §6 and XEP-0431 §2.1 likewise.
        for feature in [NS_MAM, NS_MAM_EXTENDED, NS_SID, NS_FULLTEXT] {
            r.account_disco_feature(feature);
        }
        r.iq(IqType::Set, NS_MAM, "query", query::Query);
        r.iq(IqType::Get, NS_MAM, "query", query::Fields);
        r.iq(IqType::Get, NS_MAM, "metadata", query::Metadata);
        r.iq(IqType::Get, NS_MAM, "prefs", prefs::Handler(state.clone()));
        r.iq(IqType::Set, NS_MAM, "prefs", prefs::Handler(state.clone()));
        // After blocking (-1000) has refused what the user may not send.
        r.stanza_hook(HookPoint::FromClient, archiving::HOOK_PRIORITY, archiving::Outgoing(state.clone()));
        r.stanza_hook(HookPoint::MessageToUser, archiving::HOOK_PRIORITY, archiving::Incoming(state.clone()));
        r.durability_barrier(Durable(state.clone()));
        r.account_hook(Forget(state));
    }
}

/// Acknowledgements (XEP-0198) and archive queries wait for the messages
/// queued so far to be committed.
struct Durable(Arc<State>);

impl DurabilityBarrier for Durable {
    fn wait<'a>(&'a self, _server: &'a Server) -> HookFuture<'a, ()> {
        Box::pin(async move {
            if let Some(writer) = self.0.writer.get() {
                writer.barrier().await;
            }
        })
    }
}

/// Drops the cached preferences of a removed account (its archive went with
/// the account, through ON DELETE CASCADE).
struct Forget(Arc<State>);

impl AccountHook for Forget {
    fn removed<'a>(&'a self, _server: &'a Server, bare: &'a Jid) -> HookFuture<'a, ()> {
        Box::pin(async move {
            self.0.prefs.remove(bare);
        })
    }
}
