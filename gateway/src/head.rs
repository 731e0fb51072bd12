//! Reading the first request head of a connection under a deadline.
//!
//! hyper closes a connection silently when its header read timeout fires,
//! but a client that sends its head too slowly should get `408 Request
//! Timeout`, and one whose head is too large `431`. So the gateway reads the
//! first head itself, answers those two cases, and hands the bytes it read
//! to hyper. Later heads on a keep-alive connection are hyper's, under the
//! same limits (an idle keep-alive connection is closed without a response,
//! as nginx and HAProxy do).
//!
//! When that first head is a WebSocket handshake, the gateway serves it
//! without hyper's server at all ([`handshake`] parses it once, and
//! [`encode_switch`] writes the 101): a tunnel's connection needs no
//! dispatcher, no second parse and no upgrade channel (issue #15).

use std::time::Duration;

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Version};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::handshake::has_token;

/// As many request headers as hyper's server accepts by default, so a head
/// served here is one hyper would have served.
const MAX_HEADERS: usize = 100;

/// What reading the first head produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Head {
    /// A complete head arrived; the bytes read so far (head and anything
    /// after it) are returned to be replayed.
    Complete(Vec<u8>),
    /// The head exceeded the limit: answer 431.
    TooLarge,
    /// The deadline passed first: answer 408.
    TimedOut,
    /// The peer closed or reset before sending a whole head: nothing to
    /// answer.
    Closed,
}

/// The byte offset just past the end of a request head (`\r\n\r\n`, or a
/// bare `\n\n`, which HTTP parsers tolerate), if `buf` holds one.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(2).enumerate().find_map(|(i, w)| match w {
        b"\n\n" => Some(i + 2),
        b"\n\r" if buf.get(i + 2) == Some(&b'\n') => Some(i + 3),
        _ => None,
    })
}

/// Reads until a complete head, at most `limit` bytes, within `timeout`.
pub async fn read_head<S: AsyncRead + Unpin>(stream: &mut S, limit: usize, timeout: Duration) -> Head {
    let mut buf = Vec::with_capacity(1024);
    let read = async {
        let mut chunk = [0u8; 2048];
        loop {
            let n = match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Head::Closed,
                Ok(n) => n,
            };
            // Only the new bytes (and three before them) can complete a head.
            let scan_from = buf.len().saturating_sub(3);
            buf.extend_from_slice(&chunk[..n]);
            match head_end(&buf[scan_from..]) {
                Some(end) if scan_from + end <= limit => return Head::Complete(std::mem::take(&mut buf)),
                Some(_) => return Head::TooLarge,
                None if buf.len() > limit => return Head::TooLarge,
                None => {}
            }
        }
    };
    tokio::time::timeout(timeout, read).await.unwrap_or(Head::TimedOut)
}

/// The head at the start of `buf` as request parts, and its length, when it
/// is a WebSocket handshake the gateway can serve without hyper: `GET`,
/// HTTP/1.1, `Upgrade: websocket` and `Connection: upgrade`, and no body
/// (neither `Content-Length` nor `Transfer-Encoding`). `None` for anything
/// else, which hyper serves: hyper answers what is malformed, and reads
/// bodies.
///
/// Parsed as hyper's server parses it (httparse with its default options,
/// at most [`MAX_HEADERS`] headers, names lower-cased, values kept in
/// order), so a head is never served here that hyper would have refused,
/// and the request that reaches the handler is the one hyper would build.
pub fn handshake(buf: &[u8]) -> Option<(http::request::Parts, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        _ => return None,
    };
    if req.method != Some("GET") || req.version != Some(1) {
        return None;
    }
    let uri: http::Uri = req.path?.parse().ok()?;
    let mut map = http::HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(h.value).ok()?;
        map.append(name, value);
    }
    let upgrade = has_token(&map, header::UPGRADE, "websocket") && has_token(&map, header::CONNECTION, "upgrade");
    if !upgrade || map.contains_key(header::CONTENT_LENGTH) || map.contains_key(header::TRANSFER_ENCODING) {
        return None;
    }
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = Method::GET;
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    parts.headers = map;
    Some((parts, len))
}

/// A `101` head as hyper's server writes it: the canonical reason phrase,
/// and the headers in order with their names in lower case.
pub fn encode_switch(head: &http::response::Parts) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(head.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    crate::headers::encode(&head.headers, &mut out);
    out.extend_from_slice(b"\r\n");
    out
}

