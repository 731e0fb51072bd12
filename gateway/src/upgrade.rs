//! A WebSocket handshake sent to a backend by the gateway itself: the
//! request head is written and the answer's head parsed here, and on a 101
//! the socket goes to the tunnel as it is.
//!
//! Why not hyper's client, as for plain requests: for each handshake it
//! spawns a connection task, parses the answer into its own types, then
//! hands the socket back through an upgrade channel as a boxed stream that
//! lives as long as the session. A handshake needs none of that: one write,
//! one read of a head, one header check (issue #15 measured the difference
//! per handshake and per idle session; `benches/RESULTS.md`).
//!
//! Any other answer (a refusal with a body, a 1xx before it) is handed to
//! hyper to read, with the bytes already read put back first, so response
//! framing has one implementation. Deciding what to write and what was read
//! are pure functions ([`encode_head`], [`parse_head`]), tested below.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::io::Prefixed;
use crate::upstream::{self, Kind, UpstreamError};

/// As many response headers as hyper's client accepts by default.
const MAX_HEADERS: usize = 100;

/// The largest response head read. Our choice: a 101 carries a handful of
/// short headers, and a backend that sends 64 KiB without ending its head
/// is broken; hyper's client would buffer about 400 KiB.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// Request bytes gathered before a write: the head and a small body go out
/// in one write (one syscall, one segment).
const WRITE_BATCH: usize = 16 * 1024;

/// What a backend answered a forwarded handshake.
pub(crate) enum Answer<S> {
    /// A 101: its head, and the socket, with any bytes the backend sent
    /// after the head (its first frames) put back in front.
    Switched {
        head: http::response::Parts,
        backend: Prefixed<S>,
    },
    /// Anything else, read by hyper: forwarded to the client as it is.
    Other(http::Response<Incoming>),
}

impl<S> Answer<S> {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Answer::Switched { head, .. } => head.status,
            Answer::Other(resp) => resp.status(),
        }
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        match self {
            Answer::Switched { head, .. } => &head.headers,
            Answer::Other(resp) => resp.headers(),
        }
    }
}

impl<S> std::fmt::Debug for Answer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Switched { head, .. } => f.debug_struct("Switched").field("head", head).finish_non_exhaustive(),
            Answer::Other(resp) => f.debug_tuple("Other").field(&resp.status()).finish(),
        }
    }
}

/// How a request body is framed on the wire to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// The bytes as they are: a `Content-Length` says where they end (or
    /// there are none).
    Plain,
    /// `Transfer-Encoding: chunked`, which [`crate::forward::outbound`] sets
    /// for a streamed body of unknown length.
    Chunked,
}

/// The request head a backend gets, as hyper's client would write it:
/// `METHOD target HTTP/1.1`, the headers in order, and a `Content-Length`
/// added for a body of known, non-zero length that has none. Returns how
/// the body that follows is framed.
pub(crate) fn encode_head(parts: &http::request::Parts, body_length: Option<u64>, out: &mut Vec<u8>) -> Framing {
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    crate::headers::encode(&parts.headers, out);
    let chunked = is_chunked(&parts.headers);
    if !chunked && !parts.headers.contains_key(header::CONTENT_LENGTH) {
        if let Some(n) = body_length.filter(|n| *n > 0) {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    if chunked {
        Framing::Chunked
    } else {
        Framing::Plain
    }
}

/// Whether the last transfer coding is `chunked` (RFC 9112 §6.3).
fn is_chunked(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
}

/// What the bytes read so far hold.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// Not a whole head yet.
    Partial,
    /// A whole 101 head, `len` bytes long.
    Switched { head: http::response::Parts, len: usize },
    /// A whole 1xx head other than 101 (`100 Continue`, `103 Early
    /// Hints`), `len` bytes long: skipped, as hyper's client skips them.
    Informational { len: usize },
    /// A whole head of another status, for hyper to read again.
    Other,
    /// Not an HTTP/1.x response head, or one the gateway cannot carry.
    Invalid(String),
}

/// Parses a backend's answer head from `buf`.
pub(crate) fn parse_head(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Ok(httparse::Status::Complete(len)) => len,
        Err(e) => return Parsed::Invalid(e.to_string()),
    };
    match resp.code {
        Some(101) => {}
        Some(100..=199) => return Parsed::Informational { len },
        _ => return Parsed::Other,
    }
    let mut map = HeaderMap::with_capacity(resp.headers.len());
    for h in resp.headers.iter() {
        let name = match HeaderName::from_bytes(h.name.as_bytes()) {
            Ok(name) => name,
            Err(_) => return Parsed::Invalid(format!("invalid header name {:?}", h.name)),
        };
        match HeaderValue::from_bytes(h.value) {
            Ok(value) => map.append(name, value),
            Err(_) => return Parsed::Invalid(format!("invalid value for header {}", h.name)),
        };
    }
    let mut head = http::Response::new(()).into_parts().0;
    head.status = StatusCode::SWITCHING_PROTOCOLS;
    head.version = if resp.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    head.headers = map;
    Parsed::Switched { head, len }
}

