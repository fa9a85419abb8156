//! XEP-0313 message archive over real connections: what is archived for
//! whom, XEP-0359 stanza ids, queries with forms and XEP-0059 paging,
//! preferences, metadata, retention and persistence.

mod im;
mod support;

use im::*;
use support::*;
use waxwing_xml::Element;

const MAM: &str = "urn:xmpp:mam:2";
const SID: &str = "urn:xmpp:sid:0";
const RSM: &str = "http://jabber.org/protocol/rsm";
const FORWARD: &str = "urn:xmpp:forward:0";
const DATA: &str = "jabber:x:data";

/// A server with juliet and romeo, both online.
async fn pair() -> (TestServer, Client, Client) {
    let server = TestServer::start().await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    let juliet = online(&server, "juliet", "balcony").await;
    let romeo = online(&server, "romeo", "orchard").await;
    (server, juliet, romeo)
}

/// Romeo says `body` to juliet's full JID; returns what juliet got.
async fn say(romeo: &mut Client, juliet: &mut Client, body: &str) -> Element {
    romeo.send(&format!("<message to='juliet@localhost/balcony' type='chat'><body>{body}</body></message>")).await;
    sync(romeo).await;
    let got: Vec<Element> = sync(juliet).await.into_iter().filter(|s| s.name == "message").collect();
    assert_eq!(got.len(), 1, "{got:?}");
    got.into_iter().next().unwrap()
}

struct Results {
    /// (archive id, forwarded message) in the order received.
    items: Vec<(String, Element)>,
    fin: Element,
}

impl Results {
    fn bodies(&self) -> Vec<String> {
        self.items.iter().map(|(_, m)| m.get_child("body", NS_CLIENT).map(Element::text).unwrap_or_default()).collect()
    }

    fn ids(&self) -> Vec<String> {
        self.items.iter().map(|(id, _)| id.clone()).collect()
    }

    fn complete(&self) -> bool {
        self.fin.attr("complete") == Some("true")
    }

    fn rsm(&self, name: &str) -> Option<Element> {
        self.fin.get_child("set", RSM)?.get_child(name, RSM).cloned()
    }
}

/// Runs a query (`inner`: form, RSM set...) with query id `q`; checks each
/// result's wrapper and returns the results and the `<fin/>`.
async fn query(client: &mut Client, inner: &str) -> Result<Results, Element> {
    let (reply, before) = iq(client, "set", None, &format!("<query xmlns='{MAM}' queryid='q'>{inner}</query>")).await;
    if reply.attr("type") != Some("result") {
        return Err(reply);
    }
    let mut items = Vec::new();
    for message in before.into_iter().filter(|s| s.name == "message") {
        let result = message.get_child("result", MAM).expect("a result");
        assert_eq!(result.attr("queryid"), Some("q"), "{message}");
        let forwarded = result.get_child("forwarded", FORWARD).expect("forwarded");
        assert!(forwarded.get_child("delay", "urn:xmpp:delay").and_then(|d| d.attr("stamp")).is_some(), "{message}");
        let inner = forwarded.get_child("message", NS_CLIENT).expect("the message").clone();
        items.push((result.attr("id").unwrap().to_owned(), inner));
    }
    let fin = reply.get_child("fin", MAM).expect("fin").clone();
    Ok(Results { items, fin })
}

fn form(fields: &[(&str, &str)]) -> String {
    let mut form =
        format!("<x xmlns='{DATA}' type='submit'><field var='FORM_TYPE' type='hidden'><value>{MAM}</value></field>");
    for (var, value) in fields {
        form.push_str(&format!("<field var='{var}'><value>{value}</value></field>"));
    }
    form + "</x>"
}

fn set(inner: &str) -> String {
    format!("<set xmlns='{RSM}'>{inner}</set>")
}

fn stanza_ids(message: &Element) -> Vec<(String, String)> {
    message
        .elements()
        .filter(|e| e.is("stanza-id", SID))
        .map(|e| (e.attr("by").unwrap_or_default().to_owned(), e.attr("id").unwrap_or_default().to_owned()))
        .collect()
}

