//! The upgraded session: bytes relayed both ways, frames never parsed.
//!
//! Each direction is a pump that reads and writes until end-of-stream, then
//! half-closes its writer, so a FIN from one side reaches the other. An error
//! on either side (reset, broken pipe) ends the whole session at once:
//! dropping both streams closes both connections.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::cell::RefCell;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
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

thread_local! {
    /// Read buffers not in use. A pump borrows one only while bytes are in
    /// flight and gives it back whenever its read is pending, so an idle
    /// session holds no buffer: memory follows traffic, not session count.
    static POOL: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// Buffers kept per thread for reuse; beyond this they are freed.
const POOL_MAX: usize = 64;

fn borrow_buffer() -> Box<[u8]> {
    POOL.with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| vec![0u8; CHUNK].into_boxed_slice())
}

fn return_buffer(buf: Box<[u8]>) {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        if pool.len() < POOL_MAX {
            pool.push(buf);
        }
    });
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
/// half-close the writer. A hand-written future so it can hand its buffer
/// back while waiting to read.
struct Pump<'a, R, W> {
    from: R,
    to: W,
    from_side: Side,
    to_side: Side,
    step: Step,
    buf: Option<Box<[u8]>>,
    pos: usize,
    len: usize,
    count: &'a mut u64,
    activity: &'a Activity,
}

impl<'a, R, W> Pump<'a, R, W> {
    fn new(from: R, to: W, sides: (Side, Side), count: &'a mut u64, activity: &'a Activity) -> Self {
        Pump {
            from,
            to,
            from_side: sides.0,
            to_side: sides.1,
            step: Step::Reading,
            buf: None,
            pos: 0,
            len: 0,
            count,
            activity,
        }
    }

    fn release(&mut self) {
        if let Some(buf) = self.buf.take() {
            return_buffer(buf);
        }
    }
}

impl<R, W> Drop for Pump<'_, R, W> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Future for Pump<'_, R, W> {
    type Output = PumpEnd;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<PumpEnd> {
        let this = self.get_mut();
        loop {
            match this.step {
                Step::Reading => {
                    let mut buf = this.buf.take().unwrap_or_else(borrow_buffer);
                    let mut read = ReadBuf::new(&mut buf);
                    match Pin::new(&mut this.from).poll_read(cx, &mut read) {
                        Poll::Pending => {
                            // Nothing was read, so nothing is lost by giving
                            // the buffer back until the next wake-up.
                            return_buffer(buf);
                            return Poll::Pending;
                        }
                        Poll::Ready(Err(e)) => {
                            return_buffer(buf);
                            return Poll::Ready(PumpEnd::Failed(this.from_side, e));
                        }
                        Poll::Ready(Ok(())) => {
                            let n = read.filled().len();
                            if n == 0 {
                                return_buffer(buf);
                                this.step = Step::ShuttingDown;
                                continue;
                            }
                            *this.count += n as u64;
                            this.activity.touch();
                            this.buf = Some(buf);
                            (this.pos, this.len) = (0, n);
                            this.step = Step::Writing;
                        }
                    }
                }
                Step::Writing => {
                    let Some(buf) = this.buf.as_ref() else {
                        this.step = Step::Reading;
                        continue;
                    };
                    match Pin::new(&mut this.to).poll_write(cx, &buf[this.pos..this.len]) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return Poll::Ready(PumpEnd::Failed(this.to_side, e)),
                        Poll::Ready(Ok(0)) => {
                            return Poll::Ready(PumpEnd::Failed(this.to_side, std::io::ErrorKind::WriteZero.into()))
                        }
                        Poll::Ready(Ok(k)) => {
                            this.pos += k;
                            if this.pos == this.len {
                                this.step = Step::Flushing;
                            }
                        }
                    }
                }
                Step::Flushing => match Pin::new(&mut this.to).poll_flush(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(PumpEnd::Failed(this.to_side, e)),
                    Poll::Ready(Ok(())) => {
                        this.release();
                        this.step = Step::Reading;
                    }
                },
                Step::ShuttingDown => {
                    return match Pin::new(&mut this.to).poll_shutdown(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(Ok(())) => Poll::Ready(PumpEnd::Eof),
                        // The other side already went away; that is its
                        // end, not ours.
                        Poll::Ready(Err(e)) => Poll::Ready(PumpEnd::Failed(this.to_side, e)),
                    };
                }
            }
        }
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
        let up = Pump::new(
            client_r,
            backend_w,
            (Side::Client, Side::Backend),
            &mut up_bytes,
            &activity,
        );
        let down = Pump::new(
            backend_r,
            client_w,
            (Side::Backend, Side::Client),
            &mut down_bytes,
            &activity,
        );
        let timers = watchdog(&activity, policy);
        let (mut up, mut down) = (up, down);
        tokio::pin!(timers, dropped);

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
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

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

    #[tokio::test]
    async fn an_idle_session_holds_no_buffer() {
        let (mut client, gw_client) = duplex(1 << 16);
        let (gw_backend, mut backend) = duplex(1 << 16);
        POOL.with(|p| p.borrow_mut().clear());
        let relay = tokio::spawn(relay(
            gw_client,
            gw_backend,
            SessionPolicy::default(),
            std::future::pending(),
        ));
        client.write_all(&[7u8; 20_000]).await.unwrap();
        let mut got = vec![0u8; 20_000];
        backend.read_exact(&mut got).await.unwrap();
        assert!(
            got.iter().all(|b| *b == 7),
            "bytes arrive intact across several buffer loans"
        );
        // Once traffic stops, both pumps are waiting to read: their buffers
        // are back in the pool (this test runs on one thread).
        tokio::task::yield_now().await;
        let pooled = POOL.with(|p| p.borrow().len());
        assert!(pooled >= 1, "the buffers went back to the pool: {pooled}");
        drop((client, backend));
        relay.await.unwrap();
    }
}
