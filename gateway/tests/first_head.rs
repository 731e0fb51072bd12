//! A connection's first request when it is a WebSocket handshake: the
//! gateway serves it from the head it read itself, without hyper's server.
//! These tests hold what a client sees to what it saw when hyper served it:
//! the 101's bytes, frames sent before the 101 arrived, a client that
//! leaves before the backend answers, keep-alive after a declined
//! handshake, and TLS. Real sockets, and raw backends that write exact
//! bytes.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

const HANDSHAKE: &[u8] = b"GET /chat?room=1 HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
/// The accept value for [`HANDSHAKE`]'s key (RFC 6455 §1.3).
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// A masked text frame "hi" from the client.
const CLIENT_FRAME: &[u8] = b"\x81\x82\x00\x00\x00\x00hi";
/// An unmasked text frame "yo" from the backend.
const BACKEND_FRAME: &[u8] = b"\x81\x02yo";

/// Reads a request head; `None` if the peer closed first.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => head.push(byte[0]),
        }
    }
    Some(head)
}

/// Answers probes 200 and passes each handshake's stream to `on_upgrade`.
async fn raw_backend<F, Fut>(on_upgrade: F) -> SocketAddr
where
    F: Fn(TcpStream, Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let on_upgrade = Arc::new(on_upgrade);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let on_upgrade = Arc::clone(&on_upgrade);
            tokio::spawn(async move {
                let Some(head) = read_head(&mut stream).await else {
                    return;
                };
                if String::from_utf8_lossy(&head)
                    .to_ascii_lowercase()
                    .contains("\r\nupgrade:")
                {
                    on_upgrade(stream, head).await;
                } else {
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                }
            });
        }
    });
    addr
}

/// Reads until `want` bytes have arrived, or the peer closes, or 10 s pass.
async fn read_at_least<S: AsyncRead + Unpin>(stream: &mut S, want: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while out.len() < want {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    out
}

#[tokio::test]
async fn the_101_reaches_the_client_as_written_and_early_frames_reach_the_backend() {
    // The backend answers with repeated and mixed-case headers and a frame
    // in the same write; it records what arrives after the head.
    let after_head = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&after_head);
    let addr = raw_backend(move |mut stream, _head| {
        let seen = Arc::clone(&seen);
        async move {
            let reply = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\nX-Trace: a\r\nx-trace: b\r\n\r\n"
            );
            let mut bytes = reply.into_bytes();
            bytes.extend_from_slice(BACKEND_FRAME);
            stream.write_all(&bytes).await.unwrap();
            let got = read_at_least(&mut stream, CLIENT_FRAME.len()).await;
            seen.lock().unwrap().extend_from_slice(&got);
        }
    })
    .await;
    let gw = gateway(config_for(&[addr])).await;

    // The client sends its first frame in the same write as its handshake,
    // before any 101: those bytes belong to the tunnel.
    let mut client = TcpStream::connect(gw.addr).await.unwrap();
    let mut request = HANDSHAKE.to_vec();
    request.extend_from_slice(CLIENT_FRAME);
    client.write_all(&request).await.unwrap();
    let expected = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {ACCEPT}\r\nx-trace: a\r\nx-trace: b\r\n\r\n"
    );
    let mut expected = expected.into_bytes();
    expected.extend_from_slice(BACKEND_FRAME);
    let got = read_at_least(&mut client, expected.len()).await;
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&expected));
    for _ in 0..500 {
        if after_head.lock().unwrap().len() >= CLIENT_FRAME.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(after_head.lock().unwrap().as_slice(), CLIENT_FRAME);
}

