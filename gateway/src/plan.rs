//! A validated configuration with every name resolved: what a gateway
//! runs. [`crate::Config::validate`] builds it, so nothing downstream looks
//! a name up again or compiles a pattern twice; an invalid config cannot
//! produce one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::affinity::AffinityPlan;
use crate::config::{BackendAddr, Config, ConfigError, Issue, KeyPath, Protocol};
use crate::probe::ProbeSpec;
use crate::profile::{Behaviour, IdleRule, ProbeDefaults, ProfileName};
use crate::rewrite::Rewrite;
use crate::session::{SessionPolicy, Timer};
use crate::tls;
use crate::waf::Waf;

/// A gateway, resolved.
#[derive(Debug, Clone)]
pub struct Plan {
    pub profile: ProfileName,
    pub behaviour: Behaviour,
    /// How long a client may take to send a request head (408 after).
    pub header_read_timeout: Duration,
    /// The largest request head accepted (431 above).
    pub max_header_bytes: usize,
    /// Client connections one instance holds at once (503 beyond), if
    /// limited.
    pub max_connections: Option<u32>,
    /// Graceful maintenance, for whoever orchestrates the instances.
    pub maintenance: Option<MaintenancePlan>,
    pub listeners: Vec<ListenerPlan>,
    /// One per rule, in config order.
    pub routes: Vec<RoutePlan>,
    /// One per distinct (pool, settings) pair that a rule uses: the unit
    /// that is probed and balanced over. Two rules naming the same pair
    /// (the documents' HTTP and HTTPS listeners to one pool) share one.
    pub backend_sets: Vec<BackendSetPlan>,
}

/// How an orchestrator updates the instances: one update domain at a
/// time, each instance draining for `drain` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenancePlan {
    pub drain: Duration,
    pub update_domains: u32,
}

/// A listener and the route it serves.
#[derive(Debug, Clone)]
pub struct ListenerPlan {
    pub name: String,
    pub protocol: Protocol,
    pub address: SocketAddr,
    /// Certificate chain and key, resolved against the config's directory
    /// (https only).
    pub tls_files: Option<(PathBuf, PathBuf)>,
    pub tcp_keepalive: Option<Duration>,
    /// Index into [`Plan::routes`].
    pub route: usize,
}

/// A rule: where its traffic goes and what applies on the way.
#[derive(Debug, Clone)]
pub struct RoutePlan {
    pub rule: String,
    /// Index into [`Plan::backend_sets`].
    pub backends: usize,
    /// Front Door caching: the Upgrade header is not forwarded.
    pub caching: bool,
    pub waf: Option<Waf>,
    pub rewrite: Option<Rewrite>,
    /// Timers for upgraded sessions on this route.
    /// Shared by every session on the route: each holds a pointer, not a
    /// copy, for its whole life.
    pub session: Arc<SessionPolicy>,
}

/// A pool as seen through one backend settings.
#[derive(Debug, Clone)]
pub struct BackendSetPlan {
    pub pool: String,
    pub settings: SettingsPlan,
    pub members: Vec<MemberPlan>,
    /// Cookie affinity, when the settings (Application Gateway) or the
    /// origin group (Front Door) switch it on.
    pub affinity: Option<AffinityPlan>,
    /// Front Door's latency window (default zero: the fastest origins
    /// only); `None` under profiles that balance without one.
    pub latency_sensitivity: Option<Duration>,
}

/// Backend settings, resolved.
#[derive(Debug, Clone)]
pub struct SettingsPlan {
    pub name: String,
    pub protocol: Protocol,
    /// The settings' own timeout or the profile's default, with where it
    /// came from.
    pub request_timeout: Timer,
    pub host_override: Option<HeaderValue>,
    /// The CA bundle https backends must chain to, resolved.
    pub trusted_ca: Option<PathBuf>,
    /// Where `trusted_ca` sits in the config, for errors reading it.
    pub key: KeyPath,
    pub tcp_keepalive: Option<Duration>,
    /// How long sessions run on once their member is removed or a
    /// configuration update replaced these settings; `None`: never closed
    /// for that (Front Door).
    pub drain: Option<Timer>,
}

