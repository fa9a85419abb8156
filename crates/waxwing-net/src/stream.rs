//! One XML stream over one connection: read events, write bytes, restart,
//! upgrade to TLS, and fail with a stream error the way RFC 6120 §4.9.1 asks.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use waxwing_proto::{StreamError, StreamErrorCondition, stream_close, stream_header};
use waxwing_sasl::ChannelBindingData;
use waxwing_xml::{Limits, StreamEvent, StreamReader, XmlError};

use crate::tls::{CertStore, tls_exporter, tls_server_end_point};
use crate::transport::Transport;

/// Why reading the next event failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The peer sent something XMPP forbids; answer with this stream error.
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("connection closed by peer")]
    Eof,
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("timed out")]
    Timeout,
}

impl ReadError {
    /// The stream error to send for this failure, if the connection can still carry one.
    pub fn stream_error(&self) -> Option<StreamError> {
        match self {
            ReadError::Xml(e) => Some(e.clone().into()),
            ReadError::Timeout => Some(StreamError::new(StreamErrorCondition::ConnectionTimeout)),
            ReadError::Eof | ReadError::Io(_) => None,
        }
    }
}

/// Bytes read per system call (and per TLS plaintext copy). The buffer
/// lives on the stack only while reading, so idle connections hold none.
const READ_CHUNK: usize = 4096;

pub struct XmppStream {
    io: Transport,
    reader: StreamReader,
    peer: SocketAddr,
    /// Whether our stream header went out on the current stream: an error
    /// must still be preceded by one (RFC 6120 §4.9.1.2).
    header_sent: bool,
    channel_binding: ChannelBindingData,
    /// When bytes last arrived: whitespace keepalives count as life too.
    last_read: tokio::time::Instant,
    buffers_held: bool,
}

impl XmppStream {
    pub fn new(io: Transport, peer: SocketAddr, limits: Limits) -> XmppStream {
        XmppStream {
            io,
            reader: StreamReader::new(limits),
            peer,
            header_sent: false,
            channel_binding: ChannelBindingData::default(),
            last_read: tokio::time::Instant::now(),
            buffers_held: false,
        }
    }

    /// Accepts TLS on a fresh TCP connection (direct TLS, XEP-0368).
    pub async fn accept_tls(
        tcp: TcpStream,
        peer: SocketAddr,
        limits: Limits,
        config: Arc<rustls::ServerConfig>,
        certs: &CertStore,
    ) -> io::Result<XmppStream> {
        let tls = TlsAcceptor::from(config).accept(tcp).await?;
        let mut stream = XmppStream::new(Transport::Tls(Box::new(tls)), peer, limits);
        stream.channel_binding = channel_binding(&stream.io, certs);
        Ok(stream)
    }

    /// STARTTLS (RFC 6120 §5.4.3.3): after `<proceed/>`, handshake on the same
    /// TCP connection and start a new stream over it.
    pub async fn starttls(self, config: Arc<rustls::ServerConfig>, certs: &CertStore) -> io::Result<XmppStream> {
        let Transport::Plain(tcp) = self.io else {
            return Err(io::Error::other("STARTTLS on a stream that already has TLS"));
        };
        let limits = self.reader.limits().clone();
        let tls = TlsAcceptor::from(config).accept(tcp).await?;
        let mut stream = XmppStream::new(Transport::Tls(Box::new(tls)), self.peer, limits);
        stream.channel_binding = channel_binding(&stream.io, certs);
        Ok(stream)
    }

