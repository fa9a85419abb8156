//! "Never lose a message", against the real binary: what the server has
//! acknowledged with an XEP-0198 `<a h/>` survives `kill -9`, and what
//! hibernating sessions hold survives SIGTERM.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use support::binary::{BIN, Setup, setup};
use support::*;
use waxwing_sasl::HashAlg;
use waxwing_xml::Element;

const NS_SM: &str = "urn:xmpp:sm:3";

/// The binary's set-up, with the users created.
fn setup_with_users() -> Setup {
    let s = setup();
    for user in ["romeo", "juliet"] {
        let o = Command::new(BIN).arg("--config").arg(&s.config).args(["user", "add", user, "pw"]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    s
}

struct Served {
    child: Option<Child>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn serve(s: &Setup) -> Served {
    let child = Command::new(BIN).arg("--config").arg(&s.config).arg("serve").stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while tokio::net::TcpStream::connect(s.c2s).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Served { child: Some(child) }
}

/// Ends the process with `signal` and waits for it to be gone.
async fn stop(mut served: Served, signal: &str) -> std::process::ExitStatus {
    let mut child = served.child.take().expect("running");
    let ok = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
    assert!(ok.success());
    tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap()
}

async fn login(s: &Setup, user: &str, resource: &str) -> Client {
    let cert = CertificateDer::from_pem_file(s.dir.path().join("data/certs/localhost.crt")).unwrap();
    let mut c = Client::connect(s.c2s).await;
    c.open("localhost").await;
    c.starttls(cert).await;
    c.open("localhost").await;
    c.scram(user, "pw", HashAlg::Sha256, None).await.unwrap();
    c.open("localhost").await;
    c.bind(Some(resource)).await;
    c
}

async fn enable(c: &mut Client, resume: bool) {
    c.send(&format!("<enable xmlns='{NS_SM}' resume='{resume}'/>")).await;
    let enabled = c.stanza().await;
    assert!(enabled.is("enabled", NS_SM), "{enabled}");
}

/// The message bodies that arrive until the server is quiet.
async fn bodies(c: &mut Client) -> Vec<String> {
    let got: Vec<Element> = c.drain(Duration::from_millis(1000)).await;
    got.iter()
        .filter(|s| s.name == "message")
        .filter_map(|s| s.get_child("body", NS_CLIENT).map(|b| b.text()))
        .collect()
}

#[tokio::test]
async fn acknowledged_messages_survive_kill_9() {
    const N: u32 = 50;
    let s = setup_with_users();
    let served = serve(&s).await;
    let mut romeo = login(&s, "romeo", "phone").await;
    enable(&mut romeo, false).await;
    let sent: Vec<String> = (1..=N).map(|n| format!("message {n}")).collect();
    // Juliet is offline: each message goes to storage.
    let mut burst = String::new();
    for (n, body) in sent.iter().enumerate() {
        burst.push_str(&format!("<message to='juliet@localhost' type='chat' id='m{n}'><body>{body}</body></message>"));
    }
    romeo.send(&burst).await;
    romeo.send(&format!("<r xmlns='{NS_SM}'/>")).await;
    let ack = romeo.stanza().await;
    assert!(ack.is("a", NS_SM), "{ack}");
    assert_eq!(ack.attr("h"), Some(N.to_string().as_str()), "the server handled every message");
    // No graceful anything: the process dies at once.
    let status = stop(served, "KILL").await;
    assert!(!status.success());

    let _served = serve(&s).await;
    let mut juliet = login(&s, "juliet", "balcony").await;
    juliet.send("<presence/>").await;
    assert_eq!(bodies(&mut juliet).await, sent, "every acknowledged message, once, in order");
}

#[tokio::test]
async fn sigterm_stores_what_a_hibernating_session_holds() {
    let s = setup_with_users();
    let served = serve(&s).await;
    let mut romeo = login(&s, "romeo", "phone").await;
    enable(&mut romeo, true).await;
    let mut juliet = login(&s, "juliet", "balcony").await;
    juliet.send("<message to='romeo@localhost/phone' type='chat'><body>one</body></message>").await;
    assert_eq!(bodies(&mut romeo).await, ["one"]);
    // Romeo's connection drops before he acknowledges; his session waits.
    drop(romeo);
    tokio::time::sleep(Duration::from_millis(300)).await;
    juliet.send("<message to='romeo@localhost/phone' type='chat'><body>two</body></message>").await;
    juliet.send("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(juliet.stanza().await.attr("id"), Some("p"));
    let status = stop(served, "TERM").await;
    assert!(status.success(), "{status:?}");

    let _served = serve(&s).await;
    let mut romeo = login(&s, "romeo", "laptop").await;
    romeo.send("<presence/>").await;
    assert_eq!(bodies(&mut romeo).await, ["one", "two"]);
}
