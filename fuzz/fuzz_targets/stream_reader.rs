//! Feeds arbitrary bytes, in arbitrary chunks, to a `StreamReader`.
//!
//! Input layout: byte 0 selects the limits (high bit: tiny limits, to reach
//! the policy-violation paths) and how many of the following bytes (low
//! nibble) are chunk sizes, used cyclically; the rest is the stream.
//!
//! Checked beyond "no panic, no hang":
//! - a poisoned reader keeps returning the same error;
//! - every stanza read serialises to XML that reads back as the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waxwing_xml::{Element, Limits, StreamEvent, StreamReader};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (chunk_sizes, input) = rest.split_at(usize::from(selector & 0x0f).min(rest.len()));
    let limits = if selector & 0x80 != 0 {
        Limits {
            max_stanza_bytes: 512,
            max_depth: 4,
            max_attributes: 4,
            max_attribute_bytes: 32,
        }
    } else {
        Limits::default()
    };

    let mut reader = StreamReader::new(limits);
    let mut remaining = input;
    let mut sizes = chunk_sizes.iter().cycle();
    while !remaining.is_empty() {
        let size = sizes
            .next()
            .map_or(remaining.len(), |&s| usize::from(s) + 1);
        let (chunk, tail) = remaining.split_at(size.min(remaining.len()));
        remaining = tail;
        reader.feed(chunk);
        if !drain(&mut reader) {
            return;
        }
    }
});

/// Pull all available events; false once the reader failed.
fn drain(reader: &mut StreamReader) -> bool {
    loop {
        match reader.next_event() {
            Ok(None) => return true,
            Ok(Some(StreamEvent::Stanza(stanza))) => check_round_trip(&stanza),
            Ok(Some(_)) => {}
            Err(err) => {
                assert_eq!(reader.next_event(), Err(err), "reader must stay poisoned");
                return false;
            }
        }
    }
}

/// What we read, we can write, and read back identically.
fn check_round_trip(stanza: &Element) {
    let unlimited = Limits {
        max_stanza_bytes: usize::MAX,
        max_depth: usize::MAX,
        max_attributes: usize::MAX,
        max_attribute_bytes: usize::MAX,
    };
    let mut reader = StreamReader::new(unlimited);
    reader.feed(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>");
    reader.feed(&stanza.to_bytes(""));
    assert!(matches!(
        reader.next_event(),
        Ok(Some(StreamEvent::Open(_)))
    ));
    match reader.next_event() {
        Ok(Some(StreamEvent::Stanza(again))) => assert_eq!(&again, stanza),
        other => panic!("serialised stanza did not read back: {other:?}"),
    }
}
