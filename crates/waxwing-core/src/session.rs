//! A client session after authentication: resource binding (RFC 6120 §7),
//! then the loop that reads the client's stanzas, stamps and routes them,
//! and writes what others send it. With XEP-0198 stream management the loop
//! also counts and acknowledges stanzas, and a resumable session outlives
//! its connection ("hibernates") until its client resumes it or time is up.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use waxwing_jid::{Jid, resourceprep};
use waxwing_net::c2s::Authenticated;
use waxwing_net::{ReadError, XmppStream, new_stream_id};
use waxwing_proto::{StanzaError, StanzaErrorCondition, StreamError, StreamErrorCondition, ns, stanza::iq_result};
use waxwing_xml::{Element, StreamEvent};

use crate::hooks::{SessionEvent, StanzaContext};
use crate::registry::{KillSwitch, Outbound, SessionHandle};
use crate::server::Server;
use crate::stream_management::{self as sm, Resumption, SmState, StreamManagementSettings, Takeover, TooHigh};

/// Stanzas written per flush: enough to batch a burst into few TLS records
/// and syscalls, few enough to keep reading the client in between.
const WRITE_BATCH: usize = 64;

/// Quiet time after which a session gives its parser scratch space back.
/// Most sessions are idle most of the time; this keeps them small without
/// freeing and reallocating buffers between the reads of a busy one.
const BUFFER_RELEASE_DELAY: Duration = Duration::from_secs(1);

/// Longest a session told to close after its queue spends writing that queue.
const FLUSH_BEFORE_CLOSE: Duration = Duration::from_secs(2);

/// Runs a client session to its end.
pub async fn run(server: Arc<Server>, auth: Box<Authenticated>) {
    server.live_sessions.fetch_add(1, Ordering::SeqCst);
    let _live = LiveGuard(&server);
    // Each phase is boxed, and each phase's locals go out of scope before the
    // next one is awaited, so that an idle session's future holds only the
    // serving loop, not the union of every phase's state (an idle session's
    // memory is a feature: see bench/RESULTS.md).
    let serving = {
        let Authenticated { stream, jid, declared_lang, .. } = *auth;
        let domain = jid.domain().to_string();
        let Some((stream, bound)) = Box::pin(binding_phase(&server, stream, &jid, &domain)).await else { return };
        let Bound { full, handle, queue, kill } = bound;
        tracing::info!(jid = %full, peer = %stream.peer(), "session bound");
        Box::pin(server.session_event(&full, SessionEvent::Bound)).await;
        let lang = declared_lang.map(String::into_boxed_str);
        let session =
            Box::new(Session { server: &server, full, stream, queue, kill, ping_outstanding: None, sm: None, lang });
        Box::pin(serve(session, handle, domain))
    };
    serving.await
}

/// The bound session's life: serve (hibernating and resuming as XEP-0198
/// allows), then unbind and close.
async fn serve(mut session: Box<Session<'_>>, handle: SessionHandle, domain: String) {
    let mut ending = session.serve().await;
    let ending = loop {
        let (takeover, old_is_open) = match ending {
            // XEP-0198 §5: a client may resume before we noticed its old
            // connection died; that connection is closed, the new one serves.
            Ending::TakenOver(takeover) => (takeover, true),
            ending if session.hibernates_after(&ending) => {
                let (server, id) = (session.server, handle.id());
                server.sessions.set_hibernating(&session.full, id, true);
                let woken = Box::pin(session.hibernate()).await;
                server.sessions.set_hibernating(&session.full, id, false);
                match woken {
                    Ok(takeover) => (Box::new(takeover), false),
                    Err(ending) => break ending,
                }
            }
            ending => break ending,
        };
        let h = session.take_stream(*takeover, old_is_open, &domain);
        ending = match Box::pin(session.resume(h)).await {
            Ok(()) => session.serve().await,
            Err(ending) => ending,
        };
    };
    let presence = session.server.sessions.unbind(&session.full, handle.id());
    let unacked = session.end_stream_management();
    let Session { server, stream, full, queue, .. } = *session;
    // Stanzas written but never acknowledged (XEP-0198), and those still
    // queued, are not lost silently: messages and iq requests are rerouted
    // or bounced as if the session had already gone.
    Box::pin(reroute_unwritten(server, &full, unacked, queue)).await;
    let presence = presence.map(Arc::unwrap_or_clone);
    Box::pin(server.session_event(&full, SessionEvent::Closed { presence })).await;
    Box::pin(finish(stream, ending, &full, &domain)).await;
}

