//! Directed presence (RFC 6121 §4.6): whom each session sent available
//! presence to outside its broadcast, so that they learn when it goes away.

use dashmap::DashMap;
use waxwing_jid::Jid;

/// Recipients remembered per session. Beyond this a client is flooding;
/// its further directed presence is still delivered, only not cancelled.
const MAX_PER_SESSION: usize = 1000;

/// Directed-presence recipients by the sender's full JID.
#[derive(Default)]
pub(super) struct Directed {
    sent: DashMap<Jid, Vec<Jid>>,
}

impl Directed {
    /// `from` sent presence to `to`: available adds it (§4.6.2), anything
    /// else (unavailable, error) ends it (§4.6.3).
    pub(super) fn record(&self, from: &Jid, to: &Jid, available: bool) {
        if to.bare() == from.bare() {
            // The account's own resources see its presence anyway (§4.2.2).
            return;
        }
        if available {
            let mut recipients = self.sent.entry(from.clone()).or_default();
            if !recipients.contains(to) && recipients.len() < MAX_PER_SESSION {
                recipients.push(to.clone());
            }
        } else {
            self.sent.remove_if_mut(from, |_, recipients| {
                recipients.retain(|r| r != to);
                recipients.is_empty()
            });
        }
    }

    /// Forgets and returns everyone `full` sent directed presence to.
    pub(super) fn take(&self, full: &Jid) -> Vec<Jid> {
        self.sent.remove(full).map(|(_, recipients)| recipients).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> Jid {
        Jid::parse(s).unwrap()
    }

    #[test]
    fn recorded_until_cancelled_or_taken() {
        let directed = Directed::default();
        let me = jid("juliet@example.com/balcony");
        directed.record(&me, &jid("room@muc.example.com/juliet"), true);
        directed.record(&me, &jid("nurse@example.com"), true);
        directed.record(&me, &jid("nurse@example.com"), true);
        // Her own other resource is not a directed recipient.
        directed.record(&me, &jid("juliet@example.com/chamber"), true);
        directed.record(&me, &jid("room@muc.example.com/juliet"), false);
        assert_eq!(directed.take(&me), [jid("nurse@example.com")]);
        assert!(directed.take(&me).is_empty());
    }

    #[test]
    fn cancelling_the_last_one_forgets_the_session() {
        let directed = Directed::default();
        let me = jid("juliet@example.com/balcony");
        directed.record(&me, &jid("nurse@example.com"), true);
        directed.record(&me, &jid("nurse@example.com"), false);
        assert!(directed.sent.is_empty());
    }

    #[test]
    fn the_list_is_bounded() {
        let directed = Directed::default();
        let me = jid("juliet@example.com/balcony");
        for i in 0..MAX_PER_SESSION + 10 {
            directed.record(&me, &jid(&format!("u{i}@example.org")), true);
        }
        assert_eq!(directed.take(&me).len(), MAX_PER_SESSION);
    }
}
