//! `wsgate run --config`: the user's gateway config in place of each
//! scenario's generated one.
//!
//! Everything that decides behaviour is the user's: request timeouts,
//! draining, probes, caching, WAF, rewrites, frontend idle timeouts. What
//! only connects the config to the scenario's world is taken from the
//! scenario: listener addresses (and certificates), and the pool members'
//! addresses, which become the scenario's scripted backends, since the
//! user's addresses do not exist in the simulator. A Front Door origin
//! keeps its priority, weight and enabled state; only its address is
//! replaced. Each replacement is reported.

use std::net::SocketAddr;

use gateway::config::{BackendPoolConfig, OriginConfig, Protocol};
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
    let scenario_pool = |index: usize| -> Option<&BackendPoolConfig> {
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
        // The scripted backends in the gateway's member order: the
        // scenario's pool may be plain addresses, origins, or both.
        let scripted: Vec<String> = g
            .addresses
            .iter()
            .cloned()
            .chain(g.origins.iter().map(|o| o.address.clone()))
            .collect();
        if pool.origins.is_empty() {
            // Plain addresses carry nothing of their own, so the pool
            // takes every scripted backend, however many it had.
            if pool.addresses != scripted {
                notes.push(format!(
                    "pool `{}`: {} → {} (scripted backends)",
                    pool.name,
                    pool.addresses.join(", "),
                    scripted.join(", ")
                ));
            }
            pool.addresses = scripted;
        } else {
            fit_members(pool, &scripted, &mut notes);
        }
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

/// A pool with origins, one scripted backend per member in the gateway's
/// member order (`addresses`, then `origins`): each origin keeps its
/// priority, weight and enabled state, since those are the user's routing,
/// and only its address changes. Members beyond the scripted backends are
/// left out, as there is nothing to stand in for them; every change is
/// noted.
fn fit_members(pool: &mut BackendPoolConfig, scripted: &[String], notes: &mut Vec<String>) {
    let mut backends = scripted.iter();
    let mut moved = Vec::new();
    let mut left_out = Vec::new();
    let mut replace = |address: &str| match backends.next() {
        Some(b) => {
            if address != b {
                moved.push(format!("{address} → {b}"));
            }
            Some(b.clone())
        }
        None => {
            left_out.push(address.to_string());
            None
        }
    };
    let addresses: Vec<String> = pool.addresses.iter().filter_map(|a| replace(a)).collect();
    let origins: Vec<OriginConfig> = pool
        .origins
        .iter()
        .filter_map(|o| replace(&o.address).map(|address| OriginConfig { address, ..o.clone() }))
        .collect();
    let members = addresses.len() + origins.len();
    pool.addresses = addresses;
    pool.origins = origins;
    if !moved.is_empty() {
        notes.push(format!(
            "pool `{}`: {} (scripted backends; origins keep their priority, weight and enabled)",
            pool.name,
            moved.join(", ")
        ));
    }
    if !left_out.is_empty() {
        notes.push(format!(
            "pool `{}`: {} left out: the scenario has {} scripted backend(s) for it",
            pool.name,
            left_out.join(", "),
            scripted.len()
        ));
    }
    if let Some(unused) = scripted.get(members..).filter(|u| !u.is_empty()) {
        notes.push(format!(
            "pool `{}`: scripted backend(s) {} unused: the pool has {members} member(s)",
            pool.name,
            unused.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str) -> Scenario {
        crate::scenario::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../scenarios")
                .join(name),
        )
        .expect("a shipped scenario loads")
    }

    fn scenario() -> Scenario {
        load("application-gateway/data-path-echo.toml")
    }

    fn origin(address: &str, priority: Option<u8>, weight: Option<u16>, enabled: Option<bool>) -> OriginConfig {
        OriginConfig {
            address: address.into(),
            priority,
            weight,
            enabled,
        }
    }

    /// A Front Door config whose one pool is `addresses` and `origins`.
    fn front_door(addresses: &[&str], origins: Vec<OriginConfig>) -> Config {
        let mut user = Config::single_route(
            gateway::ProfileName::FrontDoor,
            SocketAddr::from(([0, 0, 0, 0], 80)),
            addresses.iter().map(|a| a.to_string()).collect(),
            None,
        );
        user.backend_pools[0].name = "chat-origins".into();
        user.rules[0].pool = "chat-origins".into();
        user.backend_pools[0].origins = origins;
        user
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

    #[test]
    fn origins_keep_their_routing_and_take_scripted_addresses_in_member_order() {
        // Three scripted origins: b1 (priority 1), b2 (priority 2), b3.
        let s = load("front-door/origin-priority-failover-and-back.toml");
        let user = front_door(
            &[],
            vec![
                origin("chat-eu.example:80", Some(1), Some(30), Some(true)),
                origin("chat-us.example:80", Some(2), Some(70), None),
                origin("chat-old.example:80", None, None, Some(false)),
            ],
        );
        let fitted = stand_in(&user, &s).unwrap();
        let pool = &fitted.config.backend_pools[0];
        assert!(pool.addresses.is_empty());
        assert_eq!(
            pool.origins,
            [
                origin("b1:80", Some(1), Some(30), Some(true)),
                origin("b2:80", Some(2), Some(70), None),
                origin("b3:80", None, None, Some(false)),
            ],
            "the user's priority, weight and enabled stay; the scenario's own (b3 disabled) do not"
        );
        assert_eq!(
            fitted
                .notes
                .iter()
                .filter(|n| n.starts_with("pool "))
                .collect::<Vec<_>>(),
            [
                "pool `chat-origins`: chat-eu.example:80 → b1:80, chat-us.example:80 → b2:80, \
              chat-old.example:80 → b3:80 (scripted backends; origins keep their priority, weight and enabled)"
            ]
        );
    }

    #[test]
    fn addresses_come_before_origins_and_members_beyond_the_scripted_ones_are_left_out() {
        // Two scripted backends written as plain addresses, b2's on a port
        // nothing listens on: the scenario's address is taken as it is.
        let s = load("front-door/retry-on-a-refused-connect.toml");
        assert_eq!(s.config.backend_pools[0].addresses, ["b1:80", "b2:81"]);
        let user = front_door(
            &["10.0.0.4:80"],
            vec![
                origin("10.0.0.5:80", Some(2), Some(500), None),
                origin("10.0.0.6:80", Some(3), None, None),
            ],
        );
        let fitted = stand_in(&user, &s).unwrap();
        let pool = &fitted.config.backend_pools[0];
        assert_eq!(pool.addresses, ["b1:80"]);
        assert_eq!(pool.origins, [origin("b2:81", Some(2), Some(500), None)]);
        let notes: Vec<&String> = fitted.notes.iter().filter(|n| n.starts_with("pool ")).collect();
        assert_eq!(
            notes,
            [
                "pool `chat-origins`: 10.0.0.4:80 → b1:80, 10.0.0.5:80 → b2:81 (scripted backends; origins keep \
                 their priority, weight and enabled)",
                "pool `chat-origins`: 10.0.0.6:80 left out: the scenario has 2 scripted backend(s) for it",
            ]
        );
    }

    #[test]
    fn fewer_origins_than_scripted_backends_leave_the_rest_unused() {
        let s = load("front-door/origin-weights-share-exactly.toml");
        let user = front_door(&[], vec![origin("chat-eu.example:80", None, Some(1000), None)]);
        let fitted = stand_in(&user, &s).unwrap();
        assert_eq!(
            fitted.config.backend_pools[0].origins,
            [origin("b1:80", None, Some(1000), None)]
        );
        assert!(
            fitted.notes.contains(
                &"pool `chat-origins`: scripted backend(s) b2:80, b3:80 unused: the pool has 1 member(s)".to_string()
            ),
            "{:?}",
            fitted.notes
        );
    }

    #[test]
    fn plain_addresses_take_every_scripted_backend_even_from_a_pool_of_origins() {
        let s = load("front-door/origin-priority-failover-and-back.toml");
        let user = front_door(&["10.0.0.4:80"], Vec::new());
        let fitted = stand_in(&user, &s).unwrap();
        assert_eq!(fitted.config.backend_pools[0].addresses, ["b1:80", "b2:80", "b3:80"]);
        assert!(fitted.config.backend_pools[0].origins.is_empty());
        assert!(
            fitted
                .notes
                .contains(&"pool `chat-origins`: 10.0.0.4:80 → b1:80, b2:80, b3:80 (scripted backends)".to_string()),
            "{:?}",
            fitted.notes
        );
    }
}
