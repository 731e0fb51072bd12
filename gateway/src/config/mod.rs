//! The gateway's configuration: the TOML shape, typed, and validated on every
//! load path.
//!
//! Key names follow the Azure documents' vocabulary in snake_case
//! (`listeners`, `backend_pools`, `backend_settings`, `probes`, `rules`).
//! A file is parsed into these structs with serde, then [`Config::validate`]
//! checks what serde cannot: references between sections, duplicates, TLS
//! material for https listeners and zero durations. Every problem is reported
//! with the file, line, column and key it concerns (see [`ConfigError`]).

mod duration;
mod error;
pub mod routing;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::diagnostic::{line_col, path_at, span_of, Diagnostic, KeyPath, Seg, Severity};
pub use duration::{Duration, MAX_DURATION};
pub use error::ConfigError;
pub use validate::{parse_status_range, Issue};

use crate::diagnostic::{schema::fields_of, Schema};
use crate::plan::Plan;
use crate::profile::ProfileName;

/// Default for [`Config::header_read_timeout`]: how long a client may take to
/// send a complete request head before it gets 408.
pub const DEFAULT_HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Default for [`Config::max_header_bytes`]: a request head larger than this
/// gets 431. The same order as nginx's `large_client_header_buffers`.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// The smallest header limit accepted; hyper's buffer cannot be smaller.
pub const MIN_MAX_HEADER_BYTES: usize = 8 * 1024;

/// A whole gateway configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Which documented system this gateway behaves like.
    pub profile: ProfileName,
    /// How long a client may take to send a request head (408 after).
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout: Duration,
    /// The largest request head accepted (431 above).
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Overrides the profile's session idle timeout (for every route).
    pub idle_timeout: Option<Duration>,
    /// Overrides the profile's maximum session lifetime.
    pub max_lifetime: Option<Duration>,
    /// Client connections one instance holds at once; beyond it new
    /// connections get 503. Default: the profile's documented capacity
    /// (30,000 for Application Gateway), capped by the process's file
    /// descriptor limit on a real network.
    pub max_connections: Option<u32>,
    /// Graceful maintenance (Application Gateway profiles): instances are
    /// updated one update domain at a time, each draining for `drain`.
    pub maintenance: Option<MaintenanceConfig>,
    /// Front Door's origin response timeout, a profile-wide setting: how
    /// long a request (a WebSocket handshake included) waits for its
    /// origin's response head before it is answered 504. 16 to 240 s;
    /// default 30 s. A backend settings' `request_timeout` overrides it.
    pub origin_response_timeout: Option<Duration>,
    #[serde(default)]
    pub listeners: Vec<ListenerConfig>,
    #[serde(default)]
    pub backend_pools: Vec<BackendPoolConfig>,
    #[serde(default)]
    pub backend_settings: Vec<BackendSettingsConfig>,
    #[serde(default)]
    pub probes: Vec<ProbeConfig>,
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    #[serde(default)]
    pub waf_policies: Vec<WafPolicyConfig>,
    #[serde(default)]
    pub rewrite_sets: Vec<RewriteSetConfig>,
    /// Directory that relative paths (certificates, keys, CAs) resolve
    /// against: the config file's own directory, or the working directory
    /// for a config built from flags.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// Where the gateway accepts client connections.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    pub name: String,
    #[serde(default)]
    pub protocol: Protocol,
    pub address: SocketAddr,
    /// PEM certificate chain; required for https.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key; required for https.
    pub tls_key: Option<PathBuf>,
    /// TCP keepalive probes on client connections after this much silence,
    /// so a client that vanished without a FIN is noticed. Off by default.
    pub tcp_keepalive: Option<Duration>,
    /// A client connection with no traffic either way for this long is
    /// closed: the frontend IP's TCP idle timeout. Application Gateway:
    /// 4 minutes by default, 4 to 30 minutes on a public frontend IP, fixed
    /// at 5 on a private one. Front Door: none unless set.
    pub frontend_idle_timeout: Option<Duration>,
    /// Whether the listener's frontend IP is `public` (the default) or
    /// `private`, which fixes the idle timeout at 5 minutes.
    #[serde(default)]
    pub frontend_ip: FrontendIp,
}

