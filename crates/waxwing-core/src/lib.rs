//! The heart of Waxwing: the session registry, the router, the module
//! registry, and the client session loop.
//!
//! The router knows where things live (a bound session, the server itself,
//! another domain) and nothing about any XEP; features arrive as modules that
//! declare what they handle ([`module::Module`]).

pub mod hooks;
pub mod iq_tracker;
pub mod module;
pub mod registry;
pub mod router;
pub mod server;
pub mod session;
pub mod stream_management;

pub use hooks::{
    AccountHook, DeliveryFilter, DurabilityBarrier, Flow, HookFuture, HookPoint, NonzaHandler, SessionEvent,
    SessionHook, StanzaContext, StanzaHook,
};
pub use iq_tracker::{IqTracker, PendingIq};
pub use module::{
    DiscoNode, Identity, IqHandler, IqRequest, IqResponse, Module, NodeInfo, NodeQuery, PreAuthIq, PreAuthIqHandler,
    Registrations,
};
pub use registry::{Outbound, ResourceInfo, SessionHandle, SessionRegistry};
pub use server::{AccountGuard, Server, ServerSettings};
pub use stream_management::StreamManagementSettings;
