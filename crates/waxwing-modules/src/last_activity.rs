//! XEP-0012: Last Activity, for the server (its uptime, §5) and for accounts
//! (when they last went offline and what they said, §3).
//!
//! An account's last activity is noted when one of its resources becomes
//! unavailable: on the unavailable presence it broadcasts (with that
//! presence's status, §3's "Heading Home"), or when a session that was
//! available ends without one. The note is kept in memory while the account
//! has sessions — a presence broadcast must not wait for a disk write (the
//! presence benchmark measured that wait at a third of the throughput) — and
//! written to the account's stored data when its last session ends, so it
//! survives restarts. Queries to a full JID are the client's to answer (§4);
//! the router delivers them.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use dashmap::DashMap;

use waxwing_core::module::IqFuture;
use waxwing_core::{
    Flow, HookFuture, HookPoint, IqHandler, IqRequest, Module, Registrations, Server, SessionEvent, SessionHook,
    StanzaContext, StanzaHook,
};
use waxwing_jid::Jid;
use waxwing_proto::{IqType, StanzaError, StanzaErrorCondition, ns};
use waxwing_xml::Element;

use crate::disco::may_see_presence;

pub const NS_LAST: &str = "jabber:iq:last";

/// The `account_data` kind holding `"<unix seconds>\n<status text>"`.
const KIND: &str = "last_activity";

/// Before the presence module's hooks (priority 0), which may keep the
/// stanza for themselves.
const HOOK_PRIORITY: i32 = -10;

pub struct LastActivity;

impl Module for LastActivity {
    fn name(&self) -> &'static str {
        "last_activity"
    }

    fn register(&self, r: &mut Registrations) {
        let noted = Arc::new(Noted::default());
        r.iq(IqType::Get, NS_LAST, "query", Query(noted.clone()));
        r.disco_feature(NS_LAST);
        r.stanza_hook(HookPoint::FromClient, HOOK_PRIORITY, RecordUnavailable(noted.clone()));
        r.session_hook(RecordClosed(noted));
    }
}

/// Last activity of accounts that still have sessions: (unix seconds, status).
#[derive(Default)]
struct Noted(DashMap<Jid, (i64, String)>);

struct Query(Arc<Noted>);

impl IqHandler for Query {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        query(server, request, &self.0)
    }
}

fn query<'a>(server: &'a Server, request: &'a IqRequest, noted: &'a Noted) -> IqFuture<'a> {
    Box::pin(async move {
        let account = &request.to;
        let Some(node) = account.node() else {
            // §5: to the server, the seconds it has been up, and no text.
            return Ok(Some(last_query(server.started().elapsed().as_secs(), None)));
        };
        // §3: only to those allowed to see the account's presence.
        if !may_see_presence(server, account, &request.from).await? {
            return Err(StanzaError::new(StanzaErrorCondition::Forbidden));
        }
        // §3: "If the user has at least one available resource ... '0'".
        if server.sessions.infos(account).iter().any(|r| r.is_available()) {
            return Ok(Some(last_query(0, None)));
        }
        if let Some(entry) = noted.0.get(account) {
            let (at, status) = entry.value();
            let seconds = u64::try_from(unix_now().saturating_sub(*at)).unwrap_or(0);
            return Ok(Some(last_query(seconds, Some(status))));
        }
        let stored = server.store.account_data().get(account.domain(), node, KIND, "").await.map_err(|e| {
            tracing::error!(error = %e, "reading last activity failed");
            StanzaError::new(StanzaErrorCondition::InternalServerError)
        })?;
        match stored.as_deref().and_then(decode) {
            Some((at, status)) => {
                let seconds = u64::try_from(unix_now().saturating_sub(at)).unwrap_or(0);
                Ok(Some(last_query(seconds, Some(status))))
            }
            // Never offline since it was created (or since a clock reset the
            // record could not survive): there is no last activity to give.
            None => Err(StanzaError::new(StanzaErrorCondition::ItemNotFound)
                .with_text("No last activity is known for this account")),
        }
    })
}

fn last_query(seconds: u64, status: Option<&str>) -> Element {
    let query = Element::new("query", NS_LAST).with_attr("seconds", seconds.to_string());
    match status {
        Some(status) => query.with_text(status),
        None => query,
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn encode(at: i64, status: &str) -> String {
    format!("{at}\n{status}")
}

fn decode(stored: &str) -> Option<(i64, &str)> {
    let (at, status) = stored.split_once('\n')?;
    Some((at.parse().ok()?, status))
}

async fn store(server: &Server, account: &Jid, at: i64, status: &str) {
    let Some(node) = account.node() else { return };
    if let Err(e) = server.store.account_data().put(account.domain(), node, KIND, "", &encode(at, status)).await {
        tracing::error!(error = %e, account = %account.as_str(), "recording last activity failed");
    }
}

/// An unavailable presence broadcast (no `to`): the resource goes offline.
struct RecordUnavailable(Arc<Noted>);

impl StanzaHook for RecordUnavailable {
    fn handle<'a>(&'a self, _server: &'a Server, context: &'a StanzaContext, stanza: Element) -> HookFuture<'a, Flow> {
        Box::pin(async move {
            if stanza.name == "presence" && stanza.attr("type") == Some("unavailable") && stanza.attr("to").is_none() {
                let status = stanza.get_child("status", ns::CLIENT).map(Element::text).unwrap_or_default();
                self.0.0.insert(context.from.bare(), (unix_now(), status));
            }
            Flow::Continue(stanza)
        })
    }
}

/// A session that ends while available goes offline without a status; when
/// an account's last session ends, what was noted is stored.
struct RecordClosed(Arc<Noted>);

impl SessionHook for RecordClosed {
    fn on_event<'a>(&'a self, server: &'a Server, full: &'a Jid, event: &'a SessionEvent) -> HookFuture<'a, ()> {
        Box::pin(async move {
            let SessionEvent::Closed { presence } = event else { return };
            let account = full.bare();
            if presence.is_some() {
                self.0.0.insert(account.clone(), (unix_now(), String::new()));
            }
            if !server.sessions.infos(&account).is_empty() {
                return;
            }
            if let Some((_, (at, status))) = self.0.0.remove(&account) {
                store(server, &account, at, &status).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips_including_newlines_in_the_status() {
        let stored = encode(1_700_000_000, "Heading\nHome");
        assert_eq!(decode(&stored), Some((1_700_000_000, "Heading\nHome")));
        assert_eq!(decode(&encode(5, "")), Some((5, "")));
        assert_eq!(decode("garbage"), None);
    }

    #[test]
    fn answer_shape() {
        let q = last_query(903, Some("Heading Home"));
        assert_eq!((q.attr("seconds"), q.text().as_str()), (Some("903"), "Heading Home"));
        assert!(last_query(0, None).children.is_empty());
    }
}
