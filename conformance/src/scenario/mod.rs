//! Scenario files: a gateway, backends, scripted clients, a timeline of
//! faults and the expectations the trace must meet, in one TOML file.
//!
//! [`load`] parses and checks a file. Every mistake (syntax, unknown key,
//! wrong type, unknown name, bad duration) comes back as a located
//! diagnostic, `path:line:column: key: what was expected`, with the closest
//! valid key for a misspelt one. Nothing in a file can panic the loader.

mod file;
mod tls;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gateway::config::{
    BackendPoolConfig, BackendSettingsConfig, Diagnostic, KeyPath, ListenerConfig, Protocol, RuleConfig, Seg,
};
use gateway::{Config, ProfileName};
use sim::client::Backoff;
use sim::script::{ClientScript, Messages, Payload};
use sim::Action;

use crate::expect::Expect;
use file::{ActionName, ExpectEntry, ScenarioFile};
pub use file::{Behaviour, HealthWord};

/// The port backends listen on unless a scenario says otherwise.
pub const BACKEND_PORT: u16 = 9001;
/// The gateway's generated listener port.
pub const GATEWAY_PORT: u16 = 80;

/// A backend host in a scenario.
#[derive(Debug, Clone)]
pub struct BackendSpec {
    pub name: String,
    pub port: u16,
    /// Set for a TLS backend: its server certificate.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    pub behaviour: Behaviour,
    pub latency: Option<Duration>,
    pub health: u16,
    pub health_latency: Option<Duration>,
}

/// A checked scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub path: PathBuf,
    pub name: String,
    pub description: Option<String>,
    pub requirements: Vec<String>,
    pub profile: ProfileName,
    pub seed: u64,
    pub duration: Duration,
    pub tick: Duration,
    pub latency: Duration,
    pub config: Config,
    /// Gateway instance host names.
    pub instances: Vec<String>,
    pub backends: Vec<BackendSpec>,
    pub clients: Vec<ClientScript>,
    pub timeline: Vec<(Duration, Action)>,
    pub expects: Vec<Expect>,
    /// Keeps the generated CA's files alive while the scenario exists.
    pub tls_files: Option<std::sync::Arc<tls::Material>>,
}

/// Why a scenario file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{}: cannot read scenario: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
}

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let source = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&source, path)
}

/// Parses and checks scenario text; `path` names it in errors and anchors
/// relative paths.
pub fn parse(source: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let origin = path.display().to_string();
    let file: ScenarioFile =
        gateway::diagnostic::parse_all(source, &origin, &file::schema()).map_err(ScenarioError::Invalid)?;
    let mut issues = Vec::new();
    let scenario = build(&file, path, &mut issues);
    if issues.is_empty() {
        if let Some(scenario) = scenario {
            return Ok(scenario);
        }
    }
    let mut diagnostics: Vec<Diagnostic> = issues
        .into_iter()
        .map(|(key, message)| locate(&origin, source, &key, message))
        .collect();
    gateway::diagnostic::in_file_order(&mut diagnostics);
    Err(ScenarioError::Invalid(diagnostics))
}

fn locate(origin: &str, source: &str, key: &KeyPath, message: String) -> Diagnostic {
    Diagnostic::at(origin, Some(source), key, message)
}

type Issues = Vec<(KeyPath, String)>;

fn root(key: &str) -> KeyPath {
    KeyPath::root().key(key)
}

