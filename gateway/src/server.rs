//! The running gateway: builds run-time state from a validated plan, binds
//! every listener through the transport and serves connections.
//!
//! ```text
//! accept ─▶ admit (503 past max_connections) ─▶ [TLS] ─▶ first head (408/431)
//!        ─▶ hyper http1 ─▶ proxy::handle ─▶ plain response | 101 ─▶ tunnel
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;

use crate::config::{Config, ConfigError, Protocol};
use crate::event::{Event, Events};
use crate::head::{self, Head};
use crate::io::{MaybeTls, Prefixed};
use crate::plan::Plan;
use crate::probe::{self, Member, ProbeSpec};
use crate::proxy::{self, Backends, Conn, Route, Shared};
use crate::registry::{GatewayHandle, Registry};
use crate::transport::{Listener, Transport};
use crate::upstream::Tls;

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
    route: Arc<Route>,
    socket: L,
}

/// One probe loop to run: a member, its probe and the TLS it needs.
struct ProbeJob {
    member: Arc<Member>,
    spec: ProbeSpec,
    tls: Option<Tls>,
}

/// A gateway whose listeners are bound. [`Gateway::run`] serves them.
pub struct Gateway<T: Transport> {
    probes: Vec<ProbeJob>,
    members: Arc<Vec<Arc<Member>>>,
    started: tokio::time::Instant,
    shared: Arc<Shared<T>>,
    limits: Limits,
    listeners: Vec<BoundListener<T::Listener>>,
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
        let plan = config
            .validate()
            .map_err(|issues| ConfigError::located("config", None, issues))?;
        let material = plan
            .tls_material()
            .map_err(|issues| ConfigError::located("config", None, issues))?;
        Gateway::bind_plan(plan, material, transport, events).await
    }

    async fn bind_plan(
        plan: Plan,
        material: crate::plan::TlsMaterial,
        transport: T,
        events: Events,
    ) -> Result<Gateway<T>, GatewayError> {
        let started = tokio::time::Instant::now();
        let registry = Arc::new(Registry::new());
        let shared = Arc::new(Shared::new(
            transport,
            events,
            Arc::clone(&registry),
            plan.header_read_timeout,
        ));
        let behaviour = plan.behaviour;

        // One run-time backend set per plan entry, each member probed once,
        // reached exactly as traffic reaches it (the same TLS name).
        let mut jobs = Vec::new();
        let mut sets = Vec::new();
        for (set, tls) in plan.backend_sets.into_iter().zip(material.backend_sets) {
            let mut members = Vec::new();
            for m in &set.members {
                let member = Arc::new(Member::new(m.addr.clone(), set.pool.clone(), &m.probe));
                jobs.push(ProbeJob {
                    member: Arc::clone(&member),
                    spec: m.probe.clone(),
                    tls: tls
                        .as_ref()
                        .map(|config| Tls::for_backend(config, &set.settings, &m.addr)),
                });
                members.push(member);
            }
            sets.push(Arc::new(Backends::new(
                members,
                behaviour.all_unhealthy,
                set.settings,
                tls,
            )));
        }
        let routes: Vec<Arc<Route>> = plan
            .routes
            .into_iter()
            .filter_map(|route| {
                let backends = Arc::clone(sets.get(route.backends)?);
                Some(Arc::new(Route {
                    plan: route,
                    backends,
                    behaviour,
                }))
            })
            .collect();

        let mut listeners = Vec::new();
        for (listener, tls) in plan.listeners.into_iter().zip(material.listeners) {
            let Some(route) = routes.get(listener.route) else {
                continue;
            };
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
                route: Arc::clone(route),
                socket,
            });
        }
        let members = Arc::new(jobs.iter().map(|j| Arc::clone(&j.member)).collect());
        Ok(Gateway {
            probes: jobs,
            members,
            started,
            shared,
            limits: Limits {
                header_read_timeout: plan.header_read_timeout,
                max_header_bytes: plan.max_header_bytes,
                max_connections: plan.max_connections,
            },
            listeners,
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
            members: Arc::clone(&self.members),
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
            ..
        } = self;
        let probe_loops = probes.into_iter().map(|job| {
            let (transport, events) = (shared.transport.clone(), Arc::clone(&shared.events.0));
            Box::pin(probe::run(transport, job.tls, job.member, job.spec, events, started))
                as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        });
        let accept_loops = listeners.into_iter().map(|listener| {
            Box::pin(accept_loop(Arc::clone(&shared), limits, listener))
                as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        });
        futures_util::future::join_all(probe_loops.chain(accept_loops)).await;
    }
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
                    route: Arc::clone(&listener.route),
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
    let prefix = match head::read_head(&mut stream, limits.max_header_bytes, limits.header_read_timeout).await {
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
    let io = TokioIo::new(Prefixed::new(prefix, stream));
    let service = service_fn(move |req| proxy::handle(Arc::clone(&shared), Arc::clone(&conn), req));
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
