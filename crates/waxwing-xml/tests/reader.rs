//! Reading well-formed streams.

mod common;

use common::*;
use waxwing_xml::{Element, Limits, NS_STREAMS, NS_XML, Node, StreamEvent, StreamReader};

fn header_of(events: &[StreamEvent]) -> &waxwing_xml::StreamHeader {
    match &events[0] {
        StreamEvent::Open(h) => h,
        other => panic!("expected header, got {other:?}"),
    }
}

#[test]
fn client_header_with_xml_declaration() {
    let input = b"<?xml version='1.0' encoding='UTF-8'?>\n<stream:stream \
        from='juliet@im.example.com' to='im.example.com' version='1.0' xml:lang='en' \
        xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
    let events = read(input).unwrap();
    assert_eq!(events.len(), 1);
    let h = header_of(&events);
    assert_eq!(h.name, "stream");
    assert_eq!(h.ns, NS_STREAMS);
    assert_eq!(h.default_ns.as_deref(), Some("jabber:client"));
    assert_eq!(
        h.attrs,
        vec![
            ("from".into(), "juliet@im.example.com".into()),
            ("to".into(), "im.example.com".into()),
            ("version".into(), "1.0".into()),
            ("xml:lang".into(), "en".into()),
        ],
        "document order, xml:lang key, no namespace declarations"
    );
    assert_eq!(h.attr("xml:lang"), Some("en"));
}

#[test]
fn server_header_without_declaration() {
    let events = read(
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
          xmlns='jabber:server' xmlns:db='jabber:server:dialback' version='1.0'>",
    )
    .unwrap();
    assert_eq!(header_of(&events).default_ns.as_deref(), Some("jabber:server"));
}

#[test]
fn header_without_default_namespace_or_with_other_prefix() {
    let events = read(b"<s:stream xmlns:s='http://etherx.jabber.org/streams'>").unwrap();
    assert_eq!(header_of(&events).default_ns, None);
    let events = read(b"<stream xmlns='http://etherx.jabber.org/streams'>").unwrap();
    assert_eq!(header_of(&events).default_ns.as_deref(), Some(NS_STREAMS));
}

#[test]
fn stanzas_with_nested_namespaced_children() {
    let input = in_stream(
        "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource>balcony</resource></bind></iq>\
         <message xml:lang='fr' to='romeo@example.net'><body>salut</body>\
         <x:thing xmlns:x='urn:x' x:attr='1' plain='2'/></message>",
    );
    let stanzas = stanzas(read(&input).unwrap());
    assert_eq!(stanzas.len(), 2);

    let iq = &stanzas[0];
    assert!(iq.is("iq", "jabber:client"));
    let bind = iq.get_child("bind", "urn:ietf:params:xml:ns:xmpp-bind").unwrap();
    let resource = bind.get_child("resource", "urn:ietf:params:xml:ns:xmpp-bind").unwrap();
    assert_eq!(resource.text(), "balcony");

    let message = &stanzas[1];
    assert_eq!(message.attr("xml:lang"), Some("fr"));
    assert_eq!(message.attrs[1], ("to".into(), "romeo@example.net".into()));
    let thing = message.get_child("thing", "urn:x").unwrap();
    assert_eq!(thing.attrs, vec![("{urn:x}attr".into(), "1".into()), ("plain".into(), "2".into())]);
}

#[test]
fn other_xml_namespace_attributes_use_clark_notation() {
    let input = in_stream("<a xml:space='preserve'/>");
    let a = &stanzas(read(&input).unwrap())[0];
    assert_eq!(a.attr(&format!("{{{NS_XML}}}space")), Some("preserve"));
}

#[test]
fn stream_level_elements_in_streams_namespace() {
    let input = in_stream("<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>");
    let features = &stanzas(read(&input).unwrap())[0];
    assert!(features.is("features", NS_STREAMS));
    assert!(features.get_child("starttls", "urn:ietf:params:xml:ns:xmpp-tls").is_some());
}