fn build(file: &ScenarioFile, path: &Path, issues: &mut Issues) -> Option<Scenario> {
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let instances = match file.gateway.instances.unwrap_or(1) {
        0 => {
            issues.push((root("gateway").key("instances"), "expected at least 1 instance".into()));
            vec!["gateway".to_string()]
        }
        1 => vec!["gateway".to_string()],
        n => (1..=n).map(|i| format!("gateway-{i}")).collect(),
    };
    if file.duration.is_zero() {
        issues.push((root("duration"), "expected a duration greater than zero".into()));
    }
    if file.tick.is_some_and(|t| t.is_zero()) {
        issues.push((root("tick"), "expected a duration greater than zero".into()));
    }

    // Host names: unique across backends, clients and instances.
    let mut hosts: BTreeSet<String> = instances.iter().cloned().collect();
    hosts.insert("clock".to_string());
    hosts.insert("world".to_string());
    for (i, b) in file.backends.iter().enumerate() {
        if !hosts.insert(b.name.clone()) {
            issues.push((
                KeyPath::item("backends", i).key("name"),
                format!("the name `{}` is already taken", b.name),
            ));
        }
    }
    for (i, c) in file.clients.iter().enumerate() {
        if !hosts.insert(c.name.clone()) {
            issues.push((
                KeyPath::item("clients", i).key("name"),
                format!("the name `{}` is already taken", c.name),
            ));
        }
        if c.count == Some(0) {
            issues.push((KeyPath::item("clients", i).key("count"), "expected at least 1".into()));
        }
    }
    let backend_names: Vec<&str> = file.backends.iter().map(|b| b.name.as_str()).collect();
    // A group of N sessions answers to its name and to `name.1` … `name.N`.
    let session_names: Vec<String> = file
        .clients
        .iter()
        .flat_map(|c| {
            let n = c.count.unwrap_or(1);
            let members: Vec<String> = if n > 1 {
                (1..=n).map(|i| format!("{}.{i}", c.name)).collect()
            } else {
                Vec::new()
            };
            std::iter::once(c.name.clone()).chain(members)
        })
        .collect();
    let client_names: Vec<&str> = session_names.iter().map(String::as_str).collect();

    let tls_names: Vec<String> = file.backends.iter().filter(|b| b.tls).map(|b| b.name.clone()).collect();
    let tls_files = if tls_names.is_empty() {
        None
    } else {
        match tls::Material::generate(&tls_names) {
            Ok(m) => Some(std::sync::Arc::new(m)),
            Err(e) => {
                issues.push((root("backends"), format!("cannot generate TLS material: {e}")));
                return None;
            }
        }
    };
    let config = gateway_config(file, &base_dir, tls_files.as_deref(), issues)?;
    let backends = file
        .backends
        .iter()
        .map(|b| BackendSpec {
            name: b.name.clone(),
            port: b.port.unwrap_or(BACKEND_PORT),
            tls: tls_files.as_ref().and_then(|m| m.server_config(&b.name)),
            behaviour: b.behaviour,
            latency: b.latency.map(|d| d.get()),
            health: b.health.unwrap_or(200),
            health_latency: b.health_latency.map(|d| d.get()),
        })
        .collect();

    let duration = file.duration.get();
    let gateway_port = config
        .listeners
        .first()
        .map(|l| l.address.port())
        .unwrap_or(GATEWAY_PORT);
    let mut clients = Vec::new();
    for (i, c) in file.clients.iter().enumerate() {
        let at = KeyPath::item("clients", i);
        let gateways = match &c.gateway {
            Some(g) if instances.contains(g) => vec![g.clone()],
            Some(g) => {
                issues.push((at.clone().key("gateway"), unknown("gateway instance", g, &instances)));
                continue;
            }
            None => instances.clone(),
        };
        let messages = match &c.messages {
            None => None,
            Some(m) => {
                let payload = match (&m.size, &m.text) {
                    (Some(n), None) => Payload::Size(*n),
                    (None, Some(t)) => Payload::Text(t.clone()),
                    _ => {
                        issues.push((
                            at.clone().key("messages"),
                            "expected exactly one of `size` or `text`".into(),
                        ));
                        continue;
                    }
                };
                if m.every.is_zero() {
                    issues.push((
                        at.clone().key("messages").key("every"),
                        "expected a duration greater than zero".into(),
                    ));
                }
                Some(Messages {
                    every: m.every.get(),
                    payload,
                })
            }
        };
        let retry = c.retry.as_ref().map(|r| Backoff {
            initial: r.initial.get(),
            max: r.max.get(),
            multiplier: r.multiplier,
            jitter: r.jitter,
            max_attempts: r.max_attempts,
            attempt_timeout: r.attempt_timeout.map(|d| d.get()).unwrap_or(Duration::from_secs(10)),
        });
        if let Some(r) = &c.retry {
            if !(0.0..=1.0).contains(&r.jitter) {
                issues.push((
                    at.clone().key("retry").key("jitter"),
                    "expected a fraction between 0 and 1".into(),
                ));
            }
        }
        if c.ping_interval.is_some_and(|d| d.is_zero()) {
            issues.push((
                at.clone().key("ping_interval"),
                "expected a duration greater than zero".into(),
            ));
        }
        clients.push(ClientScript {
            name: c.name.clone(),
            count: c.count.unwrap_or(1).max(1),
            start: c.start.map(|d| d.get()).unwrap_or(Duration::from_secs(1)),
            path: c.path.clone().unwrap_or_else(|| "/chat".to_string()),
            subprotocols: c.subprotocols.clone(),
            headers: c.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            gateways,
            port: gateway_port,
            ping_interval: c.ping_interval.map(|d| d.get()),
            messages,
            close_after: c.close_after.map(|d| d.get()),
            reopen_after: c.reopen_after.map(|d| d.get()),
            retry,
            stop_at: duration,
        });
    }

    let mut timeline = Vec::new();
    for (i, t) in file.timeline.iter().enumerate() {
        let at = KeyPath::item("timeline", i);
        let is_backend = backend_names.contains(&t.target.as_str());
        let target_known = hosts.contains(&t.target) && t.target != "clock" && t.target != "world";
        let need_backend = matches!(
            t.action,
            ActionName::FailProbes | ActionName::PassProbes | ActionName::SlowProbes | ActionName::WebsocketOnly
        );
        if need_backend && !is_backend {
            issues.push((at.clone().key("target"), unknown("backend", &t.target, &backend_names)));
            continue;
        }
        if t.action == ActionName::Maintenance && !instances.contains(&t.target) {
            issues.push((
                at.clone().key("target"),
                unknown("gateway instance", &t.target, &instances),
            ));
            continue;
        }
        if !target_known {
            issues.push((
                at.clone().key("target"),
                unknown(
                    "host",
                    &t.target,
                    &hosts
                        .iter()
                        .filter(|h| *h != "clock" && *h != "world")
                        .collect::<Vec<_>>(),
                ),
            ));
            continue;
        }
        let other = match (t.action, &t.with) {
            (ActionName::Partition | ActionName::Heal | ActionName::SetLatency, Some(w)) if hosts.contains(w) => {
                w.clone()
            }
            (ActionName::Partition | ActionName::Heal | ActionName::SetLatency, Some(w)) => {
                issues.push((
                    at.clone().key("with"),
                    unknown("host", w, &hosts.iter().collect::<Vec<_>>()),
                ));
                continue;
            }
            (ActionName::Partition | ActionName::Heal | ActionName::SetLatency, None) => {
                issues.push((at.clone(), "expected `with`: the host on the other side".into()));
                continue;
            }
            _ => String::new(),
        };
        let target = t.target.clone();
        let action = match t.action {
            ActionName::FailProbes => Action::SetHealth(target, t.status.unwrap_or(500)),
            ActionName::PassProbes => Action::SetHealth(target, 200),
            ActionName::SlowProbes => match t.latency {
                Some(l) => Action::SetHealthDelay(target, l.get()),
                None => {
                    issues.push((at.clone(), "slow-probes needs `latency`".into()));
                    continue;
                }
            },
            ActionName::WebsocketOnly => Action::SetWebSocketOnly(target),
            ActionName::Crash => Action::Crash(target),
            ActionName::Restart => Action::Restart(target),
            ActionName::Partition => Action::Partition(target, other),
            ActionName::Heal => Action::Heal(target, other),
            ActionName::Maintenance => Action::Maintenance(target),
            ActionName::SetLatency => match t.latency {
                Some(l) => Action::SetLinkLatency(target, other, l.get()),
                None => {
                    issues.push((at.clone(), "set-latency needs `latency`".into()));
                    continue;
                }
            },
        };
        timeline.push((t.at.get(), action));
    }

    let mut expects = Vec::new();
    for (i, e) in file.expect.iter().enumerate() {
        match expectation(e, &client_names, &backend_names, &instances) {
            Ok(x) => expects.push(x),
            Err((key, message)) => {
                let mut path = KeyPath::item("expect", i);
                if let Some(k) = key {
                    path = path.key(k);
                }
                issues.push((path, message));
            }
        }
    }
    if file.name.trim().is_empty() {
        issues.push((root("name"), "expected a non-empty name".into()));
    }

    Some(Scenario {
        path: path.to_path_buf(),
        name: file.name.clone(),
        description: file.description.clone(),
        requirements: file.requirements.clone(),
        profile: file.profile,
        seed: file.seed,
        duration,
        tick: file.tick.map(|d| d.get()).unwrap_or(Duration::from_millis(10)),
        latency: file.latency.map(|d| d.get()).unwrap_or(Duration::from_millis(1)),
        config,
        instances,
        backends,
        clients,
        timeline,
        expects,
        tls_files,
    })
}

