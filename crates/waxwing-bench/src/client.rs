//! A minimal async XMPP client connection: TCP (optionally bound to a
//! source address), STARTTLS or direct TLS, SASL (SCRAM or PLAIN), resource
//! binding, and a clean close.
//!
//! Every wait is bounded by the target's per-step timeout and every problem
//! becomes a [`Failure`]; nothing here panics on what the server sends.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use waxwing_sasl::{HashAlg, ScramClient};
use waxwing_xml::{Element, Limits, StreamEvent, StreamReader, escape_attribute};

use crate::cli::{MechanismOpt, TlsMode};
use crate::failure::{Failure, Step};
use crate::target::Target;

pub const NS_CLIENT: &str = "jabber:client";
pub const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
pub const NS_STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
pub const NS_STANZA_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
pub const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
pub const NS_SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
pub const NS_PING: &str = "urn:xmpp:ping";

/// Read buffer of a connection during login and while idle; `messages`
/// receivers use [`Connection::set_read_buffer`] for a larger one.
const SMALL_READ_BUFFER: usize = 4096;

/// Stanzas skipped while waiting for a specific reply (e.g. the bind
/// result) before giving up: a server flooding us is a failure, not a hang.
const MAX_SKIPPED: usize = 100;

/// The byte stream under the XML: TCP, or TLS over TCP.
pub enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while the TCP stream is inside the TLS connector; if the
    /// handshake fails the connection is dropped in this state.
    Gone,
}

impl AsyncRead for Io {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Io::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Io::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Io::Gone => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Io::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// An XML stream to the server.
pub struct Connection {
    io: Io,
    reader: StreamReader,
    buf: Vec<u8>,
    timeout: Duration,
    domain: String,
}

/// A logged-in, bound session.
pub struct Session {
    pub conn: Connection,
    /// The full JID the server bound.
    pub jid: String,
    /// From starting the TCP connect to receiving the bind result.
    pub login_latency: Duration,
}

/// Logs `user` in with the target's resource; see [`login_as`].
pub async fn login(target: &Target, user: &str) -> Result<Session, Failure> {
    login_as(target, user, &target.resource).await
}

/// Logs `user` in: connect, TLS, SASL, bind `resource` (and the legacy
/// session request where the server demands it), then sends initial
/// presence.
pub async fn login_as(target: &Target, user: &str, resource: &str) -> Result<Session, Failure> {
    let mut session = login_without_presence(target, user, resource).await?;
    session.conn.send(b"<presence/>", Step::Session).await?;
    Ok(session)
}

/// [`login_as`] without the initial presence, for callers that send their
/// own (`presence` stamps it) or must not be available yet (roster setup).
pub async fn login_without_presence(target: &Target, user: &str, resource: &str) -> Result<Session, Failure> {
    let started = Instant::now();
    let (mut conn, features) = Connection::secure(target).await?;
    conn.authenticate(target, user, &features).await?;
    let features = conn.open_stream().await?;
    let jid = conn.bind(resource).await?;
    if let Some(session) = features.get_child("session", NS_SESSION)
        && session.get_child("optional", NS_SESSION).is_none()
    {
        conn.legacy_session().await?;
    }
    let login_latency = started.elapsed();
    Ok(Session { conn, jid, login_latency })
}

/// Opens a TCP connection to the target, bound to the next source address
/// if `--source-ips` was given.
pub async fn connect_tcp(target: &Target) -> Result<TcpStream, Failure> {
    let addr = target.addr;
    let connect = async {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }?;
        if let Some(ips) = &target.source_ips {
            socket.bind(SocketAddr::new(ips.next(), 0))?;
        }
        socket.connect(addr).await
    };
    let tcp = match tokio::time::timeout(target.timeout, connect).await {
        Err(_) => return Err(Failure::Timeout(Step::Connect)),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => return Err(Failure::ConnectRefused),
        Ok(Err(e)) => return Err(Failure::Connect(e.kind())),
        Ok(Ok(tcp)) => tcp,
    };
    // Stanzas are small and latency is what we measure: no Nagle delay.
    tcp.set_nodelay(true).map_err(|e| Failure::Connect(e.kind()))?;
    Ok(tcp)
}

