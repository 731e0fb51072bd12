//! Lifecycle operations on a real network: `wsgate serve` as a separate
//! process in front of two scripted backends on 127.0.0.1, driven through
//! its admin endpoint and SIGHUP. Each test checks what a client and the
//! backends see: which backend new sessions reach, and when an old session
//! is closed (without a Close frame).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backend::BackendEvent;
use futures_util::{SinkExt, StreamExt};
use gateway::TokioTransport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

mod support;

use support::{start_with, Running};

/// A backend on 127.0.0.1 that counts the sessions it opened.
struct Backend {
    addr: SocketAddr,
    sessions: Arc<Mutex<usize>>,
}

async fn backend() -> Backend {
    let sessions = Arc::new(Mutex::new(0));
    let seen = Arc::clone(&sessions);
    let options = backend::Options {
        observer: Arc::new(move |e| {
            if matches!(e, BackendEvent::SessionOpened { .. }) {
                *seen.lock().unwrap() += 1;
            }
        }),
        ..backend::Options::default()
    };
    let (addr, serve) = backend::bind(&TokioTransport, "127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap();
    tokio::spawn(serve);
    Backend { addr, sessions }
}

impl Backend {
    fn sessions(&self) -> usize {
        *self.sessions.lock().unwrap()
    }
}

/// A config with connection draining of 1 s over `backends`.
fn config(backends: &[SocketAddr], request_timeout: &str) -> String {
    let addresses: Vec<String> = backends.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "profile = \"application-gateway\"\n\
         [[listeners]]\nname = \"public\"\naddress = \"127.0.0.1:0\"\n\
         [[backend_pools]]\nname = \"pool\"\naddresses = [{}]\n\
         [[backend_settings]]\nname = \"settings\"\nrequest_timeout = \"{request_timeout}\"\n\
         connection_draining = {{ enabled = true, drain_timeout = \"1s\" }}\n\
         [[rules]]\nname = \"rule\"\nlistener = \"public\"\npool = \"pool\"\nsettings = \"settings\"\n",
        addresses.join(", ")
    )
}

/// Starts `wsgate serve --config PATH --admin 127.0.0.1:0`; returns the
/// process, the gateway and the admin addresses.
fn serve(path: &Path) -> (Running, SocketAddr, SocketAddr) {
    let (running, addrs) = start_with(
        &["serve", "--config", path.to_str().unwrap(), "--admin", "127.0.0.1:0"],
        &["listening on ", "admin endpoint on "],
    );
    (running, addrs[0], addrs[1])
}

async fn admin(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).await.unwrap();
    let status = resp.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(gateway: SocketAddr) -> Ws {
    let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://{gateway}/chat"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
    ws
}

/// Whether the session ends, without a Close frame, within `within`.
async fn dropped_within(ws: &mut Ws, within: Duration) -> bool {
    match tokio::time::timeout(within, ws.next()).await {
        Err(_) => false,
        Ok(Some(Ok(Message::Close(_)))) => panic!("a drain sends no Close frame"),
        Ok(Some(Ok(other))) => panic!("unexpected {other:?}"),
        Ok(Some(Err(_)) | None) => true,
    }
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_backend_drains_it_and_adding_it_back_restores_it() {
    let (a, b) = (backend().await, backend().await);
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &config(&[a.addr, b.addr], "20s"));
    let (_gw, gateway, admin_addr) = serve(&path);

    let mut first = open(gateway).await;
    let (on_a, on_b) = (a.sessions(), b.sessions());
    assert_eq!(on_a + on_b, 1);
    let (victim, other) = if on_a == 1 { (&a, &b) } else { (&b, &a) };

    let (status, body) = admin(admin_addr, "POST", &format!("/backends/{}/remove", victim.addr), "").await;
    assert_eq!(status, 200, "{body}");
    // New sessions all go to the other backend while the first drains.
    let before = other.sessions();
    let mut later = Vec::new();
    for _ in 0..3 {
        later.push(open(gateway).await);
    }
    assert_eq!(other.sessions() - before, 3, "no new session reaches a removed backend");
    assert_eq!(victim.sessions(), 1);
    // The drain is 1 s: the first session ends without a Close frame.
    assert!(dropped_within(&mut first, Duration::from_secs(5)).await);
    for ws in &mut later {
        assert!(
            !dropped_within(ws, Duration::from_millis(200)).await,
            "sessions elsewhere stay"
        );
    }

    let (status, body) = admin(admin_addr, "GET", "/backends", "").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"removed\":true"), "{body}");
    let (status, _) = admin(admin_addr, "POST", &format!("/backends/{}/add", victim.addr), "").await;
    assert_eq!(status, 200);
    let (_, body) = admin(admin_addr, "GET", "/backends", "").await;
    assert!(!body.contains("\"removed\":true"), "{body}");
    let (status, body) = admin(admin_addr, "POST", "/backends/127.0.0.1:1/remove", "").await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_config_updates_and_old_sessions_close_after_the_drain() {
    let (a, b) = (backend().await, backend().await);
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &config(&[a.addr, b.addr], "20s"));
    let (_gw, gateway, admin_addr) = serve(&path);
    let mut old = open(gateway).await;

    // An invalid config changes nothing and says where it is wrong.
    let (status, body) = admin(
        admin_addr,
        "POST",
        "/config",
        "profile = \"application-gateway\"\n[[rules]]\nname = 7\n",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("POST /config:3:"), "{body}");
    // A config that moves the listener is refused.
    let moved = config(&[a.addr, b.addr], "20s").replace("127.0.0.1:0", "127.0.0.1:1");
    let (status, body) = admin(admin_addr, "POST", "/config", &moved).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("cannot change the listeners"), "{body}");
    assert!(
        !dropped_within(&mut old, Duration::from_millis(1500)).await,
        "refused updates drop nothing"
    );

    let (status, body) = admin(admin_addr, "POST", "/config", &config(&[a.addr, b.addr], "25s")).await;
    assert_eq!(status, 200, "{body}");
    // New handshakes work at once; the old session closes after 1 s.
    let mut new = open(gateway).await;
    assert!(dropped_within(&mut old, Duration::from_secs(5)).await);
    assert!(!dropped_within(&mut new, Duration::from_millis(1500)).await);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_config_file() {
    let (a, b) = (backend().await, backend().await);
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &config(&[a.addr], "20s"));
    let (gw, gateway, admin_addr) = serve(&path);
    let mut old = open(gateway).await;
    assert_eq!(a.sessions(), 1);

    // The file now names only b; SIGHUP applies it.
    write(dir.path(), &config(&[b.addr], "20s"));
    let pid = gw.0.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    // b is new to the gateway, so it takes traffic only once it has answered
    // a probe (the probe rule holds from the first moment).
    let mut reloaded = false;
    for _ in 0..200 {
        let (_, body) = admin(admin_addr, "GET", "/backends", "").await;
        let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
        let rows = rows["backends"].as_array().unwrap();
        let has = |addr: SocketAddr| rows.iter().find(|r| r["address"] == addr.to_string());
        if has(a.addr).is_none() && has(b.addr).is_some_and(|r| r["healthy"] == true) {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reloaded, "SIGHUP applied the new file and b passed its probe");
    let _new = open(gateway).await;
    assert_eq!(b.sessions(), 1, "new sessions follow the new pool");
    assert!(
        dropped_within(&mut old, Duration::from_secs(5)).await,
        "the old session drains"
    );
    // The process is still serving after the reload.
    assert!(gw.0.id() > 0);
}
