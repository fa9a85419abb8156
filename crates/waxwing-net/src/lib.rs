//! Waxwing's network layer: listeners, TLS, and stream negotiation.
//!
//! It turns connections into authenticated XML streams and knows nothing of
//! rosters, routing or XEPs: what it needs from the server (which domains
//! are hosted, account credentials, the post-authentication features) it asks
//! through [`c2s::C2sHost`].

pub mod c2s;
pub mod listener;
pub mod stream;
pub mod throttle;
pub mod tls;
mod transport;

pub use stream::{ReadError, XmppStream, new_stream_id};
pub use transport::Transport;
