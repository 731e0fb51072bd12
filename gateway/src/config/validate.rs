//! Checks a typed [`Config`] for what serde cannot see, and resolves it
//! into a [`Plan`]. Pure: it reports every issue with the key it concerns
//! and leaves locating it to the caller; files are not read.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use regex::Regex;

use super::{
    BackendAddr, Config, Duration, KeyPath, ProbeMethod, Protocol, WafTarget, MAX_DURATION, MIN_MAX_HEADER_BYTES,
};
use crate::plan::{BackendSetPlan, ListenerPlan, MemberPlan, Plan, RoutePlan, SettingsPlan};
use crate::probe::ProbeSpec;
use crate::rewrite::Rewrite;
use crate::session::{Origin, Overrides, SessionPolicy, Timer};
use crate::waf::{self, Waf};

/// One problem in a config, before it is located in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub key: KeyPath,
    pub message: String,
}

impl Issue {
    pub fn new(key: KeyPath, message: impl Into<String>) -> Issue {
        Issue {
            key,
            message: message.into(),
        }
    }
}

/// Every duration in a config with its key, so each is checked the same
/// way: greater than zero and at most [`MAX_DURATION`].
fn durations(config: &Config) -> Vec<(KeyPath, Duration)> {
    let mut out = vec![(KeyPath::root().key("header_read_timeout"), config.header_read_timeout)];
    let top = [
        ("idle_timeout", config.idle_timeout),
        ("max_lifetime", config.max_lifetime),
    ];
    out.extend(top.into_iter().filter_map(|(k, d)| Some((KeyPath::root().key(k), d?))));
    if let Some(m) = &config.maintenance {
        out.push((KeyPath::root().key("maintenance").key("drain"), m.drain));
    }
    out.extend(
        config
            .origin_response_timeout
            .map(|d| (KeyPath::root().key("origin_response_timeout"), d)),
    );
    for (i, l) in config.listeners.iter().enumerate() {
        let at = KeyPath::item("listeners", i);
        out.extend(l.tcp_keepalive.map(|d| (at.clone().key("tcp_keepalive"), d)));
        out.extend(
            l.frontend_idle_timeout
                .map(|d| (at.clone().key("frontend_idle_timeout"), d)),
        );
    }
    for (i, s) in config.backend_settings.iter().enumerate() {
        let at = KeyPath::item("backend_settings", i);
        out.extend(s.request_timeout.map(|d| (at.clone().key("request_timeout"), d)));
        out.extend(s.tcp_keepalive.map(|d| (at.clone().key("tcp_keepalive"), d)));
        out.extend(
            s.connection_draining
                .and_then(|c| c.drain_timeout)
                .map(|d| (at.clone().key("connection_draining").key("drain_timeout"), d)),
        );
    }
    for (i, p) in config.probes.iter().enumerate() {
        let at = KeyPath::item("probes", i);
        out.extend(p.interval.map(|d| (at.clone().key("interval"), d)));
        out.extend(p.timeout.map(|d| (at.clone().key("timeout"), d)));
    }
    out
}

/// Checks and resolves a config: the plan, or every issue found.
pub(super) fn validate(config: &Config) -> Result<Plan, Vec<Issue>> {
    let mut issues = check(config);
    let wafs = compile_wafs(config, &mut issues);
    let rewrites = compile_rewrites(config, &mut issues);
    if !issues.is_empty() {
        return Err(issues);
    }
    resolve(config, &wafs, &rewrites)
}