/// The kind of frontend IP address a listener is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrontendIp {
    #[default]
    Public,
    Private,
}

/// `maintenance = { drain = "5m", update_domains = 2 }`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// How long an instance being updated drains before it restarts: its
    /// open sessions run on, new connections go to other instances.
    /// Application Gateway drains "for up to 5 minutes".
    #[serde(default = "default_maintenance_drain")]
    pub drain: Duration,
    /// Instances are updated one update domain at a time; instance `i`
    /// (from 0) is in domain `i mod update_domains`.
    #[serde(default = "one")]
    pub update_domains: u32,
}

fn default_maintenance_drain() -> Duration {
    Duration::from(std::time::Duration::from_secs(300))
}

fn one() -> u32 {
    1
}

/// `connection_draining = { enabled = true, drain_timeout = "60s" }`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrainingConfig {
    pub enabled: bool,
    /// How long a member removed from the pool (or a configuration
    /// update) lets open sessions run before closing them: 1 to 3600 s.
    /// Required when `enabled`.
    pub drain_timeout: Option<Duration>,
}

/// A set of backend addresses traffic is balanced over (Front Door: an
/// origin group).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendPoolConfig {
    pub name: String,
    /// `host:port` entries; the host may be a name or an IP address. Under
    /// front-door each is an origin with the default priority and weight.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Front Door origins with their routing settings, after `addresses`.
    #[serde(default)]
    pub origins: Vec<OriginConfig>,
    /// Front Door: cookie-based session affinity for the origin group
    /// (`ASLBSA`): a client's later requests go to the origin its first
    /// one reached, while that origin is within the latency window.
    #[serde(default)]
    pub session_affinity: bool,
    /// Front Door: origins whose probe round trip is within this much of
    /// the fastest share the traffic (default `"0ms"`: the fastest only,
    /// and those as fast).
    pub latency_sensitivity: Option<Duration>,
}

impl BackendPoolConfig {
    /// A pool of plain addresses, every other setting at its default.
    pub fn new(name: &str, addresses: Vec<String>) -> BackendPoolConfig {
        BackendPoolConfig {
            name: name.to_string(),
            addresses,
            origins: Vec::new(),
            session_affinity: false,
            latency_sensitivity: None,
        }
    }
}

/// A Front Door origin: an address and how the routing method treats it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginConfig {
    pub address: String,
    /// 1 (first) to 5; lower-priority origins get traffic only when no
    /// higher one is available. Default 1.
    pub priority: Option<u8>,
    /// 1 to 1000: the origin's share of round robin among the selected
    /// origins. Default 50.
    pub weight: Option<u16>,
    /// A disabled origin gets no traffic. Default true.
    pub enabled: Option<bool>,
}

/// How the gateway talks to the members of a pool.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSettingsConfig {
    pub name: String,
    #[serde(default)]
    pub protocol: Protocol,
    /// How long the backend may take to answer; the profile's default
    /// (20 s, or Front Door's 30 s origin response timeout) when unset.
    pub request_timeout: Option<Duration>,
    /// Replaces the client's `Host` on requests to the backend.
    pub host_override: Option<String>,
    /// Name of a `[[probes]]` entry; the profile's default probe otherwise.
    pub probe: Option<String>,
    /// PEM CA bundle that backend certificates must chain to (https only).
    pub trusted_ca: Option<PathBuf>,
    /// TCP keepalive probes on backend connections after this much silence.
    pub tcp_keepalive: Option<Duration>,
    /// Connection draining (Application Gateway profiles). Without it, a
    /// removed member's sessions, and every session at a configuration
    /// update, are closed after 30 s.
    pub connection_draining: Option<DrainingConfig>,
    /// Application Gateway: cookie-based affinity. A response carries an
    /// affinity cookie naming (by an opaque hash) the member that served
    /// it, and a request carrying the cookie goes back to that member.
    #[serde(default)]
    pub cookie_affinity: bool,
    /// The affinity cookie's name (default `ApplicationGatewayAffinity`);
    /// the CORS cookie is this name with `CORS` appended.
    pub affinity_cookie_name: Option<String>,
}

