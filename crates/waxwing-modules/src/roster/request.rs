//! Reading a roster set (RFC 6121 §2.3–2.5) and checking it against §2.3.3
//! and the configured limits, before anything is stored.

use waxwing_jid::Jid;
use waxwing_proto::{StanzaError, StanzaErrorCondition};
use waxwing_xml::Element;

use super::NS_ROSTER;
use crate::config::RosterConfig;

/// What a valid roster set asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Add the contact, or replace its name and groups (§2.3, §2.4).
    Update { contact: Jid, name: Option<String>, groups: Vec<String> },
    /// Remove the contact (§2.5).
    Remove { contact: Jid },
}

impl Change {
    pub(crate) fn contact(&self) -> &Jid {
        match self {
            Change::Update { contact, .. } | Change::Remove { contact } => contact,
        }
    }
}

fn error(condition: StanzaErrorCondition, text: &str) -> StanzaError {
    StanzaError::new(condition).with_text(text)
}

/// Reads the `<query/>` of a roster set.
pub(crate) fn parse(query: &Element, limits: &RosterConfig) -> Result<Change, StanzaError> {
    let mut items = query.elements().filter(|e| e.is("item", NS_ROSTER));
    let (Some(item), None) = (items.next(), items.next()) else {
        // §2.3.3: exactly one item per roster set.
        return Err(error(StanzaErrorCondition::BadRequest, "A roster set carries exactly one item"));
    };
    let Some(jid) = item.attr("jid") else {
        return Err(error(StanzaErrorCondition::BadRequest, "The item has no 'jid'"));
    };
    let contact =
        Jid::parse(jid).map_err(|_| error(StanzaErrorCondition::JidMalformed, "The item's 'jid' is not a JID"))?;
    if !contact.is_bare() {
        // Subscriptions are between bare JIDs (§3), and so are roster items.
        return Err(error(StanzaErrorCondition::BadRequest, "Roster items are bare JIDs"));
    }
    // §2.1.2.5: in a roster set, every 'subscription' value but "remove" is
    // ignored; so are 'ask' and 'approved', which only the server sets.
    if item.attr("subscription") == Some("remove") {
        return Ok(Change::Remove { contact });
    }
    // An empty name is no name: clients send name='' to clear it (§2.4.1).
    let name = item.attr("name").filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.len() > limits.max_text_bytes) {
        // §2.3.3: a name longer than the server allows.
        return Err(error(StanzaErrorCondition::NotAcceptable, "The name is too long"));
    }
    let mut groups: Vec<String> = Vec::new();
    for group in item.elements().filter(|e| e.is("group", NS_ROSTER)) {
        let group = group.text();
        // §2.3.3: an empty group name, or one longer than the server allows.
        if group.is_empty() {
            return Err(error(StanzaErrorCondition::NotAcceptable, "A group name is empty"));
        }
        if group.len() > limits.max_text_bytes {
            return Err(error(StanzaErrorCondition::NotAcceptable, "A group name is too long"));
        }
        // §2.3.3: the same group twice.
        if groups.contains(&group) {
            return Err(error(StanzaErrorCondition::BadRequest, "A group is listed twice"));
        }
        groups.push(group);
    }
    if groups.len() > limits.max_groups {
        return Err(error(StanzaErrorCondition::NotAcceptable, "The item is in too many groups"));
    }
    Ok(Change::Update { contact, name: name.map(str::to_string), groups })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(items: &str) -> Element {
        waxwing_xml::parse_element(&format!("<query xmlns='{NS_ROSTER}'>{items}</query>"), "jabber:client").unwrap()
    }

    fn limits() -> RosterConfig {
        RosterConfig { max_items: 10, max_text_bytes: 8, max_groups: 2 }
    }

    fn condition(items: &str) -> StanzaErrorCondition {
        parse(&query(items), &limits()).unwrap_err().condition
    }

    #[test]
    fn an_update_with_name_and_groups() {
        let change = parse(
            &query("<item jid='Nurse@Example.com' name='Nurse'><group>A</group><group>B</group></item>"),
            &limits(),
        );
        assert_eq!(
            change.unwrap(),
            Change::Update {
                contact: Jid::parse("nurse@example.com").unwrap(),
                name: Some("Nurse".into()),
                groups: vec!["A".into(), "B".into()]
            }
        );
    }

    #[test]
    fn remove_and_ignored_attributes() {
        let remove = parse(&query("<item jid='a@b' subscription='remove'/>"), &limits()).unwrap();
        assert_eq!(remove, Change::Remove { contact: Jid::parse("a@b").unwrap() });
        // Other subscription values, ask and approved are the server's business.
        let update =
            parse(&query("<item jid='a@b' subscription='both' ask='subscribe' approved='true' name=''/>"), &limits());
        assert_eq!(update.unwrap(), Change::Update { contact: Jid::parse("a@b").unwrap(), name: None, groups: vec![] });
    }

    #[test]
    fn section_2_3_3_errors() {
        use StanzaErrorCondition::*;
        assert_eq!(condition(""), BadRequest);
        assert_eq!(condition("<item jid='a@b'/><item jid='c@d'/>"), BadRequest);
        assert_eq!(condition("<item jid='a@b'><group>A</group><group>A</group></item>"), BadRequest);
        assert_eq!(condition("<item jid='a@b'><group/></item>"), NotAcceptable);
        assert_eq!(condition("<item jid='a@b'><group>123456789</group></item>"), NotAcceptable);
        assert_eq!(condition("<item jid='a@b' name='123456789'/>"), NotAcceptable);
        assert_eq!(condition("<item jid='a@b'><group>A</group><group>B</group><group>C</group></item>"), NotAcceptable);
        assert_eq!(condition("<item/>"), BadRequest);
        assert_eq!(condition("<item jid='@b'/>"), JidMalformed);
        assert_eq!(condition("<item jid='a@b/c'/>"), BadRequest);
        // The limits are in bytes: eight bytes pass, nine do not.
        assert!(parse(&query("<item jid='a@b' name='12345678'/>"), &limits()).is_ok());
        assert_eq!(condition("<item jid='a@b' name='1234567é'/>"), NotAcceptable);
    }
}
