//! XEP-0077 In-Band Registration (`jabber:iq:register`).
//!
//! Logged-in users can always see that they are registered, change their
//! password and remove their account. Creating accounts from the login
//! screen — before authentication, on the client's stream negotiation — is
//! only offered when `[registration] allow` is on, and then limited per IP
//! address; otherwise those requests get `service-unavailable` (§3.1).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use waxwing_core::module::IqFuture;
use waxwing_core::{IqHandler, IqRequest, Module, PreAuthIq, PreAuthIqHandler, Registrations, Server};
use waxwing_jid::{Jid, nodeprep};
use waxwing_proto::{ErrorType, IqType, StanzaError, StanzaErrorCondition};
use waxwing_sasl::{DEFAULT_ITERATIONS, ScramCredentials};
use waxwing_store::StoreError;
use waxwing_xml::Element;

use crate::ModulesConfig;

pub const NS_REGISTER: &str = "jabber:iq:register";
/// XEP-0077 §8: the stream feature announcing in-band registration.
pub const NS_REGISTER_FEATURE: &str = "http://jabber.org/features/iq-register";

/// The window of `[registration] max_per_ip_per_hour`.
const RATE_WINDOW: Duration = Duration::from_secs(3600);

pub struct Register {
    allow: bool,
    max_per_ip_per_hour: u32,
    iterations: u32,
}

impl Register {
    pub fn new(config: &ModulesConfig) -> Register {
        Register {
            allow: config.registration.allow,
            max_per_ip_per_hour: config.registration.max_per_ip_per_hour,
            iterations: config.scram_iterations.unwrap_or(DEFAULT_ITERATIONS),
        }
    }
}

impl Module for Register {
    fn name(&self) -> &'static str {
        "register"
    }

    fn register(&self, r: &mut Registrations) {
        // §10: also tells logged-in clients that password changes work in-band.
        r.disco_feature(NS_REGISTER);
        r.iq(IqType::Get, NS_REGISTER, "query", registered);
        let iterations = self.iterations;
        r.iq(IqType::Set, NS_REGISTER, "query", ChangeOrRemove { iterations });
        if self.allow {
            r.pre_auth_stream_feature(Element::new("register", NS_REGISTER_FEATURE));
        }
        let limit = Arc::new(RateLimit::new(self.max_per_ip_per_hour));
        r.pre_auth_iq(NS_REGISTER, "query", InBand { allow: self.allow, iterations, limit });
    }
}

/// The account an in-session request is about: only the user's own, asked
/// of its own server (with no `to`, or `to` its domain or bare JID).
fn own_account(request: &IqRequest) -> Result<Jid, StanzaError> {
    let bare = request.from.bare();
    let to_own_server = request.to.node().is_none() && request.to.domain() == bare.domain();
    if request.to == bare || to_own_server {
        Ok(bare)
    } else {
        Err(StanzaError::new(StanzaErrorCondition::ServiceUnavailable))
    }
}

/// §3.1: an authenticated user asking for the form is told it is registered.
fn registered<'a>(_server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
    Box::pin(async move {
        let account = own_account(request)?;
        let username = account.node().expect("accounts have a localpart");
        Ok(Some(
            Element::new("query", NS_REGISTER)
                .with_child(Element::new("instructions", NS_REGISTER).with_text(
                    "Send a new password with your username to change it, or <remove/> to delete your account.",
                ))
                .with_child(Element::new("registered", NS_REGISTER))
                .with_child(Element::new("username", NS_REGISTER).with_text(username))
                // The password is not stored, only SCRAM keys: §3.1 lets it be empty.
                .with_child(Element::new("password", NS_REGISTER)),
        ))
    })
}

/// §3.2 and §3.3: an iq set from a logged-in user.
struct ChangeOrRemove {
    iterations: u32,
}

impl IqHandler for ChangeOrRemove {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(change_or_remove(server, request, self.iterations))
    }
}

async fn change_or_remove(
    server: &Server,
    request: &IqRequest,
    iterations: u32,
) -> Result<Option<Element>, StanzaError> {
    let account = own_account(request)?;
    let query = request.payload();
    if query.get_child("remove", NS_REGISTER).is_some() {
        // §3.2: <remove/> must be the only child.
        if query.elements().count() != 1 {
            return Err(StanzaError::new(StanzaErrorCondition::BadRequest));
        }
        return remove(server, request, &account).await;
    }
    change_password(server, query, &account, iterations).await
}

