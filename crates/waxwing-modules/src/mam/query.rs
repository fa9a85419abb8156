//! Archive queries (XEP-0313 §4), the query form (§4.1, with the
//! `#extended` fields and XEP-0431 full text), paging (XEP-0059) and archive
//! metadata (§5.1).

use waxwing_core::module::IqFuture;
use waxwing_core::{IqHandler, IqRequest, Server};
use waxwing_jid::Jid;
use waxwing_proto::datetime::{self, format_unix};
use waxwing_proto::{StanzaError, StanzaErrorCondition, ns};
use waxwing_store::{ArchiveFilter, MAX_IDS, Page};
use waxwing_xml::Element;

use super::{NS_DELAY, NS_FORWARD, NS_MAM, NS_RSM};
use crate::disco::NS_DATA_FORMS;

/// Page size when the client names none, and the most a page may hold
/// (XEP-0313 §4.2 lets the server cap it).
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 250;

/// XEP-0431 §2.2: the full-text field, named after its namespace.
const FULLTEXT_FIELD: &str = "{urn:xmpp:fulltext:0}fulltext";

fn bad_request(text: &str) -> StanzaError {
    StanzaError::new(StanzaErrorCondition::BadRequest).with_text(text)
}

/// Only the account itself reads its archive.
fn own_archive(request: &IqRequest) -> Result<Jid, StanzaError> {
    let owner = request.from.bare();
    if request.to == owner {
        Ok(owner)
    } else if request.to.node().is_none() {
        // The server has no archive of its own (no MUC or pubsub archive).
        Err(StanzaError::new(StanzaErrorCondition::ServiceUnavailable))
    } else {
        Err(StanzaError::new(StanzaErrorCondition::Forbidden).with_text("This is not your archive"))
    }
}

/// `<query/>` set: sends the matching messages, then the `<fin/>`.
pub(super) struct Query;

impl IqHandler for Query {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(async move {
            let owner = own_archive(request)?;
            // Messages are archived in the background: a query sees all
            // those that arrived before it.
            server.durable().await;
            let query = request.payload();
            let filter = match query.get_child("x", NS_DATA_FORMS) {
                Some(form) => read_form(form)?,
                None => ArchiveFilter::default(),
            };
            let (page, max) = read_rsm(query.get_child("set", NS_RSM))?;
            // XEP-0313 `flip-page` (#extended): the same page, newest first.
            let flip = query.get_child("flip-page", NS_MAM).is_some();
            let localpart = owner.node().unwrap_or_default();
            let result = server.store.archive().query(owner.domain(), localpart, &filter, &page, max).await;
            let page_result = match result {
                Ok(Some(page)) => page,
                // XEP-0059 §2.5 / XEP-0313 §4.1.1: an id that names nothing.
                Ok(None) => {
                    return Err(StanzaError::new(StanzaErrorCondition::ItemNotFound)
                        .with_text("No message with that id in the archive"));
                }
                Err(error) => {
                    tracing::error!(%error, "archive query failed");
                    return Err(StanzaError::new(StanzaErrorCondition::InternalServerError));
                }
            };
            let mut items = page_result.items;
            if flip {
                items.reverse();
            }
            let query_id = query.attr("queryid");
            let mut sent = 0usize;
            for item in &items {
                let Ok(archived) = waxwing_xml::parse_element(&item.stanza, ns::CLIENT) else {
                    tracing::error!(id = %item.stanza_id, "unreadable archived message skipped");
                    continue;
                };
                let mut result = Element::new("result", NS_MAM);
                if let Some(query_id) = query_id {
                    result.set_attr("queryid", query_id);
                }
                result.set_attr("id", item.stanza_id.as_str());
                let forwarded = Element::new("forwarded", NS_FORWARD)
                    .with_child(Element::new("delay", NS_DELAY).with_attr("stamp", format_unix(item.stamp)))
                    .with_child(archived);
                // §4.2: results come from the archive, the account's bare JID.
                let message = Element::new("message", ns::CLIENT)
                    .with_attr("from", owner.as_str())
                    .with_attr("to", request.from.as_str())
                    .with_child(result.with_child(forwarded));
                server.deliver_reply(message);
                sent += 1;
            }
            let mut set = Element::new("set", NS_RSM);
            if let (Some(first), Some(last)) = (items.first(), items.last()) {
                let mut first_el = Element::new("first", NS_RSM).with_text(first.stanza_id.as_str());
                if let Some(index) = page_result.first_index {
                    // Flipped, the first item sent is the page's last one.
                    let index = if flip { index + items.len() as u64 - 1 } else { index };
                    first_el.set_attr("index", index.to_string());
                }
                set.push_child(first_el);
                set.push_child(Element::new("last", NS_RSM).with_text(last.stanza_id.as_str()));
            }
            set.push_child(Element::new("count", NS_RSM).with_text(page_result.count.to_string()));
            let mut fin = Element::new("fin", NS_MAM);
            // §4.3: `complete` when the page reaches the end of the results
            // in the paging direction (absent means false).
            if page_result.complete {
                fin.set_attr("complete", "true");
            }
            tracing::debug!(owner = %owner, sent, "archive query answered");
            Ok(Some(fin.with_child(set)))
        })
    }
}