impl SettingsPlan {
    /// The name a backend's certificate must carry: the host override when
    /// set, else the backend's host. Traffic and probes use the same name,
    /// so a backend that serves traffic also passes its https probes.
    pub fn tls_name(&self, backend: &BackendAddr) -> String {
        self.host_override
            .as_ref()
            .and_then(|h| h.to_str().ok())
            .map(|h| strip_port(h).to_string())
            .unwrap_or_else(|| backend.host.clone())
    }
}

/// `host:port` or `[v6]:port` without the port.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// One member of a backend set, how it is probed and how routing treats
/// it (Front Door's origin settings; every other member is enabled, with
/// priority 1 and weight 50, so all share alike).
#[derive(Debug, Clone)]
pub struct MemberPlan {
    pub addr: BackendAddr,
    pub probe: ProbeSpec,
    /// 1 (first) to 5.
    pub priority: u8,
    /// 1 to 1000: its share of round robin among the selected members.
    pub weight: u16,
    /// A disabled member gets no traffic.
    pub enabled: bool,
}

/// The TLS material a plan names, read from disk.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    /// Per listener, in plan order.
    pub listeners: Vec<Option<Arc<rustls::ServerConfig>>>,
    /// Per backend set, in plan order.
    pub backend_sets: Vec<Option<Arc<rustls::ClientConfig>>>,
}

impl Plan {
    /// Validates `config` and reads the TLS material it names: what a
    /// gateway starts from ([`crate::Gateway::bind`]) or switches to
    /// ([`crate::GatewayHandle::update`]). A harness that changes the plan
    /// in between (dividing its timers with [`Plan::time_scaled`]) calls
    /// this, then [`crate::Gateway::bind_plan`] or
    /// [`crate::GatewayHandle::update_plan`].
    pub fn resolve(config: &Config) -> Result<(Plan, TlsMaterial), ConfigError> {
        let plan = config
            .validate()
            .map_err(|issues| ConfigError::located("config", None, issues))?;
        let material = plan
            .tls_material()
            .map_err(|issues| ConfigError::located("config", None, issues))?;
        Ok((plan, material))
    }

    /// Reads every certificate, key and CA bundle the plan names. Each
    /// problem is an issue at the key that named the file. This is the
    /// plan's only I/O.
    pub fn tls_material(&self) -> Result<TlsMaterial, Vec<Issue>> {
        let mut issues = Vec::new();
        let listeners = self
            .listeners
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let (cert, key) = l.tls_files.as_ref()?;
                match tls::server_config(cert, key) {
                    Ok(config) => Some(config),
                    Err(e) => {
                        let at = KeyPath::item("listeners", i).key(e.file_key("tls_cert", "tls_key"));
                        issues.push(Issue::new(at, e.to_string()));
                        None
                    }
                }
            })
            .collect();
        let backend_sets = self
            .backend_sets
            .iter()
            .map(|set| {
                let ca = set.settings.trusted_ca.as_ref()?;
                match tls::client_config(ca) {
                    Ok(config) => Some(config),
                    Err(e) => {
                        issues.push(Issue::new(set.settings.key.clone().key("trusted_ca"), e.to_string()));
                        None
                    }
                }
            })
            .collect();
        // Two rules on one settings would report its CA twice.
        issues.dedup();
        if issues.is_empty() {
            Ok(TlsMaterial {
                listeners,
                backend_sets,
            })
        } else {
            Err(issues)
        }
    }
}

/// `d` divided by `k`, for [`Plan::time_scaled`].
fn scaled(d: Duration, k: f64) -> Duration {
    d.div_f64(k)
}

fn scaled_opt(d: Option<Duration>, k: f64) -> Option<Duration> {
    d.map(|d| scaled(d, k))
}

fn scaled_timer(t: Timer, k: f64) -> Timer {
    Timer::new(scaled(t.after, k), t.origin)
}

fn scaled_timer_opt(t: Option<Timer>, k: f64) -> Option<Timer> {
    t.map(|t| scaled_timer(t, k))
}