#[tokio::test]
async fn a_client_that_leaves_before_the_101_opens_no_session() {
    // The backend holds its answer until the gateway's side of the
    // connection closes, and reports whether it did.
    let (closed_tx, closed_rx) = oneshot::channel::<bool>();
    let closed_tx = Arc::new(Mutex::new(Some(closed_tx)));
    let addr = raw_backend(move |mut stream, _head| {
        let closed_tx = Arc::clone(&closed_tx);
        async move {
            let mut buf = [0u8; 64];
            let closed = matches!(
                tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await,
                Ok(Ok(0) | Err(_))
            );
            if let Some(tx) = closed_tx.lock().unwrap().take() {
                let _ = tx.send(closed);
            }
        }
    })
    .await;
    let gw = gateway(config_for(&[addr])).await;
    let mut client = TcpStream::connect(gw.addr).await.unwrap();
    client.write_all(HANDSHAKE).await.unwrap();
    // Wait until the handshake is at the backend, then leave.
    for _ in 0..500 {
        let routed = gw
            .events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, gateway::Event::RequestRouted { upgrade: true, .. }));
        if routed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(client);
    assert!(
        closed_rx.await.unwrap(),
        "the gateway kept the backend's connection after its client left"
    );
    let events = gw.events.lock().unwrap();
    assert!(
        !events.iter().any(|e| matches!(
            e,
            gateway::Event::UpgradeCompleted { .. } | gateway::Event::SessionClosed { .. }
        )),
        "a session was reported for a client that left: {events:?}"
    );
}

#[tokio::test]
async fn a_declined_handshake_leaves_the_connection_open_for_the_next_request() {
    // A 403 with a body, then a plain request on the same connection.
    let addr = raw_backend(|mut stream, _head| async move {
        let _ = stream
            .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 4\r\nx-why: origin\r\n\r\nnope")
            .await;
    })
    .await;
    let gw = gateway(config_for(&[addr])).await;
    let mut client = TcpStream::connect(gw.addr).await.unwrap();
    client.write_all(HANDSHAKE).await.unwrap();
    let first = read_at_least(&mut client, 1).await;
    let first = String::from_utf8_lossy(&first).into_owned();
    assert_eq!(status_of(&first), 403, "{first}");
    assert!(first.contains("x-why: origin\r\n"), "{first}");
    assert!(first.ends_with("\r\n\r\nnope"), "{first}");
    assert!(!first.to_ascii_lowercase().contains("connection: close"), "{first}");

    client
        .write_all(b"GET /next HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut second = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut second)).await;
    let second = String::from_utf8_lossy(&second).into_owned();
    assert_eq!(status_of(&second), 200, "{second}");
}

#[tokio::test]
async fn a_handshake_over_tls_is_answered_and_relayed() {
    let addr = raw_backend(|mut stream, _head| async move {
        let reply =
            format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n");
        stream.write_all(reply.as_bytes()).await.unwrap();
        // Echo the client's frame back, unmasked.
        let got = read_at_least(&mut stream, CLIENT_FRAME.len()).await;
        if got == CLIENT_FRAME {
            stream.write_all(b"\x81\x02hi").await.unwrap();
        }
        let _ = read_at_least(&mut stream, usize::MAX).await;
    })
    .await;
    let tls = tls_files();
    let mut config = config_for(&[addr]);
    make_https(&mut config, &tls);
    let gw = gateway(config).await;
    let connector = tokio_rustls::TlsConnector::from(client_tls(&tls));
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut client = connector.connect(name, tcp).await.unwrap();
    client.write_all(HANDSHAKE).await.unwrap();
    client.flush().await.unwrap();
    let head = read_until_blank_line(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{head}");
    client.write_all(CLIENT_FRAME).await.unwrap();
    client.flush().await.unwrap();
    let echoed = read_at_least(&mut client, 4).await;
    assert_eq!(echoed, b"\x81\x02hi");
}

/// Reads a response head byte by byte, so nothing after it is consumed.
async fn read_until_blank_line<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> String {
    let head = tokio::time::timeout(Duration::from_secs(10), read_head(stream))
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    String::from_utf8_lossy(&head).into_owned()
}