impl BackendSettingsConfig {
    /// Settings named `name` with every optional field unset.
    pub fn named(name: &str) -> BackendSettingsConfig {
        BackendSettingsConfig {
            name: name.to_string(),
            protocol: Protocol::Http,
            request_timeout: None,
            host_override: None,
            probe: None,
            trusted_ca: None,
            tcp_keepalive: None,
            cookie_affinity: false,
            affinity_cookie_name: None,
            connection_draining: None,
        }
    }
}

/// A health probe definition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    pub name: String,
    /// HTTP or HTTPS: the documents' probes speak nothing else.
    #[serde(default)]
    pub protocol: Protocol,
    /// The probe's Host header; the settings' `host_override`, then the
    /// profile's default (127.0.0.1 for Application Gateway, the backend's
    /// host for Front Door) otherwise.
    pub host: Option<String>,
    #[serde(default = "default_probe_path")]
    pub path: String,
    /// Profile default: 30 s.
    pub interval: Option<Duration>,
    /// Profile default: 30 s.
    pub timeout: Option<Duration>,
    /// Application Gateway: consecutive failures that take a backend out
    /// (default 3).
    pub unhealthy_threshold: Option<u32>,
    /// Healthy statuses, codes or ranges (`"200-399"`). Profile default:
    /// 200-399 for Application Gateway, only 200 for Front Door.
    pub match_status: Option<Vec<String>>,
    /// A healthy answer's body must contain this text.
    pub match_body: Option<String>,
    /// Front Door: `HEAD` (default) or `GET`.
    pub method: Option<ProbeMethod>,
    /// Front Door: how many recent samples are considered (default 4).
    pub sample_size: Option<u32>,
    /// Front Door: how many of them must succeed (default 2).
    pub successful_samples_required: Option<u32>,
    /// A backend's state before its first probe completes. Default healthy,
    /// as HAProxy and Envoy start servers; `unhealthy` keeps new backends
    /// out until they pass once.
    pub initial_state: Option<InitialState>,
}

impl ProbeConfig {
    /// A probe named `name` with every optional field unset, so the profile's
    /// defaults apply; set fields with struct-update syntax.
    pub fn named(name: &str) -> ProbeConfig {
        ProbeConfig {
            name: name.to_string(),
            protocol: Protocol::Http,
            host: None,
            path: default_probe_path(),
            interval: None,
            timeout: None,
            unhealthy_threshold: None,
            match_status: None,
            match_body: None,
            method: None,
            sample_size: None,
            successful_samples_required: None,
            initial_state: None,
        }
    }
}

/// The HTTP method a probe uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ProbeMethod {
    #[serde(rename = "HEAD")]
    Head,
    #[serde(rename = "GET")]
    Get,
}

/// Whether a backend is in the pool before its first probe completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitialState {
    Healthy,
    Unhealthy,
}

/// A basic routing rule: everything arriving on `listener` goes to `pool`
/// using `settings`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    pub listener: String,
    pub pool: String,
    pub settings: String,
    /// Front Door route caching. With it on, the Upgrade header is not
    /// forwarded, so WebSocket upgrades through this route fail (doc 002).
    /// wsgate does not cache responses; the flag models only that effect.
    #[serde(default)]
    pub caching: bool,
    /// Name of a `[[waf_policies]]` entry checked on every request (and so
    /// on the WebSocket handshake, never after it).
    pub waf: Option<String>,
    /// Name of a `[[rewrite_sets]]` entry applied to requests
    /// (application-gateway only).
    pub rewrites: Option<String>,
}

/// A web application firewall policy: custom rules, first match decides.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WafPolicyConfig {
    pub name: String,
    #[serde(default)]
    pub rules: Vec<WafRuleConfig>,
}