impl Plan {
    /// The plan with every duration it resolved divided by `k`: header
    /// read timeout, keepalive idles, each route's session timers (idle,
    /// lifetime, frontend idle), each settings' request timeout and drain,
    /// each member's probe interval and timeout, the maintenance drain,
    /// and the profile's own defaults. A scenario of hours then runs on a
    /// real network in minutes (the conformance harness's
    /// `--time-scale`); a timer keeps the config key or profile it came
    /// from, so a close still names its setting. Pure.
    ///
    /// Every struct is taken apart field by field, without `..`, so a
    /// field added to the plan does not compile until it is placed here
    /// as a duration or not.
    ///
    /// `k` must be finite and positive; anything else returns the plan
    /// unchanged.
    pub fn time_scaled(&self, k: f64) -> Plan {
        if !(k.is_finite() && k > 0.0) {
            return self.clone();
        }
        let Plan {
            profile,
            behaviour,
            header_read_timeout,
            max_header_bytes,
            max_connections,
            maintenance,
            listeners,
            routes,
            backend_sets,
        } = self.clone();
        Plan {
            profile,
            behaviour: scaled_behaviour(behaviour, k),
            header_read_timeout: scaled(header_read_timeout, k),
            max_header_bytes,
            max_connections,
            maintenance: maintenance.map(|MaintenancePlan { drain, update_domains }| MaintenancePlan {
                drain: scaled(drain, k),
                update_domains,
            }),
            listeners: listeners.into_iter().map(|l| scaled_listener(l, k)).collect(),
            routes: routes.into_iter().map(|r| scaled_route(r, k)).collect(),
            backend_sets: backend_sets.into_iter().map(|s| scaled_set(s, k)).collect(),
        }
    }
}

fn scaled_behaviour(b: Behaviour, k: f64) -> Behaviour {
    let Behaviour {
        name,
        default_request_timeout,
        upgrade_timeout,
        idle,
        max_lifetime,
        http_timeout,
        caching,
        rewrites,
        probe,
        all_unhealthy,
        max_connections,
        frontend_idle,
        drain,
        graceful_maintenance,
        affinity,
        origin_groups,
        request_timeout_range,
    } = b;
    let ProbeDefaults {
        head,
        loopback_host,
        interval,
        timeout,
        healthy,
        rule,
        initially_healthy,
    } = probe;
    Behaviour {
        name,
        default_request_timeout: scaled(default_request_timeout, k),
        upgrade_timeout,
        idle: match idle {
            IdleRule::Fixed(d) => IdleRule::Fixed(scaled(d, k)),
            IdleRule::RequestTimeout | IdleRule::Never => idle,
        },
        max_lifetime: scaled_opt(max_lifetime, k),
        http_timeout,
        caching,
        rewrites,
        probe: ProbeDefaults {
            head,
            loopback_host,
            interval: scaled(interval, k),
            timeout: scaled(timeout, k),
            healthy,
            rule,
            initially_healthy,
        },
        all_unhealthy,
        max_connections,
        frontend_idle: scaled_opt(frontend_idle, k),
        drain: scaled_opt(drain, k),
        graceful_maintenance,
        affinity,
        origin_groups,
        // Only validation reads it; scaled with the timeouts it bounds.
        request_timeout_range: request_timeout_range.map(|(low, high)| (scaled(low, k), scaled(high, k))),
    }
}

fn scaled_listener(l: ListenerPlan, k: f64) -> ListenerPlan {
    let ListenerPlan {
        name,
        protocol,
        address,
        tls_files,
        tcp_keepalive,
        route,
    } = l;
    ListenerPlan {
        name,
        protocol,
        address,
        tls_files,
        tcp_keepalive: scaled_opt(tcp_keepalive, k),
        route,
    }
}

