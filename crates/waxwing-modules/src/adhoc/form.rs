//! The few XEP-0004 data forms the commands need: building a form or a
//! result, and reading a submitted one.

use std::collections::HashMap;

use waxwing_proto::{StanzaError, StanzaErrorCondition};
use waxwing_xml::Element;

use super::payload_error;

pub const NS_DATA: &str = "jabber:x:data";

/// A form (`type='form'`) or result (`type='result'`) of `form_type`
/// (XEP-0068: the hidden `FORM_TYPE` field names the field registry).
pub fn new(kind: &str, form_type: &str, title: &str, instructions: Option<&str>) -> Element {
    let mut x =
        Element::new("x", NS_DATA).with_attr("type", kind).with_child(Element::new("title", NS_DATA).with_text(title));
    if let Some(instructions) = instructions {
        x.push_child(Element::new("instructions", NS_DATA).with_text(instructions));
    }
    x.with_child(field("FORM_TYPE", "hidden", None, false, &[form_type]))
}

/// One `<field/>`, with its values.
pub fn field(var: &str, kind: &str, label: Option<&str>, required: bool, values: &[&str]) -> Element {
    let mut field = Element::new("field", NS_DATA).with_attr("var", var).with_attr("type", kind);
    if let Some(label) = label {
        field.set_attr("label", label);
    }
    if required {
        field.push_child(Element::new("required", NS_DATA));
    }
    for value in values {
        field.push_child(Element::new("value", NS_DATA).with_text(*value));
    }
    field
}

/// A `list-single` field offering `options` (value, label), `default` chosen.
pub fn list_single(var: &str, label: &str, options: &[(&str, &str)], default: &str) -> Element {
    let mut field = field(var, "list-single", Some(label), false, &[default]);
    for (value, label) in options {
        field.push_child(
            Element::new("option", NS_DATA)
                .with_attr("label", *label)
                .with_child(Element::new("value", NS_DATA).with_text(*value)),
        );
    }
    field
}

/// The values of a submitted form, by field.
#[derive(Debug)]
pub struct Submitted {
    values: HashMap<String, Vec<String>>,
}

impl Submitted {
    /// Reads the `<x type='submit'/>` in a command. A form of another type,
    /// or whose `FORM_TYPE` is not `form_type`, is not the one we asked for
    /// (XEP-0050 §4.6 `bad-payload`).
    pub fn from_command(command: &Element, form_type: &str) -> Result<Submitted, StanzaError> {
        let x = command
            .get_child("x", NS_DATA)
            .filter(|x| x.attr("type") == Some("submit"))
            .ok_or_else(|| payload_error("a submitted data form is required"))?;
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        for field in x.elements().filter(|f| f.is("field", NS_DATA)) {
            let Some(var) = field.attr("var") else { continue };
            let field_values = field.elements().filter(|v| v.is("value", NS_DATA)).map(|v| v.text());
            values.entry(var.to_string()).or_default().extend(field_values);
        }
        // XEP-0068 §4: FORM_TYPE may be omitted by the submitter, but if it is
        // there it must be ours.
        if let Some(submitted) = values.get("FORM_TYPE")
            && submitted.iter().map(String::as_str).ne([form_type])
        {
            return Err(payload_error("the form is of another FORM_TYPE"));
        }
        Ok(Submitted { values })
    }

    /// Every value of a (multi-valued) field, empty ones skipped.
    pub fn values(&self, var: &str) -> Vec<&str> {
        self.values.get(var).map(|v| v.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
    }

    /// The one value of a single-valued field, if given and not empty.
    pub fn single(&self, var: &str) -> Option<&str> {
        self.values.get(var).and_then(|v| v.first()).map(String::as_str).filter(|s| !s.is_empty())
    }

    /// A field the form marked `<required/>` (XEP-0004 §3.2).
    pub fn required(&self, var: &str) -> Result<&str, StanzaError> {
        self.single(var).ok_or_else(|| {
            StanzaError::new(StanzaErrorCondition::NotAcceptable).with_text(format!("the field '{var}' is required"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adhoc::NS_COMMANDS;

    fn command(x: Element) -> Element {
        Element::new("command", NS_COMMANDS).with_child(x)
    }

    #[test]
    fn reads_a_submitted_form() {
        let x = Element::new("x", NS_DATA)
            .with_attr("type", "submit")
            .with_child(field("FORM_TYPE", "hidden", None, false, &["urn:test"]))
            .with_child(field("one", "text-single", None, false, &["a"]))
            .with_child(field("many", "jid-multi", None, false, &["x@y", " ", "z@y"]));
        let form = Submitted::from_command(&command(x), "urn:test").unwrap();
        assert_eq!(form.single("one"), Some("a"));
        assert_eq!(form.values("many"), ["x@y", "z@y"]);
        assert_eq!(form.single("missing"), None);
        assert!(form.required("missing").is_err());
    }

    #[test]
    fn refuses_other_forms() {
        let other = Element::new("x", NS_DATA).with_attr("type", "submit").with_child(field(
            "FORM_TYPE",
            "hidden",
            None,
            false,
            &["urn:other"],
        ));
        assert!(Submitted::from_command(&command(other), "urn:test").is_err());
        let not_submitted = Element::new("x", NS_DATA).with_attr("type", "form");
        assert!(Submitted::from_command(&command(not_submitted), "urn:test").is_err());
        assert!(Submitted::from_command(&Element::new("command", NS_COMMANDS), "urn:test").is_err());
    }
}