#[test]
fn references_and_cdata_become_text() {
    let input = in_stream(
        "<message><body>a &lt;&amp;&gt;&quot;&apos; &#x263A;&#65; <![CDATA[<not-markup/> & ]]>end\r\nline</body></message>",
    );
    let message = &stanzas(read(&input).unwrap())[0];
    let body = message.get_child("body", "jabber:client").unwrap();
    assert_eq!(body.text(), "a <&>\"' \u{263A}A <not-markup/> & end\nline");
    assert_eq!(body.children.len(), 1, "text pieces are merged into one node");
}

#[test]
fn mixed_content_keeps_order_and_whitespace() {
    let input = in_stream("<p> a <b>bold</b> c </p>");
    let p = &stanzas(read(&input).unwrap())[0];
    assert_eq!(
        p.children,
        vec![
            Node::Text(" a ".into()),
            Node::Element(Element::new("b", "jabber:client").with_text("bold")),
            Node::Text(" c ".into()),
        ]
    );
}

#[test]
fn keepalives_produce_no_events() {
    let mut reader = StreamReader::new(Limits::default());
    let events = read_chunks(&mut reader, [HEADER.as_bytes(), b" ", b"\n", b"\t\r\n ", b"<presence/>", b"  "]).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1], StreamEvent::Stanza(Element::new("presence", "jabber:client")));
}

#[test]
fn stanza_is_reported_as_soon_as_its_end_tag_arrives() {
    let mut reader = StreamReader::new(Limits::default());
    reader.feed(&in_stream("<message><body>x</body></message"));
    assert!(matches!(reader.next_event(), Ok(Some(StreamEvent::Open(_)))));
    assert_eq!(reader.next_event(), Ok(None));
    reader.feed(b">");
    assert!(matches!(reader.next_event(), Ok(Some(StreamEvent::Stanza(_)))));
    assert_eq!(reader.next_event(), Ok(None));
}

#[test]
fn close_ends_the_stream() {
    let mut reader = StreamReader::new(Limits::default());
    let events =
        read_chunks(&mut reader, [in_stream("<presence/></stream:stream>").as_slice(), b"garbage <<<"]).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2], StreamEvent::Close);
    assert_eq!(reader.next_event(), Ok(None), "input after the close is ignored");
}

