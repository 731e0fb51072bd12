//! What an adversarial run found, each on real sockets: headers a client
//! could strip with `Connection`, CONNECT, absolute-form targets, request
//! bodies, admin drains and the connection limit. Each test failed before
//! its fix.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// One raw exchange through a fresh gateway in front of an echo backend:
/// the gateway's answer and what the backend received (probes excluded).
async fn through(request: &str) -> (String, Vec<backend::SeenRequest>) {
    let backend = backend().await;
    let gw = gateway(config_for(&[backend.addr])).await;
    let raw = raw_exchange(gw.addr, request.as_bytes()).await;
    (raw, backend.seen.requests())
}

#[tokio::test]
async fn connection_cannot_strip_host() {
    let (raw, seen) = through("GET /x HTTP/1.1\r\nHost: public.example\r\nConnection: close, Host\r\n\r\n").await;
    assert_eq!(status_of(&raw), 200, "{raw}");
    assert_eq!(seen[0].header("host"), Some("public.example"), "{seen:?}");
}

#[tokio::test]
async fn connection_cannot_strip_the_websocket_key() {
    let req = format!(
        "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade, Sec-WebSocket-Key\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let backend = backend().await;
    let gw = gateway(config_for(&[backend.addr])).await;
    let mut stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert_eq!(status_of(&reply), 101, "{reply}");
    assert_eq!(backend.seen.requests()[0].header("sec-websocket-key"), Some(KEY));
}

#[tokio::test]
async fn connect_is_answered_405_and_never_forwarded() {
    let (raw, seen) =
        through("CONNECT backend.internal:22 HTTP/1.1\r\nHost: backend.internal:22\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&raw), 405, "{raw}");
    assert!(raw.to_ascii_lowercase().contains("allow: get, head"), "{raw}");
    assert!(seen.is_empty(), "{seen:?}");
}

#[tokio::test]
async fn an_absolute_form_target_sets_host_from_its_authority() {
    // RFC 9112 §3.2.2: the received Host is ignored for an absolute-form
    // target.
    let (raw, seen) =
        through("GET http://real.example:8080/path?q=1 HTTP/1.1\r\nHost: spoofed.example\r\nConnection: close\r\n\r\n")
            .await;
    assert_eq!(status_of(&raw), 200, "{raw}");
    assert_eq!(seen[0].header("host"), Some("real.example:8080"), "{seen:?}");
    assert_eq!(seen[0].uri, "/path?q=1");
}

#[tokio::test]
async fn a_malformed_chunked_body_is_400_from_the_gateway() {
    let backend = backend().await;
    let gw = gateway(config_for(&[backend.addr])).await;
    let raw = raw_exchange(
        gw.addr,
        b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\nnot hex\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&raw), 400, "{raw}");
    assert_eq!(backend.seen.reached(), 0, "nothing reached the backend");
    let events = gw.events.lock().unwrap();
    assert!(
        !events.iter().any(|e| matches!(e, gateway::Event::BackendError { .. })),
        "not blamed on the backend: {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, gateway::Event::RequestRejected { status: 400, .. })),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_get_with_a_chunked_body_keeps_its_body() {
    let (raw, seen) = through(
        "GET /search HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&raw), 200, "{raw}");
    assert_eq!(seen[0].body_len, 11, "{seen:?}");
    assert!(raw.ends_with("hello world"), "the echo backend returns the body: {raw}");
}

#[tokio::test]
async fn a_large_streamed_get_body_arrives_whole() {
    // Past the 64 KiB read before forwarding, the rest streams.
    let chunk = "x".repeat(50_000);
    let mut req =
        String::from("GET /big HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    for _ in 0..3 {
        req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    req.push_str("0\r\n\r\n");
    let (raw, seen) = through(&req).await;
    assert_eq!(status_of(&raw), 200, "{}", &raw[..raw.len().min(200)]);
    assert_eq!(seen[0].body_len, 150_000);
}

#[tokio::test]
async fn more_than_100_headers_is_431() {
    let mut req = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
    for i in 0..101 {
        req.push_str(&format!("X-H{i}: v\r\n"));
    }
    req.push_str("\r\n");
    let (raw, seen) = through(&req).await;
    assert_eq!(status_of(&raw), 431, "{raw}");
    assert!(seen.is_empty());
}

async fn admin(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    let raw = raw_exchange(
        addr,
        format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    (status_of(&raw), raw)
}

/// Serves the admin endpoint for `handle` on an OS-picked port.
async fn admin_endpoint(handle: gateway::GatewayHandle) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(gateway::admin::serve(listener, handle));
    addr
}

#[tokio::test]
async fn admin_drains_are_bounded_and_cancellable() {
    let backend = backend().await;
    let (gw, handle) = gateway_with_handle(config_for(&[backend.addr])).await;
    let admin_addr = admin_endpoint(handle).await;
    let (status, body) = admin(admin_addr, "POST", "/maintenance?drain=500000000000y").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = admin(admin_addr, "POST", "/maintenance?drain=2h").await;
    assert_eq!(status, 400, "more than the hour a drain may last: {body}");

    let (status, _) = admin(admin_addr, "POST", "/maintenance?drain=10m").await;
    assert_eq!(status, 202);
    let raw = raw_exchange(gw.addr, b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&raw), 503, "draining: {raw}");
    let (status, body) = admin(admin_addr, "DELETE", "/maintenance").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"cancelled\":true"), "{body}");
    let raw = raw_exchange(gw.addr, b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&raw), 200, "served again: {raw}");
}

#[tokio::test]
async fn connections_beyond_max_connections_get_503() {
    let backend = backend().await;
    let mut config = config_for(&[backend.addr]);
    config.max_connections = Some(1);
    let gw = gateway(config).await;
    // The first connection holds the only place.
    let mut first = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    first.write_all(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 512];
    let n = first.read(&mut buf).await.unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&buf[..n])), 200);
    let raw = raw_exchange(gw.addr, b"GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&raw), 503, "{raw}");
    assert!(
        gw.events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, gateway::Event::ConnectionRefused { limit: 1, .. })),
        "the refusal is reported"
    );
    drop(first);
    // Its place is free again once it closes.
    for _ in 0..50 {
        let raw = raw_exchange(gw.addr, b"GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
        if status_of(&raw) == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the freed place was never given back");
}
