//! XEP-0030 Service Discovery, XEP-0128 extended information and XEP-0115
//! Entity Capabilities for the server.
//!
//! - disco#info on the domain lists the server's identities, the features of
//!   every enabled module and the modules' extension forms (XEP-0157 contact
//!   addresses, for example). Nothing here names another module: what is on
//!   is what is advertised.
//! - disco#info on an account's bare JID is answered by the server on the
//!   account's behalf (XEP-0030 §3.1) with the identity `account/registered`
//!   and the account features the modules registered, but only to the
//!   account itself and to contacts allowed to see its presence (§8: anyone
//!   else gets `service-unavailable`, so the reply cannot be used to harvest
//!   accounts).
//! - disco#items lists nothing yet, on the domain (no components) or on an
//!   account (§8 allows an empty list to everyone; PEP will add nodes).
//! - The post-authentication stream features carry an XEP-0115 `<c/>` (§6.3)
//!   whose `ver` hashes exactly the disco#info answer, and disco#info on
//!   `node#ver` (§6.2) answers the same, so a client can verify the hash.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};
use waxwing_core::module::IqFuture;
use waxwing_core::{IqRequest, Module, NodeQuery, Registrations, Server};
use waxwing_jid::Jid;
use waxwing_proto::{IqType, StanzaError, StanzaErrorCondition, ns};
use waxwing_store::Subscription;
use waxwing_xml::Element;

pub const NS_CAPS: &str = "http://jabber.org/protocol/caps";
pub const NS_DATA_FORMS: &str = "jabber:x:data";

/// The XEP-0115 `node`: "a URI that uniquely identifies a software
/// application" (§4), here the project's repository URL from the workspace
/// manifest, so that it follows the project wherever it is published.
pub const CAPS_NODE: &str = env!("CARGO_PKG_REPOSITORY");

pub struct Disco;

impl Module for Disco {
    fn name(&self) -> &'static str {
        "disco"
    }

    fn register(&self, r: &mut Registrations) {
        r.disco_identity("server", "im", "Waxwing");
        for feature in [ns::DISCO_INFO, ns::DISCO_ITEMS] {
            r.disco_feature(feature);
            r.account_disco_feature(feature);
        }
        r.iq(IqType::Get, ns::DISCO_INFO, "query", info);
        r.iq(IqType::Get, ns::DISCO_ITEMS, "query", items);
        r.late_stream_feature(|identities, features, forms| {
            let identities: Vec<_> = identities.iter().map(|i| (i.category, i.kind, "", i.name)).collect();
            Element::new("c", NS_CAPS)
                .with_attr("hash", "sha-1")
                .with_attr("node", CAPS_NODE)
                .with_attr("ver", caps_ver(&identities, features, forms))
        });
    }
}

fn info<'a>(server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
    Box::pin(async move {
        let node = request.payload().attr("node");
        if request.to.node().is_some() {
            if !may_see_presence(server, &request.to, &request.from).await? {
                return Err(StanzaError::new(StanzaErrorCondition::ServiceUnavailable));
            }
            if node.is_some() {
                return Err(StanzaError::new(StanzaErrorCondition::ItemNotFound));
            }
            let mut query =
                Element::new("query", ns::DISCO_INFO).with_child(identity_element("account", "registered", None));
            for feature in server.account_disco_features() {
                query.push_child(feature_element(feature));
            }
            return Ok(Some(query));
        }
        let mut query = Element::new("query", ns::DISCO_INFO);
        if let Some(node) = node {
            // XEP-0030 §3.2: the reply mirrors the node.
            query.set_attr("node", node);
            // XEP-0115 §6.2: the caps node#ver names the domain's own answer.
            if node != server_caps_node(server) {
                let provider = server.disco_node(node).ok_or(StanzaErrorCondition::ItemNotFound)?;
                let query_node = NodeQuery { requester: &request.from, to: &request.to, node };
                let info = provider.info(server, &query_node).await.ok_or(StanzaErrorCondition::ItemNotFound)?;
                for identity in &info.identities {
                    query.push_child(identity_element(identity.category, identity.kind, Some(identity.name)));
                }
                for feature in info.features {
                    query.push_child(feature_element(feature));
                }
                return Ok(Some(query));
            }
        }
        for identity in server.identities() {
            query.push_child(identity_element(identity.category, identity.kind, Some(identity.name)));
        }
        for feature in server.disco_features() {
            query.push_child(feature_element(feature));
        }
        for form in server.disco_extensions() {
            query.push_child(form.clone());
        }
        Ok(Some(query))
    })
}

