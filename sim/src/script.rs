//! Scripted clients: what a scenario file's `[[clients]]` and
//! `[[requests]]` entries do, as data, on any transport. A WebSocket script
//! opens `count` sessions (each after its application's start, for SignalR
//! and socket.io clients, and each with a cookie jar), pings (and gives up
//! on a connection whose pongs stop), sends numbered messages, closes with
//! its code, and reconnects under a backoff policy when a session drops. A
//! request script sends plain HTTP requests. Every step goes into the
//! trace.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use gateway::transport::Transport;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::app::{self, ClientProtocol};
use crate::client::{
    self, Backoff, ClientEvent, ClientOptions, ConnectError, Connection, Received, Target, WsClient, ABNORMAL_CLOSURE,
};
use crate::cookies::CookieJar;
use crate::rotation::Rotation;
use crate::trace::Trace;
use crate::world::{derive_seed, ClientResult};

/// What each message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Binary of this many bytes (the first 8 are the sequence number).
    Size(usize),
    /// This text, prefixed with the sequence number.
    Text(String),
}

/// A message schedule: one message every `every`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Messages {
    pub every: Duration,
    pub payload: Payload,
}

/// One `[[clients]]` entry.
#[derive(Debug, Clone)]
pub struct ClientScript {
    /// Trace source: the name for one session, `name.1` … for several.
    pub name: String,
    pub count: usize,
    /// When the first session opens, from the start of the run.
    pub start: Duration,
    pub path: String,
    /// The `Host` header.
    pub host: String,
    pub subprotocols: Vec<String>,
    pub headers: Vec<(String, String)>,
    /// Where each session connects; session `i` uses `targets[i % len]`
    /// (one per gateway instance).
    pub targets: Vec<Target>,
    pub ping_interval: Option<Duration>,
    /// Give up on a connection whose pong has not come this long after a
    /// ping, as browser heartbeats do.
    pub pong_timeout: Option<Duration>,
    pub messages: Option<Messages>,
    /// Close this long after opening.
    pub close_after: Option<Duration>,
    /// The code of that close (default 1000).
    pub close_code: u16,
    /// After closing on purpose, open a new session this much later.
    pub reopen_after: Option<Duration>,
    /// Reconnect after an abnormal close or a failed handshake.
    pub retry: Option<Backoff>,
    /// Every session stops here (the scenario's duration).
    pub stop_at: Duration,
    /// Connect through the frontend's rotation (`gateway = "any"`): each
    /// attempt goes to the session's own instance if it is in rotation,
    /// else the next one that is.
    pub rotation: Option<Arc<Rotation>>,
    /// A plain WebSocket, or an application's start before it (`path` is
    /// then the SignalR hub or the socket.io path).
    pub protocol: ClientProtocol,
}

/// The target for a connection attempt of session `preferred`: through the
/// rotation when there is one.
fn choose(targets: &[Target], preferred: usize, rotation: Option<&Rotation>) -> Target {
    let n = targets.len().max(1);
    let i = match rotation {
        None => preferred % n,
        Some(r) => {
            let hosts: Vec<&str> = targets.iter().map(|t| t.host.as_str()).collect();
            r.pick(&hosts, preferred % n)
        }
    };
    targets.get(i).cloned().unwrap_or_else(|| Target::plain("", 0))
}

fn session_name(name: &str, count: usize, i: usize) -> String {
    if count == 1 {
        name.to_string()
    } else {
        format!("{name}.{}", i + 1)
    }
}

impl ClientScript {
    /// Runs every session of the script.
    pub async fn run<T: Transport>(self, transport: T, trace: Trace, seed: u64) -> ClientResult {
        let origin = Instant::now();
        let sessions = (0..self.count).map(|i| {
            let name = session_name(&self.name, self.count, i);
            let rng = StdRng::seed_from_u64(derive_seed(seed, &name));
            run_session(&self, &transport, name, i, rng, trace.clone(), origin)
        });
        for result in join_all(sessions).await {
            result?;
        }
        Ok(())
    }
}

