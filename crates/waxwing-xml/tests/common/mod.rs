//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use waxwing_xml::{Limits, StreamEvent, StreamReader, XmlError};

/// A client-to-server stream header with the conventional prefixes.
pub const HEADER: &str = "<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

/// Feed `chunks` one after another, draining events after each, until the
/// input ends or an error occurs.
pub fn read_chunks<'a>(
    reader: &mut StreamReader,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<StreamEvent>, XmlError> {
    let mut events = Vec::new();
    for chunk in chunks {
        reader.feed(chunk);
        while let Some(event) = reader.next_event()? {
            events.push(event);
        }
    }
    Ok(events)
}

/// All events of `input` read in one piece with default limits.
pub fn read(input: &[u8]) -> Result<Vec<StreamEvent>, XmlError> {
    read_with(Limits::default(), input)
}

pub fn read_with(limits: Limits, input: &[u8]) -> Result<Vec<StreamEvent>, XmlError> {
    read_chunks(&mut StreamReader::new(limits), [input])
}

/// The error `input` must produce; also checks the reader stays poisoned.
pub fn error_of(input: &[u8]) -> XmlError {
    error_with(Limits::default(), input)
}

pub fn error_with(limits: Limits, input: &[u8]) -> XmlError {
    let mut reader = StreamReader::new(limits);
    let err = read_chunks(&mut reader, [input]).expect_err("input must be rejected");
    reader.feed(b"<more/>");
    assert_eq!(reader.next_event(), Err(err.clone()), "reader must stay poisoned");
    err
}

/// `HEADER` followed by `body`.
pub fn in_stream(body: &str) -> Vec<u8> {
    format!("{HEADER}{body}").into_bytes()
}

/// The stanzas of a stream.
pub fn stanzas(events: Vec<StreamEvent>) -> Vec<waxwing_xml::Element> {
    events
        .into_iter()
        .filter_map(|e| match e {
            StreamEvent::Stanza(s) => Some(s),
            _ => None,
        })
        .collect()
}