fn check(config: &Config) -> Vec<Issue> {
    let mut issues = Vec::new();

    for (key, value) in durations(config) {
        if value.is_zero() {
            issues.push(zero(key));
        } else if value.is_too_long() {
            issues.push(Issue::new(
                key,
                format!(
                    "expected a duration of at most {} (a year), found {value}",
                    Duration::from(MAX_DURATION)
                ),
            ));
        }
    }
    lifecycle(config, &mut issues);
    if config.max_connections == Some(0) {
        issues.push(Issue::new(
            KeyPath::root().key("max_connections"),
            "expected at least 1 connection",
        ));
    }
    if config.max_header_bytes < MIN_MAX_HEADER_BYTES {
        issues.push(Issue::new(
            KeyPath::root().key("max_header_bytes"),
            format!(
                "expected at least {MIN_MAX_HEADER_BYTES} bytes, found {}",
                config.max_header_bytes
            ),
        ));
    }

    let names = |section: &str, names: Vec<&str>, issues: &mut Vec<Issue>| {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, name) in names.into_iter().enumerate() {
            let key = KeyPath::item(section, i).key("name");
            if name.trim().is_empty() {
                issues.push(Issue::new(key, "expected a non-empty name"));
            } else if let Some(first) = seen.insert(name, i) {
                issues.push(Issue::new(
                    key,
                    format!("duplicate name `{name}`: already used by {section}[{first}]"),
                ));
                seen.insert(name, first);
            }
        }
    };
    names(
        "listeners",
        config.listeners.iter().map(|l| l.name.as_str()).collect(),
        &mut issues,
    );
    names(
        "backend_pools",
        config.backend_pools.iter().map(|p| p.name.as_str()).collect(),
        &mut issues,
    );
    names(
        "backend_settings",
        config.backend_settings.iter().map(|s| s.name.as_str()).collect(),
        &mut issues,
    );
    names(
        "probes",
        config.probes.iter().map(|p| p.name.as_str()).collect(),
        &mut issues,
    );
    names(
        "rules",
        config.rules.iter().map(|r| r.name.as_str()).collect(),
        &mut issues,
    );
    names(
        "waf_policies",
        config.waf_policies.iter().map(|p| p.name.as_str()).collect(),
        &mut issues,
    );
    names(
        "rewrite_sets",
        config.rewrite_sets.iter().map(|r| r.name.as_str()).collect(),
        &mut issues,
    );

    if config.listeners.is_empty() {
        issues.push(Issue::new(
            KeyPath::root().key("listeners"),
            "expected at least one [[listeners]] entry",
        ));
    }
    let mut addresses = BTreeMap::new();
    for (i, listener) in config.listeners.iter().enumerate() {
        let at = KeyPath::item("listeners", i);
        if let Some(first) = addresses.insert(listener.address, i) {
            issues.push(Issue::new(
                at.clone().key("address"),
                format!("address {} is already used by listeners[{first}]", listener.address),
            ));
        }
        match listener.protocol {
            Protocol::Https => {
                if listener.tls_cert.is_none() {
                    issues.push(Issue::new(
                        at.clone(),
                        "an https listener needs `tls_cert` (a PEM certificate chain)",
                    ));
                }
                if listener.tls_key.is_none() {
                    issues.push(Issue::new(
                        at.clone(),
                        "an https listener needs `tls_key` (a PEM private key)",
                    ));
                }
            }
            Protocol::Http => {
                if listener.tls_cert.is_some() || listener.tls_key.is_some() {
                    issues.push(Issue::new(
                        at.clone().key("protocol"),
                        "`tls_cert`/`tls_key` are set but protocol is \"http\"; expected protocol = \"https\"",
                    ));
                }
            }
        }
        if !config.rules.iter().any(|r| r.listener == listener.name) {
            issues.push(Issue::new(
                at.key("name"),
                format!("no rule routes listener `{}`", listener.name),
            ));
        }
    }

    for (i, pool) in config.backend_pools.iter().enumerate() {
        // Each address is checked with the routing settings beside it.
        if pool.addresses.is_empty() && pool.origins.is_empty() {
            let message = if config.profile.behaviour().origin_groups {
                "expected at least one backend address or [[backend_pools.origins]] entry"
            } else {
                "expected at least one backend address"
            };
            issues.push(Issue::new(KeyPath::item("backend_pools", i).key("addresses"), message));
        }
    }

    for (i, settings) in config.backend_settings.iter().enumerate() {
        let at = KeyPath::item("backend_settings", i);
        if let Some(probe) = &settings.probe {
            if !config.probes.iter().any(|p| &p.name == probe) {
                issues.push(unknown(
                    at.clone().key("probe"),
                    "probe",
                    probe,
                    config.probes.iter().map(|p| &p.name),
                ));
            }
        }
        if settings.protocol == Protocol::Https && settings.trusted_ca.is_none() {
            issues.push(Issue::new(
                at.clone(),
                "an https backend needs `trusted_ca` (a PEM bundle of the CAs its certificate chains to)",
            ));
        }
        if settings.trusted_ca.is_some() && settings.protocol == Protocol::Http {
            issues.push(Issue::new(
                at.clone().key("trusted_ca"),
                "`trusted_ca` applies to https backends; expected protocol = \"https\"",
            ));
        }
        if let Some(host) = &settings.host_override {
            if host.is_empty() || http::HeaderValue::from_str(host).is_err() {
                issues.push(Issue::new(at.key("host_override"), "expected a valid host name"));
            }
        }
    }

    for (i, probe) in config.probes.iter().enumerate() {
        let at = KeyPath::item("probes", i);
        if probe.unhealthy_threshold == Some(0) {
            issues.push(Issue::new(at.clone().key("unhealthy_threshold"), "expected at least 1"));
        }
        let front_door = config.profile.behaviour().probe.uses_samples();
        for (key, set) in [
            ("method", probe.method.is_some()),
            ("sample_size", probe.sample_size.is_some()),
            (
                "successful_samples_required",
                probe.successful_samples_required.is_some(),
            ),
        ] {
            if set && !front_door {
                issues.push(Issue::new(
                    at.clone().key(key),
                    format!("`{key}` is a front-door probe setting; profile {} probes with GET and counts consecutive failures", config.profile),
                ));
            }
        }
        if front_door && probe.unhealthy_threshold.is_some() {
            issues.push(Issue::new(
                at.clone().key("unhealthy_threshold"),
                "front-door probes count samples: use `sample_size` and `successful_samples_required`",
            ));
        }
        let head = probe.method == Some(ProbeMethod::Head) || (front_door && probe.method.is_none());
        if probe.match_body.is_some() && head {
            issues.push(Issue::new(
                at.clone().key("match_body"),
                "a HEAD probe has no body to match; set method = \"GET\"",
            ));
        }
        if probe.sample_size == Some(0) {
            issues.push(Issue::new(at.clone().key("sample_size"), "expected at least 1"));
        }
        if let (Some(size), Some(required)) = (probe.sample_size.or(Some(4)), probe.successful_samples_required) {
            if required == 0 || required > size {
                issues.push(Issue::new(
                    at.clone().key("successful_samples_required"),
                    format!("expected between 1 and sample_size ({size}), found {required}"),
                ));
            }
        }
        if probe.protocol == Protocol::Https
            && !config
                .backend_settings
                .iter()
                .filter(|s| s.probe.as_deref() == Some(probe.name.as_str()))
                .all(|s| s.trusted_ca.is_some())
        {
            issues.push(Issue::new(
                at.clone().key("protocol"),
                "an https probe verifies the backend against its backend settings' `trusted_ca`; set it there",
            ));
        }
        if !probe.path.starts_with('/') {
            issues.push(Issue::new(
                at.clone().key("path"),
                format!("expected a path starting with `/`, found `{}`", probe.path),
            ));
        }
        for (j, status) in probe.match_status.iter().flatten().enumerate() {
            if let Err(message) = parse_status_range(status) {
                issues.push(Issue::new(at.clone().key("match_status").index(j), message));
            }
        }
    }

    for (i, rule) in config.rules.iter().enumerate() {
        let at = KeyPath::item("rules", i);
        if !config.listeners.iter().any(|l| l.name == rule.listener) {
            issues.push(unknown(
                at.clone().key("listener"),
                "listener",
                &rule.listener,
                config.listeners.iter().map(|l| &l.name),
            ));
        }
        if !config.backend_pools.iter().any(|p| p.name == rule.pool) {
            issues.push(unknown(
                at.clone().key("pool"),
                "backend pool",
                &rule.pool,
                config.backend_pools.iter().map(|p| &p.name),
            ));
        }
        if !config.backend_settings.iter().any(|s| s.name == rule.settings) {
            issues.push(unknown(
                at.clone().key("settings"),
                "backend settings",
                &rule.settings,
                config.backend_settings.iter().map(|s| &s.name),
            ));
        }
        let behaviour = config.profile.behaviour();
        if rule.caching && !behaviour.caching {
            issues.push(Issue::new(
                at.clone().key("caching"),
                format!(
                    "caching is a front-door route option; profile {} has none",
                    config.profile
                ),
            ));
        }
        if let Some(waf) = &rule.waf {
            if !config.waf_policies.iter().any(|p| &p.name == waf) {
                issues.push(unknown(
                    at.clone().key("waf"),
                    "WAF policy",
                    waf,
                    config.waf_policies.iter().map(|p| &p.name),
                ));
            }
        }
        if let Some(set) = &rule.rewrites {
            if !behaviour.rewrites {
                issues.push(Issue::new(
                    at.clone().key("rewrites"),
                    format!(
                        "rewrite sets are an application-gateway feature; profile {} has none",
                        config.profile
                    ),
                ));
            } else if !config.rewrite_sets.iter().any(|r| &r.name == set) {
                issues.push(unknown(
                    at.clone().key("rewrites"),
                    "rewrite set",
                    set,
                    config.rewrite_sets.iter().map(|r| &r.name),
                ));
            }
        }
        if let Some(first) = config.rules[..i].iter().position(|r| r.listener == rule.listener) {
            issues.push(Issue::new(
                at.key("listener"),
                format!(
                    "listener `{}` is already routed by rules[{first}]; basic rules allow one per listener",
                    rule.listener
                ),
            ));
        }
    }

    super::routing::check(config, &mut issues);
    issues
}

