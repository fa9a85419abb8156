//! XEP-0050 Ad-Hoc Commands, carrying the XEP-0133 service administration
//! commands (`admin.rs`) for the JIDs in the config's `admins`.
//!
//! Discovery goes through the disco module: this module answers the
//! `http://jabber.org/protocol/commands` node (the commands the requester may
//! run) and each command's node. Every command here has one stage: `execute`
//! returns a form (status `executing`, a `sessionid`), submitting it
//! completes the command (status `completed`, with a note and possibly a
//! result form), and `cancel` ends it (status `canceled`).

mod admin;
mod form;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use waxwing_core::module::IqFuture;
use waxwing_core::{
    DiscoNode, HookFuture, Identity, IqHandler, IqRequest, Module, NodeInfo, NodeQuery, Registrations, Server,
};
use waxwing_jid::Jid;
use waxwing_proto::{IqType, StanzaError, StanzaErrorCondition, ns};
use waxwing_sasl::DEFAULT_ITERATIONS;
use waxwing_xml::Element;

use crate::ModulesConfig;
use form::Submitted;

pub const NS_COMMANDS: &str = "http://jabber.org/protocol/commands";

/// How long a started command waits for its form.
const SESSION_TTL: Duration = Duration::from_secs(600);
/// Open sessions one requester may hold; starting another drops its oldest.
const MAX_SESSIONS_PER_REQUESTER: usize = 8;

pub struct Adhoc {
    admins: Arc<HashSet<String>>,
    iterations: u32,
}

impl Adhoc {
    pub fn new(config: &ModulesConfig) -> Adhoc {
        Adhoc {
            admins: Arc::new(config.admins.iter().cloned().collect()),
            iterations: config.scram_iterations.unwrap_or(DEFAULT_ITERATIONS),
        }
    }
}

impl Module for Adhoc {
    fn name(&self) -> &'static str {
        "adhoc"
    }

    fn register(&self, r: &mut Registrations) {
        let state = Arc::new(State {
            commands: admin::commands(self.iterations),
            admins: self.admins.clone(),
            sessions: DashMap::new(),
            next_session: AtomicU64::new(0),
        });
        r.disco_feature(NS_COMMANDS);
        r.iq(IqType::Set, NS_COMMANDS, "command", Execute(state.clone()));
        r.disco_node(NS_COMMANDS, Nodes(state.clone()));
        for command in &state.commands {
            r.disco_node(command.node(), Nodes(state.clone()));
        }
    }
}

/// One command: its node, its form, and what submitting the form does.
pub(crate) trait Command: Send + Sync + 'static {
    fn node(&self) -> &'static str;
    /// The human-readable name listed in disco#items.
    fn name(&self) -> &'static str;
    /// The `FORM_TYPE` of its forms.
    fn form_type(&self) -> &'static str;
    /// The form `execute` returns.
    fn form(&self) -> Element;
    fn submit<'a>(
        &'a self,
        context: &'a Context<'a>,
        form: &'a Submitted,
    ) -> HookFuture<'a, Result<Completed, StanzaError>>;
}

/// Who runs a command, and where.
pub(crate) struct Context<'a> {
    pub server: &'a Server,
    pub requester: &'a Jid,
    /// The server domain the command was sent to: admin commands act on its accounts.
    pub domain: &'a Jid,
}

/// A completed command: a note for the user and, optionally, a result form.
pub(crate) struct Completed {
    pub note: String,
    pub result: Option<Element>,
}

impl Completed {
    pub fn note(note: impl Into<String>) -> Completed {
        Completed { note: note.into(), result: None }
    }
}

struct State {
    commands: Vec<Box<dyn Command>>,
    /// Bare JIDs, prepared.
    admins: Arc<HashSet<String>>,
    sessions: DashMap<String, Session>,
    next_session: AtomicU64,
}

/// A started command waiting for its form (XEP-0050 §3.4: a session is
/// bound to the requester and the command).
struct Session {
    node: &'static str,
    owner: Jid,
    started: Instant,
}

