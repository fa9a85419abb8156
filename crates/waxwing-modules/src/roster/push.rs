//! Roster items on the wire (RFC 6121 §2.1.2) and roster pushes (§2.1.6).

use std::sync::atomic::{AtomicU64, Ordering};

use waxwing_core::Server;
use waxwing_jid::Jid;
use waxwing_proto::ns;
use waxwing_store::RosterItem;
use waxwing_xml::Element;

use super::NS_ROSTER;

/// `<item/>` as a roster result or push shows it. Optional attributes are
/// left out rather than sent empty or false: clients compare items strictly.
pub(crate) fn item_element(item: &RosterItem) -> Element {
    let mut element = Element::new("item", NS_ROSTER).with_attr("jid", item.contact.as_str());
    if let Some(name) = &item.name {
        element.set_attr("name", name.as_str());
    }
    element.set_attr("subscription", item.subscription.as_str());
    if item.ask_subscribe {
        element.set_attr("ask", "subscribe");
    }
    if item.approved {
        element.set_attr("approved", "true");
    }
    for group in &item.groups {
        element.push_child(Element::new("group", NS_ROSTER).with_text(group.as_str()));
    }
    element
}

/// The item of a push announcing that `contact` left the roster (§2.5.2).
pub(crate) fn removal_element(contact: &str) -> Element {
    Element::new("item", NS_ROSTER).with_attr("jid", contact).with_attr("subscription", "remove")
}

/// Sends `item` at roster version `version` to every interested resource of
/// `account` (§2.1.6: those that asked for the roster in this session).
///
/// Call it while holding the account's lock, so that pushes leave in the
/// order of the versions they carry.
pub(crate) fn push(server: &Server, account: &Jid, item: Element, version: u64) {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    for resource in server.sessions.infos(account).into_iter().filter(|r| r.interested) {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        // No `from`: a push comes from the account itself (§2.1.6), which
        // clients recognise by its absence.
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", format!("push-{id}"))
            .with_attr("to", resource.full.as_str())
            .with_child(
                Element::new("query", NS_ROSTER).with_attr("ver", version.to_string()).with_child(item.clone()),
            );
        // A full queue closes that session, which is all there is to do.
        let _ = resource.handle.send(iq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waxwing_store::Subscription;

    #[test]
    fn only_meaningful_attributes_are_written() {
        let mut item = RosterItem {
            contact: "nurse@example.com".into(),
            name: None,
            subscription: Subscription::None,
            ask_subscribe: false,
            approved: false,
            groups: vec![],
        };
        let bare = item_element(&item);
        assert_eq!(bare.attrs, [("jid".to_string(), item.contact.clone()), ("subscription".into(), "none".into())]);
        assert_eq!(bare.elements().count(), 0);

        item.name = Some("Nurse".into());
        item.ask_subscribe = true;
        item.approved = true;
        item.groups = vec!["Servants".into(), "Verona".into()];
        let full = item_element(&item);
        assert_eq!(full.attr("name"), Some("Nurse"));
        assert_eq!(full.attr("ask"), Some("subscribe"));
        assert_eq!(full.attr("approved"), Some("true"));
        let groups: Vec<String> = full.elements().map(|g| g.text()).collect();
        assert_eq!(groups, ["Servants", "Verona"]);
    }
}