impl Connection {
    /// Connects and sets up TLS (direct or STARTTLS); returns the stream
    /// features offered over TLS.
    pub async fn secure(target: &Target) -> Result<(Connection, Element), Failure> {
        let mut conn = Connection::connect(target).await?;
        let mut features = conn.open_stream().await?;
        if target.tls_mode == TlsMode::Starttls {
            if features.get_child("starttls", NS_TLS).is_none() {
                return Err(Failure::Protocol("starttls-not-offered"));
            }
            conn.send(format!("<starttls xmlns='{NS_TLS}'/>").as_bytes(), Step::Starttls).await?;
            let reply = conn.next_stanza(Step::Starttls).await?;
            if !reply.is("proceed", NS_TLS) {
                return Err(Failure::Tls("starttls-failure".into()));
            }
            conn.start_tls(target).await?;
            features = conn.open_stream().await?;
        }
        Ok((conn, features))
    }

    /// TCP connect, plus the TLS handshake for direct TLS.
    pub async fn connect(target: &Target) -> Result<Connection, Failure> {
        let tcp = connect_tcp(target).await?;
        let mut conn = Connection {
            io: Io::Plain(tcp),
            reader: StreamReader::new(Limits::default()),
            buf: vec![0; SMALL_READ_BUFFER],
            timeout: target.timeout,
            domain: target.domain.clone(),
        };
        if target.tls_mode == TlsMode::Direct {
            conn.start_tls(target).await?;
        }
        Ok(conn)
    }

    /// Replaces the read buffer (larger for high-rate receivers).
    pub fn set_read_buffer(&mut self, size: usize) {
        self.buf = vec![0; size.max(512)];
    }

    /// TLS handshake on the plain TCP stream, then a fresh XML stream.
    async fn start_tls(&mut self, target: &Target) -> Result<(), Failure> {
        let Io::Plain(tcp) = std::mem::replace(&mut self.io, Io::Gone) else {
            return Err(Failure::Protocol("tls-twice"));
        };
        let connector = TlsConnector::from(target.tls_config.clone());
        let tls = match tokio::time::timeout(self.timeout, connector.connect(target.server_name.clone(), tcp)).await {
            Err(_) => return Err(Failure::Timeout(Step::Tls)),
            Ok(Err(e)) => return Err(Failure::Tls(tls_error_key(&e))),
            Ok(Ok(tls)) => tls,
        };
        self.io = Io::Tls(Box::new(tls));
        self.reader.reset();
        Ok(())
    }

    /// Sends our stream header; returns the server's `<stream:features/>`.
    pub async fn open_stream(&mut self) -> Result<Element, Failure> {
        let header = format!(
            "<?xml version='1.0'?><stream:stream xmlns='{NS_CLIENT}' xmlns:stream='{NS_STREAMS}' to='{}' version='1.0'>",
            attr(&self.domain)
        );
        self.send(header.as_bytes(), Step::Stream).await?;
        match self.next_event(Step::Stream).await? {
            StreamEvent::Open(_) => {}
            StreamEvent::Stanza(el) => return Err(stanza_failure(&el, "expected-stream-header")),
            StreamEvent::Close => return Err(Failure::Closed(Step::Stream)),
        }
        let features = self.next_stanza(Step::Stream).await?;
        if !features.is("features", NS_STREAMS) {
            return Err(Failure::Protocol("expected-features"));
        }
        Ok(features)
    }

