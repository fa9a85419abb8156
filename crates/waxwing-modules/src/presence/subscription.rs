//! The presence subscription state machine of RFC 6121 Appendix A, as pure
//! functions: a state and a stanza in, the new state and what to do with the
//! stanza out. Storage, routing and roster pushes are the caller's.
//!
//! One [`State`] is what one account's server knows about one contact: the
//! roster item's `subscription`, whether the account asked for the contact's
//! presence ("pending out", `ask='subscribe'`), whether the contact asked for
//! the account's ("pending in", kept apart from the roster, §3.1.3), and the
//! account's pre-approval of the contact (§3.4).

use waxwing_store::{RosterItem, Subscription};

/// The four subscription-related presence types (RFC 6121 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
}

impl Kind {
    /// The `type` attribute value, or `None` for any other presence type.
    pub fn parse(value: &str) -> Option<Kind> {
        match value {
            "subscribe" => Some(Kind::Subscribe),
            "subscribed" => Some(Kind::Subscribed),
            "unsubscribe" => Some(Kind::Unsubscribe),
            "unsubscribed" => Some(Kind::Unsubscribed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Subscribe => "subscribe",
            Kind::Subscribed => "subscribed",
            Kind::Unsubscribe => "unsubscribe",
            Kind::Unsubscribed => "unsubscribed",
        }
    }
}

/// One of the Appendix A.1 states, plus the §3.4 pre-approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub subscription: Subscription,
    /// The account asked to see the contact's presence (`ask='subscribe'`).
    pub pending_out: bool,
    /// The contact asked to see the account's presence; not yet answered.
    pub pending_in: bool,
    /// The account approved a request the contact has not sent yet.
    pub approved: bool,
}

impl State {
    /// "None": no item, or an item with nothing going on.
    pub const NONE: State =
        State { subscription: Subscription::None, pending_out: false, pending_in: false, approved: false };

    /// The state of a contact given its roster item (if any) and whether a
    /// request from it is pending.
    pub fn of(item: Option<&RosterItem>, pending_in: bool) -> State {
        match item {
            Some(item) => State {
                subscription: item.subscription,
                pending_out: item.ask_subscribe,
                pending_in,
                approved: item.approved,
            },
            None => State { pending_in, ..State::NONE },
        }
    }

    /// The contact sees the account's presence ("From" or "Both").
    pub fn contact_sees_user(self) -> bool {
        matches!(self.subscription, Subscription::From | Subscription::Both)
    }

    /// The account sees the contact's presence ("To" or "Both").
    pub fn user_sees_contact(self) -> bool {
        matches!(self.subscription, Subscription::To | Subscription::Both)
    }

    /// What a roster item shows (§2.1.2): a change here needs a roster push.
    /// Pending-in is not part of it: a request is not a roster item.
    pub fn roster_view(self) -> (Subscription, bool, bool) {
        (self.subscription, self.pending_out, self.approved)
    }

    /// The relationship Appendix A tracks, without the pre-approval.
    fn relation(self) -> (Subscription, bool, bool) {
        (self.subscription, self.pending_out, self.pending_in)
    }

    fn add_from(&mut self) {
        self.subscription = match self.subscription {
            Subscription::None | Subscription::From => Subscription::From,
            Subscription::To | Subscription::Both => Subscription::Both,
        };
        // An approval is spent once the contact is subscribed (§3.4).
        self.approved = false;
    }

    fn remove_from(&mut self) {
        self.subscription = match self.subscription {
            Subscription::None | Subscription::From => Subscription::None,
            Subscription::To | Subscription::Both => Subscription::To,
        };
    }

    fn add_to(&mut self) {
        self.subscription = match self.subscription {
            Subscription::None | Subscription::To => Subscription::To,
            Subscription::From | Subscription::Both => Subscription::Both,
        };
    }

    fn remove_to(&mut self) {
        self.subscription = match self.subscription {
            Subscription::None | Subscription::To => Subscription::None,
            Subscription::From | Subscription::Both => Subscription::From,
        };
    }
}

