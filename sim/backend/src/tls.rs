//! A listener that completes TLS handshakes for an https backend.
//!
//! Handshakes run side by side, not one at a time inside `accept`: a client
//! that stalls its handshake must not hold up the others. One that does not
//! finish within [`HANDSHAKE_TIMEOUT`] is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gateway::transport::Listener;
use tokio::task::JoinSet;

/// How long a client may take over its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

type Handshake<S> = std::io::Result<(tokio_rustls::server::TlsStream<S>, SocketAddr)>;

/// Wraps a listener so every accepted connection is TLS.
pub struct TlsListener<L: Listener> {
    inner: L,
    acceptor: tokio_rustls::TlsAcceptor,
    pending: JoinSet<Handshake<L::Stream>>,
}

impl<L: Listener> TlsListener<L> {
    pub fn new(inner: L, config: Arc<rustls::ServerConfig>) -> TlsListener<L> {
        TlsListener {
            inner,
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            pending: JoinSet::new(),
        }
    }
}

impl<L: Listener> std::fmt::Debug for TlsListener<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<L: Listener> Listener for TlsListener<L> {
    type Stream = tokio_rustls::server::TlsStream<L::Stream>;

    async fn accept(&mut self) -> std::io::Result<(Self::Stream, SocketAddr)> {
        loop {
            tokio::select! {
                biased;
                Some(done) = self.pending.join_next(), if !self.pending.is_empty() => {
                    // A failed or stalled handshake is the client's problem;
                    // keep serving the others.
                    if let Ok(Ok(ready)) = done {
                        return Ok(ready);
                    }
                }
                accepted = self.inner.accept() => {
                    let (tcp, peer) = accepted?;
                    let acceptor = self.acceptor.clone();
                    self.pending.spawn(async move {
                        let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
                            .await
                            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
                        Ok((tls, peer))
                    });
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}
