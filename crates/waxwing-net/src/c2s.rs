//! Client-to-server stream negotiation (RFC 6120 §4–§6): stream headers,
//! STARTTLS, SASL, and the restarts between them. It ends with an
//! authenticated stream whose post-SASL features have been sent; resource
//! binding and everything after belong to the session layer above.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use waxwing_jid::{Jid, nodeprep};
use waxwing_proto::{StreamError, StreamErrorCondition, StreamOpen, features_bytes, ns};
use waxwing_sasl::{HashAlg, Mechanism, SaslError, ScramCredentials, ScramServer, parse_plain};
use waxwing_xml::{Element, StreamEvent};

use crate::stream::{ReadError, XmppStream, new_stream_id};
use crate::throttle::AuthThrottle;
use crate::tls::CertStore;

/// What negotiation needs from the server above it.
pub trait C2sHost: Send + Sync {
    /// Whether `domain` (already lowercased) is one of our virtual hosts.
    fn serves(&self, domain: &str) -> bool;
    /// The host to name in a stream error before we know which one the client wanted.
    fn default_host(&self) -> &str;
    /// Stored SCRAM credentials; `Err` means the store failed (→ temporary-auth-failure).
    fn credentials(
        &self,
        domain: &str,
        username: &str,
        hash: HashAlg,
    ) -> impl Future<Output = Result<Option<ScramCredentials>, ()>> + Send;
    /// Features offered after authentication (bind, session, module features).
    fn bound_features(&self) -> Vec<Element>;
    /// Features offered next to SASL on an encrypted stream (XEP-0077 `<register/>`).
    fn pre_auth_features(&self, _domain: &str) -> Vec<Element> {
        Vec::new()
    }
    /// Answers an iq sent before authentication on an encrypted stream
    /// (XEP-0077 in-band registration). `None`: nothing handles it, and the
    /// stream ends with `not-authorized` (RFC 6120 §4.9.3.12).
    fn pre_auth_iq(&self, _domain: &str, _peer: IpAddr, _iq: &Element) -> impl Future<Output = Option<Element>> + Send {
        async { None }
    }
}

#[derive(Debug, Clone)]
pub struct C2sSettings {
    /// RFC 6120 §5.3.1: offer only STARTTLS until the channel is encrypted.
    pub require_tls: bool,
    /// The whole negotiation, from connect to authenticated, must finish within this.
    pub negotiation_timeout: Duration,
    /// SASL attempts allowed on one connection (RFC 6120 §6.4.5 suggests 2–5).
    pub max_auth_attempts: u32,
    /// The mechanisms the operator enabled; filtered further per connection.
    pub mechanisms: Vec<Mechanism>,
}

impl Default for C2sSettings {
    fn default() -> Self {
        C2sSettings {
            require_tls: true,
            negotiation_timeout: Duration::from_secs(60),
            max_auth_attempts: 5,
            mechanisms: Mechanism::ALL.to_vec(),
        }
    }
}

/// An authenticated client stream, ready for resource binding.
pub struct Authenticated {
    pub stream: XmppStream,
    /// The account, as a bare JID.
    pub jid: Jid,
    pub stream_id: String,
    pub lang: String,
    /// The `xml:lang` the client declared in its stream header, if any: the
    /// default language of the stanzas it sends (RFC 6120 §4.7.4).
    pub declared_lang: Option<String>,
    pub mechanism: Mechanism,
}

