//! The `waxwing` binary as an operator uses it: user commands on the
//! database, config check, and `serve` with its signals (SIGTERM closes every
//! stream with `system-shutdown`; SIGHUP reloads certificates without
//! dropping sessions).

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use support::binary::{BIN, Setup, setup};
use support::*;
use waxwing_sasl::HashAlg;

fn waxwing(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN).arg("--config").arg(config).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version() {
    let o = Command::new(BIN).arg("--version").output().unwrap();
    assert!(o.status.success());
    assert!(stdout(&o).starts_with("waxwing "), "{}", stdout(&o));
}

#[test]
fn user_commands_work_on_the_database() {
    let s = setup();
    let o = waxwing(&s.config, &["user", "add", "alice@localhost", "secret"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A bare localpart means the only host; the password can come from stdin.
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&s.config)
        .args(["user", "add", "Bob"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"from stdin\n").unwrap();
    assert!(child.wait().unwrap().success());
    let o = waxwing(&s.config, &["user", "add", "alice@localhost", "again"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    let o = waxwing(&s.config, &["user", "list"]);
    assert_eq!(stdout(&o), "alice@localhost\nbob@localhost\n");
    assert!(waxwing(&s.config, &["user", "passwd", "alice", "changed"]).status.success());
    let o = waxwing(&s.config, &["user", "passwd", "nobody", "x"]);
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    let o = waxwing(&s.config, &["user", "add", "carol@example.org", "x"]);
    assert!(stderr(&o).contains("not a host"), "{}", stderr(&o));
    assert!(waxwing(&s.config, &["user", "remove", "bob@localhost"]).status.success());
    assert_eq!(stdout(&waxwing(&s.config, &["user", "list"])), "alice@localhost\n");
    // The password is never stored in the clear.
    let db = std::fs::read(s.dir.path().join("data/waxwing.db")).unwrap();
    assert!(!db.windows(7).any(|w| w == b"changed"));
}

#[test]
fn config_check_names_the_bad_key() {
    let s = setup();
    let o = Command::new(BIN).args(["config", "check"]).arg(&s.config).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("ok"));
    let bad = s.dir.path().join("bad.toml");
    std::fs::write(&bad, "[limits]\nmax_stanza_bytes = 10\n").unwrap();
    let o = Command::new(BIN).args(["config", "check"]).arg(&bad).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("limits.max_stanza_bytes"), "{}", stderr(&o));
    std::fs::write(&bad, "[c2s]\nlistn = []\n").unwrap();
    let o = Command::new(BIN).args(["config", "check"]).arg(&bad).output().unwrap();
    assert!(stderr(&o).contains("listn"), "{}", stderr(&o));
}

struct Served {
    child: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(s: &Setup) -> Served {
    let child = Command::new(BIN).arg("--config").arg(&s.config).arg("serve").stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while tokio::net::TcpStream::connect(s.c2s).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Served { child }
}

fn signal(served: &Served, name: &str) {
    let ok = Command::new("kill").arg(format!("-{name}")).arg(served.child.id().to_string()).status().unwrap();
    assert!(ok.success());
}

fn cert(s: &Setup) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(s.dir.path().join("data/certs/localhost.crt")).unwrap()
}

async fn login(s: &Setup, user: &str, resource: &str) -> Client {
    let mut c = Client::connect(s.c2s).await;
    c.open("localhost").await;
    c.starttls(cert(s)).await;
    c.open("localhost").await;
    c.scram(user, "pw", HashAlg::Sha256, None).await.unwrap();
    c.open("localhost").await;
    c.bind(Some(resource)).await;
    c
}

#[tokio::test]
async fn sigterm_closes_every_stream_with_system_shutdown() {
    let s = setup();
    assert!(waxwing(&s.config, &["user", "add", "alice", "pw"]).status.success());
    let mut served = serve(&s).await;
    let mut a = login(&s, "alice", "one").await;
    let mut b = login(&s, "alice", "two").await;
    // One still negotiating: it gets the same error.
    let mut c = Client::connect(s.c2s).await;
    c.open("localhost").await;
    signal(&served, "TERM");
    a.expect_stream_error("system-shutdown").await;
    b.expect_stream_error("system-shutdown").await;
    c.expect_stream_error("system-shutdown").await;
    let status = tokio::task::spawn_blocking(move || served.child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn sighup_reloads_certificates_without_dropping_sessions() {
    let s = setup();
    assert!(waxwing(&s.config, &["user", "add", "alice", "pw"]).status.success());
    let served = serve(&s).await;
    let old = cert(&s);
    let mut a = login(&s, "alice", "kept").await;
    // Remove the self-signed pair: the reload generates a new one.
    std::fs::remove_file(s.dir.path().join("data/certs/localhost.crt")).unwrap();
    std::fs::remove_file(s.dir.path().join("data/certs/localhost.key")).unwrap();
    signal(&served, "HUP");
    let started = Instant::now();
    while !s.dir.path().join("data/certs/localhost.key").exists() {
        assert!(started.elapsed() < Duration::from_secs(10), "no reload");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let new = cert(&s);
    assert_ne!(old, new);
    // New connections get the new certificate…
    let mut b = login(&s, "alice", "new").await;
    assert_eq!(b.server_cert.as_ref(), Some(&new));
    // …and the old session is still there.
    b.send("<message to='alice@localhost/kept'><body>after reload</body></message>").await;
    assert_eq!(a.stanza().await.get_child("body", NS_CLIENT).unwrap().text(), "after reload");
}
