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

use std::collections::HashSet;
use std::time::Duration;

use backend::SeenRequest;
use gateway::Event;
use proptest::prelude::*;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A way to break a WebSocket handshake (or, for `H2cToo`, to smuggle a
/// second protocol into a valid one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Defect {
    NoUpgrade,
    NoConnection,
    NoKey,
    BadKey,
    TwoKeys,
    NoVersion,
    Version8,
    Post,
    Http10,
    H2cToo,
}

const DEFECTS: [Defect; 10] = [
    Defect::NoUpgrade,
    Defect::NoConnection,
    Defect::NoKey,
    Defect::BadKey,
    Defect::TwoKeys,
    Defect::NoVersion,
    Defect::Version8,
    Defect::Post,
    Defect::Http10,
    Defect::H2cToo,
];

/// One request (or not quite) a client sends.
#[derive(Debug, Clone)]
enum Item {
    Get { body: Option<usize> },
    Handshake(Vec<Defect>),
    BadVersion(&'static str),
    Connect,
    AbsoluteForm,
    Oversized,
    Garbage(Vec<u8>),
    TwoHosts,
    NoHost,
    ConnectionNames(&'static str),
    Chunked { get: bool, malformed: Option<&'static str> },
    LengthAndChunked,
}

/// What the gateway must do with an item, as far as this test predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Answered by the gateway (or hyper inside it): never forwarded.
    Refused,
    /// A WebSocket upgrade: the connection becomes a tunnel.
    Upgraded,
    /// Forwarded if the connection gets that far.
    Forwarded,
}

impl Item {
    fn fate(&self) -> Fate {
        match self {
            Item::Handshake(d) => handshake_fate(d),
            Item::BadVersion(_)
            | Item::Connect
            | Item::Oversized
            | Item::Garbage(_)
            | Item::TwoHosts
            | Item::NoHost
            | Item::Chunked { malformed: Some(_), .. } => Fate::Refused,
            Item::Get { .. }
            | Item::AbsoluteForm
            | Item::ConnectionNames(_)
            | Item::Chunked { malformed: None, .. }
            | Item::LengthAndChunked => Fate::Forwarded,
        }
    }

    /// The bytes on the wire; `tag` is unique in the case and appears in
    /// the target (or the authority), so the backend's log shows whether
    /// this item reached it.
    fn render(&self, tag: &str) -> Vec<u8> {
        let text = match self {
            Item::Get { body: None } => format!("GET /{tag} HTTP/1.1\r\nHost: h\r\n\r\n"),
            Item::Get { body: Some(n) } => {
                format!("GET /{tag} HTTP/1.1\r\nHost: h\r\nContent-Length: {n}\r\n\r\n{}", "b".repeat(*n))
            }
            Item::Handshake(defects) => handshake(tag, defects),
            Item::BadVersion(v) => format!("GET /{tag} {v}\r\nHost: h\r\n\r\n"),
            Item::Connect => format!("CONNECT {tag}.invalid:443 HTTP/1.1\r\nHost: {tag}.invalid:443\r\n\r\n"),
            Item::AbsoluteForm => format!("GET http://{tag}.example/{tag}/abs HTTP/1.1\r\nHost: spoofed.example\r\n\r\n"),
            Item::Oversized => format!("GET /{tag} HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n", "a".repeat(40_000)),
            Item::Garbage(bytes) => {
                // A leading control byte can never start a request line,
                // and the blank line ends it as a head, so the garbage
                // cannot borrow the next item's request line.
                let mut out = vec![0x01];
                out.extend_from_slice(bytes);
                out.extend_from_slice(b"\r\n\r\n");
                return out;
            }
            Item::TwoHosts => format!("GET /{tag} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Item::NoHost => format!("GET /{tag} HTTP/1.1\r\nAccept: */*\r\n\r\n"),
            Item::ConnectionNames(named) => format!(
                "GET /{tag} HTTP/1.1\r\nHost: h\r\nConnection: {named}\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
            ),
            Item::Chunked { get, malformed } => format!(
                "{} /{tag} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n{}",
                if *get { "GET" } else { "POST" },
                malformed.unwrap_or("0\r\n\r\n")
            ),
            Item::LengthAndChunked => {
                // The length matches the chunked framing, so either reading
                // consumes the same bytes.
                let body = "5\r\nhello\r\n0\r\n\r\n";
                format!(
                    "POST /{tag} HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n{body}",
                    body.len()
                )
            }
        };
        text.into_bytes()
    }
}

/// RFC 6455 §4.1 over what [`handshake`] writes: without `Upgrade` it is
/// plain HTTP; otherwise it upgrades only when nothing else is wrong.
fn handshake_fate(defects: &[Defect]) -> Fate {
    let has = |d| defects.contains(&d);
    if has(Defect::NoUpgrade) {
        return Fate::Forwarded;
    }
    // `TwoKeys` adds a valid key, which is the only one under `NoKey`.
    let keys = usize::from(!has(Defect::NoKey)) + usize::from(has(Defect::TwoKeys));
    let good_key = keys == 1 && (has(Defect::NoKey) || !has(Defect::BadKey));
    let broken = has(Defect::Post)
        || has(Defect::Http10)
        || has(Defect::NoConnection)
        || !good_key
        || has(Defect::NoVersion)
        || has(Defect::Version8);
    if broken {
        Fate::Refused
    } else {
        Fate::Upgraded
    }
}

fn handshake(tag: &str, defects: &[Defect]) -> String {
    let has = |d| defects.contains(&d);
    let mut out = format!(
        "{} /{tag} {}\r\nHost: h\r\n",
        if has(Defect::Post) { "POST" } else { "GET" },
        if has(Defect::Http10) { "HTTP/1.0" } else { "HTTP/1.1" }
    );
    if has(Defect::Post) {
        out.push_str("Content-Length: 0\r\n");
    }
    if has(Defect::H2cToo) {
        out.push_str("Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n");
    }
    if !has(Defect::NoUpgrade) {
        out.push_str("Upgrade: websocket\r\n");
    }
    if !has(Defect::NoConnection) {
        out.push_str(if has(Defect::H2cToo) {
            "Connection: Upgrade, HTTP2-Settings\r\n"
        } else {
            "Connection: Upgrade\r\n"
        });
    }
    if !has(Defect::NoKey) {
        let key = if has(Defect::BadKey) { "short" } else { KEY };
        out.push_str(&format!("Sec-WebSocket-Key: {key}\r\n"));
    }
    if has(Defect::TwoKeys) {
        out.push_str("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n");
    }
    if !has(Defect::NoVersion) {
        let version = if has(Defect::Version8) { "8" } else { "13" };
        out.push_str(&format!("Sec-WebSocket-Version: {version}\r\n"));
    }
    out.push_str("\r\n");
    out
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        3 => proptest::option::of(0usize..64).prop_map(|body| Item::Get { body }),
        4 => proptest::sample::subsequence(DEFECTS.to_vec(), 0..=2).prop_map(Item::Handshake),
        1 => proptest::sample::select(vec!["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTX/1.1", "http/1.1"])
            .prop_map(Item::BadVersion),
        1 => Just(Item::Connect),
        1 => Just(Item::AbsoluteForm),
        1 => Just(Item::Oversized),
        1 => proptest::collection::vec(any::<u8>(), 0..48).prop_map(Item::Garbage),
        1 => Just(Item::TwoHosts),
        1 => Just(Item::NoHost),
        1 => proptest::sample::select(vec![
            "X-Secret, Keep-Alive",
            "close, Host, X-Secret, Keep-Alive",
            "keep-alive, X-Secret, Content-Length, HTTP2-Settings",
            "Upgrade, X-Secret, Keep-Alive, Sec-WebSocket-Key",
        ])
        .prop_map(Item::ConnectionNames),
        2 => (
            any::<bool>(),
            proptest::option::of(proptest::sample::select(vec![
                "ZZ\r\n\r\n",
                "5\r\nhelloXX\r\n0\r\n\r\n",
                "fffffffffffffffffffff\r\n\r\n",
            ]))
        )
            .prop_map(|(get, malformed)| Item::Chunked { get, malformed }),
        1 => Just(Item::LengthAndChunked),
    ]
}

/// Several connections, each a pipelined run of items.
fn connections() -> impl Strategy<Value = Vec<Vec<Item>>> {
    proptest::collection::vec(proptest::collection::vec(item(), 1..6), 1..4)
}

/// One connection's bytes: items up to and including the first upgrade
/// (after which the connection is a tunnel), else the items and a final
/// well-formed request that closes the connection.
struct Wire {
    bytes: Vec<u8>,
    upgrades: bool,
    /// Tags of items that must never reach the backend.
    refused: Vec<String>,
}

fn wire(nonce: &str, conn: usize, items: &[Item]) -> Wire {
    let mut w = Wire {
        bytes: Vec::new(),
        upgrades: false,
        refused: Vec::new(),
    };
    for (i, item) in items.iter().enumerate() {
        let tag = format!("{nonce}-{conn}-{i}");
        w.bytes.extend(item.render(&tag));
        match item.fate() {
            Fate::Refused => w.refused.push(tag),
            Fate::Upgraded => {
                w.upgrades = true;
                return w;
            }
            Fate::Forwarded => {}
        }
    }
    w.bytes.extend_from_slice(
        format!("GET /{nonce}-{conn}-last HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    w
}

/// Sends `w` while reading the answers, until the gateway closes the
/// connection or, for one that upgrades, the 101 arrives. Write errors
/// are expected: the gateway closes on bad input without reading the rest.
async fn exchange(addr: std::net::SocketAddr, w: Wire) -> String {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rx, mut tx) = stream.into_split();
    let bytes = w.bytes;
    let writer = tokio::spawn(async move {
        let _ = tx.write_all(&bytes).await;
        // Keep the write half open: an early EOF would let hyper drop a
        // request still in flight.
        tx
    });
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
            if w.upgrades && String::from_utf8_lossy(&out).contains("HTTP/1.1 101 ") {
                break;
            }
        }
    };
    let done = tokio::time::timeout(Duration::from_secs(8), read).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(done.is_ok(), "the connection hung; got so far: {text:?}");
    writer.abort();
    text
}

fn tagged(seen: &[SeenRequest], tag: &str) -> bool {
    seen.iter()
        .any(|r| r.uri.contains(tag) || r.header("host").is_some_and(|h| h.contains(tag)))
}

/// A prefix for every path a case sends, unique in this run and across
/// test processes: a foreign client that lands on a reused port (other
/// tests run beside this one) must not count as traffic of this case.
fn nonce() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("n{}x{n}", std::process::id())
}

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    raw_exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
}

async fn check(conns: Vec<Vec<Item>>) {
    let backend = backend().await;
    let gw = gateway(config_for(&[backend.addr])).await;
    let nonce = nonce();
    // Application Gateway routes only after a first probe passed.
    for _ in 0..100 {
        let raw = get(gw.addr, &format!("/{nonce}-ready")).await;
        if !raw.is_empty() && status_of(&raw) != 502 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let wires: Vec<Wire> = conns
        .iter()
        .enumerate()
        .map(|(c, items)| wire(&nonce, c, items))
        .collect();
    let refused: Vec<String> = wires.iter().flat_map(|w| w.refused.clone()).collect();
    let tasks: Vec<_> = wires.into_iter().map(|w| tokio::spawn(exchange(gw.addr, w))).collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }

    // (b) The gateway still serves.
    let raw = get(gw.addr, &format!("/{nonce}-after")).await;
    assert_eq!(status_of(&raw), 200, "{raw}");

    // (a) Routed requests and only those reached the backend. A routed
    // request is logged by the backend once it has read it whole, so give
    // the last ones a moment.
    let routed_paths = |events: &[Event]| -> Vec<String> {
        let mut p: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                Event::RequestRouted { path, .. } if path.contains(&nonce) => Some(path.clone()),
                _ => None,
            })
            .collect();
        p.sort();
        p
    };
    let ours = || -> Vec<SeenRequest> {
        let mut seen = backend.seen.requests();
        seen.retain(|r| r.uri.contains(&nonce));
        seen
    };
    let mut seen = ours();
    for _ in 0..100 {
        if seen.len() >= routed_paths(&gw.events.lock().unwrap()).len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        seen = ours();
    }
    let events = gw.events.lock().unwrap().clone();
    let context = format!("connections: {conns:#?}\nanswers: {answers:#?}\nevents: {events:#?}\nseen: {seen:#?}");

    let rejected: HashSet<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::RequestRejected { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    for e in &events {
        if let Event::RequestRouted { id, .. } = e {
            assert!(!rejected.contains(id), "#{id} was both routed and rejected\n{context}");
        }
    }
    let mut seen_paths: Vec<String> = seen.iter().map(|r| r.uri.clone()).collect();
    seen_paths.sort();
    assert_eq!(
        seen_paths,
        routed_paths(&events),
        "the backend saw other requests than were routed\n{context}"
    );
    // Every request, not only ours by path: a CONNECT's tag is in its
    // authority.
    let all = backend.seen.requests();
    for tag in &refused {
        assert!(!tagged(&all, tag), "{tag} should have been refused\n{context}");
    }

    // Nothing connection-specific crosses the gateway.
    for r in &seen {
        for name in [
            "x-secret",
            "keep-alive",
            "http2-settings",
            "te",
            "trailer",
            "proxy-connection",
        ] {
            assert!(r.header(name).is_none(), "{name} reached the backend: {r:?}\n{context}");
        }
        assert!(r.header("host").is_some(), "no Host: {r:?}\n{context}");
        let upgrades: Vec<&str> = r
            .headers
            .iter()
            .filter(|(n, _)| n == "upgrade")
            .map(|(_, v)| v.as_str())
            .collect();
        assert!(
            upgrades.is_empty() || upgrades == ["websocket"],
            "{upgrades:?}\n{context}"
        );
    }
}

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

/// The `headers` fuzz target's second finding, on the wire: `*` is a
/// target for OPTIONS only.
#[tokio::test]
async fn an_asterisk_target_reaches_the_backend_only_with_options() {
    let backend = backend().await;
    let gw = gateway(config_for(&[backend.addr])).await;
    let raw = raw_exchange(gw.addr, b"GET * HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&raw), 400, "{raw}");
    let raw = raw_exchange(gw.addr, b"OPTIONS * HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&raw), 200, "{raw}");
    let seen: Vec<(String, String)> = backend.seen.requests().into_iter().map(|r| (r.method, r.uri)).collect();
    assert_eq!(seen, [("OPTIONS".to_string(), "*".to_string())]);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // Each case starts a gateway and a backend: shrinking stays short.
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    #[test]
    fn refused_requests_never_reach_the_backend(conns in connections()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(check(conns));
    }
}