/// Valid settings that a document rules out or that will still surprise:
/// reported by `wsgate check`, never fatal. Each names the sentence.
pub(super) fn warnings(config: &Config) -> Vec<Issue> {
    let mut warnings = Vec::new();
    let profile = config.profile;
    if profile == crate::profile::ProfileName::ApplicationGateway2016 {
        for (i, pool) in config.backend_pools.iter().enumerate() {
            for (j, address) in pool.addresses.iter().enumerate() {
                let Ok(addr) = BackendAddr::parse(address) else {
                    continue;
                };
                if addr.port != 80 && addr.port != 443 {
                    warnings.push(Issue::new(
                        KeyPath::item("backend_pools", i).key("addresses").index(j),
                        format!(
                            "backend port {} under application-gateway-2016: doc 001 says \"BackendHttpSetting \
                             should be defined with backend port 80/443 only\"",
                            addr.port
                        ),
                    ));
                }
            }
        }
    }
    if profile == crate::profile::ProfileName::FrontDoor {
        for (i, probe) in config.probes.iter().enumerate() {
            if probe.protocol == Protocol::Https {
                warnings.push(Issue::new(
                    KeyPath::item("probes", i).key("protocol"),
                    "an https probe under front-door: doc 002 says \"Health probes to origins are conducted using \
                     the HTTP protocol\"",
                ));
            }
        }
    }
    for (i, rule) in config.rules.iter().enumerate() {
        if rule.caching {
            warnings.push(Issue::new(
                KeyPath::item("rules", i).key("caching"),
                format!(
                    "caching is on for route `{}`: every route carries WebSocket, and with caching on the Upgrade header \
                     is not forwarded, so WebSocket upgrades through this route fail (doc 002: disable caching for \
                     WebSocket routes)",
                    rule.name
                ),
            ));
        }
    }
    warnings
}