/// One WAF custom rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WafRuleConfig {
    pub name: String,
    /// What the rule looks at.
    #[serde(rename = "match")]
    pub target: WafTarget,
    /// The header to inspect when `match = "header"`.
    pub header: Option<String>,
    /// Matches when the target contains this text.
    pub contains: Option<String>,
    /// Matches when the target matches this regular expression.
    pub regex: Option<String>,
    pub action: WafAction,
}

/// The part of a request a WAF rule inspects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WafTarget {
    Path,
    Query,
    Header,
}

/// What a matching WAF rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WafAction {
    /// Answer 403; the request never reaches a backend.
    Block,
    /// Let the request through without checking later rules.
    Allow,
}

/// Header and URL rewrites applied to requests before they are forwarded.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteSetConfig {
    pub name: String,
    /// Headers set on the request (replacing any value it had).
    #[serde(default)]
    pub set_request_headers: std::collections::BTreeMap<String, String>,
    /// Headers removed from the request.
    #[serde(default)]
    pub remove_request_headers: Vec<String>,
    /// A path rewrite; the query string is kept.
    pub url_path: Option<UrlPathRewrite>,
}

/// Rewrites a path matching `pattern` to `replacement` (`$1` for groups).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlPathRewrite {
    pub pattern: String,
    pub replacement: String,
}

/// Plain or TLS, for listeners, backends and probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Http,
    Https,
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "http" => Ok(Protocol::Http),
            "https" => Ok(Protocol::Https),
            other => Err(serde::de::Error::custom(format!(
                "unknown protocol \"{other}\": expected \"http\" or \"https\" (listeners, backends and health probes \
                 speak HTTP or HTTPS only)"
            ))),
        }
    }
}

impl Protocol {
    /// The scheme used in `X-Forwarded-Proto`.
    pub fn scheme(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }
}

fn default_header_read_timeout() -> Duration {
    Duration::from(DEFAULT_HEADER_READ_TIMEOUT)
}
fn default_max_header_bytes() -> usize {
    DEFAULT_MAX_HEADER_BYTES
}
fn default_probe_path() -> String {
    "/".to_string()
}

impl Config {
    /// The sections a config file has and the keys each accepts, for
    /// "did you mean" and wrong-section hints.
    pub fn schema() -> Schema {
        Schema::new()
            .section("", "the top level", fields_of::<Config>())
            .section("maintenance", "maintenance = { … }", fields_of::<MaintenanceConfig>())
            .section("listeners[]", "[[listeners]]", fields_of::<ListenerConfig>())
            .section("backend_pools[]", "[[backend_pools]]", fields_of::<BackendPoolConfig>())
            .section(
                "backend_pools[].origins[]",
                "[[backend_pools.origins]]",
                fields_of::<OriginConfig>(),
            )
            .section(
                "backend_settings[]",
                "[[backend_settings]]",
                fields_of::<BackendSettingsConfig>(),
            )
            .section(
                "backend_settings[].connection_draining",
                "connection_draining = { … }",
                fields_of::<DrainingConfig>(),
            )
            .section("probes[]", "[[probes]]", fields_of::<ProbeConfig>())
            .section("rules[]", "[[rules]]", fields_of::<RuleConfig>())
            .section("waf_policies[]", "[[waf_policies]]", fields_of::<WafPolicyConfig>())
            .section(
                "waf_policies[].rules[]",
                "[[waf_policies.rules]]",
                fields_of::<WafRuleConfig>(),
            )
            .section("rewrite_sets[]", "[[rewrite_sets]]", fields_of::<RewriteSetConfig>())
    }