/// How one connected session ended.
enum SessionEnd {
    /// The script's time is up or it closed on purpose.
    Done,
    /// Closed with this code; retry if abnormal.
    Closed(u16),
}

async fn run_session<T: Transport>(
    script: &ClientScript,
    transport: &T,
    name: String,
    index: usize,
    mut rng: StdRng,
    trace: Trace,
    origin: Instant,
) -> ClientResult {
    tokio::time::sleep_until(origin + script.start).await;
    let stop = origin + script.stop_at;
    let mut attempt = 0u32;
    // One jar for the member's whole life, as a browser keeps its cookies
    // across reconnects.
    let mut jar = CookieJar::new();
    loop {
        if Instant::now() >= stop {
            return Ok(());
        }
        let mut options = ClientOptions::new(&script.host, &script.path, &mut rng);
        options.subprotocols.clone_from(&script.subprotocols);
        options.headers.clone_from(&script.headers);
        let target = choose(&script.targets, index, script.rotation.as_deref());
        let connect = open(script, transport, &name, &target, options, &mut jar, &trace);
        let timeout = script
            .retry
            .map(|b| b.attempt_timeout)
            .unwrap_or(Duration::from_secs(3600));
        let opened = tokio::select! {
            biased;
            r = tokio::time::timeout(timeout, connect) => match r {
                Ok(r) => r,
                Err(_) => {
                    trace.record(&name, ClientEvent::TimedOut {
                        target: format!("{}:{}", target.host, target.port),
                        after: timeout,
                    });
                    Err(ConnectError::TimedOut(timeout))
                }
            },
            () = tokio::time::sleep_until(stop) => return Ok(()),
        };
        let end = match opened {
            Ok(mut ws) => {
                attempt = 0;
                drive(script, &mut ws, &trace, &name, stop).await
            }
            Err(ConnectError::Status(code)) => SessionEnd::Closed(code),
            Err(_) => SessionEnd::Closed(ABNORMAL_CLOSURE),
        };
        let code = match end {
            SessionEnd::Closed(code) => code,
            SessionEnd::Done => match script.reopen_after {
                Some(pause) if Instant::now() + pause < stop => {
                    tokio::time::sleep(pause).await;
                    continue;
                }
                _ => return Ok(()),
            },
        };
        let Some(backoff) = script.retry.filter(|_| code == ABNORMAL_CLOSURE || code >= 500) else {
            return Ok(());
        };
        if attempt >= backoff.max_attempts {
            trace.record(&name, ClientEvent::GaveUp { attempts: attempt });
            return Ok(());
        }
        let delay = backoff.delay(attempt, &mut rng);
        attempt += 1;
        trace.record(&name, ClientEvent::Retrying { attempt, delay });
        tokio::select! {
            biased;
            () = tokio::time::sleep(delay) => {}
            () = tokio::time::sleep_until(stop) => return Ok(()),
        }
    }
}

