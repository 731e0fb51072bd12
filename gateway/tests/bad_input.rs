//! The bad-input matrix on real sockets: each case gets its exact status,
//! and the ones the gateway answers itself never reach a backend.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use proptest::prelude::*;
use support::*;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

async fn answer(request: String) -> (u16, String, usize) {
    let backend = backend().await;
    let gw = gateway(config_for(&[backend.addr])).await;
    let raw = raw_exchange(gw.addr, request.as_bytes()).await;
    (status_of(&raw), raw, backend.seen.reached())
}

#[tokio::test]
async fn malformed_request_line_is_400() {
    let (status, raw, reached) = answer("GARBAGE\r\n\r\n".into()).await;
    assert_eq!(status, 400, "{raw}");
    assert_eq!(reached, 0);
}

#[tokio::test]
async fn malformed_header_is_400() {
    let (status, raw, _) = answer("GET / HTTP/1.1\r\nHost: h\r\nbad header line\r\n\r\n".into()).await;
    assert_eq!(status, 400, "{raw}");
}

#[tokio::test]
async fn upgrade_without_key_is_400_and_never_reaches_a_backend() {
    let req = "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\n\r\n";
    let (status, raw, reached) = answer(req.into()).await;
    assert_eq!(status, 400, "{raw}");
    assert_eq!(reached, 0, "answered by the gateway");
}

#[tokio::test]
async fn wrong_websocket_version_is_426_naming_13() {
    let req = format!(
        "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 8\r\nConnection: close\r\n\r\n"
    );
    let (status, raw, reached) = answer(req).await;
    assert_eq!(status, 426, "{raw}");
    assert!(raw.to_ascii_lowercase().contains("sec-websocket-version: 13"), "{raw}");
    assert_eq!(reached, 0, "answered by the gateway");
}

#[tokio::test]
async fn oversized_headers_are_431() {
    let req = format!("GET / HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n", "a".repeat(64 * 1024));
    let (status, raw, reached) = answer(req).await;
    assert_eq!(status, 431, "{raw}");
    assert_eq!(reached, 0);
}

#[tokio::test]
async fn oversized_headers_on_a_keep_alive_request_are_431() {
    // The second request on a connection is parsed by hyper, under the same
    // limit.
    let req = format!(
        "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let (_, raw, _) = answer(req).await;
    let statuses: Vec<u16> = raw
        .match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| raw[i + 9..i + 12].parse().ok())
        .collect();
    assert_eq!(statuses, [200, 431], "{raw}");
}

#[tokio::test]
async fn missing_host_is_400() {
    let (status, raw, reached) = answer("GET / HTTP/1.1\r\nConnection: close\r\n\r\n".into()).await;
    assert_eq!(status, 400, "{raw}");
    assert_eq!(reached, 0);
}

#[tokio::test]
async fn slow_headers_get_408() {
    // A short timeout keeps the test quick; the exact timing is checked in
    // the simulator with virtual time (sim/tests/trace.rs).
    let backend = backend().await;
    let mut config = config_for(&[backend.addr]);
    config.header_read_timeout = gateway::config::Duration::from_millis(200);
    let gw = gateway(config).await;
    let raw = raw_exchange(gw.addr, b"GET / HTTP/1.1\r\nHost: h\r\n").await;
    assert_eq!(status_of(&raw), 408, "{raw}");
    assert_eq!(backend.seen.reached(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever bytes a client sends, the gateway stays up and still serves
    /// a well-formed request afterwards.
    #[test]
    fn no_input_brings_the_gateway_down(junk in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let backend = backend().await;
            let mut config = config_for(&[backend.addr]);
            config.header_read_timeout = gateway::config::Duration::from_millis(100);
            let gw = gateway(config).await;
            let _ = raw_exchange(gw.addr, &junk).await;
            let raw = raw_exchange(gw.addr, b"GET /still-up HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
            assert_eq!(status_of(&raw), 200, "{raw}");
        });
    }
}
