//! RFC 6121 §3 and Appendix A, presence subscriptions, over real sockets:
//! every state × every stanza, the pushes and deliveries of a whole
//! exchange, bare-JID stamping, requests kept (payload and all) until
//! answered, pre-approval, and accounts acting at the same time.

mod im;
mod support;

use im::*;
use support::*;

/// Appendix A, from the side of the account that sends the stanza ("the
/// user", whose stored view of the contact is the first column) — A.2 for
/// the user and, the contact's view being the mirror image, A.3 for the
/// contact: (user's state, stanza, user's new state, delivered to the contact?).
/// "+approved" is a §3.4 pre-approval.
const TABLE: &[(&str, &str, &str, bool)] = &[
    ("None", "subscribe", "None+PO", true),
    ("None+PO", "subscribe", "None+PO", false),
    ("None+PI", "subscribe", "None+PO+PI", true),
    ("None+PO+PI", "subscribe", "None+PO+PI", false),
    ("To", "subscribe", "To", false),
    ("To+PI", "subscribe", "To+PI", false),
    ("From", "subscribe", "From+PO", true),
    ("From+PO", "subscribe", "From+PO", false),
    ("Both", "subscribe", "Both", false),
    ("None", "subscribed", "None+approved", false),
    ("None+PO", "subscribed", "None+PO+approved", false),
    ("None+PI", "subscribed", "From", true),
    ("None+PO+PI", "subscribed", "From+PO", true),
    ("To", "subscribed", "To+approved", false),
    ("To+PI", "subscribed", "Both", true),
    ("From", "subscribed", "From", false),
    ("From+PO", "subscribed", "From+PO", false),
    ("Both", "subscribed", "Both", false),
    ("None", "unsubscribe", "None", false),
    ("None+PO", "unsubscribe", "None", true),
    ("None+PI", "unsubscribe", "None+PI", false),
    ("None+PO+PI", "unsubscribe", "None+PI", true),
    ("To", "unsubscribe", "None", true),
    ("To+PI", "unsubscribe", "None+PI", true),
    ("From", "unsubscribe", "From", false),
    ("From+PO", "unsubscribe", "From", true),
    ("Both", "unsubscribe", "From", true),
    ("None", "unsubscribed", "None", false),
    ("None+PO", "unsubscribed", "None+PO", false),
    ("None+PI", "unsubscribed", "None", true),
    ("None+PO+PI", "unsubscribed", "None+PO", true),
    ("To", "unsubscribed", "To", false),
    ("To+PI", "unsubscribed", "To", true),
    ("From", "unsubscribed", "None", true),
    ("From+PO", "unsubscribed", "None+PO", true),
    ("Both", "unsubscribed", "To", true),
];

/// What a roster item shows of a state: no pending-in (§3.1.3 keeps
/// requests out of the roster), so a change here means a roster push.
fn roster_view(state: &str) -> String {
    state.split('+').filter(|part| *part != "PI").collect::<Vec<_>>().join("+")
}

#[tokio::test]
async fn appendix_a_every_state_and_stanza() {
    let server = TestServer::start().await;
    for (n, &(before, kind, after, delivered)) in TABLE.iter().enumerate() {
        let (user, contact) = (format!("u{n}"), format!("c{n}"));
        server.add_user(&user).await;
        server.add_user(&contact).await;
        relate(&server, &user, &contact, before).await;
        let mut u = online(&server, &user, "r").await;
        let mut c = online(&server, &contact, "r").await;
        sync(&mut u).await;

        let case = format!("{before} sends {kind}");
        u.send(&format!("<presence type='{kind}' to='{}'/>", jid(&contact))).await;
        let at_user = sync(&mut u).await;
        let at_contact = sync(&mut c).await;

        assert_eq!(state_name(&server, &user, &contact).await, after, "{case}: the user's state");
        let contact_after = mirror(after.trim_end_matches("+approved"));
        assert_eq!(state_name(&server, &contact, &user).await, contact_after, "{case}: the contact's state");

        let got: Vec<_> = presences(&at_contact).into_iter().filter(|(t, _, _)| t == kind).collect();
        let expected = if delivered { vec![(kind.to_string(), jid(&user), jid(&contact))] } else { vec![] };
        assert_eq!(got, expected, "{case}: delivered to the contact");

        // One push wherever the roster item changed, none elsewhere.
        let user_pushes = pushes(&at_user).len();
        let contact_pushes = pushes(&at_contact).len();
        assert_eq!(user_pushes, usize::from(roster_view(before) != roster_view(after)), "{case}: pushes to the user");
        let contact_changed = roster_view(&mirror(before)) != roster_view(&contact_after);
        assert_eq!(contact_pushes, usize::from(contact_changed), "{case}: pushes to the contact");
    }
}