/// Binds a resource, or closes the stream as the failure requires. Returns
/// `None` also when the stream resumed a hibernated session (whose task
/// serves it from then on).
async fn binding_phase(
    server: &Server,
    mut stream: XmppStream,
    jid: &Jid,
    domain: &str,
) -> Option<(XmppStream, Bound)> {
    let mut shutdown = server.shutdown_signal();
    let deadline = Instant::now() + server.settings.bind_timeout;
    loop {
        let binding = tokio::time::timeout_at(deadline, bind(server, &mut stream, jid));
        let error = match tokio::select! {
            bound = binding => bound,
            _ = shutdown.wait_for(|down| *down) => Ok(Err(Ending::Error(StreamError::new(StreamErrorCondition::SystemShutdown)))),
        } {
            Ok(Ok(Binding::Bound(bound))) => return Some((stream, bound)),
            Ok(Ok(Binding::Resume { previd, h })) => match Box::pin(hand_over(server, stream, jid, &previd, h)).await {
                Ok(()) => return None,
                Err(back) => {
                    stream = back;
                    // XEP-0198 §5: unknown, expired, or another account's
                    // session (we do not say which). The client may bind
                    // instead; if the session ended lately, `h` tells it
                    // which of its stanzas were handled.
                    let mut failed = sm::failed("item-not-found");
                    server.durable().await;
                    if let Some(h) = server.sessions.take_ended(&previd, &jid.bare()) {
                        failed.set_attr("h", h.to_string());
                    }
                    let failed = failed.to_bytes(ns::CLIENT);
                    if stream.send(&failed).await.is_err() {
                        return None;
                    }
                    continue;
                }
            },
            Ok(Err(Ending::Error(error))) => error,
            Ok(Err(Ending::ClientClosed)) => {
                stream.close(false).await;
                return None;
            }
            Ok(Err(_)) => return None,
            Err(_) => StreamError::with_text(StreamErrorCondition::ConnectionTimeout, "no resource bound in time"),
        };
        stream.fail(&error, ns::CLIENT, domain).await;
        return None;
    }
}

/// Gives a new connection to the hibernated (or still connected) session
/// resumable as `previd` if it belongs to `account`; hands the stream back
/// when there is no such session (any more).
async fn hand_over(server: &Server, stream: XmppStream, account: &Jid, previd: &str, h: u32) -> Result<(), XmppStream> {
    let Some(takeovers) = server.sessions.resumption(previd, &account.bare()) else { return Err(stream) };
    let (back, returned) = oneshot::channel();
    if let Err(mpsc::error::SendError(takeover)) = takeovers.send(Takeover { stream, h, back }).await {
        return Err(takeover.stream);
    }
    // The session either takes the stream (dropping `back`) or, ending at
    // this very moment, gives it back.
    returned.await.map_or(Ok(()), Err)
}

/// Hands what a closed session never wrote, or wrote without the client
/// acknowledging it, back to the router, which now treats its full JID as
/// unavailable (RFC 6121 §8.5.3.2): messages fall back to the account (another
/// resource, or offline storage), iq requests get `service-unavailable`.
/// Presence is not re-sent: it is stale, and the contacts learn the session
/// is gone from its unavailable presence. Nor are messages from the account's
/// own bare JID: those are copies the server made for this one session
/// (XEP-0280 carbons, XEP-0313 results) of messages that exist elsewhere, and
/// handing them to the other resources would duplicate them there.
async fn reroute_unwritten(
    server: &Server,
    full: &Jid,
    unacked: VecDeque<Box<Element>>,
    mut queue: mpsc::Receiver<Outbound>,
) {
    queue.close();
    let queued = std::iter::from_fn(|| match queue.try_recv() {
        Ok(Outbound::Stanza(stanza)) => Some(stanza),
        Err(_) => None,
    });
    for stanza in unacked.into_iter().chain(queued) {
        let from = stanza.attr("from").and_then(|f| Jid::parse(f).ok());
        let Some(from) = from else { continue };
        let copy = stanza.name == "message" && from.resource().is_none() && from == full.bare();
        if stanza.name == "presence" || copy {
            continue;
        }
        server.reroute_undelivered(&StanzaContext { from, to: full.clone() }, *stanza).await;
    }
}