#[tokio::test]
async fn both_parties_archive_and_recipient_gets_stanza_id() {
    let (_server, mut juliet, mut romeo) = pair().await;
    let got = say(&mut romeo, &mut juliet, "Hello").await;
    let ids = stanza_ids(&got);
    assert_eq!(ids.len(), 1, "{got}");
    assert_eq!(ids[0].0, "juliet@localhost");

    let mine = query(&mut juliet, "").await.unwrap();
    assert_eq!(mine.bodies(), ["Hello"]);
    // The id delivered is the id of the message in juliet's archive.
    assert_eq!(mine.ids(), [ids[0].1.clone()]);
    assert_eq!(mine.items[0].1.attr("from"), Some("romeo@localhost/orchard"));
    assert!(mine.complete());

    let his = query(&mut romeo, "").await.unwrap();
    assert_eq!(his.bodies(), ["Hello"]);
    assert_ne!(his.ids(), mine.ids(), "each archive has its own ids");
    // The sender's copy is archived as sent (no stanza-id of its own).
    assert!(stanza_ids(&his.items[0].1).is_empty(), "{}", his.items[0].1);
}

#[tokio::test]
async fn only_eligible_messages_are_archived() {
    let (_server, mut juliet, mut romeo) = pair().await;
    for message in [
        "<message to='juliet@localhost/balcony' type='headline'><body>news</body></message>",
        "<message to='juliet@localhost/balcony' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
        "<message to='juliet@localhost/balcony' type='chat'><body>secret</body><no-store xmlns='urn:xmpp:hints'/></message>",
        "<message to='juliet@localhost/balcony' type='chat'><body>off</body><no-permanent-store xmlns='urn:xmpp:hints'/></message>",
        "<message to='juliet@localhost/balcony' type='error'><body>err</body></message>",
        // Kept: a body, or the store hint on a message without one.
        "<message to='juliet@localhost/balcony'><body>normal</body></message>",
        "<message to='juliet@localhost/balcony' type='chat'><store xmlns='urn:xmpp:hints'/><x xmlns='urn:example'/></message>",
    ] {
        romeo.send(message).await;
    }
    sync(&mut romeo).await;
    let delivered: Vec<Element> = sync(&mut juliet).await.into_iter().filter(|s| s.name == "message").collect();
    assert_eq!(delivered.len(), 7);
    let stamped = delivered.iter().filter(|m| !stanza_ids(m).is_empty()).count();
    assert_eq!(stamped, 2, "only archived messages get a stanza id");
    let mine = query(&mut juliet, "").await.unwrap();
    assert_eq!(mine.bodies(), ["normal", ""]);
    assert_eq!(query(&mut romeo, "").await.unwrap().bodies(), ["normal", ""]);
}

#[tokio::test]
async fn forged_stanza_ids_of_the_recipient_are_removed() {
    let (_server, mut juliet, mut romeo) = pair().await;
    romeo
        .send(&format!(
            "<message to='juliet@localhost/balcony' type='chat'><body>hi</body>\
             <stanza-id xmlns='{SID}' by='juliet@localhost' id='forged'/>\
             <stanza-id xmlns='{SID}' by='room@muc.example' id='other'/></message>"
        ))
        .await;
    sync(&mut romeo).await;
    let got = sync(&mut juliet).await.into_iter().find(|s| s.name == "message").unwrap();
    let ids = stanza_ids(&got);
    assert_eq!(ids.len(), 2, "{got}");
    assert!(ids.contains(&("room@muc.example".into(), "other".into())), "{got}");
    assert!(!ids.iter().any(|(_, id)| id == "forged"), "{got}");
    // Removed also when the message is not archived.
    romeo
        .send(&format!(
            "<message to='juliet@localhost/balcony' type='headline'><stanza-id xmlns='{SID}' by='juliet@localhost' id='f2'/></message>"
        ))
        .await;
    sync(&mut romeo).await;
    let got = sync(&mut juliet).await.into_iter().find(|s| s.name == "message").unwrap();
    assert!(stanza_ids(&got).is_empty(), "{got}");
}

