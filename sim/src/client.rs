//! A recording WebSocket client on any transport, plain or TLS.
//!
//! It is tokio-tungstenite underneath, with two changes that matter for
//! determinism: the `Sec-WebSocket-Key` comes from a seeded RNG (tungstenite
//! draws its own from an unseeded one), and every open, data message and
//! close is written to the [`Trace`] as a typed [`ClientEvent`], data
//! messages with a digest of their bytes. The close code it reports is what
//! the client saw: the peer's Close frame code, 1005 for a Close frame
//! without a code, or 1006 when the connection ended with no Close frame.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use backend::digest;
use data_encoding::BASE64;
use futures_util::{SinkExt, StreamExt};
use gateway::transport::{Stream, Transport};
use rand::{Rng, RngCore};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use crate::trace::Trace;

/// Close code for "the connection ended without a Close frame" (RFC 6455
/// §7.1.5). Never sent on the wire; clients report it.
pub const ABNORMAL_CLOSURE: u16 = 1006;
/// Close code for "a Close frame arrived with no status code".
pub const NO_STATUS: u16 = 1005;
/// tungstenite's read buffer for the clients here (its default is 128 KiB).
const READ_BUFFER: usize = 8 * 1024;

/// A `Sec-WebSocket-Key`: 16 random bytes from `rng`, base64-encoded.
pub fn seeded_key(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    BASE64.encode(&bytes)
}

/// How a client saw its session end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CloseCause {
    /// A Close frame arrived (its code, or 1005 without one).
    Frame,
    /// The connection ended without a Close frame: 1006.
    NoFrame,
    /// The client's heartbeat gave up: no pong within its `pong_timeout`,
    /// so it dropped the connection, as browser libraries do: 1006.
    PongTimeout,
}

/// Control frames, which the readable trace leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Control {
    Ping,
    Pong,
}

/// Something a client did or saw.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// No TCP connection (refused, reset).
    ConnectFailed {
        target: String,
        error: std::io::ErrorKind,
    },
    /// No TLS session with the gateway.
    TlsFailed {
        target: String,
        error: String,
    },
    /// No answer within the attempt timeout.
    TimedOut {
        target: String,
        after: Duration,
    },
    /// The handshake got a 101: the session is open. `key` names the
    /// session on both sides; `headers` are the 101's, names in lower case.
    Opened {
        path: String,
        key: Arc<str>,
        subprotocol: Option<String>,
        headers: Vec<(String, String)>,
    },
    /// The handshake was answered with a status other than 101.
    Refused {
        path: String,
        status: u16,
    },
    /// The handshake broke in another way (a bad accept value, garbage).
    HandshakeFailed {
        path: String,
        error: String,
    },
    /// A data message sent, with the digest of its payload.
    Sent {
        key: Arc<str>,
        binary: bool,
        len: usize,
        digest: u64,
    },
    /// A data message received, with the digest of its payload.
    Received {
        key: Arc<str>,
        binary: bool,
        len: usize,
        digest: u64,
    },
    /// A ping or pong sent or received.
    ControlSent(Control),
    ControlReceived(Control),
    /// The client sent a Close frame with this code.
    CloseSent {
        code: u16,
    },
    /// The session ended: the code the application sees, and why.
    Closed {
        code: u16,
        cause: CloseCause,
    },
    /// The script waits `delay` before attempt `attempt` (from 1).
    Retrying {
        attempt: u32,
        delay: Duration,
    },
    /// The script stopped retrying after `attempts` failures.
    GaveUp {
        attempts: u32,
    },
    /// The run ended with the session still open.
    StillOpen,
    /// A plain HTTP request went out.
    RequestSent {
        method: String,
        path: String,
    },
    /// Its answer.
    Response {
        status: u16,
    },
    /// It got no answer: the connection failed or broke, or it timed out.
    RequestFailed {
        error: String,
    },
    /// A request of a SignalR or socket.io client's start, and the status
    /// that answered it.
    AppStep {
        step: crate::app::AppStep,
        status: u16,
    },
    /// A request of a start that got no usable answer.
    AppStepFailed {
        step: crate::app::AppStep,
        error: String,
    },
    /// A response set this cookie; the client sends it from now on.
    CookieStored {
        name: String,
        /// As written after the value (`Path=/; Secure`).
        attributes: String,
    },
}