/// What the sender's server does with a subscription stanza its user sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outbound {
    pub state: State,
    /// Send the stanza on to the contact ("ROUTE?" in Appendix A.2).
    pub route: bool,
}

/// Appendix A.2: the user sent `kind` to the contact.
pub fn outbound(before: State, kind: Kind) -> Outbound {
    let mut state = before;
    match kind {
        // A.2.1: a request for what the user already has changes nothing,
        // but it is routed all the same: the contact's server answers it
        // (§3.1.3 auto-reply), which repairs rosters that disagree.
        Kind::Subscribe => {
            if !state.user_sees_contact() {
                state.pending_out = true;
            }
        }
        // A.2.2: an answer to a pending request is an approval…
        Kind::Subscribed if state.pending_in => {
            state.pending_in = false;
            state.add_from();
        }
        // …otherwise, while the contact is not subscribed, a pre-approval (§3.4).
        Kind::Subscribed => {
            if !state.contact_sees_user() {
                state.approved = true;
            }
        }
        // A.2.3
        Kind::Unsubscribe => {
            state.pending_out = false;
            state.remove_to();
        }
        // A.2.4: a denial or a cancellation; it also withdraws a
        // pre-approval (§3.4).
        Kind::Unsubscribed => {
            state.pending_in = false;
            state.approved = false;
            state.remove_from();
        }
    }
    // Appendix A.2: apart from requests, a stanza is routed exactly when it
    // changed the relationship; otherwise the contact's server would only
    // ignore it (and a stray "subscribed" must never reach the user, §3.1.5).
    let route = kind == Kind::Subscribe || state.relation() != before.relation();
    Outbound { state, route }
}

/// What the recipient's server does with a subscription stanza for its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inbound {
    pub state: State,
    /// Hand the stanza to the user's resources ("DELIVER?" in Appendix A.3):
    /// a request to the available ones (or keep it until one is, §3.1.3),
    /// the rest to the interested ones (§3.1.6, §3.2.3, §3.3.3).
    pub deliver: bool,
    /// Answer the request with "subscribed" on the user's behalf: the
    /// contact already is subscribed (§3.1.3), or was pre-approved (§3.4).
    pub auto_approve: bool,
}

