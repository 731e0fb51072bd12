//! `terraform show -json`, of a plan or a state: the azurerm resources a
//! gateway is made of, their blocks reshaped to the ARM field names the
//! mappings read. Every reshaped value keeps its Terraform path
//! (`values.backend_http_settings[0].request_timeout`), so provenance
//! comments and errors name what the user wrote.

use std::rc::Rc;

use gateway::config::Diagnostic;

use super::json::{Json, Value};
use super::resource::{Read, Resource};
use super::{Doc, Unmodelled};

/// Whether a document is `terraform show -json` output.
pub fn is_terraform(doc: &Json) -> bool {
    doc.get("format_version").is_some() && (doc.get("values").is_some() || doc.get("planned_values").is_some())
}

/// The resources of a state (`values`) or a plan (`planned_values`), with
/// their child modules.
pub fn read(doc: &Rc<Doc>, root: &Json) -> Result<Read, Vec<Diagnostic>> {
    let values = root.get("values").or_else(|| root.get("planned_values"));
    let Some(module) = values.and_then(|v| v.get("root_module")) else {
        return Err(vec![doc.error(
            values.unwrap_or(root),
            "expected `values.root_module` (a state) or `planned_values.root_module` (a plan)",
        )]);
    };
    let mut out = Read {
        resources: Vec::new(),
        unmodelled: Vec::new(),
    };
    let mut errors = Vec::new();
    walk(doc, module, &mut out, &mut errors);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn walk(doc: &Rc<Doc>, module: &Json, out: &mut Read, errors: &mut Vec<Diagnostic>) {
    for r in module.get("resources").map(Json::as_array).unwrap_or_default() {
        if r.get("mode").and_then(Json::as_str) == Some("data") {
            continue;
        }
        let ty = r.get("type").and_then(Json::as_str).unwrap_or_default();
        let address = r.get("address").and_then(Json::as_str).unwrap_or(ty);
        let Some(values) = r.get("values") else {
            errors.push(doc.error(r, format!("expected `values` in resource {address}")));
            continue;
        };
        let shaped = match ty {
            "azurerm_application_gateway" => application_gateway(values),
            "azurerm_public_ip" => public_ip(values),
            "azurerm_cdn_frontdoor_profile" => cdn_profile(values),
            "azurerm_cdn_frontdoor_origin_group" => origin_group(values),
            "azurerm_cdn_frontdoor_origin" => origin(values),
            "azurerm_cdn_frontdoor_endpoint" => endpoint(values),
            "azurerm_cdn_frontdoor_route" => route(values),
            "azurerm_frontdoor" => classic(values),
            _ => {
                let (line, _) = doc.line_col(r.span.start);
                out.unmodelled.push(Unmodelled {
                    file: doc.name.clone(),
                    line,
                    at: format!("{}:{line} {}", doc.name, r.path),
                    what: format!("resource {address}: not a gateway resource"),
                });
                continue;
            }
        };
        match shaped.and_then(|o| resource_of(doc, &o)) {
            Some(res) => out.resources.push(res),
            None => errors.push(doc.error(values, format!("expected `name` in resource {address}"))),
        }
    }
    for m in module.get("child_modules").map(Json::as_array).unwrap_or_default() {
        walk(doc, m, out, errors);
    }
}

fn resource_of(doc: &Rc<Doc>, o: &Json) -> Option<Resource> {
    super::resource::resource(doc, o).ok()
}

/// Builds an object at `at` from the members that are present.
fn obj(at: &Json, members: Vec<(&str, Option<Json>)>) -> Json {
    let members = members
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v?)))
        .collect();
    Json::derived(Value::Object(members), at)
}

fn string(at: &Json, s: &str) -> Json {
    Json::derived(Value::String(s.to_string()), at)
}

/// `{ "id": name }`: a reference by name (its own last segment).
fn by_name(v: Option<&Json>) -> Option<Json> {
    let v = v.filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))?;
    Some(obj(v, vec![("id", Some(v.clone()))]))
}

