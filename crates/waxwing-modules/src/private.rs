//! XEP-0049: Private XML Storage.
//!
//! An account keeps arbitrary XML documents on the server, each identified by
//! its root element's namespace and name (what a get asks for: `<exodus
//! xmlns='exodus:prefs'/>`, `<storage xmlns='storage:bookmarks'/>`). Only
//! the account itself may read or write them (§3: `forbidden` for anyone
//! else, which the XEP prefers over `service-unavailable`).
//!
//! A set may carry several elements (§2.3); each is stored under its own
//! namespace and name, and elements sharing both are kept together. A get
//! names exactly one element; one never stored comes back empty, as asked.

use waxwing_core::module::IqFuture;
use waxwing_core::{IqHandler, IqRequest, Module, Registrations, Server};
use waxwing_proto::{IqType, StanzaError, StanzaErrorCondition, ns};
use waxwing_store::StoreError;
use waxwing_xml::Element;

use crate::ModulesConfig;

pub const NS_PRIVATE: &str = "jabber:iq:private";

/// The `account_data` kind; the key is the root element in Clark notation
/// (`{namespace}name`), the value a serialised `<query/>` holding the
/// element(s) stored under it.
const KIND: &str = "private";

pub struct Private {
    max_bytes: usize,
}

impl Private {
    pub fn new(config: &ModulesConfig) -> Private {
        Private { max_bytes: config.private.max_bytes }
    }
}

impl Module for Private {
    fn name(&self) -> &'static str {
        "private"
    }

    fn register(&self, r: &mut Registrations) {
        let handler = Storage { max_bytes: self.max_bytes };
        r.iq(IqType::Get, NS_PRIVATE, "query", handler);
        r.iq(IqType::Set, NS_PRIVATE, "query", handler);
        r.disco_feature(NS_PRIVATE);
    }
}

#[derive(Clone, Copy)]
struct Storage {
    max_bytes: usize,
}

impl IqHandler for Storage {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(async move {
            // §3 and Security Considerations: nobody but the account itself.
            let account = &request.to;
            let Some(node) = account.node().filter(|_| *account == request.from.bare()) else {
                return Err(StanzaError::new(StanzaErrorCondition::Forbidden));
            };
            let elements: Vec<&Element> = request.payload().elements().collect();
            // §2.3: "At least one child element with a proper namespace MUST
            // be included; otherwise ... Not Acceptable".
            if elements.is_empty() || elements.iter().any(|e| !is_proper_namespace(&e.ns)) {
                return Err(StanzaError::new(StanzaErrorCondition::NotAcceptable));
            }
            let store = server.store.account_data();
            match request.iq_type {
                IqType::Get => {
                    // §2.3: "A client MUST NOT query for more than one namespace".
                    let [wanted] = elements[..] else {
                        return Err(StanzaError::new(StanzaErrorCondition::BadRequest)
                            .with_text("ask for one element per query"));
                    };
                    let stored = store.get(account.domain(), node, KIND, &key(wanted)).await.map_err(internal)?;
                    let query = match stored {
                        Some(text) => waxwing_xml::parse_element(&text, ns::CLIENT)
                            .map_err(|e| internal(StoreError::Corrupt(format!("stored private XML: {e}"))))?,
                        None => Element::new("query", NS_PRIVATE)
                            .with_child(Element::new(wanted.name.clone(), wanted.ns.clone())),
                    };
                    Ok(Some(query))
                }
                _ => {
                    // Group by key, keeping the order within each document.
                    let mut documents: Vec<(String, Element)> = Vec::new();
                    for element in elements {
                        let key = key(element);
                        match documents.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, query)) => query.push_child(element.clone()),
                            None => {
                                documents.push((key, Element::new("query", NS_PRIVATE).with_child(element.clone())))
                            }
                        }
                    }
                    let mut serialised = Vec::with_capacity(documents.len());
                    for (key, query) in documents {
                        let text = String::from_utf8(query.to_bytes(ns::CLIENT)).expect("serialised XML is UTF-8");
                        if text.len() > self.max_bytes {
                            // RFC 6120 §8.3.3.9: understood, but beyond what
                            // the server accepts; nothing is stored.
                            return Err(StanzaError::new(StanzaErrorCondition::NotAcceptable)
                                .with_text(format!("private XML larger than {} bytes", self.max_bytes)));
                        }
                        serialised.push((key, text));
                    }
                    for (key, text) in serialised {
                        store.put(account.domain(), node, KIND, &key, &text).await.map_err(internal)?;
                    }
                    Ok(None)
                }
            }
        })
    }
}

/// Stored XML must live in a namespace of its own: not the stanza's (an
/// element without `xmlns` inherits `jabber:client`) nor this protocol's.
fn is_proper_namespace(namespace: &str) -> bool {
    !namespace.is_empty() && namespace != ns::CLIENT && namespace != NS_PRIVATE
}

fn key(element: &Element) -> String {
    format!("{{{}}}{}", element.ns, element.name)
}

fn internal(e: StoreError) -> StanzaError {
    tracing::error!(error = %e, "private XML storage failed");
    StanzaError::new(StanzaErrorCondition::InternalServerError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_namespaces() {
        assert_eq!(key(&Element::new("storage", "storage:bookmarks")), "{storage:bookmarks}storage");
        assert!(is_proper_namespace("exodus:prefs"));
        assert!(!is_proper_namespace(ns::CLIENT));
        assert!(!is_proper_namespace(NS_PRIVATE));
        assert!(!is_proper_namespace(""));
    }
}
