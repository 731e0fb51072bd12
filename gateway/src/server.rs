//! The running gateway: builds run-time state from a validated config, binds
//! every listener through the transport and serves connections.
//!
//! ```text
//! accept ─▶ [TLS] ─▶ first head (408/431) ─▶ hyper http1 ─▶ proxy::handle
//!                                                           │
//!                                       plain ◀─────────────┴────▶ 101 ─▶ tunnel
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;

use crate::config::{BackendAddr, Config, ConfigError, Protocol};
use crate::event::{Event, Events};
use crate::head::{self, Head};
use crate::io::{MaybeTls, Prefixed};
use crate::probe::{self, Member, ProbeSpec};
use crate::proxy::{self, Conn, Pool, Route, Settings, Shared};
use crate::registry::GatewayHandle;
use crate::rewrite::Rewrite;
use crate::session::{Overrides, SessionPolicy};
use crate::tls::{self, TlsError};
use crate::transport::{Listener, Transport};
use crate::waf::Waf;

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("listener `{listener}`: {source}")]
    ListenerTls {
        listener: String,
        #[source]
        source: TlsError,
    },
    #[error("backend settings `{settings}`: {source}")]
    BackendTls {
        settings: String,
        #[source]
        source: TlsError,
    },
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
}

struct BoundListener<L> {
    name: String,
    addr: SocketAddr,
    protocol: Protocol,
    tls: Option<tokio_rustls::TlsAcceptor>,
    route: Arc<Route>,
    socket: L,
}

/// One probe loop to run: a member, its probe and the TLS it needs.
struct ProbeJob {
    member: Arc<Member>,
    spec: ProbeSpec,
    tls: Option<tokio_rustls::TlsConnector>,
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
    /// Validates `config`, loads its TLS material and binds every listener.
    pub async fn bind(config: Config, transport: T, events: Events) -> Result<Gateway<T>, GatewayError> {
        let config = config.validated("config")?;
        let started = tokio::time::Instant::now();
        let shared = Arc::new(Shared::new(transport, events));
        let mut listeners = Vec::new();
        let mut probes = Vec::new();
        for listener in &config.listeners {
            let rule = config
                .rules
                .iter()
                .find(|r| r.listener == listener.name)
                .expect("validate() guarantees every listener has a rule");
            let (route, jobs) = build_route(&config, rule)?;
            let route = Arc::new(route);
            probes.extend(jobs);
            let tls = match (listener.protocol, &listener.tls_cert, &listener.tls_key) {
                (Protocol::Https, Some(cert), Some(key)) => {
                    let server = tls::server_config(&config.resolve_path(cert), &config.resolve_path(key)).map_err(
                        |source| GatewayError::ListenerTls {
                            listener: listener.name.clone(),
                            source,
                        },
                    )?;
                    Some(tokio_rustls::TlsAcceptor::from(server))
                }
                _ => None,
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
                name: listener.name.clone(),
                addr,
                protocol: listener.protocol,
                tls,
                route,
                socket,
            });
        }
        let members = Arc::new(probes.iter().map(|p| Arc::clone(&p.member)).collect());
        Ok(Gateway {
            probes,
            members,
            started,
            shared,
            limits: Limits {
                header_read_timeout: config.header_read_timeout.get(),
                max_header_bytes: config.max_header_bytes,
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

    /// Serves every listener until the future is dropped.
    pub async fn run(self) {
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

fn build_route(config: &Config, rule: &crate::config::RuleConfig) -> Result<(Route, Vec<ProbeJob>), GatewayError> {
    let pool = config
        .backend_pools
        .iter()
        .find(|p| p.name == rule.pool)
        .expect("validate() guarantees rule pools exist");
    let settings = config
        .backend_settings
        .iter()
        .find(|s| s.name == rule.settings)
        .expect("validate() guarantees rule settings exist");
    let behaviour = config.profile.behaviour();
    let probe_config = settings
        .probe
        .as_ref()
        .and_then(|name| config.probes.iter().find(|p| &p.name == name));
    let request_timeout = config.request_timeout(settings);
    let overrides = Overrides {
        idle_timeout: config.idle_timeout.map(|d| d.get()),
        max_lifetime: config.max_lifetime.map(|d| d.get()),
    };
    let waf = rule
        .waf
        .as_ref()
        .and_then(|name| config.waf_policies.iter().find(|p| &p.name == name))
        .map(|policy| Waf::compile(policy).expect("validate() guarantees WAF rules compile"));
    let rewrite = rule
        .rewrites
        .as_ref()
        .and_then(|name| config.rewrite_sets.iter().find(|r| &r.name == name))
        .map(|set| Rewrite::compile(set).expect("validate() guarantees rewrite sets compile"));
    let tls = match (settings.protocol, &settings.trusted_ca) {
        (Protocol::Https, Some(ca)) => {
            let client = tls::client_config(&config.resolve_path(ca)).map_err(|source| GatewayError::BackendTls {
                settings: settings.name.clone(),
                source,
            })?;
            Some(tokio_rustls::TlsConnector::from(client))
        }
        _ => None,
    };
    let jobs: Vec<ProbeJob> = pool
        .addresses
        .iter()
        .map(|a| {
            let addr = BackendAddr::parse(a).expect("validate() guarantees addresses parse");
            let spec = ProbeSpec::resolve(
                &behaviour,
                probe_config,
                settings.host_override.as_deref(),
                settings.protocol == Protocol::Https,
                &addr,
            );
            ProbeJob {
                member: Arc::new(Member::new(addr, pool.name.clone(), &spec)),
                spec,
                tls: tls.clone(),
            }
        })
        .collect();
    let members = jobs.iter().map(|j| Arc::clone(&j.member)).collect();
    let route = Route {
        rule: rule.name.clone(),
        pool: Pool::new(members, behaviour.all_unhealthy),
        session: SessionPolicy::resolve(&behaviour, request_timeout, overrides),
        on_timeout: behaviour.http_timeout,
        caching: rule.caching,
        waf,
        rewrite,
        settings: Settings {
            request_timeout,
            host_override: settings
                .host_override
                .as_deref()
                .map(|h| HeaderValue::from_str(h).expect("validate() guarantees a valid host_override")),
            tls,
        },
    };
    Ok((route, jobs))
}

async fn accept_loop<T: Transport>(shared: Arc<Shared<T>>, limits: Limits, mut listener: BoundListener<T::Listener>) {
    loop {
        match listener.socket.accept().await {
            Ok((stream, peer)) => {
                let conn = Arc::new(Conn {
                    peer,
                    scheme: listener.protocol,
                    route: Arc::clone(&listener.route),
                });
                tokio::spawn(serve_connection(
                    Arc::clone(&shared),
                    limits,
                    listener.tls.clone(),
                    conn,
                    stream,
                ));
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
        .max_buf_size(limits.max_header_bytes)
        // hyper's Date header reads the wall clock; backends send their own.
        .auto_date_header(false);
    let _ = builder.serve_connection(io, service).with_upgrades().await;
}
