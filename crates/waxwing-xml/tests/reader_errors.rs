//! Each rejection rule, and the stream error condition it maps to.

mod common;

use common::*;

fn condition(input: &[u8]) -> &'static str {
    error_of(input).condition()
}

fn condition_in_stream(body: &str) -> &'static str {
    condition(&in_stream(body))
}

#[test]
fn doctype_is_restricted() {
    assert_eq!(condition(b"<!DOCTYPE stream><stream/>"), "restricted-xml");
    assert_eq!(condition(b"<?xml version='1.0'?><!DOCTYPE stream SYSTEM 'x.dtd'>"), "restricted-xml");
    assert_eq!(condition_in_stream("<!DOCTYPE x>"), "restricted-xml");
    assert_eq!(condition_in_stream("<message><!ENTITY x 'y'></message>"), "restricted-xml");
}

#[test]
fn billion_laughs_is_rejected_without_expansion() {
    let mut doc = String::from("<?xml version='1.0'?>\n<!DOCTYPE lolz [\n<!ENTITY lol 'lol'>\n");
    for i in 1..10 {
        let prev = if i == 1 { "lol".to_owned() } else { format!("lol{}", i - 1) };
        doc += &format!("<!ENTITY lol{i} '{}'>\n", format!("&{prev};").repeat(10));
    }
    doc += "]>\n<lolz>&lol9;</lolz>";
    assert_eq!(condition(doc.as_bytes()), "restricted-xml");
    // Even the entity use alone (no DTD) is never expanded.
    assert_eq!(condition_in_stream("<lolz>&lol9;</lolz>"), "restricted-xml");
}

#[test]
fn processing_instructions_are_restricted() {
    assert_eq!(condition_in_stream("<?php echo 1; ?>"), "restricted-xml");
    assert_eq!(condition_in_stream("<message><?pi?></message>"), "restricted-xml");
    assert_eq!(condition(b"<?target data?><stream:stream/>"), "restricted-xml");
    // rxml parses `<?xml…` at the very start as an XML declaration, so a
    // reserved `xml-*` PI target there is a malformed declaration instead.
    assert_eq!(condition(b"<?xml-stylesheet href='a'?><stream:stream/>"), "not-well-formed");
    // The XML declaration is only allowed at the very start.
    assert_ne!(error_of(&in_stream("<?xml version='1.0'?>")).condition(), "policy-violation");
}

#[test]
fn comments_are_restricted() {
    assert_eq!(condition(b"<!-- hi --><stream:stream/>"), "restricted-xml");
    assert_eq!(condition_in_stream("<!-- keepalive -->"), "restricted-xml");
    assert_eq!(condition_in_stream("<message><!--x--></message>"), "restricted-xml");
}

#[test]
fn undeclared_entity_is_restricted() {
    // Documented choice: RFC 6120 §11.1 restricts entity references other
    // than the predefined ones.
    assert_eq!(condition_in_stream("<body>&nbsp;</body>"), "restricted-xml");
    assert_eq!(condition_in_stream("<body a='&copy;'/>"), "restricted-xml");
}

#[test]
fn undeclared_prefix() {
    assert_eq!(condition_in_stream("<foo:bar/>"), "bad-namespace-prefix");
    assert_eq!(condition_in_stream("<bar foo:a='1'/>"), "bad-namespace-prefix");
    assert_eq!(condition(b"<stream:stream>"), "bad-namespace-prefix");
    // A prefix declared on a previous sibling is out of scope.
    assert_eq!(condition_in_stream("<a xmlns:p='urn:p'/><p:b/>"), "bad-namespace-prefix");
    // Reserved prefixes cannot be (re)bound or undeclared.
    assert_eq!(condition_in_stream("<a xmlns:xml='urn:x'/>"), "bad-namespace-prefix");
    assert_eq!(condition_in_stream("<a xmlns:p=''/>"), "bad-namespace-prefix");
    assert_eq!(condition_in_stream("<xmlns:a/>"), "bad-namespace-prefix");
    assert_eq!(condition_in_stream("<a xmlns:p='http://www.w3.org/2000/xmlns/'/>"), "bad-namespace-prefix");
    assert_eq!(condition_in_stream("<a xmlns='http://www.w3.org/2000/xmlns/'/>"), "bad-namespace-prefix");
}

