//! Forwarding one request: classify it, pick a backend, send it, and either
//! return the response or, on 101, hand both upgraded connections to the
//! tunnel. The decisions are pure functions in [`crate::handshake`],
//! [`crate::forward`] and [`crate::pool`]; this module does the I/O around
//! them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use crate::affinity::{self, AffinityAction, Binding};
use crate::balance::Balance;
use crate::body::{self, BodyError, Chained, RequestBody};
use crate::config::{BackendAddr, Protocol};
use crate::event::{CloseReason, Event, Events, Side};
use crate::forward::{self, BodyLength, NextStep};
use crate::generation::Current;
use crate::handshake::{self, BadSwitch, Rejection, Verdict};
use crate::headers::{self, Forwarding};
use crate::io::{MaybeTls, Prefixed};
use crate::plan::{RoutePlan, SettingsPlan};
use crate::pool::Choice;
use crate::probe::Member;
use crate::profile::Behaviour;
use crate::registry::{Group, Registry};
use crate::transport::Transport;
use crate::tunnel;
use crate::upgrade::{self, Answer};
use crate::upstream::{self, Tls, UpstreamError};
use crate::waf::WafVerdict;

/// Request bodies sent to a backend: read whole, or streaming.
type Outbound = Either<Full<Bytes>, Chained>;

/// Response bodies: streamed from a backend, or written by the gateway.
pub type Body = Either<Incoming, Full<Bytes>>;

/// A backend set at run time: its members with their health, how requests
/// are shared out among them, and how to reach them.
#[derive(Debug)]
pub(crate) struct Backends {
    pub(crate) members: Vec<Arc<Member>>,
    balance: Balance,
    pub(crate) settings: SettingsPlan,
    /// Set for https backends.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    /// Its index among its configuration's backend sets.
    pub(crate) set: usize,
}

impl Backends {
    pub(crate) fn new(
        members: Vec<Arc<Member>>,
        balance: Balance,
        settings: SettingsPlan,
        tls: Option<Arc<rustls::ClientConfig>>,
        set: usize,
    ) -> Backends {
        Backends {
            members,
            balance,
            settings,
            tls,
            set,
        }
    }

    /// The member a request goes to: the one `bound` names while it may
    /// take it, else the next of the selection round robin, skipping
    /// `except` (the member a retry already tried). With no healthy member:
    /// none (Application Gateway, so 502) or every member (Front Door).
    fn pick(&self, bound: Option<usize>, except: Option<&BackendAddr>) -> Option<(Choice, BackendAddr)> {
        let skip = except.and_then(|e| self.index_of(e));
        let choice = self.balance.choose(&self.members, bound, skip)?;
        let member = self.members.get(choice.index())?;
        Some((choice, member.addr.clone()))
    }

    fn index_of(&self, backend: &BackendAddr) -> Option<usize> {
        self.members.iter().position(|m| &m.addr == backend)
    }

    /// How to secure a connection to `backend`, for https settings.
    fn tls_for(&self, backend: &BackendAddr) -> Option<Tls> {
        self.tls
            .as_ref()
            .map(|config| Tls::for_backend(config, &self.settings, backend))
    }
}

/// What a listener routes to, with every policy that applies on the way.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) plan: RoutePlan,
    pub(crate) backends: Arc<Backends>,
    pub(crate) behaviour: Behaviour,
    /// The configuration it belongs to.
    pub(crate) epoch: u64,
}

/// State shared by every connection of one gateway.
#[derive(Debug)]
pub(crate) struct Shared<T> {
    pub(crate) transport: T,
    pub(crate) events: EventsDebug,
    pub(crate) registry: Arc<Registry>,
    /// The configuration requests are routed by now.
    pub(crate) current: Arc<Current>,
    next_id: AtomicU64,
    /// How long a client may take to send its request body's first
    /// [`body::BUFFER`] bytes (408 after), the same bound as its head.
    pub(crate) body_timeout: std::time::Duration,
}

/// `Events` with a `Debug` impl, so `Shared` can derive it.
pub(crate) struct EventsDebug(pub(crate) Events);

impl std::fmt::Debug for EventsDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events")
    }
}

