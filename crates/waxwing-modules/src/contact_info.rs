//! XEP-0157: Contact Addresses for XMPP Services.
//!
//! The addresses from `[contact_info]` become an XEP-0128 extension form in
//! the server's disco#info (§3): FORM_TYPE `http://jabber.org/network/serverinfo`,
//! one `list-multi` field per role, in the registry's order, values in the
//! order configured. Like the example in §3, roles without addresses are
//! left out, and with no addresses at all there is no form.

use waxwing_core::{Module, Registrations};
use waxwing_xml::Element;

use crate::ModulesConfig;
use crate::config::ContactInfoConfig;
use crate::disco::NS_DATA_FORMS;

pub const FORM_TYPE: &str = "http://jabber.org/network/serverinfo";

pub struct ContactInfo {
    form: Option<Element>,
}

impl ContactInfo {
    pub fn new(config: &ModulesConfig) -> ContactInfo {
        ContactInfo { form: serverinfo_form(&config.contact_info) }
    }
}

impl Module for ContactInfo {
    fn name(&self) -> &'static str {
        "contact_info"
    }

    fn register(&self, r: &mut Registrations) {
        if let Some(form) = &self.form {
            r.disco_extension(form.clone());
        }
    }
}

fn serverinfo_form(config: &ContactInfoConfig) -> Option<Element> {
    let roles: [(&str, &[String]); 7] = [
        ("abuse-addresses", &config.abuse),
        ("admin-addresses", &config.admin),
        ("feedback-addresses", &config.feedback),
        ("sales-addresses", &config.sales),
        ("security-addresses", &config.security),
        ("status-addresses", &config.status),
        ("support-addresses", &config.support),
    ];
    if roles.iter().all(|(_, addresses)| addresses.is_empty()) {
        return None;
    }
    let mut form = Element::new("x", NS_DATA_FORMS).with_attr("type", "result").with_child(field(
        "FORM_TYPE",
        "hidden",
        &[FORM_TYPE.to_string()],
    ));
    for (var, addresses) in roles.into_iter().filter(|(_, addresses)| !addresses.is_empty()) {
        form.push_child(field(var, "list-multi", addresses));
    }
    Some(form)
}

fn field(var: &str, kind: &str, values: &[String]) -> Element {
    let mut field = Element::new("field", NS_DATA_FORMS).with_attr("type", kind).with_attr("var", var);
    for value in values {
        field.push_child(Element::new("value", NS_DATA_FORMS).with_text(value.clone()));
    }
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_roles_with_addresses_in_registry_order() {
        let config = ContactInfoConfig {
            support: vec!["https://example.org/help".into(), "xmpp:help@example.org".into()],
            abuse: vec!["mailto:abuse@example.org".into()],
            ..Default::default()
        };
        let form = serverinfo_form(&config).unwrap();
        let fields: Vec<(Option<&str>, Option<&str>, Vec<String>)> = form
            .elements()
            .map(|f| (f.attr("var"), f.attr("type"), f.elements().map(|v| v.text()).collect()))
            .collect();
        assert_eq!(
            fields,
            [
                (Some("FORM_TYPE"), Some("hidden"), vec![FORM_TYPE.to_string()]),
                (Some("abuse-addresses"), Some("list-multi"), vec!["mailto:abuse@example.org".to_string()]),
                (
                    Some("support-addresses"),
                    Some("list-multi"),
                    vec!["https://example.org/help".to_string(), "xmpp:help@example.org".to_string()]
                ),
            ]
        );
    }

    #[test]
    fn no_addresses_no_form() {
        assert!(serverinfo_form(&ContactInfoConfig::default()).is_none());
    }
}
