//! The lint rules. Each is a pure function of the config and the
//! [`Options`]; each finding names the key it is about and cites the
//! requirement (from `requirements.toml`) or page behind it.

use std::time::Duration;

use gateway::config::routing::DEFAULT_PRIORITY;
use gateway::config::{BackendAddr, BackendSettingsConfig, FrontendIp, KeyPath, WafAction, WafTarget};
use gateway::profile::{AGW_DEFAULT_DRAIN, AGW_FRONTEND_IDLE, AGW_PRIVATE_FRONTEND_IDLE};
use gateway::{Config, ProfileName};

use super::{Client, Options};
use crate::import::frontdoor::CLASSIC_POLICY;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Sessions will fail: the lint exits non-zero.
    Error,
    /// Sessions may fail under some traffic or event.
    Warning,
}

impl Level {
    pub fn word(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }
}

/// A lint rule: its stable code, a short name, and what it rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub code: &'static str,
    pub name: &'static str,
    pub level: Level,
    /// Requirement ids (`AGW-TIMEOUT-3`) or page URLs.
    pub basis: &'static [&'static str],
    pub summary: &'static str,
}

/// Every rule, by code. Codes are stable: a retired rule's code is not reused.
pub const RULES: &[Rule] = &[
    Rule {
        code: "WSG001",
        name: "request-timeout-not-above-ping",
        level: Level::Error,
        basis: &["AGW-TIMEOUT-3", "AGW-TIMEOUT-2"],
        summary: "The request timeout also closes idle WebSocket sessions; it must be greater than the ping interval.",
    },
    Rule {
        code: "WSG002",
        name: "request-timeout-ignored-2016",
        level: Level::Warning,
        basis: &["AGW16-TIMEOUT-1", "AGW-FRONTEND-IDLE-1"],
        summary: "Under the 2016 text the request timeout does not apply to WebSocket; the frontend idle timeout does.",
    },
    Rule {
        code: "WSG003",
        name: "frontend-idle-not-above-ping",
        level: Level::Error,
        basis: &["AGW-FRONTEND-IDLE-1"],
        summary: "The frontend IP's TCP idle timeout closes connections quieter than it; it must be greater than the ping interval.",
    },
    Rule {
        code: "WSG004",
        name: "probe-on-websocket-path",
        level: Level::Error,
        basis: &["AGW-PROBE-1", "AGW-PROBE-3"],
        summary: "A probe on the WebSocket path gets 400/426 from the backend; a match that excludes it takes every member out.",
    },
    Rule {
        code: "WSG005",
        name: "default-probe",
        level: Level::Warning,
        basis: &["AGW-PROBE-DEFAULTS-1", "FD-PROBE-DEFAULTS-1"],
        summary: "Without a custom probe the gateway probes `/`; a WebSocket-only backend fails it.",
    },
    Rule {
        code: "WSG006",
        name: "caching-on-websocket-route",
        level: Level::Error,
        basis: &["FD-CACHE-1"],
        summary: "With caching on, Front Door drops the Upgrade header and the upgrade fails.",
    },
    Rule {
        code: "WSG007",
        name: "draining-off",
        level: Level::Warning,
        basis: &["AGW-CONFIG-UPDATE-1", "AGW-DRAIN-2"],
        summary: "Without connection draining a configuration update or a removed member closes sessions after 30 s.",
    },
    Rule {
        code: "WSG008",
        name: "affinity-off-for-sticky-client",
        level: Level::Warning,
        basis: &[
            "AGW-AFFINITY-1",
            "AGW16-AFFINITY-1",
            "https://learn.microsoft.com/aspnet/core/signalr/scale",
            "https://socket.io/docs/v4/using-multiple-nodes/",
        ],
        summary: "socket.io and SignalR need every request of a connection on one server: affinity must be on.",
    },
    Rule {
        code: "WSG009",
        name: "front-door-classic",
        level: Level::Error,
        basis: &["FD-WS-1"],
        summary: "Front Door (classic) is not a tier that supports WebSocket: every handshake is refused.",
    },
    Rule {
        code: "WSG010",
        name: "backend-port-2016",
        level: Level::Warning,
        basis: &["AGW16-PORT-1"],
        summary: "The 2016 text defines WebSocket backends on port 80/443 only.",
    },
];