/// Everything negotiation uses that lives as long as the listener.
pub struct C2sContext<H> {
    pub host: Arc<H>,
    pub settings: C2sSettings,
    pub certs: Arc<CertStore>,
    pub tls_config: Arc<rustls::ServerConfig>,
    pub throttle: Arc<AuthThrottle>,
    /// Becomes `true` when the server shuts down: streams still negotiating
    /// are closed with `system-shutdown` too.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl<H> Clone for C2sContext<H> {
    fn clone(&self) -> Self {
        C2sContext {
            host: self.host.clone(),
            settings: self.settings.clone(),
            certs: self.certs.clone(),
            tls_config: self.tls_config.clone(),
            throttle: self.throttle.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

/// Why negotiation did not produce a session. The stream has already been
/// closed (with a stream error where one applies) when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum NegotiationError {
    #[error("{0}")]
    Stream(StreamError),
    #[error("connection lost: {0}")]
    Io(String),
    #[error("client closed the stream")]
    Closed,
}

/// Negotiates a client stream to the authenticated state.
pub async fn negotiate<H: C2sHost>(stream: XmppStream, ctx: &C2sContext<H>) -> Result<Authenticated, NegotiationError> {
    let deadline = tokio::time::Instant::now() + ctx.settings.negotiation_timeout;
    let mut n = Negotiation {
        ctx,
        stream: Some(stream),
        deadline,
        domain: None,
        declared_lang: None,
        auth_attempts: 0,
        pre_auth_iqs: 0,
    };
    match n.run().await {
        Ok(done) => Ok(done),
        Err(Step::Fail(error)) => {
            let host = n.domain.clone().unwrap_or_else(|| ctx.host.default_host().to_string());
            if let Some(stream) = n.stream.take() {
                stream.fail(&error, ns::CLIENT, &host).await;
            }
            Err(NegotiationError::Stream(error))
        }
        Err(Step::Lost(reason)) => Err(NegotiationError::Io(reason)),
        Err(Step::Closed) => {
            if let Some(stream) = n.stream.take() {
                stream.close(false).await;
            }
            Err(NegotiationError::Closed)
        }
    }
}

/// How a negotiation step ends early.
enum Step {
    /// Send this stream error and close.
    Fail(StreamError),
    /// The connection is gone; nothing can be sent.
    Lost(String),
    /// The client closed the stream.
    Closed,
}

impl From<ReadError> for Step {
    fn from(e: ReadError) -> Self {
        match e.stream_error() {
            Some(error) => Step::Fail(error),
            None => Step::Lost(e.to_string()),
        }
    }
}

impl From<std::io::Error> for Step {
    fn from(e: std::io::Error) -> Self {
        Step::Lost(e.to_string())
    }
}

fn fail(condition: StreamErrorCondition, text: &str) -> Step {
    Step::Fail(StreamError::with_text(condition, text))
}

struct Negotiation<'a, H> {
    ctx: &'a C2sContext<H>,
    /// Always `Some` except while STARTTLS swaps the transport.
    stream: Option<XmppStream>,
    deadline: tokio::time::Instant,
    domain: Option<String>,
    /// The `xml:lang` of the client's latest stream header, if it gave one.
    declared_lang: Option<String>,
    auth_attempts: u32,
    /// Iqs answered before authentication (in-band registration).
    pre_auth_iqs: u32,
}

impl<H: C2sHost> Negotiation<'_, H> {
    fn stream(&mut self) -> &mut XmppStream {
        self.stream.as_mut().expect("stream present outside STARTTLS")
    }

    async fn next_event(&mut self) -> Result<StreamEvent, Step> {
        let remaining = self.deadline.saturating_duration_since(tokio::time::Instant::now());
        let mut shutdown = self.ctx.shutdown.clone();
        let stream = self.stream.as_mut().expect("stream present outside STARTTLS");
        tokio::select! {
            event = stream.next_event_within(remaining) => Ok(event?),
            _ = shutdown.wait_for(|down| *down) => Err(Step::Fail(StreamError::new(StreamErrorCondition::SystemShutdown))),
        }
    }

    async fn run(&mut self) -> Result<Authenticated, Step> {
        loop {
            let (stream_id, lang) = self.open_stream().await?;
            let tls = self.stream().is_tls();
            if !tls && self.ctx.settings.require_tls {
                self.offer_starttls().await?;
                continue;
            }
            if let Some(account) = self.authenticate(tls).await? {
                self.stream().restart();
                let (stream_id, lang) = self.open_stream().await?;
                let features = features_bytes(&self.ctx.host.bound_features(), ns::CLIENT);
                self.stream().send(&features).await?;
                let (jid, mechanism) = account;
                return Ok(Authenticated {
                    stream: self.stream.take().expect("stream present"),
                    jid,
                    stream_id,
                    lang,
                    declared_lang: self.declared_lang.take(),
                    mechanism,
                });
            }
            // `authenticate` returns None after STARTTLS was negotiated.
            let _ = (stream_id, lang);
        }
    }

