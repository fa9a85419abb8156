//! XEP-0054 vcard-temp, and the XEP-0153 avatar hash in presence.
//!
//! vCards are public (XEP-0054 §6): anyone may read an account's vCard at
//! its bare JID; only the account may change it. The stored document is the
//! `<vCard/>` exactly as the client sent it.
//!
//! XEP-0153 has clients put the SHA-1 of their avatar in every presence. The
//! server knows the vCard, so it adds `<x xmlns='vcard-temp:x:update'>` to
//! the available presence a client sends without one: with the hash when the
//! vCard has a photo, with an empty `<photo/>` when it has none (§4.1 rule
//! 3). A client that sends its own update element keeps it untouched: it has
//! taken on the protocol itself (§4.1 rule 1) and may be deliberately not
//! ready yet (rule 2). Like Prosody, this covers directed presence too,
//! which §4.1 rule 1 asks for (e.g. joining a chat room). The hash is kept
//! in memory per account while it has sessions, so presence never waits for
//! the database after the first one.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use dashmap::DashMap;
use sha1::{Digest, Sha1};
use waxwing_core::module::IqFuture;
use waxwing_core::{
    AccountHook, Flow, HookFuture, HookPoint, IqHandler, IqRequest, Module, Registrations, Server, SessionEvent,
    SessionHook, StanzaContext, StanzaHook,
};
use waxwing_jid::Jid;
use waxwing_proto::{IqType, StanzaError, StanzaErrorCondition, ns};
use waxwing_store::StoreError;
use waxwing_xml::Element;

use crate::ModulesConfig;

pub const NS_VCARD: &str = "vcard-temp";
pub const NS_VCARD_UPDATE: &str = "vcard-temp:x:update";

/// The `account_data` kind (and, with key `""`, the document) of the vCard.
const KIND: &str = "vcard";

/// Before the presence module's broadcast (priority 0), which takes the stanza.
const HOOK_PRIORITY: i32 = -10;

pub struct Vcard {
    max_bytes: usize,
}

impl Vcard {
    pub fn new(config: &ModulesConfig) -> Vcard {
        Vcard { max_bytes: config.vcard.max_bytes }
    }
}

impl Module for Vcard {
    fn name(&self) -> &'static str {
        "vcard"
    }

    fn register(&self, r: &mut Registrations) {
        let state = Arc::new(State { max_bytes: self.max_bytes, photo_hashes: DashMap::new() });
        r.iq(IqType::Get, NS_VCARD, "vCard", Get);
        r.iq(IqType::Set, NS_VCARD, "vCard", Set(state.clone()));
        r.disco_feature(NS_VCARD);
        r.stanza_hook(HookPoint::FromClient, HOOK_PRIORITY, AddPhotoHash(state.clone()));
        r.session_hook(ForgetOnLastClose(state.clone()));
        r.account_hook(ForgetOnRemoval(state));
    }
}

struct State {
    max_bytes: usize,
    /// Bare JID → hex SHA-1 of the vCard photo (`None`: no photo), for
    /// accounts that have sent presence and still have a session.
    photo_hashes: DashMap<Jid, Option<String>>,
}

impl State {
    /// The account's photo hash, from memory or else from its stored vCard;
    /// `None` when the store cannot tell (then presence is left alone rather
    /// than claiming there is no avatar).
    async fn photo_hash(&self, server: &Server, bare: &Jid) -> Option<Option<String>> {
        if let Some(hash) = self.photo_hashes.get(bare) {
            return Some(hash.clone());
        }
        let vcard = match load(server, bare).await {
            Ok(vcard) => vcard,
            Err(e) => {
                tracing::error!(error = %e, "reading the vCard for the avatar hash failed");
                return None;
            }
        };
        let hash = vcard.as_ref().and_then(photo_sha1);
        // `or_insert`: a vCard set that finished while we read the store has
        // already put the newer hash here, and it must win.
        Some(self.photo_hashes.entry(bare.clone()).or_insert(hash).clone())
    }
}

/// The stored vCard of an account, if it has one. A document that no longer
/// parses counts as a storage failure.
async fn load(server: &Server, bare: &Jid) -> Result<Option<Element>, StoreError> {
    let Some(node) = bare.node() else { return Ok(None) };
    let Some(text) = server.store.account_data().get(bare.domain(), node, KIND, "").await? else {
        return Ok(None);
    };
    waxwing_xml::parse_element(&text, ns::CLIENT)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("stored vCard of {}: {e}", bare.as_str())))
}

fn internal(e: StoreError) -> StanzaError {
    tracing::error!(error = %e, "vCard storage failed");
    StanzaError::new(StanzaErrorCondition::InternalServerError)
}

struct Get;

impl IqHandler for Get {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(async move {
            if request.to.node().is_none() {
                // The server itself has no vCard.
                return Err(StanzaError::new(StanzaErrorCondition::ItemNotFound));
            }
            match load(server, &request.to).await.map_err(internal)? {
                Some(vcard) => Ok(Some(vcard)),
                // §3.1: for one's own, an empty vCard is a valid answer.
                None if request.to == request.from.bare() => Ok(Some(Element::new("vCard", NS_VCARD))),
                // §3.3: for someone else's, the server MUST return an error.
                None => Err(StanzaError::new(StanzaErrorCondition::ItemNotFound)),
            }
        })
    }
}