    /// Runs the SASL exchange with the configured mechanism.
    async fn authenticate(&mut self, target: &Target, user: &str, features: &Element) -> Result<(), Failure> {
        let name = target.mechanism.name();
        let offered = features
            .get_child("mechanisms", NS_SASL)
            .is_some_and(|m| m.elements().any(|e| e.is("mechanism", NS_SASL) && e.text().trim() == name));
        if !offered {
            return Err(Failure::Sasl("mechanism-not-offered".into()));
        }
        let hash = match target.mechanism {
            MechanismOpt::Plain => return self.plain(user, &target.password).await,
            MechanismOpt::ScramSha1 => HashAlg::Sha1,
            MechanismOpt::ScramSha256 => HashAlg::Sha256,
            MechanismOpt::ScramSha512 => HashAlg::Sha512,
        };
        let scram = ScramClient::new(hash, user, &target.password, None);
        let mut scram = target.scram_cache.prime(user, hash, scram);
        let first = BASE64.encode(scram.client_first());
        self.send(format!("<auth xmlns='{NS_SASL}' mechanism='{name}'>{first}</auth>").as_bytes(), Step::Sasl).await?;
        let challenge = self.sasl_reply().await?;
        if !challenge.is("challenge", NS_SASL) {
            return Err(Failure::Protocol("expected-sasl-challenge"));
        }
        let server_first = decode_base64(&challenge.text())?;
        let client_final =
            scram.handle_server_first(&server_first).map_err(|_| Failure::Sasl("malformed-challenge".into()))?;
        let response = format!("<response xmlns='{NS_SASL}'>{}</response>", BASE64.encode(client_final));
        self.send(response.as_bytes(), Step::Sasl).await?;
        let outcome = self.sasl_reply().await?;
        if !outcome.is("success", NS_SASL) {
            return Err(Failure::Protocol("expected-sasl-success"));
        }
        // RFC 6120 §6.4.6: the additional data (v=...) is in <success/>.
        let server_final = decode_base64(&outcome.text())?;
        scram.verify_server_final(&server_final).map_err(|_| Failure::Sasl("bad-server-signature".into()))?;
        target.scram_cache.store(user, hash, &scram);
        self.reader.reset();
        Ok(())
    }