/// The first element of a nested block list (`connection_draining = [{…}]`).
fn block(v: &Json, key: &str) -> Option<Json> {
    v.get(key)?.as_array().first().cloned()
}

fn list(v: &Json, key: &str, f: impl Fn(&Json) -> Json) -> Option<Json> {
    let items = v.get(key)?;
    Some(Json::derived(
        Value::Array(items.as_array().iter().map(f).collect()),
        items,
    ))
}

fn copy(v: &Json, key: &str) -> Option<Json> {
    v.get(key).cloned()
}

/// A Terraform bool as ARM's `"Enabled"`/`"Disabled"`.
fn enabled_state(v: &Json, key: &str) -> Option<Json> {
    let b = v.get(key)?;
    Some(string(b, if b.as_bool()? { "Enabled" } else { "Disabled" }))
}

fn resource(values: &Json, ty: &str, mut members: Vec<(&'static str, Option<Json>)>) -> Option<Json> {
    let name = values.get("name")?.clone();
    let type_at = values.get("name").unwrap_or(values);
    let mut all = vec![
        ("type", Some(string(type_at, ty))),
        ("name", Some(name)),
        ("id", copy(values, "id")),
    ];
    all.append(&mut members);
    Some(obj(values, all))
}

fn application_gateway(v: &Json) -> Option<Json> {
    let pools = list(v, "backend_address_pool", |p| {
        let mut addresses = Vec::new();
        for ip in p.get("ip_addresses").map(Json::as_array).unwrap_or_default() {
            addresses.push(obj(ip, vec![("ipAddress", Some(ip.clone()))]));
        }
        for fqdn in p.get("fqdns").map(Json::as_array).unwrap_or_default() {
            addresses.push(obj(fqdn, vec![("fqdn", Some(fqdn.clone()))]));
        }
        let at = p.get("ip_addresses").or_else(|| p.get("fqdns")).unwrap_or(p);
        obj(
            p,
            vec![
                ("name", copy(p, "name")),
                ("backendAddresses", Some(Json::derived(Value::Array(addresses), at))),
            ],
        )
    });
    let settings = list(v, "backend_http_settings", |s| {
        let draining = block(s, "connection_draining").map(|d| {
            obj(
                &d,
                vec![
                    ("enabled", copy(&d, "enabled")),
                    ("drainTimeoutInSec", copy(&d, "drain_timeout_sec")),
                ],
            )
        });
        obj(
            s,
            vec![
                ("name", copy(s, "name")),
                ("port", copy(s, "port")),
                ("protocol", copy(s, "protocol")),
                ("requestTimeout", copy(s, "request_timeout")),
                ("cookieBasedAffinity", copy(s, "cookie_based_affinity")),
                (
                    "affinityCookieName",
                    copy(s, "affinity_cookie_name").filter(|n| n.as_str() != Some("")),
                ),
                ("hostName", copy(s, "host_name").filter(|n| n.as_str() != Some(""))),
                (
                    "pickHostNameFromBackendAddress",
                    copy(s, "pick_host_name_from_backend_address"),
                ),
                ("path", copy(s, "path").filter(|n| n.as_str() != Some(""))),
                ("probe", by_name(s.get("probe_name"))),
                ("connectionDraining", draining),
            ],
        )
    });
    let probes = list(v, "probe", |p| {
        let matched = block(p, "match").map(|m| {
            obj(
                &m,
                vec![
                    ("statusCodes", copy(&m, "status_code")),
                    ("body", copy(&m, "body").filter(|b| b.as_str() != Some(""))),
                ],
            )
        });
        obj(
            p,
            vec![
                ("name", copy(p, "name")),
                ("protocol", copy(p, "protocol")),
                ("host", copy(p, "host").filter(|h| h.as_str() != Some(""))),
                ("path", copy(p, "path")),
                ("interval", copy(p, "interval")),
                ("timeout", copy(p, "timeout")),
                ("unhealthyThreshold", copy(p, "unhealthy_threshold")),
                (
                    "pickHostNameFromBackendHttpSettings",
                    copy(p, "pick_host_name_from_backend_http_settings"),
                ),
                ("port", copy(p, "port")),
                ("match", matched),
            ],
        )
    });
    let ports = list(v, "frontend_port", |p| {
        obj(p, vec![("name", copy(p, "name")), ("port", copy(p, "port"))])
    });
    let ips = list(v, "frontend_ip_configuration", |f| {
        obj(
            f,
            vec![
                ("name", copy(f, "name")),
                ("publicIPAddress", by_name(f.get("public_ip_address_id"))),
                (
                    "privateIPAddress",
                    copy(f, "private_ip_address").filter(|a| a.as_str() != Some("")),
                ),
            ],
        )
    });
    let listeners = list(v, "http_listener", |l| {
        obj(
            l,
            vec![
                ("name", copy(l, "name")),
                ("frontendPort", by_name(l.get("frontend_port_name"))),
                (
                    "frontendIPConfiguration",
                    by_name(l.get("frontend_ip_configuration_name")),
                ),
                ("protocol", copy(l, "protocol")),
                ("hostName", copy(l, "host_name").filter(|h| h.as_str() != Some(""))),
                ("sslCertificate", by_name(l.get("ssl_certificate_name"))),
            ],
        )
    });
    let rules = list(v, "request_routing_rule", |r| {
        obj(
            r,
            vec![
                ("name", copy(r, "name")),
                ("ruleType", copy(r, "rule_type")),
                ("priority", copy(r, "priority")),
                ("httpListener", by_name(r.get("http_listener_name"))),
                ("backendAddressPool", by_name(r.get("backend_address_pool_name"))),
                ("backendHttpSettings", by_name(r.get("backend_http_settings_name"))),
                ("urlPathMap", by_name(r.get("url_path_map_name"))),
                ("rewriteRuleSet", by_name(r.get("rewrite_rule_set_name"))),
                ("redirectConfiguration", by_name(r.get("redirect_configuration_name"))),
            ],
        )
    });
    let path_maps = list(v, "url_path_map", |m| {
        let rules = list(m, "path_rule", |p| {
            obj(
                p,
                vec![
                    ("name", copy(p, "name")),
                    ("paths", copy(p, "paths")),
                    ("backendAddressPool", by_name(p.get("backend_address_pool_name"))),
                    ("backendHttpSettings", by_name(p.get("backend_http_settings_name"))),
                ],
            )
        });
        obj(
            m,
            vec![
                ("name", copy(m, "name")),
                (
                    "defaultBackendAddressPool",
                    by_name(m.get("default_backend_address_pool_name")),
                ),
                (
                    "defaultBackendHttpSettings",
                    by_name(m.get("default_backend_http_settings_name")),
                ),
                ("defaultRewriteRuleSet", by_name(m.get("default_rewrite_rule_set_name"))),
                ("pathRules", rules),
            ],
        )
    });
    let rewrites = list(v, "rewrite_rule_set", |set| {
        let rules = list(set, "rewrite_rule", |r| {
            let headers = |key: &str| {
                list(r, key, |h| {
                    obj(
                        h,
                        vec![
                            ("headerName", copy(h, "header_name")),
                            ("headerValue", copy(h, "header_value")),
                        ],
                    )
                })
                .filter(|l| !l.as_array().is_empty())
            };
            let url = block(r, "url").map(|u| {
                obj(
                    &u,
                    vec![
                        ("modifiedPath", copy(&u, "path").filter(|p| p.as_str() != Some(""))),
                        (
                            "modifiedQueryString",
                            copy(&u, "query_string").filter(|p| p.as_str() != Some("")),
                        ),
                        ("reroute", copy(&u, "reroute")),
                    ],
                )
            });
            let action = obj(
                r,
                vec![
                    ("requestHeaderConfigurations", headers("request_header_configuration")),
                    ("responseHeaderConfigurations", headers("response_header_configuration")),
                    ("urlConfiguration", url),
                ],
            );
            obj(
                r,
                vec![
                    ("name", copy(r, "name")),
                    ("ruleSequence", copy(r, "rule_sequence")),
                    ("conditions", copy(r, "condition").filter(|c| !c.as_array().is_empty())),
                    ("actionSet", Some(action)),
                ],
            )
        });
        obj(set, vec![("name", copy(set, "name")), ("rewriteRules", rules)])
    });
    let sku = block(v, "sku").map(|s| obj(&s, vec![("name", copy(&s, "name")), ("tier", copy(&s, "tier"))]));
    let properties = obj(
        v,
        vec![
            ("sku", sku.clone()),
            ("backendAddressPools", pools),
            ("backendHttpSettingsCollection", settings),
            ("probes", probes),
            ("frontendPorts", ports),
            ("frontendIPConfigurations", ips),
            ("httpListeners", listeners),
            ("requestRoutingRules", rules),
            ("urlPathMaps", path_maps),
            ("rewriteRuleSets", rewrites),
            ("firewallPolicy", by_name(v.get("firewall_policy_id"))),
            ("webApplicationFirewallConfiguration", block(v, "waf_configuration")),
            (
                "sslCertificates",
                copy(v, "ssl_certificate").filter(|c| !c.as_array().is_empty()),
            ),
            (
                "trustedRootCertificates",
                copy(v, "trusted_root_certificate").filter(|c| !c.as_array().is_empty()),
            ),
        ],
    );
    resource(
        v,
        "Microsoft.Network/applicationGateways",
        vec![("properties", Some(properties))],
    )
}

fn public_ip(v: &Json) -> Option<Json> {
    let properties = obj(v, vec![("idleTimeoutInMinutes", copy(v, "idle_timeout_in_minutes"))]);
    resource(
        v,
        "Microsoft.Network/publicIPAddresses",
        vec![("properties", Some(properties))],
    )
}

fn cdn_profile(v: &Json) -> Option<Json> {
    let sku = v.get("sku_name").map(|s| obj(s, vec![("name", Some(s.clone()))]));
    let properties = obj(
        v,
        vec![("originResponseTimeoutSeconds", copy(v, "response_timeout_seconds"))],
    );
    resource(
        v,
        "Microsoft.Cdn/profiles",
        vec![("sku", sku), ("properties", Some(properties))],
    )
}

fn origin_group(v: &Json) -> Option<Json> {
    let lb = block(v, "load_balancing").map(|b| {
        obj(
            &b,
            vec![
                ("sampleSize", copy(&b, "sample_size")),
                ("successfulSamplesRequired", copy(&b, "successful_samples_required")),
                (
                    "additionalLatencyInMilliseconds",
                    copy(&b, "additional_latency_in_milliseconds"),
                ),
            ],
        )
    });
    let probe = block(v, "health_probe").map(|b| {
        obj(
            &b,
            vec![
                ("probePath", copy(&b, "path")),
                ("probeProtocol", copy(&b, "protocol")),
                ("probeRequestType", copy(&b, "request_type")),
                ("probeIntervalInSeconds", copy(&b, "interval_in_seconds")),
            ],
        )
    });
    let properties = obj(
        v,
        vec![
            ("loadBalancingSettings", lb),
            ("healthProbeSettings", probe),
            ("sessionAffinityState", enabled_state(v, "session_affinity_enabled")),
            ("profile", by_name(v.get("cdn_frontdoor_profile_id"))),
        ],
    );
    resource(
        v,
        "Microsoft.Cdn/profiles/originGroups",
        vec![("properties", Some(properties))],
    )
}

fn origin(v: &Json) -> Option<Json> {
    let properties = obj(
        v,
        vec![
            ("hostName", copy(v, "host_name")),
            ("httpPort", copy(v, "http_port")),
            ("httpsPort", copy(v, "https_port")),
            ("priority", copy(v, "priority")),
            ("weight", copy(v, "weight")),
            ("enabledState", enabled_state(v, "enabled")),
            ("originHostHeader", copy(v, "origin_host_header")),
            ("originGroup", by_name(v.get("cdn_frontdoor_origin_group_id"))),
        ],
    );
    resource(
        v,
        "Microsoft.Cdn/profiles/originGroups/origins",
        vec![("properties", Some(properties))],
    )
}

fn endpoint(v: &Json) -> Option<Json> {
    resource(
        v,
        "Microsoft.Cdn/profiles/afdEndpoints",
        vec![("properties", Some(obj(v, Vec::new())))],
    )
}

fn route(v: &Json) -> Option<Json> {
    let properties = obj(
        v,
        vec![
            ("originGroup", by_name(v.get("cdn_frontdoor_origin_group_id"))),
            // A `cache {}` block means caching is on.
            ("cacheConfiguration", block(v, "cache")),
            ("patternsToMatch", copy(v, "patterns_to_match")),
            ("supportedProtocols", copy(v, "supported_protocols")),
            ("forwardingProtocol", copy(v, "forwarding_protocol")),
            ("enabledState", enabled_state(v, "enabled")),
        ],
    );
    resource(
        v,
        "Microsoft.Cdn/profiles/afdEndpoints/routes",
        vec![("properties", Some(properties))],
    )
}

fn classic(v: &Json) -> Option<Json> {
    let pools = list(v, "backend_pool", |p| {
        let backends = list(p, "backend", |b| {
            obj(
                b,
                vec![
                    ("address", copy(b, "address")),
                    ("httpPort", copy(b, "http_port")),
                    ("httpsPort", copy(b, "https_port")),
                    ("enabledState", enabled_state(b, "enabled")),
                ],
            )
        });
        obj(p, vec![("name", copy(p, "name")), ("backends", backends)])
    });
    let rules = list(v, "routing_rule", |r| {
        let forwarding = block(r, "forwarding_configuration")
            .map(|f| obj(&f, vec![("backendPool", by_name(f.get("backend_pool_name")))]));
        obj(r, vec![("name", copy(r, "name")), ("routeConfiguration", forwarding)])
    });
    let properties = obj(v, vec![("backendPools", pools), ("routingRules", rules)]);
    resource(
        v,
        "Microsoft.Network/frontDoors",
        vec![("properties", Some(properties))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::json::parse;

    #[test]
    fn reshapes_blocks_and_keeps_terraform_paths() {
        let text = r#"{"format_version": "1.0", "values": {"root_module": {"resources": [],
          "child_modules": [{"resources": [{"address": "module.g.azurerm_application_gateway.gw", "mode": "managed",
            "type": "azurerm_application_gateway", "name": "gw", "values": {"name": "gw",
            "backend_http_settings": [{"name": "s", "port": 80, "protocol": "Http", "request_timeout": 30,
              "probe_name": "p", "connection_draining": [{"enabled": true, "drain_timeout_sec": 60}]}]}},
            {"address": "azurerm_resource_group.rg", "type": "azurerm_resource_group", "name": "rg", "values": {"name": "rg"}}]}]}}}"#;
        let doc = Doc::new("tf.json", text);
        let read = read(&doc, &parse(text).unwrap()).unwrap();
        assert_eq!(read.resources.len(), 1);
        assert_eq!(read.unmodelled.len(), 1);
        let r = &read.resources[0];
        assert_eq!(r.kind, crate::import::resource::Kind::ApplicationGateway);
        let s = &r.body.get("backendHttpSettingsCollection").unwrap().as_array()[0];
        let timeout = s.get("requestTimeout").unwrap();
        assert_eq!(timeout.as_u64(), Some(30));
        assert!(
            timeout
                .path
                .ends_with("values.backend_http_settings[0].request_timeout"),
            "{}",
            timeout.path
        );
        assert_eq!(s.at("connectionDraining.drainTimeoutInSec").unwrap().as_u64(), Some(60));
        assert_eq!(s.at("probe.id").unwrap().as_str(), Some("p"));
    }
}