#[test]
fn empty_stream_root_opens_and_closes() {
    let events = read(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>").unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1], StreamEvent::Close);
}

#[test]
fn reset_expects_a_new_header() {
    let mut reader = StreamReader::new(Limits::default());
    let events =
        read_chunks(&mut reader, [in_stream("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>").as_slice()]).unwrap();
    assert_eq!(events.len(), 2);

    // Bytes pending at reset time belong to the old stream and are dropped.
    reader.feed(b"<unparsed");
    reader.reset();
    let events =
        read_chunks(&mut reader, [b"<?xml version='1.0'?>".as_slice(), HEADER.as_bytes(), b"<iq type='get' id='1'/>"])
            .unwrap();
    assert_eq!(events.len(), 2);
    assert!(matches!(&events[0], StreamEvent::Open(h) if h.default_ns.as_deref() == Some("jabber:client")));
}

#[test]
fn reset_clears_poison() {
    let mut reader = StreamReader::new(Limits::default());
    assert!(read_chunks(&mut reader, [b"<bogus/>".as_slice()]).is_err());
    reader.reset();
    assert_eq!(read_chunks(&mut reader, [HEADER.as_bytes()]).unwrap().len(), 1);
}

#[test]
fn utf8_split_across_feeds() {
    let input = in_stream("<message><body>h\u{e9}llo \u{2603} \u{1F600}</body></message>");
    let mut reader = StreamReader::new(Limits::default());
    let events = read_chunks(&mut reader, input.chunks(1)).unwrap();
    assert_eq!(stanzas(events)[0].get_child("body", "jabber:client").unwrap().text(), "h\u{e9}llo \u{2603} \u{1F600}");
}

#[test]
fn escaping_round_trip() {
    let original = Element::new("message", "jabber:client")
        .with_attr("to", "a'b\"c<d>&e\t\n\r")
        .with_attr("xml:lang", "en")
        .with_attr("{urn:ext}flag", "1")
        .with_child(
            Element::new("body", "jabber:client").with_text("<script>&amp; ]]> 'quoted' \"double\"\r\n\u{263A}"),
        )
        .with_child(Element::new("x", "urn:other").with_child(Element::new("y", "")));
    let mut input = HEADER.as_bytes().to_vec();
    original.write_to(&mut input, "jabber:client");
    assert_eq!(stanzas(read(&input).unwrap()), vec![original]);
}

#[test]
fn read_to_write_is_faithful() {
    let input = in_stream("<message to='x'><body>1 &lt; 2</body></message>");
    let message = &stanzas(read(&input).unwrap())[0];
    assert_eq!(message.to_bytes("jabber:client"), b"<message to='x'><body>1 &lt; 2</body></message>");
}

#[test]
fn whitespace_before_the_first_markup_is_skipped() {
    let mut input = b" \r\n\t".to_vec();
    input.extend_from_slice(HEADER.as_bytes());
    assert_eq!(read(&input).unwrap().len(), 1);

    // A keepalive that crossed a restart, before the new declaration.
    let mut reader = StreamReader::new(Limits::default());
    read_chunks(&mut reader, [HEADER.as_bytes()]).unwrap();
    reader.reset();
    let events = read_chunks(&mut reader, [b" ".as_slice(), b"\n<?xml version='1.0'?>", HEADER.as_bytes()]);
    assert_eq!(events.unwrap().len(), 1);
}

#[test]
fn text_between_stanzas_is_refused_at_once() {
    // No need to wait for the text to end: a client sending `hello` and then
    // waiting gets its error immediately.
    let mut reader = StreamReader::new(Limits::default());
    reader.feed(HEADER.as_bytes());
    assert!(matches!(reader.next_event(), Ok(Some(StreamEvent::Open(_)))));
    reader.feed(b"  \n hello");
    assert_eq!(reader.next_event().unwrap_err().condition(), "bad-format");
    // Text after a stanza in the same read, too.
    let mut reader = StreamReader::new(Limits::default());
    reader.feed(format!("{HEADER}<presence/>x").as_bytes());
    assert!(matches!(reader.next_event(), Ok(Some(StreamEvent::Open(_)))));
    assert!(matches!(reader.next_event(), Ok(Some(StreamEvent::Stanza(_)))));
    assert_eq!(reader.next_event().unwrap_err().condition(), "bad-format");
}

#[test]
fn releasing_scratch_space_between_stanzas_keeps_the_stream_state() {
    // The session layer frees the parser's scratch space while a connection is
    // quiet; the stream (namespaces, depth, the next stanza) must not notice.
    let mut reader = StreamReader::new(Limits::default());
    reader.feed(format!("{HEADER}<message><body>one</body></message>").as_bytes());
    assert!(matches!(reader.next_event(), Ok(Some(StreamEvent::Open(_)))));
    assert!(matches!(reader.next_event(), Ok(Some(StreamEvent::Stanza(_)))));
    assert!(matches!(reader.next_event(), Ok(None)));
    reader.release_temporaries();
    // Split mid-stanza across another release, too.
    reader.feed(b"<message><bo");
    assert!(matches!(reader.next_event(), Ok(None)));
    reader.release_temporaries();
    reader.feed(b"dy>two</body></message>");
    match reader.next_event() {
        Ok(Some(StreamEvent::Stanza(el))) => {
            assert_eq!(el.ns, "jabber:client");
            assert_eq!(el.get_child("body", "jabber:client").unwrap().text(), "two");
        }
        other => panic!("expected the second stanza, got {other:?}"),
    }
}
