//! Plain HTTP through the gateway on real sockets: what reaches the backend,
//! what comes back, and the statuses the gateway gives on its own.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use support::*;

/// Sends one request over a fresh connection with hyper's client.
async fn send(addr: std::net::SocketAddr, req: Request<Full<Bytes>>) -> (http::response::Parts, Bytes) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    (parts, body.collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn method_path_query_headers_and_body_are_forwarded() {
    let backend = backend().await;
    let gw = gateway(config_for(&[backend.addr])).await;
    let req = Request::post("/orders/7?expand=items&x=1")
        .header("host", "shop.example")
        .header("x-request-id", "abc-123")
        .header("x-forwarded-for", "198.51.100.9")
        .header("connection", "x-hop")
        .header("x-hop", "must not pass")
        .header("keep-alive", "timeout=5")
        .body(Full::new(Bytes::from_static(b"{\"qty\":3}")))
        .unwrap();
    let (parts, body) = send(gw.addr, req).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(&body[..], b"{\"qty\":3}", "the body went to the backend and back");
    assert_eq!(parts.headers["x-echo-method"], "POST");
    assert_eq!(parts.headers["x-echo-uri"], "/orders/7?expand=items&x=1");

    let seen = backend.seen.requests();
    let req = seen.last().unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.uri, "/orders/7?expand=items&x=1");
    assert_eq!(req.body_len, 9);
    assert_eq!(req.header("host"), Some("shop.example"), "Host is preserved");
    assert_eq!(req.header("x-request-id"), Some("abc-123"));
    assert_eq!(req.header("x-forwarded-for"), Some("198.51.100.9, 127.0.0.1"));
    assert_eq!(req.header("x-forwarded-proto"), Some("http"));
    assert_eq!(req.header("x-hop"), None, "headers named in Connection are hop-by-hop");
    assert_eq!(req.header("keep-alive"), None);
}

#[tokio::test]
async fn host_override_replaces_host() {
    let backend = backend().await;
    let mut config = config_for(&[backend.addr]);
    config.backend_settings[0].host_override = Some("chat.internal".into());
    let gw = gateway(config).await;
    let req = Request::get("/")
        .header("host", "public.example")
        .body(Full::default())
        .unwrap();
    let (parts, _) = send(gw.addr, req).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(backend.seen.requests()[0].header("host"), Some("chat.internal"));
}

#[tokio::test]
async fn requests_round_robin_over_the_pool() {
    let (a, b) = (backend().await, backend().await);
    let gw = gateway(config_for(&[a.addr, b.addr])).await;
    for _ in 0..4 {
        let req = Request::get("/").header("host", "h").body(Full::default()).unwrap();
        send(gw.addr, req).await;
    }
    assert_eq!((a.seen.requests().len(), b.seen.requests().len()), (2, 2));
}

#[tokio::test]
async fn unreachable_backend_is_502() {
    // The backend passes its first probe, then goes away before the next.
    let backend = backend().await;
    let gw = gateway(config_for(&[backend.addr])).await;
    drop(backend);
    let req = Request::get("/").header("host", "h").body(Full::default()).unwrap();
    let (parts, _) = send(gw.addr, req).await;
    assert_eq!(parts.status, StatusCode::BAD_GATEWAY);
    let events = gw.events.lock().unwrap();
    assert!(
        events.iter().any(|e| matches!(
            e,
            gateway::Event::BackendError { error, .. } if error.kind() == gateway::upstream::Kind::Connect
        )),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_backend_that_never_passed_a_probe_gets_nothing() {
    // Docs 000/003: "Each backend server must respond to HTTP probes for
    // application gateway to route WebSocket traffic to the server".
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = gateway(config_for(&[closed])).await;
    let req = Request::get("/").header("host", "h").body(Full::default()).unwrap();
    assert_eq!(send(gw.addr, req).await.0.status, StatusCode::BAD_GATEWAY);
    let events = gw.events.lock().unwrap();
    assert!(
        events.iter().any(|e| matches!(
            e,
            gateway::Event::RequestRejected {
                reason: "no healthy backend",
                ..
            }
        )),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, gateway::Event::RequestRouted { .. })),
        "{events:?}"
    );
}

#[tokio::test]
async fn https_backend_is_verified_against_trusted_ca() {
    let tls = tls_files();
    let backend = tls_backend(&tls).await;
    let mut config = config_for(&[]);
    config.backend_pools[0].addresses = vec![format!("localhost:{}", backend.addr.port())];
    config.backend_settings[0].protocol = gateway::config::Protocol::Https;
    config.backend_settings[0].trusted_ca = Some(tls.ca.clone());
    let gw = gateway(config).await;
    let req = Request::get("/over-tls")
        .header("host", "h")
        .body(Full::default())
        .unwrap();
    let (parts, _) = send(gw.addr, req).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(backend.seen.requests()[0].uri, "/over-tls");

    // The same backend with a CA that did not sign it is refused: 502.
    let other = tls_files();
    let mut config = config_for(&[]);
    config.backend_pools[0].addresses = vec![format!("localhost:{}", backend.addr.port())];
    config.backend_settings[0].protocol = gateway::config::Protocol::Https;
    config.backend_settings[0].trusted_ca = Some(other.ca.clone());
    let gw = gateway(config).await;
    let req = Request::get("/").header("host", "h").body(Full::default()).unwrap();
    assert_eq!(send(gw.addr, req).await.0.status, StatusCode::BAD_GATEWAY);
}
