//! Front Door to a config.
//!
//! Standard/Premium (`Microsoft.Cdn/profiles` with its `originGroups`,
//! `origins` and `afdEndpoints/routes`, or the `azurerm_cdn_frontdoor_*`
//! resources): an origin group is a pool with its settings and probe, each
//! of its origins one of the pool's `[[backend_pools.origins]]` (with its
//! priority, weight and enabled state; see [`affinity`]), a route a
//! listener and rule. Routes share the endpoint's host name in
//! Azure; wsgate gives each route its own listener (port 80, then 8001…).
//!
//! Classic (`Microsoft.Network/frontDoors`) is neither tier doc 002 names,
//! so it imports as a config that refuses every WebSocket handshake (403)
//! through a WAF rule on the Upgrade header, with the reason in the file.

use std::net::SocketAddr;

use gateway::config::{
    BackendPoolConfig, BackendSettingsConfig, Diagnostic, FrontendIp, ListenerConfig, ProbeConfig, ProbeMethod,
    Protocol, RuleConfig, WafAction, WafPolicyConfig, WafRuleConfig, WafTarget,
};
use gateway::ProfileName;

use super::json::Json;
use super::read::Reader;
use super::resource::{props, Kind, Resource};
use super::{affinity, reachable, Imported};

/// The WAF policy a classic import refuses WebSocket with; `wsgate lint`
/// recognises it.
pub const CLASSIC_POLICY: &str = "front-door-classic-has-no-websocket";

/// The reason written at the top of a classic import.
pub const CLASSIC_REASON: &str =
    "Front Door (classic) is not Front Door Standard or Premium: doc 002 says \"Azure Front \
     Door supports WebSocket on both Standard and Premium tiers\", and classic is neither. This config refuses every \
     WebSocket handshake (403) with the WAF policy below. Migrate to Standard/Premium to carry WebSocket.";

fn listener(name: &str, index: usize) -> ListenerConfig {
    let port = if index == 0 {
        80
    } else {
        8000 + u16::try_from(index).unwrap_or(999)
    };
    ListenerConfig {
        name: name.to_string(),
        protocol: Protocol::Http,
        address: SocketAddr::from(([0, 0, 0, 0], port)),
        tls_cert: None,
        tls_key: None,
        tcp_keepalive: None,
        frontend_idle_timeout: None,
        frontend_ip: FrontendIp::Public,
    }
}

fn settings(name: String) -> BackendSettingsConfig {
    BackendSettingsConfig::named(&name)
}

