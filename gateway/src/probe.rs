//! Health probes: what to send (resolved from the profile, the probe config
//! and the backend settings) and the loop that sends it.
//!
//! One loop runs per backend per gateway instance, and every probe opens a
//! new connection, as the documented probes do. Results feed the pure
//! [`Health`] state machine; the pool reads its verdict.

use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{header, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Limited};
use tokio::time::Instant;

use crate::config::{parse_status_range, BackendAddr, InitialState, ProbeConfig, ProbeMethod, Protocol};
use crate::event::{Event, Events};
use crate::health::{judge, Health, HealthRule, ProbeFailure, ProbeResult, Transition};
use crate::pool::{member_state, MemberState};
use crate::profile::Behaviour;
use crate::session::{deadline, Timer};
use crate::transport::Transport;
use crate::upstream::{self, Tls};

/// The `User-Agent` of every probe, so backends (and tests) can tell probes
/// from traffic.
pub const USER_AGENT: &str = "wsgate-probe/1";

/// The most body a probe reads when matching `match_body`.
const MAX_BODY: usize = 64 * 1024;

/// Everything one probe loop needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    pub method: Method,
    pub tls: bool,
    /// The Host header.
    pub host: String,
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy: Vec<RangeInclusive<u16>>,
    pub match_body: Option<String>,
    pub rule: HealthRule,
    pub initially_healthy: bool,
}

impl ProbeSpec {
    /// Resolves the probe for `backend`: the named probe config if any,
    /// else the profile's default probe; unset fields take the profile's
    /// defaults. `settings_tls` is whether the backend settings speak https
    /// (the default probe follows them).
    pub fn resolve(
        behaviour: &Behaviour,
        probe: Option<&ProbeConfig>,
        host_override: Option<&str>,
        settings_tls: bool,
        backend: &BackendAddr,
    ) -> ProbeSpec {
        let d = &behaviour.probe;
        let default_host = if d.loopback_host {
            "127.0.0.1".to_string()
        } else {
            backend.host.clone()
        };
        let host = probe
            .and_then(|p| p.host.clone())
            .or_else(|| host_override.map(str::to_string))
            .unwrap_or(default_host);
        let method = match probe.and_then(|p| p.method) {
            Some(ProbeMethod::Get) => Method::GET,
            Some(ProbeMethod::Head) => Method::HEAD,
            None if d.head => Method::HEAD,
            None => Method::GET,
        };
        let healthy = probe
            .and_then(|p| p.match_status.as_ref())
            .map(|list| list.iter().filter_map(|s| parse_status_range(s).ok()).collect())
            .unwrap_or_else(|| vec![d.healthy.0..=d.healthy.1]);
        let rule = match d.rule {
            HealthRule::Consecutive { unhealthy_after } => HealthRule::Consecutive {
                unhealthy_after: probe.and_then(|p| p.unhealthy_threshold).unwrap_or(unhealthy_after),
            },
            HealthRule::Window { size, required } => HealthRule::Window {
                size: probe.and_then(|p| p.sample_size).unwrap_or(size),
                required: probe.and_then(|p| p.successful_samples_required).unwrap_or(required),
            },
        };
        ProbeSpec {
            method,
            tls: probe.map(|p| p.protocol == Protocol::Https).unwrap_or(settings_tls),
            host,
            path: probe.map(|p| p.path.clone()).unwrap_or_else(|| "/".to_string()),
            interval: probe.and_then(|p| p.interval).map(|d| d.get()).unwrap_or(d.interval),
            timeout: probe.and_then(|p| p.timeout).map(|d| d.get()).unwrap_or(d.timeout),
            healthy,
            match_body: probe.and_then(|p| p.match_body.clone()),
            rule,
            initially_healthy: match probe.and_then(|p| p.initial_state) {
                Some(InitialState::Healthy) => true,
                Some(InitialState::Unhealthy) => false,
                None => d.initially_healthy,
            },
        }
    }
}

/// A pool member and its health, shared by the probe loop (writer) and the
/// pool (reader), and whether it was taken out of the pool by hand.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) addr: BackendAddr,
    pub(crate) pool: String,
    /// Which backend set of its configuration it belongs to.
    pub(crate) set: usize,
    /// How long its open sessions run on once it is removed; `None`: they
    /// are left open (a profile that never drains).
    pub(crate) drain: Option<Timer>,
    spec: ProbeSpec,
    health: Mutex<Health>,
    removed: AtomicBool,
    /// Set by a removal whose settings drain, cleared when the drain runs
    /// out or the member is put back: while it holds, requests that cookie
    /// affinity binds to the member still reach it.
    draining: AtomicBool,
    /// Bumped by every removal and re-adding, so a drain timer acts only
    /// for the removal that started it.
    removals: AtomicU64,
    /// The round trip of the last probe that passed, in whole milliseconds
    /// (Front Door's latency signal: "based on health probe").
    latency: Mutex<Option<Duration>>,
}

