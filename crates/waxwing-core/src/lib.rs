//! The heart of Waxwing: the session registry, the router, the module
//! registry, and the client session loop.
//!
//! The router knows where things live (a bound session, the server itself,
//! another domain) and nothing about any XEP; features arrive as modules that
//! declare what they handle ([`module::Module`]).

pub mod module;
pub mod registry;
pub mod router;
pub mod server;
pub mod session;

pub use module::{IqHandler, IqRequest, IqResponse, Module, Registrations};
pub use registry::{Outbound, SessionHandle, SessionRegistry};
pub use server::{Server, ServerSettings};