/// Appendix A.3: `kind` arrived from the contact.
pub fn inbound(before: State, kind: Kind) -> Inbound {
    let mut state = before;
    let mut auto_approve = false;
    match kind {
        Kind::Subscribe if state.contact_sees_user() => auto_approve = true,
        Kind::Subscribe if state.approved => {
            state.add_from();
            auto_approve = true;
        }
        // A.3.1: recorded once; a repeated request is not delivered again.
        Kind::Subscribe => state.pending_in = true,
        // A.3.2: only an answer to the user's own request counts.
        Kind::Subscribed => {
            if state.pending_out {
                state.pending_out = false;
                state.add_to();
            }
        }
        // A.3.3: the contact withdraws its request or cancels its subscription.
        Kind::Unsubscribe => {
            state.pending_in = false;
            state.remove_from();
        }
        // A.3.4: the contact denies the user's request or revokes it.
        Kind::Unsubscribed => {
            state.pending_out = false;
            state.remove_to();
        }
    }
    let deliver = match kind {
        Kind::Subscribe => state.pending_in && !before.pending_in,
        _ => state.relation() != before.relation(),
    };
    Inbound { state, deliver, auto_approve }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Kind::*;

    /// The nine states of Appendix A.1 by their RFC names.
    fn named(name: &str) -> State {
        let (subscription, pending_out, pending_in) = match name {
            "None" => (Subscription::None, false, false),
            "None+PO" => (Subscription::None, true, false),
            "None+PI" => (Subscription::None, false, true),
            "None+PO+PI" => (Subscription::None, true, true),
            "To" => (Subscription::To, false, false),
            "To+PI" => (Subscription::To, false, true),
            "From" => (Subscription::From, false, false),
            "From+PO" => (Subscription::From, true, false),
            "Both" => (Subscription::Both, false, false),
            other => panic!("no state {other}"),
        };
        State { subscription, pending_out, pending_in, approved: false }
    }

    /// One table of Appendix A: a stanza and, for each existing state, whether
    /// it goes on (route / deliver) and the new state.
    type Table = (Kind, [(&'static str, bool, &'static str); 9]);

    const STATES: [&str; 9] = ["None", "None+PO", "None+PI", "None+PO+PI", "To", "To+PI", "From", "From+PO", "Both"];

    /// Appendix A.2, row by row: (existing state, route?, new state).
    const OUTBOUND: [Table; 4] = [
        (
            Subscribe, // A.2.1
            [
                ("None", true, "None+PO"),
                ("None+PO", true, "None+PO"),
                ("None+PI", true, "None+PO+PI"),
                ("None+PO+PI", true, "None+PO+PI"),
                ("To", true, "To"),
                ("To+PI", true, "To+PI"),
                ("From", true, "From+PO"),
                ("From+PO", true, "From+PO"),
                ("Both", true, "Both"),
            ],
        ),
        (
            Subscribed, // A.2.2
            [
                ("None", false, "None"),
                ("None+PO", false, "None+PO"),
                ("None+PI", true, "From"),
                ("None+PO+PI", true, "From+PO"),
                ("To", false, "To"),
                ("To+PI", true, "Both"),
                ("From", false, "From"),
                ("From+PO", false, "From+PO"),
                ("Both", false, "Both"),
            ],
        ),
        (
            Unsubscribe, // A.2.3
            [
                ("None", false, "None"),
                ("None+PO", true, "None"),
                ("None+PI", false, "None+PI"),
                ("None+PO+PI", true, "None+PI"),
                ("To", true, "None"),
                ("To+PI", true, "None+PI"),
                ("From", false, "From"),
                ("From+PO", true, "From"),
                ("Both", true, "From"),
            ],
        ),
        (
            Unsubscribed, // A.2.4
            [
                ("None", false, "None"),
                ("None+PO", false, "None+PO"),
                ("None+PI", true, "None"),
                ("None+PO+PI", true, "None+PO"),
                ("To", false, "To"),
                ("To+PI", true, "To"),
                ("From", true, "None"),
                ("From+PO", true, "None+PO"),
                ("Both", true, "To"),
            ],
        ),
    ];

    /// Appendix A.3, row by row: (existing state, deliver?, new state).
    /// A request to a subscribed contact is answered for it (A.3.1 note).
    const INBOUND: [Table; 4] = [
        (
            Subscribe, // A.3.1
            [
                ("None", true, "None+PI"),
                ("None+PO", true, "None+PO+PI"),
                ("None+PI", false, "None+PI"),
                ("None+PO+PI", false, "None+PO+PI"),
                ("To", true, "To+PI"),
                ("To+PI", false, "To+PI"),
                ("From", false, "From"),
                ("From+PO", false, "From+PO"),
                ("Both", false, "Both"),
            ],
        ),
        (
            Subscribed, // A.3.2
            [
                ("None", false, "None"),
                ("None+PO", true, "To"),
                ("None+PI", false, "None+PI"),
                ("None+PO+PI", true, "To+PI"),
                ("To", false, "To"),
                ("To+PI", false, "To+PI"),
                ("From", false, "From"),
                ("From+PO", true, "Both"),
                ("Both", false, "Both"),
            ],
        ),
        (
            Unsubscribe, // A.3.3
            [
                ("None", false, "None"),
                ("None+PO", false, "None+PO"),
                ("None+PI", true, "None"),
                ("None+PO+PI", true, "None+PO"),
                ("To", false, "To"),
                ("To+PI", true, "To"),
                ("From", true, "None"),
                ("From+PO", true, "None+PO"),
                ("Both", true, "To"),
            ],
        ),
        (
            Unsubscribed, // A.3.4
            [
                ("None", false, "None"),
                ("None+PO", true, "None"),
                ("None+PI", false, "None+PI"),
                ("None+PO+PI", true, "None+PI"),
                ("To", true, "None"),
                ("To+PI", true, "None+PI"),
                ("From", false, "From"),
                ("From+PO", true, "From"),
                ("Both", true, "From"),
            ],
        ),
    ];

    #[test]
    fn outbound_follows_appendix_a2() {
        for (kind, rows) in OUTBOUND {
            for (existing, route, new) in rows {
                let got = outbound(named(existing), kind);
                // Where A.2.2 says "no state change" for a contact without a
                // subscription or request, §3.4 records a pre-approval.
                let pre_approved = kind == Subscribed && ["None", "None+PO", "To"].contains(&existing);
                let state = State { approved: pre_approved, ..named(new) };
                assert_eq!(got, Outbound { state, route }, "{existing} sends {kind:?}");
            }
        }
    }

    #[test]
    fn inbound_follows_appendix_a3() {
        for (kind, rows) in INBOUND {
            for (existing, deliver, new) in rows {
                let got = inbound(named(existing), kind);
                let auto_approve = kind == Subscribe && named(existing).contact_sees_user();
                assert_eq!(got, Inbound { state: named(new), deliver, auto_approve }, "{existing} receives {kind:?}");
            }
        }
    }

    #[test]
    fn the_tables_cover_every_state() {
        for (_, rows) in OUTBOUND.iter().chain(INBOUND.iter()) {
            let existing: Vec<&str> = rows.iter().map(|r| r.0).collect();
            assert_eq!(existing, STATES);
        }
    }

    fn approved(name: &str) -> State {
        State { approved: true, ..named(name) }
    }

    #[test]
    fn subscribed_without_a_request_is_a_pre_approval() {
        // §3.4: where the contact has neither a subscription nor a request.
        for existing in ["None", "None+PO", "To"] {
            assert_eq!(outbound(named(existing), Subscribed), Outbound { state: approved(existing), route: false });
        }
        // The contact is subscribed already: nothing to approve in advance.
        for existing in ["From", "From+PO", "Both"] {
            assert_eq!(outbound(named(existing), Subscribed).state, named(existing));
        }
    }

    #[test]
    fn a_pre_approved_request_is_answered_without_asking_the_user() {
        for (existing, new) in [("None", "From"), ("None+PO", "From+PO"), ("To", "Both")] {
            let got = inbound(approved(existing), Subscribe);
            assert_eq!(got, Inbound { state: named(new), deliver: false, auto_approve: true }, "{existing}");
        }
    }

    #[test]
    fn unsubscribed_withdraws_a_pre_approval() {
        for existing in ["None", "None+PO", "To"] {
            assert_eq!(outbound(approved(existing), Unsubscribed), Outbound { state: named(existing), route: false });
        }
    }

    #[test]
    fn the_pre_approval_survives_other_stanzas() {
        // Only a request from the contact spends it, and only "unsubscribed" withdraws it.
        assert_eq!(inbound(approved("None+PO"), Subscribed).state, approved("To"));
        assert_eq!(inbound(approved("To"), Unsubscribed).state, approved("None"));
        assert_eq!(outbound(approved("None"), Subscribe).state, approved("None+PO"));
        assert_eq!(outbound(approved("To"), Unsubscribe).state, approved("None"));
    }

    #[test]
    fn roster_view_ignores_pending_in() {
        assert_eq!(named("None").roster_view(), named("None+PI").roster_view());
        assert_ne!(named("None").roster_view(), named("None+PO").roster_view());
        assert_ne!(named("None").roster_view(), approved("None").roster_view());
    }

    #[test]
    fn state_of_a_stored_item() {
        let item = RosterItem {
            contact: "juliet@example.com".into(),
            name: None,
            subscription: Subscription::From,
            ask_subscribe: true,
            approved: false,
            groups: vec![],
        };
        assert_eq!(State::of(Some(&item), false), named("From+PO"));
        assert_eq!(State::of(None, true), named("None+PI"));
        assert_eq!(State::of(None, false), State::NONE);
    }

    #[test]
    fn kinds_round_trip() {
        for kind in [Subscribe, Subscribed, Unsubscribe, Unsubscribed] {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("probe"), None);
    }
}
