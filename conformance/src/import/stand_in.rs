//! `wsgate run --config`: the user's gateway config in place of each
//! scenario's generated one.
//!
//! Everything that decides behaviour is the user's: request timeouts,
//! draining, probes, caching, WAF, rewrites, frontend idle timeouts. What
//! only connects the config to the scenario's world is taken from the
//! scenario: listener addresses (and certificates), and the pool members,
//! which become the scenario's scripted backends, since the user's
//! addresses do not exist in the simulator. Each replacement is reported.

use std::net::SocketAddr;

use gateway::config::Protocol;
use gateway::Config;

use crate::scenario::Scenario;

/// The user's config fitted to one scenario, and what was replaced.
#[derive(Debug, Clone)]
pub struct StandIn {
    pub config: Config,
    pub notes: Vec<String>,
}

/// Why a scenario does not run with the user's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The scenario checks another profile's behaviour.
    Profile { scenario: String, config: String },
    /// The fitted config does not validate (a gap worth reporting).
    Invalid(String),
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::Profile { scenario, config } => {
                write!(f, "the scenario is for profile {scenario}; your config is {config}")
            }
            Skip::Invalid(e) => write!(f, "your config does not fit this scenario: {e}"),
        }
    }
}

/// Fits `user` to `scenario`. Pure.
pub fn stand_in(user: &Config, scenario: &Scenario) -> Result<StandIn, Skip> {
    let generated = &scenario.config;
    if user.profile != scenario.profile {
        return Err(Skip::Profile {
            scenario: scenario.profile.to_string(),
            config: user.profile.to_string(),
        });
    }
    let mut c = user.clone();
    c.base_dir = generated.base_dir.clone();
    let mut notes = Vec::new();

    // Listeners: the scenario's clients connect to its listeners by index.
    for (i, l) in c.listeners.iter_mut().enumerate() {
        match generated.listeners.get(i) {
            Some(g) => {
                if l.address != g.address {
                    notes.push(format!(
                        "listener `{}`: {} → {} (the scenario's)",
                        l.name, l.address, g.address
                    ));
                }
                l.address = g.address;
                l.protocol = g.protocol;
                l.tls_cert = g.tls_cert.clone();
                l.tls_key = g.tls_key.clone();
            }
            None => {
                // Unused by the scenario's clients; any free port will do.
                let port = 20_000_u16.saturating_add(u16::try_from(i).unwrap_or(u16::MAX));
                l.address = SocketAddr::from(([0, 0, 0, 0], port));
                l.protocol = Protocol::Http;
                l.tls_cert = None;
                l.tls_key = None;
            }
        }
    }
    // A scenario with more listeners than the config: each extra one is a
    // copy of the first listener and its rule.
    if let (Some(first), Some(rule)) = (
        c.listeners.first().cloned(),
        c.rules
            .iter()
            .find(|r| c.listeners.first().is_some_and(|l| l.name == r.listener))
            .cloned(),
    ) {
        for (j, g) in generated.listeners.iter().enumerate().skip(c.listeners.len()) {
            let name = format!("{}-{j}", first.name);
            notes.push(format!(
                "listener `{name}`: a copy of `{}` for the scenario's listener {j}",
                first.name
            ));
            c.listeners.push(gateway::config::ListenerConfig {
                name: name.clone(),
                address: g.address,
                protocol: g.protocol,
                tls_cert: g.tls_cert.clone(),
                tls_key: g.tls_key.clone(),
                ..first.clone()
            });
            c.rules.push(gateway::config::RuleConfig {
                name: format!("{}-{j}", rule.name),
                listener: name,
                ..rule.clone()
            });
        }
    }

    // Pools: a pool the config's rule `i` uses takes the members of the
    // pool the scenario's rule `i` uses.
    let scenario_pool = |index: usize| -> Option<&gateway::config::BackendPoolConfig> {
        let rule = generated.rules.get(index % generated.rules.len().max(1))?;
        generated.backend_pools.iter().find(|p| p.name == rule.pool)
    };
    for (k, pool) in c.backend_pools.iter_mut().enumerate() {
        let index = user.rules.iter().position(|r| r.pool == pool.name).unwrap_or(k);
        let Some(g) =
            scenario_pool(index).or_else(|| generated.backend_pools.get(k % generated.backend_pools.len().max(1)))
        else {
            continue;
        };
        if pool.addresses != g.addresses {
            notes.push(format!(
                "pool `{}`: {} → {} (scripted backends)",
                pool.name,
                pool.addresses.join(", "),
                g.addresses.join(", ")
            ));
        }
        pool.addresses = g.addresses.clone();
    }

    // Settings speak the scenario's backends' protocol, trusting its CA.
    for s in c.backend_settings.iter_mut() {
        let index = user.rules.iter().position(|r| r.settings == s.name).unwrap_or(0);
        let g = generated
            .rules
            .get(index % generated.rules.len().max(1))
            .and_then(|r| generated.backend_settings.iter().find(|g| g.name == r.settings));
        if let Some(g) = g {
            s.protocol = g.protocol;
            s.trusted_ca = g.trusted_ca.clone();
        }
    }

    c.validate()
        .map_err(|issues| Skip::Invalid(gateway::config::ConfigError::located("--config", None, issues).to_string()))?;
    Ok(StandIn { config: c, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        crate::scenario::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scenarios/application-gateway/data-path-echo.toml"
        )))
        .expect("a shipped scenario loads")
    }

    #[test]
    fn pools_take_the_scenarios_backends_and_timeouts_stay_the_users() {
        let s = scenario();
        let mut user = Config::single_route(
            gateway::ProfileName::ApplicationGateway,
            SocketAddr::from(([0, 0, 0, 0], 443)),
            vec!["10.0.0.4:8080".into()],
            Some(gateway::config::Duration::from_secs(77)),
        );
        user.listeners[0].name = "mine".into();
        user.rules[0].listener = "mine".into();
        let fitted = stand_in(&user, &s).unwrap();
        assert_eq!(
            fitted.config.backend_pools[0].addresses,
            s.config.backend_pools[0].addresses
        );
        assert_eq!(fitted.config.listeners[0].address, s.config.listeners[0].address);
        assert_eq!(
            fitted.config.backend_settings[0].request_timeout,
            Some(gateway::config::Duration::from_secs(77))
        );
        assert!(
            fitted.notes.iter().any(|n| n.contains("10.0.0.4:8080 →")),
            "{:?}",
            fitted.notes
        );
        user.profile = gateway::ProfileName::FrontDoor;
        assert!(matches!(stand_in(&user, &s), Err(Skip::Profile { .. })));
    }
}
