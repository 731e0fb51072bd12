//! The upgraded session: bytes relayed both ways, frames never parsed.
//!
//! Each direction is a pump that reads and writes until end-of-stream, then
//! half-closes its writer, so a FIN from one side reaches the other. An error
//! on either side (reset, broken pipe) ends the whole session at once:
//! dropping both streams closes both connections.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::buffers::{self, Size};
use crate::event::{CloseReason, Side};
use crate::session::{self, Expiry, SessionPolicy};

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
async fn watchdog(activity: &Activity, policy: &SessionPolicy) -> CloseReason {
    loop {
        let Some((at, _)) = session::next_deadline(activity.last(), policy) else {
            return std::future::pending().await;
        };
        tokio::time::sleep_until(session::deadline(activity.opened, at)).await;
        // `expired` only names a timer the policy has, so each arm finds one.
        match session::expired(activity.opened.elapsed(), activity.last(), policy) {
            Some(Expiry::Idle) => {
                if let Some(timer) = &policy.idle {
                    return CloseReason::IdleTimeout(timer.clone());
                }
            }
            Some(Expiry::Lifetime) => {
                if let Some(timer) = &policy.lifetime {
                    return CloseReason::Lifetime(timer.clone());
                }
            }
            Some(Expiry::FrontendIdle) => {
                if let Some(timer) = &policy.frontend_idle {
                    return CloseReason::FrontendIdle(timer.clone());
                }
            }
            None => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Reading,
    /// Writing `buf[pos..len]`.
    Writing,
    Flushing,
    ShuttingDown,
}

/// One direction of a session: read, write, flush, until end-of-stream, then
/// half-close the writer. Polled by hand so it can hand its buffer back while
/// waiting to read, and so both directions can share the two streams
/// without splitting them (a split puts a lock on every read and write).
struct Direction {
    from_side: Side,
    to_side: Side,
    step: Step,
    buf: Option<Box<[u8]>>,
    /// The size of the next read's buffer (see [`buffers::next_size`]).
    size: Size,
    pos: usize,
    len: usize,
    count: u64,
    done: bool,
}

impl Direction {
    fn new(from_side: Side, to_side: Side) -> Direction {
        Direction {
            from_side,
            to_side,
            step: Step::Reading,
            buf: None,
            size: Size::Small,
            pos: 0,
            len: 0,
            count: 0,
            done: false,
        }
    }

    fn release(&mut self) {
        if let Some(buf) = self.buf.take() {
            buffers::give_back(buf);
        }
    }

    /// Moves bytes from `from` to `to` until it would block or the
    /// direction ends.
    fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut from: Pin<&mut R>,
        mut to: Pin<&mut W>,
        activity: &Activity,
    ) -> Poll<PumpEnd>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        loop {
            match self.step {
                Step::Reading => {
                    let mut buf = self.buf.take().unwrap_or_else(|| buffers::borrow(self.size));
                    let mut read = ReadBuf::new(&mut buf);
                    match from.as_mut().poll_read(cx, &mut read) {
                        Poll::Pending => {
                            // Nothing was read, so nothing is lost by giving
                            // the buffer back until the next wake-up.
                            buffers::give_back(buf);
                            return Poll::Pending;
                        }
                        Poll::Ready(Err(e)) => {
                            buffers::give_back(buf);
                            return Poll::Ready(PumpEnd::Failed(self.from_side, e));
                        }
                        Poll::Ready(Ok(())) => {
                            let n = read.filled().len();
                            if n == 0 {
                                buffers::give_back(buf);
                                self.step = Step::ShuttingDown;
                                continue;
                            }
                            self.count += n as u64;
                            activity.touch();
                            self.size = buffers::next_size(self.size, n);
                            self.buf = Some(buf);
                            (self.pos, self.len) = (0, n);
                            self.step = Step::Writing;
                        }
                    }
                }
                Step::Writing => {
                    let Some(buf) = self.buf.as_ref() else {
                        self.step = Step::Reading;
                        continue;
                    };
                    match to.as_mut().poll_write(cx, &buf[self.pos..self.len]) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return Poll::Ready(PumpEnd::Failed(self.to_side, e)),
                        Poll::Ready(Ok(0)) => {
                            return Poll::Ready(PumpEnd::Failed(self.to_side, std::io::ErrorKind::WriteZero.into()))
                        }
                        Poll::Ready(Ok(k)) => {
                            self.pos += k;
                            if self.pos == self.len {
                                self.step = Step::Flushing;
                            }
                        }
                    }
                }
                Step::Flushing => match to.as_mut().poll_flush(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(PumpEnd::Failed(self.to_side, e)),
                    Poll::Ready(Ok(())) => {
                        self.release();
                        self.step = Step::Reading;
                    }
                },
                Step::ShuttingDown => {
                    return match to.as_mut().poll_shutdown(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(Ok(())) => Poll::Ready(PumpEnd::Eof),
                        // The other side already went away; that is its
                        // end, not ours.
                        Poll::Ready(Err(e)) => Poll::Ready(PumpEnd::Failed(self.to_side, e)),
                    };
                }
            }
        }
    }
}