/// The rule with `code`.
pub fn rule(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.code == code)
}

/// One finding: a rule applied to one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static Rule,
    /// The value (or, when the value is missing, the table) concerned.
    pub key: KeyPath,
    /// The consequence, in one line.
    pub consequence: String,
    pub fix: String,
}

fn finding(code: &str, key: KeyPath, consequence: String, fix: String) -> Option<Finding> {
    Some(Finding {
        rule: rule(code)?,
        key,
        consequence,
        fix,
    })
}

fn human(d: Duration) -> String {
    gateway::config::Duration::from(d).to_string()
}

fn is_agw(p: ProfileName) -> bool {
    matches!(p, ProfileName::ApplicationGateway | ProfileName::ApplicationGateway2016)
}

/// The settings entries some rule uses, with their index.
fn used_settings(config: &Config) -> Vec<(usize, &BackendSettingsConfig)> {
    config
        .backend_settings
        .iter()
        .enumerate()
        .filter(|(_, s)| config.rules.iter().any(|r| r.settings == s.name))
        .collect()
}

/// Every finding for `config`, in the order of the rules.
pub fn lint(config: &Config, options: &Options) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(request_timeout(config, options));
    out.extend(request_timeout_2016(config));
    out.extend(frontend_idle(config, options));
    out.extend(probe_on_websocket_path(config, options));
    out.extend(default_probe(config));
    out.extend(caching(config));
    out.extend(draining(config));
    out.extend(affinity(config, options));
    out.extend(classic(config));
    out.extend(port_2016(config));
    out
}

/// WSG001: under application-gateway the request timeout is the session's
/// idle timer (doc 000's Note).
pub fn request_timeout(config: &Config, options: &Options) -> Vec<Finding> {
    if config.profile != ProfileName::ApplicationGateway {
        return Vec::new();
    }
    let ping = options.ping_interval;
    used_settings(config)
        .into_iter()
        .filter_map(|(i, s)| {
            let (timeout, key) = match s.request_timeout {
                Some(t) => (t.get(), KeyPath::item("backend_settings", i).key("request_timeout")),
                None => (
                    config.profile.behaviour().default_request_timeout,
                    KeyPath::item("backend_settings", i),
                ),
            };
            if timeout > ping {
                return None;
            }
            finding(
                "WSG001",
                key,
                format!(
                    "sessions through `{}` close with 1006 after {} without data: the request timeout{} is not greater than the {} ping interval",
                    s.name,
                    human(timeout),
                    if s.request_timeout.is_none() { " (the profile's default)" } else { "" },
                    human(ping)
                ),
                format!(
                    "set request_timeout = \"{}\" or more on `{}` (twice the ping), or ping more often than every {}",
                    human(ping * 2),
                    s.name,
                    human(timeout)
                ),
            )
        })
        .collect()
}

/// WSG002: the 2016 text says request timeouts "are not relevant to
/// WebSocket traffic"; a timeout set for idle clean-up does nothing.
pub fn request_timeout_2016(config: &Config) -> Vec<Finding> {
    if config.profile != ProfileName::ApplicationGateway2016 {
        return Vec::new();
    }
    used_settings(config)
        .into_iter()
        .filter_map(|(i, s)| {
            let t = s.request_timeout?;
            finding(
                "WSG002",
                KeyPath::item("backend_settings", i).key("request_timeout"),
                format!(
                    "request_timeout ({t}) does not apply to WebSocket under application-gateway-2016: idle sessions run until the frontend idle timeout ({} by default)",
                    human(AGW_FRONTEND_IDLE)
                ),
                "rely on the frontend idle timeout (frontend_idle_timeout on the listener) or close idle sessions in the application".to_string(),
            )
        })
        .collect()
}

