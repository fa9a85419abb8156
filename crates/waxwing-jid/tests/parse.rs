//! Table-driven tests of JID parsing and preparation.

use waxwing_jid::{Jid, JidError, nameprep, nodeprep, resourceprep};

/// (input, expected canonical form)
const VALID: &[(&str, &str)] = &[
    ("example.com", "example.com"),
    ("juliet@example.com", "juliet@example.com"),
    ("juliet@example.com/balcony", "juliet@example.com/balcony"),
    // Case folding of node and domain, trailing dot (RFC 7622 §3.2).
    ("Juliet@EXAMPLE.com.", "juliet@example.com"),
    ("Juliet@EXAMPLE.com./Balcony", "juliet@example.com/Balcony"),
    // Resources are case-sensitive and may contain '/', '@' and spaces.
    ("juliet@example.com/foo/bar@baz qux", "juliet@example.com/foo/bar@baz qux"),
    ("example.com/a@b", "example.com/a@b"),
    // Fullwidth characters are NFKC-mapped in every part.
    ("ｊｕｌｉｅｔ@ｅｘａｍｐｌｅ.com/ｂａｌｃｏｎｙ", "juliet@example.com/balcony"),
    // Nodeprep and Nameprep fold ß to ss; resourceprep keeps it.
    ("Straße@straße.example/Straße", "strasse@strasse.example/Straße"),
    // Emoji resource: unassigned in Unicode 3.2, accepted leniently.
    ("juliet@example.com/📱 phone", "juliet@example.com/📱 phone"),
    // Variation selectors are mapped to nothing (RFC 3454 table B.1).
    ("juliet@example.com/❤\u{FE0F}", "juliet@example.com/❤"),
    // Non-ASCII nodes and IDN domains: A-labels become U-labels.
    ("θσκ@Ελλάδα.example", "θσκ@ελλάδα.example"),
    ("user@xn--bcher-kva.example", "user@bücher.example"),
    ("user@BÜCHER.example", "user@bücher.example"),
    // Allowed punctuation in nodes.
    ("a.b-c_d+e!#$%*=?^`{|}~@example.com", "a.b-c_d+e!#$%*=?^`{|}~@example.com"),
    // IP literals.
    ("juliet@192.0.2.1/r", "juliet@192.0.2.1/r"),
    ("juliet@[2001:DB8::0:1]/r", "juliet@[2001:db8::1]/r"),
    ("[::1]", "[::1]"),
    ("日本語@例え.jp/端末", "日本語@例え.jp/端末"),
    // Ideographic full stop is a label separator; soft hyphen maps to nothing.
    ("juliet@example。com。", "juliet@example.com"),
    ("juliet@ex\u{AD}ample.com", "juliet@example.com"),
    ("juliet@ab--c.example", "juliet@ab--c.example"),
    // Single-label domains are fine for XMPP.
    ("localhost", "localhost"),
    ("admin@localhost", "admin@localhost"),
];