/// Maps Front Door Standard/Premium resources, possibly from several files.
pub fn map(resources: &[Resource]) -> Result<Imported, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut im = Imported::new(super::appgw::empty(ProfileName::FrontDoor));
    let groups: Vec<&Resource> = resources.iter().filter(|r| r.kind == Kind::OriginGroup).collect();
    let profile = resources.iter().find(|r| r.kind == Kind::CdnProfile);
    let Some(first) = groups.first().copied().or(profile).or(resources.first()) else {
        return Err(Vec::new());
    };
    im.source("profile", &first.doc, &first.type_at);
    if groups.is_empty() {
        return Err(vec![first.doc.error(
            &first.type_at,
            "expected at least one origin group (Microsoft.Cdn/profiles/originGroups, azurerm_cdn_frontdoor_origin_group)",
        )]);
    }
    let mut timeout = None;
    if let Some(p) = profile {
        let mut r = Reader::new(&p.doc);
        if let Some(sku) = p.root.at("sku.name").or_else(|| p.body.at("sku.name")) {
            if sku.as_str().is_some_and(|s| !s.contains("AzureFrontDoor")) {
                r.error(sku, format!("expected a Front Door profile (Standard_AzureFrontDoor or Premium_AzureFrontDoor), found {sku}: CDN profiles are not gateways"));
            }
        }
        timeout = r
            .seconds(&p.body, "originResponseTimeoutSeconds", 16..=240, 1)
            .map(|(d, v)| (d, v.clone(), std::rc::Rc::clone(&p.doc)));
        errors.append(&mut r.errors);
    }

    for (g, og) in groups.iter().enumerate() {
        let mut r = Reader::new(&og.doc);
        let name = og.short_name().to_string();
        let key = format!("backend_pools[{g}]");
        let mut pool = BackendPoolConfig::new(&name, Vec::new());
        im.source(format!("{key}.name"), &og.doc, og.root.get("name").unwrap_or(&og.root));
        affinity::fd_origin_group(&mut r, &mut im, &og.body, &mut pool, &key);
        let origins = resources
            .iter()
            .filter(|o| o.kind == Kind::Origin && belongs(o, og, groups.len()));
        for o in origins {
            let mut or = Reader::new(&o.doc);
            let Some((host, hv)) = or.string(&o.body, "hostName") else {
                or.error(
                    &o.type_at,
                    format!("expected origin `{}` to have a `hostName`", o.short_name()),
                );
                errors.append(&mut or.errors);
                continue;
            };
            let port = or
                .number(&o.body, "httpPort", 1..=65_535)
                .map_or(80, |(n, _)| u16::try_from(n).unwrap_or(80));
            let okey = format!("{key}.origins[{}]", pool.origins.len());
            im.source(format!("{okey}.address"), &o.doc, hv);
            if !reachable(host) {
                im.unreachable.insert(format!("{okey}.address"));
            }
            let origin = affinity::fd_origin(&mut or, &mut im, &o.body, format!("{host}:{port}"), &okey);
            pool.origins.push(origin);
            if let Some(v) = o.body.get("originHostHeader") {
                im.unmodelled(&o.doc, v, "origin host header: wsgate forwards the client's Host");
            }
            errors.append(&mut or.errors);
        }
        // Said here, at the group, rather than left to the gateway's "every
        // origin is disabled", which would point into the written file.
        if pool.origins.is_empty() {
            r.error(
                &og.type_at,
                format!("origin group `{name}` has no origin: expected at least one origin whose id names it"),
            );
        } else if pool.origins.iter().all(|o| o.enabled == Some(false)) {
            r.error(
                &og.type_at,
                format!("origin group `{name}` has no enabled origin: expected at least one with enabledState Enabled"),
            );
        }
        let skey = format!("backend_settings[{g}]");
        let mut s = settings(format!("{name}-settings"));
        im.source(format!("{skey}.name"), &og.doc, og.root.get("name").unwrap_or(&og.root));
        if let Some((d, v, doc)) = &timeout {
            s.request_timeout = Some(*d);
            im.source(format!("{skey}.request_timeout"), doc, v);
        }
        if let Some(hp) = og.body.get("healthProbeSettings") {
            let pkey = format!("probes[{}]", im.config.probes.len());
            let mut probe = ProbeConfig::named(&format!("{name}-probe"));
            im.source(format!("{pkey}.name"), &og.doc, hp);
            if let Some((path, v)) = r.string(hp, "probePath") {
                probe.path = path.to_string();
                im.source(format!("{pkey}.path"), &og.doc, v);
            }
            if let Some((method, v)) = r.string(hp, "probeRequestType") {
                probe.method = match method.to_ascii_uppercase().as_str() {
                    "GET" => Some(ProbeMethod::Get),
                    "HEAD" => Some(ProbeMethod::Head),
                    "NOTSET" => None,
                    _ => {
                        r.error(v, format!("expected \"GET\" or \"HEAD\", found \"{method}\""));
                        None
                    }
                };
                if probe.method.is_some() {
                    im.source(format!("{pkey}.method"), &og.doc, v);
                }
            }
            if let Some((proto, v)) = r.string(hp, "probeProtocol") {
                if proto.eq_ignore_ascii_case("https") {
                    im.unmodelled(&og.doc, v, "probe protocol Https: probed over http (doc 002: \"Health probes to origins are conducted using the HTTP protocol\")");
                }
            }
            if let Some((d, v)) = r.seconds(hp, "probeIntervalInSeconds", 1..=255, 1) {
                probe.interval = Some(d);
                im.source(format!("{pkey}.interval"), &og.doc, v);
            }
            if let Some(lb) = og.body.get("loadBalancingSettings") {
                if let Some((n, v)) = r.number(lb, "sampleSize", 1..=255) {
                    probe.sample_size = u32::try_from(n).ok();
                    im.source(format!("{pkey}.sample_size"), &og.doc, v);
                }
                if let Some((n, v)) = r.number(lb, "successfulSamplesRequired", 1..=255) {
                    probe.successful_samples_required = u32::try_from(n).ok();
                    im.source(format!("{pkey}.successful_samples_required"), &og.doc, v);
                }
            }
            s.probe = Some(probe.name.clone());
            im.config.probes.push(probe);
        } else if let Some(lb) = og.body.get("loadBalancingSettings") {
            im.unmodelled(&og.doc, lb, "load balancing samples without health probe settings: probes are off in Azure; wsgate probes with its defaults");
        }
        errors.append(&mut r.errors);
        im.config.backend_pools.push(pool);
        im.config.backend_settings.push(s);
    }

    let routes: Vec<&Resource> = resources.iter().filter(|r| r.kind == Kind::Route).collect();
    for (i, route) in routes.iter().enumerate() {
        let mut r = Reader::new(&route.doc);
        let name = route.short_name().to_string();
        let og_ref = super::resource::reference(route.body.get("originGroup"));
        let target = match og_ref.and_then(Json::as_str) {
            Some(id) => {
                let wanted = super::last_segment(id);
                let found = groups.iter().find(|g| g.short_name() == wanted);
                if found.is_none() {
                    let known: Vec<String> = groups.iter().map(|g| format!("`{}`", g.short_name())).collect();
                    if let Some(at) = og_ref {
                        r.error(
                            at,
                            format!(
                                "dangling reference: no origin group named `{wanted}`; expected one of {}",
                                known.join(", ")
                            ),
                        );
                    }
                }
                found
            }
            None if groups.len() == 1 => groups.first(),
            None => {
                r.error(
                    &route.type_at,
                    format!("expected route `{name}` to name its `originGroup`"),
                );
                None
            }
        };
        if let Some(og) = target {
            let key = format!("rules[{}]", im.config.rules.len());
            let lkey = format!("listeners[{}]", im.config.listeners.len());
            im.source(
                format!("{lkey}.name"),
                &route.doc,
                route.root.get("name").unwrap_or(&route.root),
            );
            im.source(
                format!("{key}.name"),
                &route.doc,
                route.root.get("name").unwrap_or(&route.root),
            );
            if let Some(at) = og_ref {
                im.source(format!("{key}.pool"), &route.doc, at);
            }
            let cache = route.body.get("cacheConfiguration");
            if let Some(c) = cache {
                im.source(format!("{key}.caching"), &route.doc, c);
            }
            if let Some(p) = route.body.get("patternsToMatch") {
                im.unmodelled(
                    &route.doc,
                    p,
                    "route patterns: each route has its own wsgate listener, matching every path",
                );
            }
            if let Some((fwd, v)) = r.string(&route.body, "forwardingProtocol") {
                if fwd.eq_ignore_ascii_case("HttpsOnly") {
                    im.unmodelled(&route.doc, v, "forwarding over https: origins are reached over http");
                }
            }
            if let Some(v) = route.body.get("ruleSets").filter(|v| !v.as_array().is_empty()) {
                im.unmodelled(&route.doc, v, "rule sets: not modelled");
            }
            im.config.listeners.push(listener(&name, i));
            im.config.rules.push(RuleConfig {
                name: name.clone(),
                listener: name,
                pool: og.short_name().to_string(),
                settings: format!("{}-settings", og.short_name()),
                caching: cache.is_some(),
                waf: None,
                rewrites: None,
            });
        }
        errors.append(&mut r.errors);
    }
    if routes.is_empty() {
        im.notes
            .push("no route in the input: each origin group gets its own listener and rule".to_string());
        for og in &groups {
            let i = im.config.listeners.len();
            let name = og.short_name().to_string();
            im.config.listeners.push(listener(&name, i));
            im.config.rules.push(RuleConfig {
                name: name.clone(),
                listener: name.clone(),
                pool: name.clone(),
                settings: format!("{name}-settings"),
                caching: false,
                waf: None,
                rewrites: None,
            });
        }
    }
    for r in resources.iter().filter(|r| r.kind == Kind::Endpoint) {
        im.unmodelled(
            &r.doc,
            &r.type_at,
            format!("endpoint `{}`: its routes are the listeners", r.short_name()),
        );
    }
    if errors.is_empty() {
        Ok(im)
    } else {
        Err(errors)
    }
}

