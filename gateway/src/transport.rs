//! The transport seam: how the gateway gets its sockets.
//!
//! The gateway never names `tokio::net` directly. It binds, accepts and
//! connects through [`Transport`], so the same code runs on real sockets
//! ([`TokioTransport`]) and inside the turmoil simulator (the `sim` crate's
//! implementation), where the network and the clock are virtual.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream the gateway can proxy over.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// A bound listening socket.
pub trait Listener: Send + 'static {
    type Stream: Stream;

    /// Waits for the next connection and the peer's address.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;

    /// The address actually bound (the port the OS picked for port 0).
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// Binds listeners and opens connections.
pub trait Transport: Clone + Send + Sync + 'static {
    type Stream: Stream;
    type Listener: Listener<Stream = Self::Stream>;

    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;

    /// Connects to `host:port`; the host is resolved by the transport.
    fn connect(&self, host: &str, port: u16) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Turns on TCP keepalive probes after `idle` of silence, so a peer
    /// that vanished without a FIN is noticed. Transports without such a
    /// thing (the simulator) ignore it.
    fn set_keepalive(&self, _stream: &Self::Stream, _idle: Duration) -> io::Result<()> {
        Ok(())
    }
}

/// Real sockets through tokio.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioTransport;

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = tokio::net::TcpListener::accept(self).await?;
        // WebSocket traffic is many small frames; Nagle would add latency to
        // every one of them.
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }
}

impl Transport for TokioTransport {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        tokio::net::TcpListener::bind(addr).await
    }

    async fn connect(&self, host: &str, port: u16) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    fn set_keepalive(&self, stream: &Self::Stream, idle: Duration) -> io::Result<()> {
        let keepalive = socket2::TcpKeepalive::new().with_time(idle);
        socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive)
    }
}