impl ClientEvent {
    /// Per-message and heartbeat lines: left out of the readable trace.
    pub fn is_chatter(&self) -> bool {
        matches!(
            self,
            ClientEvent::Sent { .. }
                | ClientEvent::Received { .. }
                | ClientEvent::ControlSent(_)
                | ClientEvent::ControlReceived(_)
        )
    }
}

fn human(d: Duration) -> humantime::FormattedDuration {
    // Whole milliseconds: jitter draws nanoseconds no reader needs.
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64))
}

impl fmt::Display for ClientEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = |binary: &bool| if *binary { "binary" } else { "text" };
        match self {
            ClientEvent::ConnectFailed { target, error } => write!(f, "connect to {target} failed: {error}"),
            ClientEvent::TlsFailed { target, error } => write!(f, "tls with {target} failed: {error}"),
            ClientEvent::TimedOut { target, after } => {
                write!(f, "connect to {target} timed out after {}", human(*after))
            }
            ClientEvent::Opened { path, subprotocol, .. } => match subprotocol {
                Some(p) => write!(f, "open {path} subprotocol={p}"),
                None => write!(f, "open {path}"),
            },
            ClientEvent::Refused { path, status } => write!(f, "handshake {path} answered {status}"),
            ClientEvent::HandshakeFailed { path, error } => write!(f, "handshake {path} failed: {error}"),
            ClientEvent::Sent { binary, len, .. } => write!(f, "sent {} {len}B", kind(binary)),
            ClientEvent::Received { binary, len, .. } => write!(f, "recv {} {len}B", kind(binary)),
            ClientEvent::ControlSent(c) => write!(f, "sent {}", control_word(*c)),
            ClientEvent::ControlReceived(c) => write!(f, "recv {}", control_word(*c)),
            ClientEvent::CloseSent { code } => write!(f, "sent close {code}"),
            ClientEvent::Closed {
                code,
                cause: CloseCause::Frame,
            } => write!(f, "closed code={code}"),
            ClientEvent::Closed {
                code,
                cause: CloseCause::NoFrame,
            } => write!(f, "closed code={code} (no close frame)"),
            ClientEvent::Closed {
                code,
                cause: CloseCause::PongTimeout,
            } => write!(f, "closed code={code} (no pong in time: gave up on the connection)"),
            ClientEvent::Retrying { attempt, delay } => write!(f, "retry {attempt} in {}", human(*delay)),
            ClientEvent::GaveUp { attempts } => write!(f, "giving up after {attempts} retries"),
            ClientEvent::StillOpen => f.write_str("still open at the end of the run"),
            ClientEvent::RequestSent { method, path } => write!(f, "request {method} {path}"),
            ClientEvent::Response { status } => write!(f, "response {status}"),
            ClientEvent::RequestFailed { error } => write!(f, "request failed: {error}"),
            ClientEvent::AppStep { step, status } => write!(f, "{step} answered {status}"),
            ClientEvent::AppStepFailed { step, error } => write!(f, "{step} failed: {error}"),
            ClientEvent::CookieStored { name, attributes } if attributes.is_empty() => {
                write!(f, "stored cookie {name}")
            }
            ClientEvent::CookieStored { name, attributes } => write!(f, "stored cookie {name} ({attributes})"),
        }
    }
}

fn control_word(c: Control) -> &'static str {
    match c {
        Control::Ping => "ping",
        Control::Pong => "pong",
    }
}

/// A client's reconnect policy: exponential backoff with jitter, the jitter
/// drawn from the client's seeded RNG so runs repeat exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The delay before the first retry.
    pub initial: Duration,
    /// The delay never grows past this.
    pub max: Duration,
    /// Each retry waits this many times longer than the one before.
    pub multiplier: u32,
    /// The fraction of each delay that is random: 0.0 waits exactly the
    /// computed delay, 0.5 waits between half of it and all of it.
    pub jitter: f64,
    /// Give up after this many failed attempts.
    pub max_attempts: u32,
    /// One attempt (connect and handshake) fails after this long. A host
    /// that is down does not refuse connections, it never answers them.
    pub attempt_timeout: Duration,
}

impl Backoff {
    /// The delay before retry number `attempt` (0 for the first retry).
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let factor = self.multiplier.max(1).saturating_pow(attempt.min(32));
        let base = self.initial.saturating_mul(factor).min(self.max);
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return base;
        }
        let cut = rng.random::<f64>() * jitter;
        base.mul_f64(1.0 - cut)
    }
}