/// Compiles every WAF policy once, reporting each bad rule.
fn compile_wafs(config: &Config, issues: &mut Vec<Issue>) -> BTreeMap<String, Waf> {
    let mut out = BTreeMap::new();
    for (i, policy) in config.waf_policies.iter().enumerate() {
        let mut rules = Vec::new();
        for (j, rule) in policy.rules.iter().enumerate() {
            let at = KeyPath::item("waf_policies", i).key("rules").index(j);
            let matcher = match (&rule.contains, &rule.regex) {
                (Some(_), Some(_)) | (None, None) => {
                    issues.push(Issue::new(
                        at.clone(),
                        "expected exactly one of `contains` (text) or `regex` (a regular expression)",
                    ));
                    None
                }
                (None, Some(re)) => match Regex::new(re) {
                    Ok(re) => Some(waf::Matcher::Regex(re)),
                    Err(e) => {
                        issues.push(Issue::new(
                            at.clone().key("regex"),
                            format!("invalid regular expression: {e}"),
                        ));
                        None
                    }
                },
                (Some(text), None) => Some(waf::Matcher::Contains(text.clone())),
            };
            let target = match (rule.target, &rule.header) {
                (WafTarget::Header, None) => {
                    issues.push(Issue::new(at, "match = \"header\" needs `header` (the header's name)"));
                    None
                }
                (WafTarget::Header, Some(h)) => match HeaderName::from_bytes(h.as_bytes()) {
                    Ok(name) => Some(waf::Target::Header(name)),
                    Err(_) => {
                        issues.push(Issue::new(
                            at.key("header"),
                            format!("expected a header name, found `{h}`"),
                        ));
                        None
                    }
                },
                (WafTarget::Path | WafTarget::Query, Some(_)) => {
                    issues.push(Issue::new(
                        at.key("header"),
                        "`header` applies only to match = \"header\"",
                    ));
                    None
                }
                (WafTarget::Path, None) => Some(waf::Target::Path),
                (WafTarget::Query, None) => Some(waf::Target::Query),
            };
            if let (Some(matcher), Some(target)) = (matcher, target) {
                rules.push(waf::Rule {
                    name: rule.name.clone(),
                    target,
                    matcher,
                    action: rule.action,
                });
            }
        }
        out.insert(policy.name.clone(), Waf::new(policy.name.clone(), rules));
    }
    out
}

