//! A client session after authentication: resource binding (RFC 6120 §7),
//! then the loop that reads the client's stanzas, stamps and routes them,
//! and writes what others send it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use waxwing_jid::{Jid, resourceprep};
use waxwing_net::c2s::Authenticated;
use waxwing_net::{ReadError, XmppStream, new_stream_id};
use waxwing_proto::{StanzaError, StanzaErrorCondition, StreamError, StreamErrorCondition, ns, stanza::iq_result};
use waxwing_xml::{Element, StreamEvent};

use crate::hooks::{SessionEvent, StanzaContext};
use crate::registry::{KillSwitch, Outbound, SessionHandle};
use crate::server::Server;

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
        let Authenticated { stream, jid, .. } = *auth;
        let domain = jid.domain().to_string();
        let Some((stream, bound)) = Box::pin(binding_phase(&server, stream, &jid, &domain)).await else { return };
        let Bound { full, handle, queue, kill } = bound;
        tracing::info!(jid = %full, peer = %stream.peer(), "session bound");
        Box::pin(server.session_event(&full, SessionEvent::Bound)).await;
        let session = Box::new(Session { server: &server, full, stream, queue, kill, ping_outstanding: None });
        Box::pin(serve(session, handle, domain))
    };
    serving.await
}

/// The bound session's life: serve, unbind, close.
async fn serve(mut session: Box<Session<'_>>, handle: SessionHandle, domain: String) {
    let ending = session.serve().await;
    let presence = session.server.sessions.unbind(&session.full, handle.id());
    let Session { server, stream, full, queue, .. } = *session;
    // Stanzas still queued are not lost silently: messages and iq requests
    // are bounced or rerouted as if the session had already gone.
    Box::pin(reroute_queued(server, &full, queue)).await;
    let presence = presence.map(Arc::unwrap_or_clone);
    Box::pin(server.session_event(&full, SessionEvent::Closed { presence })).await;
    Box::pin(finish(stream, ending, &full, &domain)).await;
}

/// Binds a resource, or closes the stream as the failure requires.
async fn binding_phase(
    server: &Server,
    mut stream: XmppStream,
    jid: &Jid,
    domain: &str,
) -> Option<(XmppStream, Bound)> {
    let mut shutdown = server.shutdown_signal();
    let binding = tokio::time::timeout(server.settings.bind_timeout, bind(server, &mut stream, jid));
    let error = match tokio::select! {
        bound = binding => bound,
        _ = shutdown.wait_for(|down| *down) => Ok(Err(Ending::Error(StreamError::new(StreamErrorCondition::SystemShutdown)))),
    } {
        Ok(Ok(bound)) => return Some((stream, bound)),
        Ok(Err(Ending::Error(error))) => error,
        Ok(Err(Ending::ClientClosed)) => {
            stream.close(false).await;
            return None;
        }
        Ok(Err(Ending::Lost)) => return None,
        Err(_) => StreamError::with_text(StreamErrorCondition::ConnectionTimeout, "no resource bound in time"),
    };
    stream.fail(&error, ns::CLIENT, domain).await;
    None
}

/// Hands what a closed session never wrote back to the router, which now
/// treats its full JID as unavailable (RFC 6121 §8.5.3.2): messages fall back
/// to the account, iq requests get `service-unavailable`.
async fn reroute_queued(server: &Server, full: &Jid, mut queue: mpsc::Receiver<Outbound>) {
    queue.close();
    while let Ok(Outbound::Stanza(stanza)) = queue.try_recv() {
        let from = stanza.attr("from").and_then(|f| Jid::parse(f).ok());
        let Some(from) = from else { continue };
        if stanza.name == "presence" {
            continue;
        }
        server.route(&StanzaContext { from, to: full.clone() }, *stanza).await;
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
        Ending::Lost => tracing::info!(jid = %full, "connection lost"),
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
}

impl From<ReadError> for Ending {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Eof | ReadError::Io(_) => Ending::Lost,
            other => other.stream_error().map(Ending::Error).unwrap_or(Ending::Lost),
        }
    }
}

struct Bound {
    full: Jid,
    handle: SessionHandle,
    queue: mpsc::Receiver<Outbound>,
    kill: Arc<KillSwitch>,
}

/// Waits for the bind request, answering anything else as RFC 6120 §7 asks.
async fn bind(server: &Server, stream: &mut XmppStream, account: &Jid) -> Result<Bound, Ending> {
    loop {
        let el = match stream.next_event().await? {
            StreamEvent::Stanza(el) => el,
            StreamEvent::Close => return Err(Ending::ClientClosed),
            StreamEvent::Open(_) => return Err(Ending::Error(StreamError::new(StreamErrorCondition::BadFormat))),
        };
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
        return Ok(Bound { full, handle, queue, kill });
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
                    if Box::pin(self.write_batch(out)).await.is_err() {
                        return Ending::Lost;
                    }
                }
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
    async fn flush_queued(&mut self) -> std::io::Result<()> {
        while let Ok(first) = self.queue.try_recv() {
            self.write_batch(first).await?;
        }
        Ok(())
    }

    /// Writes `first` and whatever else is already queued, then flushes once.
    async fn write_batch(&mut self, first: Outbound) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(1024);
        let Outbound::Stanza(el) = first;
        el.write_to(&mut buf, ns::CLIENT);
        for _ in 1..WRITE_BATCH {
            match self.queue.try_recv() {
                Ok(Outbound::Stanza(el)) => el.write_to(&mut buf, ns::CLIENT),
                Err(_) => break,
            }
        }
        self.stream.send(&buf).await
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
        self.server.route_from_client(&self.full, el).await;
        Ok(())
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
