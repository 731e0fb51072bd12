//! What the gateway reports about itself.
//!
//! The gateway emits typed [`Event`]s through an [`EventSink`] it is given.
//! The `wsgate` binary turns them into `tracing` logs; the simulator stamps
//! them with virtual time into its trace. Events carry no payload bytes.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::affinity::AffinityAction;
use crate::config::{BackendAddr, Protocol};
use crate::health::ProbeResult;
use crate::session::Timer;
use crate::upstream::UpstreamError;

/// Which party did something to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    Client,
    Backend,
    Gateway,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Backend => "backend",
            Side::Gateway => "gateway",
        })
    }
}

/// Why an upgraded session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// Both directions reached end-of-stream; `Side` closed first.
    Closed,
    /// A read or write failed (reset, broken pipe); the session was torn down.
    Error(std::io::ErrorKind),
    /// hyper could not hand over an upgraded connection.
    UpgradeFailed,
    /// No data in either direction for the idle timeout, and the setting
    /// behind it.
    IdleTimeout(Timer),
    /// The maximum session lifetime was reached, and the setting behind it.
    Lifetime(Timer),
    /// Dropped by a maintenance event.
    Maintenance,
    /// The client's connection carried no byte either way for the
    /// listener's frontend TCP idle timeout.
    FrontendIdle(Timer),
    /// Closed at the end of connection draining: its member was removed
    /// from the pool, or a configuration update replaced its settings.
    Drained { cause: DrainCause, timer: Timer },
}

/// What started a connection drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DrainCause {
    /// The member was removed from its pool (`POST /backends/{addr}/remove`,
    /// or the simulator's `remove-backend`).
    BackendRemoved,
    /// A configuration update (`POST /config`, `POST /reload`, SIGHUP, or
    /// the simulator's `config-update`).
    ConfigUpdate,
}

impl fmt::Display for DrainCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DrainCause::BackendRemoved => "backend removed",
            DrainCause::ConfigUpdate => "configuration update",
        })
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Closed => f.write_str("closed"),
            CloseReason::Error(e) => write!(f, "error: {e}"),
            CloseReason::UpgradeFailed => f.write_str("upgrade failed"),
            CloseReason::IdleTimeout(t) => write!(f, "idle timeout: {t}"),
            CloseReason::Lifetime(t) => write!(f, "lifetime reached: {t}"),
            CloseReason::Maintenance => f.write_str("maintenance"),
            CloseReason::FrontendIdle(t) => write!(f, "frontend idle timeout: {t}"),
            CloseReason::Drained { cause, timer } => write!(f, "drained after {cause}: {timer}"),
        }
    }
}

