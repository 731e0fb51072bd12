//! Forwarding one request: classify it, pick a backend, send it, and either
//! return the response or, on 101, hand both upgraded connections to the
//! tunnel.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use crate::config::{BackendAddr, Protocol};
use crate::event::{CloseReason, Event, Events, Side};
use crate::handshake::{self, Rejection, Verdict};
use crate::headers::{self, Forwarding};
use crate::io::MaybeTls;
use crate::pool::RoundRobin;
use crate::transport::Transport;
use crate::tunnel;

/// Response bodies: streamed from a backend, or written by the gateway.
pub type Body = Either<Incoming, Full<Bytes>>;

/// A backend pool at run time.
#[derive(Debug)]
pub(crate) struct Pool {
    pub(crate) members: Vec<BackendAddr>,
    cursor: Mutex<RoundRobin>,
}

impl Pool {
    pub(crate) fn new(members: Vec<BackendAddr>) -> Pool {
        Pool {
            members,
            cursor: Mutex::new(RoundRobin::new()),
        }
    }

    fn pick(&self) -> Option<BackendAddr> {
        // Every member is eligible until health probes exist.
        let eligible = vec![true; self.members.len()];
        let mut cursor = self
            .cursor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cursor.pick(&eligible).map(|i| self.members[i].clone())
    }
}

/// Backend settings at run time.
pub(crate) struct Settings {
    pub(crate) request_timeout: Duration,
    pub(crate) host_override: Option<HeaderValue>,
    /// Set for https backends.
    pub(crate) tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("request_timeout", &self.request_timeout)
            .field("host_override", &self.host_override)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// What a listener routes to.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) rule: String,
    pub(crate) pool: Pool,
    pub(crate) settings: Settings,
}

/// State shared by every connection of one gateway.
#[derive(Debug)]
pub(crate) struct Shared<T> {
    pub(crate) transport: T,
    pub(crate) events: EventsDebug,
    next_id: AtomicU64,
}

/// `Events` with a `Debug` impl, so `Shared` can derive it.
pub(crate) struct EventsDebug(pub(crate) Events);

impl std::fmt::Debug for EventsDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events")
    }
}

impl<T> Shared<T> {
    pub(crate) fn new(transport: T, events: Events) -> Shared<T> {
        Shared {
            transport,
            events: EventsDebug(events),
            next_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn emit(&self, event: Event) {
        self.events.0.emit(event);
    }
}

/// What the handler knows about the connection a request arrived on.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) peer: SocketAddr,
    pub(crate) scheme: Protocol,
    pub(crate) route: Arc<Route>,
}

fn gateway_response(status: StatusCode, reason: &str) -> Response<Body> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from(format!("{reason}\n")))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn rejection_response(r: &Rejection) -> Response<Body> {
    let mut resp = gateway_response(r.status, r.reason);
    if let Some(v) = &r.websocket_version {
        resp.headers_mut()
            .insert(header::SEC_WEBSOCKET_VERSION, v.clone());
    }
    resp
}

/// Why the backend exchange failed, which decides the status.
enum Failure {
    /// Could not connect or the connection broke: 502.
    Unreachable(String),
    /// No response within the request timeout: 504.
    TimedOut,
}

