//! Responses to iq requests the server itself sends (on its own or an
//! account's behalf): XEP-0357 notifications to push services, for example.
//!
//! RFC 6120 §8.2.3: every get or set is answered by exactly one result or
//! error with the same `id`, sent back by the entity that was asked. The
//! router hands every result and error addressed to the server or to an
//! account's bare JID to [`IqTracker::resolve`]; a response matches a
//! pending request only if both its `id` and its `from` (the JID the request
//! went to) match, so no other entity can answer in the addressee's place.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use waxwing_jid::Jid;
use waxwing_xml::Element;

type Key = (String, Jid);

#[derive(Default)]
pub struct IqTracker {
    next: AtomicU64,
    pending: Arc<Mutex<HashMap<Key, oneshot::Sender<Element>>>>,
}

impl IqTracker {
    pub fn new() -> IqTracker {
        IqTracker::default()
    }

    /// Reserves a fresh id for a request to `to`; the returned
    /// [`PendingIq`] resolves with the response.
    pub fn track(&self, to: &Jid) -> PendingIq {
        // The counter makes ids unique within this process; the prefix keeps
        // them apart from ids clients choose for their own requests.
        let id = format!("wx-{}", self.next.fetch_add(1, Ordering::Relaxed));
        let (sender, receiver) = oneshot::channel();
        let key = (id, to.clone());
        self.pending.lock().expect("iq tracker lock").insert(key.clone(), sender);
        PendingIq { key, receiver, pending: self.pending.clone() }
    }

    /// Hands a `result` or `error` from `from` to the request waiting for
    /// it. Returns whether one was waiting (otherwise the caller drops it).
    pub fn resolve(&self, from: &Jid, response: Element) -> bool {
        let Some(id) = response.attr("id") else { return false };
        let key = (id.to_string(), from.clone());
        let Some(sender) = self.pending.lock().expect("iq tracker lock").remove(&key) else { return false };
        // The requester may have stopped waiting (timed out): then it is dropped.
        let _ = sender.send(response);
        true
    }

    /// Requests still waiting for an answer.
    pub fn len(&self) -> usize {
        self.pending.lock().expect("iq tracker lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A request sent and not yet answered. Dropping it (after a timeout, say)
/// forgets the request, so a late answer is dropped like any unexpected one
/// and the table does not grow with requests nobody answers.
pub struct PendingIq {
    key: Key,
    receiver: oneshot::Receiver<Element>,
    pending: Arc<Mutex<HashMap<Key, oneshot::Sender<Element>>>>,
}

impl PendingIq {
    /// The `id` to put on the request.
    pub fn id(&self) -> &str {
        &self.key.0
    }

    /// The `result` or `error` stanza, once it arrives.
    pub async fn response(mut self) -> Option<Element> {
        (&mut self.receiver).await.ok()
    }
}

impl Drop for PendingIq {
    fn drop(&mut self) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(id: &str, kind: &str) -> Element {
        Element::new("iq", "jabber:client").with_attr("id", id).with_attr("type", kind)
    }

    #[tokio::test]
    async fn a_response_from_the_addressee_resolves_the_request() {
        let tracker = IqTracker::new();
        let push = Jid::parse("push.example").unwrap();
        let pending = tracker.track(&push);
        let id = pending.id().to_string();
        assert!(tracker.resolve(&push, reply(&id, "error")));
        let response = pending.response().await.unwrap();
        assert_eq!(response.attr("type"), Some("error"));
        assert!(tracker.is_empty());
    }

    #[tokio::test]
    async fn a_response_from_someone_else_or_with_another_id_is_not_matched() {
        let tracker = IqTracker::new();
        let push = Jid::parse("push.example").unwrap();
        let pending = tracker.track(&push);
        let id = pending.id().to_string();
        let impostor = Jid::parse("mallory@localhost/x").unwrap();
        assert!(!tracker.resolve(&impostor, reply(&id, "result")));
        assert!(!tracker.resolve(&push, reply("other", "result")));
        assert_eq!(tracker.len(), 1);
        // The real answer still gets through, once.
        assert!(tracker.resolve(&push, reply(&id, "result")));
        assert!(!tracker.resolve(&push, reply(&id, "result")));
        assert_eq!(pending.response().await.unwrap().attr("type"), Some("result"));
    }

    #[test]
    fn ids_are_unique_and_abandoned_requests_are_forgotten() {
        let tracker = IqTracker::new();
        let push = Jid::parse("push.example").unwrap();
        let a = tracker.track(&push);
        let b = tracker.track(&push);
        assert_ne!(a.id(), b.id());
        let id = a.id().to_string();
        drop(a);
        assert_eq!(tracker.len(), 1);
        assert!(!tracker.resolve(&push, reply(&id, "result")));
    }
}
