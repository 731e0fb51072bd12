//! Affinity and Front Door origin routing: the Azure fields that map to
//! config keys the gateway does not have yet. Kept in one place so the
//! mapping changes here, and only here, when the keys land.
//!
//! Until then each field is listed as read but not modelled, with what it
//! would have done, and a disabled origin is left out of its pool (it gets
//! no traffic either way).

use gateway::config::{BackendPoolConfig, BackendSettingsConfig};

use super::json::Json;
use super::read::Reader;
use super::Imported;

/// Application Gateway's `cookieBasedAffinity` and `affinityCookieName`.
pub fn agw_settings(
    r: &mut Reader<'_>,
    im: &mut Imported,
    p: &Json,
    _settings: &mut BackendSettingsConfig,
    _key: &str,
) {
    if let Some((on, v)) = r.flag(p, "cookieBasedAffinity") {
        im.unmodelled(
            r.doc,
            v,
            format!(
                "cookie-based affinity {}: wsgate's config has no affinity key yet, so every request is balanced round robin",
                if on { "enabled" } else { "disabled" }
            ),
        );
    }
    if let Some((_, v)) = r.string(p, "affinityCookieName") {
        im.unmodelled(
            r.doc,
            v,
            "affinity cookie name: wsgate's config has no affinity key yet",
        );
    }
}

/// Front Door origin group: `sessionAffinityState` and
/// `loadBalancingSettings.additionalLatencyInMilliseconds`.
pub fn fd_origin_group(r: &mut Reader<'_>, im: &mut Imported, og: &Json, _pool: &mut BackendPoolConfig, _key: &str) {
    if let Some((on, v)) = r.flag(og, "sessionAffinityState") {
        im.unmodelled(
            r.doc,
            v,
            format!(
                "session affinity {}: wsgate's config has no affinity key yet",
                if on { "enabled" } else { "disabled" }
            ),
        );
    }
    if let Some(lb) = og.get("loadBalancingSettings") {
        if let Some((_, v)) = r.number(lb, "additionalLatencyInMilliseconds", 0..=1000) {
            im.unmodelled(
                r.doc,
                v,
                "latency sensitivity: wsgate's config has no origin latency key yet; origins share traffic equally",
            );
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
    if let Some((_, v)) = r.number(origin, "priority", 1..=5) {
        im.unmodelled(
            r.doc,
            v,
            "origin priority: wsgate's config has no origin priority yet; every origin is first",
        );
    }
    if let Some((_, v)) = r.number(origin, "weight", 1..=1000) {
        im.unmodelled(
            r.doc,
            v,
            "origin weight: wsgate's config has no origin weight yet; origins share traffic equally",
        );
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