fn scaled_route(r: RoutePlan, k: f64) -> RoutePlan {
    let RoutePlan {
        rule,
        backends,
        caching,
        waf,
        rewrite,
        session,
    } = r;
    let SessionPolicy {
        idle,
        lifetime,
        frontend_idle,
    } = Arc::unwrap_or_clone(session);
    RoutePlan {
        rule,
        backends,
        caching,
        waf,
        rewrite,
        session: Arc::new(SessionPolicy {
            idle: scaled_timer_opt(idle, k),
            lifetime: scaled_timer_opt(lifetime, k),
            frontend_idle: scaled_timer_opt(frontend_idle, k),
        }),
    }
}

fn scaled_set(s: BackendSetPlan, k: f64) -> BackendSetPlan {
    let BackendSetPlan {
        pool,
        settings,
        members,
        affinity,
        latency_sensitivity,
    } = s;
    let SettingsPlan {
        name,
        protocol,
        request_timeout,
        host_override,
        trusted_ca,
        key,
        tcp_keepalive,
        drain,
    } = settings;
    BackendSetPlan {
        pool,
        settings: SettingsPlan {
            name,
            protocol,
            request_timeout: scaled_timer(request_timeout, k),
            host_override,
            trusted_ca,
            key,
            tcp_keepalive: scaled_opt(tcp_keepalive, k),
            drain: scaled_timer_opt(drain, k),
        },
        members: members
            .into_iter()
            .map(
                |MemberPlan {
                     addr,
                     probe,
                     priority,
                     weight,
                     enabled,
                 }| MemberPlan {
                    addr,
                    probe: scaled_probe(probe, k),
                    priority,
                    weight,
                    enabled,
                },
            )
            .collect(),
        affinity,
        // Compared with measured probe round trips, which the network sets
        // and scaling does not shorten: left as it is.
        latency_sensitivity,
    }
}