#[tokio::test]
async fn a_whole_exchange_with_its_pushes_and_presence() {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    let mut romeo = online(&server, "romeo", "garden").await;
    let mut juliet = online(&server, "juliet", "balcony").await;

    // Romeo names full JIDs; the stanza travels between bare JIDs (§3.1.2).
    romeo.send("<presence type='subscribe' from='romeo@localhost/garden' to='juliet@localhost/balcony'/>").await;
    let at_romeo = sync(&mut romeo).await;
    let push = as_push(&at_romeo[0]).expect("the push comes first");
    assert_eq!(
        (push.0.as_str(), push.1.attr("subscription"), push.1.attr("ask")),
        ("1", Some("none"), Some("subscribe"))
    );
    // Prosody's acknowledgement of a request the contact has to answer itself.
    assert_eq!(presences(&at_romeo), [("unavailable".into(), "juliet@localhost".into(), "romeo@localhost".into())]);
    let at_juliet = sync(&mut juliet).await;
    assert_eq!(presences(&at_juliet), [("subscribe".into(), "romeo@localhost".into(), "juliet@localhost".into())]);
    assert!(pushes(&at_juliet).is_empty(), "a request is not a roster item");

    juliet.send("<presence type='subscribed' to='romeo@localhost/garden'/>").await;
    let at_juliet = sync(&mut juliet).await;
    let push = &pushes(&at_juliet)[0];
    assert_eq!((push.1.attr("jid"), push.1.attr("subscription")), (Some("romeo@localhost"), Some("from")));
    // §3.1.6: the approval first, then the push, then (§3.1.5) her presence.
    let at_romeo = sync(&mut romeo).await;
    assert_eq!(at_romeo.len(), 3, "{at_romeo:?}");
    assert_eq!(presences(&at_romeo[..1]), [("subscribed".into(), "juliet@localhost".into(), "romeo@localhost".into())]);
    assert_eq!(as_push(&at_romeo[1]).unwrap().1.attr("subscription"), Some("to"));
    assert_eq!(
        presences(&at_romeo[2..]),
        [("available".into(), "juliet@localhost/balcony".into(), "romeo@localhost".into())]
    );

    juliet.send("<presence type='subscribe' to='romeo@localhost'/>").await;
    sync(&mut juliet).await;
    sync(&mut romeo).await;
    romeo.send("<presence type='subscribed' to='juliet@localhost'/>").await;
    let at_romeo = sync(&mut romeo).await;
    assert_eq!(pushes(&at_romeo)[0].1.attr("subscription"), Some("both"));
    // Both ways now: Romeo's server asks for her presence again (as Prosody
    // does; scansion's issue1121), and she gets his.
    assert_eq!(
        presences(&at_romeo),
        [("available".into(), "juliet@localhost/balcony".into(), "romeo@localhost".into())]
    );
    let at_juliet = sync(&mut juliet).await;
    let kinds: Vec<_> = presences(&at_juliet).into_iter().map(|(t, f, _)| (t, f)).collect();
    assert_eq!(
        kinds,
        [("subscribed".into(), "romeo@localhost".into()), ("available".into(), "romeo@localhost/garden".into())]
    );
    assert_eq!(pushes(&at_juliet)[0].1.attr("subscription"), Some("both"));

    // Their presence now goes both ways at every change.
    juliet.send("<presence><show>chat</show></presence>").await;
    sync(&mut juliet).await;
    assert_eq!(presences(&sync(&mut romeo).await).len(), 1);
}