impl<T> Shared<T> {
    pub(crate) fn new(
        transport: T,
        events: Events,
        registry: Arc<Registry>,
        current: Arc<Current>,
        body_timeout: std::time::Duration,
    ) -> Shared<T> {
        Shared {
            transport,
            events: EventsDebug(events),
            registry,
            current,
            next_id: AtomicU64::new(1),
            body_timeout,
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
    /// The listener it arrived on, by index: each request is routed by the
    /// configuration current when it arrives.
    pub(crate) listener: usize,
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
    if let Some((name, value)) = &r.header {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    resp
}

/// Answers a request the gateway refuses itself, and says so.
fn refuse<T>(shared: &Shared<T>, id: u64, status: StatusCode, reason: &'static str) -> Response<Body> {
    shared.emit(Event::RequestRejected {
        id,
        status: status.as_u16(),
        reason,
    });
    gateway_response(status, reason)
}

/// The request head each attempt sends, kept across a retry.
enum Head {
    /// A WebSocket handshake's, encoded from these parts by every attempt,
    /// so a retry sends them again without a copy.
    Handshake(http::request::Parts),
    /// Anything else is handed to hyper's client, which takes the parts: the
    /// first attempt takes `first`, a retry a copy of `spare`, which is kept
    /// only when a retry is possible.
    Plain {
        first: Option<http::request::Parts>,
        spare: Option<Box<http::request::Parts>>,
    },
}

impl Head {
    /// The parts for a plain request's next attempt.
    fn next_plain(
        first: &mut Option<http::request::Parts>,
        spare: &Option<Box<http::request::Parts>>,
    ) -> Option<http::request::Parts> {
        first.take().or_else(|| spare.as_deref().cloned())
    }
}

/// One attempt at a backend, under the request timeout when `timed`. A
/// WebSocket handshake goes through [`upgrade`], anything else through
/// hyper's client.
async fn attempt<T: Transport>(
    shared: &Shared<T>,
    backends: &Backends,
    backend: &BackendAddr,
    head: &mut Head,
    body: Outbound,
    timed: bool,
) -> Result<Answer<MaybeTls<T::Stream>>, UpstreamError> {
    let settings = &backends.settings;
    let tls = backends.tls_for(backend);
    let exchange = async {
        let stream = upstream::connect(&shared.transport, backend, tls.as_ref(), settings.tcp_keepalive).await?;
        match head {
            Head::Handshake(parts) => upgrade::exchange(stream, parts, body).await,
            Head::Plain { first, spare } => {
                // Retries come only with a spare, so this is never `None`;
                // if it were, the attempt fails rather than the process.
                let parts = Head::next_plain(first, spare).ok_or_else(|| {
                    UpstreamError::new(upstream::Kind::Handshake, "no copy of the request kept to retry")
                })?;
                let mut sender = upstream::http1(stream).await?;
                upstream::send(&mut sender, Request::from_parts(parts, body))
                    .await
                    .map(Answer::Other)
            }
        }
    };
    if !timed {
        return exchange.await;
    }
    let timeout = settings.request_timeout.after;
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(UpstreamError::timeout(timeout)),
    }
}

/// Handles one request hyper read from a client connection: routes it, and
/// on a switch starts the session on the connection hyper hands over once
/// it has written the 101.
pub(crate) async fn handle<T: Transport>(
    shared: Arc<Shared<T>>,
    conn: Arc<Conn>,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let client = hyper::upgrade::on(&mut req);
    let (parts, body) = req.into_parts();
    Ok(match route(&shared, &conn, parts, Some(body)).await {
        Routed::Answer(resp) => resp,
        Routed::Switch(Switch { head, session }) => {
            session.start(Client::Upgrade(client));
            Response::from_parts(head, Either::Right(Full::new(Bytes::new())))
        }
    })
}

/// What routing a request came to.
pub(crate) enum Routed<T: Transport> {
    /// A response for the client: the backend's, or the gateway's own.
    Answer(Response<Body>),
    /// The backend switched to WebSocket: the 101 for the client, then the
    /// session.
    Switch(Switch<T>),
}

/// A backend's valid 101, checked and with any cookies applied.
pub(crate) struct Switch<T: Transport> {
    /// The head the client gets.
    pub(crate) head: http::response::Parts,
    pub(crate) session: Pending<T>,
}

/// A session waiting for its client's connection: everything it needs but
/// that connection, which comes from hyper after its 101 or, for a first
/// head the gateway served itself, straight from the connection.
pub(crate) struct Pending<T: Transport> {
    shared: Arc<Shared<T>>,
    id: u64,
    backend: Prefixed<MaybeTls<T::Stream>>,
    policy: Arc<crate::session::SessionPolicy>,
    registered: crate::registry::Registered,
    dropped: crate::registry::Dropped,
}

impl<T: Transport> Pending<T> {
    /// Starts the session as its own task.
    pub(crate) fn start(self, client: Client<T::Stream>) {
        let Pending {
            shared,
            id,
            backend,
            policy,
            registered,
            dropped,
        } = self;
        tokio::spawn(session::<T::Stream, _>(
            client,
            backend,
            policy,
            dropped,
            registered,
            move |outcome: tunnel::Outcome| {
                shared.emit(Event::SessionClosed {
                    id,
                    by: outcome.by,
                    reason: outcome.reason,
                    bytes_from_client: outcome.bytes_from_client,
                    bytes_from_backend: outcome.bytes_from_backend,
                })
            },
        ));
    }
}

/// Where a session's client connection comes from.
pub(crate) enum Client<S> {
    /// hyper served the request: it writes the 101, then hands the
    /// connection over.
    Upgrade(hyper::upgrade::OnUpgrade),
    /// The connection itself, the 101 written: the gateway served the
    /// head without hyper.
    Own(Prefixed<MaybeTls<S>>),
    /// The connection was lost before the tunnel opened: hyper could not
    /// hand it over, or the 101 could not be written.
    Lost,
}

/// Routes one request: classify it, pick a backend, send it, and come back
/// with the answer for the client, or a switch. `body` is `None` for a
/// handshake whose head the gateway read itself, which has none.
pub(crate) async fn route<T: Transport>(
    shared: &Arc<Shared<T>>,
    conn: &Conn,
    mut parts: http::request::Parts,
    body: Option<Incoming>,
) -> Routed<T> {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let Some(route) = shared.current.get().routes.get(conn.listener).cloned() else {
        // Listeners never change across configurations; a gap here is a bug
        // answered as a server error, never a panic.
        return Routed::Answer(refuse(
            shared,
            id,
            StatusCode::INTERNAL_SERVER_ERROR,
            "no route for this listener",
        ));
    };
    let route = &route;
    if shared.registry.is_draining() {
        return Routed::Answer(refuse(
            shared,
            id,
            StatusCode::SERVICE_UNAVAILABLE,
            "instance in maintenance",
        ));
    }
    // With caching on, the route is not WebSocket-capable: the Upgrade
    // header is dropped and the handshake travels as a plain GET (doc 002).
    let mut verdict = handshake::classify(&parts.method, parts.version, &parts.headers, !route.plan.caching);
    if !matches!(verdict, Verdict::Reject(_)) {
        if let Some(r) = handshake::check_target(&parts.method, &parts.uri) {
            verdict = Verdict::Reject(r);
        }
    }
    let upgrade = match verdict {
        Verdict::Reject(r) => {
            shared.emit(Event::RequestRejected {
                id,
                status: r.status.as_u16(),
                reason: r.reason,
            });
            return Routed::Answer(rejection_response(&r));
        }
        Verdict::Plain => false,
        Verdict::Upgrade => true,
    };
    // The WAF sees the request (so the handshake), never the bytes after a
    // 101.
    if let Some(waf) = &route.plan.waf {
        if let WafVerdict::Blocked { rule } = waf.evaluate(&parts.uri, &parts.headers) {
            shared.emit(Event::WafBlocked {
                id,
                policy: waf.name.clone(),
                rule,
            });
            return Routed::Answer(gateway_response(StatusCode::FORBIDDEN, "blocked by WAF policy"));
        }
    }
    let backends = &route.backends;
    // Cookie affinity: which member the request's cookie names, if the
    // profile consults it for this request.
    let affinity = backends.balance.affinity.as_ref();
    let consulted = affinity.filter(|a| !upgrade || a.plan.websocket);
    let mut notes: Vec<AffinityAction> = Vec::new();
    let binding = consulted.map_or(Binding::None, |a| a.binding(&parts.headers));
    if let (Some(a), None) = (affinity, consulted) {
        if a.binding(&parts.headers) != Binding::None {
            notes.push(AffinityAction::IgnoredForWebSocket);
        }
    }
    let bound = match binding {
        Binding::Member(i) => Some(i),
        Binding::Unknown => {
            notes.push(AffinityAction::Unknown);
            None
        }
        Binding::None => None,
    };
    let Some((choice, mut backend)) = backends.pick(bound, None) else {
        return Routed::Answer(refuse(shared, id, StatusCode::BAD_GATEWAY, "no healthy backend"));
    };
    match (choice, bound.and_then(|b| backends.members.get(b))) {
        (Choice::Bound(_), _) => notes.push(AffinityAction::Honoured {
            backend: backend.clone(),
        }),
        (Choice::Balanced(_), Some(named)) => notes.push(AffinityAction::Unroutable {
            named: named.addr.clone(),
        }),
        (Choice::Balanced(_), None) => {}
    }
    // A new cookie goes on the answer unless the request was routed by a
    // valid one (and never on a handshake the profile keeps affinity out of).
    let issue = consulted.filter(|_| !matches!(choice, Choice::Bound(_)));
    let method = parts.method.clone();
    let path = forward::origin_form(&parts.uri).to_string();

    // The key a 101 must answer.
    let client_key = if upgrade {
        parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned()
    } else {
        None
    };

    let body = match body {
        Some(incoming) => body::read(incoming, shared.body_timeout).await,
        None => Ok(RequestBody::Whole(Bytes::new())),
    };
    let body = match body {
        Ok(body) => body,
        Err(BodyError::Malformed) => {
            return Routed::Answer(refuse(shared, id, StatusCode::BAD_REQUEST, "malformed request body"));
        }
        Err(BodyError::Stalled) => {
            return Routed::Answer(refuse(shared, id, StatusCode::REQUEST_TIMEOUT, "request body too slow"));
        }
    };
    // Routed only now: a request refused for its body above never reaches
    // a backend, and the event log must not say it was sent to one.
    shared.emit(Event::RequestRouted {
        id,
        rule: route.plan.rule.clone(),
        backend: backend.clone(),
        upgrade,
        path: path.clone(),
    });
    if let Some(a) = affinity {
        for action in notes {
            shared.emit(Event::Affinity {
                id,
                cookie: a.plan.cookie.clone(),
                action,
            });
        }
    }
    let length = match body {
        RequestBody::Whole(_) => BodyLength::Known,
        RequestBody::Streaming { .. } => BodyLength::Streamed,
    };
    forward::outbound(
        &mut parts,
        &Forwarding {
            client_ip: conn.peer.ip(),
            proto: conn.scheme.scheme(),
            host_override: backends.settings.host_override.as_ref(),
            upgrade,
        },
        route.plan.rewrite.as_ref(),
        length,
    );
    // Keep what a retry needs, and only when one is possible: a body read
    // whole, on a profile that retries.
    let (outbound, spare) = match body {
        RequestBody::Whole(bytes) => {
            let policy = &route.behaviour.http_timeout;
            let spare = (policy.retry_other_member || policy.retry_unreached).then(|| bytes.clone());
            (Either::Left(Full::new(bytes)), spare)
        }
        RequestBody::Streaming { head, rest } => (Either::Right(Chained::new(head, rest)), None),
    };
    let mut head = if upgrade {
        Head::Handshake(parts)
    } else {
        Head::Plain {
            spare: spare.as_ref().map(|_| Box::new(parts.clone())),
            first: Some(parts),
        }
    };
    // Doc 001: request timeouts are "not relevant to WebSocket traffic",
    // the opening handshake included, under the 2016 profile.
    let timed = !upgrade || route.behaviour.upgrade_timeout;
    let mut result = attempt(shared, backends, &backend, &mut head, outbound, timed).await;
    let mut retried = false;
    let resp = loop {
        let error = match result {
            Ok(resp) => break resp,
            Err(error) => error,
        };
        shared.emit(Event::BackendError {
            id,
            backend: backend.clone(),
            error: error.clone(),
        });
        let step = forward::on_failure(&error, &route.behaviour.http_timeout, spare.is_some(), retried);
        let other = match (step, &spare) {
            (NextStep::Retry, Some(spare)) => backends.pick(None, Some(&backend)).map(|(_, other)| (other, spare)),
            _ => None,
        };
        let Some((other, bytes)) = other else {
            let status = match step {
                NextStep::Answer(status) => status,
                // No other member to retry on: the failure is final.
                NextStep::Retry => forward::final_status(&error, &route.behaviour.http_timeout),
            };
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let reason = if error.side() == Side::Client {
                "malformed request body"
            } else if error.is_timeout() {
                "backend timed out"
            } else {
                "backend unreachable"
            };
            return Routed::Answer(gateway_response(status, reason));
        };
        shared.emit(Event::RequestRouted {
            id,
            rule: route.plan.rule.clone(),
            backend: other.clone(),
            upgrade,
            path: path.clone(),
        });
        backend = other;
        retried = true;
        let body = Either::Left(Full::new(bytes.clone()));
        result = attempt(shared, backends, &backend, &mut head, body, timed).await;
    };
    // The cookie names the member that answered, after any retry.
    let cookies = issue.and_then(|a| {
        let index = backends.index_of(&backend)?;
        let establishes = !a.plan.uncacheable_only || affinity::establishes(&method, resp.status(), resp.headers());
        establishes.then(|| Cookies {
            name: a.plan.cookie.clone(),
            values: a.set_cookies(index, conn.scheme == Protocol::Https),
        })
    });
    respond(shared, route, id, backend, resp, upgrade, client_key, cookies)
}

/// Affinity cookies a response is to carry.
struct Cookies {
    /// The affinity cookie's name, for the event.
    name: String,
    values: Vec<HeaderValue>,
}

impl Cookies {
    /// Adds the cookies to a response's headers beside any the backend
    /// set, and says so.
    fn apply<T>(self, shared: &Shared<T>, id: u64, backend: &BackendAddr, headers: &mut http::HeaderMap) {
        for value in self.values {
            headers.append(header::SET_COOKIE, value);
        }
        shared.emit(Event::Affinity {
            id,
            cookie: self.name,
            action: AffinityAction::Issued {
                backend: backend.clone(),
            },
        });
    }
}

/// Returns the backend's answer, or the switch on a valid 101; either
/// carries `cookies` when affinity issues them. `upgrade` says whether the
/// request was forwarded as a handshake.
#[allow(clippy::too_many_arguments)]
fn respond<T: Transport>(
    shared: &Arc<Shared<T>>,
    route: &Route,
    id: u64,
    backend: BackendAddr,
    answer: Answer<MaybeTls<T::Stream>>,
    upgrade: bool,
    client_key: Option<HeaderValue>,
    cookies: Option<Cookies>,
) -> Routed<T> {
    let (mut head, stream) = match answer {
        Answer::Switched { head, backend } => (head, backend),
        Answer::Other(resp) => return Routed::Answer(forward_answer(shared, id, backend, resp, upgrade, cookies)),
    };
    // A switch only comes back to a forwarded handshake, which has a key;
    // without one it is not a switch the client asked for.
    let checked = match upgrade {
        true => handshake::check_switch(&head.headers, client_key.as_ref()),
        false => Err(BadSwitch::NotRequested),
    };
    if let Err(problem) = checked {
        return Routed::Answer(invalid_switch(shared, id, backend, problem));
    }
    let subprotocol = head
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    shared.emit(Event::UpgradeCompleted {
        id,
        backend: backend.clone(),
        subprotocol,
    });
    if let Some(cookies) = cookies {
        cookies.apply(shared, id, &backend, &mut head.headers);
    }
    let group = Group {
        epoch: route.epoch,
        set: route.backends.set,
        member: backend,
    };
    let (registered, dropped) = shared.registry.register(group);
    Routed::Switch(Switch {
        head,
        session: Pending {
            shared: Arc::clone(shared),
            id,
            backend: stream,
            policy: Arc::clone(&route.plan.session),
            registered,
            dropped,
        },
    })
}

/// One upgraded session, as its own task: gets the client's connection
/// (from hyper after its 101, unless it was given it), relays until the session ends, closes both connections, then reports
/// how it ended.
///
/// Written so that each value is stored once in the task, because the task
/// is most of what an open session costs: everything is captured by value
/// and then only borrowed (the tunnel relays through `&mut`), since a value
/// moved into a local or into another future keeps a second slot in the
/// task for its whole life. So hyper's connection is put back into `client`
/// in place, not into a new binding. A test below holds its size.
///
/// Not an `async fn`: its parameters would be moved into locals of the
/// future, two slots each.
#[allow(clippy::manual_async_fn)]
fn session<S, F>(
    mut client: Client<S>,
    mut backend: Prefixed<MaybeTls<S>>,
    policy: Arc<crate::session::SessionPolicy>,
    mut dropped: crate::registry::Dropped,
    registered: crate::registry::Registered,
    closed: F,
) -> impl std::future::Future<Output = ()> + Send + 'static
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(tunnel::Outcome) + Send + 'static,
{
    async move {
        // Held, not moved, so the session stays registered until the end.
        let _registered = &registered;
        if let Client::Upgrade(upgrade) = &mut client {
            client = match upgrade.await.ok().and_then(own_socket::<S>) {
                Some(stream) => Client::Own(stream),
                None => Client::Lost,
            };
        }
        let outcome = match &mut client {
            Client::Own(stream) => tunnel::relay(stream, &mut backend, &policy, &mut dropped).await,
            Client::Upgrade(_) | Client::Lost => failed_upgrade(),
        };
        // Both connections close before the session is reported closed.
        drop((client, backend));
        closed(outcome);
    }
}

/// The client's own socket back from hyper after its upgrade, with the
/// bytes hyper read past the request put back in front. The tunnel then
/// relays socket to socket, with no boxed stream or hyper wrapper per read
/// for the session's life. `None` only if the connection was served as
/// another type than `serve_connection` gives hyper, a bug a test catches.
fn own_socket<S>(upgraded: hyper::upgrade::Upgraded) -> Option<Prefixed<MaybeTls<S>>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    match upgraded.downcast::<TokioIo<Prefixed<MaybeTls<S>>>>() {
        Ok(parts) => {
            let mut stream = parts.io.into_inner();
            stream.put_back(&parts.read_buf);
            Some(stream)
        }
        Err(_) => {
            tracing::error!("an upgraded client connection is not the type it was served as");
            None
        }
    }
}

/// Answers 502 for a 101 the gateway will not carry, and says why.
fn invalid_switch<T>(shared: &Shared<T>, id: u64, backend: BackendAddr, problem: BadSwitch) -> Response<Body> {
    shared.emit(Event::InvalidSwitch { id, backend, problem });
    gateway_response(StatusCode::BAD_GATEWAY, "backend answered an invalid 101")
}

/// Forwards an answer that is not a switch: to a handshake, the backend
/// declined it; to anything else, it is the response. A 101 here answers a
/// request that asked for no upgrade, and is refused.
fn forward_answer<T>(
    shared: &Shared<T>,
    id: u64,
    backend: BackendAddr,
    resp: Response<Incoming>,
    handshake: bool,
    cookies: Option<Cookies>,
) -> Response<Body> {
    let status = resp.status();
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return invalid_switch(shared, id, backend, BadSwitch::NotRequested);
    }
    if handshake {
        shared.emit(Event::UpgradeDeclined {
            id,
            backend: backend.clone(),
            status: status.as_u16(),
        });
    } else {
        shared.emit(Event::ResponseForwarded {
            id,
            backend: backend.clone(),
            status: status.as_u16(),
        });
    }
    let (mut parts, body) = resp.into_parts();
    headers::response_headers(&mut parts.headers, false);
    if let Some(cookies) = cookies {
        cookies.apply(shared, id, &backend, &mut parts.headers);
    }
    Response::from_parts(parts, Either::Left(body))
}