/// Compiles every rewrite set once, reporting each bad entry.
fn compile_rewrites(config: &Config, issues: &mut Vec<Issue>) -> BTreeMap<String, Rewrite> {
    let mut out = BTreeMap::new();
    for (i, set) in config.rewrite_sets.iter().enumerate() {
        let at = KeyPath::item("rewrite_sets", i);
        let mut headers = Vec::new();
        for (name, value) in &set.set_request_headers {
            let key = at.clone().key("set_request_headers").key(name);
            match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                (Err(_), _) => issues.push(Issue::new(key, format!("expected a header name, found `{name}`"))),
                (Ok(_), Err(_)) => issues.push(Issue::new(key, "expected a header value of visible ASCII")),
                (Ok(n), Ok(v)) => headers.push((n, v)),
            }
        }
        let mut remove = Vec::new();
        for (j, name) in set.remove_request_headers.iter().enumerate() {
            match HeaderName::from_bytes(name.as_bytes()) {
                Ok(n) => remove.push(n),
                Err(_) => issues.push(Issue::new(
                    at.clone().key("remove_request_headers").index(j),
                    format!("expected a header name, found `{name}`"),
                )),
            }
        }
        let mut path = None;
        if let Some(url) = &set.url_path {
            match Regex::new(&url.pattern) {
                Ok(re) => path = Some((re, url.replacement.clone())),
                Err(e) => issues.push(Issue::new(
                    at.clone().key("url_path").key("pattern"),
                    format!("invalid regular expression: {e}"),
                )),
            }
            if !url.replacement.starts_with('/') {
                issues.push(Issue::new(
                    at.clone().key("url_path").key("replacement"),
                    "expected a path starting with `/`",
                ));
            }
        }
        out.insert(set.name.clone(), Rewrite::new(set.name.clone(), headers, remove, path));
    }
    out
}