impl State {
    fn command(&self, node: &str) -> Option<&dyn Command> {
        self.commands.iter().find(|c| c.node() == node).map(|c| c.as_ref())
    }

    /// XEP-0133 §6: only service administrators may run these commands.
    fn may_run(&self, requester: &Jid) -> bool {
        self.admins.contains(requester.bare().as_str())
    }

    fn start(&self, node: &'static str, owner: &Jid) -> String {
        let now = Instant::now();
        self.sessions.retain(|_, s| now.duration_since(s.started) < SESSION_TTL);
        let mut own: Vec<(String, Instant)> =
            self.sessions.iter().filter(|s| s.owner == *owner).map(|s| (s.key().clone(), s.started)).collect();
        if own.len() >= MAX_SESSIONS_PER_REQUESTER {
            own.sort_by_key(|(_, started)| *started);
            self.sessions.remove(&own[0].0);
        }
        // Unique in this process; unguessable is not needed, since a session
        // only answers its owner.
        let epoch = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        let id = format!("{epoch:x}-{:x}", self.next_session.fetch_add(1, Ordering::Relaxed));
        self.sessions.insert(id.clone(), Session { node, owner: owner.clone(), started: now });
        id
    }

    /// Whether `id` is a live session of `owner` on `node`, without ending it.
    fn check(&self, id: &str, owner: &Jid, node: &str) -> Result<(), StanzaError> {
        match self.sessions.get(id) {
            Some(s) if s.owner == *owner && s.node == node && s.started.elapsed() < SESSION_TTL => Ok(()),
            Some(s) if s.owner == *owner && s.node == node => {
                Err(command_error(StanzaErrorCondition::NotAllowed, "session-expired"))
            }
            _ => Err(command_error(StanzaErrorCondition::BadRequest, "bad-sessionid")),
        }
    }

    /// Ends the session `id` of `owner` on `node` and says whether it was
    /// still alive. Someone else's session is left alone.
    fn finish(&self, id: &str, owner: &Jid, node: &str) -> Result<(), StanzaError> {
        match self.sessions.remove_if(id, |_, s| s.owner == *owner && s.node == node) {
            Some((_, session)) if session.started.elapsed() < SESSION_TTL => Ok(()),
            // §4.6: session-expired goes with not-allowed.
            Some(_) => Err(command_error(StanzaErrorCondition::NotAllowed, "session-expired")),
            None => Err(command_error(StanzaErrorCondition::BadRequest, "bad-sessionid")),
        }
    }
}

/// An error with a XEP-0050 §4.6 application condition.
fn command_error(condition: StanzaErrorCondition, specific: &str) -> StanzaError {
    StanzaError::new(condition).with_application(Element::new(specific, NS_COMMANDS))
}

/// §4.6: the submitted data is not what the command asked for.
pub(crate) fn payload_error(text: &str) -> StanzaError {
    command_error(StanzaErrorCondition::BadRequest, "bad-payload").with_text(text)
}

fn response(node: &str, session: &str, status: &str) -> Element {
    Element::new("command", NS_COMMANDS)
        .with_attr("node", node)
        .with_attr("sessionid", session)
        .with_attr("status", status)
}

struct Execute(Arc<State>);

impl IqHandler for Execute {
    fn handle<'a>(&'a self, server: &'a Server, request: &'a IqRequest) -> IqFuture<'a> {
        Box::pin(execute(&self.0, server, request))
    }
}

