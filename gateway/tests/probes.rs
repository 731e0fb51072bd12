//! Health probes on a real network: two real backends, short intervals. One
//! flips its health to 500, sessions stop reaching it, then it recovers;
//! with every backend unhealthy the gateway answers 502. The waits poll the
//! gateway's own events; nothing here asserts a duration.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use gateway::config::{Duration as ConfigDuration, ProbeConfig};
use gateway::{Config, Event, ProfileName, TokioTransport};
use support::*;

/// A backend whose health can be flipped.
struct Flippable {
    addr: SocketAddr,
    seen: Seen,
    control: backend::Control,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Flippable {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn flippable() -> Flippable {
    let seen = Seen::default();
    let options: backend::Options = seen.options();
    let control = options.control.clone();
    let (addr, serve) = backend::bind(&TokioTransport, "127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap();
    Flippable {
        addr,
        seen,
        control,
        task: tokio::spawn(serve),
    }
}

fn fast_probes(backends: &[SocketAddr]) -> Config {
    let mut c = config_for(backends);
    c.probes = vec![ProbeConfig {
        path: "/health".into(),
        interval: Some(ConfigDuration::from_millis(50)),
        timeout: Some(ConfigDuration::from_millis(500)),
        unhealthy_threshold: Some(2),
        ..ProbeConfig::named("fast")
    }];
    c.backend_settings[0].probe = Some("fast".into());
    c
}

/// Waits (polling, up to 10 s) for the gateway to report `addr`'s health as
/// `healthy`.
async fn until_health(gw: &Running, addr: SocketAddr, healthy: bool) {
    for _ in 0..500 {
        let flipped = gw.events.lock().unwrap().iter().rev().find_map(|e| match e {
            Event::BackendHealthChanged {
                backend, healthy: h, ..
            } if backend.to_string() == addr.to_string() => Some(*h),
            _ => None,
        });
        if flipped == Some(healthy) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{addr} never became healthy={healthy}");
}

async fn handshake_status(gw: SocketAddr) -> u16 {
    let stream = tokio::net::TcpStream::connect(gw).await.unwrap();
    match tokio_tungstenite::client_async(format!("ws://{gw}/chat"), stream).await {
        Ok((mut ws, resp)) => {
            ws.close(None).await.ok();
            resp.status().as_u16()
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{e}"),
    }
}

fn sessions_on(b: &Flippable) -> usize {
    b.seen
        .requests()
        .iter()
        .filter(|r| r.header("upgrade") == Some("websocket"))
        .count()
}

#[tokio::test]
async fn a_backend_failing_health_stops_getting_sessions_then_returns() {
    let (a, b) = (flippable().await, flippable().await);
    let gw = gateway(fast_probes(&[a.addr, b.addr])).await;

    for _ in 0..4 {
        assert_eq!(handshake_status(gw.addr).await, 101);
    }
    assert_eq!(
        (sessions_on(&a), sessions_on(&b)),
        (2, 2),
        "round robin while both are healthy"
    );

    b.control.set_health_status(500);
    until_health(&gw, b.addr, false).await;
    for _ in 0..4 {
        assert_eq!(handshake_status(gw.addr).await, 101);
    }
    assert_eq!(
        (sessions_on(&a), sessions_on(&b)),
        (6, 2),
        "no new session reached the unhealthy backend"
    );

    b.control.set_health_status(200);
    until_health(&gw, b.addr, true).await;
    for _ in 0..4 {
        assert_eq!(handshake_status(gw.addr).await, 101);
    }
    assert_eq!(sessions_on(&b), 4, "it is back in the pool");
}

#[tokio::test]
async fn every_backend_unhealthy_is_502_for_handshakes_and_plain_requests() {
    let (a, b) = (flippable().await, flippable().await);
    let gw = gateway(fast_probes(&[a.addr, b.addr])).await;
    a.control.set_health_status(500);
    b.control.set_health_status(500);
    until_health(&gw, a.addr, false).await;
    until_health(&gw, b.addr, false).await;
    assert_eq!(handshake_status(gw.addr).await, 502);
    let raw = raw_exchange(gw.addr, b"GET /api HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&raw), 502, "{raw}");
}

#[tokio::test]
async fn front_door_sends_traffic_to_all_when_all_are_unhealthy() {
    let (a, b) = (flippable().await, flippable().await);
    let mut c = fast_probes(&[a.addr, b.addr]);
    c.profile = ProfileName::FrontDoor;
    c.probes[0].unhealthy_threshold = None;
    c.probes[0].sample_size = Some(2);
    c.probes[0].successful_samples_required = Some(1);
    c.probes[0].method = Some(gateway::config::ProbeMethod::Get);
    let gw = gateway(c).await;
    a.control.set_health_status(500);
    b.control.set_health_status(500);
    until_health(&gw, a.addr, false).await;
    until_health(&gw, b.addr, false).await;
    for _ in 0..4 {
        assert_eq!(handshake_status(gw.addr).await, 101);
    }
    assert_eq!((sessions_on(&a), sessions_on(&b)), (2, 2));
}

#[tokio::test]
async fn admin_backends_shows_health_probes_and_sessions() {
    let (a, b) = (flippable().await, flippable().await);
    let (gw, handle) = gateway_with_handle(fast_probes(&[a.addr, b.addr])).await;
    b.control.set_health_status(503);
    until_health(&gw, b.addr, false).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = listener.local_addr().unwrap();
    tokio::spawn(gateway::admin::serve(listener, handle));
    let raw = raw_exchange(admin, b"GET /backends HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&raw), 200, "{raw}");
    let body = &raw[raw.find("\r\n\r\n").unwrap() + 4..];
    let json: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    let rows = json["backends"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["address"], a.addr.to_string());
    assert_eq!(rows[0]["healthy"], true);
    assert_eq!(rows[0]["last_probe"], "status 200");
    assert_eq!(rows[1]["healthy"], false);
    assert_eq!(rows[1]["last_probe"], "status 503");
    assert!(rows[1]["consecutive_failures"].as_u64().unwrap() >= 2);
    assert!(rows[1]["last_probe_secs_ago"].as_f64().unwrap() >= 0.0);
    assert_eq!(rows[0]["open_sessions"], 0);
}