/// How to secure a connection to the gateway (`wss://`).
#[derive(Clone)]
pub struct ClientTls {
    pub config: Arc<rustls::ClientConfig>,
    /// The name the gateway's certificate must carry.
    pub server_name: String,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// Where a client connects: a gateway listener.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// Set for an https listener.
    pub tls: Option<ClientTls>,
}

impl Target {
    pub fn plain(host: &str, port: u16) -> Target {
        Target {
            host: host.to_string(),
            port,
            tls: None,
        }
    }

    fn label(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

/// A connected stream, plain or TLS; boxed so both have one type.
pub type Connection = Box<dyn Stream>;

/// Why a client could not connect or open a session.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// No TCP connection.
    Connect(std::io::Error),
    /// No TLS session.
    Tls(std::io::Error),
    /// The server answered the handshake with this status instead of 101.
    Status(u16),
    /// Anything else the handshake reported.
    Handshake(tungstenite::Error),
    /// No answer within the attempt timeout.
    TimedOut(Duration),
    /// A request before the handshake (SignalR's negotiate, socket.io's
    /// polling start) broke or gave nothing usable.
    Request(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Connect(e) => write!(f, "connect failed: {e}"),
            ConnectError::Tls(e) => write!(f, "tls failed: {e}"),
            ConnectError::Status(s) => write!(f, "handshake answered {s}"),
            ConnectError::Handshake(e) => write!(f, "handshake failed: {e}"),
            ConnectError::TimedOut(d) => write!(f, "no answer within {}", human(*d)),
            ConnectError::Request(e) => write!(f, "request before the handshake failed: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Opens a TCP (and, for an https listener, TLS) connection to `target`,
/// recording failures.
pub async fn dial<T: Transport>(
    transport: &T,
    name: &str,
    target: &Target,
    trace: &Trace,
) -> Result<Connection, ConnectError> {
    let stream = match transport.connect(&target.host, target.port).await {
        Ok(s) => s,
        Err(e) => {
            trace.record(
                name,
                ClientEvent::ConnectFailed {
                    target: target.label(),
                    error: e.kind(),
                },
            );
            return Err(ConnectError::Connect(e));
        }
    };
    let Some(tls) = &target.tls else {
        return Ok(Box::new(stream));
    };
    let fail = |e: std::io::Error| {
        trace.record(
            name,
            ClientEvent::TlsFailed {
                target: target.label(),
                error: e.to_string(),
            },
        );
        ConnectError::Tls(e)
    };
    let server_name = rustls::pki_types::ServerName::try_from(tls.server_name.clone())
        .map_err(|e| fail(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&tls.config));
    let secured = connector.connect(server_name, stream).await.map_err(fail)?;
    Ok(Box::new(secured))
}

/// What the handshake request carries.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The `Host` header.
    pub host: String,
    /// Path and query.
    pub path: String,
    pub subprotocols: Vec<String>,
    /// Extra headers, such as `Origin`.
    pub headers: Vec<(String, String)>,
    pub key: String,
}

impl ClientOptions {
    /// Options for `path` with a key drawn from `rng`.
    pub fn new(host: &str, path: &str, rng: &mut impl Rng) -> ClientOptions {
        ClientOptions {
            host: host.to_string(),
            path: path.to_string(),
            subprotocols: Vec::new(),
            headers: Vec::new(),
            key: seeded_key(rng),
        }
    }

    pub fn subprotocols(mut self, protocols: &[&str]) -> Self {
        self.subprotocols = protocols.iter().map(|p| p.to_string()).collect();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn request(&self) -> Result<http::Request<()>, http::Error> {
        let mut builder = http::Request::builder()
            .method("GET")
            .uri(format!("ws://{}{}", self.host, self.path))
            .header("Host", &self.host)
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", &self.key);
        if !self.subprotocols.is_empty() {
            builder = builder.header("Sec-WebSocket-Protocol", self.subprotocols.join(", "));
        }
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder.body(())
    }
}

/// What a receive produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Message(Message),
    /// The session ended with this close code (see the module docs).
    Closed(u16),
}

/// An open WebSocket session that records what it does.
#[derive(Debug)]
pub struct WsClient<S> {
    name: String,
    ws: WebSocketStream<S>,
    trace: Trace,
    /// The session's `Sec-WebSocket-Key`, which names it on both sides.
    pub key: Arc<str>,
    /// The negotiated subprotocol.
    pub subprotocol: Option<String>,
    /// Response headers of the 101, lower-case names.
    pub response_headers: Vec<(String, String)>,
    close_code: Option<u16>,
}

/// Opens a session to `target` through `transport`.
pub async fn connect<T: Transport>(
    transport: &T,
    name: &str,
    target: &Target,
    options: &ClientOptions,
    trace: &Trace,
) -> Result<WsClient<Connection>, ConnectError> {
    let stream = dial(transport, name, target, trace).await?;
    open(stream, name, options, trace).await
}

/// Runs the handshake over an already-connected stream.
pub async fn open<S: Stream>(
    stream: S,
    name: &str,
    options: &ClientOptions,
    trace: &Trace,
) -> Result<WsClient<S>, ConnectError> {
    let request = options
        .request()
        .map_err(|e| ConnectError::Handshake(tungstenite::Error::HttpFormat(e)))?;
    // tungstenite zeroes its whole read buffer on every read; its 128 KiB
    // default made that a third of the simulator's time. Messages larger
    // than the buffer still arrive, over several reads.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    match tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await {
        Ok((ws, response)) => {
            let subprotocol = response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let response_headers: Vec<(String, String)> = response
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let key: Arc<str> = Arc::from(options.key.as_str());
            trace.record(
                name,
                ClientEvent::Opened {
                    path: options.path.clone(),
                    key: Arc::clone(&key),
                    subprotocol: subprotocol.clone(),
                    headers: response_headers.clone(),
                },
            );
            Ok(WsClient {
                name: name.to_string(),
                ws,
                trace: trace.clone(),
                key,
                subprotocol,
                response_headers,
                close_code: None,
            })
        }
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            trace.record(
                name,
                ClientEvent::Refused {
                    path: options.path.clone(),
                    status,
                },
            );
            Err(ConnectError::Status(status))
        }
        Err(e) => {
            trace.record(
                name,
                ClientEvent::HandshakeFailed {
                    path: options.path.clone(),
                    error: e.to_string(),
                },
            );
            Err(ConnectError::Handshake(e))
        }
    }
}

/// Connects, retrying under `backoff` while the connection is refused or the
/// handshake fails. Each attempt gets a fresh seeded key. The trace shows
/// every retry and its delay.
pub async fn connect_with_retry<T: Transport, R: Rng>(
    transport: &T,
    name: &str,
    target: &Target,
    path: &str,
    backoff: &Backoff,
    rng: &mut R,
    trace: &Trace,
) -> Result<WsClient<Connection>, ConnectError> {
    let mut attempt = 0;
    loop {
        let options = ClientOptions::new(&target.host, path, rng);
        let attempt_result = match tokio::time::timeout(
            backoff.attempt_timeout,
            connect(transport, name, target, &options, trace),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => {
                trace.record(
                    name,
                    ClientEvent::TimedOut {
                        target: target.label(),
                        after: backoff.attempt_timeout,
                    },
                );
                Err(ConnectError::TimedOut(backoff.attempt_timeout))
            }
        };
        match attempt_result {
            Ok(client) => return Ok(client),
            Err(e) if attempt + 1 >= backoff.max_attempts => return Err(e),
            Err(_) => {
                let delay = backoff.delay(attempt, rng);
                attempt += 1;
                trace.record(name, ClientEvent::Retrying { attempt, delay });
                tokio::time::sleep(delay).await;
            }
        }
    }
}

impl<S: Stream> WsClient<S> {
    /// Sends a message. A failed send means the session is gone; the close
    /// code is then 1006 unless a Close frame was already seen.
    pub async fn send(&mut self, msg: Message) -> Result<(), u16> {
        let event = match &msg {
            Message::Text(t) => Some(ClientEvent::Sent {
                key: Arc::clone(&self.key),
                binary: false,
                len: t.len(),
                digest: digest(t.as_bytes()),
            }),
            Message::Binary(b) => Some(ClientEvent::Sent {
                key: Arc::clone(&self.key),
                binary: true,
                len: b.len(),
                digest: digest(b),
            }),
            Message::Ping(_) => Some(ClientEvent::ControlSent(Control::Ping)),
            Message::Pong(_) => Some(ClientEvent::ControlSent(Control::Pong)),
            Message::Close(Some(f)) => Some(ClientEvent::CloseSent {
                code: u16::from(f.code),
            }),
            Message::Close(None) | Message::Frame(_) => None,
        };
        match self.ws.send(msg).await {
            Ok(()) => {
                if let Some(event) = event {
                    self.trace.record(&self.name, event);
                }
                Ok(())
            }
            Err(_) => Err(self.ended(CloseCause::NoFrame)),
        }
    }

