//! An h2c upgrade must not smuggle requests past the gateway (the WAF
//! included): the backend is asked for `Upgrade: websocket` and nothing
//! else, and a tunnel opens only on a 101 that switches to websocket with
//! the accept value of this client's key. Real sockets, and a raw backend
//! that answers 101 to any upgrade, as a careless h2c-capable server does,
//! behind a WAF rule that blocks `/admin`.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The reproduction: `Upgrade: h2c` first, then `websocket`.
const SMUGGLE: &str = "GET /public HTTP/1.1\r\nHost: t\r\nUpgrade: h2c\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
/// What the attacker sends once it believes the tunnel is open.
const BEHIND: &str = "GET /admin HTTP/1.1\r\nHost: t\r\n\r\n";

/// How the raw backend answers an upgrade request.
#[derive(Clone, Copy)]
enum Answer {
    /// `101` with `Upgrade: h2c`, as an h2c server would.
    H2c,
    /// `101` with `Upgrade: websocket` but an accept value for another key.
    WrongAccept,
    /// A correct WebSocket 101.
    Correct,
}

/// A backend that answers plain requests (probes) with 200 and upgrades
/// per `answer`, and records every byte it received.
async fn raw_backend(answer: Answer) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                log.lock().unwrap().extend_from_slice(&head);
                let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let reply = if !text.contains("\r\nupgrade:") {
                    "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
                } else {
                    match answer {
                        Answer::H2c => "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".into(),
                        Answer::WrongAccept => "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n".into(),
                        Answer::Correct => "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n".into(),
                    }
                };
                if stream.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
                // Whatever comes after the switch is recorded too.
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => log.lock().unwrap().extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// Sends the smuggling request, then the hidden one, and returns what the
/// client read back and what the backend received.
async fn attempt(answer: Answer) -> (String, String) {
    let (backend, seen) = raw_backend(answer).await;
    // The WAF blocks /admin: the only way to reach it is past the gateway.
    let mut config = config_for(&[backend]);
    config.waf_policies = vec![gateway::config::WafPolicyConfig {
        name: "edge".into(),
        rules: vec![gateway::config::WafRuleConfig {
            name: "no-admin".into(),
            target: gateway::config::WafTarget::Path,
            header: None,
            contains: Some("/admin".into()),
            regex: None,
            action: gateway::config::WafAction::Block,
        }],
    }];
    config.rules[0].waf = Some("edge".into());
    let gw = gateway(config).await;
    wait_until_routable(gw.addr).await;
    seen.lock().unwrap().clear();
    let mut client = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    client.write_all(SMUGGLE.as_bytes()).await.unwrap();
    let mut head = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), client.read(&mut head))
        .await
        .unwrap()
        .unwrap();
    let reply = String::from_utf8_lossy(&head[..n]).into_owned();
    let _ = client.write_all(BEHIND.as_bytes()).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let got = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    (reply, got)
}

#[tokio::test]
async fn the_backend_is_asked_for_websocket_only_and_an_h2c_switch_is_502() {
    let (reply, backend_saw) = attempt(Answer::H2c).await;
    assert_eq!(status_of(&reply), 502, "{reply}");
    let lower = backend_saw.to_ascii_lowercase();
    let upgrades: Vec<&str> = lower.lines().filter(|l| l.starts_with("upgrade:")).collect();
    assert_eq!(upgrades, ["upgrade: websocket"], "{backend_saw}");
    assert!(!lower.contains("http2-settings"), "{backend_saw}");
    assert!(!backend_saw.contains("/admin"), "smuggled past the WAF: {backend_saw}");
}

#[tokio::test]
async fn a_101_with_the_wrong_accept_is_502_and_opens_nothing() {
    let (reply, backend_saw) = attempt(Answer::WrongAccept).await;
    assert_eq!(status_of(&reply), 502, "{reply}");
    assert!(!backend_saw.contains("/admin"), "smuggled past the WAF: {backend_saw}");
}

#[tokio::test]
async fn a_correct_websocket_101_opens_the_tunnel() {
    // The control: the same request against an honest backend is relayed,
    // so the two tests above fail for the reason they name.
    let (reply, backend_saw) = attempt(Answer::Correct).await;
    assert_eq!(status_of(&reply), 101, "{reply}");
    assert!(
        backend_saw.contains(BEHIND),
        "relayed as bytes, unchecked: {backend_saw}"
    );
}