fn broken(detail: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::new(Kind::Response, detail)
}

/// Sends a request (its head from `parts`, then `body`) over `stream` and
/// reads the answer's head. The head is only borrowed, so a retry on
/// another member sends the same parts again without a copy of them.
pub(crate) async fn exchange<S, B>(
    mut stream: S,
    parts: &http::request::Parts,
    mut body: B,
) -> Result<Answer<S>, UpstreamError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut out = Vec::with_capacity(1024);
    let framing = encode_head(parts, body.size_hint().exact(), &mut out);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| UpstreamError::new(Kind::ClientBody, e))?;
        // Trailers are dropped, as hyper's client does for a request whose
        // `TE`/`Trailer` headers (hop-by-hop) are gone.
        let Ok(mut data) = frame.into_data() else { continue };
        if data.is_empty() {
            continue;
        }
        if framing == Framing::Chunked {
            out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        }
        while data.has_remaining() {
            let chunk = data.chunk();
            out.extend_from_slice(chunk);
            let n = chunk.len();
            data.advance(n);
        }
        if framing == Framing::Chunked {
            out.extend_from_slice(b"\r\n");
        }
        if out.len() >= WRITE_BATCH {
            stream.write_all(&out).await.map_err(broken)?;
            out.clear();
        }
    }
    if framing == Framing::Chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    stream.write_all(&out).await.map_err(broken)?;
    stream.flush().await.map_err(broken)?;
    drop(out);

    let mut buf = Vec::with_capacity(1024);
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.len().min(MAX_HEAD));
        }
        let n = stream.read_buf(&mut buf).await.map_err(broken)?;
        if n == 0 {
            return Err(broken("connection closed before a response head"));
        }
        // Heads that are whole already, informational ones first.
        loop {
            match parse_head(&buf) {
                Parsed::Informational { len } => {
                    buf.drain(..len);
                }
                Parsed::Partial if buf.len() >= MAX_HEAD => {
                    return Err(broken(format!("response head over {MAX_HEAD} bytes")))
                }
                Parsed::Partial => break,
                Parsed::Invalid(why) => return Err(broken(why)),
                Parsed::Switched { head, len } => {
                    let rest = buf.split_off(len);
                    return Ok(Answer::Switched {
                        head,
                        backend: Prefixed::new(rest, stream),
                    });
                }
                Parsed::Other => return other(buf, stream, parts).await.map(Answer::Other),
            }
        }
    }
}

/// Has hyper read an answer that is not a switch: the bytes already read
/// first, then the socket. hyper is given a request of the same method and
/// target, since the method decides the answer's framing; the request
/// itself was already sent, so what hyper writes is dropped.
async fn other<S>(
    read: Vec<u8>,
    stream: S,
    parts: &http::request::Parts,
) -> Result<http::Response<Incoming>, UpstreamError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let replay = Sent::new(Prefixed::new(read, stream));
    let mut sender = upstream::http1::<upstream::Empty, _>(replay).await?;
    let mut req = Request::new(upstream::Empty::new());
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    upstream::send(&mut sender, req).await
}

/// A stream whose request was already written: writes succeed and go
/// nowhere, reads come from the backend. Reads wait for hyper's first
/// write, since hyper's client takes bytes that arrive before it sent a
/// request for an unsolicited answer, and drops the connection.
struct Sent<S> {
    inner: Prefixed<S>,
    written: bool,
    reader: Option<std::task::Waker>,
}