/// (input, expected error)
const INVALID: &[(&str, JidError)] = &[
    ("", JidError::Empty),
    ("@example.com", JidError::EmptyNode),
    ("example.com/", JidError::EmptyResource),
    ("juliet@example.com/", JidError::EmptyResource),
    ("@", JidError::EmptyDomain),
    ("/", JidError::EmptyDomain),
    ("juliet@", JidError::EmptyDomain),
    ("juliet@/r", JidError::EmptyDomain),
    (".", JidError::EmptyDomain),
    // Forbidden node characters (RFC 6122 A.5).
    ("ju\"liet@example.com", JidError::InvalidNode),
    ("ju&liet@example.com", JidError::InvalidNode),
    ("ju'liet@example.com", JidError::InvalidNode),
    ("ju:liet@example.com", JidError::InvalidNode),
    ("ju<liet@example.com", JidError::InvalidNode),
    ("ju>liet@example.com", JidError::InvalidNode),
    ("ju liet@example.com", JidError::InvalidNode),
    ("ju\u{3000}liet@example.com", JidError::InvalidNode),
    ("ju\u{7}liet@example.com", JidError::InvalidNode),
    // Fullwidth '@' NFKC-maps to a forbidden '@'.
    ("a\u{FF20}b@example.com", JidError::InvalidNode),
    // '@' inside the domain (the node ends at the first '@').
    ("a@b@example.com", JidError::InvalidDomain),
    ("📱@example.com", JidError::InvalidNode),
    // Domain syntax.
    ("exa mple.com", JidError::InvalidDomain),
    ("exa_mple.com", JidError::InvalidDomain),
    ("example..com", JidError::InvalidDomain),
    (".example.com", JidError::InvalidDomain),
    ("example.com..", JidError::InvalidDomain),
    ("-example.com", JidError::InvalidDomain),
    ("a-.example", JidError::InvalidDomain),
    ("xn--zz.example", JidError::InvalidDomain),
    // IDNA2008 "ß" label: its U-label would nameprep to "ss", so it has no
    // stable prepared form.
    ("xn--zca.example", JidError::InvalidDomain),
    ("[::1", JidError::InvalidDomain),
    ("[not-an-address]", JidError::InvalidDomain),
    ("[192.0.2.1]", JidError::InvalidDomain),
    ("::1", JidError::InvalidDomain),
    // Resource prohibited output and bidi rules.
    ("juliet@example.com/bell\u{7}", JidError::InvalidResource),
    ("juliet@example.com/\u{E000}", JidError::InvalidResource),
    ("juliet@example.com/\u{5D0}a\u{5D0}", JidError::InvalidResource),
    ("juliet@example.com/a\u{5D0}", JidError::InvalidResource),
    // Parts that prepare to nothing.
    ("\u{200B}@example.com", JidError::EmptyNode),
    ("example.com/\u{FEFF}", JidError::EmptyResource),
];

#[test]
fn valid_jids_parse_to_canonical_form() {
    for (input, expected) in VALID {
        let jid = Jid::parse(input).unwrap_or_else(|e| panic!("{input:?} rejected: {e}"));
        assert_eq!(jid.to_string(), *expected, "input {input:?}");
        assert_eq!(jid.as_str(), *expected);
        assert_eq!(Jid::parse(expected), Ok(jid.clone()), "reparse of {input:?}");
        assert_eq!(input.parse::<Jid>(), Ok(jid));
    }
}

#[test]
fn invalid_jids_are_rejected() {
    for (input, expected) in INVALID {
        assert_eq!(Jid::parse(input), Err(expected.clone()), "input {input:?}");
    }
}

#[test]
fn part_lengths_are_limited_to_1023_bytes() {
    let ok = "a".repeat(1023);
    let long = "a".repeat(1024);
    let domain_ok = format!("{}.{}", "a".repeat(63), "b".repeat(959));
    assert_eq!(domain_ok.len(), 1023);
    let domain_long = format!("{domain_ok}c");

    let max = Jid::parse(&format!("{ok}@{domain_ok}/{ok}")).unwrap();
    assert_eq!(max.node().map(str::len), Some(1023));
    assert_eq!(max.domain().len(), 1023);
    assert_eq!(max.resource().map(str::len), Some(1023));

    assert_eq!(Jid::parse(&format!("{long}@example.com")), Err(JidError::NodeTooLong));
    assert_eq!(Jid::parse(&domain_long), Err(JidError::DomainTooLong));
    assert_eq!(Jid::parse(&format!("example.com/{long}")), Err(JidError::ResourceTooLong));
    // The limit applies after preparation: 'ﬀ' (3 bytes) folds to "ff" (2).
    let ligatures = "\u{FB00}".repeat(400);
    assert_eq!(nodeprep(&ligatures).map(|n| n.len()), Ok(800));
    let ligatures = "\u{FB00}".repeat(512);
    assert_eq!(nodeprep(&ligatures), Err(JidError::NodeTooLong));
}

