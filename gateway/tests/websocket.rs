//! WebSocket specifics on real sockets that the parity suite (in `sim`)
//! does not cover: wss through an https listener, and a backend that
//! declines the upgrade.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use futures_util::{SinkExt, StreamExt};
use support::*;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn wss_through_the_https_listener() {
    let tls = tls_files();
    let backend = backend().await;
    let mut config = config_for(&[backend.addr]);
    make_https(&mut config, &tls);
    let gw = gateway(config).await;

    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(client_tls(&tls));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = connector.connect(name, tcp).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async("wss://localhost/secure", stream)
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("over tls")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("over tls"));
    ws.close(None).await.unwrap();

    let seen = backend.seen.requests();
    assert_eq!(seen[0].uri, "/secure");
    assert_eq!(seen[0].header("x-forwarded-proto"), Some("https"));
}

#[tokio::test]
async fn a_declined_upgrade_is_returned_unchanged() {
    // A backend that answers every upgrade with 403 and a body, and its
    // health probes (plain GETs) with 200, so it is in the pool.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                let reply: &[u8] = if head.contains("upgrade: websocket") {
                    b"HTTP/1.1 403 Forbidden\r\ncontent-length: 9\r\nx-reason: policy\r\n\r\nforbidden"
                } else {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
                };
                let _ = s.write_all(reply).await;
            });
        }
    });
    let gw = gateway(config_for(&[addr])).await;
    let raw = raw_exchange(
        gw.addr,
        b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&raw), 403, "{raw}");
    assert!(raw.to_ascii_lowercase().contains("x-reason: policy"), "{raw}");
    assert!(raw.ends_with("forbidden"), "{raw}");
}

#[tokio::test]
async fn a_frame_sent_with_the_handshake_reaches_the_backend() {
    // A client may send its first frame right behind its request, in the
    // same segment, before the 101. The gateway reads it with the request
    // and must still relay it, first, once the session is open.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let backend = backend().await;
    let gw = gateway(config_for(&[backend.addr])).await;
    let mut stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let mask = [1u8, 2, 3, 4];
    let mut request = b"GET /early HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".to_vec();
    request.extend_from_slice(&[0x81, 0x80 | 5]);
    request.extend_from_slice(&mask);
    request.extend(b"early".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    stream.write_all(&request).await.unwrap();

    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let expected_frame = [&[0x81u8, 5][..], b"early"].concat();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !got.ends_with(&expected_frame) {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("no echo of the early frame")
            .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
}

#[tokio::test]
async fn a_handshake_retried_on_another_origin_sends_the_same_head() {
    // Front Door retries a request whose origin refused the connection
    // (FD-RETRY-1). A handshake's head is encoded afresh from the kept
    // request by each attempt, so the retry must carry every header the
    // first attempt would have: the upgrade, the key, the forwarding.
    use gateway::Event;
    let (gw, live, refused) = front_door_behind_a_refusing_origin().await;
    for i in 0..4 {
        let url = format!("ws://{}/retried?n={i}", gw.addr);
        let (mut ws, resp) = tokio_tungstenite::connect_async(url).await.unwrap();
        assert_eq!(resp.status(), 101);
        ws.send(Message::text("after a retry")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("after a retry"));
        ws.close(None).await.unwrap();
    }
    let events = gw.events.lock().unwrap().clone();
    let refusals = events
        .iter()
        .filter(|e| matches!(e, Event::BackendError { backend, .. } if backend.port == refused.port()))
        .count();
    assert!(refusals >= 1, "the refused origin was tried: {events:?}");
    let seen = live.seen.requests();
    assert_eq!(seen.len(), 4, "every handshake reached the live origin once");
    for (i, request) in seen.iter().enumerate() {
        assert_eq!(request.uri, format!("/retried?n={i}"));
        assert_eq!(
            request.header("upgrade").map(str::to_ascii_lowercase).as_deref(),
            Some("websocket")
        );
        assert!(request.header("sec-websocket-key").is_some_and(|k| k.len() == 24));
        assert_eq!(request.header("sec-websocket-version"), Some("13"));
        assert_eq!(request.header("x-forwarded-proto"), Some("http"));
    }
}
