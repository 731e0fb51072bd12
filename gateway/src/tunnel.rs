//! The upgraded session: bytes relayed both ways, frames never parsed.
//!
//! Each direction is a pump that reads and writes until end-of-stream, then
//! half-closes its writer, so a FIN from one side reaches the other. An error
//! on either side (reset, broken pipe) ends the whole session at once:
//! dropping both streams closes both connections.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::event::{CloseReason, Side};
use crate::session::{self, Expiry, SessionPolicy};

/// Bytes a direction buffers per read. Matches tokio's `copy`; frames larger
/// than this simply take several reads.
const CHUNK: usize = 8 * 1024;

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Who ended it: the side whose stream ended or failed first.
    pub by: Side,
    pub reason: CloseReason,
    pub bytes_from_client: u64,
    pub bytes_from_backend: u64,
}

/// How one direction ended.
#[derive(Debug)]
enum PumpEnd {
    /// The reader reached end-of-stream and the writer was half-closed.
    Eof,
    /// A read or write failed; `Side` says where.
    Failed(Side, std::io::Error),
}

/// When the last byte moved in either direction, as nanoseconds since the
/// session opened; the pumps write it, the watchdog reads it.
struct Activity {
    opened: Instant,
    last_nanos: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let nanos = u64::try_from(self.opened.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_nanos.store(nanos, Ordering::Relaxed);
    }

    fn last(&self) -> Duration {
        Duration::from_nanos(self.last_nanos.load(Ordering::Relaxed))
    }
}

/// Sleeps until a session timer fires and says which. Re-arms after every
/// wake-up, since activity may have moved the idle deadline meanwhile.
async fn watchdog(activity: &Activity, policy: SessionPolicy) -> Expiry {
    loop {
        let Some((at, _)) = session::next_deadline(activity.last(), &policy) else {
            return std::future::pending().await;
        };
        tokio::time::sleep_until(activity.opened + at).await;
        if let Some(why) = session::expired(activity.opened.elapsed(), activity.last(), &policy) {
            return why;
        }
    }
}

async fn pump<R, W>(
    mut from: R,
    mut to: W,
    from_side: Side,
    to_side: Side,
    count: &mut u64,
    activity: &Activity,
) -> PumpEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return PumpEnd::Failed(from_side, e),
        };
        *count += n as u64;
        activity.touch();
        if let Err(e) = to.write_all(&buf[..n]).await {
            return PumpEnd::Failed(to_side, e);
        }
        if let Err(e) = to.flush().await {
            return PumpEnd::Failed(to_side, e);
        }
    }
    match to.shutdown().await {
        Ok(()) => PumpEnd::Eof,
        // The other side already went away; that is its end, not ours.
        Err(e) => PumpEnd::Failed(to_side, e),
    }
}