/// Whether origin `o` belongs to origin group `og`: by its parent's name
/// (from its full name or id), else the `originGroup` reference, else the
/// only group there is.
fn belongs(o: &Resource, og: &Resource, groups: usize) -> bool {
    let parent = o.parent_name().or_else(|| {
        super::resource::reference(o.body.get("originGroup"))
            .and_then(Json::as_str)
            .map(|id| super::last_segment(id).to_string())
    });
    match parent {
        Some(p) => p == og.short_name(),
        None => groups == 1,
    }
}

/// Maps Front Door (classic) to a config that refuses WebSocket.
pub fn map_classic(fd: &Resource, _all: &[Resource]) -> Result<Imported, Vec<Diagnostic>> {
    let doc = &*fd.doc;
    let mut r = Reader::new(doc);
    let mut im = Imported::new(super::appgw::empty(ProfileName::FrontDoor));
    im.source("profile", doc, &fd.type_at);
    im.notes.push(CLASSIC_REASON.to_string());
    let pools = fd.body.get("backendPools");
    for (i, item) in pools.map(Json::as_array).unwrap_or_default().iter().enumerate() {
        let Some(name) = r.name(item, "backend pool") else {
            continue;
        };
        let key = format!("backend_pools[{i}]");
        im.source(format!("{key}.name"), doc, item.get("name").unwrap_or(item));
        let mut pool = BackendPoolConfig::new(&name, Vec::new());
        for b in props(item).get("backends").map(Json::as_array).unwrap_or_default() {
            let Some((host, v)) = r.string(b, "address") else {
                continue;
            };
            let port = r
                .number(b, "httpPort", 1..=65_535)
                .map_or(80, |(n, _)| u16::try_from(n).unwrap_or(80));
            let j = pool.addresses.len();
            im.source(format!("{key}.addresses[{j}]"), doc, v);
            if !reachable(host) {
                im.unreachable.insert(format!("{key}.addresses[{j}]"));
            }
            pool.addresses.push(format!("{host}:{port}"));
        }
        if pool.addresses.is_empty() {
            r.error(item, format!("backend pool `{name}` has no backends"));
        }
        im.config.backend_pools.push(pool);
        im.config.backend_settings.push(settings(format!("{name}-settings")));
    }
    for item in fd.body.get("routingRules").map(Json::as_array).unwrap_or_default() {
        let Some(name) = r.name(item, "routing rule") else {
            continue;
        };
        let p = props(item);
        let fwd = p.get("routeConfiguration").unwrap_or(p);
        let Some((pool, reference)) = r.resolve(fwd, "backendPool", pools, "backend pool") else {
            im.unmodelled(
                doc,
                item,
                format!("routing rule `{name}` forwards nowhere (a redirect): left out"),
            );
            continue;
        };
        let pool_name = pool.get("name").and_then(Json::as_str).unwrap_or_default().to_string();
        let key = format!("rules[{}]", im.config.rules.len());
        im.source(format!("{key}.pool"), doc, reference);
        let i = im.config.listeners.len();
        im.config.listeners.push(listener(&name, i));
        im.config.rules.push(RuleConfig {
            name: name.clone(),
            listener: name,
            pool: pool_name.clone(),
            settings: format!("{pool_name}-settings"),
            caching: false,
            waf: Some(CLASSIC_POLICY.to_string()),
            rewrites: None,
        });
    }
    im.config.waf_policies.push(WafPolicyConfig {
        name: CLASSIC_POLICY.to_string(),
        rules: vec![WafRuleConfig {
            name: "refuse-websocket-upgrade".to_string(),
            target: WafTarget::Header,
            header: Some("upgrade".to_string()),
            contains: None,
            regex: Some("(?i)websocket".to_string()),
            action: WafAction::Block,
        }],
    });
    im.source("waf_policies[0].name", doc, &fd.type_at);
    if im.config.rules.is_empty() {
        r.error(&fd.type_at, "expected a routing rule that forwards to a backend pool");
    }
    if r.errors.is_empty() {
        Ok(im)
    } else {
        Err(r.errors)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::CLASSIC_POLICY;
    use crate::import::{import_docs, Doc};

    #[test]
    fn origins_find_their_group_and_a_cache_block_turns_caching_on() {
        let text = r#"[
          {"type": "Microsoft.Cdn/profiles/originGroups", "name": "p/og", "healthProbeSettings": {"probePath": "/health", "probeRequestType": "GET"}},
          {"type": "Microsoft.Cdn/profiles/originGroups/origins", "name": "p/og/o1", "hostName": "127.0.0.1", "httpPort": 8080},
          {"type": "Microsoft.Cdn/profiles/afdEndpoints/routes", "name": "p/e/r", "originGroup": {"id": "x/originGroups/og"}, "cacheConfiguration": {}}]"#;
        let im = import_docs(&[Doc::new("fd.json", text)], &BTreeMap::new()).unwrap();
        let pool = &im.config.backend_pools[0];
        assert!(pool.addresses.is_empty(), "a Front Door pool is all origins");
        assert_eq!(
            pool.origins,
            [gateway::config::OriginConfig {
                address: "127.0.0.1:8080".into(),
                priority: None,
                weight: None,
                enabled: None,
            }],
            "what the source leaves out is left to the gateway's defaults"
        );
        assert!(im.unreachable.is_empty(), "loopback is reachable");
        assert!(
            im.config.rules[0].caching,
            "an empty cacheConfiguration object is still caching"
        );
        assert_eq!(im.config.probes[0].path, "/health");
    }

    #[test]
    fn each_origin_keeps_its_priority_weight_and_enabled_state_with_their_sources() {
        let text = r#"[
          {"type": "Microsoft.Cdn/profiles/originGroups", "name": "p/og"},
          {"type": "Microsoft.Cdn/profiles/originGroups/origins", "name": "p/og/a", "hostName": "a.example",
           "priority": 1, "weight": 30, "enabledState": "Enabled"},
          {"type": "Microsoft.Cdn/profiles/originGroups/origins", "name": "p/og/b", "hostName": "127.0.0.1",
           "httpPort": 8081, "priority": 2, "weight": 70},
          {"type": "Microsoft.Cdn/profiles/originGroups/origins", "name": "p/og/c", "hostName": "c.example",
           "enabledState": "Disabled"}]"#;
        let im = import_docs(&[Doc::new("fd.json", text)], &BTreeMap::new()).unwrap();
        let got: Vec<_> = im.config.backend_pools[0]
            .origins
            .iter()
            .map(|o| (o.address.as_str(), o.priority, o.weight, o.enabled))
            .collect();
        assert_eq!(
            got,
            [
                ("a.example:80", Some(1), Some(30), Some(true)),
                ("127.0.0.1:8081", Some(2), Some(70), None),
                ("c.example:80", None, None, Some(false)),
            ]
        );
        assert_eq!(
            im.sources["backend_pools[0].origins[1].weight"],
            "[2].weight (fd.json:6)"
        );
        assert_eq!(
            im.sources["backend_pools[0].origins[2].enabled"],
            "[3].enabledState (fd.json:8)"
        );
        let unreachable: Vec<&str> = im.unreachable.iter().map(String::as_str).collect();
        assert_eq!(
            unreachable,
            [
                "backend_pools[0].origins[0].address",
                "backend_pools[0].origins[2].address"
            ]
        );
        assert!(
            im.unmodelled
                .iter()
                .all(|u| !u.what.contains("priority") && !u.what.contains("weight")),
            "{:?}",
            im.unmodelled
        );
    }

    #[test]
    fn an_origin_out_of_azures_range_or_a_group_with_every_origin_disabled_is_located() {
        let text = r#"[
          {"type": "Microsoft.Cdn/profiles/originGroups", "name": "og"},
          {"type": "Microsoft.Cdn/profiles/originGroups/origins", "name": "og/a", "hostName": "a.example",
           "priority": 6, "weight": 1001}]"#;
        let e = import_docs(&[Doc::new("fd.json", text)], &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("fd.json:4:") && e.contains("expected `priority` between 1 and 5, found 6"),
            "{e}"
        );
        assert!(e.contains("expected `weight` between 1 and 1000, found 1001"), "{e}");
        let text = r#"[
          {"type": "Microsoft.Cdn/profiles/originGroups", "name": "og"},
          {"type": "Microsoft.Cdn/profiles/originGroups/origins", "name": "og/a", "hostName": "a.example",
           "enabledState": "Disabled"}]"#;
        let e = import_docs(&[Doc::new("fd.json", text)], &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("fd.json:2:"), "{e}");
        assert!(e.contains("origin group `og` has no enabled origin"), "{e}");
    }

    #[test]
    fn a_route_to_a_missing_group_is_a_dangling_reference() {
        let text = r#"[
          {"type": "Microsoft.Cdn/profiles/originGroups", "name": "og"},
          {"type": "Microsoft.Cdn/profiles/originGroups/origins", "name": "og/o1", "hostName": "a.example"},
          {"type": "Microsoft.Cdn/profiles/afdEndpoints/routes", "name": "r", "originGroup": {"id": "x/originGroups/gone"}}]"#;
        let e = import_docs(&[Doc::new("fd.json", text)], &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().starts_with("fd.json:4:"), "{e}");
        assert!(e.to_string().contains("no origin group named `gone`"), "{e}");
    }

    #[test]
    fn classic_refuses_websocket_with_the_reason() {
        let text = r#"{"type": "Microsoft.Network/frontDoors", "name": "fd",
          "backendPools": [{"name": "bp", "backends": [{"address": "a.example", "httpPort": 80}]}],
          "routingRules": [{"name": "rr", "routeConfiguration": {"backendPool": {"id": "x/backendPools/bp"}}}]}"#;
        let im = import_docs(&[Doc::new("c.json", text)], &BTreeMap::new()).unwrap();
        assert_eq!(im.config.rules[0].waf.as_deref(), Some(CLASSIC_POLICY));
        assert!(im.notes[0].contains("Standard and Premium"));
        assert!(im.unreachable.contains("backend_pools[0].addresses[0]"));
    }
}