impl<S> Sent<S> {
    fn new(inner: Prefixed<S>) -> Sent<S> {
        Sent {
            inner,
            written: false,
            reader: None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Sent<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.written {
            this.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: Unpin> AsyncWrite for Sent<S> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        this.written = true;
        if let Some(reader) = this.reader.take() {
            reader.wake();
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(target: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut req = Request::get(target);
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    fn encoded(parts: &http::request::Parts, length: Option<u64>) -> (String, Framing) {
        let mut out = Vec::new();
        let framing = encode_head(parts, length, &mut out);
        (String::from_utf8(out).unwrap(), framing)
    }

    #[test]
    fn the_head_is_the_request_line_then_the_headers_in_order() {
        let p = parts(
            "/chat?room=1",
            &[
                ("host", "b:80"),
                ("upgrade", "websocket"),
                ("connection", "upgrade"),
                ("x-a", "1"),
                ("x-a", "2"),
            ],
        );
        assert_eq!(
            encoded(&p, Some(0)),
            (
                "GET /chat?room=1 HTTP/1.1\r\nhost: b:80\r\nupgrade: websocket\r\nconnection: upgrade\r\nx-a: 1\r\nx-a: 2\r\n\r\n"
                    .to_string(),
                Framing::Plain
            )
        );
    }

    #[test]
    fn a_body_gets_a_length_unless_it_has_one_or_is_chunked() {
        let (head, framing) = encoded(&parts("/", &[]), Some(5));
        assert!(head.ends_with("content-length: 5\r\n\r\n"), "{head}");
        assert_eq!(framing, Framing::Plain);
        let (head, _) = encoded(&parts("/", &[("content-length", "5")]), Some(5));
        assert_eq!(head.matches("content-length").count(), 1, "{head}");
        let (head, framing) = encoded(&parts("/", &[("transfer-encoding", "gzip, chunked")]), None);
        assert!(!head.contains("content-length"), "{head}");
        assert_eq!(framing, Framing::Chunked);
        let (_, framing) = encoded(&parts("/", &[("transfer-encoding", "chunked, gzip")]), None);
        assert_eq!(framing, Framing::Plain);
        // No body, no length: a plain GET handshake carries none.
        assert!(!encoded(&parts("/", &[]), Some(0)).0.contains("content-length"));
        assert!(!encoded(&parts("/", &[]), None).0.contains("content-length"));
    }

    #[test]
    fn an_empty_target_is_written_as_slash() {
        let mut p = parts("/", &[]);
        p.uri = http::Uri::from_static("http://b");
        assert!(encoded(&p, None).0.starts_with("GET / HTTP/1.1\r\n"));
    }

    #[test]
    fn a_101_head_is_parsed_with_every_header_and_its_length() {
        let raw = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n\x81\x02hi";
        match parse_head(raw) {
            Parsed::Switched { head, len } => {
                assert_eq!(len, raw.len() - 4);
                assert_eq!(head.status, StatusCode::SWITCHING_PROTOCOLS);
                assert_eq!(head.version, Version::HTTP_11);
                assert_eq!(head.headers["upgrade"], "websocket");
                assert_eq!(head.headers.get_all("set-cookie").iter().count(), 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn partial_other_and_invalid_heads_are_told_apart() {
        assert!(matches!(parse_head(b"HTTP/1.1 101 Switching"), Parsed::Partial));
        assert!(matches!(
            parse_head(b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n"),
            Parsed::Partial
        ));
        assert!(matches!(parse_head(b"HTTP/1.1 403 Forbidden\r\n\r\n"), Parsed::Other));
        assert!(matches!(
            parse_head(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101"),
            Parsed::Informational { len: 25 }
        ));
        assert!(matches!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n"), Parsed::Other));
        assert!(matches!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n"), Parsed::Invalid(_)));
        assert!(matches!(
            parse_head(b"HTTP/1.1 101 OK\r\nBad Name: x\r\n\r\n"),
            Parsed::Invalid(_)
        ));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: v\r\n")).collect();
        let raw = format!("HTTP/1.1 101 OK\r\n{many}\r\n");
        assert!(matches!(parse_head(raw.as_bytes()), Parsed::Invalid(_)));
    }

    #[test]
    fn an_http_1_0_switch_keeps_its_version() {
        match parse_head(b"HTTP/1.0 101 OK\r\n\r\n") {
            Parsed::Switched { head, .. } => assert_eq!(head.version, Version::HTTP_10),
            other => panic!("{other:?}"),
        }
    }

    /// A backend on a real socket that reads one request head and answers
    /// `reply`, then stays open until the gateway side closes.
    async fn backend(reply: &'static [u8]) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed before a head");
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(reply).await.unwrap();
            // Whatever follows (a body, frames) until the other side closes.
            loop {
                let n = s.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return got;
                }
                got.extend_from_slice(&buf[..n]);
            }
        });
        (addr, task)
    }

    async fn exchange_request<S>(
        stream: S,
        req: Request<http_body_util::Full<Bytes>>,
    ) -> Result<Answer<S>, UpstreamError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (parts, body) = req.into_parts();
        exchange(stream, &parts, body).await
    }

    fn handshake() -> Request<http_body_util::Full<Bytes>> {
        Request::get("/chat")
            .header("host", "b")
            .header("upgrade", "websocket")
            .body(http_body_util::Full::new(Bytes::new()))
            .unwrap()
    }

    #[tokio::test]
    async fn a_switch_hands_over_the_socket_with_the_bytes_after_the_head() {
        let (addr, task) = backend(b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n\x81\x02hi").await;
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let Answer::Switched { head, mut backend } = exchange_request(stream, handshake()).await.unwrap() else {
            panic!("not switched");
        };
        assert_eq!(head.headers["upgrade"], "websocket");
        assert!(
            !head.headers.contains_key("link"),
            "the 103's headers are not the 101's"
        );
        let mut first = [0u8; 4];
        backend.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"\x81\x02hi");
        backend.write_all(b"after").await.unwrap();
        drop(backend);
        let got = task.await.unwrap();
        assert_eq!(got, b"GET /chat HTTP/1.1\r\nhost: b\r\nupgrade: websocket\r\n\r\nafter");
    }

    #[tokio::test]
    async fn another_answer_is_read_by_hyper_with_its_body() {
        let (addr, _task) = backend(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 9\r\n\r\nforbidden").await;
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let Answer::Other(resp) = exchange_request(stream, handshake()).await.unwrap() else {
            panic!("switched");
        };
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"forbidden");
    }

    #[tokio::test]
    async fn a_chunked_body_is_sent_chunked() {
        let (addr, task) = backend(b"HTTP/1.1 101 Switching Protocols\r\n\r\n").await;
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = Request::get("/")
            .header("transfer-encoding", "chunked")
            .body(http_body_util::Full::new(Bytes::from_static(b"hello")))
            .unwrap();
        let Answer::Switched { backend, .. } = exchange_request(stream, req).await.unwrap() else {
            panic!("not switched");
        };
        drop(backend);
        let got = task.await.unwrap();
        assert_eq!(
            got,
            b"GET / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn a_broken_head_is_a_response_error() {
        let (addr, _task) = backend(b"garbage\r\n\r\n").await;
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let err = exchange_request(stream, handshake()).await.unwrap_err();
        assert_eq!(err.kind(), Kind::Response, "{err}");
    }

    #[tokio::test]
    async fn a_close_before_a_head_is_a_response_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            // Dropped: closed without an answer.
        });
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let err = exchange_request(stream, handshake()).await.unwrap_err();
        assert_eq!(err.kind(), Kind::Response, "{err}");
        assert!(err.to_string().contains("before a response head"), "{err}");
    }

    #[tokio::test]
    async fn a_head_in_pieces_is_read_whole_and_a_long_one_is_carried() {
        // A 101 whose head is over a kilobyte (a long cookie), sent in two
        // writes: the gateway reads on until the head ends.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cookie = "c".repeat(3000);
        let head = format!("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nset-cookie: a={cookie}\r\n\r\n");
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await.unwrap();
            let (first, second) = head.as_bytes().split_at(40);
            s.write_all(first).await.unwrap();
            s.flush().await.unwrap();
            // Give the first piece time to be read on its own; if the two
            // arrive together the test still passes, it just reads once.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            s.write_all(second).await.unwrap();
            let _ = s.read(&mut buf).await;
        });
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let answer = exchange_request(stream, handshake()).await.unwrap();
        assert_eq!(answer.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(answer.headers()["set-cookie"].len(), 3002);
        assert!(format!("{answer:?}").starts_with("Switched"), "{answer:?}");
        drop(answer);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_head_that_never_ends_is_refused_at_the_limit() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 101 Switching Protocols\r\n").await.unwrap();
            let line = format!("x-pad: {}\r\n", "p".repeat(1000));
            // Past the limit, then silence with the connection open: only
            // the limit can end the read.
            for _ in 0..(MAX_HEAD / line.len() + 2) {
                if s.write_all(line.as_bytes()).await.is_err() {
                    return;
                }
            }
            let _ = s.read(&mut buf).await;
        });
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        // A hang guard, not a timing assertion.
        let result = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            exchange_request(stream, handshake()),
        )
        .await
        .expect("the read went on past the limit");
        let err = result.unwrap_err();
        assert_eq!(err.kind(), Kind::Response, "{err}");
        assert!(err.to_string().contains(&format!("over {MAX_HEAD} bytes")), "{err}");
    }
}
