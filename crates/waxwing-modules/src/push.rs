//! XEP-0357 Push Notifications: a phone whose app is asleep registers an
//! "app server" (a push service reachable over XMPP); when a message arrives
//! and none of the account's resources is there to read it, the server
//! publishes a small notification to that service, which wakes the app
//! through the phone vendor's push channel.
//!
//! Registrations are stored per account (kind `push`, one entry per service
//! JID and node) and survive restarts. Notifications are XEP-0060 publishes
//! (§7) carrying a `urn:xmpp:push:summary` form; what it reveals is the
//! operator's choice (`[push] include_body`). An error answer from the
//! service disables the registration (§7.1), unless it is transient.
//!
//! Stream management (XEP-0198) hibernation: a message queued to a
//! hibernated session should notify as well. That module is being written
//! separately; it can call [`notify`] when it queues a message with a body
//! to a session that is hibernating.

use std::sync::Arc;
use std::time::Duration;

use waxwing_core::module::IqFuture;
use waxwing_core::{
    Flow, HookFuture, HookPoint, IqHandler, IqRequest, Module, Registrations, Server, StanzaContext, StanzaHook,
};
use waxwing_jid::Jid;
use waxwing_proto::{IqType, StanzaError, StanzaErrorCondition, ns};
use waxwing_store::Store;
use waxwing_xml::Element;

use crate::ModulesConfig;
use crate::message::MessageType;

pub const PUSH: &str = "urn:xmpp:push:0";
const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const DATA_FORMS: &str = "jabber:x:data";
const PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";
const SUMMARY: &str = "urn:xmpp:push:summary";
/// XEP-0334 processing hints.
const HINTS: &str = "urn:xmpp:hints";
/// The account-data kind under which registrations are stored.
const KIND: &str = "push";
/// Registrations one account may have (one per device is the norm).
const MAX_REGISTRATIONS: usize = 32;
/// Largest publish-options form kept, in bytes of XML.
const MAX_FORM_BYTES: usize = 8 * 1024;
/// How long an app server has to answer a notification.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// After the message module (0), which hands on only what it could not
/// deliver, and before offline storage (100), which keeps it.
const HOOK_PRIORITY: i32 = 50;

pub struct Push {
    include_body: bool,
}

impl Push {
    pub fn new(config: &ModulesConfig) -> Push {
        Push { include_body: config.push.include_body }
    }
}

impl Module for Push {
    fn name(&self) -> &'static str {
        "push"
    }

    fn register(&self, r: &mut Registrations) {
        let settings = Arc::new(Settings { include_body: self.include_body });
        // §4: advertised on the account's bare JID.
        r.account_disco_feature(PUSH);
        r.iq(IqType::Set, PUSH, "enable", Enable);
        r.iq(IqType::Set, PUSH, "disable", Disable);
        r.stanza_hook(HookPoint::ToAccount, HOOK_PRIORITY, Offline(settings));
    }
}

struct Settings {
    include_body: bool,
}

/// The storage key of one registration. A newline cannot occur in a JID
/// (RFC 7622: PRECIS classes exclude control characters), so the key splits
/// back unambiguously.
fn key(service: &Jid, node: &str) -> String {
    format!("{service}\n{node}")
}

fn split_key(key: &str) -> Option<(Jid, &str)> {
    let (service, node) = key.split_once('\n')?;
    Some((Jid::parse(service).ok()?, node))
}

/// Push settings are the account's own business (§5, §6: sent to one's own
/// bare JID, or without `to`).
fn own_account(request: &IqRequest) -> Result<(&str, &str), StanzaError> {
    if request.to != request.from.bare() {
        return Err(StanzaError::new(StanzaErrorCondition::Forbidden));
    }
    let node = request.to.node().expect("an account JID has a localpart");
    Ok((request.to.domain(), node))
}

fn service_jid(payload: &Element) -> Result<Jid, StanzaError> {
    let jid = payload.attr("jid").ok_or_else(|| bad_request("'jid' is required"))?;
    Jid::parse(jid).map_err(|_| StanzaError::new(StanzaErrorCondition::JidMalformed))
}

fn bad_request(text: &str) -> StanzaError {
    StanzaError::new(StanzaErrorCondition::BadRequest).with_text(text)
}

fn store_error(e: waxwing_store::StoreError) -> StanzaError {
    tracing::error!(error = %e, "push registration storage failed");
    StanzaError::new(StanzaErrorCondition::InternalServerError)
}

/// The value of the field `var` of a data form, if it has one.
fn field_value(form: &Element, var: &str) -> Option<String> {
    let field = form.elements().find(|f| f.is("field", DATA_FORMS) && f.attr("var") == Some(var))?;
    Some(field.get_child("value", DATA_FORMS)?.text())
}