#[tokio::test]
async fn a_request_is_kept_whole_and_offered_at_every_login_until_answered() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let mut alice = server.login("alice", "desk").await;
    alice
        .send("<presence type='subscribe' to='bob@localhost'><preauth xmlns='urn:xmpp:pars:0' token='1tMFqYDd'/><status>It's Alice</status></presence>")
        .await;
    sync(&mut alice).await;
    alice.close().await;

    for resource in ["laptop", "phone"] {
        let mut bob = server.login("bob", resource).await;
        // Not before he is available (§3.1.3).
        assert!(sync(&mut bob).await.is_empty());
        bob.send("<presence/>").await;
        let at_bob = sync(&mut bob).await;
        assert_eq!(at_bob.len(), 2, "{at_bob:?}");
        assert_eq!(at_bob[0].attr("from"), Some(format!("bob@localhost/{resource}").as_str()));
        let request = &at_bob[1];
        assert_eq!((request.attr("type"), request.attr("from")), (Some("subscribe"), Some("alice@localhost")));
        let preauth = request.get_child("preauth", "urn:xmpp:pars:0").expect("payload kept");
        assert_eq!(preauth.attr("token"), Some("1tMFqYDd"));
        assert_eq!(request.get_child("status", NS_CLIENT).unwrap().text(), "It's Alice");
        bob.close().await;
    }

    // Answered: never offered again.
    let mut bob = server.login("bob", "laptop").await;
    bob.send("<presence/>").await;
    sync(&mut bob).await;
    bob.send("<presence type='unsubscribed' to='alice@localhost'/>").await;
    sync(&mut bob).await;
    bob.close().await;
    let mut bob = server.login("bob", "phone").await;
    bob.send("<presence/>").await;
    assert_eq!(presences(&sync(&mut bob).await), [("available".into(), "bob@localhost/phone".into(), String::new())]);
    assert_eq!(state_name(&server, "alice", "bob").await, "None");
    assert_eq!(state_name(&server, "bob", "alice").await, "None");
}

#[tokio::test]
async fn a_request_reaches_every_available_resource_at_once() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let mut laptop = online(&server, "bob", "laptop").await;
    let mut phone = online(&server, "bob", "phone").await;
    sync(&mut laptop).await;
    let mut idle = server.login("bob", "idle").await;
    let mut alice = server.login("alice", "desk").await;
    alice.send("<presence type='subscribe' to='bob@localhost'/>").await;
    sync(&mut alice).await;
    for client in [&mut laptop, &mut phone] {
        assert_eq!(
            presences(&sync(client).await),
            [("subscribe".into(), "alice@localhost".into(), "bob@localhost".into())]
        );
    }
    assert!(sync(&mut idle).await.is_empty());
}

#[tokio::test]
async fn pre_approval() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let mut alice = online(&server, "alice", "desk").await;

    // §3.4: approving before being asked records the approval, and nothing is sent.
    alice.send("<presence type='subscribed' to='bob@localhost'/>").await;
    let push = &pushes(&sync(&mut alice).await)[0];
    assert_eq!((push.1.attr("subscription"), push.1.attr("approved")), (Some("none"), Some("true")));
    // "unsubscribed" withdraws it…
    alice.send("<presence type='unsubscribed' to='bob@localhost'/>").await;
    let push = &pushes(&sync(&mut alice).await)[0];
    assert_eq!(push.1.attr("approved"), None);
    // …and it can be given again.
    alice.send("<presence type='subscribed' to='bob@localhost'/>").await;
    sync(&mut alice).await;

    let mut bob = online(&server, "bob", "laptop").await;
    bob.send("<presence type='subscribe' to='alice@localhost'/>").await;
    let at_bob = sync(&mut bob).await;
    // His request, answered for Alice at once, and her presence.
    let subscriptions: Vec<_> =
        pushes(&at_bob).iter().map(|(v, i)| (v.clone(), i.attr("subscription").unwrap().to_string())).collect();
    assert_eq!(subscriptions, [("1".to_string(), "none".to_string()), ("2".into(), "to".into())]);
    assert_eq!(
        presences(&at_bob),
        [
            ("subscribed".into(), "alice@localhost".into(), "bob@localhost".into()),
            ("available".into(), "alice@localhost/desk".into(), "bob@localhost".into()),
        ]
    );
    // Alice is not asked; her roster shows the subscription, the approval spent.
    let at_alice = sync(&mut alice).await;
    assert!(presences(&at_alice).is_empty(), "{at_alice:?}");
    let push = &pushes(&at_alice)[0];
    assert_eq!((push.1.attr("subscription"), push.1.attr("approved")), (Some("from"), None));
    assert_eq!(state_name(&server, "alice", "bob").await, "From");
}

