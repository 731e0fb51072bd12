//! Affinity and Front Door origin routing: the Azure fields that map to the
//! gateway's affinity and origin-group keys, in one place.
//!
//! - Application Gateway `cookieBasedAffinity` and `affinityCookieName`
//!   become the settings' `cookie_affinity` and `affinity_cookie_name`.
//! - A Front Door origin group's `sessionAffinityState` and
//!   `loadBalancingSettings.additionalLatencyInMilliseconds` become the
//!   pool's `session_affinity` and `latency_sensitivity`.
//! - An origin's `priority` and `weight` are read but not carried over:
//!   the pool's members are written as `addresses`, and
//!   `[[backend_pools.origins]]` is left to the reader (listed as
//!   unmodelled, with what it would change). A disabled origin is left out
//!   of its pool, which is what `enabled = false` would do.

use gateway::config::{BackendPoolConfig, BackendSettingsConfig, Duration};

use super::json::Json;
use super::read::Reader;
use super::Imported;

/// Application Gateway's `cookieBasedAffinity` and `affinityCookieName`.
pub fn agw_settings(r: &mut Reader<'_>, im: &mut Imported, p: &Json, settings: &mut BackendSettingsConfig, key: &str) {
    if let Some((on, v)) = r.flag(p, "cookieBasedAffinity") {
        settings.cookie_affinity = on;
        if on {
            im.source(format!("{key}.cookie_affinity"), r.doc, v);
        }
    }
    if let Some((name, v)) = r.string(p, "affinityCookieName") {
        if !settings.cookie_affinity {
            im.unmodelled(
                r.doc,
                v,
                "affinity cookie name without cookie-based affinity: nothing to name",
            );
        } else if !gateway::affinity::valid_name(name) {
            im.unmodelled(
                r.doc,
                v,
                format!("affinity cookie name {name:?} is not a cookie name: the default ApplicationGatewayAffinity is used"),
            );
        } else {
            settings.affinity_cookie_name = Some(name.to_string());
            im.source(format!("{key}.affinity_cookie_name"), r.doc, v);
        }
    }
}

/// Front Door origin group: `sessionAffinityState` and
/// `loadBalancingSettings.additionalLatencyInMilliseconds`.
pub fn fd_origin_group(r: &mut Reader<'_>, im: &mut Imported, og: &Json, pool: &mut BackendPoolConfig, key: &str) {
    if let Some((on, v)) = r.flag(og, "sessionAffinityState") {
        pool.session_affinity = on;
        if on {
            im.source(format!("{key}.session_affinity"), r.doc, v);
        }
    }
    if let Some(lb) = og.get("loadBalancingSettings") {
        if let Some((ms, v)) = r.number(lb, "additionalLatencyInMilliseconds", 0..=1000) {
            pool.latency_sensitivity = Some(Duration::from(std::time::Duration::from_millis(ms)));
            im.source(format!("{key}.latency_sensitivity"), r.doc, v);
        }
    }
}

/// One Front Door origin: `priority`, `weight`, `enabledState`. Returns
/// whether the origin goes in the pool.
pub fn fd_origin(
    r: &mut Reader<'_>,
    im: &mut Imported,
    origin: &Json,
    _pool: &mut BackendPoolConfig,
    _key: &str,
) -> bool {
    if let Some((n, v)) = r.number(origin, "priority", 1..=5) {
        if n != 1 {
            im.unmodelled(
                r.doc,
                v,
                format!(
                    "origin priority {n}: not carried over, so this origin is first; write it as an origin with \
                     `priority = {n}` in [[backend_pools.origins]]"
                ),
            );
        }
    }
    if let Some((n, v)) = r.number(origin, "weight", 1..=1000) {
        if n != 50 {
            im.unmodelled(
                r.doc,
                v,
                format!(
                    "origin weight {n}: not carried over, so origins share traffic equally; write it as an origin \
                     with `weight = {n}` in [[backend_pools.origins]]"
                ),
            );
        }
    }
    match r.flag(origin, "enabledState") {
        Some((false, v)) => {
            im.unmodelled(
                r.doc,
                v,
                "origin disabled: left out of the pool (a disabled origin gets no traffic)",
            );
            false
        }
        _ => true,
    }
}