#[tokio::test]
async fn paging_forward_backward_and_flipped() {
    let (_server, mut juliet, mut romeo) = pair().await;
    for i in 0..7 {
        say(&mut romeo, &mut juliet, &format!("m{i}")).await;
    }
    let first = query(&mut juliet, &set("<max>3</max>")).await.unwrap();
    assert_eq!(first.bodies(), ["m0", "m1", "m2"]);
    assert!(!first.complete());
    assert_eq!(first.rsm("count").unwrap().text(), "7");
    let first_el = first.rsm("first").unwrap();
    assert_eq!((first_el.attr("index"), first_el.text()), (Some("0"), first.ids()[0].clone()));
    assert_eq!(first.rsm("last").unwrap().text(), first.ids()[2]);

    let after = first.rsm("last").unwrap().text();
    let second = query(&mut juliet, &set(&format!("<max>3</max><after>{after}</after>"))).await.unwrap();
    assert_eq!(second.bodies(), ["m3", "m4", "m5"]);
    assert_eq!(second.rsm("first").unwrap().attr("index"), Some("3"));
    let after = second.rsm("last").unwrap().text();
    let third = query(&mut juliet, &set(&format!("<max>3</max><after>{after}</after>"))).await.unwrap();
    assert_eq!(third.bodies(), ["m6"]);
    assert!(third.complete());

    // Backward from the end: the last page, oldest first.
    let last = query(&mut juliet, &set("<max>2</max><before/>")).await.unwrap();
    assert_eq!(last.bodies(), ["m5", "m6"]);
    assert!(!last.complete());
    let before = last.rsm("first").unwrap().text();
    let earlier = query(&mut juliet, &set(&format!("<max>5</max><before>{before}</before>"))).await.unwrap();
    assert_eq!(earlier.bodies(), ["m0", "m1", "m2", "m3", "m4"]);
    assert!(earlier.complete());

    // flip-page: the same page, newest first.
    let flipped = query(&mut juliet, &format!("{}<flip-page/>", set("<max>2</max><before/>"))).await.unwrap();
    assert_eq!(flipped.bodies(), ["m6", "m5"]);

    // An id that names nothing in this archive (XEP-0059 §2.5).
    let err = query(&mut juliet, &set("<after>nope</after>")).await.err().unwrap();
    assert_eq!(error_condition(&err).as_deref(), Some("item-not-found"));
    let romeo_id = query(&mut romeo, "").await.unwrap().ids()[0].clone();
    let err = query(&mut juliet, &set(&format!("<before>{romeo_id}</before>"))).await.err().unwrap();
    assert_eq!(error_condition(&err).as_deref(), Some("item-not-found"));
}