/// Handles one request from a client connection.
pub(crate) async fn handle<T: Transport>(
    shared: Arc<Shared<T>>,
    conn: Arc<Conn>,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let verdict = handshake::classify(req.method(), req.version(), req.headers());
    let upgrade = match verdict {
        Verdict::Reject(r) => {
            shared.emit(Event::RequestRejected {
                id,
                status: r.status.as_u16(),
                reason: r.reason.to_string(),
            });
            return Ok(rejection_response(&r));
        }
        Verdict::Plain => false,
        Verdict::Upgrade => true,
    };
    let route = &conn.route;
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());

    let Some(backend) = route.pool.pick() else {
        shared.emit(Event::RequestRejected {
            id,
            status: 502,
            reason: "no backend available".into(),
        });
        return Ok(gateway_response(
            StatusCode::BAD_GATEWAY,
            "no backend available",
        ));
    };
    shared.emit(Event::RequestRouted {
        id,
        rule: route.rule.clone(),
        backend: backend.clone(),
        upgrade,
        path: path.clone(),
    });

    // Take the client's upgrade handle before the request is consumed.
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));

    let (mut parts, body) = req.into_parts();
    parts.uri = Uri::try_from(path.as_str()).unwrap_or_else(|_| Uri::from_static("/"));
    headers::request_headers(
        &mut parts.headers,
        &Forwarding {
            client_ip: conn.peer.ip(),
            proto: conn.scheme.scheme(),
            host_override: route.settings.host_override.as_ref(),
            upgrade,
        },
    );
    let outbound = Request::from_parts(parts, body);

    let exchange = send(
        &shared.transport,
        &route.settings,
        &backend,
        outbound,
        upgrade,
    );
    let result = match tokio::time::timeout(route.settings.request_timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(Failure::TimedOut),
    };
    let mut resp = match result {
        Ok(resp) => resp,
        Err(Failure::Unreachable(error)) => {
            shared.emit(Event::BackendError {
                id,
                backend: backend.clone(),
                error,
            });
            return Ok(gateway_response(
                StatusCode::BAD_GATEWAY,
                "backend unreachable",
            ));
        }
        Err(Failure::TimedOut) => {
            shared.emit(Event::BackendError {
                id,
                backend: backend.clone(),
                error: "no response within the request timeout".into(),
            });
            return Ok(gateway_response(
                StatusCode::GATEWAY_TIMEOUT,
                "backend timed out",
            ));
        }
    };

    let status = resp.status();
    match client_upgrade {
        Some(client_upgrade) if status == StatusCode::SWITCHING_PROTOCOLS => {
            let subprotocol = resp
                .headers()
                .get(header::SEC_WEBSOCKET_PROTOCOL)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            shared.emit(Event::UpgradeCompleted {
                id,
                backend: backend.clone(),
                subprotocol,
            });
            let backend_upgrade = hyper::upgrade::on(&mut resp);
            let session_shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let outcome = match (client_upgrade.await, backend_upgrade.await) {
                    (Ok(client), Ok(backend)) => {
                        tunnel::relay(TokioIo::new(client), TokioIo::new(backend)).await
                    }
                    (Err(e), _) => failed_upgrade(Side::Client, &e),
                    (_, Err(e)) => failed_upgrade(Side::Backend, &e),
                };
                session_shared.emit(Event::SessionClosed {
                    id,
                    by: outcome.by,
                    reason: outcome.reason,
                    bytes_from_client: outcome.bytes_from_client,
                    bytes_from_backend: outcome.bytes_from_backend,
                });
            });
            let (parts, _) = resp.into_parts();
            Ok(Response::from_parts(
                parts,
                Either::Right(Full::new(Bytes::new())),
            ))
        }
        _ => {
            if upgrade {
                shared.emit(Event::UpgradeDeclined {
                    id,
                    backend,
                    status: status.as_u16(),
                });
            } else {
                shared.emit(Event::ResponseForwarded {
                    id,
                    backend,
                    status: status.as_u16(),
                });
            }
            let (mut parts, body) = resp.into_parts();
            headers::response_headers(&mut parts.headers, false);
            Ok(Response::from_parts(parts, Either::Left(body)))
        }
    }
}

fn failed_upgrade(side: Side, e: &hyper::Error) -> tunnel::Outcome {
    tunnel::Outcome {
        by: side,
        reason: CloseReason::Error(format!("upgrade failed: {e}")),
        bytes_from_client: 0,
        bytes_from_backend: 0,
    }
}

/// Connects to the backend (with TLS if configured), sends the request and
/// waits for the response head.
async fn send<T: Transport>(
    transport: &T,
    settings: &Settings,
    backend: &BackendAddr,
    req: Request<Incoming>,
    upgrade: bool,
) -> Result<Response<Incoming>, Failure> {
    let stream = transport
        .connect(&backend.host, backend.port)
        .await
        .map_err(|e| Failure::Unreachable(format!("connect: {e}")))?;
    let stream = match &settings.tls {
        None => MaybeTls::Plain(stream),
        Some(connector) => {
            let name = settings
                .host_override
                .as_ref()
                .and_then(|h| h.to_str().ok())
                .map(|h| h.split(':').next().unwrap_or(h).to_string())
                .unwrap_or_else(|| backend.host.clone());
            let server_name = rustls::pki_types::ServerName::try_from(name)
                .map_err(|e| Failure::Unreachable(format!("tls name: {e}")))?;
            let tls = connector
                .connect(server_name, stream)
                .await
                .map_err(|e| Failure::Unreachable(format!("tls: {e}")))?;
            MaybeTls::Client(Box::new(tls))
        }
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Failure::Unreachable(format!("handshake: {e}")))?;
    // The connection task ends when the response (and its body) is done, or,
    // for an upgrade, when hyper hands the socket to the tunnel.
    if upgrade {
        tokio::spawn(async move {
            let _ = connection.with_upgrades().await;
        });
    } else {
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    sender
        .send_request(req)
        .await
        .map_err(|e| Failure::Unreachable(format!("request: {e}")))
}