/// WSG003: the frontend IP's TCP idle timeout against the ping interval.
pub fn frontend_idle(config: &Config, options: &Options) -> Vec<Finding> {
    if !is_agw(config.profile) {
        return Vec::new();
    }
    let ping = options.ping_interval;
    config
        .listeners
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let at = KeyPath::item("listeners", i);
            let (idle, key) = match (l.frontend_idle_timeout, l.frontend_ip) {
                (Some(d), _) => (d.get(), at.key("frontend_idle_timeout")),
                (None, FrontendIp::Private) => (AGW_PRIVATE_FRONTEND_IDLE, at.key("frontend_ip")),
                (None, FrontendIp::Public) => (AGW_FRONTEND_IDLE, at),
            };
            if idle > ping {
                return None;
            }
            finding(
                "WSG003",
                key,
                format!(
                    "connections on listener `{}` close with 1006 after {} without traffic: the frontend idle timeout is not greater than the {} ping interval",
                    l.name,
                    human(idle),
                    human(ping)
                ),
                format!("ping more often than every {} (or raise frontend_idle_timeout, up to 30m on a public IP)", human(idle)),
            )
        })
        .collect()
}

/// Whether a probe path looks like a WebSocket endpoint.
pub fn websocket_path(path: &str, client: Option<Client>) -> bool {
    let lower = path.to_ascii_lowercase();
    if client.is_some_and(|c| lower.starts_with(c.websocket_path())) {
        return true;
    }
    lower.split(['/', '?', '.']).any(|seg| {
        matches!(
            seg,
            "ws" | "wss" | "websocket" | "websockets" | "socket" | "socket.io" | "signalr" | "hub" | "hubs"
        ) || seg == "socket"
    }) || lower.contains("socket.io")
}

/// WSG004: a probe on the WebSocket path whose match excludes the answer a
/// WebSocket endpoint gives a plain GET (400 or 426).
pub fn probe_on_websocket_path(config: &Config, options: &Options) -> Vec<Finding> {
    config
        .probes
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            if !websocket_path(&p.path, options.client) {
                return None;
            }
            let default = if config.profile == ProfileName::FrontDoor { vec!["200".to_string()] } else { vec!["200-399".to_string()] };
            let statuses = p.match_status.clone().unwrap_or(default);
            let admits = |code: u16| {
                statuses
                    .iter()
                    .filter_map(|s| gateway::config::parse_status_range(s).ok())
                    .any(|r| r.contains(&code))
            };
            if admits(400) || admits(426) {
                return None;
            }
            let outcome = if config.profile == ProfileName::FrontDoor {
                "every origin fails it, and Front Door then spreads traffic over all of them, failing ones included"
            } else {
                "every member fails it and leaves the pool: handshakes and requests get 502"
            };
            finding(
                "WSG004",
                KeyPath::item("probes", i).key("path"),
                format!(
                    "probe `{}` asks {} for a plain response, but a WebSocket endpoint answers 400 or 426, outside match {:?}: {outcome}",
                    p.name, p.path, statuses
                ),
                "probe a plain HTTP health path (path = \"/healthz\"), or add \"400\" and \"426\" to match_status".to_string(),
            )
        })
        .collect()
}

/// WSG005: no custom probe, so the profile's default `/` probe.
pub fn default_probe(config: &Config) -> Vec<Finding> {
    let (method, host) = if config.profile == ProfileName::FrontDoor {
        ("HEAD", "the origin's host")
    } else {
        ("GET", "127.0.0.1")
    };
    used_settings(config)
        .into_iter()
        .filter(|(_, s)| s.probe.is_none())
        .filter_map(|(i, s)| {
            finding(
                "WSG005",
                KeyPath::item("backend_settings", i),
                format!(
                    "`{}` has no custom probe, so members are probed with {method} / (Host {host}): a WebSocket-only backend answers 400 or 426 and is taken out of the pool",
                    s.name
                ),
                format!("add a [[probes]] entry on a plain HTTP health path and set probe = \"…\" on `{}`", s.name),
            )
        })
        .collect()
}