impl Member {
    pub(crate) fn new(addr: BackendAddr, pool: String, spec: &ProbeSpec, set: usize, drain: Option<Timer>) -> Member {
        Member {
            addr,
            pool,
            set,
            drain,
            spec: spec.clone(),
            health: Mutex::new(Health::new(spec.rule, spec.initially_healthy)),
            removed: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            removals: AtomicU64::new(0),
            latency: Mutex::new(None),
        }
    }

    /// The same backend in a new configuration: its health carries over,
    /// so a configuration update does not empty a healthy pool until the
    /// next probe round trip.
    pub(crate) fn carried(&self, pool: String, spec: &ProbeSpec, set: usize, drain: Option<Timer>) -> Member {
        let member = Member::new(self.addr.clone(), pool, spec, set, drain);
        if spec.rule == self.spec.rule {
            *member.lock() = self.snapshot();
        }
        member
            .removed
            .store(self.removed.load(Ordering::Relaxed), Ordering::Relaxed);
        *member.latency.lock().unwrap_or_else(|p| p.into_inner()) = self.latency();
        member
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn is_healthy(&self) -> bool {
        self.lock().is_healthy()
    }

    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Relaxed)
    }

    /// Takes it out of the pool; returns the removal's number, which its
    /// drain timer checks before acting, or `None` if it was out already.
    pub(crate) fn remove(&self) -> Option<u64> {
        if self.removed.swap(true, Ordering::Relaxed) {
            return None;
        }
        self.draining.store(self.drain.is_some(), Ordering::Relaxed);
        Some(self.removals.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Puts it back. It starts over as a new member does: under a profile
    /// that routes only after a passed probe, it waits for the next one.
    /// Returns whether it was out.
    pub(crate) fn add(&self) -> bool {
        if !self.removed.swap(false, Ordering::Relaxed) {
            return false;
        }
        self.draining.store(false, Ordering::Relaxed);
        self.removals.fetch_add(1, Ordering::Relaxed);
        *self.lock() = Health::new(self.spec.rule, self.spec.initially_healthy);
        true
    }

    /// Whether removal number `removal` is still the latest and in force.
    pub(crate) fn still_removed(&self, removal: u64) -> bool {
        self.is_removed() && self.removals.load(Ordering::Relaxed) == removal
    }

    /// Ends removal number `removal`'s drain, if it is still the latest
    /// and in force; returns whether it was.
    pub(crate) fn drained(&self, removal: u64) -> bool {
        if !self.still_removed(removal) {
            return false;
        }
        self.draining.store(false, Ordering::Relaxed);
        true
    }

    /// The member's state for routing.
    pub(crate) fn state(&self) -> MemberState {
        member_state(
            self.is_removed(),
            self.draining.load(Ordering::Relaxed),
            self.is_healthy(),
        )
    }

    /// The last passed probe's round trip, if one has passed.
    pub(crate) fn latency(&self) -> Option<Duration> {
        *self.latency.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a passed probe's round trip. Whole milliseconds, as Front
    /// Door measures: on loopback every origin is then equally near,
    /// rather than apart by a scheduler's microseconds.
    fn measured(&self, round_trip: Duration) {
        let ms = u64::try_from(round_trip.as_millis()).unwrap_or(u64::MAX);
        *self.latency.lock().unwrap_or_else(|p| p.into_inner()) = Some(Duration::from_millis(ms));
    }

    /// The current health, for the admin endpoint.
    pub(crate) fn snapshot(&self) -> Health {
        self.lock().clone()
    }

    fn observe(&self, now: Duration, result: ProbeResult) -> (Option<Transition>, bool) {
        let mut health = self.lock();
        let transition = health.observe(now, result);
        (transition, health.is_healthy())
    }
}

/// Probes `member` forever, every `spec.interval` (start to start),
/// starting at once: a backend is routable after one probe round trip.
pub(crate) async fn run<T: Transport>(
    transport: T,
    tls: Option<Tls>,
    member: Arc<Member>,
    spec: ProbeSpec,
    events: Events,
    started: Instant,
) {
    loop {
        let sent = Instant::now();
        let result = match tokio::time::timeout(spec.timeout, once(&transport, tls.as_ref(), &member.addr, &spec)).await
        {
            Ok(result) => result,
            Err(_) => ProbeResult::Failure(ProbeFailure::Timeout),
        };
        if result.is_success() {
            member.measured(sent.elapsed());
        }
        let (transition, healthy) = member.observe(started.elapsed(), result.clone());
        events.emit(Event::ProbeCompleted {
            backend: member.addr.clone(),
            result: result.clone(),
            healthy,
        });
        if let Some(transition) = transition {
            events.emit(Event::BackendHealthChanged {
                backend: member.addr.clone(),
                healthy,
                failures: match transition {
                    Transition::BecameUnhealthy { failures } => failures,
                    Transition::BecameHealthy => 0,
                },
                last: result,
            });
        }
        tokio::time::sleep_until(deadline(sent, spec.interval)).await;
    }
}

/// One probe over a new connection.
async fn once<T: Transport>(transport: &T, tls: Option<&Tls>, backend: &BackendAddr, spec: &ProbeSpec) -> ProbeResult {
    let fail = |e| ProbeResult::Failure(ProbeFailure::Upstream(e));
    let tls = match (spec.tls, tls) {
        (false, _) => None,
        (true, Some(tls)) => Some(tls),
        (true, None) => {
            // validate() refuses an https probe without trusted_ca; this is
            // a probe that cannot be made, reported as a failure.
            return fail(upstream::UpstreamError::new(
                upstream::Kind::Tls,
                "https probe without trusted_ca",
            ));
        }
    };
    let mut sender = match upstream::open::<T, upstream::Empty>(transport, backend, tls, None).await {
        Ok(sender) => sender,
        Err(e) => return fail(e),
    };
    let mut req = Request::new(upstream::Empty::new());
    *req.method_mut() = spec.method.clone();
    *req.uri_mut() = match spec.path.parse() {
        Ok(uri) => uri,
        Err(e) => {
            return fail(upstream::UpstreamError::new(
                upstream::Kind::Handshake,
                format!("path: {e}"),
            ))
        }
    };
    let headers = req.headers_mut();
    if let Ok(host) = HeaderValue::from_str(&spec.host) {
        headers.insert(header::HOST, host);
    }
    headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    let resp = match upstream::send(&mut sender, req).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let status = resp.status().as_u16();
    let body = match &spec.match_body {
        None => None,
        Some(_) => match Limited::new(resp.into_body(), MAX_BODY).collect().await {
            Ok(b) => Some(b.to_bytes()),
            Err(e) => {
                return fail(upstream::UpstreamError::new(
                    upstream::Kind::Response,
                    format!("body: {e}"),
                ))
            }
        },
    };
    judge(status, body.as_deref(), &spec.healthy, spec.match_body.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Duration as ConfigDuration;
    use crate::profile::ProfileName;

    fn backend() -> BackendAddr {
        BackendAddr::parse("chat-1.internal:9001").unwrap()
    }

    #[test]
    fn application_gateway_default_probe() {
        let spec = ProbeSpec::resolve(
            &ProfileName::ApplicationGateway.behaviour(),
            None,
            None,
            false,
            &backend(),
        );
        assert_eq!(spec.method, Method::GET);
        assert_eq!(spec.host, "127.0.0.1");
        assert_eq!(spec.path, "/");
        assert_eq!(
            (spec.interval, spec.timeout),
            (Duration::from_secs(30), Duration::from_secs(30))
        );
        assert_eq!(spec.healthy, vec![200..=399]);
        assert_eq!(spec.rule, HealthRule::Consecutive { unhealthy_after: 3 });
        assert!(
            !spec.initially_healthy,
            "no traffic before a passed probe (docs 000, 003)"
        );
    }

    #[test]
    fn front_door_default_probe() {
        let spec = ProbeSpec::resolve(&ProfileName::FrontDoor.behaviour(), None, None, false, &backend());
        assert_eq!(spec.method, Method::HEAD);
        assert_eq!(spec.host, "chat-1.internal");
        assert_eq!(spec.healthy, vec![200..=200]);
        assert_eq!(spec.rule, HealthRule::Window { size: 4, required: 2 });
        assert!(spec.initially_healthy, "front-door starts healthy (a choice)");
    }

    #[test]
    fn a_custom_probe_overrides_and_inherits() {
        let probe = ProbeConfig {
            protocol: Protocol::Https,
            path: "/health".into(),
            interval: Some(ConfigDuration::from_secs(5)),
            unhealthy_threshold: Some(2),
            match_status: Some(vec!["200".into(), "204".into()]),
            match_body: Some("ok".into()),
            initial_state: Some(InitialState::Unhealthy),
            ..ProbeConfig::named("p")
        };
        let spec = ProbeSpec::resolve(
            &ProfileName::ApplicationGateway.behaviour(),
            Some(&probe),
            Some("chat.internal"),
            false,
            &backend(),
        );
        assert!(spec.tls);
        assert_eq!(spec.host, "chat.internal", "the settings' host override");
        assert_eq!(spec.path, "/health");
        assert_eq!(
            (spec.interval, spec.timeout),
            (Duration::from_secs(5), Duration::from_secs(30))
        );
        assert_eq!(spec.healthy, vec![200..=200, 204..=204]);
        assert_eq!(spec.rule, HealthRule::Consecutive { unhealthy_after: 2 });
        assert!(!spec.initially_healthy);
    }
}
