//! Test support: a server started in-process on ephemeral ports with a
//! temporary database, and a raw-socket XMPP client that speaks the protocol
//! byte by byte so tests can assert exactly what goes over the wire.

#![allow(dead_code)] // each test binary uses a different subset

pub mod binary;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use waxwing::{Config, Running};
use waxwing_bench::cli::TlsMode;
use waxwing_bench::client::Io;
use waxwing_bench::tls::Trust;
use waxwing_sasl::{HashAlg, ScramClient};
use waxwing_xml::{Element, Limits, StreamEvent, StreamHeader, StreamReader};

pub const NS_CLIENT: &str = "jabber:client";
pub const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
pub const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
pub const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
pub const NS_STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
pub const NS_STANZA_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const PASSWORD: &str = "correct horse battery staple";

/// How long a test waits for any expected byte before failing.
const WAIT: Duration = Duration::from_secs(15);

pub struct TestServer {
    pub running: Option<Running>,
    pub config: Config,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a `localhost` server on 127.0.0.1 ephemeral ports; `tweak` may change the config.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config { data_dir: dir.path().join("data"), ..Config::default() };
        config.c2s.listen = vec!["127.0.0.1:0".parse().unwrap()];
        config.c2s.direct_tls_listen = vec!["127.0.0.1:0".parse().unwrap()];
        // Keep PBKDF2 cheap in tests: the minimum RFC 7677 allows.
        config.auth.scram_iterations = 4096;
        tweak(&mut config);
        let running = waxwing::start(config.clone()).await.expect("server starts");
        TestServer { running: Some(running), config, dir }
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("server running")
    }

    pub fn c2s_addr(&self) -> SocketAddr {
        self.running().c2s_addrs[0]
    }

    pub fn direct_tls_addr(&self) -> SocketAddr {
        self.running().direct_tls_addrs[0]
    }

    pub async fn add_user(&self, user: &str) {
        self.add_user_with_password(user, PASSWORD).await
    }

    pub async fn add_user_with_password(&self, user: &str, password: &str) {
        let jid = waxwing::users::account(&self.config, user).unwrap();
        waxwing::users::add(&self.running().server.store, &self.config, &jid, password).await.unwrap();
    }

    /// Stops the server and starts it again on the same data directory (new ports).
    pub async fn restart(&mut self) {
        self.shutdown().await;
        self.running = Some(waxwing::start(self.config.clone()).await.expect("server restarts"));
    }

    /// Logs in and sends initial presence, consuming what the server sends
    /// back until `quiet` passes without a stanza (its own presence, probes' answers…).
    pub async fn login_available(&self, user: &str, resource: &str) -> Client {
        let mut client = self.login(user, resource).await;
        client.send("<presence/>").await;
        client.drain(Duration::from_millis(300)).await;
        client
    }

    /// The certificate the server serves for `localhost`, to pin in clients.
    pub fn certificate(&self) -> CertificateDer<'static> {
        self.running().certs.certified_key("localhost").unwrap().cert[0].clone()
    }

    pub async fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// A client logged in over STARTTLS with SCRAM-SHA-256 and bound to `resource`.
    pub async fn login(&self, user: &str, resource: &str) -> Client {
        let mut client = Client::connect(self.c2s_addr()).await;
        client.open("localhost").await;
        client.starttls(self.certificate()).await;
        client.open("localhost").await;
        client.scram(user, PASSWORD, HashAlg::Sha256, None).await.expect("SCRAM succeeds");
        client.open("localhost").await;
        client.bind(Some(resource)).await;
        client
    }
}

/// What a client saw when the stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// `<stream:error>` with this condition, then the close.
    StreamError(String),
    /// `</stream:stream>` without an error.
    Closed,
    /// The connection dropped without either.
    Eof,
}