#[tokio::test]
async fn form_filters_and_fulltext() {
    let server = TestServer::start().await;
    for user in ["juliet", "romeo", "nurse"] {
        server.add_user(user).await;
    }
    let mut juliet = online(&server, "juliet", "balcony").await;
    let mut romeo = online(&server, "romeo", "orchard").await;
    let mut nurse = online(&server, "nurse", "kitchen").await;
    say(&mut romeo, &mut juliet, "Crème brûlée tonight?").await;
    nurse.send("<message to='juliet@localhost' type='chat'><body>Your CREME is ready</body></message>").await;
    sync(&mut nurse).await;
    sync(&mut juliet).await;
    say(&mut romeo, &mut juliet, "Wherefore art thou").await;

    let by_romeo = query(&mut juliet, &form(&[("with", "ROMEO@localhost")])).await.unwrap();
    assert_eq!(by_romeo.bodies(), ["Crème brûlée tonight?", "Wherefore art thou"]);
    let full = query(&mut juliet, &form(&[("with", "romeo@localhost/elsewhere")])).await.unwrap();
    assert!(full.items.is_empty());
    let full = query(&mut juliet, &form(&[("with", "romeo@localhost/orchard")])).await.unwrap();
    assert_eq!(full.items.len(), 2);

    // XEP-0431: accent- and case-insensitive, every word must match.
    let creme = query(&mut juliet, &form(&[("{urn:xmpp:fulltext:0}fulltext", "creme")])).await.unwrap();
    assert_eq!(creme.bodies(), ["Crème brûlée tonight?", "Your CREME is ready"]);
    let two = query(&mut juliet, &form(&[("{urn:xmpp:fulltext:0}fulltext", "BRULEE crème")])).await.unwrap();
    assert_eq!(two.bodies(), ["Crème brûlée tonight?"]);
    let both = query(&mut juliet, &form(&[("{urn:xmpp:fulltext:0}fulltext", "creme"), ("with", "nurse@localhost")]))
        .await
        .unwrap();
    assert_eq!(both.bodies(), ["Your CREME is ready"]);

    // #extended: ids, after-id/before-id.
    let all = query(&mut juliet, "").await.unwrap().ids();
    // One multi-value field (XEP-0313 §4.1.4), results in archive order.
    let ids_form = format!(
        "<x xmlns='{DATA}' type='submit'><field var='FORM_TYPE' type='hidden'><value>{MAM}</value></field>\
         <field var='ids'><value>{}</value><value>{}</value></field></x>",
        all[2], all[0]
    );
    assert_eq!(query(&mut juliet, &ids_form).await.unwrap().ids(), [all[0].clone(), all[2].clone()]);
    let middle = query(&mut juliet, &form(&[("after-id", &all[0]), ("before-id", &all[2])])).await.unwrap();
    assert_eq!(middle.ids(), [all[1].clone()]);
    let err = query(&mut juliet, &form(&[("after-id", "unknown")])).await.err().unwrap();
    assert_eq!(error_condition(&err).as_deref(), Some("item-not-found"));

    // start/end (XEP-0082).
    let future = query(&mut juliet, &form(&[("start", "2999-01-01T00:00:00Z")])).await.unwrap();
    assert!(future.items.is_empty() && future.complete());
    let past = query(&mut juliet, &form(&[("end", "2000-01-01T00:00:00+01:00")])).await.unwrap();
    assert!(past.items.is_empty());
    let window = query(&mut juliet, &form(&[("start", "2000-01-01T00:00:00Z"), ("end", "2999-01-01T00:00:00.5Z")]))
        .await
        .unwrap();
    assert_eq!(window.items.len(), 3);

    for (fields, condition) in [
        (form(&[("unknown", "x")]), "bad-request"),
        (form(&[("start", "yesterday")]), "bad-request"),
        (form(&[("with", "@bad")]), "jid-malformed"),
    ] {
        let err = query(&mut juliet, &fields).await.err().unwrap();
        assert_eq!(error_condition(&err).as_deref(), Some(condition), "{fields}");
    }
}

#[tokio::test]
async fn form_discovery_metadata_and_features() {
    let (_server, mut juliet, mut romeo) = pair().await;
    let (reply, _) = iq(&mut juliet, "get", None, &format!("<query xmlns='{MAM}'/>")).await;
    let x = reply.get_child("query", MAM).and_then(|q| q.get_child("x", DATA)).expect("form");
    let vars: Vec<&str> = x.elements().filter_map(|f| f.attr("var")).collect();
    for var in ["FORM_TYPE", "with", "start", "end", "before-id", "after-id", "ids", "{urn:xmpp:fulltext:0}fulltext"] {
        assert!(vars.contains(&var), "{var} in {reply}");
    }

    let (reply, _) = iq(&mut juliet, "get", None, &format!("<metadata xmlns='{MAM}'/>")).await;
    let metadata = reply.get_child("metadata", MAM).expect("metadata");
    assert_eq!(metadata.elements().count(), 0, "empty archive: {reply}");

    say(&mut romeo, &mut juliet, "one").await;
    say(&mut romeo, &mut juliet, "two").await;
    let ids = query(&mut juliet, "").await.unwrap().ids();
    let (reply, _) = iq(&mut juliet, "get", None, &format!("<metadata xmlns='{MAM}'/>")).await;
    let metadata = reply.get_child("metadata", MAM).expect("metadata");
    let start = metadata.get_child("start", MAM).expect("start");
    let end = metadata.get_child("end", MAM).expect("end");
    assert_eq!((start.attr("id").unwrap(), end.attr("id").unwrap()), (ids[0].as_str(), ids[1].as_str()));
    assert!(start.attr("timestamp").unwrap().ends_with('Z'));

    let (reply, _) =
        iq(&mut juliet, "get", Some("juliet@localhost"), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
            .await;
    let features: Vec<&str> = reply
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .unwrap()
        .elements()
        .filter_map(|f| f.attr("var"))
        .collect();
    for feature in [MAM, "urn:xmpp:mam:2#extended", SID, "urn:xmpp:fulltext:0"] {
        assert!(features.contains(&feature), "{feature} in {reply}");
    }

    // Someone else's archive is not readable.
    let (reply, _) = iq(&mut romeo, "set", Some("juliet@localhost"), &format!("<query xmlns='{MAM}'/>")).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("forbidden"), "{reply}");
}

