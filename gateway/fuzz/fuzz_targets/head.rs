//! The first request head: arbitrary bytes through `head::read_head` (split
//! into reads of a size the input picks), then, for a complete head, the
//! handshake classifier on what httparse makes of it, and `head::handshake`
//! (the gateway's own parse of a handshake it serves without hyper) checked
//! against that parse.
//!
//! Input: byte 0 picks the read size, byte 1 the head limit, the rest is
//! what the client sends.

#![no_main]
#![allow(clippy::unwrap_used)]

use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use gateway::handshake::{self, Verdict};
use gateway::head::{self, Head};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Version};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, ReadBuf};

/// Hands out `data` at most `step` bytes per read, then end-of-stream.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = self.step.min(self.data.len()).min(buf.remaining());
        let (now, rest) = self.data.split_at(n);
        buf.put_slice(now);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    })
}

fuzz_target!(|input: &[u8]| {
    let [step, limit, data @ ..] = input else {
        return;
    };
    let step = usize::from(*step).max(1);
    // 16 B to about 8 KiB, so both sides of the limit are reachable.
    let limit = 16 + usize::from(*limit) * 32;
    let mut reader = Trickle { data, step };
    let got = runtime().block_on(head::read_head(&mut reader, limit, Duration::from_secs(10)));
    let end = head::head_end(data);
    match got {
        Head::Complete(bytes) => {
            let end = end.expect("a complete head has an end");
            assert!(end <= limit, "a head past the limit was accepted");
            assert!(bytes.len() >= end && data.starts_with(&bytes), "bytes lost or invented");
            classify(&bytes[..end]);
            served_without_hyper(&bytes, end);
        }
        Head::TooLarge => assert!(end.is_none_or(|e| e > limit), "a head within the limit was refused"),
        Head::Closed => assert!(end.is_none() && data.len() <= limit),
        Head::TimedOut => panic!("an in-memory reader never stalls"),
    }
});

/// Parses `head` as hyper would and checks the classifier's verdict.
fn classify(head: &[u8]) {
    let Some((method, version, headers)) = parse(head) else {
        return;
    };
    for websocket in [true, false] {
        let verdict = handshake::classify(&method, version, &headers, websocket);
        if verdict == Verdict::Upgrade {
            assert!(websocket, "an upgrade on a route without WebSocket");
            assert_upgrade(&method, version, &headers);
        }
    }
}

/// A head the gateway serves itself must be the one hyper would parse, a
/// bodiless HTTP/1.1 `GET` that asks for websocket, and end where
/// `head_end` says.
fn served_without_hyper(bytes: &[u8], end: usize) {
    let Some((parts, len)) = head::handshake(bytes) else {
        return;
    };
    assert_eq!(len, end, "httparse and head_end disagree on where the head ends");
    let (method, version, headers) = parse(&bytes[..end]).expect("hyper would refuse a head served without it");
    assert_eq!((&parts.method, parts.version), (&method, version));
    assert_eq!((method, version), (Method::GET, Version::HTTP_11));
    assert_eq!(parts.headers, headers);
    assert!(handshake::has_token(&headers, header::UPGRADE, "websocket"));
    assert!(handshake::has_token(&headers, header::CONNECTION, "upgrade"));
    assert!(!headers.contains_key(header::CONTENT_LENGTH) && !headers.contains_key(header::TRANSFER_ENCODING));
}

/// What hyper's server makes of a head: `None` where it refuses it.
fn parse(head: &[u8]) -> Option<(Method, Version, HeaderMap)> {
    let mut slots = [httparse::EMPTY_HEADER; 100];
    let mut req = httparse::Request::new(&mut slots);
    let Ok(httparse::Status::Complete(_)) = req.parse(head) else {
        return None;
    };
    let (Some(method), Some(version)) = (req.method, req.version) else {
        return None;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return None;
    };
    let version = if version == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    let mut headers = HeaderMap::new();
    for h in req.headers.iter() {
        // hyper refuses a head with a name or value `http` cannot hold.
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            return None;
        };
        headers.append(name, value);
    }
    Some((method, version, headers))
}

/// What RFC 6455 §4.1 asks of a handshake the gateway lets through.
fn assert_upgrade(method: &Method, version: Version, headers: &HeaderMap) {
    assert_eq!(method, Method::GET);
    assert_eq!(version, Version::HTTP_11);
    assert_eq!(headers.get_all(header::HOST).iter().count(), 1, "one Host");
    assert!(handshake::has_token(headers, header::UPGRADE, "websocket"));
    assert!(handshake::has_token(headers, header::CONNECTION, "upgrade"));
    let keys: Vec<_> = headers.get_all(header::SEC_WEBSOCKET_KEY).iter().collect();
    assert!(
        matches!(keys.as_slice(), [k] if handshake::is_valid_key(k.as_bytes())),
        "{keys:?}"
    );
    let versions: Vec<_> = headers.get_all(header::SEC_WEBSOCKET_VERSION).iter().collect();
    assert!(
        matches!(versions.as_slice(), [v] if v.as_bytes() == b"13"),
        "{versions:?}"
    );
}
