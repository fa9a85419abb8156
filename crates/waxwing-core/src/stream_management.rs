//! XEP-0198 stream management: the per-session state behind `<enable/>`,
//! `<r/>`, `<a/>` and `<resume/>`.
//!
//! It lives in the core because it is per-stream state that the session loop
//! touches on every stanza it reads or writes; a module turns it on (and
//! advertises the stream feature) with [`crate::Registrations::stream_management`].
//! Sessions that never send `<enable/>` pay one pointer for it.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use waxwing_net::XmppStream;
use waxwing_proto::ns;
use waxwing_xml::Element;

/// The XEP-0198 namespace (version 3).
pub const NS: &str = "urn:xmpp:sm:3";

/// How stream management behaves on this server, registered by the module
/// that enables it.
#[derive(Debug, Clone)]
pub struct StreamManagementSettings {
    /// Longest a dropped resumable session waits for its client
    /// (zero: resumption is not offered, XEP-0198 §5).
    pub resume_timeout: Duration,
    /// Stanzas a session may have sent without acknowledgement; beyond that
    /// the client is not acking and its session is closed.
    pub max_unacked: usize,
}

/// A new connection asking to take over a resumable session (`<resume/>`).
pub(crate) struct Takeover {
    /// The new connection, authenticated as the session's account.
    pub stream: XmppStream,
    /// The client's count of stanzas it handled (`<resume h=…/>`).
    pub h: u32,
    /// Where the session gives the stream back if it cannot resume (it is
    /// ending right now); dropped when the session took the stream.
    pub back: oneshot::Sender<XmppStream>,
}

/// What makes a session resumable: its id and where takeovers arrive.
pub(crate) struct Resumption {
    pub id: String,
    pub timeout: Duration,
    pub takeovers: mpsc::Receiver<Takeover>,
}

/// The state of one session that enabled stream management.
pub(crate) struct SmState {
    pub resumption: Option<Resumption>,
    /// Stanzas received from the client and handled (routed), mod 2^32:
    /// the `h` of our `<a/>` (XEP-0198 §4).
    pub handled: u32,
    /// Stanzas written to the client, mod 2^32.
    pub sent: u32,
    /// What was written and not yet acknowledged, oldest first: the last
    /// `unacked.len()` of the `sent` stanzas.
    pub unacked: VecDeque<Box<Element>>,
    /// `sent` when our outstanding `<r/>` went out.
    pub requested_at: Option<u32>,
}

/// The client acknowledged more than was sent (XEP-0198 §4).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TooHigh {
    pub h: u32,
    pub sent: u32,
}

impl SmState {
    pub fn new(resumption: Option<Resumption>) -> SmState {
        SmState { resumption, handled: 0, sent: 0, unacked: VecDeque::new(), requested_at: None }
    }

    /// Records a stanza just written.
    pub fn sent(&mut self, stanza: Box<Element>) {
        self.sent = self.sent.wrapping_add(1);
        self.unacked.push_back(stanza);
    }

    /// Records one client stanza handled.
    pub fn handled_one(&mut self) {
        self.handled = self.handled.wrapping_add(1);
    }

    /// The client says it handled `h` stanzas: forget those. The counters
    /// wrap at 2^32 (§4), so "how many are newly acknowledged" is the
    /// wrapping distance from the oldest unacknowledged one.
    pub fn acknowledge(&mut self, h: u32) -> Result<(), TooHigh> {
        let first_unacked = self.sent.wrapping_sub(self.unacked.len() as u32);
        let newly = h.wrapping_sub(first_unacked) as usize;
        if newly > self.unacked.len() {
            return Err(TooHigh { h, sent: self.sent });
        }
        self.unacked.drain(..newly);
        Ok(())
    }

    /// Whether to send `<r/>` now: something is unacknowledged and no
    /// request is outstanding.
    pub fn wants_ack(&self) -> bool {
        !self.unacked.is_empty() && self.requested_at.is_none()
    }

