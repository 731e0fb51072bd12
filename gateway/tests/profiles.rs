//! Per-profile behaviour on real sockets, with overrides short enough to run
//! in seconds: a real tokio-tungstenite client, a real echo backend, the
//! admin endpoint over HTTP. Exact timings are the simulator's job
//! (sim/tests/profiles.rs); these check what happens and why, from the
//! gateway's own events.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gateway::config::{
    Duration as ConfigDuration, RewriteSetConfig, UrlPathRewrite, WafAction, WafPolicyConfig, WafRuleConfig, WafTarget,
};
use gateway::event::{CloseReason, Event};
use gateway::session::Timer;
use gateway::{Config, ProfileName};
use support::*;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;

fn ms(n: u64) -> ConfigDuration {
    ConfigDuration::from_millis(n)
}

fn config(profile: ProfileName, backend: SocketAddr) -> Config {
    let mut c = config_for(&[backend]);
    c.profile = profile;
    c.backend_settings[0].request_timeout = None;
    c
}

async fn open(addr: SocketAddr, path: &str) -> Result<Ws, tungstenite::Error> {
    let stream = TcpStream::connect(addr).await.unwrap();
    tokio_tungstenite::client_async(format!("ws://{addr}{path}"), stream)
        .await
        .map(|(ws, _)| ws)
}

/// Reads until the session ends; the close code the client saw (1006 when
/// the connection ended without a Close frame).
async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("closed within 10 s")
        {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)).unwrap_or(1005),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return 1006,
        }
    }
}

fn close_reasons(gw: &Running) -> Vec<CloseReason> {
    gw.events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::SessionClosed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

/// Waits (briefly, in real time) for the gateway to record a session close.
async fn wait_for_close(gw: &Running) -> Vec<CloseReason> {
    for _ in 0..100 {
        let reasons = close_reasons(gw);
        if !reasons.is_empty() {
            return reasons;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    close_reasons(gw)
}

#[tokio::test]
async fn agw_request_timeout_closes_an_idle_session_with_1006() {
    let backend = backend().await;
    let mut c = config(ProfileName::ApplicationGateway, backend.addr);
    c.backend_settings[0].request_timeout = Some(ms(300));
    let gw = gateway(c).await;
    let mut ws = open(gw.addr, "/chat").await.unwrap();
    assert_eq!(close_code(&mut ws).await, 1006);
    // The close names the setting behind it.
    assert_eq!(
        wait_for_close(&gw).await,
        [CloseReason::IdleTimeout(Timer::key(
            ms(300).get(),
            "backend_settings[0].request_timeout"
        ))]
    );
}

#[tokio::test]
async fn agw2016_request_timeout_does_not_touch_an_idle_session() {
    let backend = backend().await;
    let mut c = config(ProfileName::ApplicationGateway2016, backend.addr);
    c.backend_settings[0].request_timeout = Some(ms(200));
    let gw = gateway(c).await;
    let mut ws = open(gw.addr, "/chat").await.unwrap();
    // Five request timeouts of silence.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    ws.send(Message::text("still open")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("still open"));
    assert!(close_reasons(&gw).is_empty());
}

#[tokio::test]
async fn fd_lifetime_override_closes_a_busy_session_with_1006() {
    let backend = backend().await;
    let mut c = config(ProfileName::FrontDoor, backend.addr);
    c.max_lifetime = Some(ms(1200));
    c.idle_timeout = Some(ms(600));
    let gw = gateway(c).await;
    let mut ws = open(gw.addr, "/chat").await.unwrap();
    // Ping every 200 ms: never idle, so only the lifetime can end it.
    let code = loop {
        ws.send(Message::Ping(vec![1].into())).await.ok();
        match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
            Ok(Some(Ok(Message::Close(f)))) => break f.map(|f| u16::from(f.code)).unwrap_or(1005),
            Ok(Some(Err(_)) | None) => break 1006,
            _ => {}
        }
    };
    assert_eq!(code, 1006);
    assert_eq!(
        wait_for_close(&gw).await,
        [CloseReason::Lifetime(Timer::key(ms(1200).get(), "max_lifetime"))]
    );
}

#[tokio::test]
async fn fd_idle_override_closes_a_silent_session_with_1006() {
    let backend = backend().await;
    let mut c = config(ProfileName::FrontDoor, backend.addr);
    c.idle_timeout = Some(ms(300));
    let gw = gateway(c).await;
    let mut ws = open(gw.addr, "/chat").await.unwrap();
    assert_eq!(close_code(&mut ws).await, 1006);
    assert_eq!(
        wait_for_close(&gw).await,
        [CloseReason::IdleTimeout(Timer::key(ms(300).get(), "idle_timeout"))]
    );
}

#[tokio::test]
async fn fd_caching_breaks_the_upgrade() {
    let backend = backend().await;
    let mut c = config(ProfileName::FrontDoor, backend.addr);
    c.rules[0].caching = true;
    let gw = gateway(c).await;
    match open(gw.addr, "/chat").await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 200),
        other => panic!("expected the backend's plain 200, got {other:?}"),
    }
    let seen = backend.seen.requests();
    assert_eq!(seen[0].header("upgrade"), None);
}

#[tokio::test]
async fn waf_blocks_the_handshake_but_not_frames() {
    let backend = backend().await;
    let mut c = config(ProfileName::ApplicationGateway, backend.addr);
    c.waf_policies = vec![WafPolicyConfig {
        name: "edge".into(),
        rules: vec![WafRuleConfig {
            name: "no-admin".into(),
            target: WafTarget::Path,
            header: None,
            contains: Some("/admin".into()),
            regex: None,
            action: WafAction::Block,
        }],
    }];
    c.rules[0].waf = Some("edge".into());
    let gw = gateway(c).await;
    match open(gw.addr, "/admin").await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
    let mut ws = open(gw.addr, "/chat").await.unwrap();
    ws.send(Message::text("GET /admin HTTP/1.1")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("GET /admin HTTP/1.1"));
    assert_eq!(
        backend.seen.requests().len(),
        1,
        "only the allowed handshake reached the backend"
    );
}