/// How a session ends whose client connection was lost before the tunnel
/// opened (hyper could not hand it over, or the 101 could not be written):
/// the backend's socket is the gateway's own since `upgrade`, so only the
/// client's side can fail here.
fn failed_upgrade() -> tunnel::Outcome {
    tunnel::Outcome {
        by: Side::Client,
        reason: CloseReason::UpgradeFailed,
        bytes_from_client: 0,
        bytes_from_backend: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionPolicy;
    use tokio::net::{TcpListener, TcpStream};

    #[tokio::test]
    async fn a_sessions_task_stays_small() {
        // An idle session costs this future (inside its task), two socket
        // registrations and its registry entries, once per open session.
        // Moving a captured value into a local or into the relay's future
        // keeps a second copy for the session's life: before `session`
        // borrowed them, this was 904 bytes (616 now in a release build,
        // 632 in a debug one). With tokio's header and trailer, and its
        // 128-byte alignment, the task takes 768 bytes instead of 1,024.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (backend, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (backend, _accepted) = (backend.unwrap(), accepted.unwrap());
        let registry = Arc::new(Registry::new());
        let group = Group {
            epoch: 0,
            set: 0,
            member: BackendAddr {
                host: "127.0.0.1".to_string(),
                port: addr.port(),
            },
        };
        let (registered, dropped) = registry.register(group);
        let task = session::<TcpStream, _>(
            Client::Upgrade(hyper::upgrade::on(Request::new(()))),
            Prefixed::new(Vec::new(), MaybeTls::Plain(backend)),
            Arc::new(SessionPolicy::default()),
            dropped,
            registered,
            |_| {},
        );
        let size = std::mem::size_of_val(&task);
        eprintln!("session task future: {size} bytes");
        assert!(size <= 640, "session task future is {size} bytes");
    }
}