fn scaled_probe(p: ProbeSpec, k: f64) -> ProbeSpec {
    let ProbeSpec {
        method,
        tls,
        host,
        path,
        interval,
        timeout,
        healthy,
        match_body,
        rule,
        initially_healthy,
    } = p;
    ProbeSpec {
        method,
        tls,
        host,
        path,
        interval: scaled(interval, k),
        timeout: scaled(timeout, k),
        healthy,
        match_body,
        rule,
        initially_healthy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn plan(profile: ProfileName, max: Option<u32>) -> Plan {
        let mut config = Config::single_route(
            profile,
            "127.0.0.1:0".parse().expect("address"),
            vec!["b1:80".into()],
            None,
        );
        config.max_connections = max;
        config.validate().expect("valid")
    }

    /// AGW-CAPACITY-1: an Application Gateway instance holds 30,000
    /// connections unless the config says otherwise; Front Door states no
    /// figure, so it has no limit.
    #[test]
    fn application_gateway_holds_30000_connections_by_default() {
        assert_eq!(
            plan(ProfileName::ApplicationGateway, None).max_connections,
            Some(30_000)
        );
        assert_eq!(
            plan(ProfileName::ApplicationGateway2016, None).max_connections,
            Some(30_000)
        );
        assert_eq!(plan(ProfileName::FrontDoor, None).max_connections, None);
        assert_eq!(plan(ProfileName::ApplicationGateway, Some(3)).max_connections, Some(3));
    }

    #[test]
    fn ports_are_stripped_from_host_overrides() {
        assert_eq!(strip_port("chat.internal:8443"), "chat.internal");
        assert_eq!(strip_port("chat.internal"), "chat.internal");
        assert_eq!(strip_port("[::1]:443"), "::1");
        assert_eq!(strip_port("10.0.0.4"), "10.0.0.4");
    }

    /// Every duration a gateway runs on is divided, and nothing else
    /// changes: the front-door profile has all of them (idle, lifetime,
    /// request timeout, probes).
    #[test]
    fn time_scaling_divides_every_resolved_duration() {
        let mut config = Config::single_route(
            ProfileName::FrontDoor,
            "127.0.0.1:0".parse().expect("address"),
            vec!["b1:80".into()],
            None,
        );
        config.listeners[0].tcp_keepalive = Some(crate::config::Duration::from_secs(60));
        let plan = config.validate().expect("valid");
        let fast = plan.time_scaled(10.0);
        assert_eq!(fast.header_read_timeout, plan.header_read_timeout / 10);
        assert_eq!(fast.listeners[0].tcp_keepalive, Some(Duration::from_secs(6)));
        let session = &fast.routes[0].session;
        assert_eq!(session.idle.as_ref().map(|t| t.after), Some(Duration::from_secs(30)));
        assert_eq!(
            session.lifetime.as_ref().map(|t| t.after),
            Some(Duration::from_secs(1440))
        );
        assert_eq!(
            session.idle.as_ref().map(|t| &t.origin),
            plan.routes[0].session.idle.as_ref().map(|t| &t.origin),
            "a scaled timer still names where it came from"
        );
        let settings = &fast.backend_sets[0].settings;
        assert_eq!(settings.request_timeout.after, Duration::from_secs(3));
        let probe = &fast.backend_sets[0].members[0].probe;
        assert_eq!(
            (probe.interval, probe.timeout),
            (Duration::from_secs(3), Duration::from_secs(3))
        );
        assert_eq!(fast.behaviour.default_request_timeout, Duration::from_secs(3));
        assert_eq!(fast.behaviour.idle, IdleRule::Fixed(Duration::from_secs(30)));
        assert_eq!(fast.behaviour.max_lifetime, Some(Duration::from_secs(1440)));
        assert_eq!(fast.behaviour.probe.interval, Duration::from_secs(3));
        assert_eq!(fast.max_connections, plan.max_connections);
        assert_eq!(fast.max_header_bytes, plan.max_header_bytes);
        assert_eq!(fast.behaviour.probe.rule, plan.behaviour.probe.rule);
        assert_eq!(
            fast.behaviour.frontend_idle, None,
            "Front Door has no frontend idle timer"
        );
        assert_eq!(fast.behaviour.drain, None, "Front Door never drains");
        // A scale of 1, or one that makes no sense, changes nothing.
        for k in [1.0, 0.0, -2.0, f64::NAN, f64::INFINITY] {
            let same = plan.time_scaled(k);
            assert_eq!(same.header_read_timeout, plan.header_read_timeout, "k = {k}");
            assert_eq!(same.routes[0].session, plan.routes[0].session, "k = {k}");
        }
    }

    /// Application Gateway's lifecycle timers are divided too: the drain
    /// of removed members and configuration updates, the frontend IP's
    /// idle timeout and graceful maintenance's drain.
    #[test]
    fn time_scaling_divides_the_lifecycle_timers() {
        let src = r#"
profile = "application-gateway"
maintenance = { drain = "2m", update_domains = 2 }
[[listeners]]
name = "public"
protocol = "http"
address = "127.0.0.1:0"
frontend_idle_timeout = "10m"
[[backend_pools]]
name = "chat"
addresses = ["b1:80"]
[[backend_settings]]
name = "chat-settings"
protocol = "http"
connection_draining = { enabled = true, drain_timeout = "60s" }
[[rules]]
name = "chat-rule"
listener = "public"
pool = "chat"
settings = "chat-settings"
"#;
        let config = Config::from_toml(src, "gw.toml", std::path::PathBuf::from(".")).expect("parses");
        let plan = config.validate().expect("valid");
        let fast = plan.time_scaled(10.0);
        assert_eq!(
            fast.maintenance,
            Some(MaintenancePlan {
                drain: Duration::from_secs(12),
                update_domains: 2
            })
        );
        let session = &fast.routes[0].session;
        assert_eq!(
            session.frontend_idle.as_ref().map(|t| t.after),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            session.frontend_idle.as_ref().map(|t| &t.origin),
            plan.routes[0].session.frontend_idle.as_ref().map(|t| &t.origin)
        );
        let drain = fast.backend_sets[0].settings.drain.as_ref().map(|t| t.after);
        assert_eq!(drain, Some(Duration::from_secs(6)));
        assert_eq!(fast.behaviour.drain, Some(Duration::from_secs(3)));
        assert_eq!(fast.behaviour.frontend_idle, Some(Duration::from_secs(24)));
    }
}