/// Draining, frontend idle timeouts and graceful maintenance: what the
/// profile allows, in the ranges Azure's pages give.
fn lifecycle(config: &Config, issues: &mut Vec<Issue>) {
    let behaviour = config.profile.behaviour();
    let profile = config.profile;
    let minutes = |d: std::time::Duration| d.as_secs() / 60;
    if let Some(m) = &config.maintenance {
        let at = KeyPath::root().key("maintenance");
        if !behaviour.graceful_maintenance {
            issues.push(Issue::new(
                at.clone(),
                format!(
                    "{profile} has no graceful maintenance: its maintenance drops connections (doc 002: \"the WebSocket \
                     connection can be dropped\")"
                ),
            ));
        } else if m.drain.get() > crate::profile::AGW_MAINTENANCE_DRAIN {
            issues.push(Issue::new(
                at.clone().key("drain"),
                format!(
                    "expected at most 5m: Application Gateway drains an instance being updated \"for up to 5 minutes\", \
                     found {}",
                    m.drain
                ),
            ));
        }
        if m.update_domains == 0 {
            issues.push(Issue::new(
                at.key("update_domains"),
                "expected at least 1 update domain",
            ));
        }
    }
    for (i, l) in config.listeners.iter().enumerate() {
        let at = KeyPath::item("listeners", i);
        let Some(default) = behaviour.frontend_idle else {
            if l.frontend_ip == super::FrontendIp::Private {
                issues.push(Issue::new(
                    at.clone().key("frontend_ip"),
                    format!("{profile} has no frontend IP to choose: `frontend_ip` is an Application Gateway setting"),
                ));
            }
            continue;
        };
        let _ = default;
        match (l.frontend_ip, l.frontend_idle_timeout) {
            (super::FrontendIp::Private, Some(_)) => issues.push(Issue::new(
                at.clone().key("frontend_idle_timeout"),
                "a private frontend IP's idle timeout is fixed at 5 minutes (Application Gateway FAQ: \"For private IP \
                 addresses, the value is nonconfigurable\"); remove this key or use a public frontend IP",
            )),
            (super::FrontendIp::Public, Some(d)) => {
                let (low, high) = crate::profile::AGW_FRONTEND_IDLE_RANGE;
                if d.get() < low || d.get() > high {
                    issues.push(Issue::new(
                        at.clone().key("frontend_idle_timeout"),
                        format!(
                            "expected {} to {} minutes (the public frontend IP's TCP idle timeout range), found {d}",
                            minutes(low),
                            minutes(high)
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    for (i, s) in config.backend_settings.iter().enumerate() {
        let Some(draining) = s.connection_draining else {
            continue;
        };
        let at = KeyPath::item("backend_settings", i).key("connection_draining");
        if behaviour.drain.is_none() {
            issues.push(Issue::new(
                at,
                format!(
                    "{profile} cannot drain connections (Azure's Front Door FAQ: \"it cannot do Connection Draining\"); \
                     remove `connection_draining`"
                ),
            ));
            continue;
        }
        match (draining.enabled, draining.drain_timeout) {
            (true, None) => issues.push(Issue::new(
                at,
                "missing `drain_timeout`: enabled connection draining needs a timeout of 1 to 3600 s",
            )),
            (false, Some(_)) => issues.push(Issue::new(
                at.key("drain_timeout"),
                "`drain_timeout` applies only when `enabled = true`; without draining the timeout is 30 s",
            )),
            (true, Some(d)) => {
                let (low, high) = crate::profile::AGW_DRAIN_RANGE;
                if d.get() < low || d.get() > high {
                    issues.push(Issue::new(
                        at.key("drain_timeout"),
                        format!("expected 1 to 3600 s (the connection-draining range), found {d}"),
                    ));
                }
            }
            (false, None) => {}
        }
    }
}

/// Builds the plan of a config that passed every check. A name that does
/// not resolve here would be a gap in `check`; it is reported as an issue,
/// never a panic.
fn resolve(
    config: &Config,
    wafs: &BTreeMap<String, Waf>,
    rewrites: &BTreeMap<String, Rewrite>,
) -> Result<Plan, Vec<Issue>> {
    let behaviour = config.profile.behaviour();
    let missing = |key: KeyPath, what: &str| vec![Issue::new(key, format!("unresolved {what}"))];
    let overrides = Overrides {
        idle_timeout: config.idle_timeout.map(|d| Timer::key(d.get(), "idle_timeout")),
        max_lifetime: config.max_lifetime.map(|d| Timer::key(d.get(), "max_lifetime")),
    };
    let mut routes = Vec::new();
    let mut backend_sets: Vec<BackendSetPlan> = Vec::new();
    let mut set_index: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for (r, rule) in config.rules.iter().enumerate() {
        let at = KeyPath::item("rules", r);
        let pool_i = config
            .backend_pools
            .iter()
            .position(|p| p.name == rule.pool)
            .ok_or_else(|| missing(at.clone().key("pool"), "backend pool"))?;
        let settings_i = config
            .backend_settings
            .iter()
            .position(|s| s.name == rule.settings)
            .ok_or_else(|| missing(at.clone().key("settings"), "backend settings"))?;
        let settings_key = KeyPath::item("backend_settings", settings_i);
        let settings = &config.backend_settings[settings_i];
        let request_timeout = match (settings.request_timeout, config.origin_response_timeout) {
            (Some(d), _) => Timer::key(d.get(), &settings_key.clone().key("request_timeout").to_string()),
            (None, Some(d)) => Timer::key(d.get(), "origin_response_timeout"),
            (None, None) => Timer::new(behaviour.default_request_timeout, Origin::Profile(config.profile)),
        };
        let set = match set_index.get(&(pool_i, settings_i)) {
            Some(&i) => i,
            None => {
                let pool = &config.backend_pools[pool_i];
                let probe_config = match &settings.probe {
                    Some(name) => Some(
                        config
                            .probes
                            .iter()
                            .find(|p| &p.name == name)
                            .ok_or_else(|| missing(settings_key.clone().key("probe"), "probe"))?,
                    ),
                    None => None,
                };
                let mut members = Vec::new();
                for written in super::routing::members(pool, pool_i) {
                    let addr =
                        BackendAddr::parse(written.address).map_err(|m| vec![Issue::new(written.key.clone(), m)])?;
                    let probe = ProbeSpec::resolve(
                        &behaviour,
                        probe_config,
                        settings.host_override.as_deref(),
                        settings.protocol == Protocol::Https,
                        &addr,
                    );
                    members.push(MemberPlan {
                        addr,
                        probe,
                        priority: written.priority,
                        weight: written.weight,
                        enabled: written.enabled,
                    });
                }
                let host_override = match &settings.host_override {
                    Some(h) => Some(
                        HeaderValue::from_str(h)
                            .map_err(|_| missing(settings_key.clone().key("host_override"), "host override"))?,
                    ),
                    None => None,
                };
                backend_sets.push(BackendSetPlan {
                    pool: pool.name.clone(),
                    settings: SettingsPlan {
                        name: settings.name.clone(),
                        protocol: settings.protocol,
                        request_timeout: request_timeout.clone(),
                        host_override,
                        trusted_ca: settings.trusted_ca.as_ref().map(|p| config.resolve_path(p)),
                        key: settings_key.clone(),
                        tcp_keepalive: settings.tcp_keepalive.map(Duration::get),
                        drain: drain_timer(config, settings, &settings_key),
                    },
                    members,
                    affinity: super::routing::affinity(&behaviour, pool, settings),
                    latency_sensitivity: super::routing::latency_sensitivity(&behaviour, pool),
                });
                set_index.insert((pool_i, settings_i), backend_sets.len() - 1);
                backend_sets.len() - 1
            }
        };
        let waf = match &rule.waf {
            Some(name) => Some(
                wafs.get(name)
                    .cloned()
                    .ok_or_else(|| missing(at.clone().key("waf"), "WAF policy"))?,
            ),
            None => None,
        };
        let rewrite = match &rule.rewrites {
            Some(name) => Some(
                rewrites
                    .get(name)
                    .cloned()
                    .ok_or_else(|| missing(at.clone().key("rewrites"), "rewrite set"))?,
            ),
            None => None,
        };
        routes.push(RoutePlan {
            rule: rule.name.clone(),
            backends: set,
            caching: rule.caching,
            waf,
            rewrite,
            session: Arc::new(SessionPolicy::resolve(&behaviour, &request_timeout, &overrides)),
        });
    }
    let mut listeners = Vec::new();
    for (i, listener) in config.listeners.iter().enumerate() {
        let route = config
            .rules
            .iter()
            .position(|r| r.listener == listener.name)
            .ok_or_else(|| missing(KeyPath::item("listeners", i).key("name"), "rule for this listener"))?;
        let tls_files = match (listener.protocol, &listener.tls_cert, &listener.tls_key) {
            (Protocol::Https, Some(cert), Some(key)) => Some((config.resolve_path(cert), config.resolve_path(key))),
            _ => None,
        };
        let frontend_idle = frontend_idle_timer(config, listener, &KeyPath::item("listeners", i));
        if let Some(r) = routes.get_mut(route) {
            Arc::make_mut(&mut r.session).frontend_idle = frontend_idle;
        }
        listeners.push(ListenerPlan {
            name: listener.name.clone(),
            protocol: listener.protocol,
            address: listener.address,
            tls_files,
            tcp_keepalive: listener.tcp_keepalive.map(Duration::get),
            route,
        });
    }
    Ok(Plan {
        profile: config.profile,
        behaviour,
        header_read_timeout: config.header_read_timeout.get(),
        max_header_bytes: config.max_header_bytes,
        max_connections: config.max_connections.or(behaviour.max_connections),
        maintenance: config.maintenance.map(|m| crate::plan::MaintenancePlan {
            drain: m.drain.get(),
            update_domains: m.update_domains.max(1),
        }),
        listeners,
        routes,
        backend_sets,
    })
}

/// How long sessions through `settings` run on once their member is
/// removed, or a configuration update replaced them: the enabled
/// draining's timeout, else the profile's (30 s); none for a profile that
/// never drains.
fn drain_timer(config: &Config, settings: &super::BackendSettingsConfig, key: &KeyPath) -> Option<Timer> {
    let default = config.profile.behaviour().drain?;
    Some(match settings.connection_draining {
        Some(super::DrainingConfig {
            enabled: true,
            drain_timeout: Some(d),
        }) => Timer::key(
            d.get(),
            &key.clone().key("connection_draining").key("drain_timeout").to_string(),
        ),
        _ => Timer::new(default, Origin::Profile(config.profile)),
    })
}

/// A listener's frontend idle timer: its own setting, the private IP's
/// fixed 5 minutes, or the profile's public default.
fn frontend_idle_timer(config: &Config, listener: &super::ListenerConfig, key: &KeyPath) -> Option<Timer> {
    if let Some(d) = listener.frontend_idle_timeout {
        return Some(Timer::key(
            d.get(),
            &key.clone().key("frontend_idle_timeout").to_string(),
        ));
    }
    let default = config.profile.behaviour().frontend_idle?;
    Some(match listener.frontend_ip {
        super::FrontendIp::Private => Timer::key(
            crate::profile::AGW_PRIVATE_FRONTEND_IDLE,
            &key.clone().key("frontend_ip").to_string(),
        ),
        super::FrontendIp::Public => Timer::new(default, Origin::Profile(config.profile)),
    })
}

fn zero(key: KeyPath) -> Issue {
    Issue::new(key, "expected a duration greater than zero")
}

fn unknown<'a>(key: KeyPath, kind: &str, name: &str, known: impl Iterator<Item = &'a String>) -> Issue {
    let known: Vec<String> = known.map(|n| format!("`{n}`")).collect();
    let expected = if known.is_empty() {
        "none is defined".to_string()
    } else {
        format!("expected one of {}", known.join(", "))
    };
    Issue::new(key, format!("unknown {kind} `{name}`; {expected}"))
}

/// Parses `"200"` or `"200-399"` into an inclusive range of status codes.
pub fn parse_status_range(text: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let code = |s: &str| -> Result<u16, String> {
        let n: u16 = s
            .trim()
            .parse()
            .map_err(|_| format!("expected a status code or range such as \"200-399\", found {text:?}"))?;
        if (100..=599).contains(&n) {
            Ok(n)
        } else {
            Err(format!("expected a status code between 100 and 599, found {n}"))
        }
    };
    match text.split_once('-') {
        Some((lo, hi)) => {
            let (lo, hi) = (code(lo)?, code(hi)?);
            if lo > hi {
                return Err(format!("expected the low end first, found {text:?}"));
            }
            Ok(lo..=hi)
        }
        None => {
            let n = code(text)?;
            Ok(n..=n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ranges() {
        assert_eq!(parse_status_range("200-399").unwrap(), 200..=399);
        assert_eq!(parse_status_range("200").unwrap(), 200..=200);
        assert!(parse_status_range("399-200").is_err());
        assert!(parse_status_range("abc").is_err());
        assert!(parse_status_range("700").is_err());
    }
}