/// Something the gateway did. Ids number requests per gateway from 1; an
/// upgraded request keeps its id as the session id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    ListenerBound {
        listener: String,
        protocol: Protocol,
        addr: SocketAddr,
    },
    /// A request was matched to a rule and a backend was picked.
    RequestRouted {
        id: u64,
        rule: String,
        backend: BackendAddr,
        upgrade: bool,
        path: String,
    },
    /// The gateway answered a request itself (bad input, no backend).
    RequestRejected { id: u64, status: u16, reason: &'static str },
    /// A client connection was refused because the instance holds
    /// `limit` connections already (503).
    ConnectionRefused { peer: SocketAddr, limit: u32 },
    /// A proxied plain HTTP request got its response.
    ResponseForwarded { id: u64, backend: BackendAddr, status: u16 },
    /// The backend answered an upgrade with 101; bytes now flow both ways.
    UpgradeCompleted {
        id: u64,
        backend: BackendAddr,
        subprotocol: Option<String>,
    },
    /// The backend answered an upgrade with something other than 101, which
    /// was returned to the client unchanged.
    UpgradeDeclined { id: u64, backend: BackendAddr, status: u16 },
    /// The backend answered 101 without completing the WebSocket handshake
    /// the client asked for (another protocol, or a wrong accept key); the
    /// client got 502 and no tunnel opened.
    InvalidSwitch {
        id: u64,
        backend: BackendAddr,
        problem: crate::handshake::BadSwitch,
    },
    /// An upgraded session ended.
    SessionClosed {
        id: u64,
        by: Side,
        reason: CloseReason,
        bytes_from_client: u64,
        bytes_from_backend: u64,
    },
    /// Connecting to or talking to a backend failed, or it did not answer
    /// within the request timeout.
    BackendError {
        id: u64,
        backend: BackendAddr,
        error: UpstreamError,
    },
    /// A WAF rule blocked a request (403).
    WafBlocked { id: u64, policy: String, rule: String },
    /// What cookie affinity did for a request: routed it by its cookie,
    /// could not, ignored it, or set a new one on the response.
    Affinity {
        id: u64,
        /// The cookie's name.
        cookie: String,
        action: AffinityAction,
    },
    /// Maintenance began: sessions are dropped now or after the drain.
    MaintenanceStarted { drain: Option<Duration> },
    /// A drain was cancelled (`DELETE /maintenance`, or replaced by a later
    /// one); its timer will not drop anything.
    MaintenanceCancelled,
    /// A health probe finished; `healthy` is the backend's state after it.
    ProbeCompleted {
        backend: BackendAddr,
        result: ProbeResult,
        healthy: bool,
    },
    /// A member was taken out of its pool by hand: it gets no new
    /// sessions, and its open ones close when `drain` runs out (never,
    /// for a profile that does not drain).
    BackendRemoved { backend: BackendAddr, drain: Option<Timer> },
    /// A removed member was put back; it takes traffic again once it
    /// passes a probe (or at once, for a profile that starts members healthy).
    BackendAdded { backend: BackendAddr },
    /// The instance now runs configuration `epoch` (the first is 0).
    /// Sessions opened under earlier ones close when their settings'
    /// drain runs out.
    ConfigUpdated { epoch: u64 },
    /// A backend entered or left the pool.
    BackendHealthChanged {
        backend: BackendAddr,
        healthy: bool,
        /// The failures that decided it (0 when it became healthy).
        failures: u32,
        /// The last probe result.
        last: ProbeResult,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::ListenerBound { listener, protocol, addr } => {
                write!(f, "listener {listener} bound {}://{addr}", protocol.scheme())
            }
            Event::RequestRouted { id, rule, backend, upgrade, path } => {
                let kind = if *upgrade { "upgrade" } else { "request" };
                write!(f, "#{id} {kind} {path} routed by {rule} to {backend}")
            }
            Event::RequestRejected { id, status, reason } => write!(f, "#{id} rejected {status}: {reason}"),
            Event::ConnectionRefused { peer, limit } => {
                write!(f, "connection from {peer} refused with 503: {limit} connections open")
            }
            Event::ResponseForwarded { id, backend, status } => write!(f, "#{id} response {status} from {backend}"),
            Event::UpgradeCompleted { id, backend, subprotocol } => {
                write!(f, "#{id} upgrade completed with {backend}")?;
                if let Some(p) = subprotocol {
                    write!(f, " subprotocol={p}")?;
                }
                Ok(())
            }
            Event::UpgradeDeclined { id, backend, status } => {
                write!(f, "#{id} upgrade declined by {backend} with {status}")
            }
            Event::InvalidSwitch { id, backend, problem } => {
                write!(f, "#{id} backend {backend} answered an invalid 101 ({problem}): 502")
            }
            Event::SessionClosed {
                id,
                by,
                reason,
                bytes_from_client,
                bytes_from_backend,
            } => write!(
                f,
                "#{id} session closed by {by} ({reason}) client->backend={bytes_from_client}B backend->client={bytes_from_backend}B"
            ),
            Event::BackendError { id, backend, error } if error.is_timeout() => {
                write!(f, "#{id} backend {backend} gave no response within {}", error.detail())
            }
            Event::BackendError { id, backend, error } => write!(f, "#{id} backend {backend} error: {error}"),
            Event::WafBlocked { id, policy, rule } => write!(f, "#{id} blocked by WAF policy {policy} rule {rule}"),
            Event::Affinity { id, cookie, action } => write!(f, "#{id} affinity cookie {cookie} {action}"),
            Event::ProbeCompleted { backend, result, healthy } => {
                let state = if *healthy { "in pool" } else { "out of pool" };
                write!(f, "probe {backend}: {result} ({state})")
            }
            Event::BackendHealthChanged {
                backend,
                healthy: false,
                failures,
                last,
            } => write!(f, "backend {backend} unhealthy after {failures} failures (last: {last})"),
            Event::BackendHealthChanged {
                backend,
                healthy: true,
                last,
                ..
            } => write!(f, "backend {backend} healthy (last: {last})"),
            Event::MaintenanceStarted { drain: None } => f.write_str("maintenance: dropping every session"),
            Event::MaintenanceStarted { drain: Some(d) } => write!(
                f,
                "maintenance: draining for {}, then dropping every session",
                humantime::format_duration(*d)
            ),
            Event::MaintenanceCancelled => f.write_str("maintenance: drain cancelled"),
            Event::BackendRemoved { backend, drain: Some(t) } => {
                write!(f, "backend {backend} removed from its pool; open sessions drain for {t}")
            }
            Event::BackendRemoved { backend, drain: None } => {
                write!(f, "backend {backend} removed from its pool; open sessions are left open")
            }
            Event::BackendAdded { backend } => write!(f, "backend {backend} added back to its pool"),
            Event::ConfigUpdated { epoch } => write!(f, "configuration {epoch} applied"),
        }
    }
}

/// Where events go.
pub trait EventSink: Send + Sync + 'static {
    fn emit(&self, event: Event);
}

impl<F: Fn(Event) + Send + Sync + 'static> EventSink for F {
    fn emit(&self, event: Event) {
        self(event)
    }
}

/// A shared sink handle.
pub type Events = Arc<dyn EventSink>;

/// A sink that drops everything, for callers that do not care.
pub fn discard() -> Events {
    Arc::new(|_event: Event| {})
}