    /// Reads the initiating stream header and answers with ours (RFC 6120 §4.7).
    async fn open_stream(&mut self) -> Result<(String, String), Step> {
        let header = match self.next_event().await? {
            StreamEvent::Open(header) => header,
            StreamEvent::Close => return Err(Step::Closed),
            StreamEvent::Stanza(_) => return Err(fail(StreamErrorCondition::BadFormat, "expected a stream header")),
        };
        let open = StreamOpen::from_header(&header);
        if open.content_ns.as_deref() != Some(ns::CLIENT) {
            // §4.8.5: the content namespace of a client stream is jabber:client.
            return Err(fail(StreamErrorCondition::InvalidNamespace, "expected xmlns='jabber:client'"));
        }
        let domain = match open.to.as_deref() {
            Some(to) => match Jid::domain_jid(to) {
                Ok(jid) if self.ctx.host.serves(jid.domain()) => jid.domain().to_string(),
                _ => return Err(fail(StreamErrorCondition::HostUnknown, "this server does not serve that domain")),
            },
            // §4.7.2: `to` SHOULD be present; accept its absence only when unambiguous.
            None => self.ctx.host.default_host().to_string(),
        };
        if let Some(previous) = &self.domain
            && *previous != domain
        {
            return Err(fail(StreamErrorCondition::HostUnknown, "the domain changed across a stream restart"));
        }
        self.domain = Some(domain.clone());
        self.declared_lang = open.lang.clone();
        let lang = open.lang.clone().unwrap_or_else(|| "en".to_string());
        let stream_id = new_stream_id();
        let to = open.from.clone();
        self.stream().send_header(ns::CLIENT, &domain, to.as_deref(), &stream_id, &lang).await?;
        if !open.supports_version_1() {
            return Err(fail(StreamErrorCondition::UnsupportedVersion, "version='1.0' is required"));
        }
        Ok((stream_id, lang))
    }

    /// Before TLS only `<starttls/>` is offered; anything else is refused.
    async fn offer_starttls(&mut self) -> Result<(), Step> {
        let starttls = Element::new("starttls", ns::STARTTLS).with_child(Element::new("required", ns::STARTTLS));
        self.stream().send(&features_bytes(&[starttls], ns::CLIENT)).await?;
        match self.next_event().await? {
            StreamEvent::Stanza(el) if el.is("starttls", ns::STARTTLS) => self.upgrade_tls().await,
            StreamEvent::Close => Err(Step::Closed),
            StreamEvent::Stanza(el) => Err(before_auth_violation(&el, true)),
            StreamEvent::Open(_) => Err(fail(StreamErrorCondition::BadFormat, "unexpected stream header")),
        }
    }

