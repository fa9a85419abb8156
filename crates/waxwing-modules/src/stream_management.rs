//! XEP-0198 stream management: turns the mechanism on and advertises it.
//!
//! Acks, counters, the unacknowledged queue and resumption are per-stream
//! state that the session loop touches on every stanza, so they live in the
//! core (`waxwing_core::stream_management`); this module registers the
//! `<sm xmlns='urn:xmpp:sm:3'/>` stream feature and the configured limits.
//!
//! It also wakes phones: a message queued to a hibernating session (its
//! connection dropped, it waits to be resumed) is not being read, so the
//! account's XEP-0357 push services are notified, as they are for messages
//! stored offline.

use std::sync::Arc;
use std::time::Duration;

use waxwing_core::stream_management::NS;
use waxwing_core::{
    Flow, HookFuture, HookPoint, Module, Registrations, Server, StanzaContext, StanzaHook, StreamManagementSettings,
};
use waxwing_proto::ns;
use waxwing_xml::Element;

use crate::ModulesConfig;
use crate::config::{PushConfig, StreamManagementConfig};
use crate::message::MessageType;

/// Late among the message hooks: only what is actually going to be
/// delivered (not dropped by an earlier hook) wakes anybody.
const HOOK_PRIORITY: i32 = 900;

pub struct StreamManagement {
    config: StreamManagementConfig,
    push: PushConfig,
}

impl StreamManagement {
    pub fn new(config: &ModulesConfig) -> StreamManagement {
        StreamManagement { config: config.stream_management.clone(), push: config.push.clone() }
    }
}

impl Module for StreamManagement {
    fn name(&self) -> &'static str {
        "stream_management"
    }

    fn register(&self, r: &mut Registrations) {
        // XEP-0198 §2: offered after authentication, next to binding (a
        // client enables it after binding, or resumes instead of binding).
        r.stream_feature(Element::new("sm", NS));
        r.stream_management(StreamManagementSettings {
            resume_timeout: Duration::from_secs(self.config.resume_timeout_secs),
            // Zero would close every session at its first stanza.
            max_unacked: self.config.max_unacked.max(1),
        });
        r.stanza_hook(HookPoint::MessageToUser, HOOK_PRIORITY, WakeHibernating(Arc::new(self.push.clone())));
    }
}

/// Notifies push services about messages that only hibernating sessions
/// would receive.
struct WakeHibernating(Arc<PushConfig>);

impl StanzaHook for WakeHibernating {
    fn handle<'a>(&'a self, server: &'a Server, context: &'a StanzaContext, stanza: Element) -> HookFuture<'a, Flow> {
        Box::pin(async move {
            // The usual case, no hibernating session at all, costs one atomic read.
            if server.sessions.any_hibernating()
                && matches!(MessageType::of(&stanza), MessageType::Chat | MessageType::Normal)
                && stanza.get_child("body", ns::CLIENT).is_some()
                && only_hibernating_readers(server, context)
            {
                crate::push::notify(server, &context.to.bare(), &stanza, &self.0).await;
            }
            Flow::Continue(stanza)
        })
    }
}

/// Whether the sessions this message goes to are all hibernating: the full
/// JID's session if it is bound, otherwise the available resources with a
/// non-negative priority that RFC 6121 §8.5.2.1.1 delivers a bare-JID chat or
/// normal message to (nobody available: offline storage, whose own push
/// hook notifies).
fn only_hibernating_readers(server: &Server, context: &StanzaContext) -> bool {
    let to = &context.to;
    if to.resource().is_some() && server.sessions.get(to).is_some() {
        return server.sessions.is_hibernating(to);
    }
    let readers: Vec<_> =
        server.sessions.infos(&to.bare()).into_iter().filter(|r| r.is_available() && r.priority >= 0).collect();
    !readers.is_empty() && readers.iter().all(|r| server.sessions.is_hibernating(&r.full))
}