#[test]
fn invalid_characters() {
    assert_eq!(condition_in_stream("<body>\u{1}</body>"), "invalid-xml");
    assert_eq!(condition_in_stream("<body>&#0;</body>"), "invalid-xml");
    assert_eq!(condition_in_stream("<body a='&#x1;'/>"), "invalid-xml");
    assert_eq!(condition_in_stream("<body>\u{FFFE}</body>"), "invalid-xml");
    assert_eq!(condition_in_stream("<body\u{1}/>"), "invalid-xml");
    let mut bad_utf8 = in_stream("<body>");
    bad_utf8.extend_from_slice(b"\xff\xfe</body>");
    assert_eq!(condition(&bad_utf8), "invalid-xml");
    let mut overlong = in_stream("<body>");
    overlong.extend_from_slice(b"\xc0\xbc</body>");
    assert_eq!(condition(&overlong), "invalid-xml");
}

#[test]
fn structural_errors_are_not_well_formed() {
    for body in [
        "<message></presence>",
        "<message><body></message>",
        "<message a='1' a='2'/>",
        "<message a=1/>",
        "<message a='1'b='2'/>",
        "<1message/>",
        "<a:b:c/>",
        "</stream:stream2>",
        "< message/>",
        "<message attr/>",
        "<message>&#xZZ;</message>",
        "<message>&amp</message>",
    ] {
        assert_eq!(condition_in_stream(body), "not-well-formed", "{body}");
    }
    // rxml judges text once it ends (at the next `<`).
    assert_eq!(condition(b"garbage<"), "not-well-formed");
    assert_eq!(
        condition(b"<s:stream xmlns:s='http://etherx.jabber.org/streams'><?xml version='1.0'?>"),
        "restricted-xml",
        "the XML declaration must come first"
    );
}

#[test]
fn duplicate_attribute_after_namespace_resolution() {
    assert_eq!(condition_in_stream("<a xmlns:p='urn:x' xmlns:q='urn:x' p:v='1' q:v='2'/>"), "not-well-formed");
    assert_eq!(condition_in_stream("<a xmlns='urn:x' xmlns='urn:y'/>"), "not-well-formed");
}

#[test]
fn non_utf8_encoding_is_unsupported() {
    assert_eq!(condition(b"<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream/>"), "unsupported-encoding");
    assert_eq!(condition(b"<?xml version='1.0' encoding='UTF-16'?>"), "unsupported-encoding");
    // Case-insensitive, as the encoding name is (XML 1.0 §4.3.3).
    assert!(read(b"<?xml version='1.0' encoding='utf-8'?>").is_ok());
}

#[test]
fn wrong_root_namespace_is_invalid_namespace() {
    assert_eq!(condition(b"<stream:stream xmlns:stream='http://example.com/streams'>"), "invalid-namespace");
    assert_eq!(condition(b"<stream xmlns='jabber:client'>"), "invalid-namespace");
    assert_eq!(condition(b"<stream>"), "invalid-namespace");
}

#[test]
fn wrong_root_name_is_bad_format() {
    assert_eq!(condition(b"<stream:flow xmlns:stream='http://etherx.jabber.org/streams'>"), "bad-format");
}

#[test]
fn text_between_stanzas_is_bad_format() {
    assert_eq!(condition_in_stream("hello<presence/>"), "bad-format");
    assert_eq!(condition_in_stream("<presence/> x <presence/>"), "bad-format");
    assert_eq!(condition_in_stream("&amp;<presence/>"), "bad-format");
    assert_eq!(condition_in_stream("<![CDATA[x]]><presence/>"), "bad-format");
    // Character references to whitespace are whitespace.
    assert!(read(&in_stream("&#x20;<presence/>")).is_ok());
}

#[test]
fn error_texts_are_informative() {
    let err = error_of(&in_stream("<message></presence>"));
    assert!(!err.text().is_empty());
    assert!(err.to_string().starts_with("not-well-formed: "));
}
