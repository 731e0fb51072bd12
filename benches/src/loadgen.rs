//! The project's closed-loop WebSocket load generator.
//!
//! Closed loop: each session sends one message and waits for its echo before
//! sending the next, so the offered load adapts to what the path can carry
//! and every round trip is a latency sample. Every socket sets TCP_NODELAY,
//! as browsers and the gateway do. Keys come from tungstenite's own RNG:
//! nothing here needs to be reproducible, only fast.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::stats::Latencies;
use crate::BenchError;

/// An open client session.
pub type Ws = WebSocketStream<TcpStream>;

/// The clients' read buffer. tungstenite zero-fills its whole read buffer
/// (128 KiB by default) before every read, which at tens of thousands of
/// small messages a second would make the load generator, sharing the
/// machine with the proxy, burn a core on memset. 8 KiB is the gateway's own
/// relay chunk; larger messages simply take several reads.
const READ_BUFFER: usize = 8 * 1024;

/// Opens one session to `addr`: TCP connect, then the upgrade handshake.
pub async fn connect(addr: SocketAddr) -> Result<Ws, BenchError> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(format!("ws://{addr}/bench"), tcp, Some(config)).await?;
    Ok(ws)
}

/// Opens `n` sessions, at most `parallel` handshakes at a time (a burst of
/// thousands would only overflow listen backlogs and measure SYN retries).
pub async fn open(addr: SocketAddr, n: usize, parallel: usize) -> Result<Vec<Ws>, BenchError> {
    futures_util::stream::iter(0..n)
        .map(|_| connect(addr))
        .buffer_unordered(parallel.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Sends `payload` and waits for its echo, skipping control frames.
pub async fn round_trip(ws: &mut Ws, payload: &Bytes) -> Result<(), BenchError> {
    ws.send(Message::Binary(payload.clone())).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(_) | Message::Text(_))) => return Ok(()),
            Some(Ok(Message::Close(_))) | None => return Err("session closed mid-echo".into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

/// Runs `iters` round trips on every session concurrently (one task per
/// session) and returns the wall time for all of them. `sessions` is handed
/// back in place. This is what criterion times: per iteration, each session
/// completes one round trip, so time/iter is the mean round-trip latency
/// under that many concurrent sessions.
pub async fn rounds(sessions: &mut Vec<Ws>, payload: &Bytes, iters: u64) -> Result<Duration, BenchError> {
    let start = Instant::now();
    let tasks: Vec<_> = std::mem::take(sessions)
        .into_iter()
        .map(|mut ws| {
            let payload = payload.clone();
            tokio::spawn(async move {
                for _ in 0..iters {
                    round_trip(&mut ws, &payload).await?;
                }
                Ok::<_, BenchError>(ws)
            })
        })
        .collect();
    for task in tasks {
        sessions.push(task.await??);
    }
    Ok(start.elapsed())
}

/// What a timed closed-loop echo run measured.
#[derive(Debug, Clone)]
pub struct EchoRun {
    /// Round trips that started inside the measurement window.
    pub messages: u64,
    /// Every round trip, warm-up included: what a proxy's CPU time over the
    /// whole run is divided by.
    pub all_messages: u64,
    pub window: Duration,
    pub latencies: Latencies,
}

impl EchoRun {
    pub fn per_second(&self) -> f64 {
        self.messages as f64 / self.window.as_secs_f64()
    }
}

/// Opens `sessions` sessions to `addr` and runs them closed-loop with
/// `size`-byte binary messages: `warmup` unrecorded, then `window` recorded.
pub async fn echo_load(
    addr: SocketAddr,
    sessions: usize,
    size: usize,
    warmup: Duration,
    window: Duration,
) -> Result<EchoRun, BenchError> {
    let streams = open(addr, sessions, sessions).await?;
    let payload = Bytes::from(vec![0xa5u8; size]);
    let from = Instant::now() + warmup;
    let until = from + window;
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|ws| tokio::spawn(echo_session(ws, payload.clone(), from, until)))
        .collect();
    let (mut samples, mut all_messages) = (Vec::new(), 0);
    for task in tasks {
        let (s, all) = task.await??;
        samples.extend(s);
        all_messages += all;
    }
    Ok(EchoRun {
        messages: samples.len() as u64,
        all_messages,
        window,
        latencies: Latencies::from_nanos(samples),
    })
}

async fn echo_session(
    mut ws: Ws,
    payload: Bytes,
    from: Instant,
    until: Instant,
) -> Result<(Vec<u64>, u64), BenchError> {
    let (mut samples, mut all) = (Vec::new(), 0);
    loop {
        let sent = Instant::now();
        if sent >= until {
            break;
        }
        round_trip(&mut ws, &payload).await?;
        all += 1;
        if sent >= from {
            samples.push(sent.elapsed().as_nanos() as u64);
        }
    }
    // Best effort: the echo answers the Close; nobody waits for it.
    let _ = ws.close(None).await;
    Ok((samples, all))
}

/// What a timed handshake run measured.
#[derive(Debug, Clone)]
pub struct HandshakeRun {
    /// Handshakes (TCP connect + upgrade to 101) started and completed
    /// inside the window.
    pub handshakes: u64,
    /// Every handshake, warm-up included (see [`EchoRun::all_messages`]).
    pub all_handshakes: u64,
    /// Attempts that failed inside the window (refused, reset, port
    /// exhaustion): printed, never silently dropped.
    pub failures: u64,
    pub window: Duration,
    pub latencies: Latencies,
}

impl HandshakeRun {
    pub fn per_second(&self) -> f64 {
        self.handshakes as f64 / self.window.as_secs_f64()
    }
}

/// `parallel` workers each connect, upgrade and drop a session, over and
/// over: `warmup` unrecorded, then `window` recorded. Dropping sends a FIN,
/// so the proxy tears down both sides as a real client leaving would.
pub async fn handshake_load(
    addr: SocketAddr,
    parallel: usize,
    warmup: Duration,
    window: Duration,
) -> Result<HandshakeRun, BenchError> {
    let from = Instant::now() + warmup;
    let until = from + window;
    let tasks: Vec<_> = (0..parallel.max(1))
        .map(|_| tokio::spawn(handshake_worker(addr, from, until)))
        .collect();
    let (mut samples, mut failures, mut all_handshakes) = (Vec::new(), 0, 0);
    for task in tasks {
        let (s, f, all) = task.await?;
        samples.extend(s);
        failures += f;
        all_handshakes += all;
    }
    Ok(HandshakeRun {
        handshakes: samples.len() as u64,
        all_handshakes,
        failures,
        window,
        latencies: Latencies::from_nanos(samples),
    })
}

async fn handshake_worker(addr: SocketAddr, from: Instant, until: Instant) -> (Vec<u64>, u64, u64) {
    let (mut samples, mut failures, mut all) = (Vec::new(), 0, 0);
    loop {
        let started = Instant::now();
        if started >= until {
            break;
        }
        match connect(addr).await {
            Ok(ws) => {
                all += 1;
                if started >= from {
                    samples.push(started.elapsed().as_nanos() as u64);
                }
                drop(ws);
            }
            Err(_) => {
                if started >= from {
                    failures += 1;
                }
                // Do not spin on a refusing or exhausted path.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    (samples, failures, all)
}

/// Opens `n` sessions that each echo one `size`-byte message and then sit
/// idle: what the memory figure holds open. One message first, because an
/// idle session in production has usually carried traffic, and a proxy that
/// allocates buffers lazily should show what it keeps after using them.
pub async fn open_idle(addr: SocketAddr, n: usize, parallel: usize, size: usize) -> Result<Vec<Ws>, BenchError> {
    let payload = Bytes::from(vec![0x5au8; size]);
    futures_util::stream::iter(0..n)
        .map(|_| {
            let payload = payload.clone();
            async move {
                let mut ws = connect(addr).await?;
                round_trip(&mut ws, &payload).await?;
                Ok::<_, BenchError>(ws)
            }
        })
        .buffer_unordered(parallel.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}