impl Drop for Direction {
    fn drop(&mut self) {
        self.release();
    }
}

/// Relays between an upgraded client and backend until both directions end,
/// one fails, a session timer fires or `dropped` completes with the reason
/// (maintenance, the end of a drain). On a timer or a drop both connections
/// are closed without a Close frame, so the client sees 1006.
pub async fn relay<C, B, D>(mut client: C, mut backend: B, policy: &SessionPolicy, mut dropped: D) -> Outcome
where
    C: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
    D: Future<Output = CloseReason> + Unpin,
{
    // Every value here lives as long as the session, once per open session:
    // the streams and `dropped` are used in place (not moved into new
    // bindings, which would keep both copies in the future), and the policy
    // is borrowed from the caller.
    let activity = Activity {
        opened: Instant::now(),
        last_nanos: AtomicU64::new(0),
    };
    let mut up = Direction::new(Side::Client, Side::Backend);
    let mut down = Direction::new(Side::Backend, Side::Client);
    let timers = watchdog(&activity, policy);
    tokio::pin!(timers);
    let mut first_eof: Option<Side> = None;
    // Maintenance first, then data (so a byte arriving at the very deadline
    // counts as activity), then the timers: a fixed order, as a biased
    // select would poll them.
    let (by, reason) = std::future::poll_fn(|cx| {
        if let Poll::Ready(reason) = Pin::new(&mut dropped).poll(cx) {
            return Poll::Ready((Side::Gateway, reason));
        }
        for (dir, up_direction) in [(&mut up, true), (&mut down, false)] {
            if dir.done {
                continue;
            }
            let end = if up_direction {
                dir.poll(cx, Pin::new(&mut client), Pin::new(&mut backend), &activity)
            } else {
                dir.poll(cx, Pin::new(&mut backend), Pin::new(&mut client), &activity)
            };
            match end {
                Poll::Pending => {}
                Poll::Ready(PumpEnd::Eof) => {
                    dir.done = true;
                    first_eof.get_or_insert(dir.from_side);
                }
                Poll::Ready(PumpEnd::Failed(side, e)) => {
                    return Poll::Ready((side, CloseReason::Error(e.kind())));
                }
            }
        }
        if up.done && down.done {
            return Poll::Ready((first_eof.unwrap_or(Side::Client), CloseReason::Closed));
        }
        match timers.as_mut().poll(cx) {
            Poll::Ready(reason) => Poll::Ready((Side::Gateway, reason)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await;
    // Dropping both streams here closes both connections; when they are
    // lent (`&mut`, as the proxy lends them), the owner drops them next.
    drop((client, backend));
    Outcome {
        by,
        reason,
        bytes_from_client: up.count,
        bytes_from_backend: down.count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

    /// `relay` on its own task, owning its policy, as the proxy runs it.
    fn spawn_relay<C, B>(
        client: C,
        backend: B,
        policy: SessionPolicy,
        dropped: impl Future<Output = CloseReason> + Send + 'static,
    ) -> tokio::task::JoinHandle<Outcome>
    where
        C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        B: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        tokio::spawn(async move { relay(client, backend, &policy, Box::pin(dropped)).await })
    }

    #[tokio::test]
    async fn relays_both_ways_and_half_closes() {
        let (mut client, gw_client) = duplex(64);
        let (gw_backend, mut backend) = duplex(64);
        let relay = spawn_relay(gw_client, gw_backend, SessionPolicy::default(), std::future::pending());

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
        let relay = spawn_relay(gw_client, gw_backend, SessionPolicy::default(), std::future::pending());
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
        let idle = crate::session::Timer::key(Duration::from_secs(15), "backend_settings[0].request_timeout");
        let policy = SessionPolicy {
            idle: Some(idle.clone()),
            lifetime: None,
            frontend_idle: None,
        };
        let start = Instant::now();
        let relay = spawn_relay(gw_client, gw_backend, policy, std::future::pending::<CloseReason>());
        tokio::time::sleep(Duration::from_secs(10)).await;
        client.write_all(b"x").await.unwrap();
        let outcome = relay.await.unwrap();
        assert_eq!(outcome.reason, CloseReason::IdleTimeout(idle));
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
            idle: Some(crate::session::Timer::key(Duration::from_secs(300), "idle_timeout")),
            lifetime: Some(crate::session::Timer::key(Duration::from_secs(3600), "max_lifetime")),
            frontend_idle: None,
        };
        let start = Instant::now();
        let relay = spawn_relay(gw_client, gw_backend, policy, std::future::pending::<CloseReason>());
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
        assert!(
            matches!(outcome.reason, CloseReason::Lifetime(_)),
            "{:?}",
            outcome.reason
        );
        assert_eq!(start.elapsed(), Duration::from_secs(3600));
        chatter.abort();
    }

    #[tokio::test]
    async fn maintenance_drops_the_session() {
        let (_client, gw_client) = duplex(64);
        let (gw_backend, _backend) = duplex(64);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let relay = spawn_relay(gw_client, gw_backend, SessionPolicy::default(), async move {
            let _ = rx.await;
            CloseReason::Maintenance
        });
        tx.send(()).unwrap();
        let outcome = relay.await.unwrap();
        assert_eq!((outcome.by, outcome.reason), (Side::Gateway, CloseReason::Maintenance));
    }

    #[tokio::test]
    async fn a_sessions_relay_state_stays_small() {
        // An open session's memory is mostly this future (and the task
        // around it): each byte here is multiplied by the open sessions.
        // The streams and `dropped` are not copied into new bindings and
        // the policy is borrowed; undoing either adds 100-300 bytes.
        let (_client, gw_client) = duplex(64);
        let (gw_backend, _backend) = duplex(64);
        let policy = SessionPolicy::default();
        let future = relay(gw_client, gw_backend, &policy, std::future::pending::<CloseReason>());
        let size = std::mem::size_of_val(&future);
        eprintln!("relay future: {size} bytes");
        assert!(size <= 512, "relay future is {size} bytes");
    }

    #[tokio::test]
    async fn an_idle_session_holds_no_buffer() {
        let (mut client, gw_client) = duplex(1 << 16);
        let (gw_backend, mut backend) = duplex(1 << 16);
        buffers::clear();
        let relay = spawn_relay(gw_client, gw_backend, SessionPolicy::default(), std::future::pending());
        client.write_all(&[7u8; 20_000]).await.unwrap();
        let mut got = vec![0u8; 20_000];
        backend.read_exact(&mut got).await.unwrap();
        assert!(
            got.iter().all(|b| *b == 7),
            "bytes arrive intact across several buffer loans"
        );
        // Once traffic stops, both pumps are waiting to read: their buffers
        // are back in the pool (this test runs on one thread). 20,000 bytes
        // arriving at once filled a small buffer, so the burst went on in a
        // large one, and that went back too.
        tokio::task::yield_now().await;
        let (small, large) = buffers::pooled();
        assert!(
            small >= 1 && large >= 1,
            "the buffers went back to the pool: {small} small, {large} large"
        );
        drop((client, backend));
        relay.await.unwrap();
    }
}