/// Ends a bound session's stream the way it ended.
async fn finish(stream: XmppStream, ending: Ending, full: &Jid, domain: &str) {
    match ending {
        Ending::Error(error) => {
            tracing::info!(jid = %full, error = %error, "session closed with a stream error");
            stream.fail(&error, ns::CLIENT, domain).await
        }
        Ending::ClientClosed => {
            tracing::info!(jid = %full, "session closed by the client");
            stream.close(false).await
        }
        Ending::TooHigh(too_high) => {
            tracing::info!(jid = %full, h = too_high.h, sent = too_high.sent, "client acknowledged more than was sent");
            let mut stream = stream;
            if stream.send(&sm::too_high_error(&too_high)).await.is_ok() {
                stream.close(false).await;
            }
        }
        Ending::Lost | Ending::TakenOver(_) => tracing::info!(jid = %full, "connection lost"),
    }
}

/// Counts a running session task until it ends, however it ends.
struct LiveGuard<'a>(&'a Server);

impl Drop for LiveGuard<'_> {
    fn drop(&mut self) {
        self.0.live_sessions.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a session ends.
enum Ending {
    /// Send this stream error, then close.
    Error(StreamError),
    /// The client sent `</stream:stream>`: answer with ours.
    ClientClosed,
    /// The connection is gone.
    Lost,
    /// XEP-0198 §4: the client acknowledged stanzas never sent.
    TooHigh(TooHigh),
    /// A new connection resumed this session (XEP-0198 §5).
    TakenOver(Box<Takeover>),
}

impl From<ReadError> for Ending {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Eof | ReadError::Io(_) => Ending::Lost,
            other => other.stream_error().map(Ending::Error).unwrap_or(Ending::Lost),
        }
    }
}

/// What the client did instead of failing: bind, or ask to resume a session.
enum Binding {
    Bound(Bound),
    Resume { previd: String, h: u32 },
}

struct Bound {
    full: Jid,
    handle: SessionHandle,
    queue: mpsc::Receiver<Outbound>,
    kill: Arc<KillSwitch>,
}

