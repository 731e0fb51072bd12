//! A demo WebSocket echo backend: what `wsgate echo` serves, what the
//! embedded default config proxies to, and what the simulator's backends run.
//!
//! - `GET /health` and `GET /` answer with the current health status (200
//!   unless changed through [`EchoControl`]).
//! - A WebSocket upgrade on any path is accepted: the first offered
//!   subprotocol it supports is chosen, and every text and binary message is
//!   sent back. Ping is answered with pong; a Close is answered with the same
//!   code.
//! - Any other request gets 200 with its own body echoed, and the request
//!   line in `x-echo-method` / `x-echo-uri`.
//! - [`EchoControl::set_delay`] makes every answer but `/health` slow;
//!   [`EchoControl::set_health_delay`] makes `/health` slow.
//! - [`EchoControl::set_websocket_only`] answers every plain request with
//!   426, as a server that speaks only WebSocket does.
//!
//! Every request it sees is reported to an observer, so tests can check what
//! arrived through the gateway.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::handshake;
use crate::transport::{Listener, Transport};

/// What the echo backend saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EchoEvent {
    /// A TCP connection arrived.
    Accepted { peer: SocketAddr },
    /// A request head arrived (plain, health or upgrade).
    Request(SeenRequest),
    /// A WebSocket session was opened with the given subprotocol.
    SessionOpened { path: String, subprotocol: Option<String> },
    /// A WebSocket session ended; `messages` were echoed.
    SessionClosed { messages: u64 },
}

/// A request as the backend received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: String,
    pub uri: String,
    /// Header names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
}

impl SeenRequest {
    /// The first value of `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Knobs a running echo backend can be turned by (tests and the simulator's
/// timeline use them).
#[derive(Debug, Clone)]
pub struct EchoControl {
    health_status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    health_delay_ms: Arc<AtomicU64>,
    websocket_only: Arc<AtomicBool>,
}

impl Default for EchoControl {
    fn default() -> Self {
        EchoControl {
            health_status: Arc::new(AtomicU16::new(200)),
            delay_ms: Arc::new(AtomicU64::new(0)),
            health_delay_ms: Arc::new(AtomicU64::new(0)),
            websocket_only: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl EchoControl {
    /// The status `GET /health` answers with from now on.
    pub fn set_health_status(&self, status: u16) {
        self.health_status.store(status, Ordering::Relaxed);
    }

    pub fn health_status(&self) -> u16 {
        self.health_status.load(Ordering::Relaxed)
    }

    /// Delays every answer except `/health` by `delay` from now on: a slow
    /// backend for request-timeout behaviour.
    pub fn set_delay(&self, delay: std::time::Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::Relaxed);
    }

    pub fn delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.delay_ms.load(Ordering::Relaxed))
    }

