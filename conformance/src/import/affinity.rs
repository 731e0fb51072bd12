//! Affinity and Front Door origin routing: the Azure fields that map to the
//! gateway's affinity and origin-group keys, in one place.
//!
//! - Application Gateway `cookieBasedAffinity` and `affinityCookieName`
//!   become the settings' `cookie_affinity` and `affinity_cookie_name`.
//! - A Front Door origin group's `sessionAffinityState` and
//!   `loadBalancingSettings.additionalLatencyInMilliseconds` become the
//!   pool's `session_affinity` and `latency_sensitivity`.
//! - Each origin becomes one of the pool's `[[backend_pools.origins]]`:
//!   `hostName` and `httpPort` its `address`, and `priority`, `weight` and
//!   `enabledState` its `priority`, `weight` and `enabled`, each written
//!   only when the source has it (the gateway's defaults are Front Door's:
//!   priority 1, weight 50, enabled). A disabled origin is kept with
//!   `enabled = false`, so it gets no traffic but is still in the file.

use gateway::config::routing::{MAX_PRIORITY, MAX_WEIGHT};
use gateway::config::{BackendPoolConfig, BackendSettingsConfig, Duration, OriginConfig};

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

/// One Front Door origin at `address`: its `priority`, `weight` and
/// `enabledState`, each with its source under `key`
/// (`backend_pools[0].origins[1]`). Azure's ranges (priority 1-5, weight
/// 1-1000) are the gateway's, so an out-of-range value is a located error
/// in the input here rather than a check failure on the written file.
pub fn fd_origin(r: &mut Reader<'_>, im: &mut Imported, origin: &Json, address: String, key: &str) -> OriginConfig {
    let mut o = OriginConfig {
        address,
        priority: None,
        weight: None,
        enabled: None,
    };
    if let Some((n, v)) = r.number(origin, "priority", 1..=u64::from(MAX_PRIORITY)) {
        o.priority = u8::try_from(n).ok();
        im.source(format!("{key}.priority"), r.doc, v);
    }
    if let Some((n, v)) = r.number(origin, "weight", 1..=u64::from(MAX_WEIGHT)) {
        o.weight = u16::try_from(n).ok();
        im.source(format!("{key}.weight"), r.doc, v);
    }
    if let Some((on, v)) = r.flag(origin, "enabledState") {
        o.enabled = Some(on);
        im.source(format!("{key}.enabled"), r.doc, v);
    }
    o
}