pub struct Client {
    io: Io,
    reader: StreamReader,
    pub header: Option<StreamHeader>,
    pub features: Option<Element>,
    pub jid: Option<String>,
    /// Channel-binding data seen by the client after TLS: (tls-exporter, server cert).
    pub exporter: Option<Vec<u8>>,
    pub server_cert: Option<CertificateDer<'static>>,
    /// The TLS server name to ask for.
    pub sni: String,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).unwrap();
        Client {
            io: Io::Plain(tcp),
            reader: StreamReader::new(Limits { max_stanza_bytes: 16 << 20, ..Limits::default() }),
            header: None,
            features: None,
            jid: None,
            exporter: None,
            server_cert: None,
            sni: "localhost".to_string(),
        }
    }

    /// Connects with direct TLS (XEP-0368), offering ALPN `xmpp-client`.
    pub async fn connect_direct_tls(addr: SocketAddr, cert: CertificateDer<'static>) -> Client {
        Self::connect_direct_tls_to(addr, cert, "localhost").await
    }

    /// Direct TLS asking for `sni` as the server name.
    pub async fn connect_direct_tls_to(addr: SocketAddr, cert: CertificateDer<'static>, sni: &str) -> Client {
        let mut client = Client::connect(addr).await;
        client.sni = sni.to_string();
        client.tls_handshake(cert, true).await;
        client
    }

    pub async fn send(&mut self, text: &str) {
        self.send_bytes(text.as_bytes()).await;
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("write");
        self.io.flush().await.expect("flush");
    }

    /// Like `send_bytes` but tolerates the server having already closed.
    pub async fn try_send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// The next stream event; `None` on EOF. Panics after `WAIT`.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        tokio::time::timeout(WAIT, self.next_untimed()).await.expect("timed out waiting for the server")
    }

    async fn next_untimed(&mut self) -> Option<StreamEvent> {
        let mut buf = [0u8; 8192];
        loop {
            match self.reader.next_event() {
                Ok(Some(ev)) => return Some(ev),
                Ok(None) => {}
                Err(e) => panic!("server sent bad XML: {e:?}"),
            }
            match self.io.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.reader.feed(&buf[..n]),
            }
        }
    }

    pub async fn stanza(&mut self) -> Element {
        match self.next().await {
            Some(StreamEvent::Stanza(el)) => el,
            other => panic!("expected a stanza, got {other:?}"),
        }
    }

    /// Everything that arrives until the server has been quiet for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Element> {
        let mut out = Vec::new();
        while let Ok(Some(StreamEvent::Stanza(el))) = tokio::time::timeout(quiet, self.next_untimed()).await {
            out.push(el);
        }
        out
    }

    /// Waits for `timeout` and asserts nothing arrived.
    pub async fn expect_silence(&mut self, timeout: Duration) {
        if let Ok(ev) = tokio::time::timeout(timeout, self.next_untimed()).await {
            panic!("expected nothing, got {ev:?}");
        }
    }

    /// Reads until the stream ends and says how.
    pub async fn ended(&mut self) -> Ended {
        let mut error = None;
        loop {
            match self.next().await {
                Some(StreamEvent::Stanza(el)) if el.is("error", NS_STREAMS) => {
                    let condition = el.elements().find(|c| c.ns == NS_STREAM_ERRORS && c.name != "text");
                    error = Some(condition.map(|c| c.name.clone()).unwrap_or_default());
                }
                Some(StreamEvent::Stanza(_)) | Some(StreamEvent::Open(_)) => {}
                Some(StreamEvent::Close) => return error.map(Ended::StreamError).unwrap_or(Ended::Closed),
                None => return error.map(Ended::StreamError).unwrap_or(Ended::Eof),
            }
        }
    }

    /// Expects a stream error with `condition`, and the connection to close after it.
    pub async fn expect_stream_error(&mut self, condition: &str) {
        assert_eq!(self.ended().await, Ended::StreamError(condition.to_string()));
    }

    /// Sends our stream header and reads the server's header and features.
    pub async fn open(&mut self, domain: &str) -> Element {
        self.open_with(domain, "").await
    }

    /// Opens a stream whose header also carries `extra` attributes (e.g. ` xml:lang='fr'`).
    pub async fn open_with(&mut self, domain: &str, extra: &str) -> Element {
        self.send(&format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'{extra}>"
        ))
        .await;
        match self.next().await {
            Some(StreamEvent::Open(header)) => self.header = Some(header),
            other => panic!("expected a stream header, got {other:?}"),
        }
        let features = self.stanza().await;
        assert!(features.is("features", NS_STREAMS), "expected features, got {features}");
        self.features = Some(features.clone());
        features
    }

    pub fn mechanisms(&self) -> Vec<String> {
        self.features
            .as_ref()
            .and_then(|f| f.get_child("mechanisms", NS_SASL))
            .map(|m| m.elements().map(|e| e.text()).collect())
            .unwrap_or_default()
    }

    pub async fn starttls(&mut self, cert: CertificateDer<'static>) {
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await;
        let proceed = self.stanza().await;
        assert!(proceed.is("proceed", NS_TLS), "expected proceed, got {proceed}");
        self.tls_handshake(cert, false).await;
    }

    async fn tls_handshake(&mut self, cert: CertificateDer<'static>, alpn: bool) {
        let Io::Plain(tcp) = std::mem::replace(&mut self.io, Io::Gone) else { panic!("already TLS") };
        // The load generator's TLS set-up: the server's certificate pinned,
        // handshake signatures verified; ALPN `xmpp-client` for direct TLS.
        let mode = if alpn { TlsMode::Direct } else { TlsMode::Starttls };
        let config = waxwing_bench::tls::client_config(&Trust::Certificates(vec![cert]), mode).unwrap();
        let tls = TlsConnector::from(config)
            .connect(ServerName::try_from(self.sni.clone()).unwrap(), tcp)
            .await
            .expect("TLS handshake");
        let mut exporter = vec![0u8; 32];
        tls.get_ref().1.export_keying_material(&mut exporter, b"EXPORTER-Channel-Binding", None).unwrap();
        self.exporter = Some(exporter);
        self.server_cert = tls.get_ref().1.peer_certificates().map(|c| c[0].clone().into_owned());
        self.io = Io::Tls(Box::new(tls));
        self.reader.reset();
    }

    /// Runs a SCRAM exchange. `Err(condition)` on a SASL failure.
    pub async fn scram(
        &mut self,
        user: &str,
        password: &str,
        hash: HashAlg,
        cb: Option<(String, Vec<u8>)>,
    ) -> Result<(), String> {
        let plus = cb.is_some();
        let mut scram = ScramClient::new(hash, user, password, cb);
        let mechanism = format!("SCRAM-{}{}", hash.name(), if plus { "-PLUS" } else { "" });
        let first = BASE64.encode(scram.client_first());
        self.send(&format!("<auth xmlns='{NS_SASL}' mechanism='{mechanism}'>{first}</auth>")).await;
        let challenge = self.stanza().await;
        if challenge.is("failure", NS_SASL) {
            return Err(failure_condition(&challenge));
        }
        assert!(challenge.is("challenge", NS_SASL), "expected challenge, got {challenge}");
        let server_first = BASE64.decode(challenge.text()).unwrap();
        let client_final = scram.handle_server_first(&server_first).map_err(|e| format!("client: {e:?}"))?;
        self.send(&format!("<response xmlns='{NS_SASL}'>{}</response>", BASE64.encode(client_final))).await;
        let outcome = self.stanza().await;
        if outcome.is("failure", NS_SASL) {
            return Err(failure_condition(&outcome));
        }
        assert!(outcome.is("success", NS_SASL), "expected success, got {outcome}");
        let server_final = BASE64.decode(outcome.text()).unwrap();
        scram.verify_server_final(&server_final).expect("server signature verifies");
        self.reader.reset();
        Ok(())
    }

    pub async fn plain(&mut self, user: &str, password: &str) -> Result<(), String> {
        let payload = BASE64.encode(format!("\0{user}\0{password}"));
        self.send(&format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{payload}</auth>")).await;
        let outcome = self.stanza().await;
        if outcome.is("failure", NS_SASL) {
            return Err(failure_condition(&outcome));
        }
        assert!(outcome.is("success", NS_SASL), "expected success, got {outcome}");
        self.reader.reset();
        Ok(())
    }

    /// Binds a resource (or asks the server for one) and returns the full JID.
    pub async fn bind(&mut self, resource: Option<&str>) -> String {
        let inner = resource.map(|r| format!("<resource>{r}</resource>")).unwrap_or_default();
        self.send(&format!("<iq type='set' id='bind1'><bind xmlns='{NS_BIND}'>{inner}</bind></iq>")).await;
        let reply = self.stanza().await;
        assert_eq!(reply.attr("type"), Some("result"), "bind failed: {reply}");
        let jid = reply.get_child("bind", NS_BIND).and_then(|b| b.get_child("jid", NS_BIND)).unwrap().text();
        self.jid = Some(jid.clone());
        jid
    }

    pub async fn close(&mut self) -> Ended {
        self.send("</stream:stream>").await;
        self.ended().await
    }
}

pub fn failure_condition(failure: &Element) -> String {
    failure.elements().find(|e| e.name != "text").map(|e| e.name.clone()).unwrap_or_default()
}

/// The stanza error condition of an error stanza.
pub fn error_condition(stanza: &Element) -> Option<String> {
    let error = stanza.get_child("error", NS_CLIENT)?;
    error.elements().find(|e| e.ns == NS_STANZA_ERRORS && e.name != "text").map(|e| e.name.clone())
}