/// WSG006: caching on a route (every route carries WebSocket).
pub fn caching(config: &Config) -> Vec<Finding> {
    config
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.caching)
        .filter_map(|(i, r)| {
            finding(
                "WSG006",
                KeyPath::item("rules", i).key("caching"),
                format!(
                    "WebSocket upgrades through route `{}` fail: with caching on, the Upgrade header is not forwarded and the origin sees a plain request",
                    r.name
                ),
                "turn caching off on routes that carry WebSocket (remove cacheConfiguration / the cache {} block), or give WebSocket its own route".to_string(),
            )
        })
        .collect()
}

/// WSG007: draining off under Application Gateway.
pub fn draining(config: &Config) -> Vec<Finding> {
    if !is_agw(config.profile) {
        return Vec::new();
    }
    used_settings(config)
        .into_iter()
        .filter_map(|(i, s)| {
            let at = KeyPath::item("backend_settings", i);
            let key = match s.connection_draining {
                Some(d) if d.enabled => return None,
                Some(_) => at.key("connection_draining"),
                None => at,
            };
            finding(
                "WSG007",
                key,
                format!(
                    "draining is off on `{}`: a configuration update (or removing a member) drops every session it carries after {}",
                    s.name,
                    human(AGW_DEFAULT_DRAIN)
                ),
                "connection_draining = { enabled = true, drain_timeout = \"3600s\" } (connectionDraining.enabled in Azure), and reconnect in the client".to_string(),
            )
        })
        .collect()
}

/// Whether a rule's traffic has affinity: its backend settings'
/// `cookie_affinity` (Application Gateway) or its pool's
/// `session_affinity` (Front Door), as the profile places it. Under
/// application-gateway-2016 the cookie does not route the handshake
/// (AGW16-AFFINITY-1), so for a WebSocket client it is as if off.
fn affinity_on(config: &Config, rule: &gateway::config::RuleConfig) -> bool {
    let rules = config.profile.behaviour().affinity;
    if !rules.websocket {
        return false;
    }
    if rules.on_settings {
        config
            .backend_settings
            .iter()
            .any(|s| s.name == rule.settings && s.cookie_affinity)
    } else {
        config
            .backend_pools
            .iter()
            .any(|p| p.name == rule.pool && p.session_affinity)
    }
}

/// WSG008: socket.io and SignalR need every request of a connection on the
/// same server; without affinity, several members sharing the traffic
/// (enabled, of the top priority) break them.
pub fn affinity(config: &Config, options: &Options) -> Vec<Finding> {
    let Some(client) = options.client else {
        return Vec::new();
    };
    config
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| !affinity_on(config, r))
        .filter_map(|(i, r)| {
            let pool = config.backend_pools.iter().find(|p| p.name == r.pool)?;
            let members = sharing(pool);
            if members < 2 {
                return None;
            }
            let how = match client {
                Client::Socketio => "socket.io's long-polling requests and its upgrade land on different members, which answer 400 \"Session ID unknown\"",
                Client::Signalr => "SignalR's negotiate and its connect land on different members, which answer 404 for the connection id",
            };
            let fix = if config.profile.behaviour().affinity.websocket {
                format!(
                    "turn on cookie-based affinity (cookie_affinity on the backend settings, Application Gateway) or \
                     session affinity (session_affinity on the origin group, Front Door), or make the {} client use \
                     the WebSocket transport only",
                    client.name()
                )
            } else {
                format!(
                    "under {} affinity does not route the handshake (AGW16-AFFINITY-1): use one backend, or make the \
                     {} client use the WebSocket transport only",
                    config.profile,
                    client.name()
                )
            };
            finding(
                "WSG008",
                KeyPath::item("rules", i).key("pool"),
                format!("affinity is off for route `{}` over {members} members: {how}", r.name),
                fix,
            )
        })
        .collect()
}