    /// Reads, parses and validates a config file, and reads the TLS
    /// material it names, so a missing certificate is found here rather
    /// than at start-up.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_warnings(path).map(|(config, _)| config)
    }

    /// Like [`Config::load`], and also returns the config's warnings:
    /// settings that are valid but will surprise (caching on a route that
    /// carries WebSocket).
    pub fn load_with_warnings(path: &Path) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
        let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let origin = path.display().to_string();
        let config = Config::from_toml(&source, &origin, base_dir)?;
        let plan = config
            .validate()
            .map_err(|issues| ConfigError::located(&origin, Some(&source), issues))?;
        plan.tls_material()
            .map_err(|issues| ConfigError::located(&origin, Some(&source), issues))?;
        let warnings = config
            .warnings()
            .into_iter()
            .map(|w| Diagnostic::at(&origin, Some(&source), &w.key, w.message).warning())
            .collect();
        Ok((config, warnings))
    }

    /// Valid settings that a document rules out or that will surprise
    /// (caching on a WebSocket route, an https probe under front-door, a
    /// backend port other than 80/443 under application-gateway-2016), each
    /// naming its sentence. Never fatal.
    pub fn warnings(&self) -> Vec<Issue> {
        validate::warnings(self)
    }

    /// Parses and validates a config held in memory. `origin` names it in
    /// error messages (usually the file path). TLS files are not read.
    pub fn from_toml(source: &str, origin: &str, base_dir: PathBuf) -> Result<Config, ConfigError> {
        let mut config: Config =
            crate::diagnostic::parse_all(source, origin, &Config::schema()).map_err(ConfigError::Invalid)?;
        config.base_dir = base_dir;
        config
            .validate()
            .map_err(|issues| ConfigError::located(origin, Some(source), issues))?;
        Ok(config)
    }

    /// Checks everything serde cannot (references, duplicates, TLS
    /// settings, durations) and resolves every name: the result is what a
    /// gateway runs. Returns every problem found, not just the first. Pure:
    /// files are not read.
    pub fn validate(&self) -> Result<Plan, Vec<Issue>> {
        validate::validate(self)
    }

    /// Validates a config built in code (from flags), naming `origin` in
    /// errors since there is no file to point into.
    pub fn validated(self, origin: &str) -> Result<Config, ConfigError> {
        self.validate()
            .map_err(|issues| ConfigError::located(origin, None, issues))?;
        Ok(self)
    }

    /// Resolves a path from the config against the config's directory.
    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// A minimal config: one http listener in front of one pool, the shape
    /// the quick flags and the embedded default produce.
    pub fn single_route(
        profile: ProfileName,
        listen: SocketAddr,
        backends: Vec<String>,
        request_timeout: Option<Duration>,
    ) -> Config {
        Config {
            profile,
            header_read_timeout: default_header_read_timeout(),
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            idle_timeout: None,
            max_lifetime: None,
            max_connections: None,
            maintenance: None,
            origin_response_timeout: None,
            listeners: vec![ListenerConfig {
                name: "default".into(),
                protocol: Protocol::Http,
                address: listen,
                tls_cert: None,
                tls_key: None,
                tcp_keepalive: None,
                frontend_idle_timeout: None,
                frontend_ip: FrontendIp::Public,
            }],
            backend_pools: vec![BackendPoolConfig::new("default", backends)],
            backend_settings: vec![BackendSettingsConfig {
                request_timeout,
                ..BackendSettingsConfig::named("default")
            }],
            probes: Vec::new(),
            rules: vec![RuleConfig {
                name: "default".into(),
                listener: "default".into(),
                pool: "default".into(),
                settings: "default".into(),
                caching: false,
                waf: None,
                rewrites: None,
            }],
            waf_policies: Vec::new(),
            rewrite_sets: Vec::new(),
            base_dir: PathBuf::from("."),
        }
    }
}

/// A parsed `host:port` backend address. The host stays a name so that the
/// transport resolves it (DNS on a real network, the simulator's names in
/// turmoil).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackendAddr {
    pub host: String,
    pub port: u16,
}

impl BackendAddr {
    /// Parses `host:port`, `1.2.3.4:port` or `[::1]:port`.
    pub fn parse(text: &str) -> Result<BackendAddr, String> {
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(BackendAddr {
                host: addr.ip().to_string(),
                port: addr.port(),
            });
        }
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("expected host:port, found `{text}`"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("expected a port number after `:`, found `{port}`"))?;
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/' || c == ':') {
            return Err(format!("expected a host name before `:`, found `{host}`"));
        }
        Ok(BackendAddr {
            host: host.to_string(),
            port,
        })
    }
}

impl std::fmt::Display for BackendAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests;