    async fn plain(&mut self, user: &str, password: &str) -> Result<(), Failure> {
        let payload = BASE64.encode(format!("\0{user}\0{password}"));
        self.send(format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{payload}</auth>").as_bytes(), Step::Sasl).await?;
        let outcome = self.sasl_reply().await?;
        if !outcome.is("success", NS_SASL) {
            return Err(Failure::Protocol("expected-sasl-success"));
        }
        self.reader.reset();
        Ok(())
    }

    /// The next SASL element; `<failure/>` becomes `sasl:<condition>`.
    async fn sasl_reply(&mut self) -> Result<Element, Failure> {
        let el = self.next_stanza(Step::Sasl).await?;
        if el.is("failure", NS_SASL) {
            return Err(Failure::Sasl(first_condition(&el, NS_SASL).unwrap_or_else(|| "unknown".into())));
        }
        Ok(el)
    }

    /// Binds `resource`; returns the full JID the server assigned.
    async fn bind(&mut self, resource: &str) -> Result<String, Failure> {
        let request = format!(
            "<iq type='set' id='bind'><bind xmlns='{NS_BIND}'><resource>{}</resource></bind></iq>",
            text(resource)
        );
        self.send(request.as_bytes(), Step::Bind).await?;
        let reply = self.iq_reply("bind", Step::Bind).await?;
        reply
            .get_child("bind", NS_BIND)
            .and_then(|b| b.get_child("jid", NS_BIND))
            .map(|j| j.text().trim().to_owned())
            .filter(|j| !j.is_empty())
            .ok_or(Failure::Protocol("bind-result-without-jid"))
    }

    /// RFC 3921 session establishment, for servers that still require it.
    async fn legacy_session(&mut self) -> Result<(), Failure> {
        let request = format!("<iq type='set' id='sess'><session xmlns='{NS_SESSION}'/></iq>");
        self.send(request.as_bytes(), Step::Bind).await?;
        self.iq_reply("sess", Step::Bind).await.map(drop)
    }

    /// Waits for the result of the IQ `id`, answering pings meanwhile; an
    /// error reply becomes `register:<condition>` in the register step,
    /// `roster:<condition>` in the roster step, else `bind:<condition>`.
    pub async fn iq_reply(&mut self, id: &str, step: Step) -> Result<Element, Failure> {
        for _ in 0..MAX_SKIPPED {
            let el = self.next_stanza(step).await?;
            if let Some(pong) = ping_reply(&el) {
                self.send(&pong, step).await?;
                continue;
            }
            if !el.is("iq", NS_CLIENT) || el.attr("id") != Some(id) {
                continue;
            }
            return match el.attr("type") {
                Some("result") => Ok(el),
                _ if step == Step::Register => Err(Failure::Register(stanza_error_condition(&el))),
                _ if step == Step::Roster => Err(Failure::Roster(stanza_error_condition(&el))),
                _ => Err(Failure::Bind(stanza_error_condition(&el))),
            };
        }
        Err(Failure::Protocol("too-many-unexpected-stanzas"))
    }

    /// Writes and flushes, within the timeout.
    pub async fn send(&mut self, bytes: &[u8], step: Step) -> Result<(), Failure> {
        let write = async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Err(_) => Err(Failure::Timeout(step)),
            Ok(Err(_)) => Err(Failure::Io(step)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Writes and flushes without a timeout: for senders whose pace is
    /// set by the server's backpressure. Callers bound the run otherwise.
    pub async fn send_untimed(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.io.write_all(bytes).await.map_err(|_| Failure::Io(Step::Session))?;
        self.io.flush().await.map_err(|_| Failure::Io(Step::Session))
    }

    /// The next event, within the timeout.
    async fn next_event(&mut self, step: Step) -> Result<StreamEvent, Failure> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if let Some(event) = self.poll_event()? {
                return Ok(event);
            }
            match tokio::time::timeout_at(deadline, self.read_more(step)).await {
                Err(_) => return Err(Failure::Timeout(step)),
                Ok(result) => result?,
            }
        }
    }

    /// The next top-level element; a stream error or close is a failure.
    async fn next_stanza(&mut self, step: Step) -> Result<Element, Failure> {
        match self.next_event(step).await? {
            StreamEvent::Stanza(el) if el.is("error", NS_STREAMS) => Err(stream_error(&el)),
            StreamEvent::Stanza(el) => Ok(el),
            StreamEvent::Close => Err(Failure::Closed(step)),
            StreamEvent::Open(_) => Err(Failure::Protocol("unexpected-stream-header")),
        }
    }

    /// An already received event, if any; never waits.
    pub fn poll_event(&mut self) -> Result<Option<StreamEvent>, Failure> {
        self.reader.next_event().map_err(|e| Failure::Xml(e.condition()))
    }

    /// Reads once from the socket (no timeout) and feeds the parser. End
    /// of file is `closed:<step>`.
    pub async fn read_more(&mut self, step: Step) -> Result<(), Failure> {
        match self.io.read(&mut self.buf).await {
            Ok(0) => Err(Failure::Closed(step)),
            Ok(n) => {
                self.reader.feed(&self.buf[..n]);
                Ok(())
            }
            Err(_) => Err(Failure::Io(step)),
        }
    }

    /// Deals with an event no scenario-specific code wanted: answers pings,
    /// ignores other stanzas (ejabberd's presence to self, roster pushes,
    /// ...), and turns a stream error or close into a failure.
    pub async fn handle_other(&mut self, event: StreamEvent) -> Result<(), Failure> {
        match event {
            StreamEvent::Stanza(el) if el.is("error", NS_STREAMS) => Err(stream_error(&el)),
            StreamEvent::Stanza(el) => match ping_reply(&el) {
                Some(pong) => self.send(&pong, Step::Session).await,
                None => Ok(()),
            },
            StreamEvent::Close => Err(Failure::Closed(Step::Session)),
            StreamEvent::Open(_) => Err(Failure::Protocol("unexpected-stream-header")),
        }
    }

    /// Keeps the session open until `stop` turns true (or its sender is
    /// dropped), answering pings; then closes cleanly.
    pub async fn hold(mut self, mut stop: watch::Receiver<bool>) -> Result<(), Failure> {
        loop {
            while let Some(event) = self.poll_event()? {
                self.handle_other(event).await?;
            }
            if *stop.borrow_and_update() {
                break;
            }
            tokio::select! {
                read = self.read_more(Step::Session) => read?,
                changed = stop.changed() => if changed.is_err() { break },
            }
        }
        self.close().await
    }

    /// Closes cleanly: `</stream:stream>`, wait (bounded) for the server's
    /// close, then shut the transport down (TLS close_notify, TCP FIN).
    pub async fn close(mut self) -> Result<(), Failure> {
        self.send(b"</stream:stream>", Step::Close).await?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let result = loop {
            match self.poll_event() {
                Ok(Some(StreamEvent::Close)) => break Ok(()),
                Ok(Some(_)) => continue,
                // The server may send garbage or nothing parseable after
                // our close; it is still closed as far as we are concerned.
                Err(_) => break Ok(()),
                Ok(None) => {}
            }
            match tokio::time::timeout_at(deadline, self.read_more(Step::Close)).await {
                Err(_) => break Err(Failure::Timeout(Step::Close)),
                // EOF without </stream:stream> is fine too: the server closed.
                Ok(Err(_)) => break Ok(()),
                Ok(Ok(())) => {}
            }
        };
        let _ = tokio::time::timeout(self.timeout, self.io.shutdown()).await;
        result
    }
}

/// Answers to what a server may send a session on its own. Returns the
/// reply to a ping (XEP-0199), so long idle runs are not dropped; anything
/// else is ignored by callers.
pub fn ping_reply(el: &Element) -> Option<Vec<u8>> {
    if !(el.is("iq", NS_CLIENT) && el.attr("type") == Some("get") && el.get_child("ping", NS_PING).is_some()) {
        return None;
    }
    let mut out = b"<iq type='result' id='".to_vec();
    escape_attribute(&mut out, el.attr("id").unwrap_or(""));
    out.push(b'\'');
    if let Some(from) = el.attr("from") {
        out.extend_from_slice(b" to='");
        escape_attribute(&mut out, from);
        out.push(b'\'');
    }
    out.extend_from_slice(b"/>");
    Some(out)
}

/// `stream-error:<condition>` for a `<stream:error/>`.
pub fn stream_error(el: &Element) -> Failure {
    Failure::StreamError(first_condition(el, NS_STREAM_ERRORS).unwrap_or_else(|| "unknown".into()))
}

/// A stream error if `el` is one, else a protocol failure named `what`.
fn stanza_failure(el: &Element, what: &'static str) -> Failure {
    if el.is("error", NS_STREAMS) { stream_error(el) } else { Failure::Protocol(what) }
}

/// The condition of a stanza error (`<error><item-not-found/>...`).
pub fn stanza_error_condition(el: &Element) -> String {
    el.get_child("error", NS_CLIENT)
        .and_then(|e| first_condition(e, NS_STANZA_ERRORS))
        .unwrap_or_else(|| "unknown".into())
}

/// The first child in `ns` other than `<text/>`: the defined condition.
fn first_condition(el: &Element, ns: &str) -> Option<String> {
    el.elements().find(|c| c.ns == ns && c.name != "text").map(|c| c.name.clone())
}

fn decode_base64(text: &str) -> Result<Vec<u8>, Failure> {
    let text = text.trim();
    // RFC 6120 §6.4.2: "=" stands for empty data.
    if text == "=" {
        return Ok(Vec::new());
    }
    BASE64.decode(text).map_err(|_| Failure::Sasl("incorrect-encoding".into()))
}

/// Escapes an attribute value.
pub fn attr(value: &str) -> String {
    let mut out = Vec::with_capacity(value.len());
    escape_attribute(&mut out, value);
    String::from_utf8(out).unwrap_or_default()
}

/// Escapes character data (the attribute escaping is a valid superset).
pub fn text(value: &str) -> String {
    attr(value)
}

/// A short key for a TLS handshake error.
fn tls_error_key(e: &io::Error) -> String {
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        return match tls {
            rustls::Error::InvalidCertificate(_) => "invalid-certificate".into(),
            rustls::Error::AlertReceived(alert) => format!("alert-{alert:?}").to_lowercase(),
            rustls::Error::NoApplicationProtocol => "no-application-protocol".into(),
            _ => "handshake".into(),
        };
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => "closed".into(),
        _ => "io".into(),
    }
}
