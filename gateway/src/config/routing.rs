//! How traffic is shared out, checked and resolved: cookie affinity on
//! backend settings (Application Gateway), Front Door's origin groups
//! (origins with a priority, a weight and an enabled state, session
//! affinity, the latency window), and the range of Front Door's origin
//! response timeout. Split from `validate` along that seam; pure like it.

use super::{BackendAddr, BackendPoolConfig, BackendSettingsConfig, Config, Duration, KeyPath, MAX_DURATION};
use crate::affinity::{self, AffinityPlan};
use crate::config::validate::Issue;
use crate::profile::Behaviour;

/// An origin's priority when the config gives none (Front Door's default).
pub const DEFAULT_PRIORITY: u8 = 1;
/// An origin's weight when the config gives none (Front Door's default).
pub const DEFAULT_WEIGHT: u16 = 50;
/// Priorities run from 1 to this.
pub const MAX_PRIORITY: u8 = 5;
/// Weights run from 1 to this.
pub const MAX_WEIGHT: u16 = 1000;

/// One member of a pool as written: a plain address, or an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Written<'a> {
    /// Where its address sits, for errors.
    pub(super) key: KeyPath,
    pub(super) address: &'a str,
    pub(super) priority: u8,
    pub(super) weight: u16,
    pub(super) enabled: bool,
}

/// A pool's members in order: its `addresses`, then its `origins`.
pub(super) fn members(pool: &BackendPoolConfig, index: usize) -> Vec<Written<'_>> {
    let at = KeyPath::item("backend_pools", index);
    let plain = pool.addresses.iter().enumerate().map(|(j, address)| Written {
        key: at.clone().key("addresses").index(j),
        address,
        priority: DEFAULT_PRIORITY,
        weight: DEFAULT_WEIGHT,
        enabled: true,
    });
    let origins = pool.origins.iter().enumerate().map(|(j, o)| Written {
        key: at.clone().key("origins").index(j).key("address"),
        address: &o.address,
        priority: o.priority.unwrap_or(DEFAULT_PRIORITY),
        weight: o.weight.unwrap_or(DEFAULT_WEIGHT),
        enabled: o.enabled.unwrap_or(true),
    });
    plain.chain(origins).collect()
}

/// Every routing problem in `config`.
pub(super) fn check(config: &Config, issues: &mut Vec<Issue>) {
    let behaviour = config.profile.behaviour();
    for (i, pool) in config.backend_pools.iter().enumerate() {
        check_pool(config, &behaviour, pool, i, issues);
    }
    for (i, settings) in config.backend_settings.iter().enumerate() {
        check_settings(config, &behaviour, settings, i, issues);
    }
    if let Some(timeout) = config.origin_response_timeout {
        let at = KeyPath::root().key("origin_response_timeout");
        match behaviour.request_timeout_range {
            None => issues.push(Issue::new(
                at,
                format!(
                    "`origin_response_timeout` is a front-door setting; profile {} has `request_timeout` on \
                     [[backend_settings]]",
                    config.profile
                ),
            )),
            Some(range) => check_origin_timeout(config, range, timeout, at, issues),
        }
    }
}

/// Front Door's origin response timeout must be within `(low, high)`.
fn check_origin_timeout(
    config: &Config,
    (low, high): (std::time::Duration, std::time::Duration),
    timeout: Duration,
    at: KeyPath,
    issues: &mut Vec<Issue>,
) {
    let value = timeout.get();
    // Zero and over-a-year are reported by the duration checks.
    if !value.is_zero() && !timeout.is_too_long() && !(low..=high).contains(&value) {
        issues.push(Issue::new(
            at,
            format!(
                "expected an origin response timeout from {}s to {}s under {} (Front Door's range), found {timeout}",
                low.as_secs(),
                high.as_secs(),
                config.profile
            ),
        ));
    }
}