#[tokio::test]
async fn preferences_decide_what_is_archived() {
    let server = TestServer::start().await;
    for user in ["juliet", "romeo", "nurse"] {
        server.add_user(user).await;
    }
    let mut juliet = online(&server, "juliet", "balcony").await;
    let mut romeo = online(&server, "romeo", "orchard").await;
    let mut nurse = online(&server, "nurse", "kitchen").await;

    let (reply, _) = iq(&mut juliet, "get", None, &format!("<prefs xmlns='{MAM}'/>")).await;
    assert_eq!(reply.get_child("prefs", MAM).unwrap().attr("default"), Some("always"), "{reply}");

    // JIDs are prepared (scansion mam_prefs_prep).
    let (reply, _) = iq(
        &mut juliet,
        "set",
        None,
        &format!("<prefs xmlns='{MAM}' default='roster'><always><jid>NURSE@LOCALHOST</jid></always><never/></prefs>"),
    )
    .await;
    let prefs = reply.get_child("prefs", MAM).expect("prefs");
    assert_eq!(prefs.attr("default"), Some("roster"));
    assert_eq!(prefs.get_child("always", MAM).unwrap().get_child("jid", MAM).unwrap().text(), "nurse@localhost");

    // Romeo is not in juliet's roster: not archived for her (but for him).
    let got = say(&mut romeo, &mut juliet, "not kept").await;
    assert!(stanza_ids(&got).is_empty(), "{got}");
    nurse.send("<message to='juliet@localhost/balcony' type='chat'><body>kept</body></message>").await;
    sync(&mut nurse).await;
    sync(&mut juliet).await;
    assert_eq!(query(&mut juliet, "").await.unwrap().bodies(), ["kept"]);
    assert_eq!(query(&mut romeo, "").await.unwrap().bodies(), ["not kept"]);

    // In the roster: archived.
    roster_set(&mut juliet, "<item jid='romeo@localhost'/>").await;
    say(&mut romeo, &mut juliet, "now kept").await;
    assert_eq!(query(&mut juliet, "").await.unwrap().bodies(), ["kept", "now kept"]);

    // never wins, and the preferences survive a new session.
    iq(
        &mut romeo,
        "set",
        None,
        &format!("<prefs xmlns='{MAM}' default='always'><never><jid>juliet@localhost</jid></never></prefs>"),
    )
    .await;
    let mut romeo2 = online(&server, "romeo", "again").await;
    let (reply, _) = iq(&mut romeo2, "get", None, &format!("<prefs xmlns='{MAM}'/>")).await;
    assert_eq!(reply.get_child("prefs", MAM).unwrap().get_child("never", MAM).unwrap().elements().count(), 1);
    say(&mut romeo, &mut juliet, "unrecorded").await;
    assert_eq!(query(&mut romeo, "").await.unwrap().bodies(), ["not kept", "now kept"]);

    let (reply, _) = iq(&mut juliet, "set", None, &format!("<prefs xmlns='{MAM}' default='sometimes'/>")).await;
    assert_eq!(error_condition(&reply).as_deref(), Some("bad-request"), "{reply}");
}

#[tokio::test]
async fn archive_survives_restart_and_goes_with_the_account() {
    let (mut server, mut juliet, mut romeo) = pair().await;
    say(&mut romeo, &mut juliet, "remember me").await;
    drop((juliet, romeo));
    server.restart().await;
    let mut juliet = server.login("juliet", "balcony").await;
    assert_eq!(query(&mut juliet, "").await.unwrap().bodies(), ["remember me"]);
    drop(juliet);

    let bare = waxwing_jid::Jid::parse("juliet@localhost").unwrap();
    assert!(server.running().server.remove_account(&bare).await.unwrap());
    let store = &server.running().server.store;
    assert_eq!(store.archive().count("localhost", "juliet").await.unwrap(), 0);
    assert_eq!(store.archive().count("localhost", "romeo").await.unwrap(), 1);
}

