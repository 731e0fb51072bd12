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
use http_body_util::{Either, Empty, Full};
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::TokioIo;

use crate::config::{BackendAddr, Protocol};
use crate::event::{CloseReason, Event, Events, Side};
use crate::handshake::{self, Rejection, Verdict};
use crate::headers::{self, Forwarding};
use crate::io::MaybeTls;
use crate::pool::{self, RoundRobin};
use crate::probe::Member;
use crate::profile::{AllUnhealthy, TimeoutPolicy};
use crate::registry::Registry;
use crate::rewrite::Rewrite;
use crate::session::SessionPolicy;
use crate::transport::Transport;
use crate::tunnel;
use crate::waf::{Waf, WafVerdict};

/// Request bodies sent to a backend: the client's, or none for a retry.
type Outbound = Either<Incoming, Empty<Bytes>>;

/// Response bodies: streamed from a backend, or written by the gateway.
pub type Body = Either<Incoming, Full<Bytes>>;

/// A backend pool at run time.
#[derive(Debug)]
pub(crate) struct Pool {
    pub(crate) members: Vec<Arc<Member>>,
    all_unhealthy: AllUnhealthy,
    cursor: Mutex<RoundRobin>,
}

impl Pool {
    pub(crate) fn new(members: Vec<Arc<Member>>, all_unhealthy: AllUnhealthy) -> Pool {
        Pool {
            members,
            all_unhealthy,
            cursor: Mutex::new(RoundRobin::new()),
        }
    }

    /// The next healthy member round-robin, skipping `except` (the member a
    /// retry already tried). With no healthy member: none (Application
    /// Gateway, so 502) or every member (Front Door).
    fn pick(&self, except: Option<&BackendAddr>) -> Option<BackendAddr> {
        let healthy: Vec<bool> = self.members.iter().map(|m| m.is_healthy()).collect();
        let skip = except.and_then(|e| self.members.iter().position(|m| &m.addr == e));
        let eligible = pool::eligible(&healthy, skip, self.all_unhealthy == AllUnhealthy::UseAll);
        let mut cursor = self.cursor.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cursor.pick(&eligible).map(|i| self.members[i].addr.clone())
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

/// What a listener routes to, with every policy that applies on the way.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) rule: String,
    pub(crate) pool: Pool,
    pub(crate) settings: Settings,
    /// Timers for upgraded sessions on this route.
    pub(crate) session: SessionPolicy,
    /// What a request timeout leads to.
    pub(crate) on_timeout: TimeoutPolicy,
    /// Front Door caching: the Upgrade header is not forwarded.
    pub(crate) caching: bool,
    pub(crate) waf: Option<Waf>,
    pub(crate) rewrite: Option<Rewrite>,
}

/// State shared by every connection of one gateway.
#[derive(Debug)]
pub(crate) struct Shared<T> {
    pub(crate) transport: T,
    pub(crate) events: EventsDebug,
    pub(crate) registry: Arc<Registry>,
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
            registry: Arc::new(Registry::new()),
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
        resp.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, v.clone());
    }
    resp
}

/// Why the backend exchange failed, which decides the status.
enum Failure {
    /// Could not connect or the connection broke: 502.
    Unreachable(String),
    /// No response within the request timeout: the profile's status.
    TimedOut,
}

/// One attempt at a backend, under the request timeout.
async fn attempt<T: Transport>(
    shared: &Shared<T>,
    route: &Route,
    id: u64,
    backend: &BackendAddr,
    req: Request<Outbound>,
    upgrade: bool,
) -> Result<Response<Incoming>, Failure> {
    let exchange = send(&shared.transport, &route.settings, backend, req, upgrade);
    let result = match tokio::time::timeout(route.settings.request_timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(Failure::TimedOut),
    };
    match &result {
        Err(Failure::Unreachable(error)) => shared.emit(Event::BackendError {
            id,
            backend: backend.clone(),
            error: error.clone(),
        }),
        Err(Failure::TimedOut) => shared.emit(Event::BackendTimeout {
            id,
            backend: backend.clone(),
            timeout: route.settings.request_timeout,
        }),
        Ok(_) => {}
    }
    result
}

