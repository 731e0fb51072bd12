//! A recording WebSocket client on any transport.
//!
//! It is tokio-tungstenite underneath, with two changes that matter for
//! determinism: the `Sec-WebSocket-Key` comes from a seeded RNG (tungstenite
//! draws its own from an unseeded one), and every open, message and close is
//! written to the [`Trace`]. The close code it reports is what the client
//! saw: the peer's Close frame code, 1005 for a Close frame without a code,
//! or 1006 when the connection ended with no Close frame at all.

use std::fmt;
use std::time::Duration;

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
/// tungstenite's read buffer for the clients here (its default is 128 KiB).
const READ_BUFFER: usize = 8 * 1024;

/// Close code for "a Close frame arrived with no status code".
pub const NO_STATUS: u16 = 1005;

/// A `Sec-WebSocket-Key`: 16 random bytes from `rng`, base64-encoded.
pub fn seeded_key(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    BASE64.encode(&bytes)
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

/// Why a client could not open a session.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// No TCP connection.
    Connect(std::io::Error),
    /// The server answered the handshake with this status instead of 101.
    Status(u16),
    /// Anything else the handshake reported.
    Handshake(tungstenite::Error),
    /// No answer within the attempt timeout.
    TimedOut(Duration),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Connect(e) => write!(f, "connect failed: {e}"),
            ConnectError::Status(s) => write!(f, "handshake answered {s}"),
            ConnectError::Handshake(e) => write!(f, "handshake failed: {e}"),
            ConnectError::TimedOut(d) => write!(f, "no answer within {d:?}"),
        }
    }
}

impl std::error::Error for ConnectError {}

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
    /// The negotiated subprotocol.
    pub subprotocol: Option<String>,
    /// Response headers of the 101, lower-case names.
    pub response_headers: Vec<(String, String)>,
    close_code: Option<u16>,
}

fn describe(msg: &Message) -> String {
    match msg {
        Message::Text(t) => format!("text {}B", t.len()),
        Message::Binary(b) => format!("binary {}B", b.len()),
        Message::Ping(p) => format!("ping {}B", p.len()),
        Message::Pong(p) => format!("pong {}B", p.len()),
        Message::Close(Some(f)) => format!("close {}", u16::from(f.code)),
        Message::Close(None) => "close".to_string(),
        Message::Frame(_) => "frame".to_string(),
    }
}

/// Opens a session to `host:port` through `transport`.
pub async fn connect<T: Transport>(
    transport: &T,
    name: &str,
    (host, port): (&str, u16),
    options: &ClientOptions,
    trace: &Trace,
) -> Result<WsClient<T::Stream>, ConnectError> {
    let stream = match transport.connect(host, port).await {
        Ok(s) => s,
        Err(e) => {
            trace.record(name, format!("connect to {host}:{port} failed: {}", e.kind()));
            return Err(ConnectError::Connect(e));
        }
    };
    open(stream, name, options, trace).await
}

/// Runs the handshake over an already-connected stream (plain or TLS).
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
            let response_headers = response
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            match &subprotocol {
                Some(p) => trace.record(name, format!("open {} subprotocol={p}", options.path)),
                None => trace.record(name, format!("open {}", options.path)),
            }
            Ok(WsClient {
                name: name.to_string(),
                ws,
                trace: trace.clone(),
                subprotocol,
                response_headers,
                close_code: None,
            })
        }
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            trace.record(name, format!("handshake {} answered {status}", options.path));
            Err(ConnectError::Status(status))
        }
        Err(e) => {
            trace.record(name, format!("handshake {} failed: {e}", options.path));
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
    target: (&str, u16),
    path: &str,
    backoff: &Backoff,
    rng: &mut R,
    trace: &Trace,
) -> Result<WsClient<T::Stream>, ConnectError> {
    let mut attempt = 0;
    loop {
        let options = ClientOptions::new(target.0, path, rng);
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
                    format!(
                        "connect to {}:{} timed out after {:?}",
                        target.0, target.1, backoff.attempt_timeout
                    ),
                );
                Err(ConnectError::TimedOut(backoff.attempt_timeout))
            }
        };
        match attempt_result {
            Ok(client) => return Ok(client),
            Err(e) if attempt + 1 >= backoff.max_attempts => return Err(e),
            Err(_) => {
                let delay = backoff.delay(attempt, rng);
                trace.record(name, format!("retry {} in {delay:?}", attempt + 1));
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        }
    }
}

impl<S: Stream> WsClient<S> {
    /// Sends a message. A failed send means the session is gone; the close
    /// code is then 1006 unless a Close frame was already seen.
    pub async fn send(&mut self, msg: Message) -> Result<(), u16> {
        let what = describe(&msg);
        match self.ws.send(msg).await {
            Ok(()) => {
                self.trace.record(&self.name, format!("sent {what}"));
                Ok(())
            }
            Err(_) => Err(self.ended()),
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
                self.trace.record(&self.name, format!("closed code={code}"));
                // Let tungstenite finish the closing handshake; the session
                // is over for the caller either way.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.ws.close(None)).await;
                Received::Closed(code)
            }
            Some(Ok(msg)) => {
                self.trace.record(&self.name, format!("recv {}", describe(&msg)));
                Received::Message(msg)
            }
            Some(Err(_)) | None => Received::Closed(self.ended()),
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

    /// The close code, once the session has ended.
    pub fn close_code(&self) -> Option<u16> {
        self.close_code
    }

    fn ended(&mut self) -> u16 {
        *self.close_code.get_or_insert_with(|| {
            self.trace
                .record(&self.name, format!("closed code={ABNORMAL_CLOSURE} (no close frame)"));
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
}