/// §3.2: removes the account, then answers. The request is handled inside
/// the requesting session's own task, so the result is queued before that
/// session next looks at its kill switch: it is written first, and then the
/// `not-authorized` stream error the XEP asks for ends every session.
async fn remove(server: &Server, request: &IqRequest, account: &Jid) -> Result<Option<Element>, StanzaError> {
    match server.remove_account(account).await {
        Ok(true) => {
            tracing::info!(%account, "account removed in-band");
            Ok(None)
        }
        // Removed concurrently by an admin or another session.
        Ok(false) => Err(StanzaError::new(StanzaErrorCondition::RegistrationRequired)),
        Err(e) => {
            tracing::error!(%account, error = %e, from = %request.from, "in-band account removal failed");
            Err(StanzaError::new(StanzaErrorCondition::InternalServerError))
        }
    }
}

/// §3.3: a new password for the user's own account.
async fn change_password(
    server: &Server,
    query: &Element,
    account: &Jid,
    iterations: u32,
) -> Result<Option<Element>, StanzaError> {
    let (Some(username), Some(password)) =
        (query.get_child("username", NS_REGISTER), query.get_child("password", NS_REGISTER))
    else {
        return Err(StanzaError::new(StanzaErrorCondition::BadRequest));
    };
    if nodeprep(username.text().trim()).ok().as_deref() != account.node() {
        return Err(StanzaError::new(StanzaErrorCondition::BadRequest).with_text("that username is not yours"));
    }
    let password = password.text();
    if password.is_empty() {
        // §3.3: an empty password never replaces the existing one.
        return Err(StanzaError::new(StanzaErrorCondition::NotAcceptable).with_text("the password is empty"));
    }
    let creds = derive_credentials(password, iterations).await?;
    let node = account.node().expect("accounts have a localpart");
    match server.store.accounts().set_credentials(account.domain(), node, &creds).await {
        Ok(()) => {
            tracing::info!(%account, "password changed in-band");
            Ok(None)
        }
        Err(StoreError::NotFound) => Err(StanzaError::new(StanzaErrorCondition::RegistrationRequired)),
        Err(e) => {
            tracing::error!(%account, error = %e, "password change failed");
            Err(StanzaError::new(StanzaErrorCondition::InternalServerError))
        }
    }
}

/// SCRAM keys of `password` for every hash we offer; the password itself is
/// never stored. PBKDF2 is deliberately slow, so it runs off the async
/// workers. A password SASLprep refuses (RFC 4013) is `not-acceptable`.
pub(crate) async fn derive_credentials(
    password: String,
    iterations: u32,
) -> Result<Vec<ScramCredentials>, StanzaError> {
    let derived = tokio::task::spawn_blocking(move || ScramCredentials::for_every_hash(&password, iterations)).await;
    match derived {
        Ok(Ok(creds)) => Ok(creds),
        Ok(Err(_)) => Err(StanzaError::new(StanzaErrorCondition::NotAcceptable)
            .with_text("the password contains characters that are not allowed")),
        Err(_) => Err(StanzaError::new(StanzaErrorCondition::InternalServerError)),
    }
}

/// Creates an account: `conflict` if it exists, `not-acceptable` for an
/// empty password or one SASLprep refuses.
pub(crate) async fn create_account(
    server: &Server,
    account: &Jid,
    password: String,
    iterations: u32,
) -> Result<(), StanzaError> {
    if password.is_empty() {
        return Err(StanzaError::new(StanzaErrorCondition::NotAcceptable).with_text("the password is empty"));
    }
    // Checked before PBKDF2 runs, so that guessing taken names costs us little.
    if server.account_exists(account).await {
        return Err(StanzaError::new(StanzaErrorCondition::Conflict));
    }
    let creds = derive_credentials(password, iterations).await?;
    let node = account.node().expect("accounts have a localpart");
    match server.store.accounts().create(account.domain(), node, &creds).await {
        Ok(()) => Ok(()),
        Err(StoreError::AlreadyExists) => Err(StanzaError::new(StanzaErrorCondition::Conflict)),
        Err(e) => {
            tracing::error!(%account, error = %e, "account creation failed");
            Err(StanzaError::new(StanzaErrorCondition::InternalServerError))
        }
    }
}