#[tokio::test]
async fn retention_by_count() {
    let server = TestServer::start_with(|config| config.archive.max_messages = 3).await;
    server.add_user("juliet").await;
    server.add_user("romeo").await;
    let mut juliet = online(&server, "juliet", "balcony").await;
    let mut romeo = online(&server, "romeo", "orchard").await;
    for i in 0..5 {
        say(&mut romeo, &mut juliet, &format!("m{i}")).await;
    }
    // The writer trims each batch's accounts before releasing its waiters,
    // and a query waits for what was queued before it.
    assert_eq!(query(&mut juliet, "").await.unwrap().bodies(), ["m2", "m3", "m4"]);
    assert_eq!(query(&mut romeo, "").await.unwrap().bodies(), ["m2", "m3", "m4"]);
}

/// The durability promise: a message the server acknowledged (XEP-0198) is
/// in both archives, even if the server process is killed (SIGKILL, no
/// shutdown) the moment after.
mod kill {
    use std::net::{SocketAddr, TcpListener};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use waxwing_sasl::HashAlg;

    use super::*;

    const BIN: &str = env!("CARGO_BIN_EXE_waxwing");

    struct Served(Child);

    impl Drop for Served {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    async fn serve(config: &PathBuf, c2s: SocketAddr) -> Served {
        let child = Command::new(BIN).arg("--config").arg(config).arg("serve").stderr(Stdio::null()).spawn().unwrap();
        let served = Served(child);
        let started = Instant::now();
        while tokio::net::TcpStream::connect(c2s).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        served
    }

    async fn login(dir: &std::path::Path, c2s: SocketAddr, user: &str) -> Client {
        let cert = CertificateDer::from_pem_file(dir.join("data/certs/localhost.crt")).unwrap();
        let mut c = Client::connect(c2s).await;
        c.open("localhost").await;
        c.starttls(cert).await;
        c.open("localhost").await;
        c.scram(user, "pw", HashAlg::Sha256, None).await.unwrap();
        c.open("localhost").await;
        c.bind(Some("r")).await;
        c
    }

    #[tokio::test]
    async fn acknowledged_messages_survive_kill_9() {
        let dir = tempfile::tempdir().unwrap();
        let c2s = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let direct = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let config = dir.path().join("waxwing.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = \"{}\"\n[c2s]\nlisten = [\"{c2s}\"]\ndirect_tls_listen = [\"{direct}\"]\n\
                 [auth]\nscram_iterations = 4096\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        for user in ["juliet", "romeo"] {
            let out =
                Command::new(BIN).arg("--config").arg(&config).args(["user", "add", user, "pw"]).output().unwrap();
            assert!(out.status.success());
        }
        let mut served = serve(&config, c2s).await;
        let juliet = login(dir.path(), c2s, "juliet").await;
        let mut romeo = login(dir.path(), c2s, "romeo").await;
        // The archive is written in the background; what the server
        // acknowledges (XEP-0198 `<a h/>`) is on disk.
        romeo.send("<enable xmlns='urn:xmpp:sm:3'/>").await;
        assert_eq!(romeo.stanza().await.name, "enabled");
        const N: usize = 50;
        for i in 0..N {
            romeo
                .send(&format!("<message to='juliet@localhost/r' type='chat' id='m{i}'><body>m{i}</body></message>"))
                .await;
        }
        romeo.send("<r xmlns='urn:xmpp:sm:3'/>").await;
        loop {
            let answer = romeo.stanza().await;
            if answer.is("a", "urn:xmpp:sm:3") {
                assert_eq!(answer.attr("h"), Some("50"));
                break;
            }
        }
        // No shutdown, no flush: SIGKILL right after the acknowledgement.
        served.0.kill().unwrap();
        served.0.wait().unwrap();
        drop((juliet, romeo));

        let _served = serve(&config, c2s).await;
        for user in ["juliet", "romeo"] {
            let mut client = login(dir.path(), c2s, user).await;
            let results = query(&mut client, &set("<max>100</max>")).await.unwrap();
            let expected: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
            assert_eq!(results.bodies(), expected, "{user}");
        }
    }
}
