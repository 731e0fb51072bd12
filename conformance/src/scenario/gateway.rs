//! A scenario's gateway config: a referenced file, or the inline sections
//! with the missing ones generated (one listener on port 80, one pool per
//! backend `pool`, default settings, a rule per listener), and the TLS
//! material its https listeners and backends need.

use std::path::Path;
use std::sync::Arc;

use ::gateway::config::{
    BackendPoolConfig, BackendSettingsConfig, FrontendIp, KeyPath, ListenerConfig, Protocol, RuleConfig, Seg,
};
use ::gateway::Config;

use super::file::ScenarioFile;
use super::tls::{self, Material};
use super::{root, Issues, BACKEND_PORT, GATEWAY_PORT};

/// The names a backend's certificate carries: its host, and the loopback
/// names it has on a real network.
fn backend_names(host: &str) -> Vec<String> {
    vec![host.to_string(), "localhost".into(), "127.0.0.1".into()]
}

/// Generates the run's CA and certificates when a backend or an https
/// listener without its own certificate needs them.
pub(super) fn tls_material(file: &ScenarioFile, instances: &[String], issues: &mut Issues) -> Option<Arc<Material>> {
    let mut certs: Vec<(String, Vec<String>)> = file
        .backends
        .iter()
        .filter(|b| b.tls)
        .map(|b| (b.name.clone(), backend_names(&b.name)))
        .collect();
    let listener_needs_cert = file
        .gateway
        .listeners
        .iter()
        .any(|l| l.protocol == Protocol::Https && l.tls_cert.is_none() && l.tls_key.is_none());
    let clients_want_tls =
        file.clients.iter().any(|c| c.tls == Some(true)) || file.requests.iter().any(|r| r.tls == Some(true));
    if listener_needs_cert || clients_want_tls {
        let mut names: Vec<String> = instances.to_vec();
        names.extend(["localhost".to_string(), "127.0.0.1".to_string()]);
        certs.push((tls::GATEWAY.to_string(), names));
    }
    if certs.is_empty() {
        return None;
    }
    match Material::generate(&certs) {
        Ok(m) => Some(Arc::new(m)),
        Err(e) => {
            issues.push((root("backends"), format!("cannot generate TLS material: {e}")));
            None
        }
    }
}

/// The gateway config the scenario describes.
pub(super) fn config(
    file: &ScenarioFile,
    base_dir: &Path,
    tls: Option<&Material>,
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
                None => pools.push(BackendPoolConfig::new(&pool, vec![address])),
            }
        }
    }
    let mut listeners = if g.listeners.is_empty() {
        vec![ListenerConfig {
            name: "public".into(),
            protocol: Protocol::Http,
            address: std::net::SocketAddr::from(([0, 0, 0, 0], GATEWAY_PORT)),
            tls_cert: None,
            tls_key: None,
            tcp_keepalive: None,
            frontend_idle_timeout: None,
            frontend_ip: FrontendIp::Public,
        }]
    } else {
        g.listeners.clone()
    };
    // https listeners without a certificate get the run's.
    if let Some(material) = tls {
        let (cert, key) = material.files(tls::GATEWAY);
        for l in listeners
            .iter_mut()
            .filter(|l| l.protocol == Protocol::Https && l.tls_cert.is_none() && l.tls_key.is_none())
        {
            l.tls_cert = Some(cert.clone());
            l.tls_key = Some(key.clone());
        }
    }
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
            protocol: if all_tls { Protocol::Https } else { Protocol::Http },
            ..BackendSettingsConfig::named("settings")
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
        if pools.len() != 1 || settings.len() != 1 {
            issues.push((
                root("gateway"),
                "expected [[gateway.rules]]: rules can be generated only for one pool and one settings".into(),
            ));
            return None;
        }
        // The documents' template: every listener has a basic rule to the
        // same pool and settings.
        let single = listeners.len() == 1;
        listeners
            .iter()
            .map(|l| RuleConfig {
                name: if single {
                    "rule".into()
                } else {
                    format!("rule-{}", l.name)
                },
                listener: l.name.clone(),
                pool: pools[0].name.clone(),
                settings: settings[0].name.clone(),
                caching: false,
                waf: None,
                rewrites: None,
            })
            .collect()
    } else {
        g.rules.clone()
    };
    let config = Config {
        profile: file.profile,
        header_read_timeout: g.header_read_timeout.unwrap_or(::gateway::config::Duration::from(
            ::gateway::config::DEFAULT_HEADER_READ_TIMEOUT,
        )),
        max_header_bytes: g
            .max_header_bytes
            .unwrap_or(::gateway::config::DEFAULT_MAX_HEADER_BYTES),
        idle_timeout: g.idle_timeout,
        max_lifetime: g.max_lifetime,
        max_connections: g.max_connections,
        maintenance: g.maintenance,
        origin_response_timeout: g.origin_response_timeout,
        listeners,
        backend_pools: pools,
        backend_settings: settings,
        probes: g.probes.clone(),
        rules,
        waf_policies: g.waf_policies.clone(),
        rewrite_sets: g.rewrite_sets.clone(),
        base_dir: base_dir.to_path_buf(),
    };
    match config.validate() {
        Ok(_) => Some(config),
        Err(found) => {
            for issue in found {
                let mut key = vec![Seg::Key("gateway".into())];
                key.extend(issue.key.0);
                issues.push((KeyPath(key), issue.message));
            }
            None
        }
    }
}

/// The gateway config's warnings (`Config::warnings`), located in the
/// scenario file: inline sections under `[gateway]`, generated pools at
/// the backend whose port they come from. A referenced config file's
/// warnings are located in that file ([`file_warnings`]).
pub(super) fn warnings(file: &ScenarioFile, config: &Config) -> Vec<(KeyPath, String)> {
    if file.gateway.config.is_some() {
        return Vec::new();
    }
    config
        .warnings()
        .into_iter()
        .map(|w| {
            let key = match w.key.0.as_slice() {
                [Seg::Key(section), Seg::Index(i), Seg::Key(_), Seg::Index(j), ..]
                    if section == "backend_pools" && file.gateway.backend_pools.is_empty() =>
                {
                    let address = config
                        .backend_pools
                        .get(*i)
                        .and_then(|p| p.addresses.get(*j))
                        .cloned()
                        .unwrap_or_default();
                    file.backends
                        .iter()
                        .position(|b| format!("{}:{}", b.name, b.port.unwrap_or(BACKEND_PORT)) == address)
                        .map_or_else(|| root("backends"), |k| KeyPath::item("backends", k).key("port"))
                }
                _ => w.key.under("gateway"),
            };
            (key, w.message)
        })
        .collect()
}

/// The warnings of the config file `[gateway] config` names, located in it.
pub(super) fn file_warnings(file: &ScenarioFile, scenario_path: &Path) -> Vec<::gateway::config::Diagnostic> {
    let Some(rel) = &file.gateway.config else {
        return Vec::new();
    };
    let base = scenario_path.parent().unwrap_or_else(|| Path::new("."));
    Config::load_with_warnings(&base.join(rel))
        .map(|(_, warnings)| warnings)
        .unwrap_or_default()
}
