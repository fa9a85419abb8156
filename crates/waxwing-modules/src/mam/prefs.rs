//! Archiving preferences (XEP-0313 §6): a default mode and JIDs whose
//! messages are always or never archived, stored as the `<prefs/>` element
//! itself in the account's documents.

use std::sync::Arc;

use waxwing_core::module::IqFuture;
use waxwing_core::{IqHandler, IqRequest, Server};
use waxwing_jid::Jid;
use waxwing_proto::{IqType, StanzaError, StanzaErrorCondition, ns};
use waxwing_xml::Element;

use super::{NS_MAM, State};

const DATA_KIND: &str = "mam";
const DATA_KEY: &str = "prefs";

/// What is archived for JIDs in neither list (XEP-0313 §6.1 `default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Always,
    Never,
    /// Only conversations with JIDs in the user's roster.
    Roster,
}

impl Mode {
    pub(crate) fn parse(s: &str) -> Option<Mode> {
        match s {
            "always" => Some(Mode::Always),
            "never" => Some(Mode::Never),
            "roster" => Some(Mode::Roster),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Mode::Always => "always",
            Mode::Never => "never",
            Mode::Roster => "roster",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prefs {
    default: Mode,
    /// Bare JIDs, prepared.
    always: Vec<Jid>,
    never: Vec<Jid>,
}

impl Prefs {
    /// Reads a `<prefs/>` element. JIDs are prepared (XEP-0313 §6.1 compares
    /// JIDs, and a client may send them unprepared); `None` if one is not a
    /// JID or the mode is unknown.
    fn from_element(prefs: &Element, fallback: Mode) -> Option<Prefs> {
        let default = match prefs.attr("default") {
            Some(mode) => Mode::parse(mode)?,
            None => fallback,
        };
        let list = |name: &str| -> Option<Vec<Jid>> {
            let Some(list) = prefs.get_child(name, NS_MAM) else { return Some(Vec::new()) };
            list.elements()
                .filter(|e| e.is("jid", NS_MAM))
                .map(|e| Jid::parse(e.text().trim()).ok())
                .collect::<Option<Vec<Jid>>>()
        };
        Some(Prefs { default, always: list("always")?, never: list("never")? })
    }

    fn to_element(&self) -> Element {
        let list = |name: &str, jids: &[Jid]| {
            jids.iter().fold(Element::new(name, NS_MAM), |list, jid| {
                list.with_child(Element::new("jid", NS_MAM).with_text(jid.as_str()))
            })
        };
        Element::new("prefs", NS_MAM)
            .with_attr("default", self.default.as_str())
            .with_child(list("always", &self.always))
            .with_child(list("never", &self.never))
    }
}

impl State {
    /// The account's preferences: cached, else stored, else the default.
    async fn prefs(&self, server: &Server, owner: &Jid) -> Arc<Prefs> {
        if let Some(prefs) = self.prefs.get(owner) {
            return prefs.clone();
        }
        let stored = match server
            .store
            .account_data()
            .get(owner.domain(), owner.node().unwrap_or_default(), DATA_KIND, DATA_KEY)
            .await
        {
            Ok(stored) => stored,
            Err(error) => {
                // Not cached: the next message tries again.
                tracing::error!(%error, "reading archive preferences failed");
                return Arc::new(self.default_prefs());
            }
        };
        let prefs = stored
            .and_then(|xml| waxwing_xml::parse_element(&xml, NS_MAM).ok())
            .and_then(|e| Prefs::from_element(&e, self.default_mode))
            .unwrap_or_else(|| self.default_prefs());
        let prefs = Arc::new(prefs);
        // Messages to accounts that do not exist must not grow the cache:
        // anyone could send them to endless made-up addresses.
        if !server.sessions.infos(owner).is_empty() || server.account_exists(owner).await {
            self.prefs.insert(owner.clone(), prefs.clone());
        }
        prefs
    }

    fn default_prefs(&self) -> Prefs {
        Prefs { default: self.default_mode, always: Vec::new(), never: Vec::new() }
    }

    /// Whether `owner` archives its conversation with `with` (bare JIDs),
    /// XEP-0313 §6.1: `never` wins over `always`, and both over the default.
    pub(super) async fn wants(&self, server: &Server, owner: &Jid, with: &Jid) -> bool {
        let prefs = self.prefs(server, owner).await;
        if prefs.never.contains(with) {
            return false;
        }
        if prefs.always.contains(with) {
            return true;
        }
        match prefs.default {
            Mode::Always => true,
            Mode::Never => false,
            Mode::Roster => {
                let roster = server.store.roster();
                matches!(
                    roster.item(owner.domain(), owner.node().unwrap_or_default(), with.as_str()).await,
                    Ok(Some(_))
                )
            }
        }
    }
}

/// `<prefs/>` get and set, on one's own account only.
pub(super) struct Handler(pub(super) Arc<State>);

impl IqHandler for Handler {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(async move {
            let owner = request.from.bare();
            if request.to != owner {
                return Err(StanzaError::new(StanzaErrorCondition::Forbidden)
                    .with_text("Archive preferences are only available for one's own account"));
            }
            if request.iq_type == IqType::Get {
                return Ok(Some(self.0.prefs(server, &owner).await.to_element()));
            }
            let payload = request.payload();
            if payload.attr("default").is_none() {
                return Err(StanzaError::new(StanzaErrorCondition::BadRequest).with_text("'default' is required"));
            }
            let prefs = Prefs::from_element(payload, self.0.default_mode).ok_or_else(|| {
                StanzaError::new(StanzaErrorCondition::BadRequest).with_text("Unknown mode or invalid JID")
            })?;
            let xml = String::from_utf8(prefs.to_element().to_bytes(ns::CLIENT)).expect("serialised XML is UTF-8");
            let localpart = owner.node().unwrap_or_default();
            let _guard = server.lock_account(&owner).await;
            if let Err(error) =
                server.store.account_data().put(owner.domain(), localpart, DATA_KIND, DATA_KEY, &xml).await
            {
                tracing::error!(%error, "storing archive preferences failed");
                return Err(StanzaError::new(StanzaErrorCondition::InternalServerError));
            }
            let element = prefs.to_element();
            self.0.prefs.insert(owner, Arc::new(prefs));
            // XEP-0313 §6.1: the result holds the preferences now in force.
            Ok(Some(element))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jids_are_prepared_and_round_trip() {
        let xml = "<prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>JULIET@Capulet.LIT</jid></always>\
                   <never><jid>tybalt@capulet.lit</jid></never></prefs>";
        let prefs = Prefs::from_element(&waxwing_xml::parse_element(xml, NS_MAM).unwrap(), Mode::Always).unwrap();
        assert_eq!(prefs.default, Mode::Roster);
        assert_eq!(prefs.always[0].as_str(), "juliet@capulet.lit");
        let again = Prefs::from_element(&prefs.to_element(), Mode::Never).unwrap();
        assert_eq!(again, prefs);
    }

    #[test]
    fn bad_values_are_refused() {
        let bad_mode = Element::new("prefs", NS_MAM).with_attr("default", "sometimes");
        assert!(Prefs::from_element(&bad_mode, Mode::Always).is_none());
        let bad_jid = Element::new("prefs", NS_MAM)
            .with_attr("default", "always")
            .with_child(Element::new("never", NS_MAM).with_child(Element::new("jid", NS_MAM).with_text("@")));
        assert!(Prefs::from_element(&bad_jid, Mode::Always).is_none());
    }
}