fn check_pool(config: &Config, behaviour: &Behaviour, pool: &BackendPoolConfig, i: usize, issues: &mut Vec<Issue>) {
    let at = KeyPath::item("backend_pools", i);
    if !behaviour.origin_groups {
        let not_here = |key: &str| {
            Issue::new(
                at.clone().key(key),
                format!(
                    "`{key}` is a front-door origin group setting; profile {} balances round robin over `addresses`",
                    config.profile
                ),
            )
        };
        if !pool.origins.is_empty() {
            issues.push(not_here("origins"));
        }
        if pool.session_affinity {
            issues.push(Issue::new(
                at.clone().key("session_affinity"),
                format!(
                    "`session_affinity` is a front-door origin group setting; profile {} has `cookie_affinity` on \
                     [[backend_settings]]",
                    config.profile
                ),
            ));
        }
        if pool.latency_sensitivity.is_some() {
            issues.push(not_here("latency_sensitivity"));
        }
    }
    if pool.latency_sensitivity.is_some_and(Duration::is_too_long) {
        issues.push(Issue::new(
            at.clone().key("latency_sensitivity"),
            format!(
                "expected a duration of at most {} (a year)",
                Duration::from(MAX_DURATION)
            ),
        ));
    }
    for (j, origin) in pool.origins.iter().enumerate() {
        let here = at.clone().key("origins").index(j);
        if let Some(p) = origin.priority.filter(|p| !(1..=MAX_PRIORITY).contains(p)) {
            issues.push(Issue::new(
                here.clone().key("priority"),
                format!("expected a priority from 1 (first) to {MAX_PRIORITY}, found {p}"),
            ));
        }
        if let Some(w) = origin.weight.filter(|w| !(1..=MAX_WEIGHT).contains(w)) {
            issues.push(Issue::new(
                here.clone().key("weight"),
                format!("expected a weight from 1 to {MAX_WEIGHT}, found {w}"),
            ));
        }
    }
    let written = members(pool, i);
    for (k, member) in written.iter().enumerate() {
        if let Err(message) = BackendAddr::parse(member.address) {
            issues.push(Issue::new(member.key.clone(), message));
            continue;
        }
        let first = written[..k].iter().position(|m| m.address == member.address);
        if let Some(first) = first {
            issues.push(Issue::new(
                member.key.clone(),
                format!(
                    "`{}` is already a member of this pool (at {}): one member, one affinity cookie",
                    member.address, written[first].key
                ),
            ));
        }
    }
    if !written.is_empty() && written.iter().all(|m| !m.enabled) {
        issues.push(Issue::new(
            at.key("origins"),
            "every origin is disabled: expected at least one with enabled = true",
        ));
    }
}

fn check_settings(
    config: &Config,
    behaviour: &Behaviour,
    settings: &BackendSettingsConfig,
    i: usize,
    issues: &mut Vec<Issue>,
) {
    let at = KeyPath::item("backend_settings", i);
    if !behaviour.affinity.on_settings {
        for (key, set) in [
            ("cookie_affinity", settings.cookie_affinity),
            ("affinity_cookie_name", settings.affinity_cookie_name.is_some()),
        ] {
            if set {
                issues.push(Issue::new(
                    at.clone().key(key),
                    format!(
                        "`{key}` is an application-gateway backend setting; profile {} has `session_affinity` on the \
                         origin group ([[backend_pools]])",
                        config.profile
                    ),
                ));
            }
        }
    } else if let Some(name) = &settings.affinity_cookie_name {
        if !settings.cookie_affinity {
            issues.push(Issue::new(
                at.clone().key("affinity_cookie_name"),
                "`affinity_cookie_name` names the cookie of `cookie_affinity`; set cookie_affinity = true",
            ));
        } else if !affinity::valid_name(name) {
            issues.push(Issue::new(
                at.clone().key("affinity_cookie_name"),
                format!(
                    "expected a cookie name (letters, digits and `!#$%&'*+-.^_`|~`, no spaces or separators), found \
                     {name:?}"
                ),
            ));
        }
    }
    if let (Some(range), Some(timeout)) = (behaviour.request_timeout_range, settings.request_timeout) {
        check_origin_timeout(config, range, timeout, at.key("request_timeout"), issues);
    }
}

