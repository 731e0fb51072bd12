//! The backend's HTTP service and accept loop.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gateway::handshake;
use gateway::transport::{Listener, Transport};
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::app::{self, App, Issued};
use crate::control::{Control, UpgradeAnswer};
use crate::event::{BackendEvent, SeenRequest};
use crate::script::SessionScript;
use crate::session;

type Observer = Arc<dyn Fn(BackendEvent) + Send + Sync>;

/// How a backend behaves.
#[derive(Clone)]
pub struct Options {
    /// Subprotocols it accepts, matched against the client's offer in the
    /// client's order.
    pub subprotocols: Vec<String>,
    pub control: Control,
    pub script: SessionScript,
    pub observer: Observer,
    /// The application it plays, if any.
    pub app: App,
    /// Where the application's ids come from (with the listener's
    /// address): give each backend of a run its own.
    pub app_seed: u64,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("subprotocols", &self.subprotocols)
            .field("control", &self.control)
            .field("script", &self.script)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            subprotocols: vec!["chat".into(), "superchat".into()],
            control: Control::default(),
            script: SessionScript::default(),
            observer: Arc::new(|_| {}),
            app: App::Echo,
            app_seed: 0,
        }
    }
}

/// Serves the backend on an already-bound listener until dropped or
/// halted ([`Control::halt`]).
pub async fn serve<L: Listener>(listener: L, options: Options) {
    let halted = options.control.halted();
    tokio::select! {
        biased;
        () = halted => {}
        () = accept_loop(listener, options) => {}
    }
}

async fn accept_loop<L: Listener>(mut listener: L, options: Options) {
    // The application's ids live as long as this serving loop: a restart
    // forgets them, as a restarted server does.
    let issued = Arc::new(Mutex::new(Issued::new(options.app_seed, listener.local_addr().ok())));
    let options = Arc::new(options);
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        (options.observer)(BackendEvent::Accepted { peer });
        let halted = options.control.halted();
        let options = Arc::clone(&options);
        let issued = Arc::clone(&issued);
        tokio::spawn(async move {
            let service = service_fn(move |req| respond(Arc::clone(&options), Arc::clone(&issued), req));
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).auto_date_header(false);
            let connection = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
            tokio::select! {
                biased;
                () = halted => {}
                _ = connection => {}
            }
        });
    }
}

/// Binds `addr` through `transport` and returns the bound address and the
/// serving future.
pub async fn bind<T: Transport>(
    transport: &T,
    addr: SocketAddr,
    options: Options,
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

fn seen(req: &Request<Incoming>) -> SeenRequest {
    SeenRequest {
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
    }
}

async fn respond(
    options: Arc<Options>,
    issued: Arc<Mutex<Issued>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, HungUp> {
    let mut request = seen(&req);
    let control = &options.control;
    let health_path = matches!(req.uri().path(), "/" | "/health");
    let is_upgrade = handshake::has_token(req.headers(), header::UPGRADE, "websocket");
    let app = {
        let mut issued = issued.lock().unwrap_or_else(|p| p.into_inner());
        app::answer(options.app, &mut issued, req.method(), req.uri(), is_upgrade)
    };
    // Every request is recorded when it arrives, before any scripted delay:
    // a trace must show a request reaching a slow backend even when the
    // gateway gives up on it before the answer.
    if let app::Answer::Respond {
        status,
        content_type,
        body,
        event,
    } = app
    {
        let (_, incoming) = req.into_parts();
        request.body_len = incoming.collect().await?.to_bytes().len();
        (options.observer)(BackendEvent::Request(request));
        (options.observer)(BackendEvent::App(event));
        delay(control.delay()).await;
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = status;
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        return Ok(resp);
    }
    if is_upgrade {
        (options.observer)(BackendEvent::Request(request));
        delay(control.delay()).await;
        if control.upgrade() == UpgradeAnswer::HangUp {
            return Err(HungUp::OnPurpose);
        }
        return Ok(upgrade(options, req));
    }
    if control.websocket_only() {
        (options.observer)(BackendEvent::Request(request));
        delay(if health_path {
            control.health_delay()
        } else {
            control.delay()
        })
        .await;
        let mut resp = text(StatusCode::UPGRADE_REQUIRED, "this server speaks WebSocket only\n");
        resp.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        return Ok(resp);
    }
    // `/` is where Application Gateway's default probe looks, `/health` the
    // usual custom probe path: both answer with the health status.
    if health_path {
        (options.observer)(BackendEvent::Request(request));
        delay(control.health_delay()).await;
        let status = StatusCode::from_u16(control.health_status()).unwrap_or(StatusCode::OK);
        return Ok(text(status, "health\n"));
    }
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    request.body_len = body.len();
    (options.observer)(BackendEvent::Request(request));
    delay(control.delay()).await;
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

/// Why a request got no answer. hyper closes the connection without
/// writing a response when the service fails, which is what
/// [`UpgradeAnswer::HangUp`] wants.
#[derive(Debug)]
enum HungUp {
    OnPurpose,
    Read(hyper::Error),
}

impl std::fmt::Display for HungUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HungUp::OnPurpose => f.write_str("hung up on purpose"),
            HungUp::Read(e) => write!(f, "reading the request: {e}"),
        }
    }
}

impl std::error::Error for HungUp {}

impl From<hyper::Error> for HungUp {
    fn from(e: hyper::Error) -> HungUp {
        HungUp::Read(e)
    }
}

async fn delay(by: Duration) {
    if !by.is_zero() {
        tokio::time::sleep(by).await;
    }
}

fn upgrade(options: Arc<Options>, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return text(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key\n");
    };
    let accept = match options.control.upgrade() {
        UpgradeAnswer::Refuse(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
            return text(status, "upgrade refused by the backend\n");
        }
        UpgradeAnswer::SwitchTo(protocol) => {
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            if let Ok(v) = HeaderValue::from_str(&protocol) {
                resp.headers_mut().insert(header::UPGRADE, v);
            }
            // A backend that answers 101 to any upgrade proves it read the
            // key: only the Upgrade value gives the switch away, so a
            // gateway must check that, not just the accept value.
            if let Ok(v) = HeaderValue::from_str(&handshake::accept_key(key.as_bytes())) {
                resp.headers_mut().insert(header::SEC_WEBSOCKET_ACCEPT, v);
            }
            return resp;
        }
        UpgradeAnswer::WrongAccept => handshake::accept_key(b"not-the-client-key"),
        // `respond` hangs up before it gets here.
        UpgradeAnswer::Accept | UpgradeAnswer::HangUp => handshake::accept_key(key.as_bytes()),
    };
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
    let key: Arc<str> = Arc::from(String::from_utf8_lossy(key.as_bytes()).as_ref());

    let on_upgrade = hyper::upgrade::on(&mut req);
    let session_protocol = chosen.clone();
    let halted = options.control.halted();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        (options.observer)(BackendEvent::SessionOpened {
            key: Arc::clone(&key),
            path,
            subprotocol: session_protocol,
        });
        session::run(TokioIo::new(upgraded), key, options.script, &*options.observer, halted).await;
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
