//! The running gateway: builds run-time state from a validated plan, binds
//! every listener through the transport and serves connections.
//!
//! ```text
//! accept ─▶ admit (503 past max_connections) ─▶ [TLS] ─▶ first head (408/431)
//!        ├─ a WebSocket handshake ─▶ proxy::route ─▶ 101 written here ─▶ tunnel
//!        │                                       └▶ any other answer ─┐
//!        └─ anything else ─────────────────────────────────────▶ hyper http1
//!                         ─▶ proxy::handle ─▶ plain response | 101 ─▶ tunnel
//! ```
//!
//! A connection that opens with a handshake, the common case for a
//! WebSocket client, is served without hyper's server: its head is parsed
//! once ([`head::handshake`]), and the session gets the socket itself, with
//! no dispatcher or upgrade channel. A refused handshake's answer is
//! written by hyper, which reads the same head again and keeps the
//! connection alive, so response framing has one implementation.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;

use crate::config::{Config, ConfigError, Protocol};
use crate::event::{CloseReason, DrainCause, Event, Events};
use crate::generation::{self, Current, ProbeJob};
use crate::head::{self, Head};
use crate::io::{MaybeTls, Prefixed};
use crate::plan::{ListenerPlan, Plan, TlsMaterial};
use crate::probe;
use crate::proxy::{self, Client, Conn, Routed, Shared, Switch};
use crate::registry::{GatewayHandle, Registry, Update};
use crate::roster::Roster;
use crate::transport::{Listener, Transport};

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("listener `{listener}`: cannot bind {addr}: {source}")]
    Bind {
        listener: String,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Limits applied to every client connection.
#[derive(Debug, Clone, Copy)]
struct Limits {
    header_read_timeout: Duration,
    max_header_bytes: usize,
    max_connections: Option<u32>,
}

struct BoundListener<L> {
    name: String,
    addr: SocketAddr,
    protocol: Protocol,
    tls: Option<tokio_rustls::TlsAcceptor>,
    keepalive: Option<Duration>,
    /// Its index in the plan: the key to its route in every generation.
    index: usize,
    socket: L,
}

/// A gateway whose listeners are bound. [`Gateway::run`] serves them.
pub struct Gateway<T: Transport> {
    probes: Vec<ProbeJob>,
    started: tokio::time::Instant,
    shared: Arc<Shared<T>>,
    limits: Limits,
    listeners: Vec<BoundListener<T::Listener>>,
    /// What a configuration may not change: the listeners.
    listener_plans: Arc<Vec<ListenerPlan>>,
    updates: mpsc::UnboundedReceiver<Update>,
    update_sender: mpsc::UnboundedSender<Update>,
}

impl<T: Transport> std::fmt::Debug for Gateway<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("listeners", &self.local_addrs())
            .finish()
    }
}

impl<T: Transport> Gateway<T> {
    /// Validates `config` into a plan, loads its TLS material and binds
    /// every listener.
    pub async fn bind(config: Config, transport: T, events: Events) -> Result<Gateway<T>, GatewayError> {
        let (plan, material) = Plan::resolve(&config)?;
        Gateway::bind_plan(plan, material, transport, events).await
    }

