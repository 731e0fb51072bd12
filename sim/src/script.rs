//! Scripted client behaviour: what a scenario file's `[[clients]]` entry
//! does, as data. A script opens `count` sessions, pings, sends numbered
//! messages, checks their echoes, and reconnects under a backoff policy
//! when a session drops; every step goes into the trace.

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Backoff, ClientOptions, ConnectError, Received, WsClient, ABNORMAL_CLOSURE};
use crate::world::{derive_seed, ClientEnv, ClientResult};
use crate::TurmoilTransport;

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
#[derive(Debug, Clone, PartialEq)]
pub struct ClientScript {
    /// Trace source: the name for one session, `name.1` … for several.
    pub name: String,
    pub count: usize,
    /// When the first session opens, from the start of the run.
    pub start: Duration,
    pub path: String,
    pub subprotocols: Vec<String>,
    pub headers: Vec<(String, String)>,
    /// Gateway instance hosts; session `i` uses `gateways[i % len]`.
    pub gateways: Vec<String>,
    pub port: u16,
    pub ping_interval: Option<Duration>,
    pub messages: Option<Messages>,
    /// Close with 1000 this long after opening.
    pub close_after: Option<Duration>,
    /// After closing on purpose, open a new session this much later.
    pub reopen_after: Option<Duration>,
    /// Reconnect after an abnormal close or a failed handshake.
    pub retry: Option<Backoff>,
    /// Every session stops here (the scenario's duration).
    pub stop_at: Duration,
}

impl ClientScript {
    fn session_name(&self, i: usize) -> String {
        if self.count == 1 {
            self.name.clone()
        } else {
            format!("{}.{}", self.name, i + 1)
        }
    }

    /// Runs every session of the script on the client host.
    pub async fn run(self, env: ClientEnv) -> ClientResult {
        let origin = Instant::now();
        let sessions = (0..self.count).map(|i| {
            let name = self.session_name(i);
            let gateway = self.gateways[i % self.gateways.len().max(1)].clone();
            let rng = StdRng::seed_from_u64(derive_seed(env.seed, &name));
            run_session(&self, name, gateway, rng, env.trace.clone(), origin)
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

async fn run_session(
    script: &ClientScript,
    name: String,
    gateway: String,
    mut rng: StdRng,
    trace: crate::Trace,
    origin: Instant,
) -> ClientResult {
    tokio::time::sleep_until(origin + script.start).await;
    let stop = origin + script.stop_at;
    let mut attempt = 0u32;
    loop {
        if Instant::now() >= stop {
            return Ok(());
        }
        let mut options = ClientOptions::new(&gateway, &script.path, &mut rng);
        options.subprotocols.clone_from(&script.subprotocols);
        options.headers.clone_from(&script.headers);
        let connect = client::connect(
            &TurmoilTransport,
            &name,
            (gateway.as_str(), script.port),
            &options,
            &trace,
        );
        let timeout = script
            .retry
            .map(|b| b.attempt_timeout)
            .unwrap_or(Duration::from_secs(3600));
        let opened = tokio::select! {
            biased;
            r = tokio::time::timeout(timeout, connect) => match r {
                Ok(r) => r,
                Err(_) => {
                    trace.record(&name, format!("connect to {gateway}:{} timed out after {timeout:?}", script.port));
                    Err(ConnectError::TimedOut(timeout))
                }
            },
            () = tokio::time::sleep_until(stop) => return Ok(()),
        };
        let end = match opened {
            Ok(mut ws) => {
                attempt = 0;
                drive(script, &name, &mut ws, &trace, stop).await
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
            trace.record(&name, format!("giving up after {attempt} retries"));
            return Ok(());
        }
        let delay = backoff.delay(attempt, &mut rng);
        attempt += 1;
        trace.record(&name, format!("retry {attempt} in {delay:?}"));
        tokio::select! {
            biased;
            () = tokio::time::sleep(delay) => {}
            () = tokio::time::sleep_until(stop) => return Ok(()),
        }
    }
}

/// Sequence-numbered payloads, so echoes can be matched and ordered.
fn message(payload: &Payload, seq: u64) -> Message {
    match payload {
        Payload::Size(n) => {
            let mut bytes = vec![0u8; (*n).max(8)];
            bytes[..8].copy_from_slice(&seq.to_be_bytes());
            Message::Binary(Bytes::from(bytes))
        }
        Payload::Text(t) => Message::text(format!("{seq} {t}")),
    }
}

fn sequence_of(msg: &Message) -> Option<u64> {
    match msg {
        Message::Binary(b) if b.len() >= 8 => b[..8].try_into().ok().map(u64::from_be_bytes),
        Message::Text(t) => t.as_str().split(' ').next()?.parse().ok(),
        _ => None,
    }
}

/// Pings, sends and checks echoes until the session ends or time is up.
async fn drive(
    script: &ClientScript,
    name: &str,
    ws: &mut WsClient<turmoil::net::TcpStream>,
    trace: &crate::Trace,
    stop: Instant,
) -> SessionEnd {
    let opened = Instant::now();
    let close_at = script.close_after.map(|d| opened + d).unwrap_or(stop).min(stop);
    let mut next_ping = script.ping_interval.map(|i| opened + i);
    let mut next_msg = script.messages.as_ref().map(|m| opened + m.every);
    let (mut sent, mut echoed, mut in_order) = (0u64, 0u64, true);
    let summary = |sent: u64, echoed: u64, in_order: bool| {
        if script.messages.is_some() {
            let order = if in_order { "in order" } else { "OUT OF ORDER" };
            trace.record(name, format!("echoed {echoed} of {sent} messages, {order}"));
        }
    };
    loop {
        let wake = [Some(close_at), next_ping, next_msg]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(close_at);
        let woke = tokio::select! {
            biased;
            r = ws.recv() => match r {
                Received::Closed(code) => {
                    summary(sent, echoed, in_order);
                    return SessionEnd::Closed(code);
                }
                Received::Message(m) => {
                    if let Some(seq) = sequence_of(&m) {
                        in_order &= seq == echoed + 1;
                        echoed += 1;
                    }
                    false
                }
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
            summary(sent, echoed, in_order);
            trace.record(name, "still open at the end of the run");
            return SessionEnd::Done;
        }
        if now >= close_at {
            summary(sent, echoed, in_order);
            // Finish the closing handshake so the trace shows the code the
            // peer sent back.
            if ws.close(1000).await.is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    while let Received::Message(_) = ws.recv().await {}
                })
                .await;
            }
            return SessionEnd::Done;
        }
        if next_ping.is_some_and(|p| now >= p) {
            let _ = ws.send(Message::Ping(Bytes::from_static(b"ping"))).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_round_trip() {
        assert_eq!(sequence_of(&message(&Payload::Size(64), 42)), Some(42));
        assert_eq!(sequence_of(&message(&Payload::Size(2), 7)), Some(7), "at least 8 bytes");
        assert_eq!(sequence_of(&message(&Payload::Text("hi there".into()), 9)), Some(9));
    }
}
