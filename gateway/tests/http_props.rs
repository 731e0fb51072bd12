//! HTTP-level properties on real sockets: random sequences of valid and
//! invalid request heads, pipelined on one or several connections through
//! a gateway in front of an echo backend. Whatever the sequence:
//!
//! - a request the gateway answered itself never reached the backend: no
//!   `RequestRejected` id also has a `RequestRouted`, the backend saw
//!   exactly the routed requests (by path), and no request that must be
//!   refused (tagged) shows up there;
//! - nothing connection-specific reaches the backend;
//! - the gateway still serves a well-formed request afterwards.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use gateway::Event;
use support::*;

/// The first case the property found: a malformed chunked body was
/// answered 400 before anything was sent, but only after the request had
/// been reported routed to a backend.
#[tokio::test]
async fn a_request_refused_for_its_body_is_never_routed() {
    let backend = backend().await;
    let gw = gateway(config_for(&[backend.addr])).await;
    let raw = raw_exchange(
        gw.addr,
        b"POST /z0-0z HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&raw), 400, "{raw}");
    let events = gw.events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::RequestRejected { status: 400, .. })),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, Event::RequestRouted { .. })),
        "{events:?}"
    );
}

/// The second case the property found (`[Connect, Oversized]`, minimised
/// here to any request first): `max_header_bytes` held only for a
/// connection's first head, and a later 40 KB head reached the backend.
/// Now every head is held to the limit, byte-exact.
#[tokio::test]
async fn a_later_head_is_held_to_the_same_limit() {
    let backend = backend().await;
    let mut config = config_for(&[backend.addr]);
    config.max_header_bytes = 8192;
    let gw = gateway(config).await;
    // A head of exactly `len` bytes.
    let head = |len: usize| {
        let start = "GET /second HTTP/1.1\r\nHost: h\r\nX-Pad: ";
        format!("{start}{}\r\n\r\n", "a".repeat(len - start.len() - 4))
    };
    let first = "GET /first HTTP/1.1\r\nHost: h\r\n\r\n";
    let at_limit = format!(
        "{first}{}GET /last HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        head(8192)
    );
    let raw = raw_exchange(gw.addr, at_limit.as_bytes()).await;
    assert_eq!(raw.matches("HTTP/1.1 200 ").count(), 3, "{raw}");

    let over = format!("{first}{}", head(8193));
    let raw = raw_exchange(gw.addr, over.as_bytes()).await;
    assert!(raw.contains("HTTP/1.1 431 "), "{raw}");
    let reached: Vec<String> = backend.seen.requests().into_iter().map(|r| r.uri).collect();
    assert_eq!(reached.iter().filter(|u| *u == "/second").count(), 1, "{reached:?}");
}