    /// Binds a plan that is already resolved ([`Plan::resolve`]): for a
    /// harness that changes the plan first (the conformance harness
    /// divides its timers with [`Plan::time_scaled`]).
    pub async fn bind_plan(
        plan: Plan,
        material: TlsMaterial,
        transport: T,
        events: Events,
    ) -> Result<Gateway<T>, GatewayError> {
        let started = tokio::time::Instant::now();
        let registry = Arc::new(Registry::new());
        let listener_plans = Arc::new(plan.listeners.clone());
        let TlsMaterial {
            listeners: listener_tls,
            backend_sets: set_tls,
        } = material;
        let (generation, probes) = generation::build(generation::Parts::of(&plan, set_tls), 0, None);
        let shared = Arc::new(Shared::new(
            transport,
            events,
            Arc::clone(&registry),
            Arc::new(Current::new(generation)),
            plan.header_read_timeout,
        ));

        let mut listeners = Vec::new();
        for (index, (listener, tls)) in plan.listeners.into_iter().zip(listener_tls).enumerate() {
            let socket = shared
                .transport
                .bind(listener.address)
                .await
                .map_err(|source| GatewayError::Bind {
                    listener: listener.name.clone(),
                    addr: listener.address,
                    source,
                })?;
            let addr = socket.local_addr().unwrap_or(listener.address);
            shared.emit(Event::ListenerBound {
                listener: listener.name.clone(),
                protocol: listener.protocol,
                addr,
            });
            listeners.push(BoundListener {
                name: listener.name,
                addr,
                protocol: listener.protocol,
                tls: tls.map(tokio_rustls::TlsAcceptor::from),
                keepalive: listener.tcp_keepalive,
                index,
                socket,
            });
        }
        let (update_sender, updates) = mpsc::unbounded_channel();
        Ok(Gateway {
            probes,
            started,
            shared,
            limits: Limits {
                header_read_timeout: plan.header_read_timeout,
                max_header_bytes: plan.max_header_bytes,
                max_connections: plan.max_connections,
            },
            listeners,
            listener_plans,
            updates,
            update_sender,
        })
    }

    /// Each listener's name and the address it actually bound.
    pub fn local_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.listeners.iter().map(|l| (l.name.clone(), l.addr)).collect()
    }

    /// A handle for maintenance and session counts; valid while the
    /// gateway runs.
    pub fn handle(&self) -> GatewayHandle {
        GatewayHandle {
            registry: Arc::clone(&self.shared.registry),
            events: Arc::clone(&self.shared.events.0),
            current: Arc::clone(&self.shared.current),
            listeners: Arc::clone(&self.listener_plans),
            updates: self.update_sender.clone(),
            started: self.started,
        }
    }

    /// The bound address of the listener called `name`.
    pub fn local_addr(&self, name: &str) -> Option<SocketAddr> {
        self.listeners.iter().find(|l| l.name == name).map(|l| l.addr)
    }

    /// The most client connections the instance holds at once, if limited.
    pub fn max_connections(&self) -> Option<u32> {
        self.limits.max_connections
    }

    /// Lowers the connection limit to `limit` (a real network's file
    /// descriptor capacity, say); never raises it.
    pub fn cap_connections(&mut self, limit: u32) {
        self.limits.max_connections = Some(self.limits.max_connections.map_or(limit, |l| l.min(limit)));
    }

    /// Serves until `shutdown` completes, then stops accepting: every
    /// listener is closed, so new connections are refused, and probes stop.
    /// Connections and sessions already open carry on;
    /// [`GatewayHandle::shutdown`] drains and ends them.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::select! {
            biased;
            () = shutdown => {}
            () = self.run() => {}
        }
    }

    /// Serves every listener until the future is dropped or the instance
    /// is halted.
    pub async fn run(self) {
        let halted = self.shared.registry.halted();
        tokio::select! {
            biased;
            () = halted => {}
            () = self.serve() => {}
        }
    }

    async fn serve(self) {
        let Gateway {
            shared,
            limits,
            listeners,
            probes,
            started,
            mut updates,
            ..
        } = self;
        let mut probe_loops = FuturesUnordered::new();
        let first = shared.current.get();
        for job in probes {
            probe_loops.push(probe_loop(&shared, job, &first.retired, started));
        }
        let accept_loops = futures_util::future::join_all(
            listeners
                .into_iter()
                .map(|listener| accept_loop(Arc::clone(&shared), limits, listener)),
        );
        tokio::pin!(accept_loops);
        loop {
            tokio::select! {
                biased;
                _ = &mut accept_loops => return,
                Some(update) = updates.recv() => {
                    for job in apply(&shared, update) {
                        let current = shared.current.get();
                        probe_loops.push(probe_loop(&shared, job, &current.retired, started));
                    }
                }
                Some(()) = probe_loops.next() => {}
            }
        }
    }
}

/// A boxed probe loop that ends when its generation is retired.
fn probe_loop<T: Transport>(
    shared: &Arc<Shared<T>>,
    job: ProbeJob,
    retired: &Roster<()>,
    started: tokio::time::Instant,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    let (membership, retired) = retired.join();
    let (transport, events) = (shared.transport.clone(), Arc::clone(&shared.events.0));
    Box::pin(async move {
        let _membership = membership;
        tokio::select! {
            biased;
            () = retired => {}
            () = probe::run(transport, job.tls, job.member, job.spec, events, started) => {}
        }
    })
}