/// Reads the XEP-0059 `<set/>` of a query: which page, and its size.
fn read_rsm(set: Option<&Element>) -> Result<(Page, usize), StanzaError> {
    let Some(set) = set else { return Ok((Page::After(None), DEFAULT_PAGE)) };
    let max = match set.get_child("max", NS_RSM) {
        None => DEFAULT_PAGE,
        Some(max) => {
            max.text().trim().parse::<usize>().map_err(|_| bad_request("<max/> is not a number"))?.min(MAX_PAGE)
        }
    };
    if set.get_child("index", NS_RSM).is_some() {
        return Err(StanzaError::new(StanzaErrorCondition::FeatureNotImplemented).with_text("Paging by index"));
    }
    let id = |e: &Element| {
        let text = e.text();
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    };
    let page = match (set.get_child("after", NS_RSM), set.get_child("before", NS_RSM)) {
        (Some(_), Some(_)) => return Err(bad_request("Both <after/> and <before/>")),
        (Some(after), None) => Page::After(Some(id(after).ok_or_else(|| bad_request("Empty <after/>"))?)),
        // XEP-0059 §2.5: an empty <before/> asks for the last page.
        (None, Some(before)) => Page::Before(id(before)),
        (None, None) => Page::After(None),
    };
    Ok((page, max))
}

/// Reads the submitted query form (XEP-0313 §4.1). Fields the server does
/// not know are an error rather than ignored: ignoring one would return
/// more than the client asked for.
fn read_form(form: &Element) -> Result<ArchiveFilter, StanzaError> {
    let mut filter = ArchiveFilter::default();
    for field in form.elements().filter(|e| e.is("field", NS_DATA_FORMS)) {
        let values: Vec<String> =
            field.elements().filter(|e| e.is("value", NS_DATA_FORMS)).map(|v| v.text().trim().to_owned()).collect();
        let single = || values.first().filter(|v| !v.is_empty()).cloned();
        match field.attr("var").unwrap_or_default() {
            "FORM_TYPE" => {
                if single().as_deref() != Some(NS_MAM) {
                    return Err(bad_request("FORM_TYPE must be urn:xmpp:mam:2"));
                }
            }
            "with" => {
                if let Some(with) = single() {
                    let jid = Jid::parse(&with).map_err(|_| {
                        StanzaError::new(StanzaErrorCondition::JidMalformed).with_text("'with' is not a JID")
                    })?;
                    filter.with = Some((jid.bare().as_str().to_owned(), jid.resource().map(str::to_owned)));
                }
            }
            "start" => {
                if let Some(start) = single() {
                    let (secs, fraction) = datetime::parse(&start).ok_or_else(|| bad_request("Invalid 'start'"))?;
                    // Stamps are whole seconds: one within the start second
                    // but before the fraction is too early.
                    filter.start = Some(if fraction { secs + 1 } else { secs });
                }
            }
            "end" => {
                if let Some(end) = single() {
                    filter.end = Some(datetime::parse(&end).ok_or_else(|| bad_request("Invalid 'end'"))?.0);
                }
            }
            "after-id" => filter.after_id = single(),
            "before-id" => filter.before_id = single(),
            "ids" => {
                let ids: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
                if ids.len() > MAX_IDS {
                    return Err(StanzaError::new(StanzaErrorCondition::PolicyViolation).with_text("Too many ids"));
                }
                filter.ids = Some(ids);
            }
            FULLTEXT_FIELD => filter.fulltext = single(),
            other => {
                return Err(bad_request(&format!("Unsupported field '{other}'")));
            }
        }
    }
    Ok(filter)
}

/// `<query/>` get: the form of supported fields (XEP-0313 §4.1.2).
pub(super) struct Fields;

impl IqHandler for Fields {
    fn handle<'a>(&'a self, _server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(async move {
            own_archive(request)?;
            let field = |var: &str, kind: &str| {
                Element::new("field", NS_DATA_FORMS).with_attr("var", var).with_attr("type", kind)
            };
            let form = Element::new("x", NS_DATA_FORMS)
                .with_attr("type", "form")
                .with_child(
                    field("FORM_TYPE", "hidden").with_child(Element::new("value", NS_DATA_FORMS).with_text(NS_MAM)),
                )
                .with_child(field("with", "jid-single"))
                .with_child(field("start", "text-single"))
                .with_child(field("end", "text-single"))
                .with_child(field("before-id", "text-single"))
                .with_child(field("after-id", "text-single"))
                .with_child(field("ids", "text-multi"))
                .with_child(field(FULLTEXT_FIELD, "text-single"));
            Ok(Some(Element::new("query", NS_MAM).with_child(form)))
        })
    }
}

/// `<metadata/>` get: the first and last message of the archive (XEP-0313
/// §5.1), or nothing if it is empty.
pub(super) struct Metadata;

impl IqHandler for Metadata {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(async move {
            let owner = own_archive(request)?;
            server.durable().await;
            let bounds = server.store.archive().bounds(owner.domain(), owner.node().unwrap_or_default()).await;
            let mut metadata = Element::new("metadata", NS_MAM);
            match bounds {
                Ok(Some(bounds)) => {
                    for (name, (id, stamp)) in [("start", bounds.first), ("end", bounds.last)] {
                        metadata.push_child(
                            Element::new(name, NS_MAM).with_attr("id", id).with_attr("timestamp", format_unix(stamp)),
                        );
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(%error, "archive metadata failed");
                    return Err(StanzaError::new(StanzaErrorCondition::InternalServerError));
                }
            }
            Ok(Some(metadata))
        })
    }
}
