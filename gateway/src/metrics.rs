//! Prometheus metrics, counted from the gateway's typed [`Event`]s.
//!
//! [`Metrics`] is an [`EventSink`]: hand it to [`crate::Gateway::bind`]
//! (beside a logging sink if you want both) and serve [`Metrics::encode`];
//! the admin endpoint does that on `GET /metrics`. A gateway without it
//! counts nothing and pays nothing.
//!
//! ```text
//! Event ─▶ Metrics::emit ─┬▶ counters and gauges (one update per event)
//!                         └▶ Timings: RequestRouted … final answer ─▶ histogram
//! ```
//!
//! The gateway never parses WebSocket frames, so it cannot see a close code:
//! `wsgate_session_closes_total` counts why a session ended and who ended
//! it. A session the gateway ends itself (idle timeout, lifetime,
//! maintenance, shutdown) ends without a Close frame, so its client sees
//! 1006.
//!
//! A request the gateway refuses before it is routed (bad handshake
//! headers, a WAF block, a drain, no healthy backend) is counted in
//! `wsgate_requests_total`: its event does not say whether it asked for an
//! upgrade. Once routed, an upgrade attempt is counted in
//! `wsgate_handshakes_total` whatever its answer.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tokio::time::Instant;

use crate::event::{CloseReason, DrainCause, Event, EventSink, Side};
use crate::profile::TimeoutPolicy;
use crate::upstream::Kind;

mod timings;

pub use timings::MAX_TIMED;
use timings::{Finished, Timings};

/// The content type of [`Metrics::encode`]'s text: OpenMetrics 1.0, which
/// Prometheus scrapes natively.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Request duration buckets, in seconds: Prometheus's default buckets, then
/// 20 s and 30 s (the profiles' default request timeouts, so a timed-out
/// request lands in its own bucket) and a minute.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct BackendLabel {
    backend: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabels {
    reason: &'static str,
    by: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    backend: String,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendErrorLabels {
    backend: String,
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabel {
    direction: &'static str,
}

/// The label a close reason is counted under.
pub fn close_reason_label(reason: &CloseReason) -> &'static str {
    match reason {
        CloseReason::Closed => "closed",
        CloseReason::Error(_) => "error",
        CloseReason::UpgradeFailed => "upgrade_failed",
        CloseReason::IdleTimeout(_) => "idle_timeout",
        CloseReason::Lifetime(_) => "lifetime",
        CloseReason::Maintenance => "maintenance",
        CloseReason::FrontendIdle(_) => "frontend_idle_timeout",
        CloseReason::Drained {
            cause: DrainCause::BackendRemoved,
            ..
        } => "drained_backend_removed",
        CloseReason::Drained {
            cause: DrainCause::ConfigUpdate,
            ..
        } => "drained_config_update",
    }
}

/// The label a side is counted under.
pub fn side_label(side: Side) -> &'static str {
    match side {
        Side::Client => "client",
        Side::Backend => "backend",
        Side::Gateway => "gateway",
    }
}

/// The label a backend error is counted under.
pub fn error_kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::Connect => "connect",
        Kind::TlsName => "tls_name",
        Kind::Tls => "tls",
        Kind::Handshake => "handshake",
        Kind::Response => "response",
        Kind::ClientBody => "client_body",
        Kind::Timeout => "timeout",
    }
}

/// Mutable state the counters alone do not hold.
#[derive(Debug)]
struct State {
    timings: Timings,
    /// The backend of each open session, to lower the right gauge when it
    /// closes (`SessionClosed` does not name it).
    sessions: BTreeMap<u64, BackendLabel>,
}

