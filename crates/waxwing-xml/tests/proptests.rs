//! Property tests: chunking independence, serialise/parse round trip, and
//! robustness against arbitrary input.

mod common;

use common::*;
use proptest::prelude::*;
use waxwing_xml::{Element, Limits, NS_STREAMS, NS_XML, Node, StreamEvent, StreamReader};

/// XML 1.0 §2.2 `Char`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Strings biased towards characters that need escaping or normalisation,
/// and multi-byte UTF-8.
fn xml_string() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        4 => prop::sample::select(vec![
            '<', '>', '&', '\'', '"', '\r', '\n', '\t', ' ', ']', ';', '#',
            'é', '☃', '\u{FFFD}', '😀', '\u{10FFFF}',
        ]),
        4 => proptest::char::range('a', 'z'),
        1 => any::<char>().prop_filter("XML Char", |c| is_xml_char(*c)),
    ];
    prop::collection::vec(ch, 0..16).prop_map(String::from_iter)
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z_\u{e9}\u{4e00}][a-zA-Z0-9_.\u{b7}-]{0,6}"
}

fn namespace() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "jabber:client",
        "",
        "urn:a",
        "urn:xmpp:b:0",
        NS_STREAMS,
        "http://example.com/?q='1'&r=\"2\"<>",
    ])
    .prop_map(str::to_owned)
}

fn attr_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => name(),
        1 => Just("xml:lang".to_owned()),
        1 => name().prop_map(|n| format!("{{urn:a}}{n}")),
        1 => name().prop_map(|n| format!("{{urn:other}}{n}")),
        1 => Just(format!("{{{NS_XML}}}space")),
    ]
}

fn attrs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((attr_key(), xml_string()), 0..5).prop_map(|mut attrs| {
        // Keys are unique in a parsed element.
        let mut seen = std::collections::HashSet::new();
        attrs.retain(|(k, _)| seen.insert(k.clone()));
        attrs
    })
}

/// Elements in the normal form the reader produces: no empty text nodes,
/// no adjacent text nodes.
fn element() -> impl Strategy<Value = Element> {
    let leaf =
        (name(), namespace(), attrs()).prop_map(|(name, ns, attrs)| Element { name, ns, attrs, children: Vec::new() });
    leaf.prop_recursive(4, 48, 5, |inner| {
        (
            name(),
            namespace(),
            attrs(),
            prop::collection::vec(prop_oneof![inner.prop_map(Node::Element), xml_string().prop_map(Node::Text),], 0..5),
        )
            .prop_map(|(name, ns, attrs, nodes)| {
                let mut e = Element { name, ns, attrs, children: Vec::new() };
                for node in nodes {
                    match node {
                        Node::Element(child) => e.push_child(child),
                        Node::Text(text) => e.push_text(text),
                    }
                }
                e
            })
    })
}

/// Hand-written stanzas exercising constructs the serialiser never emits.
const TRICKY: &[&str] = &[
    "<message xml:lang='fr' to=\"x&amp;y\"><body>caf\u{e9} &#x263A; &#65;<![CDATA[<raw>&]]></body></message>",
    "<iq type='set' id='1'><q:query xmlns:q='urn:q' q:a='1'>\r\n text \r\n</q:query ></iq >",
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>",
    "<presence\n\tfrom = 'a@b/c'\n/>",
    "<a xmlns=''><b xmlns='urn:b'/></a>",
];

/// A complete valid stream and its stanzas' bytes.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        element().prop_map(|e| e.to_bytes("jabber:client")),
        prop::sample::select(TRICKY).prop_map(|s| s.as_bytes().to_vec()),
    ];
    let keepalive = prop::sample::select(vec!["", " ", "\n", "\r\n\t "]);
    (any::<bool>(), prop::collection::vec((keepalive, piece), 0..6), any::<bool>()).prop_map(
        |(declaration, pieces, close)| {
            let mut out = Vec::new();
            if declaration {
                out.extend_from_slice(b"<?xml version='1.0' encoding='UTF-8'?>\n");
            }
            out.extend_from_slice(HEADER.as_bytes());
            for (keepalive, piece) in pieces {
                out.extend_from_slice(keepalive.as_bytes());
                out.extend_from_slice(&piece);
            }
            if close {
                out.extend_from_slice(b"</stream:stream>");
            }
            out
        },
    )
}

/// Split `input` at the given (arbitrary) cut points.
fn split<'a>(input: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut chunks = Vec::new();
    let mut start = 0;
    for p in points.into_iter().chain([input.len()]) {
        chunks.push(&input[start..p]);
        start = p;
    }
    chunks
}

fn read_split(chunks: Vec<&[u8]>) -> Result<Vec<StreamEvent>, waxwing_xml::XmlError> {
    read_chunks(&mut StreamReader::new(Limits::default()), chunks)
}

// 256 cases each by default; set PROPTEST_CASES for longer runs.
proptest! {
    #[test]
    fn chunking_does_not_change_events(
        input in stream(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let whole = read(&input);
        prop_assert!(whole.is_ok(), "valid stream rejected: {:?}", whole);
        prop_assert_eq!(&read_split(split(&input, &cuts)), &whole);
        // Single bytes split every UTF-8 sequence.
        prop_assert_eq!(&read_split(input.chunks(1).collect()), &whole);
    }

    #[test]
    fn serialise_then_parse_is_identity(original in element()) {
        let mut input = HEADER.as_bytes().to_vec();
        original.write_to(&mut input, "jabber:client");
        let parsed = read(&input);
        prop_assert_eq!(parsed.map(stanzas), Ok(vec![original.clone()]));
        // The same with no inherited namespace, as `Display` writes it.
        let input = in_stream(&format!("<wrapper xmlns=''>{original}</wrapper>"));
        let wrapper = read(&input).map(stanzas);
        prop_assert_eq!(
            wrapper.map(|w| w[0].children.clone()),
            Ok(vec![Node::Element(original)])
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        data in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let _ = read_split(split(&data, &cuts));
        let mut prefixed = in_stream("");
        prefixed.extend_from_slice(&data);
        let _ = read_split(split(&prefixed, &cuts));
    }

    #[test]
    fn mutated_streams_agree_across_chunking_and_round_trip(
        input in stream(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut input = input;
        for (at, byte) in flips {
            let i = at.index(input.len());
            input[i] = byte;
        }
        let whole = read(&input);
        let chunked = read_split(split(&input, &cuts));
        // Errors may be detected at different points but must agree on
        // success and on the events produced.
        match (&whole, &chunked) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a, b);
                for stanza in stanzas(a.clone()) {
                    let again = read(&in_stream(&format!("<w xmlns=''>{stanza}</w>")));
                    prop_assert_eq!(
                        again.map(|w| stanzas(w).remove(0).children),
                        Ok(vec![Node::Element(stanza)])
                    );
                }
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.condition(), b.condition()),
            _ => prop_assert!(false, "whole {:?} vs chunked {:?}", whole, chunked),
        }
    }
}