/// §5: `<enable jid='…' node='…'>` with an optional publish-options form.
struct Enable;

impl IqHandler for Enable {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(async move {
            let (domain, localpart) = own_account(request)?;
            let payload = request.payload();
            let service = service_jid(payload)?;
            let node =
                payload.attr("node").filter(|n| !n.is_empty()).ok_or_else(|| bad_request("'node' is required"))?;
            let form = match payload.get_child("x", DATA_FORMS) {
                None => String::new(),
                Some(form) => {
                    // §5: the form is sent as the publish's publish-options,
                    // so it must be one.
                    if field_value(form, "FORM_TYPE").as_deref() != Some(PUBLISH_OPTIONS) {
                        return Err(bad_request("the form's FORM_TYPE must be publish-options"));
                    }
                    let text = String::from_utf8(form.to_bytes(ns::CLIENT)).expect("serialised XML is UTF-8");
                    if text.len() > MAX_FORM_BYTES {
                        return Err(StanzaError::new(StanzaErrorCondition::NotAcceptable).with_text("form too large"));
                    }
                    text
                }
            };
            let data = server.store.account_data();
            let key = key(&service, node);
            let _guard = server.lock_account(&request.to).await;
            let existing = data.list(domain, localpart, KIND).await.map_err(store_error)?;
            if existing.len() >= MAX_REGISTRATIONS && !existing.iter().any(|(k, _)| *k == key) {
                return Err(
                    StanzaError::new(StanzaErrorCondition::ResourceConstraint).with_text("too many push registrations")
                );
            }
            data.put(domain, localpart, KIND, &key, &form).await.map_err(store_error)?;
            tracing::debug!(account = %request.to, service = %service, "push enabled");
            Ok(None)
        })
    }
}

/// §6: `<disable jid='…'/>` removes every registration with that service;
/// with `node='…'`, only that one.
struct Disable;

impl IqHandler for Disable {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(async move {
            let (domain, localpart) = own_account(request)?;
            let payload = request.payload();
            let service = service_jid(payload)?;
            let node = payload.attr("node");
            let data = server.store.account_data();
            let _guard = server.lock_account(&request.to).await;
            for (key, _) in data.list(domain, localpart, KIND).await.map_err(store_error)? {
                let Some((s, n)) = split_key(&key) else { continue };
                if s == service && node.is_none_or(|node| node == n) {
                    data.delete(domain, localpart, KIND, &key).await.map_err(store_error)?;
                }
            }
            Ok(None)
        })
    }
}

/// Messages about to be stored offline: nobody is there to read them.
struct Offline(Arc<Settings>);

impl StanzaHook for Offline {
    fn handle<'a>(&'a self, server: &'a Server, context: &'a StanzaContext, stanza: Element) -> HookFuture<'a, Flow> {
        Box::pin(async move {
            if stanza.name == "message"
                && matches!(MessageType::of(&stanza), MessageType::Chat | MessageType::Normal)
                && stanza.get_child("body", ns::CLIENT).is_some()
                // XEP-0334: not to be stored, so nothing will wait to be fetched.
                && stanza.get_child("no-store", HINTS).is_none()
            {
                notify_with(server, &context.to.bare(), &stanza, self.0.include_body).await;
            }
            // Offline storage still keeps it: the notification only says
            // that there is something to fetch.
            Flow::Continue(stanza)
        })
    }
}

/// Notifies every push service `bare` registered about `message`, which the
/// caller has decided nobody is reading now (stream management: a message
/// queued to a hibernated session). `config` is the `[push]` section the
/// caller got with its own [`ModulesConfig`]. Does nothing when the push
/// module is not enabled.
pub async fn notify(server: &Server, bare: &Jid, message: &Element, config: &crate::config::PushConfig) {
    if server.module_names().contains(&"push") {
        notify_with(server, bare, message, config.include_body).await
    }
}

async fn notify_with(server: &Server, bare: &Jid, message: &Element, include_body: bool) {
    let Some(localpart) = bare.node() else { return };
    let registrations = match server.store.account_data().list(bare.domain(), localpart, KIND).await {
        Ok(registrations) => registrations,
        Err(e) => return tracing::error!(account = %bare, error = %e, "cannot read push registrations"),
    };
    if registrations.is_empty() {
        return;
    }
    // §7: the number of messages waiting; this one is not stored yet.
    let count = server.store.offline().count(bare.domain(), localpart).await.unwrap_or(0) + 1;
    for (key, form) in registrations {
        let Some((service, node)) = split_key(&key) else { continue };
        let summary = summary(count as u64, message, include_body);
        let publish_options = (!form.is_empty()).then(|| waxwing_xml::parse_element(&form, ns::CLIENT).ok()).flatten();
        let iq = notification(node, summary, publish_options);
        let pending = server.send_iq(bare, &service, iq).await;
        let store = server.store.clone();
        let (account, key) = (bare.clone(), key.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(ANSWER_TIMEOUT, pending.response()).await {
                Ok(Some(answer)) if answer.attr("type") == Some("error") => {
                    if disables(&answer) {
                        disable_after_error(&store, &account, &key, &answer).await;
                    }
                }
                Ok(_) => {}
                // §7.1 is about errors; silence may be a slow network.
                Err(_) => tracing::debug!(account = %account, "push service did not answer"),
            }
        });
    }
}