/// How many members of `pool` share its traffic while they are healthy:
/// the enabled ones of the top priority, since Front Door sends a lower
/// priority nothing until every higher one is unavailable. Plain addresses
/// are enabled origins of the default priority.
fn sharing(pool: &gateway::config::BackendPoolConfig) -> usize {
    let priorities: Vec<u8> = pool
        .addresses
        .iter()
        .map(|_| DEFAULT_PRIORITY)
        .chain(
            pool.origins
                .iter()
                .filter(|o| o.enabled != Some(false))
                .map(|o| o.priority.unwrap_or(DEFAULT_PRIORITY)),
        )
        .collect();
    let top = priorities.iter().min();
    priorities.iter().filter(|p| Some(*p) == top).count()
}

/// WSG009: Front Door (classic), imported as a WAF policy refusing the
/// Upgrade header, or any WAF rule that blocks the Upgrade header.
pub fn classic(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, rule) in config.rules.iter().enumerate() {
        let Some(name) = &rule.waf else { continue };
        let Some(policy) = config.waf_policies.iter().find(|p| &p.name == name) else {
            continue;
        };
        let blocks_upgrade = policy.rules.iter().any(|w| {
            w.action == WafAction::Block
                && w.target == WafTarget::Header
                && w.header.as_deref().is_some_and(|h| h.eq_ignore_ascii_case("upgrade"))
        });
        if !blocks_upgrade {
            continue;
        }
        let consequence = if name == CLASSIC_POLICY {
            format!(
                "route `{}` is on Front Door (classic), which has no WebSocket: every handshake is refused (403)",
                rule.name
            )
        } else {
            format!("WAF policy `{name}` blocks the Upgrade header on route `{}`: every WebSocket handshake is refused (403)", rule.name)
        };
        out.extend(finding(
            "WSG009",
            KeyPath::item("rules", i).key("waf"),
            consequence,
            "migrate to Azure Front Door Standard or Premium (doc 002: WebSocket \"on both Standard and Premium tiers\")".to_string(),
        ));
    }
    out
}

