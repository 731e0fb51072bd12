//! Cookie affinity and Front Door's retry on real sockets: the cookie a
//! response carries, the backend a request carrying it reaches, and what
//! happens when that backend leaves the pool.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use gateway::affinity::AffinityAction;
use gateway::config::{Duration as ConfigDuration, ProbeConfig};
use gateway::{Event, ProfileName};
use http::{header, Request};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use support::*;

/// Sends `GET path` with `cookie` (if any) over a new connection; returns
/// the status and every `Set-Cookie` value.
async fn get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> (u16, Vec<String>) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::get(path).header("host", "app.example");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let resp = sender
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let cookies = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    resp.into_body().collect().await.unwrap();
    (status, cookies)
}

/// `name=value` of a `Set-Cookie` value.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

fn affinity_config(profile: ProfileName, backends: &[SocketAddr]) -> gateway::Config {
    let mut c = config_for(backends);
    c.profile = profile;
    c.backend_settings[0].cookie_affinity = true;
    c
}

/// AGW-AFFINITY-1 on a real network.
#[tokio::test]
async fn the_first_answer_sets_a_cookie_that_holds_the_client_to_its_backend() {
    let (b1, b2) = (backend().await, backend().await);
    let gw = gateway(affinity_config(ProfileName::ApplicationGateway, &[b1.addr, b2.addr])).await;

    let (status, set) = get(gw.addr, "/api", None).await;
    assert_eq!(status, 200);
    assert_eq!(set.len(), 1, "no CORS cookie on an http listener: {set:?}");
    assert!(set[0].starts_with("ApplicationGatewayAffinity="), "{set:?}");
    assert!(set[0].ends_with("; Path=/"), "{set:?}");
    for addr in [b1.addr, b2.addr] {
        assert!(
            !set[0].contains(&addr.to_string()),
            "the member's address is never in clear"
        );
        assert!(!set[0].contains(&addr.port().to_string()));
    }
    assert_eq!((b1.seen.reached(), b2.seen.reached()), (1, 0));

    let cookie = pair(&set[0]);
    for _ in 0..4 {
        let (status, set) = get(gw.addr, "/api", Some(&format!("theme=dark; {cookie}"))).await;
        assert_eq!(status, 200);
        assert!(set.is_empty(), "a valid cookie is not set again: {set:?}");
    }
    assert_eq!(
        (b1.seen.reached(), b2.seen.reached()),
        (5, 0),
        "every request with the cookie"
    );

    // Without a cookie the round robin goes on where it was.
    let (_, set) = get(gw.addr, "/api", None).await;
    assert_eq!(b2.seen.reached(), 1);
    assert_ne!(pair(&set[0]), cookie, "each member has its own cookie");
}

/// AGW-AFFINITY-UNHEALTHY-1 on a real network.
#[tokio::test]
async fn a_cookie_for_a_backend_out_of_the_pool_is_balanced_and_replaced() {
    let b2 = backend().await;
    // A backend whose health the test turns, first in the pool.
    let (seen0, control) = (Seen::default(), backend::Control::default());
    let options = backend::Options {
        control: control.clone(),
        ..seen0.options()
    };
    let (b0_addr, serve) = backend::bind(&gateway::TokioTransport, "127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap();
    let b0 = tokio::spawn(serve);
    let mut config = affinity_config(ProfileName::ApplicationGateway, &[b0_addr, b2.addr]);
    config.probes.push(ProbeConfig {
        interval: Some(ConfigDuration::from_millis(50)),
        unhealthy_threshold: Some(1),
        ..ProbeConfig::named("fast")
    });
    config.backend_settings[0].probe = Some("fast".into());
    let gw = gateway(config).await;

    let (_, set) = get(gw.addr, "/api", None).await;
    let cookie = pair(&set[0]);
    assert_eq!(seen0.reached(), 1);

    control.set_health_status(500);
    let left = async {
        loop {
            let out = gw.events.lock().unwrap().iter().any(|e| {
                matches!(e, Event::BackendHealthChanged { backend, healthy: false, .. } if backend.port == b0_addr.port())
            });
            if out {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), left).await.unwrap();

    let (status, set) = get(gw.addr, "/api", Some(&cookie)).await;
    assert_eq!(status, 200);
    assert_eq!(b2.seen.reached(), 1, "balanced onto the healthy backend");
    assert_eq!(set.len(), 1, "with a new cookie: {set:?}");
    assert_ne!(pair(&set[0]), cookie);
    let events = gw.events.lock().unwrap().clone();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Affinity { action: AffinityAction::Unroutable { named }, .. } if named.port == b0_addr.port()
    )));
    b0.abort();
}

/// FD-RETRY-1 on a real network: the first origin refuses connections.
#[tokio::test]
async fn front_door_sends_a_refused_request_to_another_origin() {
    let (gw, live, refused) = front_door_behind_a_refusing_origin().await;
    for _ in 0..4 {
        let (status, _) = get(gw.addr, "/api", None).await;
        assert_eq!(status, 200);
    }
    assert_eq!(live.seen.reached(), 4);
    let events = gw.events.lock().unwrap().clone();
    let refusals = events
        .iter()
        .filter(|e| {
            matches!(e, Event::BackendError { backend, error, .. }
            if backend.port == refused.port() && error.kind() == gateway::upstream::Kind::Connect)
        })
        .count();
    assert!(refusals >= 1, "the refused origin was tried: {events:?}");
}