/// One attempt: the application's start (if any), then the handshake with
/// the jar's cookies; cookies the 101 sets go into the jar.
async fn open<T: Transport>(
    script: &ClientScript,
    transport: &T,
    name: &str,
    target: &Target,
    mut options: ClientOptions,
    jar: &mut CookieJar,
    trace: &Trace,
) -> Result<WsClient<Connection>, ConnectError> {
    let start = app::Start {
        name,
        target,
        host: &script.host,
        path: &script.path,
        trace,
    };
    options.path = app::start(script.protocol, transport, &start, jar).await?;
    if let Some(cookies) = jar.header() {
        options.headers.push(("cookie".to_string(), cookies));
    }
    let ws = client::connect(transport, name, target, &options, trace).await?;
    let set = jar.store(ws.response_headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    for c in set {
        trace.record(
            name,
            ClientEvent::CookieStored {
                name: c.name,
                attributes: c.attributes,
            },
        );
    }
    Ok(ws)
}

/// Sequence-numbered payloads, so echoes can be matched and ordered.
fn message(payload: &Payload, seq: u64) -> Message {
    match payload {
        Payload::Size(n) => {
            let mut bytes = vec![0u8; (*n).max(8)];
            bytes[..8].copy_from_slice(&seq.to_be_bytes());
            // The rest varies with the sequence, so a swapped or replayed
            // payload has another digest.
            for (i, b) in bytes[8..].iter_mut().enumerate() {
                *b = (seq as u8).wrapping_mul(31).wrapping_add(i as u8);
            }
            Message::Binary(Bytes::from(bytes))
        }
        Payload::Text(t) => Message::text(format!("{seq} {t}")),
    }
}

/// Pings, sends and reads until the session ends or time is up.
async fn drive(
    script: &ClientScript,
    ws: &mut WsClient<Connection>,
    trace: &Trace,
    name: &str,
    stop: Instant,
) -> SessionEnd {
    let opened = Instant::now();
    let close_at = script.close_after.map(|d| opened + d).unwrap_or(stop).min(stop);
    let mut next_ping = script.ping_interval.map(|i| opened + i);
    let mut next_msg = script.messages.as_ref().map(|m| opened + m.every);
    // When the pong for an outstanding ping must have come.
    let mut pong_due: Option<Instant> = None;
    let mut sent = 0u64;
    loop {
        let wake = [Some(close_at), next_ping, next_msg, pong_due]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(close_at);
        let woke = tokio::select! {
            biased;
            r = ws.recv() => match r {
                Received::Closed(code) => return SessionEnd::Closed(code),
                Received::Message(Message::Pong(_)) => {
                    pong_due = None;
                    false
                }
                Received::Message(_) => false,
            },
            () = tokio::time::sleep_until(wake) => true,
        };
        if !woke {
            continue;
        }
        let now = Instant::now();
        if now >= stop {
            // The run is over with the session still open: say so, and
            // close nothing (a close here would be the script's, not the
            // gateway's).
            trace.record(name, ClientEvent::StillOpen);
            return SessionEnd::Done;
        }
        if pong_due.is_some_and(|due| now >= due) {
            return SessionEnd::Closed(ws.abandon());
        }
        if now >= close_at {
            // Finish the closing handshake so the trace shows the code the
            // peer sent back.
            if ws.close(script.close_code).await.is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    while let Received::Message(_) = ws.recv().await {}
                })
                .await;
            }
            return SessionEnd::Done;
        }
        if next_ping.is_some_and(|p| now >= p) {
            if ws.send(Message::Ping(Bytes::from_static(b"ping"))).await.is_ok() && pong_due.is_none() {
                pong_due = script.pong_timeout.map(|t| now + t);
            }
            next_ping = next_ping.zip(script.ping_interval).map(|(p, i)| p + i);
        }
        if let (Some(at), Some(m)) = (next_msg, &script.messages) {
            if now >= at {
                sent += 1;
                let _ = ws.send(message(&m.payload, sent)).await;
                next_msg = Some(at + m.every);
            }
        }
    }
}

/// One `[[requests]]` entry: plain HTTP requests, one after another, each
/// on a new connection.
#[derive(Debug, Clone)]
pub struct RequestScript {
    /// Trace source: the name for one request, `name.1` … for several.
    pub name: String,
    pub count: usize,
    /// When the first request goes out.
    pub start: Duration,
    /// The time between one request's start and the next (default: as
    /// soon as the previous one is answered).
    pub every: Option<Duration>,
    pub method: http::Method,
    pub path: String,
    /// The `Host` header; empty for none.
    pub host: String,
    /// Sent after Host, in order; a second `Host` here makes two.
    pub headers: Vec<(String, String)>,
    pub targets: Vec<Target>,
    /// Bytes sent as they are instead of a request built from the fields
    /// above: malformed, partial or oversized heads. The status is read from
    /// the first line of whatever comes back.
    pub raw: Option<Vec<u8>>,
    /// A request unanswered after this long is recorded as failed.
    pub timeout: Duration,
    pub stop_at: Duration,
    /// Send through the frontend's rotation, as [`ClientScript::rotation`].
    pub rotation: Option<Arc<Rotation>>,
}