    /// Delays `GET /health` answers: a probe slower than its timeout.
    pub fn set_health_delay(&self, delay: std::time::Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.health_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// A WebSocket-only server: every plain request, `/health` included,
    /// gets `426 Upgrade Required`. Such a backend fails HTTP probes.
    pub fn set_websocket_only(&self, on: bool) {
        self.websocket_only.store(on, Ordering::Relaxed);
    }
}

type Observer = Arc<dyn Fn(EchoEvent) + Send + Sync>;

/// Options for an echo backend.
#[derive(Clone)]
pub struct EchoOptions {
    /// Subprotocols it accepts, matched against the client's offer in the
    /// client's order.
    pub subprotocols: Vec<String>,
    pub control: EchoControl,
    pub observer: Observer,
}

impl std::fmt::Debug for EchoOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoOptions")
            .field("subprotocols", &self.subprotocols)
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

impl Default for EchoOptions {
    fn default() -> Self {
        EchoOptions {
            subprotocols: vec!["chat".into(), "superchat".into()],
            control: EchoControl::default(),
            observer: Arc::new(|_| {}),
        }
    }
}

/// Serves the echo backend on an already-bound listener until dropped.
pub async fn serve<L: Listener>(mut listener: L, options: EchoOptions) {
    let options = Arc::new(options);
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        (options.observer)(EchoEvent::Accepted { peer });
        let options = Arc::clone(&options);
        tokio::spawn(async move {
            let service = service_fn(move |req| respond(Arc::clone(&options), req));
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).auto_date_header(false);
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

/// A listener that completes a TLS handshake on every accepted connection,
/// for an echo backend behind `https`. Failed handshakes are skipped.
pub struct TlsListener<L> {
    inner: L,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl<L> TlsListener<L> {
    pub fn new(inner: L, config: Arc<rustls::ServerConfig>) -> TlsListener<L> {
        TlsListener {
            inner,
            acceptor: tokio_rustls::TlsAcceptor::from(config),
        }
    }
}

impl<L> std::fmt::Debug for TlsListener<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsListener")
    }
}

impl<L: Listener> Listener for TlsListener<L> {
    type Stream = tokio_rustls::server::TlsStream<L::Stream>;

    async fn accept(&mut self) -> std::io::Result<(Self::Stream, SocketAddr)> {
        loop {
            let (tcp, peer) = self.inner.accept().await?;
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return Ok((tls, peer));
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Binds `addr` through `transport` and returns the bound address and the
/// serving future.
pub async fn bind<T: Transport>(
    transport: &T,
    addr: SocketAddr,
    options: EchoOptions,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()>)> {
    let listener = transport.bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((local, serve(listener, options)))
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp
}

async fn respond(options: Arc<EchoOptions>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let mut seen = SeenRequest {
        method: req.method().to_string(),
        uri: req.uri().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body_len: 0,
    };

    let delay = options.control.delay();
    if !delay.is_zero() && !matches!(req.uri().path(), "/" | "/health") {
        tokio::time::sleep(delay).await;
    }
    if handshake::has_token(req.headers(), header::UPGRADE, "websocket") {
        (options.observer)(EchoEvent::Request(seen));
        return Ok(upgrade(options, req));
    }

    if options.control.websocket_only.load(Ordering::Relaxed) {
        (options.observer)(EchoEvent::Request(seen));
        let mut resp = text(StatusCode::UPGRADE_REQUIRED, "this server speaks WebSocket only\n");
        resp.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        return Ok(resp);
    }
    // `/` is where Application Gateway's default probe looks, `/health` the
    // usual custom probe path: both answer with the health status.
    if matches!(req.uri().path(), "/" | "/health") {
        let delay = std::time::Duration::from_millis(options.control.health_delay_ms.load(Ordering::Relaxed));
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        (options.observer)(EchoEvent::Request(seen));
        let status = StatusCode::from_u16(options.control.health_status()).unwrap_or(StatusCode::OK);
        return Ok(text(status, "health\n"));
    }

    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    seen.body_len = body.len();
    (options.observer)(EchoEvent::Request(seen));
    let mut resp = Response::new(Full::new(body));
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(parts.method.as_str()) {
        h.insert("x-echo-method", v);
    }
    if let Ok(v) = HeaderValue::from_str(&parts.uri.to_string()) {
        h.insert("x-echo-uri", v);
    }
    Ok(resp)
}

fn upgrade(options: Arc<EchoOptions>, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) else {
        return text(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key\n");
    };
    let accept = derive_accept_key(key.as_bytes());
    let offered: Vec<String> = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .collect();
    let chosen = offered.into_iter().find(|p| options.subprotocols.contains(p));
    let path = req.uri().path().to_string();

    let on_upgrade = hyper::upgrade::on(&mut req);
    let session_options = Arc::clone(&options);
    let session_protocol = chosen.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        (session_options.observer)(EchoEvent::SessionOpened {
            path,
            subprotocol: session_protocol,
        });
        // tungstenite zeroes its whole read buffer on every read; 8 KiB
        // instead of its 128 KiB default keeps that cheap.
        let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
        let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
        let mut messages = 0u64;
        while let Some(Ok(msg)) = ws.next().await {
            match msg {
                Message::Text(_) | Message::Binary(_) => {
                    messages += 1;
                    if ws.send(msg).await.is_err() {
                        break;
                    }
                }
                // Pongs and close replies are sent by tungstenite itself.
                _ => {}
            }
        }
        (session_options.observer)(EchoEvent::SessionClosed { messages });
    });

    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(p) = chosen.and_then(|p| HeaderValue::from_str(&p).ok()) {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    resp
}