fn unknown(kind: &str, name: &str, known: &[impl AsRef<str>]) -> String {
    let list: Vec<String> = known.iter().map(|k| format!("`{}`", k.as_ref())).collect();
    if list.is_empty() {
        format!("unknown {kind} `{name}`; none is defined")
    } else {
        format!("unknown {kind} `{name}`; expected one of {}", list.join(", "))
    }
}

/// The gateway config: a referenced file, or the inline sections with the
/// missing ones generated.
fn gateway_config(
    file: &ScenarioFile,
    base_dir: &Path,
    tls: Option<&tls::Material>,
    issues: &mut Issues,
) -> Option<Config> {
    let g = &file.gateway;
    if let Some(rel) = &g.config {
        let path = base_dir.join(rel);
        return match Config::load(&path) {
            Ok(c) if c.profile == file.profile => Some(c),
            Ok(c) => {
                issues.push((
                    root("gateway").key("config"),
                    format!(
                        "{} has profile {}, but the scenario's profile is {}",
                        path.display(),
                        c.profile,
                        file.profile
                    ),
                ));
                None
            }
            Err(e) => {
                issues.push((root("gateway").key("config"), e.to_string()));
                None
            }
        };
    }
    let mut pools: Vec<BackendPoolConfig> = g.backend_pools.clone();
    if pools.is_empty() {
        for b in &file.backends {
            let pool = b.pool.clone().unwrap_or_else(|| "pool".to_string());
            let address = format!("{}:{}", b.name, b.port.unwrap_or(BACKEND_PORT));
            match pools.iter_mut().find(|p| p.name == pool) {
                Some(p) => p.addresses.push(address),
                None => pools.push(BackendPoolConfig {
                    name: pool,
                    addresses: vec![address],
                }),
            }
        }
    }
    let listeners = if g.listeners.is_empty() {
        vec![ListenerConfig {
            name: "public".into(),
            protocol: Protocol::Http,
            address: std::net::SocketAddr::from(([0, 0, 0, 0], GATEWAY_PORT)),
            tls_cert: None,
            tls_key: None,
            tcp_keepalive: None,
        }]
    } else {
        g.listeners.clone()
    };
    let mut settings = if g.backend_settings.is_empty() {
        let all_tls = !file.backends.is_empty() && file.backends.iter().all(|b| b.tls);
        if file.backends.iter().any(|b| b.tls) && !all_tls {
            issues.push((
                root("backends"),
                "some backends use tls and some do not: write [[gateway.backend_settings]] and rules for each pool"
                    .into(),
            ));
            return None;
        }
        vec![BackendSettingsConfig {
            name: "settings".into(),
            protocol: if all_tls { Protocol::Https } else { Protocol::Http },
            request_timeout: None,
            host_override: None,
            probe: None,
            trusted_ca: None,
            tcp_keepalive: None,
        }]
    } else {
        g.backend_settings.clone()
    };
    // https settings trust the scenario's generated CA unless they name one.
    if let Some(material) = tls {
        for s in settings
            .iter_mut()
            .filter(|s| s.protocol == Protocol::Https && s.trusted_ca.is_none())
        {
            s.trusted_ca = Some(material.ca_path());
        }
    }
    let rules = if g.rules.is_empty() {
        if listeners.len() != 1 || pools.len() != 1 || settings.len() != 1 {
            issues.push((
                root("gateway"),
                "expected [[gateway.rules]]: a rule can be generated only for one listener, one pool and one settings"
                    .into(),
            ));
            return None;
        }
        vec![RuleConfig {
            name: "rule".into(),
            listener: listeners[0].name.clone(),
            pool: pools[0].name.clone(),
            settings: settings[0].name.clone(),
            caching: false,
            waf: None,
            rewrites: None,
        }]
    } else {
        g.rules.clone()
    };
    let config = Config {
        profile: file.profile,
        header_read_timeout: g
            .header_read_timeout
            .unwrap_or(gateway::config::Duration::from_secs(10)),
        max_header_bytes: g.max_header_bytes.unwrap_or(gateway::config::DEFAULT_MAX_HEADER_BYTES),
        idle_timeout: g.idle_timeout,
        max_lifetime: g.max_lifetime,
        max_connections: g.max_connections,
        listeners,
        backend_pools: pools,
        backend_settings: settings,
        probes: g.probes.clone(),
        rules,
        waf_policies: g.waf_policies.clone(),
        rewrite_sets: g.rewrite_sets.clone(),
        base_dir: base_dir.to_path_buf(),
    };
    if let Err(found) = config.validate().map(drop) {
        for issue in found {
            let mut key = vec![Seg::Key("gateway".into())];
            key.extend(issue.key.0);
            issues.push((KeyPath(key), issue.message));
        }
        return None;
    }
    Some(config)
}