fn items<'a>(server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
    Box::pin(async move {
        if let Some(node) = request.payload().attr("node") {
            // Nodes of the server belong to the modules that registered them
            // (XEP-0050's command list, for one); accounts have none yet.
            let provider = server
                .disco_node(node)
                .filter(|_| request.to.node().is_none())
                .ok_or(StanzaErrorCondition::ItemNotFound)?;
            let query_node = NodeQuery { requester: &request.from, to: &request.to, node };
            let items = provider.items(server, &query_node).await.ok_or(StanzaErrorCondition::ItemNotFound)?;
            let mut query = Element::new("query", ns::DISCO_ITEMS).with_attr("node", node);
            for item in items {
                query.push_child(item);
            }
            return Ok(Some(query));
        }
        // No components yet, and no account items: XEP-0030 §4.1 wants an
        // empty query rather than an error. For an account, §8 allows the
        // empty list to anyone (it reveals no resources).
        Ok(Some(Element::new("query", ns::DISCO_ITEMS)))
    })
}

fn identity_element(category: &str, kind: &str, name: Option<&str>) -> Element {
    let mut identity = Element::new("identity", ns::DISCO_INFO).with_attr("category", category).with_attr("type", kind);
    if let Some(name) = name.filter(|name| !name.is_empty()) {
        identity.set_attr("name", name);
    }
    identity
}

fn feature_element(var: &str) -> Element {
    Element::new("feature", ns::DISCO_INFO).with_attr("var", var)
}

/// The `node#ver` string of the server's current disco#info.
fn server_caps_node(server: &Server) -> String {
    let identities: Vec<_> = server.identities().iter().map(|i| (i.category, i.kind, "", i.name)).collect();
    format!("{CAPS_NODE}#{}", caps_ver(&identities, server.disco_features(), server.disco_extensions()))
}

/// Whether `requester` may learn about the account `account` the way its
/// contacts do: it is the account itself, or the account's roster gives it a
/// subscription to the account's presence (`from` or `both`). XEP-0030 §8 and
/// XEP-0012 §3 both draw the line there. A storage failure is an
/// `internal-server-error`, never a silent yes.
pub(crate) async fn may_see_presence(server: &Server, account: &Jid, requester: &Jid) -> Result<bool, StanzaError> {
    let requester = requester.bare();
    if requester == account.bare() {
        return Ok(true);
    }
    let Some(node) = account.node() else { return Ok(false) };
    let item = server.store.roster().item(account.domain(), node, requester.as_str()).await.map_err(|e| {
        tracing::error!(error = %e, "roster lookup failed");
        StanzaError::new(StanzaErrorCondition::InternalServerError)
    })?;
    Ok(item.is_some_and(|item| matches!(item.subscription, Subscription::From | Subscription::Both)))
}

/// The XEP-0115 §5.1 verification string, SHA-1 and base64 encoded.
///
/// `identities` are (category, type, xml:lang, name); `forms` are XEP-0128
/// data forms, of which only those with a hidden `FORM_TYPE` count (§5.4,
/// 3.6). Sorting is by octets (`i;octet`, RFC 4790 §9.3), which is how Rust
/// compares `str`.
pub fn caps_ver(identities: &[(&str, &str, &str, &str)], features: &[&str], forms: &[Element]) -> String {
    let mut s = String::new();
    let mut identities = identities.to_vec();
    // §5.1 step 2: by category, then type, then xml:lang (name last, for a
    // stable order among otherwise equal identities).
    identities.sort();
    for (category, kind, lang, name) in identities {
        s.push_str(&format!("{category}/{kind}/{lang}/{name}<"));
    }
    let features: BTreeSet<&str> = features.iter().copied().collect();
    for feature in features {
        s.push_str(feature);
        s.push('<');
    }
    let mut forms: Vec<(String, &Element)> =
        forms.iter().filter_map(|form| form_type(form).map(|form_type| (form_type, form))).collect();
    forms.sort_by(|a, b| a.0.cmp(&b.0));
    for (form_type, form) in forms {
        s.push_str(&form_type);
        s.push('<');
        let mut fields: Vec<(&str, Vec<String>)> = form
            .elements()
            .filter(|f| f.is("field", NS_DATA_FORMS))
            .filter_map(|f| Some((f.attr("var")?, f)))
            .filter(|(var, _)| *var != "FORM_TYPE")
            .map(|(var, f)| (var, f.elements().filter(|v| v.is("value", NS_DATA_FORMS)).map(|v| v.text()).collect()))
            .collect();
        fields.sort_by(|a, b| a.0.cmp(b.0));
        for (var, mut values) in fields {
            s.push_str(var);
            s.push('<');
            values.sort();
            for value in values {
                s.push_str(&value);
                s.push('<');
            }
        }
    }
    BASE64.encode(Sha1::digest(s.as_bytes()))
}