/// The affinity of the backend set joining `pool` and `settings`, if
/// switched on: per settings under Application Gateway, per origin group
/// under Front Door.
pub(super) fn affinity(
    behaviour: &Behaviour,
    pool: &BackendPoolConfig,
    settings: &BackendSettingsConfig,
) -> Option<AffinityPlan> {
    let rules = behaviour.affinity;
    let (on, name) = if rules.on_settings {
        (settings.cookie_affinity, settings.affinity_cookie_name.as_deref())
    } else {
        (pool.session_affinity, None)
    };
    on.then(|| AffinityPlan {
        cookie: name.unwrap_or(rules.cookie).to_string(),
        websocket: rules.websocket,
        uncacheable_only: rules.uncacheable_only,
    })
}

/// A pool's latency window: the configured sensitivity (default 0 ms) under
/// a profile with origin groups, else none.
pub(super) fn latency_sensitivity(behaviour: &Behaviour, pool: &BackendPoolConfig) -> Option<std::time::Duration> {
    behaviour
        .origin_groups
        .then(|| pool.latency_sensitivity.map(Duration::get).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::config::{Config, ConfigError, Diagnostic};
    use crate::plan::Plan;

    const AGW: &str = r#"
profile = "application-gateway"

[[listeners]]
name = "public"
address = "127.0.0.1:8080"

[[backend_pools]]
name = "chat"
addresses = ["b1:80", "b2:80"]

[[backend_settings]]
name = "settings"
request_timeout = "20s"

[[rules]]
name = "rule"
listener = "public"
pool = "chat"
settings = "settings"
"#;

    fn front_door(src: &str) -> String {
        src.replace("\"application-gateway\"", "\"front-door\"")
    }

    fn load(src: &str) -> Result<Config, ConfigError> {
        Config::from_toml(src, "gw.toml", PathBuf::from("."))
    }

    fn plan(src: &str) -> Plan {
        load(src).expect("valid").validate().expect("valid")
    }

    /// Every diagnostic of a rejected config, as `line: key: message`.
    fn errors(src: &str) -> Vec<(usize, String, String)> {
        let err = load(src).expect_err("config should be rejected");
        err.diagnostics()
            .iter()
            .map(|d: &Diagnostic| (d.position.expect("located").0, d.key.clone(), d.message.clone()))
            .collect()
    }

    fn line_of(src: &str, needle: &str) -> usize {
        let offset = src.find(needle).expect("needle is in the source");
        src[..offset].matches('\n').count() + 1
    }

    fn with_settings(src: &str, lines: &str) -> String {
        src.replace(
            "request_timeout = \"20s\"",
            &format!("request_timeout = \"20s\"\n{lines}"),
        )
    }

    #[test]
    fn cookie_affinity_resolves_with_the_default_or_a_custom_name() {
        let p = plan(&with_settings(AGW, "cookie_affinity = true"));
        let a = p.backend_sets[0].affinity.as_ref().expect("affinity on");
        assert_eq!(a.cookie, "ApplicationGatewayAffinity");
        assert_eq!(a.cors_cookie(), "ApplicationGatewayAffinityCORS");
        assert!(a.websocket && !a.uncacheable_only);
        let p = plan(&with_settings(
            AGW,
            "cookie_affinity = true\naffinity_cookie_name = \"Sticky\"",
        ));
        assert_eq!(p.backend_sets[0].affinity.as_ref().unwrap().cors_cookie(), "StickyCORS");
        assert!(plan(AGW).backend_sets[0].affinity.is_none(), "off by default");
        assert_eq!(plan(AGW).backend_sets[0].latency_sensitivity, None, "no window");
    }

    /// AGW16-AFFINITY-1: the 2016 profile keeps the cookie off handshakes.
    #[test]
    fn under_2016_affinity_leaves_websocket_alone() {
        let src = with_settings(AGW, "cookie_affinity = true")
            .replace("\"application-gateway\"", "\"application-gateway-2016\"");
        assert!(!plan(&src).backend_sets[0].affinity.as_ref().unwrap().websocket);
    }

    #[test]
    fn a_bad_cookie_name_or_one_without_affinity_is_located() {
        let src = with_settings(AGW, "cookie_affinity = true\naffinity_cookie_name = \"my cookie\"");
        assert_eq!(
            errors(&src),
            [(
                line_of(&src, "affinity_cookie_name"),
                "backend_settings[0].affinity_cookie_name".to_string(),
                "expected a cookie name (letters, digits and `!#$%&'*+-.^_`|~`, no spaces or separators), found \"my \
                 cookie\""
                    .to_string()
            )]
        );
        let src = with_settings(AGW, "affinity_cookie_name = \"Sticky\"");
        let e = errors(&src);
        assert_eq!(e[0].1, "backend_settings[0].affinity_cookie_name");
        assert!(e[0].2.contains("set cookie_affinity = true"), "{e:?}");
    }

    #[test]
    fn front_door_affinity_is_on_the_origin_group() {
        let src = front_door(&with_settings(AGW, "cookie_affinity = true"));
        let e = errors(&src);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, line_of(&src, "cookie_affinity"));
        assert!(e[0].2.contains("`session_affinity` on the origin group"), "{e:?}");
        let src = front_door(AGW).replace("addresses = [", "session_affinity = true\naddresses = [");
        let a = plan(&src).backend_sets[0].affinity.clone().expect("on");
        assert_eq!((a.cookie.as_str(), a.uncacheable_only), ("ASLBSA", true));
        let src = AGW.replace("addresses = [", "session_affinity = true\naddresses = [");
        let e = errors(&src);
        assert_eq!(e[0].1, "backend_pools[0].session_affinity");
        assert!(e[0].2.contains("`cookie_affinity` on [[backend_settings]]"), "{e:?}");
    }

    const ORIGINS: &str = r#"
[[backend_pools.origins]]
address = "b3:80"
priority = 2
weight = 1000

[[backend_pools.origins]]
address = "b4:80"
enabled = false
"#;

    fn with_origins(src: &str, origins: &str) -> String {
        src.replace(
            "addresses = [\"b1:80\", \"b2:80\"]\n",
            &format!("addresses = [\"b1:80\", \"b2:80\"]\nlatency_sensitivity = \"30ms\"\n{origins}"),
        )
    }

    #[test]
    fn origins_follow_the_addresses_with_their_settings() {
        let p = plan(&front_door(&with_origins(AGW, ORIGINS)));
        let set = &p.backend_sets[0];
        let members: Vec<(String, u8, u16, bool)> = set
            .members
            .iter()
            .map(|m| (m.addr.to_string(), m.priority, m.weight, m.enabled))
            .collect();
        assert_eq!(
            members,
            [
                ("b1:80".to_string(), 1, 50, true),
                ("b2:80".to_string(), 1, 50, true),
                ("b3:80".to_string(), 2, 1000, true),
                ("b4:80".to_string(), 1, 50, false),
            ]
        );
        assert_eq!(set.latency_sensitivity, Some(std::time::Duration::from_millis(30)));
        assert_eq!(
            plan(&front_door(AGW)).backend_sets[0].latency_sensitivity,
            Some(std::time::Duration::ZERO),
            "Front Door's default: 0 ms"
        );
    }

    #[test]
    fn origins_alone_make_a_pool() {
        let src = front_door(AGW).replace(
            "addresses = [\"b1:80\", \"b2:80\"]\n",
            "[[backend_pools.origins]]\naddress = \"b1:80\"\n",
        );
        assert_eq!(plan(&src).backend_sets[0].members.len(), 1);
        let empty = front_door(AGW).replace("addresses = [\"b1:80\", \"b2:80\"]\n", "");
        let e = errors(&empty);
        assert_eq!(e[0].1, "backend_pools[0].addresses");
        assert!(e[0].2.contains("or [[backend_pools.origins]] entry"), "{e:?}");
    }

    #[test]
    fn origin_settings_are_front_door_only() {
        let src = with_origins(AGW, ORIGINS);
        let e = errors(&src);
        let keys: Vec<&str> = e.iter().map(|(_, k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["backend_pools[0].latency_sensitivity", "backend_pools[0].origins"]
        );
        assert!(e[1].2.contains("front-door origin group setting"), "{e:?}");
    }

    #[test]
    fn priorities_weights_addresses_and_duplicates_are_checked_where_written() {
        let bad = "[[backend_pools.origins]]\naddress = \"b3\"\npriority = 6\nweight = 0\n\n\
                   [[backend_pools.origins]]\naddress = \"b1:80\"\nweight = 1001\n";
        let src = front_door(&with_origins(AGW, bad));
        let e = errors(&src);
        let got: Vec<(usize, &str)> = e.iter().map(|(l, k, _)| (*l, k.as_str())).collect();
        assert_eq!(
            got,
            [
                (line_of(&src, "address = \"b3\""), "backend_pools[0].origins[0].address"),
                (line_of(&src, "priority = 6"), "backend_pools[0].origins[0].priority"),
                (line_of(&src, "weight = 0"), "backend_pools[0].origins[0].weight"),
                (
                    line_of(&src, "address = \"b1:80\""),
                    "backend_pools[0].origins[1].address"
                ),
                (line_of(&src, "weight = 1001"), "backend_pools[0].origins[1].weight"),
            ],
            "{e:?}"
        );
        assert!(e[1].2.contains("from 1 (first) to 5, found 6"), "{e:?}");
        assert!(e[2].2.contains("from 1 to 1000, found 0"), "{e:?}");
        assert!(e[3].2.contains("already a member of this pool"), "{e:?}");
    }

    #[test]
    fn a_group_with_every_origin_disabled_is_refused() {
        let src = front_door(AGW).replace(
            "addresses = [\"b1:80\", \"b2:80\"]\n",
            "[[backend_pools.origins]]\naddress = \"b1:80\"\nenabled = false\n",
        );
        let e = errors(&src);
        assert_eq!(e[0].1, "backend_pools[0].origins");
        assert!(e[0].2.contains("every origin is disabled"), "{e:?}");
    }

    /// FD-TIMEOUT-1: the origin response timeout is 16 to 240 s.
    #[test]
    fn front_door_origin_response_timeout_is_16_to_240_seconds() {
        for ok in ["16s", "30s", "240s"] {
            let src = front_door(AGW).replace("\"20s\"", &format!("\"{ok}\""));
            assert!(load(&src).is_ok(), "{ok}");
        }
        for (bad, shown) in [("15s", "15s"), ("241s", "4m 1s"), ("500ms", "500ms")] {
            let src = front_door(AGW).replace("\"20s\"", &format!("\"{bad}\""));
            let e = errors(&src);
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(
                (e[0].0, e[0].1.as_str()),
                (line_of(&src, "request_timeout"), "backend_settings[0].request_timeout")
            );
            assert!(
                e[0].2.contains(&format!(
                    "expected an origin response timeout from 16s to 240s under front-door (Front Door's range), found \
                     {shown}"
                )),
                "{e:?}"
            );
        }
        let agw = AGW.replace("\"20s\"", "\"5s\"");
        assert!(load(&agw).is_ok(), "application gateway has no such range");
    }

    /// FD-TIMEOUT-1: `origin_response_timeout` is Front Door's profile-wide
    /// setting; a backend settings' `request_timeout` overrides it.
    #[test]
    fn origin_response_timeout_is_front_doors_profile_wide_setting() {
        let src = format!("origin_response_timeout = \"45s\"\n{}", front_door(AGW));
        let timeouts = |src: &str| -> Vec<std::time::Duration> {
            plan(src)
                .backend_sets
                .iter()
                .map(|s| s.settings.request_timeout.after)
                .collect()
        };
        assert_eq!(
            timeouts(&src),
            [std::time::Duration::from_secs(20)],
            "request_timeout wins"
        );
        let unset = src.replace("request_timeout = \"20s\"\n", "");
        assert_eq!(timeouts(&unset), [std::time::Duration::from_secs(45)]);
        let e = errors(&unset.replace("\"45s\"", "\"10s\""));
        assert_eq!((e[0].0, e[0].1.as_str()), (1, "origin_response_timeout"), "{e:?}");
        assert!(e[0].2.contains("from 16s to 240s"), "{e:?}");
        let e = errors(&format!("origin_response_timeout = \"45s\"\n{AGW}"));
        assert_eq!(e[0].1, "origin_response_timeout");
        assert!(e[0].2.contains("is a front-door setting"), "{e:?}");
    }
}