    pub fn last_read(&self) -> tokio::time::Instant {
        self.last_read
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub fn is_tls(&self) -> bool {
        self.io.is_tls()
    }

    pub fn channel_binding(&self) -> &ChannelBindingData {
        &self.channel_binding
    }

    /// The SNI name the client asked for, if any.
    pub fn sni(&self) -> Option<&str> {
        self.io.tls_connection().and_then(|c| c.server_name())
    }

    /// Stream restart (after SASL success): the next thing read is a new header.
    pub fn restart(&mut self) {
        self.reader.reset();
        self.header_sent = false;
    }

    /// The next stream event. Cancel-safe: bytes already read stay buffered in
    /// the parser, so it can sit in a `select!` next to an outbound queue.
    ///
    /// It waits for the socket to become readable before it needs a buffer,
    /// and reads into one on the stack: an idle connection holds no read
    /// buffer (and, after [`release_idle_buffers`](Self::release_idle_buffers),
    /// no parser scratch space either).
    pub async fn next_event(&mut self) -> Result<StreamEvent, ReadError> {
        loop {
            if let Some(event) = self.reader.next_event()? {
                return Ok(event);
            }
            match self.read_available()? {
                Some(0) => return Err(ReadError::Eof),
                Some(_) => continue,
                None => self.io.readable().await?,
            }
        }
    }

    /// Frees the parser's scratch space. For the session layer to call once
    /// the connection has been quiet for a while: doing it before every wait
    /// would free and reallocate kilobytes per read under load.
    pub fn release_idle_buffers(&mut self) {
        self.reader.release_temporaries();
        self.buffers_held = false;
    }

    /// Whether the parser may be holding scratch space (bytes were read since
    /// the last [`release_idle_buffers`](Self::release_idle_buffers)).
    pub fn holds_buffers(&self) -> bool {
        self.buffers_held
    }

    /// Reads what is available now without waiting; `None` if nothing is.
    fn read_available(&mut self) -> Result<Option<usize>, ReadError> {
        let mut buf = [0u8; READ_CHUNK];
        let mut read_buf = ReadBuf::new(&mut buf);
        // A no-op waker: if this would block, the caller waits on the
        // socket's readiness with its own waker instead.
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut self.io).poll_read(&mut cx, &mut read_buf) {
            Poll::Ready(Ok(())) => {
                let n = read_buf.filled().len();
                if n > 0 {
                    self.last_read = tokio::time::Instant::now();
                    self.buffers_held = true;
                    self.reader.feed(read_buf.filled());
                }
                Ok(Some(n))
            }
            Poll::Ready(Err(e)) => Err(e.into()),
            Poll::Pending => Ok(None),
        }
    }

    pub async fn next_event_within(&mut self, limit: Duration) -> Result<StreamEvent, ReadError> {
        tokio::time::timeout(limit, self.next_event()).await.unwrap_or(Err(ReadError::Timeout))
    }

    /// Sends our stream header for this (possibly restarted) stream.
    pub async fn send_header(
        &mut self,
        content_ns: &str,
        from: &str,
        to: Option<&str>,
        id: &str,
        lang: &str,
    ) -> io::Result<()> {
        self.header_sent = true;
        self.send(&stream_header(content_ns, from, to, id, lang)).await
    }

    pub fn header_sent(&self) -> bool {
        self.header_sent
    }

    /// Writes and flushes (TLS needs the flush to emit the record).
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Writes without flushing, for batching several stanzas into one record.
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        self.io.flush().await
    }

    /// Sends a stream error and closes the stream (RFC 6120 §4.9.1.1). If our
    /// header has not gone out yet, one is sent first from `host`.
    pub async fn fail(mut self, error: &StreamError, content_ns: &str, host: &str) {
        let mut out = Vec::new();
        if !self.header_sent {
            out.extend(stream_header(content_ns, host, None, &new_stream_id(), "en"));
        }
        out.extend(error.to_bytes());
        out.extend_from_slice(stream_close());
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let _ = self.send(&out).await;
            let _ = self.io.shutdown().await;
        })
        .await;
        // §4.4: the peer may still be sending (often its own closing tag).
        // Reading it, briefly, before dropping the socket avoids answering
        // those bytes with a TCP reset, which some clients report as a crash
        // rather than as the stream error they were sent.
        let mut sink = [0u8; 512];
        let _ = tokio::time::timeout(LINGER, async {
            while let Ok(n) = self.io.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }

    /// Closes our side of the stream (`</stream:stream>`), then waits briefly
    /// for the peer's closing tag before dropping the connection (§4.4).
    pub async fn close(mut self, wait_for_peer: bool) {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            if self.send(stream_close()).await.is_err() {
                return;
            }
            if wait_for_peer {
                while let Ok(event) = self.next_event().await {
                    if event == StreamEvent::Close {
                        break;
                    }
                }
            }
            let _ = self.io.shutdown().await;
        })
        .await;
    }
}

/// How long a stream closed with an error keeps reading what the peer still sends.
const LINGER: Duration = Duration::from_secs(2);

fn channel_binding(io: &Transport, certs: &CertStore) -> ChannelBindingData {
    let Some(conn) = io.tls_connection() else { return ChannelBindingData::default() };
    // RFC 9266 §3: tls-exporter is only safe on TLS 1.3 (or 1.2 with extended master secret).
    let exporter =
        (conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3)).then(|| tls_exporter(conn)).flatten();
    let end_point = conn
        .server_name()
        .and_then(|name| certs.certified_key(&name.to_ascii_lowercase()))
        .or_else(|| certs.only_key())
        .map(|key| tls_server_end_point(&key.cert[0]));
    ChannelBindingData { tls_exporter: exporter, tls_server_end_point: end_point }
}

/// A fresh random stream id (RFC 6120 §4.7.3: unique and unpredictable).
pub fn new_stream_id() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
