//! Listening sockets.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

/// A deep accept queue so a burst of reconnecting clients (a server restart,
/// a network flap) is not refused while the accept loop catches up.
const LISTEN_BACKLOG: i32 = 4096;

/// Binds a TCP listener with address reuse (restart without waiting for
/// TIME_WAIT) and, for `[::]`, dual-stack where the OS allows it.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// Per-connection socket options: no Nagle delay (stanzas are small and
/// latency-sensitive) and TCP keepalive so half-dead peers are eventually noticed
/// even when neither side writes.
pub fn configure(stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(std::time::Duration::from_secs(120))
        .with_interval(std::time::Duration::from_secs(30));
    socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive)
}