/// A minimal response the gateway writes itself before hyper is involved.
pub fn bare_response(status: u16, reason: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status} {reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_the_end_of_a_head() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.1\nHost: a\n\n"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
        // A CR after a line end that is not followed by LF ends nothing.
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\rX: b"), None);
    }

    const KEYED: &str = "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

    #[test]
    fn a_handshake_head_is_parsed_as_hyper_would_build_it() {
        let raw = format!(
            "GET /chat?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nX-Two: 1\r\nx-two: 2\r\n{KEYED}\r\n\x01\x00"
        );
        let (parts, len) = handshake(raw.as_bytes()).unwrap();
        assert_eq!(len, raw.len() - 2, "the frame after the head is not part of it");
        assert_eq!(parts.method, Method::GET);
        assert_eq!(parts.version, Version::HTTP_11);
        assert_eq!(parts.uri, "/chat?x=1");
        assert_eq!(parts.headers.get("host").unwrap(), "a");
        let twos: Vec<_> = parts.headers.get_all("x-two").iter().collect();
        assert_eq!(twos, ["1", "2"]);
        let names: Vec<_> = parts.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "host",
                "upgrade",
                "connection",
                "x-two",
                "sec-websocket-version",
                "sec-websocket-key"
            ]
        );
    }

    #[test]
    fn only_a_bodiless_http11_websocket_get_is_served_without_hyper() {
        let ok = format!("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{KEYED}\r\n");
        assert!(handshake(ok.as_bytes()).is_some());
        for other in [
            // Not a handshake, or not one hyper would leave to us.
            ok.replace("GET", "POST"),
            ok.replace("HTTP/1.1", "HTTP/1.0"),
            ok.replace("Upgrade: websocket", "Upgrade: h2c"),
            ok.replace("Connection: Upgrade", "Connection: keep-alive"),
            ok.replace("Host: a", "Host: a\r\nContent-Length: 0"),
            ok.replace("Host: a", "Host: a\r\nTransfer-Encoding: chunked"),
            // Malformed: hyper answers these.
            ok.replace("GET / ", "GET /a b "),
            ok.replace("Host: a", "Host: a\x01b"),
            ok.replace("Host: a", "Ho st: a"),
            ok.replace("Host: a", &"X: y\r\n".repeat(MAX_HEADERS)),
            // Incomplete.
            ok.trim_end().to_string(),
        ] {
            assert!(handshake(other.as_bytes()).is_none(), "{other:?}");
        }
    }

    #[test]
    fn a_switch_is_written_as_hyper_writes_it() {
        let (mut head, ()) = http::Response::new(()).into_parts();
        head.status = http::StatusCode::SWITCHING_PROTOCOLS;
        head.headers.append("upgrade", HeaderValue::from_static("websocket"));
        head.headers.append("set-cookie", HeaderValue::from_static("a=1"));
        head.headers.append("set-cookie", HeaderValue::from_static("b=2"));
        assert_eq!(
            String::from_utf8(encode_switch(&head)).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\n"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slow_heads_time_out() {
        let (mut client, mut server) = tokio::io::duplex(64);
        use tokio::io::AsyncWriteExt;
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        assert_eq!(
            read_head(&mut server, 1024, Duration::from_secs(10)).await,
            Head::TimedOut
        );
    }

    #[tokio::test]
    async fn large_heads_are_refused() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(4096));
        let mut reader = big.as_bytes();
        assert_eq!(
            read_head(&mut reader, 1024, Duration::from_secs(10)).await,
            Head::TooLarge
        );
    }

    #[tokio::test]
    async fn a_complete_head_one_byte_over_the_limit_is_refused_at_the_limit_accepted() {
        // Both arrive whole in one read, so only the complete-head check
        // decides: 431 one byte over, replayed at exactly the limit.
        let head = |len: usize| {
            let mut h = b"GET / HTTP/1.1\r\nX: ".to_vec();
            h.resize(len - 4, b'a');
            h.extend_from_slice(b"\r\n\r\n");
            h
        };
        let over = head(1025);
        assert_eq!(
            read_head(&mut over.as_slice(), 1024, Duration::from_secs(10)).await,
            Head::TooLarge
        );
        let at = head(1024);
        assert_eq!(
            read_head(&mut at.as_slice(), 1024, Duration::from_secs(10)).await,
            Head::Complete(at.clone())
        );
    }

    #[tokio::test]
    async fn a_peer_that_leaves_early_is_closed() {
        let mut reader: &[u8] = b"GET / HT";
        assert_eq!(
            read_head(&mut reader, 1024, Duration::from_secs(10)).await,
            Head::Closed
        );
    }

    proptest! {
        /// However the bytes are split across reads, a head within the
        /// limit is found and every byte is kept for replay.
        #[test]
        fn complete_heads_survive_any_split(extra in proptest::collection::vec(any::<u8>(), 0..64), split in 1usize..40) {
            let mut data = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
            data.extend_from_slice(&extra);
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            let (mut tx, mut rx) = tokio::io::duplex(8);
            let chunks: Vec<Vec<u8>> = data.chunks(split).map(<[u8]>::to_vec).collect();
            let got = rt.block_on(async move {
                use tokio::io::AsyncWriteExt;
                // The writer drops its end when done, so the reader sees EOF.
                tokio::spawn(async move {
                    for c in chunks { if tx.write_all(&c).await.is_err() { break; } }
                });
                let head = read_head(&mut rx, 4096, Duration::from_secs(10)).await;
                if let Head::Complete(mut bytes) = head {
                    let mut rest = Vec::new();
                    rx.read_to_end(&mut rest).await.unwrap();
                    bytes.extend_from_slice(&rest);
                    Some(bytes)
                } else { None }
            });
            prop_assert_eq!(got, Some(data));
        }
    }

    /// What hyper's own server makes of `raw`: the request parts it hands
    /// its service, or `None` when it answers (400, 414, …) without
    /// calling one. The oracle for [`handshake`].
    fn parsed_by_hyper(raw: &[u8]) -> Option<http::request::Parts> {
        use std::sync::{Arc, Mutex};
        use tokio::io::AsyncWriteExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut client, server) = tokio::io::duplex(64 * 1024);
            let seen = Arc::new(Mutex::new(None));
            let record = Arc::clone(&seen);
            let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                *record.lock().unwrap() = Some(req.into_parts().0);
                async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(hyper_util::rt::TokioTimer::new());
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(server), service);
            client.write_all(raw).await.unwrap();
            client.shutdown().await.unwrap();
            let _ = conn.await;
            let parts = seen.lock().unwrap().take();
            parts
        })
    }

    /// A request head built from generated pieces, most of them close to a
    /// handshake, some not valid HTTP at all.
    fn a_head() -> impl Strategy<Value = Vec<u8>> {
        let method = prop_oneof![Just("GET"), Just("GET"), Just("POST"), Just("get")];
        let target = prop_oneof![Just("/".to_string()), "/[a-z0-9/?=&%._~-]{0,16}", "[ -~]{0,12}"];
        let version = prop_oneof![Just("HTTP/1.1"), Just("HTTP/1.1"), Just("HTTP/1.0"), Just("HTTP/2.0")];
        let name = prop_oneof![
            Just("Host".to_string()),
            Just("Upgrade".to_string()),
            Just("Connection".to_string()),
            Just("Content-Length".to_string()),
            Just("Transfer-Encoding".to_string()),
            Just("Sec-WebSocket-Key".to_string()),
            "[a-zA-Z-]{1,8}",
            "[!-~]{1,6}",
        ];
        let value = prop_oneof![
            Just(b"websocket".to_vec()),
            Just(b"Upgrade".to_vec()),
            Just(b"keep-alive, upgrade".to_vec()),
            Just(b"0".to_vec()),
            Just(b"chunked".to_vec()),
            "[ -~]{0,10}".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..8),
        ];
        let headers = proptest::collection::vec((name, value), 0..6);
        (method, target, version, any::<bool>(), headers).prop_map(|(method, target, version, asks, headers)| {
            let mut raw = format!("{method} {target} {version}\r\n").into_bytes();
            if asks {
                raw.extend_from_slice(b"Upgrade: websocket\r\nConnection: Upgrade\r\n");
            }
            for (name, value) in headers {
                raw.extend_from_slice(name.as_bytes());
                raw.extend_from_slice(b": ");
                raw.extend_from_slice(&value);
                raw.extend_from_slice(b"\r\n");
            }
            raw.extend_from_slice(b"\r\n");
            raw
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Against hyper's own server: a head served without hyper is one
        /// hyper accepts, parsed into the same request; and every head
        /// hyper accepts as a bodiless HTTP/1.1 websocket `GET` is served
        /// without it.
        #[test]
        fn a_head_is_served_without_hyper_exactly_when_hyper_would_see_a_handshake(raw in a_head()) {
            let ours = handshake(&raw);
            let hypers = parsed_by_hyper(&raw);
            match (&ours, &hypers) {
                (Some((parts, len)), Some(h)) => {
                    // A generated value may end the head early (a bare LF
                    // line, then a blank one): hyper and we stop there.
                    prop_assert_eq!(Some(*len), head_end(&raw));
                    prop_assert_eq!(&parts.method, &h.method);
                    prop_assert_eq!(&parts.uri, &h.uri);
                    prop_assert_eq!(parts.version, h.version);
                    prop_assert_eq!(&parts.headers, &h.headers);
                }
                (Some(_), None) => prop_assert!(false, "served a head hyper refuses: {:?}", String::from_utf8_lossy(&raw)),
                (None, Some(h)) => {
                    let is_handshake = h.method == Method::GET
                        && h.version == Version::HTTP_11
                        && has_token(&h.headers, header::UPGRADE, "websocket")
                        && has_token(&h.headers, header::CONNECTION, "upgrade")
                        && !h.headers.contains_key(header::CONTENT_LENGTH)
                        && !h.headers.contains_key(header::TRANSFER_ENCODING);
                    prop_assert!(!is_handshake, "left a handshake to hyper: {:?}", String::from_utf8_lossy(&raw));
                }
                (None, None) => {}
            }
        }
    }
}