    /// Sends a Close frame with `code`.
    pub async fn close(&mut self, code: u16) -> Result<(), u16> {
        self.send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: "".into(),
        })))
        .await
    }

    /// Waits for the next data or control message, or the end of the
    /// session with its close code.
    pub async fn recv(&mut self) -> Received {
        if let Some(code) = self.close_code {
            return Received::Closed(code);
        }
        match self.ws.next().await {
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map(|f| u16::from(f.code)).unwrap_or(NO_STATUS);
                self.close_code = Some(code);
                self.trace.record(
                    &self.name,
                    ClientEvent::Closed {
                        code,
                        cause: CloseCause::Frame,
                    },
                );
                // Let tungstenite finish the closing handshake; the session
                // is over for the caller either way.
                let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
                Received::Closed(code)
            }
            Some(Ok(msg)) => {
                let event = match &msg {
                    Message::Text(t) => Some(ClientEvent::Received {
                        key: Arc::clone(&self.key),
                        binary: false,
                        len: t.len(),
                        digest: digest(t.as_bytes()),
                    }),
                    Message::Binary(b) => Some(ClientEvent::Received {
                        key: Arc::clone(&self.key),
                        binary: true,
                        len: b.len(),
                        digest: digest(b),
                    }),
                    Message::Ping(_) => Some(ClientEvent::ControlReceived(Control::Ping)),
                    Message::Pong(_) => Some(ClientEvent::ControlReceived(Control::Pong)),
                    _ => None,
                };
                if let Some(event) = event {
                    self.trace.record(&self.name, event);
                }
                Received::Message(msg)
            }
            Some(Err(_)) | None => Received::Closed(self.ended(CloseCause::NoFrame)),
        }
    }

    /// Receives until the next data message, skipping control frames; a
    /// close ends with `Err(code)`.
    pub async fn recv_data(&mut self) -> Result<Message, u16> {
        loop {
            match self.recv().await {
                Received::Message(m @ (Message::Text(_) | Message::Binary(_))) => return Ok(m),
                Received::Message(_) => continue,
                Received::Closed(code) => return Err(code),
            }
        }
    }

    /// Gives up on the connection because no pong came in time: reports
    /// 1006 with that cause. The caller drops the client, closing the TCP
    /// connection without a Close frame, as a browser heartbeat does.
    pub fn abandon(&mut self) -> u16 {
        self.ended(CloseCause::PongTimeout)
    }

    /// The close code, once the session has ended.
    pub fn close_code(&self) -> Option<u16> {
        self.close_code
    }

    fn ended(&mut self, cause: CloseCause) -> u16 {
        *self.close_code.get_or_insert_with(|| {
            self.trace.record(
                &self.name,
                ClientEvent::Closed {
                    code: ABNORMAL_CLOSURE,
                    cause,
                },
            );
            ABNORMAL_CLOSURE
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_grows_caps_and_jitters_within_bounds() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            multiplier: 2,
            jitter: 0.0,
            max_attempts: 10,
            attempt_timeout: Duration::from_secs(5),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let delays: Vec<u64> = (0..7).map(|a| b.delay(a, &mut rng).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        let jittery = Backoff { jitter: 0.5, ..b };
        for attempt in 0..10 {
            let d = jittery.delay(attempt, &mut rng);
            let base = b.delay(attempt, &mut rng);
            assert!(d <= base && d >= base / 2, "{d:?} outside [{:?}, {base:?}]", base / 2);
        }
    }

    #[test]
    fn keys_are_seeded_and_well_formed() {
        let mut a = rand::rngs::StdRng::seed_from_u64(7);
        let mut b = rand::rngs::StdRng::seed_from_u64(7);
        let key = seeded_key(&mut a);
        assert_eq!(key, seeded_key(&mut b));
        assert!(gateway::handshake::is_valid_key(key.as_bytes()), "{key}");
    }

    #[test]
    fn retries_and_timeouts_read_in_human_durations() {
        let retry = ClientEvent::Retrying {
            attempt: 1,
            delay: Duration::from_nanos(910_820_712),
        };
        assert_eq!(retry.to_string(), "retry 1 in 910ms");
    }

    #[test]
    fn a_connect_timeout_reads_in_human_units() {
        let e = ConnectError::TimedOut(Duration::from_millis(2500));
        assert_eq!(e.to_string(), "no answer within 2s 500ms");
    }
}