#[test]
fn accessors() {
    let full = Jid::parse("Romeo@Example.net/Orchard/East").unwrap();
    assert_eq!(full.node(), Some("romeo"));
    assert_eq!(full.domain(), "example.net");
    assert_eq!(full.resource(), Some("Orchard/East"));
    assert!(!full.is_bare());

    let bare = full.bare();
    assert_eq!(bare.to_string(), "romeo@example.net");
    assert!(bare.is_bare());
    assert_eq!(bare.resource(), None);
    assert_eq!(bare, Jid::parse("romeo@example.net").unwrap());

    let domain = Jid::domain_jid("Example.NET.").unwrap();
    assert_eq!(domain.node(), None);
    assert_eq!(domain.domain(), "example.net");
    assert!(domain.is_bare());
    assert_eq!(domain.to_string(), "example.net");

    let ipv6 = Jid::parse("x@[::1]/r").unwrap();
    assert_eq!(ipv6.domain(), "[::1]");
    assert_eq!(ipv6.resource(), Some("r"));
}

#[test]
fn with_resource_replaces_resource() {
    let jid = Jid::parse("juliet@example.com/balcony").unwrap();
    let moved = jid.with_resource("📱 Garden").unwrap();
    assert_eq!(moved.to_string(), "juliet@example.com/📱 Garden");
    assert_eq!(moved.bare(), jid.bare());
    assert_eq!(jid.with_resource(""), Err(JidError::EmptyResource));
    assert_eq!(jid.with_resource("\u{7}"), Err(JidError::InvalidResource));
    let server = Jid::domain_jid("example.com").unwrap();
    assert_eq!(server.with_resource("r").unwrap().to_string(), "example.com/r");
}

#[test]
fn new_prepares_each_part() {
    let jid = Jid::new(Some("JULIET"), "EXAMPLE.com.", Some("Balcony")).unwrap();
    assert_eq!(jid, Jid::parse("juliet@example.com/Balcony").unwrap());
    assert_eq!(Jid::new(Some(""), "example.com", None), Err(JidError::EmptyNode));
    assert_eq!(Jid::new(None, "example.com", Some("")), Err(JidError::EmptyResource));
    assert_eq!(Jid::new(None, "", None), Err(JidError::EmptyDomain));
    assert_eq!(Jid::new(Some("a@b"), "example.com", None), Err(JidError::InvalidNode));
    assert_eq!(Jid::new(Some("a/b"), "example.com", None), Err(JidError::InvalidNode));
    assert_eq!(Jid::new(None, "example.com/x", None), Err(JidError::InvalidDomain));
    // A resource given separately may contain anything resourceprep allows.
    let jid = Jid::new(None, "example.com", Some("a/b@c")).unwrap();
    assert_eq!(Jid::parse(jid.as_str()), Ok(jid));
}

#[test]
fn prep_functions() {
    assert_eq!(nodeprep("Ünïcödé").as_deref(), Ok("ünïcödé"));
    assert_eq!(nodeprep(""), Err(JidError::EmptyNode));
    assert_eq!(nameprep("ExAmple.Org"), Ok("example.org".to_owned()));
    assert_eq!(nameprep("192.0.2.1."), Ok("192.0.2.1".to_owned()));
    assert_eq!(nameprep("例え.テスト。"), Ok("例え.テスト".to_owned()));
    assert_eq!(nameprep("xn--r8jz45g.xn--zckzah"), Ok("例え.テスト".to_owned()));
    assert_eq!(nameprep(""), Err(JidError::EmptyDomain));
    assert_eq!(resourceprep("Ｒｅｓ"), Ok("Res".to_owned()));
    assert_eq!(resourceprep("ﬁ"), Ok("fi".to_owned()));
}

#[test]
fn debug_shows_the_string() {
    let jid = Jid::parse("juliet@example.com/r").unwrap();
    assert_eq!(format!("{jid:?}"), r#"Jid("juliet@example.com/r")"#);
}
