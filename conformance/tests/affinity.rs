//! Cookie affinity on a real network: `wsgate serve --config` as its own
//! process in front of two SignalR (or two socket.io) backends on
//! 127.0.0.1, and the simulator's client models on real sockets. Without
//! affinity a client's requests reach different backends: SignalR's
//! WebSocket gets 404, socket.io's CONNECT packet 400 "Session ID
//! unknown". With `cookie_affinity = true` the cookie takes every request
//! to the backend that issued the id, and the session opens.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backend::{App, AppEvent, BackendEvent};
use gateway::TokioTransport;
use sim::app::{AppStep, ClientProtocol};
use sim::client::{ClientEvent, Target};
use sim::script::ClientScript;
use sim::trace::{Trace, TraceEvent};

mod support;

use support::{start, Running};

/// Starts `wsgate serve --config <config>` and returns it with the address
/// it printed (`listening on …`, printed once every backend has answered a
/// probe).
fn serve(config: &std::path::Path) -> (Running, SocketAddr) {
    start(&["serve", "--config", config.to_str().unwrap()])
}

async fn app_backend(app: App, seed: u64, seen: &Arc<Mutex<Vec<AppEvent>>>) -> SocketAddr {
    let seen = Arc::clone(seen);
    let options = backend::Options {
        app,
        app_seed: seed,
        observer: Arc::new(move |e| {
            if let BackendEvent::App(e) = e {
                seen.lock().unwrap().push(e);
            }
        }),
        ..backend::Options::default()
    };
    let (addr, serving) = backend::bind(&TokioTransport, "127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap();
    tokio::spawn(serving);
    addr
}

/// The gateway config: one listener on an OS-chosen port, both backends.
fn config(dir: &tempfile::TempDir, backends: [SocketAddr; 2], affinity: bool) -> std::path::PathBuf {
    let text = format!(
        r#"profile = "application-gateway"

[[listeners]]
name = "public"
address = "127.0.0.1:0"

[[backend_pools]]
name = "hubs"
addresses = ["{}", "{}"]

[[backend_settings]]
name = "settings"
cookie_affinity = {affinity}

[[rules]]
name = "rule"
listener = "public"
pool = "hubs"
settings = "settings"
"#,
        backends[0], backends[1]
    );
    let path = dir.path().join(format!("affinity-{affinity}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// One client session of `protocol` through the gateway at `gateway`: its
/// trace.
async fn app_client(gateway: SocketAddr, protocol: ClientProtocol) -> Vec<ClientEvent> {
    let trace = Trace::real();
    let script = ClientScript {
        name: "c1".into(),
        count: 1,
        start: Duration::ZERO,
        path: match protocol {
            ClientProtocol::SocketIo => backend::app::SOCKET_IO_PATH.into(),
            _ => "/hub".into(),
        },
        host: "app.example".into(),
        subprotocols: Vec::new(),
        headers: Vec::new(),
        targets: vec![Target::plain(&gateway.ip().to_string(), gateway.port())],
        ping_interval: None,
        pong_timeout: None,
        messages: None,
        close_after: Some(Duration::from_millis(200)),
        close_code: 1000,
        reopen_after: None,
        retry: None,
        stop_at: Duration::from_secs(10),
        rotation: None,
        protocol,
    };
    script.run(TokioTransport, trace.clone(), 7).await.unwrap();
    trace
        .lines()
        .into_iter()
        .filter_map(|l| match l.event {
            TraceEvent::Client(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// The status that answered the client's WebSocket handshake.
fn handshake(events: &[ClientEvent]) -> Option<u16> {
    events.iter().find_map(|e| match e {
        ClientEvent::Opened { .. } => Some(101),
        ClientEvent::Refused { status, .. } => Some(*status),
        _ => None,
    })
}

fn stored_affinity_cookie(events: &[ClientEvent]) -> bool {
    events.iter().any(|e| {
        matches!(
            e,
            ClientEvent::CookieStored { name, .. } if name == "ApplicationGatewayAffinity"
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signalr_through_wsgate_serve_needs_cookie_affinity() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let backends = [
        app_backend(App::SignalR, 1, &seen).await,
        app_backend(App::SignalR, 2, &seen).await,
    ];
    let dir = tempfile::tempdir().unwrap();

    // Round robin sends the negotiate to one backend and the WebSocket to
    // the other, which never issued the token.
    let (gateway, addr) = serve(&config(&dir, backends, false));
    let events = app_client(addr, ClientProtocol::SignalR).await;
    assert_eq!(handshake(&events), Some(404), "{events:?}");
    assert!(events.iter().any(|e| matches!(
        e,
        ClientEvent::AppStep {
            step: AppStep::Negotiate,
            status: 200
        }
    )));
    assert!(
        !stored_affinity_cookie(&events),
        "no cookie without cookie_affinity: {events:?}"
    );
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, AppEvent::Refused { status: 404, .. })));
    drop(gateway);

    // With affinity the negotiate's cookie takes the WebSocket home.
    let (_gateway, addr) = serve(&config(&dir, backends, true));
    let events = app_client(addr, ClientProtocol::SignalR).await;
    assert_eq!(handshake(&events), Some(101), "{events:?}");
    assert!(stored_affinity_cookie(&events), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::Closed { code: 1000, .. })),
        "the session ran and closed normally: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_through_wsgate_serve_needs_cookie_affinity() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let backends = [
        app_backend(App::SocketIo, 3, &seen).await,
        app_backend(App::SocketIo, 4, &seen).await,
    ];
    let dir = tempfile::tempdir().unwrap();

    // Round robin sends the polling open to one backend and the CONNECT
    // packet to the other: 400 "Session ID unknown", and the client gives
    // up before its WebSocket.
    let (gateway, addr) = serve(&config(&dir, backends, false));
    let events = app_client(addr, ClientProtocol::SocketIo).await;
    let steps: Vec<(AppStep, u16)> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::AppStep { step, status } => Some((*step, *status)),
            _ => None,
        })
        .collect();
    assert_eq!(steps, [(AppStep::Open, 200), (AppStep::Connect, 400)], "{events:?}");
    assert_eq!(
        handshake(&events),
        None,
        "no WebSocket after a failed start: {events:?}"
    );
    assert!(!stored_affinity_cookie(&events), "{events:?}");
    assert!(seen.lock().unwrap().iter().any(|e| matches!(
        e,
        AppEvent::Refused {
            status: 400,
            reason: "Session ID unknown",
            ..
        }
    )));
    drop(gateway);

    // With affinity the open's cookie keeps CONNECT and upgrade on its
    // backend.
    let (_gateway, addr) = serve(&config(&dir, backends, true));
    let events = app_client(addr, ClientProtocol::SocketIo).await;
    assert_eq!(handshake(&events), Some(101), "{events:?}");
    assert!(stored_affinity_cookie(&events), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::Closed { code: 1000, .. })),
        "the session ran and closed normally: {events:?}"
    );
}
