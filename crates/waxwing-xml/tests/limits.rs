//! Limits: every one is enforced, early, as policy-violation.

mod common;

use common::*;
use waxwing_xml::{Limits, StreamEvent, StreamReader};

fn limits(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::default();
    f(&mut l);
    l
}

#[test]
fn defaults() {
    let l = Limits::default();
    assert_eq!(l.max_stanza_bytes, 256 * 1024);
    assert_eq!(l.max_depth, 32);
    assert_eq!(l.max_attributes, 64);
    assert_eq!(l.max_attribute_bytes, 8 * 1024);
    assert_eq!(StreamReader::new(l).limits().max_depth, 32);
}

#[test]
fn stanza_size_is_exact() {
    let stanza = "<message><body>0123456789</body></message>"; // 42 bytes
    assert_eq!(stanza.len(), 42);
    let l = limits(|l| l.max_stanza_bytes = HEADER.len().max(42));
    let ok = read_with(l.clone(), &in_stream(&format!("{stanza}  {stanza}")));
    assert_eq!(stanzas(ok.unwrap()).len(), 2);

    let l = limits(|l| l.max_stanza_bytes = 41);
    let mut reader = StreamReader::new(l);
    // The header is bigger than 41 bytes too; use a tiny one.
    let err = read_chunks(
        &mut reader,
        [b"<s:stream xmlns:s='http://etherx.jabber.org/streams'>".as_slice(), stanza.as_bytes()],
    );
    assert_eq!(err.unwrap_err().condition(), "policy-violation");
}

#[test]
fn keepalives_do_not_count_towards_the_next_stanza() {
    let l = limits(|l| l.max_stanza_bytes = HEADER.len().max(20));
    let mut reader = StreamReader::new(l);
    let mut chunks: Vec<&[u8]> = vec![HEADER.as_bytes()];
    chunks.extend(std::iter::repeat_n(b" \n".as_slice(), 10_000));
    chunks.push(b"<presence/>");
    assert_eq!(read_chunks(&mut reader, chunks).unwrap().len(), 2);
}

#[test]
fn accounting_does_not_drift_over_a_long_stream() {
    // A drift of even one byte per stanza would trip this limit.
    let stanza = "<message to='a'>\r\n <body a = \"&amp;\">x&#x41;<![CDATA[y]]></body >\t</message\n>";
    let l = limits(|l| l.max_stanza_bytes = HEADER.len().max(stanza.len()));
    let mut reader = StreamReader::new(l);
    let mut chunks = vec![HEADER.as_bytes()];
    chunks.extend(std::iter::repeat_n(stanza.as_bytes(), 5_000));
    assert_eq!(read_chunks(&mut reader, chunks).unwrap().len(), 5_001);
}

#[test]
fn oversized_stanza_is_rejected_before_it_is_complete() {
    let mut reader = StreamReader::new(Limits::default());
    read_chunks(&mut reader, [HEADER.as_bytes(), b"<message><body>"]).unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let mut fed = 0;
    let err = loop {
        reader.feed(&chunk);
        fed += chunk.len();
        match reader.next_event() {
            Ok(None) => assert!(fed < 1024 * 1024, "never rejected"),
            Ok(Some(e)) => panic!("unexpected {e:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.condition(), "policy-violation");
    assert!(fed <= 256 * 1024 + chunk.len(), "rejected within one read of the limit");
}

#[test]
fn huge_single_feed_is_rejected_without_parsing_it_all() {
    let mut input = in_stream("<message a='");
    input.resize(input.len() + 10 * 1024 * 1024, b'x');
    assert_eq!(error_of(&input).condition(), "policy-violation");
}

#[test]
fn oversized_header_is_rejected() {
    let l = limits(|l| l.max_stanza_bytes = 100);
    let header = format!(
        "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' id='{}'>",
        "x".repeat(50)
    );
    assert_eq!(error_with(l, header.as_bytes()).condition(), "policy-violation");
}

#[test]
fn depth() {
    let nested = |depth: usize| in_stream(&format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth)));
    let l = limits(|l| l.max_depth = 4);
    assert_eq!(stanzas(read_with(l.clone(), &nested(4)).unwrap()).len(), 1);
    assert_eq!(error_with(l, &nested(5)).condition(), "policy-violation");
    // Rejected while still opening, long before the end tags arrive.
    let deep = in_stream(&"<a>".repeat(33));
    assert_eq!(error_of(&deep).condition(), "policy-violation");
}

#[test]
fn attribute_count_includes_namespace_declarations() {
    let element = |n: usize| {
        let attrs: String = (0..n).map(|i| format!(" a{i}='v'")).collect();
        in_stream(&format!("<message{attrs}/>"))
    };
    assert!(read(&element(64)).is_ok());
    assert_eq!(error_of(&element(65)).condition(), "policy-violation");
    let decls: String = (0..65).map(|i| format!(" xmlns:p{i}='urn:{i}'")).collect();
    assert_eq!(error_of(&in_stream(&format!("<message{decls}/>"))).condition(), "policy-violation");
}

#[test]
fn attribute_value_and_name_size() {
    let with_value = |n: usize| in_stream(&format!("<message a='{}'/>", "v".repeat(n)));
    assert!(read(&with_value(8 * 1024)).is_ok());
    assert_eq!(error_of(&with_value(8 * 1024 + 1)).condition(), "policy-violation");
    // Far beyond the limit: rxml stops it while lexing.
    assert_eq!(error_of(&with_value(100_000)).condition(), "policy-violation");

    // The header's longest value, the streams namespace URI, has 32 bytes.
    let l = limits(|l| l.max_attribute_bytes = 40);
    let ok = in_stream(&format!("<message a='{}' {}='1'/>", "v".repeat(40), "n".repeat(40)));
    assert!(read_with(l.clone(), &ok).is_ok());
    for bad in [
        format!("<message a='{}'/>", "v".repeat(41)),
        // Counted after reference expansion: 41 bytes from 205.
        format!("<message a='{}'/>", "&amp;".repeat(41)),
        format!("<message {}='1'/>", "n".repeat(41)),
        format!("<message p:{}='1' xmlns:p='urn:p'/>", "n".repeat(39)),
        format!("<{}/>", "m".repeat(41)),
    ] {
        assert_eq!(error_with(l.clone(), &in_stream(&bad)).condition(), "policy-violation", "{bad}");
    }
}

#[test]
fn long_text_is_fine_within_the_stanza_limit() {
    let text = "t".repeat(100_000);
    let events = read(&in_stream(&format!("<message><body>{text}</body></message>"))).unwrap();
    let StreamEvent::Stanza(m) = &events[1] else { panic!() };
    assert_eq!(m.get_child("body", "jabber:client").unwrap().text(), text);
}

#[test]
fn unlimited_limits_do_not_overflow_or_overallocate() {
    let l = Limits {
        max_stanza_bytes: usize::MAX,
        max_depth: usize::MAX,
        max_attributes: usize::MAX,
        max_attribute_bytes: usize::MAX,
    };
    let events = read_with(l, &in_stream("<message a='1'><body>x</body></message>")).unwrap();
    assert_eq!(stanzas(events).len(), 1);
}