struct Set(Arc<State>);

impl IqHandler for Set {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(async move {
            let account = &request.to;
            // §3.2: only one's own vCard, at one's bare JID (or with no `to`).
            let Some(node) = account.node().filter(|_| *account == request.from.bare()) else {
                return Err(StanzaError::new(StanzaErrorCondition::Forbidden));
            };
            let vcard = request.payload();
            let store = server.store.account_data();
            let empty = vcard.elements().next().is_none();
            if empty {
                // Publishing an empty vCard removes it.
                store.delete(account.domain(), node, KIND, "").await.map_err(internal)?;
            } else {
                let text = String::from_utf8(vcard.to_bytes(ns::CLIENT)).expect("serialised XML is UTF-8");
                if text.len() > self.0.max_bytes {
                    // RFC 6120 §8.3.3.9: understood, but it does not meet
                    // the server's criteria (XEP-0060 answers an oversized
                    // payload the same way).
                    return Err(StanzaError::new(StanzaErrorCondition::NotAcceptable)
                        .with_text(format!("vCard larger than {} bytes", self.0.max_bytes)));
                }
                store.put(account.domain(), node, KIND, "", &text).await.map_err(internal)?;
            }
            let hash = if empty { None } else { photo_sha1(vcard) };
            self.0.photo_hashes.insert(account.clone(), hash);
            Ok(None)
        })
    }
}

/// XEP-0153 §3.1: the hex SHA-1 of the decoded `<PHOTO><BINVAL/>` image
/// (whitespace inside the base64 ignored, §4.5 rule 5). `None` when there is
/// no photo, or only an `<EXTVAL/>` link, or data that is not base64.
fn photo_sha1(vcard: &Element) -> Option<String> {
    let binval = vcard.get_child("PHOTO", NS_VCARD)?.get_child("BINVAL", NS_VCARD)?.text();
    let compact: String = binval.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let image = BASE64.decode(compact).ok().filter(|image| !image.is_empty())?;
    Some(Sha1::digest(&image).iter().map(|b| format!("{b:02x}")).collect())
}

struct AddPhotoHash(Arc<State>);

impl StanzaHook for AddPhotoHash {
    fn handle<'a>(
        &'a self,
        server: &'a Server,
        context: &'a StanzaContext,
        mut stanza: Element,
    ) -> HookFuture<'a, Flow> {
        Box::pin(async move {
            // Available presence only (no type): unavailable presence and
            // subscription management carry no avatar.
            let applies = stanza.name == "presence"
                && stanza.attr("type").is_none()
                && stanza.get_child("x", NS_VCARD_UPDATE).is_none();
            if applies && let Some(hash) = self.0.photo_hash(server, &context.from.bare()).await {
                let mut photo = Element::new("photo", NS_VCARD_UPDATE);
                if let Some(hash) = hash {
                    photo.push_text(hash);
                }
                stanza.push_child(Element::new("x", NS_VCARD_UPDATE).with_child(photo));
            }
            Flow::Continue(stanza)
        })
    }
}

/// Memory is kept only for accounts with sessions.
struct ForgetOnLastClose(Arc<State>);

impl SessionHook for ForgetOnLastClose {
    fn on_event<'a>(&'a self, server: &'a Server, full: &'a Jid, event: &'a SessionEvent) -> HookFuture<'a, ()> {
        Box::pin(async move {
            if let SessionEvent::Closed { .. } = event {
                let bare = full.bare();
                if server.sessions.infos(&bare).is_empty() {
                    self.0.photo_hashes.remove(&bare);
                }
            }
        })
    }
}

struct ForgetOnRemoval(Arc<State>);

impl AccountHook for ForgetOnRemoval {
    fn removed<'a>(&'a self, _server: &'a Server, bare: &'a Jid) -> HookFuture<'a, ()> {
        Box::pin(async move {
            self.0.photo_hashes.remove(bare);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vcard_with_binval(binval: &str) -> Element {
        Element::new("vCard", NS_VCARD).with_child(
            Element::new("PHOTO", NS_VCARD)
                .with_child(Element::new("TYPE", NS_VCARD).with_text("image/png"))
                .with_child(Element::new("BINVAL", NS_VCARD).with_text(binval)),
        )
    }

    #[test]
    fn hash_is_of_the_decoded_image_ignoring_line_breaks() {
        // SHA-1("abc") is the RFC 3174 test vector; "YWJj" is base64 for "abc".
        let expected = Some("a9993e364706816aba3e25717850c26c9cd0d89d".to_string());
        assert_eq!(photo_sha1(&vcard_with_binval("YWJj")), expected);
        assert_eq!(photo_sha1(&vcard_with_binval("\n  YW\r\nJj\n")), expected);
    }

    #[test]
    fn no_photo_no_hash() {
        assert_eq!(photo_sha1(&Element::new("vCard", NS_VCARD)), None);
        assert_eq!(photo_sha1(&vcard_with_binval("")), None);
        assert_eq!(photo_sha1(&vcard_with_binval("not base64!")), None);
        let extval = Element::new("vCard", NS_VCARD).with_child(
            Element::new("PHOTO", NS_VCARD).with_child(Element::new("EXTVAL", NS_VCARD).with_text("https://x/a.png")),
        );
        assert_eq!(photo_sha1(&extval), None);
    }
}