#[tokio::test]
async fn a_request_to_a_subscribed_contact_is_answered_for_it() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    // Bob's server thinks Alice is subscribed to him; her roster lost it.
    set_state(&server, "bob", "alice", "From").await;
    let mut bob = online(&server, "bob", "laptop").await;
    let mut alice = online(&server, "alice", "desk").await;
    alice.send("<presence type='subscribe' to='bob@localhost'/>").await;
    let at_alice = sync(&mut alice).await;
    // §3.1.3: "subscribed" on Bob's behalf, then his presence.
    assert_eq!(
        presences(&at_alice),
        [
            ("subscribed".into(), "bob@localhost".into(), "alice@localhost".into()),
            ("available".into(), "bob@localhost/laptop".into(), "alice@localhost".into()),
        ]
    );
    assert_eq!(state_name(&server, "alice", "bob").await, "To");
    assert!(presences(&sync(&mut bob).await).is_empty());
}

#[tokio::test]
async fn no_subscription_to_oneself_or_to_nobody() {
    let server = TestServer::start_with(|config| config.roster.max_items = 1).await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let mut alice = online(&server, "alice", "desk").await;
    alice.send("<presence type='subscribe' to='alice@localhost'/>").await;
    assert!(sync(&mut alice).await.is_empty());
    assert!(stored_item(&server, "alice", "alice").await.is_none());

    // An account that does not exist: her side records the request, no
    // answer comes (§8.5.1).
    alice.send("<presence type='subscribe' to='ghost@localhost'/>").await;
    let at_alice = sync(&mut alice).await;
    assert_eq!(pushes(&at_alice).len(), 1);
    assert!(presences(&at_alice).is_empty());

    // A full roster takes no new contact through subscriptions either.
    alice.send("<presence type='subscribe' to='bob@localhost' id='s1'/>").await;
    let at_alice = sync(&mut alice).await;
    assert_eq!(at_alice.len(), 1, "{at_alice:?}");
    assert_eq!((at_alice[0].attr("type"), at_alice[0].attr("id")), (Some("error"), Some("s1")));
    assert_eq!(error_condition(&at_alice[0]).as_deref(), Some("not-allowed"));
    assert_eq!(state_name(&server, "bob", "alice").await, "None");
}

#[tokio::test]
async fn both_sides_acting_at_once_end_up_consistent() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let mut alice = online(&server, "alice", "desk").await;
    let mut bob = online(&server, "bob", "laptop").await;
    // Each asks, then approves the other, without waiting for anything.
    alice.send("<presence type='subscribe' to='bob@localhost'/>").await;
    bob.send("<presence type='subscribe' to='alice@localhost'/>").await;
    sync(&mut alice).await;
    sync(&mut bob).await;
    alice.send("<presence type='subscribed' to='bob@localhost'/>").await;
    bob.send("<presence type='subscribed' to='alice@localhost'/>").await;
    sync(&mut alice).await;
    sync(&mut bob).await;
    assert_eq!(state_name(&server, "alice", "bob").await, "Both");
    assert_eq!(state_name(&server, "bob", "alice").await, "Both");
}