/// One `[[expect]]` entry, checked: exactly one kind, about a known name.
fn expectation(
    e: &ExpectEntry,
    clients: &[&str],
    backends: &[&str],
    instances: &[String],
) -> Result<Expect, (Option<&'static str>, String)> {
    let client = || -> Result<String, (Option<&'static str>, String)> {
        match &e.client {
            Some(c) if clients.contains(&c.as_str()) => Ok(c.clone()),
            Some(c) => Err((Some("client"), unknown("client", c, clients))),
            None => Err((None, "expected `client`: which client this is about".into())),
        }
    };
    let backend = || -> Result<String, (Option<&'static str>, String)> {
        match &e.backend {
            Some(b) if backends.contains(&b.as_str()) => Ok(b.clone()),
            Some(b) => Err((Some("backend"), unknown("backend", b, backends))),
            None => Err((None, "expected `backend`: which backend this is about".into())),
        }
    };
    let window = e.between.map(|[a, b]| (a.get(), b.get()));
    if let Some(inst) = &e.instance {
        if !instances.contains(inst) {
            return Err((Some("instance"), unknown("gateway instance", inst, instances)));
        }
    }
    let kinds = [
        e.closed.is_some(),
        e.never_closed == Some(true),
        e.handshake.is_some(),
        e.no_new_sessions_after.is_some(),
        e.sessions.is_some(),
        e.echoed == Some(true),
        e.reconnected_within.is_some(),
        e.health.is_some(),
        e.request_path.is_some() || !e.request_headers.is_empty(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err((
            None,
            "expected exactly one of `closed`, `never_closed`, `handshake`, `no_new_sessions_after`, `sessions`, `echoed`, \
             `reconnected_within`, `health`, or `request_path`/`request_headers`"
                .into(),
        ));
    }
    if let Some(code) = e.closed {
        return Ok(Expect::Closed {
            client: client()?,
            code,
            window,
        });
    }
    if e.never_closed == Some(true) {
        return Ok(Expect::NeverClosed { client: client()? });
    }
    if let Some(status) = e.handshake {
        return Ok(Expect::Handshake {
            client: client()?,
            status,
            window,
        });
    }
    if let Some(after) = e.no_new_sessions_after {
        return Ok(Expect::NoNewSessionsAfter {
            backend: backend()?,
            after: after.get(),
        });
    }
    if let Some(count) = e.sessions {
        return Ok(Expect::Sessions {
            backend: backend()?,
            count,
        });
    }
    if e.echoed == Some(true) {
        return Ok(Expect::Echoed { client: client()? });
    }
    if let Some(within) = e.reconnected_within {
        return Ok(Expect::ReconnectedWithin {
            client: client()?,
            within: within.get(),
        });
    }
    if let Some(word) = e.health {
        let Some(at) = e.at else {
            return Err((None, "a `health` expectation needs `at`: when to check".into()));
        };
        return Ok(Expect::Health {
            backend: backend()?,
            healthy: word == HealthWord::Healthy,
            at: at.get(),
            instance: e.instance.clone(),
        });
    }
    Ok(Expect::Request {
        backend: backend()?,
        path: e.request_path.clone(),
        headers: e.request_headers.clone(),
    })
}

#[cfg(test)]
mod tests;