/// The gateway's metrics: an [`EventSink`] that counts, and the registry
/// [`Metrics::encode`] writes out. One per gateway: request ids are
/// numbered per gateway.
pub struct Metrics {
    registry: Registry,
    policy: TimeoutPolicy,
    state: Mutex<State>,
    sessions_open: Family<BackendLabel, Gauge>,
    sessions: Family<BackendLabel, Counter>,
    session_closes: Family<CloseLabels, Counter>,
    handshakes: Family<StatusLabel, Counter>,
    requests: Family<StatusLabel, Counter>,
    probes: Family<ProbeLabels, Counter>,
    backend_healthy: Family<BackendLabel, Gauge>,
    backend_errors: Family<BackendErrorLabels, Counter>,
    relayed: Family<DirectionLabel, Counter>,
    waf_blocks: Counter,
    connections_refused: Counter,
    duration: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics for a gateway whose profile answers timeouts by `policy`
    /// (`profile.behaviour().http_timeout`): it decides whether a failed
    /// attempt may be retried, so when a request has its final answer.
    pub fn new(policy: TimeoutPolicy) -> Metrics {
        let mut registry = Registry::with_prefix("wsgate");
        let sessions_open = Family::<BackendLabel, Gauge>::default();
        registry.register(
            "sessions_open",
            "Upgraded WebSocket sessions open now, by backend",
            sessions_open.clone(),
        );
        let sessions = Family::<BackendLabel, Counter>::default();
        registry.register(
            "sessions",
            "WebSocket sessions opened (the backend answered 101), by backend",
            sessions.clone(),
        );
        let session_closes = Family::<CloseLabels, Counter>::default();
        registry.register(
            "session_closes",
            "WebSocket sessions ended, by why and by whom; the gateway sees no close codes, and a client whose session the gateway ends sees 1006",
            session_closes.clone(),
        );
        let handshakes = Family::<StatusLabel, Counter>::default();
        registry.register(
            "handshakes",
            "Routed WebSocket upgrade attempts, by the status the client got",
            handshakes.clone(),
        );
        let requests = Family::<StatusLabel, Counter>::default();
        registry.register(
            "requests",
            "Plain HTTP requests, and requests refused before routing, by the status the client got",
            requests.clone(),
        );
        let probes = Family::<ProbeLabels, Counter>::default();
        registry.register(
            "probes",
            "Health probes completed, by backend and result (ok, fail)",
            probes.clone(),
        );
        let backend_healthy = Family::<BackendLabel, Gauge>::default();
        registry.register(
            "backend_healthy",
            "1 while the backend is in its pool, else 0",
            backend_healthy.clone(),
        );
        let backend_errors = Family::<BackendErrorLabels, Counter>::default();
        registry.register(
            "backend_errors",
            "Failed attempts at a backend, by backend and kind",
            backend_errors.clone(),
        );
        let relayed = Family::<DirectionLabel, Counter>::default();
        registry.register_with_unit(
            "relayed",
            "Bytes relayed by closed WebSocket sessions, by direction",
            Unit::Bytes,
            relayed.clone(),
        );
        let waf_blocks = Counter::default();
        registry.register("waf_blocks", "Requests a WAF rule blocked (403)", waf_blocks.clone());
        let connections_refused = Counter::default();
        registry.register(
            "connections_refused",
            "Client connections refused with 503 at the connection limit",
            connections_refused.clone(),
        );
        let duration = Histogram::new(BUCKETS);
        registry.register_with_unit(
            "request_duration",
            "From routing a request to its final answer: response head, 101, or the gateway's error",
            Unit::Seconds,
            duration.clone(),
        );
        Metrics {
            registry,
            policy,
            state: Mutex::new(State {
                timings: Timings::new(MAX_TIMED),
                sessions: BTreeMap::new(),
            }),
            sessions_open,
            sessions,
            session_closes,
            handshakes,
            requests,
            probes,
            backend_healthy,
            backend_errors,
            relayed,
            waf_blocks,
            connections_refused,
            duration,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, finished: Finished) {
        let family = match finished.upgrade {
            Some(true) => &self.handshakes,
            _ => &self.requests,
        };
        family
            .get_or_create(&StatusLabel {
                status: finished.status,
            })
            .inc();
        if let Some(elapsed) = finished.elapsed {
            self.duration.observe(elapsed.as_secs_f64());
        }
    }

    /// The metrics in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let settled = self.state().timings.settle(Instant::now());
        for finished in settled {
            self.record(finished);
        }
        let mut text = String::new();
        // Writing to a String cannot fail; an encoding error would be a bug
        // in a metric's own encoder, and a partial text is still useful.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    fn count(&self, event: &Event) {
        let now = Instant::now();
        match event {
            Event::RequestRouted { id, upgrade, .. } => {
                let forgotten = self.state().timings.routed(*id, *upgrade, now);
                if let Some(finished) = forgotten {
                    self.record(finished);
                }
            }
            Event::RequestRejected { id, status, .. } => {
                let finished = self.state().timings.answered(*id, *status, now);
                self.record(finished);
            }
            Event::ResponseForwarded { id, status, .. } => {
                let finished = self.state().timings.answered(*id, *status, now);
                self.record(Finished {
                    upgrade: Some(false),
                    ..finished
                });
            }
            Event::UpgradeCompleted { id, backend, .. } => {
                let label = BackendLabel {
                    backend: backend.to_string(),
                };
                self.sessions_open.get_or_create(&label).inc();
                self.sessions.get_or_create(&label).inc();
                let finished = {
                    let mut state = self.state();
                    state.sessions.insert(*id, label);
                    state.timings.answered(*id, 101, now)
                };
                self.record(Finished {
                    upgrade: Some(true),
                    ..finished
                });
            }
            Event::UpgradeDeclined { id, status, .. } => {
                let finished = self.state().timings.answered(*id, *status, now);
                self.record(Finished {
                    upgrade: Some(true),
                    ..finished
                });
            }
            Event::InvalidSwitch { id, .. } => {
                let finished = self.state().timings.answered(*id, 502, now);
                self.record(Finished {
                    upgrade: Some(finished.upgrade.unwrap_or(true)),
                    ..finished
                });
            }
            Event::BackendError { id, backend, error } => {
                self.backend_errors
                    .get_or_create(&BackendErrorLabels {
                        backend: backend.to_string(),
                        kind: error_kind_label(error.kind()),
                    })
                    .inc();
                let finished = self.state().timings.failed(*id, error, &self.policy, now);
                if let Some(finished) = finished {
                    self.record(finished);
                }
            }
            Event::SessionClosed {
                id,
                by,
                reason,
                bytes_from_client,
                bytes_from_backend,
            } => {
                if let Some(label) = self.state().sessions.remove(id) {
                    self.sessions_open.get_or_create(&label).dec();
                }
                self.session_closes
                    .get_or_create(&CloseLabels {
                        reason: close_reason_label(reason),
                        by: side_label(*by),
                    })
                    .inc();
                self.relayed
                    .get_or_create(&DirectionLabel {
                        direction: "client_to_backend",
                    })
                    .inc_by(*bytes_from_client);
                self.relayed
                    .get_or_create(&DirectionLabel {
                        direction: "backend_to_client",
                    })
                    .inc_by(*bytes_from_backend);
            }
            Event::WafBlocked { id, .. } => {
                self.waf_blocks.inc();
                let finished = self.state().timings.answered(*id, 403, now);
                self.record(finished);
            }
            Event::ConnectionRefused { .. } => {
                self.connections_refused.inc();
            }
            Event::ProbeCompleted {
                backend,
                result,
                healthy,
            } => {
                let backend = backend.to_string();
                self.probes
                    .get_or_create(&ProbeLabels {
                        backend: backend.clone(),
                        result: if result.is_success() { "ok" } else { "fail" },
                    })
                    .inc();
                self.backend_healthy
                    .get_or_create(&BackendLabel { backend })
                    .set(i64::from(*healthy));
            }
            Event::BackendHealthChanged { backend, healthy, .. } => {
                self.backend_healthy
                    .get_or_create(&BackendLabel {
                        backend: backend.to_string(),
                    })
                    .set(i64::from(*healthy));
            }
            Event::ListenerBound { .. }
            | Event::MaintenanceStarted { .. }
            | Event::MaintenanceCancelled
            | Event::BackendRemoved { .. }
            | Event::BackendAdded { .. }
            | Event::ConfigUpdated { .. }
            | Event::Affinity { .. } => {}
        }
    }
}