async fn execute(state: &State, server: &Server, request: &IqRequest) -> Result<Option<Element>, StanzaError> {
    if request.to.node().is_some() {
        // Commands are the server's; accounts have none.
        return Err(StanzaError::new(StanzaErrorCondition::ServiceUnavailable));
    }
    let payload = request.payload();
    let node = payload.attr("node").ok_or_else(|| StanzaError::new(StanzaErrorCondition::BadRequest))?;
    let command = state.command(node).ok_or_else(|| StanzaError::new(StanzaErrorCondition::ItemNotFound))?;
    if !state.may_run(&request.from) {
        return Err(StanzaError::new(StanzaErrorCondition::Forbidden));
    }
    let action = payload.attr("action");
    if let Some(action) = action
        && !matches!(action, "execute" | "cancel" | "complete" | "next" | "prev")
    {
        return Err(command_error(StanzaErrorCondition::BadRequest, "malformed-action"));
    }
    let Some(session) = payload.attr("sessionid") else {
        // §3.3: a new session starts with `execute` (or no action at all).
        if action.is_some_and(|a| a != "execute") {
            return Err(command_error(StanzaErrorCondition::BadRequest, "bad-sessionid"));
        }
        let session = state.start(command.node(), &request.from);
        // §3.4: one stage, so the only way on is to complete.
        let actions = Element::new("actions", NS_COMMANDS)
            .with_attr("execute", "complete")
            .with_child(Element::new("complete", NS_COMMANDS));
        return Ok(Some(response(node, &session, "executing").with_child(actions).with_child(command.form())));
    };
    match action {
        Some("next" | "prev") => {
            // There is no other stage to go to.
            Err(command_error(StanzaErrorCondition::BadRequest, "bad-action"))
        }
        Some("cancel") => {
            // §3.4.4: the session ends, nothing is done.
            state.finish(session, &request.from, node)?;
            Ok(Some(response(node, session, "canceled")))
        }
        // No action, `execute` or `complete`: the form is submitted. Once it
        // is read, the session ends whatever the outcome; a command that
        // failed is started anew.
        _ => {
            // A form that is not the one asked for leaves the session open
            // for a corrected submission.
            state.check(session, &request.from, node)?;
            let form = Submitted::from_command(payload, command.form_type())?;
            state.finish(session, &request.from, node)?;
            let context = Context { server, requester: &request.from, domain: &request.to };
            let done = command.submit(&context, &form).await?;
            let mut reply = response(node, session, "completed")
                .with_child(Element::new("note", NS_COMMANDS).with_attr("type", "info").with_text(done.note));
            if let Some(result) = done.result {
                reply.push_child(result);
            }
            Ok(Some(reply))
        }
    }
}

/// Answers disco on the command list node and on each command's node.
struct Nodes(Arc<State>);

impl DiscoNode for Nodes {
    fn info<'a>(&'a self, _server: &'a Server, query: &'a NodeQuery<'a>) -> HookFuture<'a, Option<NodeInfo>> {
        Box::pin(async move {
            if query.node == NS_COMMANDS {
                let identity = Identity { category: "automation", kind: "command-list", name: "Commands" };
                return Some(NodeInfo { identities: vec![identity], features: vec![NS_COMMANDS] });
            }
            // §2.3: a command node says what it is, to those who may run it.
            let command = self.0.command(query.node).filter(|_| self.0.may_run(query.requester))?;
            let identity = Identity { category: "automation", kind: "command-node", name: command.name() };
            Some(NodeInfo { identities: vec![identity], features: vec![NS_COMMANDS, form::NS_DATA] })
        })
    }

    fn items<'a>(&'a self, _server: &'a Server, query: &'a NodeQuery<'a>) -> HookFuture<'a, Option<Vec<Element>>> {
        Box::pin(async move {
            if query.node != NS_COMMANDS {
                // A command node has no items.
                return self.0.command(query.node).filter(|_| self.0.may_run(query.requester)).map(|_| Vec::new());
            }
            // §2.2: the commands this requester may run (none is an empty list).
            if !self.0.may_run(query.requester) {
                return Some(Vec::new());
            }
            let items = self.0.commands.iter().map(|command| {
                Element::new("item", ns::DISCO_ITEMS)
                    .with_attr("jid", query.to.as_str())
                    .with_attr("node", command.node())
                    .with_attr("name", command.name())
            });
            Some(items.collect())
        })
    }
}