    /// An `<a/>` answers our outstanding request. Whether to ask again at
    /// once: only for stanzas sent after that request, which its answer
    /// could not cover (a client that acks less than it was sent must not
    /// make us ping-pong).
    pub fn answered(&mut self) -> bool {
        let requested_at = self.requested_at.take();
        !self.unacked.is_empty() && requested_at.is_some_and(|at| at != self.sent)
    }
}

/// `<r/>`.
pub(crate) fn request() -> Element {
    Element::new("r", NS)
}

/// `<a h=…/>`.
pub(crate) fn ack(h: u32) -> Element {
    Element::new("a", NS).with_attr("h", h.to_string())
}

/// `<failed/>` with a stanza error condition (XEP-0198 §3, §5).
pub(crate) fn failed(condition: &str) -> Element {
    Element::new("failed", NS).with_child(Element::new(condition, ns::STANZA_ERRORS))
}

/// The `h` attribute of `<a/>` or `<resume/>`: an unsigned 32-bit integer.
pub(crate) fn parse_h(el: &Element) -> Option<u32> {
    el.attr("h")?.parse().ok()
}

/// The stream error for an `<a/>` or `<resume/>` acknowledging more than was
/// sent: `undefined-condition` with XEP-0198's `<handled-count-too-high/>`.
pub(crate) fn too_high_error(too_high: &TooHigh) -> Vec<u8> {
    let mut out = b"<stream:error>".to_vec();
    Element::new("undefined-condition", ns::STREAM_ERRORS).write_to(&mut out, "");
    Element::new("handled-count-too-high", NS)
        .with_attr("h", too_high.h.to_string())
        .with_attr("send-count", too_high.sent.to_string())
        .write_to(&mut out, "");
    out.extend_from_slice(b"</stream:error>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza(n: u32) -> Box<Element> {
        Box::new(Element::new("message", ns::CLIENT).with_attr("id", n.to_string()))
    }

    #[test]
    fn acks_drop_the_oldest_and_too_high_is_refused() {
        let mut sm = SmState::new(None);
        for n in 0..5 {
            sm.sent(stanza(n));
        }
        assert_eq!(sm.acknowledge(2), Ok(()));
        assert_eq!(sm.unacked.front().unwrap().attr("id"), Some("2"));
        // A repeated or stale ack changes nothing.
        assert_eq!(sm.acknowledge(2), Ok(()));
        assert_eq!(sm.unacked.len(), 3);
        assert_eq!(sm.acknowledge(6), Err(TooHigh { h: 6, sent: 5 }));
        assert_eq!(sm.acknowledge(5), Ok(()));
        assert!(sm.unacked.is_empty());
    }

    #[test]
    fn counters_wrap_at_two_to_the_32() {
        let mut sm = SmState::new(None);
        sm.sent = u32::MAX - 1;
        sm.handled = u32::MAX;
        sm.handled_one();
        assert_eq!(sm.handled, 0);
        for n in 0..4 {
            sm.sent(stanza(n));
        }
        assert_eq!(sm.sent, 2);
        assert_eq!(sm.acknowledge(u32::MAX), Ok(()));
        assert_eq!(sm.unacked.len(), 3);
        assert_eq!(sm.acknowledge(1), Ok(()));
        assert_eq!(sm.unacked.len(), 1);
        assert_eq!(sm.acknowledge(3), Err(TooHigh { h: 3, sent: 2 }));
    }

    #[test]
    fn asks_again_only_for_stanzas_sent_after_the_request() {
        let mut sm = SmState::new(None);
        sm.sent(stanza(0));
        assert!(sm.wants_ack());
        sm.requested_at = Some(sm.sent);
        assert!(!sm.wants_ack());
        // The client acks nothing: no new request until more is sent.
        assert!(!sm.answered());
        sm.requested_at = Some(sm.sent);
        sm.sent(stanza(1));
        sm.acknowledge(1).unwrap();
        assert!(sm.answered());
    }
}
