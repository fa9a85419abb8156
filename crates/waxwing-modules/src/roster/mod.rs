//! RFC 6121 §2: the roster — getting it, adding, updating and removing
//! contacts, pushes to the account's interested resources, and versioning.
//!
//! Each roster change bumps the account's stored roster version in the same
//! transaction (`waxwing_store::Roster`), so versions survive restarts and
//! each names one roster state: a client that cached version N and asks with
//! `ver='N'` gets an empty result (§2.6.3), and every push carries the version
//! it leads to. Subscription states change through presence (`crate::presence`),
//! which pushes through [`push`] too.

mod push;
mod request;

use std::sync::Arc;

use waxwing_core::module::IqFuture;
use waxwing_core::{IqHandler, IqRequest, IqResponse, Module, Registrations, Server};
use waxwing_jid::Jid;
use waxwing_proto::{IqType, StanzaError, StanzaErrorCondition};
use waxwing_store::{RosterItem, StoreError, Subscription};
use waxwing_xml::Element;

use crate::ModulesConfig;
use crate::config::RosterConfig;
use crate::presence::{self, State};
pub(crate) use push::{item_element, push};
use request::Change;

pub const NS_ROSTER: &str = "jabber:iq:roster";
/// §2.6.1: the stream feature announcing roster versioning.
pub const NS_ROSTERVER: &str = "urn:xmpp:features:rosterver";

pub struct Roster {
    limits: RosterConfig,
}

impl Roster {
    pub fn new(config: &ModulesConfig) -> Roster {
        Roster { limits: config.roster.clone() }
    }
}

impl Module for Roster {
    fn name(&self) -> &'static str {
        "roster"
    }

    fn register(&self, r: &mut Registrations) {
        r.iq(IqType::Get, NS_ROSTER, "query", get);
        r.iq(IqType::Set, NS_ROSTER, "query", Set(Arc::new(self.limits.clone())));
        r.stream_feature(Element::new("ver", NS_ROSTERVER));
    }
}

/// The account whose roster `request` is about, if it is the sender's own.
fn own_account(request: &IqRequest) -> Result<Jid, StanzaError> {
    let account = request.from.bare();
    if request.to == account {
        Ok(account)
    } else if request.to.node().is_none() {
        // The server itself keeps no roster.
        Err(StanzaError::new(StanzaErrorCondition::ServiceUnavailable))
    } else {
        // §2.3.3: only the account's own resources may read or change it.
        Err(StanzaError::new(StanzaErrorCondition::Forbidden))
    }
}

/// `(domain, localpart)` of an account's bare JID, as the store names it.
pub(crate) fn account_key(account: &Jid) -> (&str, &str) {
    (account.domain(), account.node().unwrap_or_default())
}

pub(crate) fn storage_failed(e: StoreError) -> StanzaError {
    tracing::error!(error = %e, "roster storage failed");
    StanzaError::new(StanzaErrorCondition::InternalServerError)
}

/// §2.1.3 roster get, and §2.6.3 for a client that sends the version it has.
fn get<'a>(server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
    Box::pin(async move {
        let account = own_account(request)?;
        let (domain, node) = account_key(&account);
        // Under the lock, and answered before it is released: a change made
        // meanwhile is either in this answer or pushed after it, never lost
        // between the two (the resource is interested from here on, §2.1.6).
        let _guard = server.lock_account(&account).await;
        server.sessions.set_interested(&request.from);
        let roster = server.store.roster();
        let version = roster.version(domain, node).await.map_err(storage_failed)?.to_string();
        if request.payload().attr("ver") == Some(version.as_str()) {
            // §2.6.3: the client is up to date; changes come as pushes.
            request.answer(server, None);
            return Ok(None);
        }
        let items = roster.items(domain, node).await.map_err(storage_failed)?;
        let mut query = Element::new("query", NS_ROSTER).with_attr("ver", version);
        for item in &items {
            query.push_child(item_element(item));
        }
        request.answer(server, Some(query));
        Ok(None)
    })
}

struct Set(Arc<RosterConfig>);

impl IqHandler for Set {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(set(server, &self.0, request))
    }
}

/// §2.3–2.5 roster set: the result goes first, then the push to every
/// interested resource, the sender's included (§2.3.2).
async fn set(server: &Server, limits: &RosterConfig, request: &IqRequest) -> IqResponse {
    let account = own_account(request)?;
    let change = request::parse(request.payload(), limits)?;
    if *change.contact() == account {
        // Nobody needs to subscribe to their own presence: the server
        // shares it between an account's resources anyway (§4.2.2).
        return Err(StanzaError::new(StanzaErrorCondition::NotAllowed).with_text("You cannot be your own contact"));
    }
    match change {
        Change::Update { contact, name, groups } => {
            update(server, limits, request, &account, &contact, name, groups).await
        }
        Change::Remove { contact } => remove(server, request, &account, &contact).await,
    }
}

async fn update(
    server: &Server,
    limits: &RosterConfig,
    request: &IqRequest,
    account: &Jid,
    contact: &Jid,
    name: Option<String>,
    groups: Vec<String>,
) -> IqResponse {
    let (domain, node) = account_key(account);
    let roster = server.store.roster();
    let _guard = server.lock_account(account).await;
    let existing = roster.item(domain, node, contact.as_str()).await.map_err(storage_failed)?;
    if existing.is_none() && roster.count(domain, node).await.map_err(storage_failed)? >= limits.max_items {
        return Err(StanzaError::new(StanzaErrorCondition::NotAllowed).with_text("The roster is full"));
    }
    // §2.4.1: name and groups are replaced as given; the subscription state
    // is not the client's to set (§2.1.2.5), so it is kept.
    let item = match existing {
        Some(existing) => RosterItem { name, groups, ..existing },
        None => RosterItem {
            contact: contact.to_string(),
            name,
            subscription: Subscription::None,
            ask_subscribe: false,
            approved: false,
            groups,
        },
    };
    let version = roster.put(domain, node, &item).await.map_err(storage_failed)?;
    request.answer(server, None);
    push(server, account, item_element(&item), version);
    Ok(None)
}

/// §2.5: the item goes, and with it both subscriptions and any request
/// between the two, which the contact is told about (§2.5.2).
async fn remove(server: &Server, request: &IqRequest, account: &Jid, contact: &Jid) -> IqResponse {
    let (domain, node) = account_key(account);
    let roster = server.store.roster();
    let before = {
        let _guard = server.lock_account(account).await;
        let Some(item) = roster.item(domain, node, contact.as_str()).await.map_err(storage_failed)? else {
            // §2.5.3
            return Err(StanzaError::new(StanzaErrorCondition::ItemNotFound));
        };
        let pending_in = roster.pending_in(domain, node, contact.as_str()).await.map_err(storage_failed)?.is_some();
        let version = roster.remove(domain, node, contact.as_str()).await.map_err(storage_failed)?;
        if pending_in {
            roster.clear_pending_in(domain, node, contact.as_str()).await.map_err(storage_failed)?;
        }
        request.answer(server, None);
        if let Some(version) = version {
            push(server, account, push::removal_element(contact.as_str()), version);
        }
        State::of(Some(&item), pending_in)
    };
    // After the lock: the contact's server may answer, and its answers need
    // this account's lock.
    presence::cancel_everything(server, account, contact, before).await;
    Ok(None)
}