/// Waits for the bind request, answering anything else as RFC 6120 §7 asks.
async fn bind(server: &Server, stream: &mut XmppStream, account: &Jid) -> Result<Binding, Ending> {
    loop {
        let el = match stream.next_event().await? {
            StreamEvent::Stanza(el) => el,
            StreamEvent::Close => return Err(Ending::ClientClosed),
            StreamEvent::Open(_) => return Err(Ending::Error(StreamError::new(StreamErrorCondition::BadFormat))),
        };
        if el.ns == sm::NS && server.stream_management().is_some() {
            let answer = match el.name.as_str() {
                // XEP-0198 §5: resumption replaces binding.
                "resume" => match (el.attr("previd"), sm::parse_h(&el)) {
                    (Some(previd), Some(h)) => return Ok(Binding::Resume { previd: previd.to_string(), h }),
                    _ => Some(sm::failed("bad-request")),
                },
                // §3: stream management is enabled after binding.
                "enable" => Some(sm::failed("unexpected-request")),
                // `<r/>`/`<a/>`: nothing is counted before `<enable/>`.
                _ => None,
            };
            if let Some(answer) = answer {
                stream.send(&answer.to_bytes(ns::CLIENT)).await.map_err(|_| Ending::Lost)?;
            }
            continue;
        }
        let is_bind = el.is("iq", ns::CLIENT)
            && el.attr("type") == Some("set")
            && el.elements().count() == 1
            && el.get_child("bind", ns::BIND).is_some();
        if !is_bind {
            // §7.1: no stanzas before a resource is bound.
            return Err(Ending::Error(StreamError::with_text(
                StreamErrorCondition::NotAuthorized,
                "bind a resource first",
            )));
        }
        let request = el.get_child("bind", ns::BIND).expect("checked above");
        let resource = match request.get_child("resource", ns::BIND).map(|r| r.text()) {
            Some(r) if !r.trim().is_empty() => match resourceprep(&r) {
                Ok(r) => r,
                Err(_) => {
                    // §7.7.2.1: a resource that cannot be prepared is `bad-request`.
                    send_error(stream, &el, StanzaErrorCondition::BadRequest).await?;
                    continue;
                }
            },
            // §7.6: the server generates a resource when the client asks it to.
            _ => format!("wx-{}", &new_stream_id()[..12]),
        };
        let Ok(full) = account.with_resource(&resource) else {
            send_error(stream, &el, StanzaErrorCondition::BadRequest).await?;
            continue;
        };
        let (handle, queue, kill) = SessionHandle::new(server.settings.session_queue_len);
        if let Some(replaced) = server.sessions.bind(&full, handle.clone()) {
            // §7.7.2.2: the new session wins; the old one is closed with `conflict`.
            replaced
                .handle
                .kill(StreamError::with_text(StreamErrorCondition::Conflict, "replaced by a new connection"));
            // The old session can no longer unbind (the JID is not its own any
            // more), so its departure is announced here: its contacts must
            // not go on seeing it online (RFC 6121 §4.5.2).
            let presence = replaced.presence.map(Arc::unwrap_or_clone);
            Box::pin(server.session_event(&full, SessionEvent::Closed { presence })).await;
        }
        let mut el = el;
        el.remove_attr("to");
        let reply = iq_result(
            &el,
            Some(Element::new("bind", ns::BIND).with_child(Element::new("jid", ns::BIND).with_text(full.to_string()))),
        );
        stream.send(&reply.to_bytes(ns::CLIENT)).await.map_err(|_| Ending::Lost)?;
        return Ok(Binding::Bound(Bound { full, handle, queue, kill }));
    }
}

async fn send_error(stream: &mut XmppStream, request: &Element, condition: StanzaErrorCondition) -> Result<(), Ending> {
    if let Some(reply) = StanzaError::new(condition).reply_to(request) {
        stream.send(&reply.to_bytes(ns::CLIENT)).await.map_err(|_| Ending::Lost)?;
    }
    Ok(())
}

struct Session<'a> {
    server: &'a Server,
    full: Jid,
    stream: XmppStream,
    queue: mpsc::Receiver<Outbound>,
    kill: Arc<KillSwitch>,
    /// When the server's keepalive ping was sent, if unanswered.
    ping_outstanding: Option<Instant>,
    /// XEP-0198 state once the client enabled it: one pointer otherwise.
    sm: Option<Box<SmState>>,
    /// The stream's default language, given to stanzas that carry none.
    lang: Option<Box<str>>,
}

