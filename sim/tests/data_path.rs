//! The WebSocket data path, checked through the gateway on real loopback
//! sockets and inside the simulator with the same test bodies.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use backend::BackendEvent;
use common::{Env, TestResult};
use futures_util::future::join_all;
use gateway::Transport;
use sim::client::Received;
use tokio_tungstenite::tungstenite::Message;

async fn text_binary_and_large_messages<T: Transport>(mut env: Env<T>) -> TestResult {
    let options = env.options("/chat");
    let mut c = env.connect("c1", &options).await?;
    let large: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    for msg in [
        Message::text("hello, gateway"),
        Message::binary(vec![0u8, 1, 2, 254, 255]),
        Message::binary(large),
    ] {
        c.send(msg.clone())
            .await
            .map_err(|code| format!("send failed, close {code}"))?;
        let echoed = c.recv_data().await.map_err(|code| format!("closed {code}"))?;
        assert_eq!(echoed, msg, "echoed message differs");
    }
    c.close(1000).await.map_err(|code| format!("close failed {code}"))?;
    assert_eq!(c.recv().await, Received::Closed(1000));
    Ok(())
}

async fn ping_gets_pong<T: Transport>(mut env: Env<T>) -> TestResult {
    let options = env.options("/chat");
    let mut c = env.connect("c1", &options).await?;
    c.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .map_err(|code| format!("send failed {code}"))?;
    match c.recv().await {
        Received::Message(Message::Pong(payload)) => assert_eq!(&payload[..], b"are you there"),
        other => panic!("expected a pong, got {other:?}"),
    }
    Ok(())
}

async fn client_close_code_comes_back<T: Transport>(mut env: Env<T>) -> TestResult {
    let options = env.options("/chat");
    let mut c = env.connect("c1", &options).await?;
    c.close(4000).await.map_err(|code| format!("close failed {code}"))?;
    assert_eq!(c.recv().await, Received::Closed(4000));
    Ok(())
}

async fn subprotocol_is_negotiated<T: Transport>(mut env: Env<T>) -> TestResult {
    let options = env.options("/chat").subprotocols(&["chat", "superchat"]);
    let c = env.connect("c1", &options).await?;
    assert_eq!(c.subprotocol.as_deref(), Some("chat"));
    let accept = c
        .response_headers
        .iter()
        .find(|(n, _)| n == "sec-websocket-accept")
        .map(|(_, v)| v.clone());
    assert_eq!(
        accept,
        Some(tokio_tungstenite::tungstenite::handshake::derive_accept_key(
            options.key.as_bytes()
        )),
        "the backend's Sec-WebSocket-Accept reaches the client intact"
    );
    Ok(())
}

async fn handshake_arrives_intact<T: Transport>(mut env: Env<T>) -> TestResult {
    let options = env
        .options("/chat?room=42&user=ada")
        .subprotocols(&["chat", "superchat"])
        .header("Origin", "https://example.com")
        .header("X-Custom", "kept")
        .header("Sec-WebSocket-Extensions", "x-test-extension");
    let _c = env.connect("c1", &options).await?;
    let seen = env.seen.requests();
    let req = seen.last().ok_or("backend saw no request")?;
    assert_eq!(req.method, "GET");
    assert_eq!(req.uri, "/chat?room=42&user=ada");
    assert_eq!(req.header("host"), Some("server.example.com"));
    assert_eq!(req.header("upgrade"), Some("websocket"));
    assert_eq!(req.header("connection"), Some("Upgrade"));
    assert_eq!(req.header("sec-websocket-key"), Some(options.key.as_str()));
    assert_eq!(req.header("sec-websocket-version"), Some("13"));
    assert_eq!(req.header("sec-websocket-protocol"), Some("chat, superchat"));
    assert_eq!(req.header("sec-websocket-extensions"), Some("x-test-extension"));
    assert_eq!(req.header("origin"), Some("https://example.com"));
    assert_eq!(req.header("x-custom"), Some("kept"));
    assert_eq!(req.header("x-forwarded-proto"), Some("http"));
    assert!(req.header("x-forwarded-for").is_some());
    Ok(())
}

async fn fifty_sessions_keep_order<T: Transport>(mut env: Env<T>) -> TestResult {
    let options: Vec<_> = (0..50).map(|_| env.options("/chat")).collect();
    let env = &env;
    let sessions = options.iter().enumerate().map(|(s, options)| async move {
        let mut c = env
            .connect(&format!("c{s}"), options)
            .await
            .map_err(|e| e.to_string())?;
        for m in 0..100 {
            let text = format!("session {s} message {m}");
            c.send(Message::text(text.clone()))
                .await
                .map_err(|code| format!("send: {code}"))?;
            match c.recv_data().await {
                Ok(Message::Text(got)) if got.as_str() == text => {}
                other => return Err(format!("session {s}: expected {text:?}, got {other:?}")),
            }
        }
        c.close(1000).await.map_err(|code| format!("close: {code}"))?;
        Ok::<_, String>(())
    });
    for result in join_all(sessions).await {
        result?;
    }
    let opened = env
        .seen
        .events()
        .iter()
        .filter(|e| matches!(e, BackendEvent::SessionOpened { .. }))
        .count();
    assert_eq!(opened, 50);
    Ok(())
}

both!(
    text_binary_and_large_messages,
    ping_gets_pong,
    client_close_code_comes_back,
    subprotocol_is_negotiated,
    handshake_arrives_intact,
    fifty_sessions_keep_order,
);