/// Registration before authentication (§3.1.1, "Registration with a Server").
struct InBand {
    /// `[registration] allow`. When off, the feature is not advertised and
    /// the requests are answered as §3.1 wants of a host without in-band
    /// registration: `service-unavailable`.
    allow: bool,
    iterations: u32,
    limit: Arc<RateLimit>,
}

impl PreAuthIqHandler for InBand {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a PreAuthIq<'a>) -> IqFuture<'a> {
        Box::pin(async move {
            if !self.allow {
                return Err(StanzaError::new(StanzaErrorCondition::ServiceUnavailable));
            }
            if request.element.attr("type") == Some("get") {
                // §3.1: the unauthenticated entity is assumed unregistered.
                return Ok(Some(
                    Element::new("query", NS_REGISTER)
                        .with_child(
                            Element::new("instructions", NS_REGISTER)
                                .with_text("Choose a username and password for use with this service."),
                        )
                        .with_child(Element::new("username", NS_REGISTER))
                        .with_child(Element::new("password", NS_REGISTER)),
                ));
            }
            self.create(server, request).await.map(|()| None)
        })
    }
}

impl InBand {
    async fn create(&self, server: &Server, request: &PreAuthIq<'_>) -> Result<(), StanzaError> {
        let query = request.payload();
        if query.get_child("remove", NS_REGISTER).is_some() {
            // §3.2 error table: there is no account to remove before authentication.
            let mut error = StanzaError::new(StanzaErrorCondition::UnexpectedRequest);
            error.error_type = ErrorType::Cancel;
            return Err(error);
        }
        // §3.1: every field asked for must be provided, and the password must not be empty.
        let field = |name| query.get_child(name, NS_REGISTER).map(|e| e.text());
        let (Some(username), Some(password)) = (field("username"), field("password")) else {
            return Err(
                StanzaError::new(StanzaErrorCondition::NotAcceptable).with_text("username and password required")
            );
        };
        let account = nodeprep(username.trim())
            .ok()
            .and_then(|node| Jid::new(Some(&node), request.domain, None).ok())
            .ok_or_else(|| {
                StanzaError::new(StanzaErrorCondition::NotAcceptable).with_text("that username is not allowed")
            })?;
        if !self.limit.allows(request.peer) {
            let mut error = StanzaError::new(StanzaErrorCondition::PolicyViolation)
                .with_text("too many accounts registered from this address; try again later");
            error.error_type = ErrorType::Wait;
            return Err(error);
        }
        create_account(server, &account, password, self.iterations).await?;
        self.limit.record(request.peer);
        tracing::info!(%account, peer = %request.peer, "account registered in-band");
        Ok(())
    }
}

/// Accounts created per IP address in the last hour.
struct RateLimit {
    max: u32,
    created: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl RateLimit {
    fn new(max: u32) -> RateLimit {
        RateLimit { max, created: Mutex::new(HashMap::new()) }
    }

    fn allows(&self, peer: IpAddr) -> bool {
        let mut created = self.created.lock().expect("rate limit lock");
        let now = Instant::now();
        match created.get_mut(&peer) {
            Some(times) => {
                while times.front().is_some_and(|t| now.duration_since(*t) >= RATE_WINDOW) {
                    times.pop_front();
                }
                times.len() < self.max as usize
            }
            None => self.max > 0,
        }
    }

    fn record(&self, peer: IpAddr) {
        let mut created = self.created.lock().expect("rate limit lock");
        let now = Instant::now();
        // Registrations are rare: forgetting stale addresses here keeps the map small.
        created.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < RATE_WINDOW));
        created.entry(peer).or_default().push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_counts_per_address() {
        let limit = RateLimit::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(limit.allows(a));
        limit.record(a);
        assert!(limit.allows(a));
        limit.record(a);
        assert!(!limit.allows(a));
        assert!(limit.allows(b));
        assert!(!RateLimit::new(0).allows(a));
    }
}