/// §7.1: an error answer disables the registration, except when it says the
/// problem is transient (type `wait`) or is our own failure to reach the
/// service (remote-server-*), which the service did not choose.
fn disables(answer: &Element) -> bool {
    let Some(error) = answer.get_child("error", ns::CLIENT) else { return true };
    if error.attr("type") == Some("wait") {
        return false;
    }
    !error.elements().any(|c| {
        c.ns == ns::STANZA_ERRORS && matches!(c.name.as_str(), "remote-server-not-found" | "remote-server-timeout")
    })
}

async fn disable_after_error(store: &Store, account: &Jid, key: &str, answer: &Element) {
    let Some(localpart) = account.node() else { return };
    tracing::info!(account = %account, answer = %answer, "push service refused a notification: registration disabled");
    if let Err(e) = store.account_data().delete(account.domain(), localpart, KIND, key).await {
        tracing::error!(account = %account, error = %e, "cannot remove push registration");
    }
}

/// The `urn:xmpp:push:summary` form (§7, Example 10).
fn summary(count: u64, message: &Element, include_body: bool) -> Element {
    let field = |var: &str, value: String| {
        Element::new("field", DATA_FORMS)
            .with_attr("var", var)
            .with_child(Element::new("value", DATA_FORMS).with_text(value))
    };
    let mut form = Element::new("x", DATA_FORMS)
        .with_attr("type", "form")
        .with_child(field("FORM_TYPE", SUMMARY.to_string()))
        .with_child(field("message-count", count.to_string()));
    // Who wrote and what: metadata and content the push service (and the
    // phone vendor behind it) would learn, so only when the operator says so.
    if include_body {
        if let Some(from) = message.attr("from") {
            form.push_child(field("last-message-sender", from.to_string()));
        }
        if let Some(body) = message.get_child("body", ns::CLIENT) {
            form.push_child(field("last-message-body", body.text()));
        }
    }
    form
}

/// The XEP-0060 publish to `node` (§7, Example 10).
fn notification(node: &str, summary: Element, publish_options: Option<Element>) -> Element {
    let item = Element::new("item", PUBSUB).with_child(Element::new("notification", PUSH).with_child(summary));
    let mut pubsub = Element::new("pubsub", PUBSUB)
        .with_child(Element::new("publish", PUBSUB).with_attr("node", node).with_child(item));
    if let Some(form) = publish_options {
        pubsub.push_child(Element::new("publish-options", PUBSUB).with_child(form));
    }
    Element::new("iq", ns::CLIENT).with_attr("type", "set").with_child(pubsub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let service = Jid::parse("appserver@localhost/push res").unwrap();
        let key = key(&service, "a\nnode");
        let (s, n) = split_key(&key).unwrap();
        assert_eq!((s, n), (service, "a\nnode"));
    }

    #[test]
    fn which_errors_disable() {
        let error = |kind: &str, condition: &str| {
            waxwing_xml::parse_element(
                &format!(
                    "<iq type='error'><error type='{kind}'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                ),
                ns::CLIENT,
            )
            .unwrap()
        };
        assert!(disables(&error("cancel", "item-not-found")));
        assert!(disables(&error("auth", "not-authorized")));
        assert!(!disables(&error("wait", "resource-constraint")));
        assert!(!disables(&error("cancel", "remote-server-not-found")));
    }

    #[test]
    fn the_body_and_sender_only_when_configured() {
        let message = waxwing_xml::parse_element(
            "<message from='romeo@localhost/r' type='chat'><body>secret</body></message>",
            ns::CLIENT,
        )
        .unwrap();
        let bare = summary(3, &message, false);
        assert_eq!(field_value(&bare, "message-count").as_deref(), Some("3"));
        assert_eq!(field_value(&bare, "last-message-body"), None);
        assert_eq!(field_value(&bare, "last-message-sender"), None);
        let full = summary(3, &message, true);
        assert_eq!(field_value(&full, "last-message-body").as_deref(), Some("secret"));
        assert_eq!(field_value(&full, "last-message-sender").as_deref(), Some("romeo@localhost/r"));
    }
}