impl Session<'_> {
    async fn serve(&mut self) -> Ending {
        // One timer for the session's life, moved only when it must fire
        // earlier (or after it fired): re-arming it on every stanza would put
        // a timer-wheel update on the hot path. When it fires early, the
        // handler re-checks what is actually due.
        let timer = tokio::time::sleep_until(self.next_deadline());
        tokio::pin!(timer);
        loop {
            let wanted = self.next_deadline();
            if wanted < timer.deadline() {
                timer.as_mut().reset(wanted);
            }
            tokio::select! {
                reason = self.kill.killed() => {
                    if self.kill.flushes_queue() {
                        // Bounded: a client that does not read must not keep its session.
                        let _ = tokio::time::timeout(FLUSH_BEFORE_CLOSE, Box::pin(self.flush_queued())).await;
                    }
                    return Ending::Error(reason);
                }
                event = self.stream.next_event() => {
                    self.ping_outstanding = None;
                    match event {
                        Ok(StreamEvent::Stanza(el)) => {
                            // Boxed: routing state (a kilobyte) would otherwise be
                            // part of every idle session's future.
                            if let Err(ending) = Box::pin(self.handle_client_stanza(el)).await {
                                return ending;
                            }
                        }
                        Ok(StreamEvent::Close) => return Ending::ClientClosed,
                        Ok(StreamEvent::Open(_)) => {
                            return Ending::Error(StreamError::with_text(StreamErrorCondition::BadFormat, "unexpected stream header"));
                        }
                        Err(e) => return e.into(),
                    }
                }
                Some(out) = self.queue.recv() => {
                    if let Err(ending) = Box::pin(self.write_batch(out)).await {
                        return ending;
                    }
                }
                Some(takeover) = next_takeover(&mut self.sm) => return Ending::TakenOver(Box::new(takeover)),
                _ = &mut timer => {
                    if let Err(ending) = Box::pin(self.keepalive()).await {
                        return ending;
                    }
                    let next = self.next_deadline();
                    timer.as_mut().reset(next);
                }
            }
        }
    }

    /// When the session next needs attention: giving back idle buffers, the
    /// keepalive ping, or the end of the wait for its answer.
    fn next_deadline(&self) -> Instant {
        let settings = &self.server.settings;
        let last_read = self.stream.last_read();
        let deadline = match self.ping_outstanding {
            Some(sent) => sent + settings.ping_timeout,
            None => last_read + settings.idle_timeout,
        };
        if self.stream.holds_buffers() { deadline.min(last_read + BUFFER_RELEASE_DELAY) } else { deadline }
    }

    /// Writes everything queued, for a session told to close after it.
    async fn flush_queued(&mut self) -> Result<(), Ending> {
        while let Ok(first) = self.queue.try_recv() {
            self.write_batch(first).await?;
        }
        Ok(())
    }

    /// Writes `first` and whatever else is already queued, then flushes once.
    /// With stream management the written stanzas are kept until acknowledged,
    /// and one `<r/>` rides along in the same write when none is outstanding:
    /// acks then follow the traffic, without a timer per session.
    async fn write_batch(&mut self, first: Outbound) -> Result<(), Ending> {
        let mut buf = Vec::with_capacity(1024);
        let max_unacked = self.server.stream_management().map_or(usize::MAX, |s| s.max_unacked);
        let mut overflow = self.write_one(first, &mut buf, max_unacked);
        for _ in 1..WRITE_BATCH {
            match self.queue.try_recv() {
                Ok(out) => overflow |= self.write_one(out, &mut buf, max_unacked),
                Err(_) => break,
            }
        }
        if let Some(sm) = self.sm.as_mut()
            && sm.wants_ack()
            && !overflow
        {
            sm::request().write_to(&mut buf, ns::CLIENT);
            sm.requested_at = Some(sm.sent);
        }
        if !buf.is_empty() {
            self.stream.send(&buf).await.map_err(|_| Ending::Lost)?;
        }
        if overflow {
            // The client does not acknowledge: its session ends, and what it
            // did not acknowledge is rerouted rather than kept without bound.
            return Err(Ending::Error(StreamError::with_text(
                StreamErrorCondition::PolicyViolation,
                "too many unacknowledged stanzas",
            )));
        }
        Ok(())
    }

    /// Serialises one stanza into `buf`, keeping it if stream management is
    /// on. Once `max_unacked` are waiting for an ack nothing more is written
    /// (it is kept, to be rerouted when the session ends); returns whether
    /// that limit was reached.
    fn write_one(&mut self, out: Outbound, buf: &mut Vec<u8>, max_unacked: usize) -> bool {
        let Outbound::Stanza(el) = out;
        let Some(sm) = self.sm.as_mut() else {
            el.write_to(buf, ns::CLIENT);
            return false;
        };
        if sm.unacked.len() >= max_unacked {
            sm.unacked.push_back(el);
            return true;
        }
        el.write_to(buf, ns::CLIENT);
        sm.sent(el);
        false
    }

    /// A timer fired: release idle buffers, or, if the client has been silent
    /// for `idle_timeout`, ping it once (whitespace
    /// alone would not prove the client is alive, only that TCP accepts bytes);
    /// if it stays silent for `ping_timeout` too, it is dead.
    async fn keepalive(&mut self) -> Result<(), Ending> {
        // Whitespace does not wake the loop (it is not an event), so the timer
        // may fire although bytes arrived since it was armed: check first.
        let last_read = self.stream.last_read();
        if self.stream.holds_buffers() && last_read + BUFFER_RELEASE_DELAY <= Instant::now() {
            self.stream.release_idle_buffers();
        }
        if let Some(sent) = self.ping_outstanding {
            if last_read > sent {
                self.ping_outstanding = None;
                return Ok(());
            }
            if Instant::now() < sent + self.server.settings.ping_timeout {
                return Ok(());
            }
            return Err(Ending::Error(StreamError::with_text(
                StreamErrorCondition::ConnectionTimeout,
                "no response to ping",
            )));
        }
        if last_read + self.server.settings.idle_timeout > Instant::now() {
            return Ok(());
        }
        if let Some(sm) = self.sm.as_mut() {
            // With stream management on, `<r/>` proves the client alive just
            // as well, without a stanza to count and keep.
            sm.requested_at.get_or_insert(sm.sent);
            self.stream.send(&sm::request().to_bytes(ns::CLIENT)).await.map_err(|_| Ending::Lost)?;
            self.ping_outstanding = Some(Instant::now());
            return Ok(());
        }
        let ping = Element::new("iq", ns::CLIENT)
            .with_attr("type", "get")
            .with_attr("id", format!("wx-ping-{}", &new_stream_id()[..8]))
            .with_attr("from", self.full.domain())
            .with_attr("to", self.full.to_string())
            .with_child(Element::new("ping", ns::PING));
        self.stream.send(&ping.to_bytes(ns::CLIENT)).await.map_err(|_| Ending::Lost)?;
        self.ping_outstanding = Some(Instant::now());
        Ok(())
    }

    /// A stanza from the client: check and stamp `from`, then route it.
    async fn handle_client_stanza(&mut self, mut el: Element) -> Result<(), Ending> {
        let is_stanza = el.ns == ns::CLIENT && matches!(el.name.as_str(), "message" | "presence" | "iq");
        let server = self.server;
        if !is_stanza
            && el.ns == sm::NS
            && let Some(settings) = server.stream_management()
        {
            return self.stream_management(&el, settings).await;
        }
        if !is_stanza && let Some(handler) = self.server.nonza_handler(&el.ns, &el.name) {
            return handler.handle(self.server, &self.full, &el).await.map_err(Ending::Error);
        }
        if !is_stanza {
            // RFC 6120 §4.9.3.21: a first-level element we do not understand.
            return Err(Ending::Error(StreamError::with_text(
                StreamErrorCondition::UnsupportedStanzaType,
                format!("unsupported element {{{}}}{}", el.ns, el.name),
            )));
        }
        // RFC 6120 §8.1.2.1: the server stamps `from` with the full JID; a client
        // may only claim its own full or bare JID, anything else is `invalid-from`.
        if let Some(claimed) = el.attr("from") {
            let ok = Jid::parse(claimed).is_ok_and(|j| j == self.full || j == self.full.bare());
            if !ok {
                return Err(Ending::Error(StreamError::with_text(
                    StreamErrorCondition::InvalidFrom,
                    "'from' does not match the session's JID",
                )));
            }
        }
        el.set_attr("from", self.full.as_str());
        // RFC 6120 §4.7.4: a stanza without xml:lang is in the stream's
        // language; saying so keeps that true wherever it is delivered or
        // archived (Prosody does the same; scansion's mam_extended checks it).
        if let Some(lang) = &self.lang
            && el.attr("xml:lang").is_none()
        {
            el.set_attr("xml:lang", lang.as_ref());
        }
        self.server.route_from_client(&self.full, el).await;
        // XEP-0198 §4: counted once handled. The loop reads the next element
        // only after routing returned, so an `<a/>` covers only stanzas that
        // were routed (a message to an offline user: stored durably).
        if let Some(sm) = self.sm.as_mut() {
            sm.handled_one();
        }
        Ok(())
    }

    /// `<enable/>`, `<r/>`, `<a/>` (XEP-0198 §3, §4), and what is out of
    /// place after binding.
    async fn stream_management(&mut self, el: &Element, settings: &StreamManagementSettings) -> Result<(), Ending> {
        let answer = match (el.name.as_str(), self.sm.as_mut()) {
            ("enable", None) => Some(self.enable(el, settings)),
            ("r", Some(_)) => {
                // What is acknowledged must be on disk, also what modules
                // write in the background (the archive).
                self.server.durable().await;
                self.sm.as_ref().map(|sm| sm::ack(sm.handled))
            }
            ("a", Some(sm)) => {
                let Some(h) = sm::parse_h(el) else {
                    return Err(Ending::Error(StreamError::with_text(
                        StreamErrorCondition::BadFormat,
                        "<a/> needs an unsigned 32-bit h",
                    )));
                };
                sm.acknowledge(h).map_err(Ending::TooHigh)?;
                if sm.answered() {
                    sm.requested_at = Some(sm.sent);
                    Some(sm::request())
                } else {
                    None
                }
            }
            // Nothing is counted before `<enable/>`: there is nothing to answer.
            ("r" | "a", None) => None,
            // Enabling twice (§3), resuming a bound session (§5), or an
            // element XEP-0198 does not define for clients.
            _ => Some(sm::failed("unexpected-request")),
        };
        match answer {
            Some(answer) => self.stream.send(&answer.to_bytes(ns::CLIENT)).await.map_err(|_| Ending::Lost),
            None => Ok(()),
        }
    }

    /// Turns stream management on; resumable if the client asks and the
    /// server allows it, for the shorter of our timeout and the client's
    /// `max` (§3). Returns `<enabled/>`.
    fn enable(&mut self, el: &Element, settings: &StreamManagementSettings) -> Element {
        let mut timeout = settings.resume_timeout;
        if let Some(max) = el.attr("max").and_then(|m| m.parse::<u64>().ok()) {
            timeout = timeout.min(Duration::from_secs(max));
        }
        let wants_resumption = matches!(el.attr("resume"), Some("true" | "1"));
        let mut enabled = Element::new("enabled", sm::NS);
        let resumption = (wants_resumption && !timeout.is_zero()).then(|| {
            let id = new_stream_id();
            let (offer, takeovers) = mpsc::channel(1);
            self.server.sessions.offer_resumption(id.clone(), self.full.bare(), offer);
            enabled = Element::new("enabled", sm::NS)
                .with_attr("id", id.clone())
                .with_attr("resume", "true")
                .with_attr("max", timeout.as_secs().to_string());
            Resumption { id, timeout, takeovers }
        });
        tracing::debug!(jid = %self.full, resumable = resumption.is_some(), "stream management enabled");
        self.sm = Some(Box::new(SmState::new(resumption)));
        enabled
    }

    /// Whether a session that ended so waits for its client to resume it:
    /// it enabled resumption, its connection died rather than closed, and
    /// the server is not shutting down.
    fn hibernates_after(&self, ending: &Ending) -> bool {
        let died = match ending {
            Ending::Lost => true,
            // The keepalive got no answer: the connection is as good as lost.
            Ending::Error(error) => error.condition == StreamErrorCondition::ConnectionTimeout,
            _ => false,
        };
        died && self.sm.as_ref().is_some_and(|sm| sm.resumption.is_some()) && !self.server.is_shutting_down()
    }

    /// Keeps the session registered (stanzas keep queueing, its presence
    /// stands) until a new connection takes it over, the resumption timeout
    /// passes, or it is killed (replaced, account removed, shutdown, queue
    /// overflow). The old stream has nobody to write to any more.
    async fn hibernate(&mut self) -> Result<Takeover, Ending> {
        tracing::info!(jid = %self.full, "connection lost; session waits for resumption");
        self.stream.release_idle_buffers();
        let resumption =
            self.sm.as_mut().and_then(|sm| sm.resumption.as_mut()).expect("only resumable sessions hibernate");
        let expiry = tokio::time::sleep(resumption.timeout);
        tokio::select! {
            _ = self.kill.killed() => Err(Ending::Lost),
            Some(takeover) = resumption.takeovers.recv() => Ok(takeover),
            _ = expiry => {
                tracing::info!(jid = %self.full, "resumption timed out");
                Err(Ending::Lost)
            }
        }
    }

    /// Serves the stream of `takeover` from now on; the old one is closed
    /// with `conflict` if it still looked open, dropped otherwise. Not async,
    /// so the old stream is not part of the session's future. Returns the
    /// client's `h`.
    fn take_stream(&mut self, takeover: Takeover, old_is_open: bool, domain: &str) -> u32 {
        let Takeover { stream, h, back } = takeover;
        // Dropping `back` tells the new connection's task that its stream is ours now.
        drop(back);
        let old = std::mem::replace(&mut self.stream, stream);
        if old_is_open {
            let error = StreamError::with_text(StreamErrorCondition::Conflict, "session resumed by a new connection");
            let domain = domain.to_string();
            tokio::spawn(async move { old.fail(&error, ns::CLIENT, &domain).await });
        }
        h
    }

    /// Answers `<resume h=…/>` on the new stream (now `self.stream`):
    /// `<resumed/>`, then every stanza the client did not acknowledge, in
    /// order and keeping its number (XEP-0198 §5). What was queued meanwhile
    /// follows through the serving loop.
    async fn resume(&mut self, h: u32) -> Result<(), Ending> {
        self.ping_outstanding = None;
        // `h` in `<resumed/>` acknowledges too (see the `<r/>` answer).
        self.server.durable().await;
        let sm = self.sm.as_mut().expect("only resumable sessions resume");
        sm.acknowledge(h).map_err(Ending::TooHigh)?;
        let id = &sm.resumption.as_ref().expect("only resumable sessions resume").id;
        let resumed =
            Element::new("resumed", sm::NS).with_attr("previd", id.clone()).with_attr("h", sm.handled.to_string());
        let mut buf = resumed.to_bytes(ns::CLIENT);
        for stanza in &sm.unacked {
            stanza.write_to(&mut buf, ns::CLIENT);
        }
        // Our `<r/>` on the dead connection will never be answered.
        sm.requested_at = None;
        if sm.wants_ack() {
            sm::request().write_to(&mut buf, ns::CLIENT);
            sm.requested_at = Some(sm.sent);
        }
        tracing::info!(jid = %self.full, resent = sm.unacked.len(), "session resumed");
        self.stream.send(&buf).await.map_err(|_| Ending::Lost)
    }

    /// Stream management ends with the session: the resumption id is
    /// forgotten, connections waiting to resume get their stream back, and
    /// the unacknowledged stanzas are returned (to be rerouted).
    fn end_stream_management(&mut self) -> VecDeque<Box<Element>> {
        let Some(state) = self.sm.take() else { return VecDeque::new() };
        let SmState { resumption, unacked, handled, .. } = *state;
        if let Some(mut resumption) = resumption {
            // Before any waiting connection gets its stream back, so that it
            // can be told `h`.
            self.server.sessions.remember_ended(resumption.id.clone(), self.full.bare(), handled);
            self.server.sessions.forget_resumption(&resumption.id);
            resumption.takeovers.close();
            while let Ok(takeover) = resumption.takeovers.try_recv() {
                let _ = takeover.back.send(takeover.stream);
            }
        }
        unacked
    }
}

/// The next connection asking to resume this session, if it is resumable.
async fn next_takeover(sm: &mut Option<Box<SmState>>) -> Option<Takeover> {
    match sm.as_mut().and_then(|sm| sm.resumption.as_mut()) {
        Some(resumption) => resumption.takeovers.recv().await,
        None => std::future::pending().await,
    }
}

/// Closes every stream with `system-shutdown` — bound sessions through their
/// kill switches, streams still negotiating or binding through the shutdown
/// signal — and waits (up to `grace`) for the sessions to finish sending it.
pub async fn shutdown_all(server: &Server, grace: Duration) {
    server.begin_shutdown();
    for (_, handle) in server.sessions.all() {
        handle.kill(StreamError::new(StreamErrorCondition::SystemShutdown));
    }
    let deadline = Instant::now() + grace;
    while server.live_sessions.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