/// A bodiless copy of a request, for a retry on another member.
fn replay(parts: &http::request::Parts) -> Request<Outbound> {
    let mut req = Request::new(Either::Right(Empty::new()));
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    req
}

/// Handles one request from a client connection.
pub(crate) async fn handle<T: Transport>(
    shared: Arc<Shared<T>>,
    conn: Arc<Conn>,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let route = &conn.route;
    if shared.registry.is_draining() {
        shared.emit(Event::RequestRejected {
            id,
            status: 503,
            reason: "instance in maintenance".into(),
        });
        return Ok(gateway_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "instance in maintenance",
        ));
    }
    // With caching on, the route is not WebSocket-capable: the Upgrade
    // header is dropped and the handshake travels as a plain GET (doc 002).
    let verdict = handshake::classify(req.method(), req.version(), req.headers(), !route.caching);
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
    // The WAF sees the request (so the handshake), never the bytes after a
    // 101.
    if let Some(waf) = &route.waf {
        if let WafVerdict::Blocked { rule } = waf.evaluate(req.uri(), req.headers()) {
            shared.emit(Event::WafBlocked {
                id,
                policy: waf.name.clone(),
                rule,
            });
            return Ok(gateway_response(StatusCode::FORBIDDEN, "blocked by WAF policy"));
        }
    }
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());

    let Some(backend) = route.pool.pick(None) else {
        shared.emit(Event::RequestRejected {
            id,
            status: 502,
            reason: "no healthy backend".into(),
        });
        return Ok(gateway_response(StatusCode::BAD_GATEWAY, "no healthy backend"));
    };
    shared.emit(Event::RequestRouted {
        id,
        rule: route.rule.clone(),
        backend: backend.clone(),
        upgrade,
        path: path.clone(),
    });

    // Take the client's upgrade handle before the request is consumed, and
    // the key a 101 must answer.
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let client_key = if upgrade {
        req.headers().get(header::SEC_WEBSOCKET_KEY).cloned()
    } else {
        None
    };
    let bodiless = req.body().is_end_stream();

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
    if let Some(rewrite) = &route.rewrite {
        parts.uri = rewrite.apply(&parts.uri, &mut parts.headers);
    }
    // Keep what a retry needs only when a retry is possible.
    let retry = (route.on_timeout.retry_other_member && bodiless).then(|| replay(&parts));
    let outbound = Request::from_parts(parts, Either::Left(body));

    let mut backend = backend;
    let mut result = attempt(&shared, route, id, &backend, outbound, upgrade).await;
    if let (Err(Failure::TimedOut), Some(again)) = (&result, retry) {
        if let Some(other) = route.pool.pick(Some(&backend)) {
            shared.emit(Event::RequestRouted {
                id,
                rule: route.rule.clone(),
                backend: other.clone(),
                upgrade,
                path: path.clone(),
            });
            backend = other;
            result = attempt(&shared, route, id, &backend, again, upgrade).await;
        }
    }
    let mut resp = match result {
        Ok(resp) => resp,
        Err(Failure::Unreachable(_)) => {
            return Ok(gateway_response(StatusCode::BAD_GATEWAY, "backend unreachable"));
        }
        Err(Failure::TimedOut) => {
            let status = StatusCode::from_u16(route.on_timeout.status).unwrap_or(StatusCode::GATEWAY_TIMEOUT);
            return Ok(gateway_response(status, "backend timed out"));
        }
    };

    let status = resp.status();
    if status == StatusCode::SWITCHING_PROTOCOLS {
        if let Err(problem) = handshake::check_switch(resp.headers(), client_key.as_ref()) {
            shared.emit(Event::InvalidSwitch { id, backend, problem });
            return Ok(gateway_response(
                StatusCode::BAD_GATEWAY,
                "backend answered an invalid 101",
            ));
        }
    }
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
            let policy = route.session;
            let (registered, dropped) = shared.registry.register(id, backend.clone());
            tokio::spawn(async move {
                let _registered = registered;
                let outcome = match (client_upgrade.await, backend_upgrade.await) {
                    (Ok(client), Ok(backend)) => {
                        tunnel::relay(TokioIo::new(client), TokioIo::new(backend), policy, dropped).await
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
            Ok(Response::from_parts(parts, Either::Right(Full::new(Bytes::new()))))
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
    req: Request<Outbound>,
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