#[tokio::test]
async fn agw_rewrite_is_seen_by_the_backend() {
    let backend = backend().await;
    let mut c = config(ProfileName::ApplicationGateway, backend.addr);
    c.backend_settings[0].host_override = Some("chat.internal".into());
    c.rewrite_sets = vec![RewriteSetConfig {
        name: "rs".into(),
        set_request_headers: [("x-via".to_string(), "wsgate".to_string())].into_iter().collect(),
        remove_request_headers: vec![],
        url_path: Some(UrlPathRewrite {
            pattern: "^/public/(.*)$".into(),
            replacement: "/internal/$1".into(),
        }),
    }];
    c.rules[0].rewrites = Some("rs".into());
    let gw = gateway(c).await;
    let mut ws = open(gw.addr, "/public/chat").await.unwrap();
    ws.send(Message::text("/public/chat stays as sent")).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::text("/public/chat stays as sent")
    );
    let seen = backend.seen.requests();
    assert_eq!(seen[0].uri, "/internal/chat");
    assert_eq!(seen[0].header("host"), Some("chat.internal"));
    assert_eq!(seen[0].header("x-via"), Some("wsgate"));
}

/// Front Door's origin response timeout is 16 s at least (its config
/// range), too long for a real-socket test: its 504 is checked in the
/// simulator (`scenarios/front-door/slow-origin-plain-request-is-504.toml`
/// and `a-slow-101-is-504-after-the-origin-response-timeout.toml`).
#[tokio::test]
async fn plain_request_timeouts_follow_the_profile() {
    for (profile, status) in [
        (ProfileName::ApplicationGateway, 504),
        (ProfileName::ApplicationGateway2016, 502),
    ] {
        let backend = backend().await;
        let options = backend.seen.options();
        options.control.set_delay(Duration::from_secs(5));
        let (slow, serve) = backend::bind(&gateway::TokioTransport, "127.0.0.1:0".parse().unwrap(), options)
            .await
            .unwrap();
        let slow_task = tokio::spawn(serve);
        let mut c = config(profile, slow);
        c.backend_settings[0].request_timeout = Some(ms(200));
        let gw = gateway(c).await;
        let raw = raw_exchange(gw.addr, b"GET /api HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
        assert_eq!(status_of(&raw), status, "{profile}: {raw}");
        slow_task.abort();
    }
}

/// Sends an admin request and returns the status line and body.
async fn admin(addr: SocketAddr, method: &str, target: &str) -> String {
    raw_exchange(
        addr,
        format!("{method} {target} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
}

async fn admin_endpoint(gw: &gateway::GatewayHandle) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(gateway::admin::serve(listener, gw.clone()));
    addr
}

#[tokio::test]
async fn post_maintenance_drops_every_session_with_1006() {
    let backend = backend().await;
    let (gw, handle) = gateway_with_handle(config(ProfileName::FrontDoor, backend.addr)).await;
    let admin_addr = admin_endpoint(&handle).await;
    let mut a = open(gw.addr, "/a").await.unwrap();
    let mut b = open(gw.addr, "/b").await.unwrap();
    // Both sessions are registered once their echo works.
    for ws in [&mut a, &mut b] {
        ws.send(Message::text("hi")).await.unwrap();
        ws.next().await.unwrap().unwrap();
    }
    let sessions = admin(admin_addr, "GET", "/sessions").await;
    assert!(sessions.contains("\"open\":2"), "{sessions}");
    let resp = admin(admin_addr, "POST", "/maintenance").await;
    assert_eq!(status_of(&resp), 200, "{resp}");
    assert!(resp.contains("\"dropped\":2"), "{resp}");
    assert_eq!(close_code(&mut a).await, 1006);
    assert_eq!(close_code(&mut b).await, 1006);
    let reasons = wait_for_close(&gw).await;
    assert!(reasons.iter().all(|r| *r == CloseReason::Maintenance), "{reasons:?}");
    // The gateway keeps serving new sessions afterwards.
    let mut c = open(gw.addr, "/c").await.unwrap();
    c.send(Message::text("after")).await.unwrap();
    assert_eq!(c.next().await.unwrap().unwrap(), Message::text("after"));
}

#[tokio::test]
async fn post_maintenance_with_drain_refuses_new_requests_then_drops() {
    let backend = backend().await;
    let (gw, handle) = gateway_with_handle(config(ProfileName::FrontDoor, backend.addr)).await;
    let admin_addr = admin_endpoint(&handle).await;
    let mut a = open(gw.addr, "/a").await.unwrap();
    a.send(Message::text("hi")).await.unwrap();
    a.next().await.unwrap().unwrap();
    let resp = admin(admin_addr, "POST", "/maintenance?drain=500ms").await;
    assert_eq!(status_of(&resp), 202, "{resp}");
    match open(gw.addr, "/late").await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503),
        other => panic!("expected 503 while draining, got {other:?}"),
    }
    // The open session survives the drain period, then is dropped.
    a.send(Message::text("during drain")).await.unwrap();
    assert_eq!(a.next().await.unwrap().unwrap(), Message::text("during drain"));
    assert_eq!(close_code(&mut a).await, 1006);
    let bad = admin(admin_addr, "POST", "/maintenance?drain=soon").await;
    assert_eq!(status_of(&bad), 400, "{bad}");
}
