//! Reaching a backend: connect through the transport, add TLS with the
//! right server name, and do the HTTP/1.1 client handshake. The proxy and
//! the probes both use this, so they cannot disagree about how a backend is
//! reached (they once verified https backends against different names).
//!
//! Failures are one typed [`UpstreamError`] that knows which side failed
//! and so which status the client gets.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Body;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::config::BackendAddr;
use crate::event::Side;
use crate::io::MaybeTls;
use crate::transport::Transport;

/// What went wrong talking to a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// The TCP connection was refused, reset or could not be made.
    Connect,
    /// The TLS server name is not a valid DNS name or IP address.
    TlsName,
    /// The TLS handshake failed (certificate not trusted, wrong name, …).
    Tls,
    /// The HTTP/1.1 handshake failed.
    Handshake,
    /// The backend closed or broke the exchange before a response head.
    Response,
    /// The client's request body was malformed or cut short while being
    /// forwarded: the client's fault, not the backend's.
    ClientBody,
    /// No response head within the request timeout.
    Timeout,
}

/// A failed exchange with a backend. Its `Display` is for people; callers
/// ask [`UpstreamError::kind`], [`UpstreamError::side`] and
/// [`UpstreamError::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    kind: Kind,
    detail: String,
}

impl UpstreamError {
    pub fn new(kind: Kind, detail: impl fmt::Display) -> UpstreamError {
        UpstreamError {
            kind,
            detail: detail.to_string(),
        }
    }

    /// A timeout after `after`.
    pub fn timeout(after: Duration) -> UpstreamError {
        UpstreamError::new(Kind::Timeout, humantime::format_duration(after))
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn is_timeout(&self) -> bool {
        self.kind == Kind::Timeout
    }

    /// Which side was at fault: the client for a bad request body, else the
    /// backend.
    pub fn side(&self) -> Side {
        match self.kind {
            Kind::ClientBody => Side::Client,
            _ => Side::Backend,
        }
    }

    /// The status a client gets when this ends its request: 400 for its own
    /// bad body, 504 for a timeout (a profile may choose another), 502 for
    /// everything else.
    pub fn status(&self) -> u16 {
        match self.kind {
            Kind::ClientBody => 400,
            Kind::Timeout => 504,
            _ => 502,
        }
    }

    /// The underlying error's text, for logs.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            Kind::Connect => "connect",
            Kind::TlsName => "tls name",
            Kind::Tls => "tls",
            Kind::Handshake => "http handshake",
            Kind::Response => "response",
            Kind::ClientBody => "client body",
            Kind::Timeout => "no response within",
        };
        write!(f, "{what}: {}", self.detail)
    }
}

impl std::error::Error for UpstreamError {}

/// How to secure a connection to a backend.
#[derive(Clone)]
pub(crate) struct Tls {
    pub(crate) connector: tokio_rustls::TlsConnector,
    /// The name the certificate must carry (see
    /// [`crate::plan::SettingsPlan::tls_name`]).
    pub(crate) name: String,
}

impl Tls {
    /// TLS to `backend` under `settings`: its trust roots, and the name its
    /// certificate must carry.
    pub(crate) fn for_backend(
        config: &std::sync::Arc<rustls::ClientConfig>,
        settings: &crate::plan::SettingsPlan,
        backend: &BackendAddr,
    ) -> Tls {
        Tls {
            connector: tokio_rustls::TlsConnector::from(std::sync::Arc::clone(config)),
            name: settings.tls_name(backend),
        }
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Opens a connection to `backend`: TCP through the transport, then TLS
/// when `tls` says so.
pub(crate) async fn connect<T: Transport>(
    transport: &T,
    backend: &BackendAddr,
    tls: Option<&Tls>,
    keepalive: Option<Duration>,
) -> Result<MaybeTls<T::Stream>, UpstreamError> {
    let stream = transport
        .connect(&backend.host, backend.port)
        .await
        .map_err(|e| UpstreamError::new(Kind::Connect, e.kind()))?;
    if let Some(idle) = keepalive {
        // Best effort: a socket that refuses keepalive still carries traffic.
        let _ = transport.set_keepalive(&stream, idle);
    }
    match tls {
        None => Ok(MaybeTls::Plain(stream)),
        Some(tls) => {
            let name = rustls::pki_types::ServerName::try_from(tls.name.clone())
                .map_err(|e| UpstreamError::new(Kind::TlsName, format!("{}: {e}", tls.name)))?;
            let secured = tls
                .connector
                .connect(name, stream)
                .await
                .map_err(|e| UpstreamError::new(Kind::Tls, e))?;
            Ok(MaybeTls::Client(Box::new(secured)))
        }
    }
}

/// Does the HTTP/1.1 client handshake on `stream`. The connection task
/// runs in the background and ends when the response (and its body) is
/// done.
pub(crate) async fn http1<B, S>(stream: S) -> Result<SendRequest<B>, UpstreamError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| UpstreamError::new(Kind::Handshake, e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Opens a connection to `backend` and does the HTTP/1.1 handshake, for a
/// request that is not a WebSocket handshake (those go through
/// [`crate::upgrade`]).
pub(crate) async fn open<T, B>(
    transport: &T,
    backend: &BackendAddr,
    tls: Option<&Tls>,
    keepalive: Option<Duration>,
) -> Result<SendRequest<B>, UpstreamError>
where
    T: Transport,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    http1(connect(transport, backend, tls, keepalive).await?).await
}

/// Sends `req` and waits for the response head, telling a broken client
/// body from a broken backend.
pub(crate) async fn send<B>(
    sender: &mut SendRequest<B>,
    req: http::Request<B>,
) -> Result<http::Response<hyper::body::Incoming>, UpstreamError>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    sender.send_request(req).await.map_err(|e| {
        // hyper marks an error from the request body it was sending as a
        // user error: the client's body broke, not the backend.
        let kind = if e.is_user() { Kind::ClientBody } else { Kind::Response };
        UpstreamError::new(kind, e)
    })
}

/// An empty body for requests the gateway makes itself.
pub(crate) type Empty = http_body_util::Empty<Bytes>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_sides_follow_the_kind() {
        assert_eq!(UpstreamError::new(Kind::Connect, "refused").status(), 502);
        assert_eq!(UpstreamError::new(Kind::Tls, "bad cert").side(), Side::Backend);
        let body = UpstreamError::new(Kind::ClientBody, "bad chunk");
        assert_eq!((body.status(), body.side()), (400, Side::Client));
        let t = UpstreamError::timeout(Duration::from_secs(20));
        assert!(t.is_timeout());
        assert_eq!(t.status(), 504);
        assert_eq!(t.to_string(), "no response within: 20s");
    }
}