impl EventSink for Metrics {
    fn emit(&self, event: Event) {
        self.count(&event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BackendAddr;

    fn backend() -> BackendAddr {
        BackendAddr::parse("127.0.0.1:9001").unwrap()
    }

    /// The value of the sample line starting with `prefix` (name and
    /// labels), if there is one.
    fn sample(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[tokio::test]
    async fn events_move_the_counters() {
        let m = Metrics::new(TimeoutPolicy {
            status: 504,
            retry_other_member: true,
            retry_unreached: false,
        });
        let b = backend();
        m.emit(Event::RequestRouted {
            id: 1,
            rule: "r".into(),
            backend: b.clone(),
            upgrade: true,
            path: "/chat".into(),
        });
        m.emit(Event::UpgradeCompleted {
            id: 1,
            backend: b.clone(),
            subprotocol: None,
        });
        let open = m.encode();
        assert_eq!(
            sample(&open, "wsgate_sessions_open{backend=\"127.0.0.1:9001\"}"),
            Some(1.0)
        );
        assert_eq!(sample(&open, "wsgate_handshakes_total{status=\"101\"}"), Some(1.0));
        assert_eq!(sample(&open, "wsgate_request_duration_seconds_count"), Some(1.0));
        m.emit(Event::SessionClosed {
            id: 1,
            by: Side::Gateway,
            reason: CloseReason::Maintenance,
            bytes_from_client: 10,
            bytes_from_backend: 32,
        });
        m.emit(Event::RequestRejected {
            id: 2,
            status: 400,
            reason: "missing Host header",
        });
        m.emit(Event::ProbeCompleted {
            backend: b.clone(),
            result: crate::health::ProbeResult::Success(200),
            healthy: true,
        });
        let text = m.encode();
        assert_eq!(
            sample(&text, "wsgate_sessions_open{backend=\"127.0.0.1:9001\"}"),
            Some(0.0)
        );
        assert_eq!(
            sample(
                &text,
                "wsgate_session_closes_total{reason=\"maintenance\",by=\"gateway\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, "wsgate_relayed_bytes_total{direction=\"backend_to_client\"}"),
            Some(32.0)
        );
        assert_eq!(sample(&text, "wsgate_requests_total{status=\"400\"}"), Some(1.0));
        assert_eq!(
            sample(&text, "wsgate_probes_total{backend=\"127.0.0.1:9001\",result=\"ok\"}"),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, "wsgate_backend_healthy{backend=\"127.0.0.1:9001\"}"),
            Some(1.0)
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