impl RequestScript {
    /// Sends every request of the script.
    pub async fn run<T: Transport>(self, transport: T, trace: Trace) -> ClientResult {
        let origin = Instant::now();
        for i in 0..self.count {
            let start = origin + self.start + self.every.map_or(Duration::ZERO, |e| e * i as u32);
            tokio::time::sleep_until(start).await;
            if Instant::now() >= origin + self.stop_at {
                break;
            }
            let name = session_name(&self.name, self.count, i);
            let target = &choose(&self.targets, i, self.rotation.as_deref());
            trace.record(
                &name,
                ClientEvent::RequestSent {
                    method: self.method.to_string(),
                    path: self.path.clone(),
                },
            );
            let event = match tokio::time::timeout(self.timeout, self.send(&transport, &name, target, &trace)).await {
                Ok(Ok(status)) => ClientEvent::Response { status },
                Ok(Err(error)) => ClientEvent::RequestFailed { error },
                Err(_) => ClientEvent::RequestFailed {
                    error: format!("no answer within {}", humantime::format_duration(self.timeout)),
                },
            };
            trace.record(&name, event);
        }
        Ok(())
    }

    async fn send<T: Transport>(
        &self,
        transport: &T,
        name: &str,
        target: &Target,
        trace: &Trace,
    ) -> Result<u16, String> {
        let stream = client::dial(transport, name, target, trace)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(raw) = &self.raw {
            return send_raw(stream, raw).await;
        }
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str());
        // An empty host sends no Host header at all (a malformed request).
        if !self.host.is_empty() {
            req = req.header("host", self.host.as_str());
        }
        for (n, v) in &self.headers {
            req = req.header(n.as_str(), v.as_str());
        }
        let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        // Read the body so the exchange is whole.
        resp.into_body().collect().await.map_err(|e| e.to_string())?;
        Ok(status)
    }
}

/// Writes `raw` and reads the answer's status line. The connection stays
/// open after the write, so a partial head waits on the gateway's timers.
async fn send_raw(mut stream: client::Connection, raw: &[u8]) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(raw).await.map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(status) = status_of(&got) {
            return Ok(status);
        }
        match stream.read(&mut chunk).await {
            Ok(0) => return Err("closed without a response".into()),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The status code of a response whose first line has arrived.
fn status_of(got: &[u8]) -> Option<u16> {
    let line_end = got.iter().position(|b| *b == b'\n')?;
    let line = std::str::from_utf8(&got[..line_end]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_read_once_its_line_is_whole() {
        assert_eq!(status_of(b"HTTP/1.1 408 Request Timeout\r\n"), Some(408));
        assert_eq!(status_of(b"HTTP/1.1 408 Req"), None);
        assert_eq!(status_of(b"garbage\n"), None);
    }

    #[test]
    fn payloads_carry_their_sequence_and_differ() {
        let a = message(&Payload::Size(64), 42);
        let Message::Binary(bytes) = &a else { panic!("binary") };
        assert_eq!(&bytes[..8], &42u64.to_be_bytes());
        assert_ne!(a, message(&Payload::Size(64), 43));
        assert_eq!(message(&Payload::Text("hi".into()), 9), Message::text("9 hi"));
        let Message::Binary(short) = message(&Payload::Size(2), 7) else {
            panic!("binary")
        };
        assert_eq!(short.len(), 8, "at least the sequence number");
    }
}