/// Applies a configuration update: builds the next generation (carrying
/// health over), swaps it in, retires the old one's probes and starts the
/// drains of the sessions it carried. Returns the new probe jobs.
fn apply<T: Transport>(shared: &Arc<Shared<T>>, update: Update) -> Vec<ProbeJob> {
    let previous = shared.current.get();
    let epoch = previous.epoch + 1;
    let (next, jobs) = generation::build(update.parts, epoch, Some(&previous));
    let old = shared.current.replace(next);
    old.retired.release_all();
    shared.emit(Event::ConfigUpdated { epoch });
    // Every session opened before the update closes when its settings'
    // drain runs out; a profile without draining leaves them open.
    for set in &old.sets {
        let Some(timer) = set.settings.drain.clone() else {
            continue;
        };
        let (registry, old_epoch, index) = (Arc::clone(&shared.registry), old.epoch, set.set);
        tokio::spawn(async move {
            tokio::time::sleep(timer.after).await;
            let reason = CloseReason::Drained {
                cause: DrainCause::ConfigUpdate,
                timer,
            };
            registry.drop_groups(|g| g.epoch <= old_epoch && g.set == index, &reason);
        });
    }
    jobs
}

async fn accept_loop<T: Transport>(shared: Arc<Shared<T>>, limits: Limits, mut listener: BoundListener<T::Listener>) {
    loop {
        match listener.socket.accept().await {
            Ok((stream, peer)) => {
                if let Some(idle) = listener.keepalive {
                    let _ = shared.transport.set_keepalive(&stream, idle);
                }
                let Some(admitted) = shared.registry.admit(limits.max_connections) else {
                    if let Some(limit) = limits.max_connections {
                        shared.emit(Event::ConnectionRefused { peer, limit });
                    }
                    tokio::spawn(refuse_busy(stream));
                    continue;
                };
                let conn = Arc::new(Conn {
                    peer,
                    scheme: listener.protocol,
                    listener: listener.index,
                });
                let shared = Arc::clone(&shared);
                let tls = listener.tls.clone();
                let halted = shared.registry.halted();
                tokio::spawn(async move {
                    let _admitted = admitted;
                    tokio::select! {
                        biased;
                        () = halted => {}
                        () = serve_connection(shared, limits, tls, conn, stream) => {}
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of
                // spinning, as hyper's and tokio's examples do.
                tracing::warn!(listener = %listener.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Answers a connection over the limit with 503 and closes it. A TLS
/// listener's client sees the connection close instead: there is no
/// handshake to answer in.
async fn refuse_busy<S: tokio::io::AsyncWrite + Unpin>(mut stream: S) {
    let _ = stream.write_all(&head::bare_response(503, "Service Unavailable")).await;
    let _ = stream.shutdown().await;
}

async fn serve_connection<T: Transport>(
    shared: Arc<Shared<T>>,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    conn: Arc<Conn>,
    stream: T::Stream,
) {
    let mut stream = match tls {
        None => MaybeTls::Plain(stream),
        Some(acceptor) => {
            match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => MaybeTls::Server(Box::new(tls)),
                // A failed or stalled TLS handshake has no HTTP to answer in.
                _ => return,
            }
        }
    };
    let mut prefix = match head::read_head(&mut stream, limits.max_header_bytes, limits.header_read_timeout).await {
        Head::Complete(bytes) => bytes,
        Head::TooLarge => {
            let _ = stream
                .write_all(&head::bare_response(431, "Request Header Fields Too Large"))
                .await;
            let _ = stream.shutdown().await;
            return;
        }
        Head::TimedOut => {
            let _ = stream.write_all(&head::bare_response(408, "Request Timeout")).await;
            let _ = stream.shutdown().await;
            return;
        }
        Head::Closed => return,
    };
    // A first head that is a WebSocket handshake is served without hyper.
    let mut first = None;
    if let Some((parts, len)) = head::handshake(&prefix) {
        let mut early = Vec::new();
        let routed = tokio::select! {
            biased;
            routed = proxy::route(&shared, &conn, parts, None) => routed,
            () = watch_for_close(&mut stream, &mut early) => return,
        };
        match routed {
            Routed::Switch(Switch { head, session }) => {
                let mut client = Prefixed::new(after_head(prefix, len, early), stream);
                let written = write_switch(&mut client, &head::encode_switch(&head)).await;
                session.start(match written {
                    Ok(()) => Client::Own(client),
                    Err(_) => Client::Lost,
                });
                return;
            }
            // hyper writes any other answer, with its framing and
            // keep-alive: it reads the same head again and is given this
            // answer for it.
            Routed::Answer(resp) => {
                prefix.extend_from_slice(&early);
                first = Some(resp);
            }
        }
    }
    let io = TokioIo::new(Prefixed::new(prefix, stream));
    let first = std::cell::Cell::new(first);
    let service = service_fn(move |req| {
        let answered = first.take();
        let (shared, conn) = (Arc::clone(&shared), Arc::clone(&conn));
        async move {
            match answered {
                Some(resp) => Ok(resp),
                None => proxy::handle(shared, conn, req).await,
            }
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // Later heads get the same limit as the first. `max_buf_size` alone
        // is no head limit: one read can overshoot it and complete a head
        // past it.
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes)
        // hyper's Date header reads the wall clock; backends send their own.
        .auto_date_header(false);
    let _ = builder.serve_connection(io, service).with_upgrades().await;
}

/// Watches a client while its handshake is routed, as hyper watches a
/// connection whose request is in flight: ends if the client closes (or
/// its connection fails), and the request is abandoned. Bytes the client
/// sends meanwhile (its first frames) are kept in `early`, and the watch
/// stops there, as hyper's does once it holds unread bytes.
async fn watch_for_close<S: AsyncRead + Unpin>(stream: &mut S, early: &mut Vec<u8>) {
    match stream.read_buf(early).await {
        Ok(0) | Err(_) => {}
        Ok(_) => std::future::pending().await,
    }
}

/// What the client sent after its handshake's head: the rest of what was
/// read with the head, then what arrived while it was routed. Empty, and
/// not holding the head's buffer, in the usual case that there was none.
fn after_head(mut read: Vec<u8>, head_len: usize, early: Vec<u8>) -> Vec<u8> {
    if head_len >= read.len() {
        return early;
    }
    let mut rest = read.split_off(head_len);
    rest.extend_from_slice(&early);
    rest
}

/// Writes a 101 head to the client, and flushes it out of TLS.
async fn write_switch<S: AsyncWrite + Unpin>(stream: &mut S, head: &[u8]) -> std::io::Result<()> {
    stream.write_all(head).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_follows_a_head_is_kept_in_order_and_nothing_else() {
        let read = b"GET / HTTP/1.1\r\n\r\nab".to_vec();
        assert_eq!(after_head(read.clone(), 18, b"cd".to_vec()), b"abcd");
        assert_eq!(after_head(read, 18, Vec::new()), b"ab");
        let whole = b"GET / HTTP/1.1\r\n\r\n".to_vec();
        assert_eq!(after_head(whole.clone(), 18, b"cd".to_vec()), b"cd");
        // Nothing followed: the head's buffer is not kept for the session.
        let rest = after_head(whole, 18, Vec::new());
        assert!(rest.is_empty() && rest.capacity() == 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_watched_client_ends_the_watch_only_by_leaving() {
        // It closes: the watch ends.
        let mut closed: &[u8] = b"";
        let mut early = Vec::new();
        watch_for_close(&mut closed, &mut early).await;
        assert!(early.is_empty());
        // It sends bytes: they are kept, and the watch goes on.
        let mut sending: &[u8] = b"\x81\x80abcd";
        let mut early = Vec::new();
        // Paused time: the timeout fires when nothing else can run.
        let watched = tokio::time::timeout(Duration::from_secs(1), watch_for_close(&mut sending, &mut early));
        assert!(watched.await.is_err(), "the watch ended on bytes");
        assert_eq!(early, b"\x81\x80abcd");
    }
}