/// The value of a form's hidden `FORM_TYPE` field, if it has one.
fn form_type(form: &Element) -> Option<String> {
    let field = form.elements().find(|f| {
        f.is("field", NS_DATA_FORMS) && f.attr("var") == Some("FORM_TYPE") && f.attr("type") == Some("hidden")
    })?;
    Some(field.get_child("value", NS_DATA_FORMS)?.text())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS_FEATURES: [&str; 4] = [
        "http://jabber.org/protocol/caps",
        "http://jabber.org/protocol/disco#info",
        "http://jabber.org/protocol/disco#items",
        "http://jabber.org/protocol/muc",
    ];

    fn field(var: &str, kind: Option<&str>, values: &[&str]) -> Element {
        let mut field = Element::new("field", NS_DATA_FORMS).with_attr("var", var);
        if let Some(kind) = kind {
            field.set_attr("type", kind);
        }
        for value in values {
            field.push_child(Element::new("value", NS_DATA_FORMS).with_text(*value));
        }
        field
    }

    #[test]
    fn xep_0115_simple_example() {
        // §5.2: one identity, four features, given out of order here.
        let mut features = CAPS_FEATURES;
        features.reverse();
        let ver = caps_ver(&[("client", "pc", "", "Exodus 0.9.1")], &features, &[]);
        assert_eq!(ver, "QgayPKawpkPSDYmwT/WM94uAlu0=");
    }

    #[test]
    fn xep_0115_complex_example() {
        // §5.3: two identities with xml:lang and one extension form whose
        // fields and values are out of order.
        let form = Element::new("x", NS_DATA_FORMS)
            .with_attr("type", "result")
            .with_child(field("FORM_TYPE", Some("hidden"), &["urn:xmpp:dataforms:softwareinfo"]))
            .with_child(field("ip_version", Some("text-multi"), &["ipv4", "ipv6"]))
            .with_child(field("os", None, &["Mac"]))
            .with_child(field("os_version", None, &["10.5.1"]))
            .with_child(field("software", None, &["Psi"]))
            .with_child(field("software_version", None, &["0.11"]));
        let identities = [("client", "pc", "en", "Psi 0.11"), ("client", "pc", "el", "Ψ 0.11")];
        let ver = caps_ver(&identities, &CAPS_FEATURES, std::slice::from_ref(&form));
        assert_eq!(ver, "q07IKJEyjvHSyhy//CH0CxmKi8w=");

        // A form without a hidden FORM_TYPE is ignored (§5.4 3.6).
        let untyped = Element::new("x", NS_DATA_FORMS).with_child(field("os", None, &["Linux"]));
        assert_eq!(caps_ver(&identities, &CAPS_FEATURES, &[untyped, form]), ver);
    }

    #[test]
    fn every_input_changes_the_hash() {
        let base = caps_ver(&[("server", "im", "", "Waxwing")], &["a", "b"], &[]);
        assert_ne!(caps_ver(&[("server", "im", "", "Other")], &["a", "b"], &[]), base);
        assert_ne!(caps_ver(&[("server", "im", "", "Waxwing")], &["a"], &[]), base);
        let form = Element::new("x", NS_DATA_FORMS).with_child(field("FORM_TYPE", Some("hidden"), &["urn:x"]));
        assert_ne!(caps_ver(&[("server", "im", "", "Waxwing")], &["a", "b"], &[form]), base);
    }
}