/// WSG010: the 2016 text's "backend port 80/443 only".
pub fn port_2016(config: &Config) -> Vec<Finding> {
    if config.profile != ProfileName::ApplicationGateway2016 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, pool) in config.backend_pools.iter().enumerate() {
        for (j, address) in pool.addresses.iter().enumerate() {
            let Ok(addr) = BackendAddr::parse(address) else {
                continue;
            };
            if addr.port == 80 || addr.port == 443 {
                continue;
            }
            out.extend(finding(
                "WSG010",
                KeyPath::item("backend_pools", i).key("addresses").index(j),
                format!(
                    "backend {address} is on port {}: the 2016 text defines WebSocket backends on port 80/443 only",
                    addr.port
                ),
                "serve the backend on port 80 or 443 (the backend settings' port)".to_string(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway::config::{DrainingConfig, ProbeConfig};
    use std::net::SocketAddr;

    fn config(profile: ProfileName, backends: &[&str]) -> Config {
        Config::single_route(
            profile,
            SocketAddr::from(([127, 0, 0, 1], 80)),
            backends.iter().map(|b| b.to_string()).collect(),
            None,
        )
    }

    fn codes(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.rule.code).collect()
    }

    const PING: Options = Options {
        ping_interval: Duration::from_secs(20),
        client: None,
    };

    #[test]
    fn every_rule_cites_a_requirement_that_exists_or_a_page() {
        for r in RULES {
            assert!(!r.basis.is_empty(), "{}", r.code);
            for b in r.basis {
                assert!(
                    b.starts_with("https://") || crate::catalogue::find(b).is_some(),
                    "{} cites {b}, which the catalogue lacks",
                    r.code
                );
            }
        }
        let mut seen: Vec<&str> = RULES.iter().map(|r| r.code).collect();
        seen.dedup();
        assert_eq!(seen.len(), RULES.len(), "codes are unique");
    }

    #[test]
    fn a_request_timeout_not_above_the_ping_closes_sessions() {
        let mut c = config(ProfileName::ApplicationGateway, &["b:80"]);
        let f = request_timeout(&c, &PING);
        assert_eq!(codes(&f), ["WSG001"], "the 20 s default is not above 20 s pings");
        assert_eq!(f[0].key.to_string(), "backend_settings[0]");
        c.backend_settings[0].request_timeout = Some(gateway::config::Duration::from_secs(40));
        assert!(request_timeout(&c, &PING).is_empty());
        let slow = Options {
            ping_interval: Duration::from_secs(40),
            client: None,
        };
        let f = request_timeout(&c, &slow);
        assert_eq!(f[0].key.to_string(), "backend_settings[0].request_timeout");
        assert!(
            f[0].consequence.contains("close with 1006 after 40s"),
            "{}",
            f[0].consequence
        );
        assert!(request_timeout(&config(ProfileName::FrontDoor, &["b:80"]), &PING).is_empty());
    }

    #[test]
    fn the_2016_profile_ignores_the_request_timeout_and_idles_at_the_frontend() {
        let mut c = config(ProfileName::ApplicationGateway2016, &["b:80"]);
        assert!(request_timeout_2016(&c).is_empty());
        c.backend_settings[0].request_timeout = Some(gateway::config::Duration::from_secs(30));
        assert_eq!(codes(&request_timeout_2016(&c)), ["WSG002"]);
        let slow = Options {
            ping_interval: Duration::from_secs(300),
            client: None,
        };
        let f = frontend_idle(&c, &slow);
        assert_eq!(codes(&f), ["WSG003"], "4 minutes by default");
        c.listeners[0].frontend_idle_timeout = Some(gateway::config::Duration::from_secs(600));
        assert!(frontend_idle(&c, &slow).is_empty());
        c.listeners[0].frontend_idle_timeout = None;
        c.listeners[0].frontend_ip = FrontendIp::Private;
        assert!(frontend_idle(&c, &PING).is_empty());
    }

    #[test]
    fn a_probe_on_the_websocket_path_is_flagged_unless_its_match_admits_426() {
        let mut c = config(ProfileName::ApplicationGateway, &["b:80"]);
        c.probes.push(ProbeConfig {
            path: "/ws".into(),
            ..ProbeConfig::named("p")
        });
        assert_eq!(codes(&probe_on_websocket_path(&c, &PING)), ["WSG004"]);
        c.probes[0].match_status = Some(vec!["200-399".into(), "426".into()]);
        assert!(probe_on_websocket_path(&c, &PING).is_empty());
        c.probes[0] = ProbeConfig {
            path: "/socket.io/?EIO=4".into(),
            ..ProbeConfig::named("p")
        };
        assert_eq!(codes(&probe_on_websocket_path(&c, &PING)), ["WSG004"]);
        c.probes[0].path = "/healthz".into();
        assert!(probe_on_websocket_path(&c, &PING).is_empty());
        assert!(websocket_path("/hub/chat", Some(Client::Signalr)));
        assert!(!websocket_path("/api/status", None));
    }

    #[test]
    fn settings_without_a_probe_use_the_default_one() {
        let mut c = config(ProfileName::ApplicationGateway, &["b:80"]);
        assert_eq!(codes(&default_probe(&c)), ["WSG005"]);
        c.backend_settings[0].probe = Some("p".into());
        assert!(default_probe(&c).is_empty());
    }

    #[test]
    fn caching_and_draining() {
        let mut c = config(ProfileName::FrontDoor, &["b:80"]);
        assert!(caching(&c).is_empty());
        c.rules[0].caching = true;
        assert_eq!(codes(&caching(&c)), ["WSG006"]);
        assert!(draining(&c).is_empty(), "Front Door does not drain");
        let mut c = config(ProfileName::ApplicationGateway, &["b:80"]);
        assert_eq!(codes(&draining(&c)), ["WSG007"]);
        c.backend_settings[0].connection_draining = Some(DrainingConfig {
            enabled: false,
            drain_timeout: None,
        });
        assert_eq!(
            draining(&c)[0].key.to_string(),
            "backend_settings[0].connection_draining"
        );
        c.backend_settings[0].connection_draining = Some(DrainingConfig {
            enabled: true,
            drain_timeout: Some(gateway::config::Duration::from_secs(60)),
        });
        assert!(draining(&c).is_empty());
    }

    #[test]
    fn sticky_clients_need_affinity_over_several_members() {
        let c = config(ProfileName::ApplicationGateway, &["a:80", "b:80"]);
        assert!(affinity(&c, &PING).is_empty(), "no client named");
        let io = Options::new(None, Some(Client::Socketio));
        assert_eq!(io.ping_interval, Duration::from_secs(25));
        assert_eq!(codes(&affinity(&c, &io)), ["WSG008"]);
        let one = config(ProfileName::ApplicationGateway, &["a:80"]);
        assert!(affinity(&one, &io).is_empty());
        let mut on = c.clone();
        on.backend_settings[0].cookie_affinity = true;
        assert!(affinity(&on, &io).is_empty(), "cookie_affinity on the rule's settings");
        let mut fd = config(ProfileName::FrontDoor, &["a:80", "b:80"]);
        assert_eq!(codes(&affinity(&fd, &io)), ["WSG008"]);
        fd.backend_pools[0].session_affinity = true;
        assert!(affinity(&fd, &io).is_empty(), "session_affinity on the origin group");
        let origin = |address: &str, priority, enabled| gateway::config::OriginConfig {
            address: address.into(),
            priority,
            weight: None,
            enabled,
        };
        let mut tiers = config(ProfileName::FrontDoor, &[]);
        tiers.backend_pools[0].origins = vec![
            origin("a:80", Some(1), None),
            origin("b:80", Some(2), None),
            origin("c:80", Some(1), Some(false)),
        ];
        assert!(
            affinity(&tiers, &io).is_empty(),
            "one enabled origin at the top priority takes every request"
        );
        tiers.backend_pools[0].origins[1].priority = None;
        let f = affinity(&tiers, &io);
        assert!(f[0].consequence.contains("over 2 members"), "{:?}", f[0].consequence);
        tiers.backend_pools[0].origins[2].enabled = None;
        let f = affinity(&tiers, &io);
        assert!(f[0].consequence.contains("over 3 members"), "{:?}", f[0].consequence);
        let mut old = config(ProfileName::ApplicationGateway2016, &["a:80", "b:80"]);
        old.backend_settings[0].cookie_affinity = true;
        let f = affinity(&old, &io);
        assert_eq!(codes(&f), ["WSG008"], "2016: the cookie does not route the handshake");
        assert!(f[0].fix.contains("AGW16-AFFINITY-1"), "{:?}", f[0].fix);
    }

    #[test]
    fn backend_ports_under_2016() {
        let c = config(ProfileName::ApplicationGateway2016, &["a:80", "b:8080"]);
        let f = port_2016(&c);
        assert_eq!(codes(&f), ["WSG010"]);
        assert_eq!(f[0].key.to_string(), "backend_pools[0].addresses[1]");
        assert!(port_2016(&config(ProfileName::ApplicationGateway, &["b:8080"])).is_empty());
    }
}