/// Relays between an upgraded client and backend until both directions end,
/// one fails, a session timer fires or `dropped` completes (maintenance). On
/// a timer or a drop both connections are closed without a Close frame, so
/// the client sees 1006.
pub async fn relay<C, B>(client: C, backend: B, policy: SessionPolicy, dropped: impl Future<Output = ()>) -> Outcome
where
    C: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let activity = Activity {
        opened: Instant::now(),
        last_nanos: AtomicU64::new(0),
    };
    let (client_r, client_w) = tokio::io::split(client);
    let (backend_r, backend_w) = tokio::io::split(backend);
    let (mut up_bytes, mut down_bytes) = (0u64, 0u64);
    // The pumps borrow the counters; they are dropped (closing both
    // connections) at the end of this block, before the counts are read.
    let (by, reason) = {
        let up = pump(
            client_r,
            backend_w,
            Side::Client,
            Side::Backend,
            &mut up_bytes,
            &activity,
        );
        let down = pump(
            backend_r,
            client_w,
            Side::Backend,
            Side::Client,
            &mut down_bytes,
            &activity,
        );
        let timers = watchdog(&activity, policy);
        tokio::pin!(up, down, timers, dropped);

        let mut up_done = false;
        let mut down_done = false;
        let mut first_eof: Option<Side> = None;
        loop {
            // Maintenance first, then data (so a byte arriving at the very
            // deadline counts as activity), then the timers.
            let (end, eof_side) = tokio::select! {
                biased;
                () = &mut dropped => break (Side::Gateway, CloseReason::Maintenance),
                end = &mut up, if !up_done => { up_done = true; (end, Side::Client) }
                end = &mut down, if !down_done => { down_done = true; (end, Side::Backend) }
                why = &mut timers => break (Side::Gateway, match why {
                    Expiry::Idle => CloseReason::IdleTimeout,
                    Expiry::Lifetime => CloseReason::Lifetime,
                }),
            };
            match end {
                PumpEnd::Eof if up_done && down_done => break (first_eof.unwrap_or(eof_side), CloseReason::Closed),
                PumpEnd::Eof => {
                    first_eof.get_or_insert(eof_side);
                }
                PumpEnd::Failed(side, e) => break (side, CloseReason::Error(e.kind().to_string())),
            }
        }
    };
    Outcome {
        by,
        reason,
        bytes_from_client: up_bytes,
        bytes_from_backend: down_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    #[tokio::test]
    async fn relays_both_ways_and_half_closes() {
        let (mut client, gw_client) = duplex(64);
        let (gw_backend, mut backend) = duplex(64);
        let relay = tokio::spawn(relay(
            gw_client,
            gw_backend,
            SessionPolicy::default(),
            std::future::pending(),
        ));

        client.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        backend.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");

        // The client half-closes: the backend sees EOF but can still answer.
        client.shutdown().await.unwrap();
        let mut rest = Vec::new();
        backend.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        backend.write_all(b"bye").await.unwrap();
        backend.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");

        let outcome = relay.await.unwrap();
        assert_eq!(outcome.by, Side::Client);
        assert_eq!(outcome.reason, CloseReason::Closed);
        assert_eq!((outcome.bytes_from_client, outcome.bytes_from_backend), (5, 3));
    }

    #[tokio::test]
    async fn a_vanished_backend_ends_the_session() {
        let (mut client, gw_client) = duplex(64);
        let (gw_backend, backend) = duplex(64);
        let relay = tokio::spawn(relay(
            gw_client,
            gw_backend,
            SessionPolicy::default(),
            std::future::pending(),
        ));
        drop(backend);
        // The client is closed too: it reads end-of-stream.
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        let _ = client.write_all(b"late").await;
        drop(client);
        let outcome = relay.await.unwrap();
        assert_eq!(outcome.by, Side::Backend);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_sessions_close_at_the_deadline_without_a_close_frame() {
        let (mut client, gw_client) = duplex(64);
        let (gw_backend, _backend) = duplex(64);
        let policy = SessionPolicy {
            idle: Some(Duration::from_secs(15)),
            lifetime: None,
        };
        let start = Instant::now();
        let relay = tokio::spawn(relay(gw_client, gw_backend, policy, std::future::pending()));
        tokio::time::sleep(Duration::from_secs(10)).await;
        client.write_all(b"x").await.unwrap();
        let outcome = relay.await.unwrap();
        assert_eq!(outcome.reason, CloseReason::IdleTimeout);
        assert_eq!(start.elapsed(), Duration::from_secs(25), "15 s after the last byte");
        // The client reads end-of-stream: no Close frame was written.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn lifetime_closes_a_busy_session() {
        let (mut client, gw_client) = duplex(1024);
        let (gw_backend, mut backend) = duplex(1024);
        let policy = SessionPolicy {
            idle: Some(Duration::from_secs(300)),
            lifetime: Some(Duration::from_secs(3600)),
        };
        let start = Instant::now();
        let relay = tokio::spawn(relay(gw_client, gw_backend, policy, std::future::pending()));
        let chatter = tokio::spawn(async move {
            let mut buf = [0u8; 1];
            loop {
                tokio::time::sleep(Duration::from_secs(20)).await;
                if client.write_all(b"p").await.is_err() || backend.read_exact(&mut buf).await.is_err() {
                    break;
                }
            }
        });
        let outcome = relay.await.unwrap();
        assert_eq!(outcome.reason, CloseReason::Lifetime);
        assert_eq!(start.elapsed(), Duration::from_secs(3600));
        chatter.abort();
    }

    #[tokio::test]
    async fn maintenance_drops_the_session() {
        let (_client, gw_client) = duplex(64);
        let (gw_backend, _backend) = duplex(64);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let relay = tokio::spawn(relay(gw_client, gw_backend, SessionPolicy::default(), async move {
            let _ = rx.await;
        }));
        tx.send(()).unwrap();
        let outcome = relay.await.unwrap();
        assert_eq!((outcome.by, outcome.reason), (Side::Gateway, CloseReason::Maintenance));
    }
}