    async fn upgrade_tls(&mut self) -> Result<(), Step> {
        self.stream().send(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await?;
        let plain = self.stream.take().expect("stream present");
        let tls = plain
            .starttls(self.ctx.tls_config.clone(), &self.ctx.certs)
            .await
            .map_err(|e| Step::Lost(format!("TLS handshake: {e}")))?;
        self.stream = Some(tls);
        Ok(())
    }

    fn mechanisms(&self, tls: bool) -> Vec<Mechanism> {
        let cb = self.stream.as_ref().map(|s| s.channel_binding().clone()).unwrap_or_default();
        let can_bind = cb.tls_exporter.is_some() || cb.tls_server_end_point.is_some();
        self.ctx
            .settings
            .mechanisms
            .iter()
            .copied()
            .filter(|m| match m {
                // RFC 6120 §6.4.1: PLAIN only on an encrypted channel.
                Mechanism::Plain => tls,
                Mechanism::Scram { plus, .. } => !plus || (tls && can_bind),
            })
            .collect()
    }

    /// Offers the features and runs SASL. Returns the account on success, or
    /// `None` when the client chose STARTTLS instead (only when TLS is optional).
    async fn authenticate(&mut self, tls: bool) -> Result<Option<(Jid, Mechanism)>, Step> {
        let offered = self.mechanisms(tls);
        let mut features = Vec::new();
        if !tls {
            features.push(Element::new("starttls", ns::STARTTLS));
        }
        let mut mechanisms = Element::new("mechanisms", ns::SASL);
        for m in &offered {
            mechanisms.push_child(Element::new("mechanism", ns::SASL).with_text(m.name()));
        }
        features.push(mechanisms);
        // XEP-0440: say which channel-binding types we can do.
        let cb = self.stream().channel_binding().clone();
        let mut cb_types = Element::new("sasl-channel-binding", ns::SASL_CHANNEL_BINDING);
        for (name, present) in
            [("tls-exporter", cb.tls_exporter.is_some()), ("tls-server-end-point", cb.tls_server_end_point.is_some())]
        {
            if present {
                cb_types.push_child(Element::new("channel-binding", ns::SASL_CHANNEL_BINDING).with_attr("type", name));
            }
        }
        if cb_types.elements().next().is_some() {
            features.push(cb_types);
        }
        // XEP-0077 §8 (in-band registration) and the like, only where a
        // password may travel: never on a plaintext stream.
        let domain = self.domain.clone().expect("domain known after the stream header");
        if tls {
            features.extend(self.ctx.host.pre_auth_features(&domain));
        }
        self.stream().send(&features_bytes(&features, ns::CLIENT)).await?;

        loop {
            let el = match self.next_event().await? {
                StreamEvent::Stanza(el) => el,
                StreamEvent::Close => return Err(Step::Closed),
                StreamEvent::Open(_) => return Err(fail(StreamErrorCondition::BadFormat, "unexpected stream header")),
            };
            if el.is("starttls", ns::STARTTLS) && !tls {
                self.upgrade_tls().await?;
                return Ok(None);
            }
            if tls && el.is("iq", ns::CLIENT) {
                self.pre_auth_iq(&domain, &el).await?;
                continue;
            }
            if !el.is("auth", ns::SASL) {
                return Err(before_auth_violation(&el, false));
            }
            match self.sasl_exchange(&el, &offered).await? {
                Some(account) => return Ok(Some(account)),
                None => {
                    self.auth_attempts += 1;
                    if self.auth_attempts >= self.ctx.settings.max_auth_attempts {
                        return Err(fail(StreamErrorCondition::PolicyViolation, "too many authentication attempts"));
                    }
                }
            }
        }
    }

    /// An iq before authentication: the host answers it (XEP-0077
    /// registration), or it is the `not-authorized` of RFC 6120 §4.9.3.12.
    async fn pre_auth_iq(&mut self, domain: &str, iq: &Element) -> Result<(), Step> {
        self.pre_auth_iqs += 1;
        if self.pre_auth_iqs > MAX_PRE_AUTH_IQS {
            return Err(fail(StreamErrorCondition::PolicyViolation, "too many requests before authentication"));
        }
        let peer = self.stream().peer().ip();
        match self.ctx.host.pre_auth_iq(domain, peer, iq).await {
            Some(reply) => Ok(self.stream().send(&reply.to_bytes(ns::CLIENT)).await?),
            None => Err(before_auth_violation(iq, false)),
        }
    }

    async fn send_failure(&mut self, error: SaslError) -> Result<(), Step> {
        let failure = Element::new("failure", ns::SASL).with_child(Element::new(error.condition(), ns::SASL));
        self.stream().send(&failure.to_bytes(ns::CLIENT)).await?;
        Ok(())
    }

    /// One SASL exchange (RFC 6120 §6.4). `Ok(None)` after a `<failure/>` was sent.
    async fn sasl_exchange(&mut self, auth: &Element, offered: &[Mechanism]) -> Result<Option<(Jid, Mechanism)>, Step> {
        let Some(mechanism) = auth.attr("mechanism").and_then(Mechanism::from_name).filter(|m| offered.contains(m))
        else {
            self.send_failure(SaslError::InvalidMechanism).await?;
            return Ok(None);
        };
        let domain = self.domain.clone().expect("domain known after the stream header");
        let peer = self.stream().peer().ip();
        if !self.ctx.throttle.allows(peer, None) {
            self.send_failure(SaslError::TemporaryAuthFailure).await?;
            return Ok(None);
        }
        let initial = match decode_sasl_payload(&auth.text()) {
            Ok(data) => data,
            Err(e) => {
                self.send_failure(e).await?;
                return Ok(None);
            }
        };
        let outcome = match mechanism {
            Mechanism::Plain => self.plain(&domain, &initial).await?,
            Mechanism::Scram { hash, plus } => {
                let plus_advertised = offered.iter().any(|m| matches!(m, Mechanism::Scram { plus: true, .. }));
                self.scram(&domain, hash, plus, plus_advertised, initial).await?
            }
        };
        match outcome {
            Ok((localpart, success_data)) => {
                let jid = Jid::new(Some(&localpart), &domain, None)
                    .map_err(|_| fail(StreamErrorCondition::InternalServerError, "prepared JID invalid"))?;
                self.ctx.throttle.record_success(peer);
                let mut success = Element::new("success", ns::SASL);
                if let Some(data) = success_data {
                    success = success.with_text(BASE64.encode(data));
                }
                self.stream().send(&success.to_bytes(ns::CLIENT)).await?;
                tracing::info!(%jid, mechanism = mechanism.name(), peer = %self.stream().peer(), "authenticated");
                Ok(Some((jid, mechanism)))
            }
            Err((error, account)) => {
                if error == SaslError::NotAuthorized {
                    self.ctx.throttle.record_failure(peer, account.as_deref());
                    tracing::info!(account = account.as_deref().unwrap_or("?"), peer = %peer, "authentication failed");
                }
                self.send_failure(error).await?;
                Ok(None)
            }
        }
    }

    /// The checks common to every mechanism once the client has named itself:
    /// prepare the username, refuse a foreign authzid, apply the throttle, and
    /// fetch the stored keys for `hash`.
    async fn look_up_account(
        &self,
        domain: &str,
        username: &str,
        authzid: Option<&str>,
        hash: HashAlg,
    ) -> Result<(String, Option<ScramCredentials>), Refusal> {
        let Ok(localpart) = nodeprep(username) else {
            return Err((SaslError::NotAuthorized, None));
        };
        let account = format!("{localpart}@{domain}");
        if authzid.is_some_and(|authzid| !authzid_matches(authzid, &account)) {
            return Err((SaslError::InvalidAuthzid, Some(account)));
        }
        let peer = self.stream.as_ref().expect("stream present").peer().ip();
        if !self.ctx.throttle.allows(peer, Some(&account)) {
            return Err((SaslError::TemporaryAuthFailure, Some(account)));
        }
        match self.ctx.host.credentials(domain, &localpart, hash).await {
            Ok(stored) => Ok((localpart, stored)),
            Err(()) => Err((SaslError::TemporaryAuthFailure, Some(account))),
        }
    }

    /// RFC 4616 PLAIN, checked against the stored SCRAM-SHA-256 keys.
    async fn plain(&mut self, domain: &str, initial: &[u8]) -> Result<Result<Accepted, Refusal>, Step> {
        let creds = match parse_plain(initial) {
            Ok(c) => c,
            Err(e) => return Ok(Err((e, None))),
        };
        let (localpart, stored) =
            match self.look_up_account(domain, &creds.authcid, creds.authzid.as_deref(), HashAlg::Sha256).await {
                Ok(found) => found,
                Err(refusal) => return Ok(Err(refusal)),
            };
        let account = format!("{localpart}@{domain}");
        let password = creds.password;
        // PBKDF2 is deliberately slow: keep it off the async workers.
        let ok = tokio::task::spawn_blocking(move || stored.is_some_and(|s| s.verify_password(&password)))
            .await
            .unwrap_or(false);
        Ok(if ok { Ok((localpart, None)) } else { Err((SaslError::NotAuthorized, Some(account))) })
    }

    /// RFC 5802 SCRAM (and -PLUS), three messages.
    async fn scram(
        &mut self,
        domain: &str,
        hash: HashAlg,
        plus: bool,
        plus_advertised: bool,
        initial: Vec<u8>,
    ) -> Result<Result<Accepted, Refusal>, Step> {
        let cb = self.stream().channel_binding().clone();
        let mut server = ScramServer::new(hash, plus, plus_advertised, cb);
        let first = match server.handle_client_first(&initial) {
            Ok(first) => first,
            Err(e) => return Ok(Err((e, None))),
        };
        let (localpart, stored) =
            match self.look_up_account(domain, &first.username, first.authzid.as_deref(), hash).await {
                Ok(found) => found,
                Err(refusal) => return Ok(Err(refusal)),
            };
        let account = format!("{localpart}@{domain}");
        let challenge = server.server_first(stored.as_ref());
        let challenge = Element::new("challenge", ns::SASL).with_text(BASE64.encode(challenge));
        self.stream().send(&challenge.to_bytes(ns::CLIENT)).await?;
        let response = match self.next_event().await? {
            StreamEvent::Stanza(el) if el.is("response", ns::SASL) => el,
            StreamEvent::Stanza(el) if el.is("abort", ns::SASL) => return Ok(Err((SaslError::Aborted, None))),
            StreamEvent::Stanza(_) => return Ok(Err((SaslError::MalformedRequest, None))),
            StreamEvent::Close => return Err(Step::Closed),
            StreamEvent::Open(_) => return Err(fail(StreamErrorCondition::BadFormat, "unexpected stream header")),
        };
        let final_message = match decode_sasl_payload(&response.text()) {
            Ok(data) => data,
            Err(e) => return Ok(Err((e, Some(account)))),
        };
        Ok(match server.handle_client_final(&final_message) {
            Ok(server_final) => Ok((localpart, Some(server_final))),
            Err(e) => Err((e, Some(account))),
        })
    }
}

/// Iqs one connection may send before authenticating: enough to ask for the
/// registration form and retry a taken username a few times, not a channel.
const MAX_PRE_AUTH_IQS: u32 = 10;

/// A successful exchange: the account's localpart and the server's final
/// data (SCRAM's `v=`), if the mechanism has one.
type Accepted = (String, Option<Vec<u8>>);
/// A failed exchange: the condition to send and, once known, the account
/// (for the per-account throttle and the log).
type Refusal = (SaslError, Option<String>);

/// An authzid may only name the account itself (we do not offer proxy authorization).
fn authzid_matches(authzid: &str, account: &str) -> bool {
    Jid::parse(authzid).is_ok_and(|j| j.is_bare() && j.to_string() == account)
}

/// RFC 6120 §6.4.2: the payload is base64; a single `=` means empty.
fn decode_sasl_payload(text: &str) -> Result<Vec<u8>, SaslError> {
    let text = text.trim();
    if text.is_empty() || text == "=" {
        return Ok(Vec::new());
    }
    BASE64.decode(text).map_err(|_| SaslError::IncorrectEncoding)
}

/// What to say when a client sends something other than negotiation before
/// it has authenticated.
fn before_auth_violation(el: &Element, tls_pending: bool) -> Step {
    let is_stanza = el.ns == ns::CLIENT && matches!(el.name.as_str(), "message" | "presence" | "iq");
    if is_stanza {
        // RFC 6120 §4.9.3.12: stanzas before authentication.
        return fail(StreamErrorCondition::NotAuthorized, "authenticate first");
    }
    if tls_pending && el.is("auth", ns::SASL) {
        // SASL before the required STARTTLS.
        return fail(StreamErrorCondition::PolicyViolation, "STARTTLS is required before authentication");
    }
    fail(StreamErrorCondition::UnsupportedStanzaType, "unexpected element during negotiation")
}
