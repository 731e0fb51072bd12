//! Application Gateway (`Microsoft.Network/applicationGateways`, or
//! `azurerm_application_gateway` reshaped) to a config, in Azure's field
//! names:
//!
//! - `backendAddressPools[].backendAddresses[].{ipAddress,fqdn}`, each on
//!   the port of the backend settings a rule pairs it with (a pool used
//!   with two ports becomes two pools);
//! - `backendHttpSettingsCollection[].{port,protocol,requestTimeout,connectionDraining,hostName,probe}`;
//! - `probes[].{protocol,host,path,interval,timeout,unhealthyThreshold,match.statusCodes,match.body}`;
//! - `httpListeners` with `frontendPorts`, and the public IP's
//!   `idleTimeoutInMinutes` when that resource is given;
//! - `requestRoutingRules`: Basic, and PathBasedRouting through its
//!   `urlPathMaps` default (path rules are listed as not modelled);
//! - `rewriteRuleSets`: unconditional request header and path rewrites.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use gateway::config::{
    BackendPoolConfig, BackendSettingsConfig, Diagnostic, DrainingConfig, FrontendIp, ListenerConfig, ProbeConfig,
    Protocol, RewriteSetConfig, RuleConfig, UrlPathRewrite,
};
use gateway::{Config, ProfileName};

use super::json::Json;
use super::read::Reader;
use super::resource::{props, Kind, Resource};
use super::{affinity, reachable, Imported};

/// Maps one Application Gateway; `all` supplies public IPs.
pub fn map(gw: &Resource, all: &[Resource]) -> Result<Imported, Vec<Diagnostic>> {
    let doc = &*gw.doc;
    let mut r = Reader::new(doc);
    let b = &gw.body;
    let mut im = Imported::new(empty(ProfileName::ApplicationGateway));
    im.source("profile", doc, &gw.type_at);

    let settings_items = b.get("backendHttpSettingsCollection");
    let probe_items = b.get("probes");
    let pool_items = b.get("backendAddressPools");

    // Probes.
    for (i, item) in b
        .get("probes")
        .map(Json::as_array)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let Some(name) = r.name(item, "probe") else { continue };
        let p = props(item);
        let key = format!("probes[{i}]");
        let mut probe = ProbeConfig::named(&name);
        im.source(format!("{key}.name"), doc, item.get("name").unwrap_or(item));
        if let Some((proto, v)) = r.string(p, "protocol") {
            protocol(&mut r, &mut im, v, proto, "the probe is sent over http");
        }
        if let Some((host, v)) = r.string(p, "host") {
            probe.host = Some(host.to_string());
            im.source(format!("{key}.host"), doc, v);
        }
        if let Some((path, v)) = r.string(p, "path") {
            probe.path = path.to_string();
            im.source(format!("{key}.path"), doc, v);
        }
        if let Some((d, v)) = r.seconds(p, "interval", 1..=86_400, 1) {
            probe.interval = Some(d);
            im.source(format!("{key}.interval"), doc, v);
        }
        if let Some((d, v)) = r.seconds(p, "timeout", 1..=86_400, 1) {
            probe.timeout = Some(d);
            im.source(format!("{key}.timeout"), doc, v);
        }
        if let Some((n, v)) = r.number(p, "unhealthyThreshold", 1..=20) {
            probe.unhealthy_threshold = u32::try_from(n).ok();
            im.source(format!("{key}.unhealthy_threshold"), doc, v);
        }
        if let Some(m) = p.get("match") {
            if let Some(codes) = m.get("statusCodes") {
                let mut out = Vec::new();
                for c in codes.as_array() {
                    match c.as_str().map(|s| (s, gateway::config::parse_status_range(s))) {
                        Some((s, Ok(_))) => out.push(s.to_string()),
                        Some((_, Err(e))) => r.error(c, e),
                        None => r.error(
                            c,
                            format!("expected a status code string such as \"200-399\", found {c}"),
                        ),
                    }
                }
                if !out.is_empty() {
                    probe.match_status = Some(out);
                    im.source(format!("{key}.match_status"), doc, codes);
                }
            }
            if let Some((body, v)) = r.string(m, "body") {
                if !body.is_empty() {
                    probe.match_body = Some(body.to_string());
                    im.source(format!("{key}.match_body"), doc, v);
                }
            }
        }
        if let Some(v) = p.get("port") {
            im.unmodelled(doc, v, "probe port: wsgate probes on the backend's own port");
        }
        im.config.probes.push(probe);
    }

    // Backend settings, and the port each puts its pools on.
    let mut ports: BTreeMap<String, u16> = BTreeMap::new();
    for (i, item) in settings_items
        .map(Json::as_array)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let Some(name) = r.name(item, "backend settings") else {
            continue;
        };
        let p = props(item);
        let key = format!("backend_settings[{i}]");
        let mut s = BackendSettingsConfig::named(&name);
        im.source(format!("{key}.name"), doc, item.get("name").unwrap_or(item));
        let port = r
            .number(p, "port", 1..=65_535)
            .map_or(80, |(n, _)| u16::try_from(n).unwrap_or(80));
        ports.insert(name.clone(), port);
        if let Some((proto, v)) = r.string(p, "protocol") {
            protocol(
                &mut r,
                &mut im,
                v,
                proto,
                "backends are reached over http (wsgate would need their CA as `trusted_ca`)",
            );
        }
        if let Some((d, v)) = r.seconds(p, "requestTimeout", 1..=86_400, 1) {
            s.request_timeout = Some(d);
            im.source(format!("{key}.request_timeout"), doc, v);
        }
        if let Some((host, v)) = r.string(p, "hostName") {
            s.host_override = Some(host.to_string());
            im.source(format!("{key}.host_override"), doc, v);
        }
        if let Some((true, v)) = r.flag(p, "pickHostNameFromBackendAddress") {
            im.unmodelled(
                doc,
                v,
                "host name from the backend address: wsgate forwards the client's Host",
            );
        }
        if let Some((path, v)) = r.string(p, "path") {
            im.unmodelled(doc, v, format!("backend path override `{path}`: not modelled"));
        }
        if let Some((probe, reference)) = r.resolve(p, "probe", probe_items, "probe") {
            if let Some(n) = probe.get("name").and_then(Json::as_str) {
                s.probe = Some(n.to_string());
                im.source(format!("{key}.probe"), doc, reference);
            }
        }
        if let Some(d) = p.get("connectionDraining") {
            let enabled = r.flag(d, "enabled");
            let timeout = r.seconds(d, "drainTimeoutInSec", 1..=3_600, 1);
            match enabled {
                Some((true, v)) => match timeout {
                    Some((t, tv)) => {
                        s.connection_draining = Some(DrainingConfig {
                            enabled: true,
                            drain_timeout: Some(t),
                        });
                        im.source(format!("{key}.connection_draining.enabled"), doc, v);
                        im.source(format!("{key}.connection_draining.drain_timeout"), doc, tv);
                    }
                    None if d.get("drainTimeoutInSec").is_none() => {
                        r.error(
                            d,
                            "expected `drainTimeoutInSec` (1 to 3600) when connection draining is enabled",
                        );
                    }
                    None => {}
                },
                Some((false, v)) => {
                    s.connection_draining = Some(DrainingConfig {
                        enabled: false,
                        drain_timeout: None,
                    });
                    im.source(format!("{key}.connection_draining.enabled"), doc, v);
                }
                None => {}
            }
        }
        affinity::agw_settings(&mut r, &mut im, p, &mut s, &key);
        im.config.backend_settings.push(s);
    }

    // Listeners on their frontend ports.
    let port_items = b.get("frontendPorts");
    let ip_items = b.get("frontendIPConfigurations");
    let mut listener_names = Vec::new();
    for item in b.get("httpListeners").map(Json::as_array).unwrap_or_default() {
        let Some(name) = r.name(item, "listener") else { continue };
        let p = props(item);
        let Some((port_item, port_ref)) = r.resolve(p, "frontendPort", port_items, "frontend port") else {
            if p.get("frontendPort").is_none() {
                r.error(p, format!("expected listener `{name}` to have a `frontendPort`"));
            }
            continue;
        };
        let Some((port, port_v)) = r.number(props(port_item), "port", 1..=65_535) else {
            r.error(port_item, "expected the frontend port to have a `port`");
            continue;
        };
        let address = SocketAddr::from(([0, 0, 0, 0], u16::try_from(port).unwrap_or(80)));
        let i = im.config.listeners.len();
        if let Some(first) = im.config.listeners.iter().find(|l| l.address == address) {
            im.unmodelled(
                doc,
                item,
                format!(
                    "listener `{name}` shares port {port} with `{}` (multi-site by host name): wsgate listeners are one per port, so it is left out",
                    first.name
                ),
            );
            continue;
        }
        let key = format!("listeners[{i}]");
        im.source(format!("{key}.name"), doc, item.get("name").unwrap_or(item));
        im.source(format!("{key}.address"), doc, port_v);
        let _ = port_ref;
        let mut listener = ListenerConfig {
            name: name.clone(),
            protocol: Protocol::Http,
            address,
            tls_cert: None,
            tls_key: None,
            tcp_keepalive: None,
            frontend_idle_timeout: None,
            frontend_ip: FrontendIp::Public,
        };
        if let Some((proto, v)) = r.string(p, "protocol") {
            protocol(
                &mut r,
                &mut im,
                v,
                proto,
                "served as http: certificates are not imported",
            );
        }
        if let Some(cert) = p.get("sslCertificate") {
            im.unmodelled(doc, cert, "TLS certificate: its contents are not imported");
        }
        for host_key in ["hostName", "hostNames"] {
            if let Some(v) = p.get(host_key) {
                im.unmodelled(doc, v, "listener host names: wsgate listeners match every host");
            }
        }
        if let Some(v) = p.get("firewallPolicy") {
            im.unmodelled(doc, v, "per-listener WAF policy: managed rule sets are not modelled");
        }
        if let Some((ip, _)) = r.resolve(p, "frontendIPConfiguration", ip_items, "frontend IP configuration") {
            frontend_ip(&mut r, &mut im, ip, all, &mut listener, &key);
        }
        listener_names.push(name);
        im.config.listeners.push(listener);
    }

    // Rules, and the pools they use on each port.
    let mut pools: Vec<(String, u16, String)> = Vec::new(); // (azure pool, port, wsgate name)
    let map_items = b.get("urlPathMaps");
    let set_items = b.get("rewriteRuleSets");
    for item in b.get("requestRoutingRules").map(Json::as_array).unwrap_or_default() {
        let Some(name) = r.name(item, "routing rule") else {
            continue;
        };
        let p = props(item);
        let Some((listener, listener_ref)) = r.resolve(p, "httpListener", b.get("httpListeners"), "listener") else {
            continue;
        };
        let listener_name = listener
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        if let Some(v) = p.get("redirectConfiguration") {
            im.unmodelled(
                doc,
                v,
                format!(
                    "rule `{name}` redirects: wsgate rules forward only, so the rule and its listener are left out"
                ),
            );
            continue;
        }
        if !listener_names.contains(&listener_name) {
            continue;
        }
        if im.config.rules.iter().any(|r| r.listener == listener_name) {
            im.unmodelled(
                doc,
                item,
                format!("rule `{name}`: listener `{listener_name}` already has a rule"),
            );
            continue;
        }
        let rule_type = r.string(p, "ruleType").map_or("Basic", |(t, _)| t);
        let (target, rewrites_at) = if rule_type.eq_ignore_ascii_case("PathBasedRouting") {
            let Some((path_map, _)) = r.resolve(p, "urlPathMap", map_items, "URL path map") else {
                if p.get("urlPathMap").is_none() {
                    r.error(
                        p,
                        format!("expected PathBasedRouting rule `{name}` to name a `urlPathMap`"),
                    );
                }
                continue;
            };
            let m = props(path_map);
            for rule in m.get("pathRules").map(Json::as_array).unwrap_or_default() {
                let paths = props(rule).get("paths").map(ToString::to_string).unwrap_or_default();
                im.unmodelled(
                    doc,
                    rule,
                    format!("path rule {paths}: wsgate routes each listener to one pool, the path map's default"),
                );
            }
            (
                (
                    r.resolve(m, "defaultBackendAddressPool", pool_items, "backend pool"),
                    r.resolve(m, "defaultBackendHttpSettings", settings_items, "backend settings"),
                ),
                m.get("defaultRewriteRuleSet").map(|_| m),
            )
        } else {
            (
                (
                    r.resolve(p, "backendAddressPool", pool_items, "backend pool"),
                    r.resolve(p, "backendHttpSettings", settings_items, "backend settings"),
                ),
                p.get("rewriteRuleSet").map(|_| p),
            )
        };
        let (Some((pool, pool_ref)), Some((settings, settings_ref))) = target else {
            continue;
        };
        let pool_name = pool.get("name").and_then(Json::as_str).unwrap_or_default().to_string();
        let settings_name = settings
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        let port = ports.get(&settings_name).copied().unwrap_or(80);
        let wsgate_pool = match pools.iter().find(|(p, po, _)| *p == pool_name && *po == port) {
            Some((_, _, n)) => n.clone(),
            None => {
                let n = if pools.iter().any(|(p, _, _)| *p == pool_name) {
                    format!("{pool_name}-{port}")
                } else {
                    pool_name.clone()
                };
                pools.push((pool_name.clone(), port, n.clone()));
                n
            }
        };
        let key = format!("rules[{}]", im.config.rules.len());
        im.source(format!("{key}.name"), doc, item.get("name").unwrap_or(item));
        im.source(format!("{key}.listener"), doc, listener_ref);
        im.source(format!("{key}.pool"), doc, pool_ref);
        im.source(format!("{key}.settings"), doc, settings_ref);
        let mut rule = RuleConfig {
            name,
            listener: listener_name,
            pool: wsgate_pool,
            settings: settings_name,
            caching: false,
            waf: None,
            rewrites: None,
        };
        if let Some(at) = rewrites_at {
            let field = if at.get("defaultRewriteRuleSet").is_some() {
                "defaultRewriteRuleSet"
            } else {
                "rewriteRuleSet"
            };
            if let Some((set, set_ref)) = r.resolve(at, field, set_items, "rewrite rule set") {
                rule.rewrites = set.get("name").and_then(Json::as_str).map(str::to_string);
                im.source(format!("{key}.rewrites"), doc, set_ref);
            }
        }
        im.config.rules.push(rule);
    }

    drop_unrouted_listeners(&mut im, doc, b.get("httpListeners"));

    // Pools, on the ports their rules put them.
    for item in pool_items.map(Json::as_array).unwrap_or_default() {
        let Some(name) = r.name(item, "backend pool") else {
            continue;
        };
        let uses: Vec<(u16, String)> = pools
            .iter()
            .filter(|(p, _, _)| *p == name)
            .map(|(_, po, n)| (*po, n.clone()))
            .collect();
        if uses.is_empty() {
            im.unmodelled(doc, item, format!("backend pool `{name}`: no routing rule uses it"));
            continue;
        }
        let addresses = props(item).get("backendAddresses");
        for (port, wsgate_name) in uses {
            let i = im.config.backend_pools.len();
            let key = format!("backend_pools[{i}]");
            im.source(format!("{key}.name"), doc, item.get("name").unwrap_or(item));
            let mut pool = BackendPoolConfig::new(&wsgate_name, Vec::new());
            for a in addresses.map(Json::as_array).unwrap_or_default() {
                let host = r.string(a, "ipAddress").or_else(|| r.string(a, "fqdn"));
                let Some((host, v)) = host else {
                    r.error(a, "expected a backend address with `ipAddress` or `fqdn`");
                    continue;
                };
                let j = pool.addresses.len();
                let host_port = if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                im.source(format!("{key}.addresses[{j}]"), doc, v);
                if !reachable(host) {
                    im.unreachable.insert(format!("{key}.addresses[{j}]"));
                }
                pool.addresses.push(host_port);
            }
            if pool.addresses.is_empty() {
                r.error(
                    addresses.unwrap_or(item),
                    format!("backend pool `{name}` has no backendAddresses, but a routing rule sends traffic to it: expected at least one ipAddress or fqdn"),
                );
            }
            im.config.backend_pools.push(pool);
        }
    }

    rewrite_sets(&mut r, &mut im, set_items);

    for (field, what) in [
        ("firewallPolicy", "WAF policy: its managed rule sets and custom rules are not in this file; wsgate's WAF takes custom rules only"),
        ("webApplicationFirewallConfiguration", "WAF configuration: managed rule sets are not modelled"),
        ("sslCertificates", "TLS certificates: contents not imported"),
        ("trustedRootCertificates", "trusted root certificates: not imported"),
        ("authenticationCertificates", "authentication certificates: not imported"),
        ("privateLinkConfigurations", "private link: not modelled"),
        ("redirectConfigurations", "redirect configurations: not modelled"),
        ("autoscaleConfiguration", "autoscale: wsgate runs the instances a scenario names"),
    ] {
        if let Some(v) = b.get(field) {
            im.unmodelled(doc, v, what);
        }
    }

    if r.errors.is_empty() {
        Ok(im)
    } else {
        Err(r.errors)
    }
}

/// Leaves out the listeners no imported rule routes (their rule
/// redirects, or was left out), listing them, and re-keys the sources of
/// those that stay.
fn drop_unrouted_listeners(im: &mut Imported, doc: &super::Doc, items: Option<&Json>) {
    let routed: Vec<bool> = im
        .config
        .listeners
        .iter()
        .map(|l| im.config.rules.iter().any(|r| r.listener == l.name))
        .collect();
    if routed.iter().all(|r| *r) {
        return;
    }
    let mut kept = Vec::new();
    let mut sources = BTreeMap::new();
    for (i, (listener, routed)) in std::mem::take(&mut im.config.listeners)
        .into_iter()
        .zip(routed)
        .enumerate()
    {
        let old = format!("listeners[{i}].");
        if routed {
            let new = format!("listeners[{}].", kept.len());
            for (k, v) in im.sources.iter().filter(|(k, _)| k.starts_with(&old)) {
                sources.insert(k.replacen(&old, &new, 1), v.clone());
            }
            kept.push(listener);
        } else if let Some(item) = super::resource::find(items, &listener.name) {
            im.unmodelled(
                doc,
                item,
                format!(
                    "listener `{}`: no rule wsgate imports routes it, so it is left out",
                    listener.name
                ),
            );
        }
    }
    im.sources.retain(|k, _| !k.starts_with("listeners["));
    im.sources.extend(sources);
    im.config.listeners = kept;
}

/// `Http`/`Https`: wsgate imports every listener, backend and probe as
/// http, since certificates and CAs are not in the file.
fn protocol(r: &mut Reader<'_>, im: &mut Imported, v: &Json, proto: &str, https_note: &str) {
    if proto.eq_ignore_ascii_case("https") {
        im.unmodelled(r.doc, v, format!("protocol Https: {https_note}"));
    } else if !proto.eq_ignore_ascii_case("http") {
        r.error(v, format!("expected \"Http\" or \"Https\", found \"{proto}\""));
    }
}

/// A listener's frontend IP: a private one fixes the idle timeout at 5
/// minutes; a public one's `idleTimeoutInMinutes` comes from its
/// `Microsoft.Network/publicIPAddresses` resource when that is given.
fn frontend_ip(
    r: &mut Reader<'_>,
    im: &mut Imported,
    ip: &Json,
    all: &[Resource],
    listener: &mut ListenerConfig,
    key: &str,
) {
    let p = props(ip);
    let public = super::resource::reference(p.get("publicIPAddress"));
    match public {
        None => {
            if let Some(v) = p.get("privateIPAddress") {
                listener.frontend_ip = FrontendIp::Private;
                im.source(format!("{key}.frontend_ip"), r.doc, v);
            }
        }
        Some(reference) => {
            let id = reference.as_str().unwrap_or_default();
            let wanted = super::last_segment(id);
            let found = all
                .iter()
                .find(|res| res.kind == Kind::PublicIp && res.short_name() == wanted);
            if let Some(res) = found {
                let mut pr = Reader::new(&res.doc);
                if let Some((d, v)) = pr.seconds(&res.body, "idleTimeoutInMinutes", 4..=30, 60) {
                    listener.frontend_idle_timeout = Some(d);
                    im.source(format!("{key}.frontend_idle_timeout"), &res.doc, v);
                }
                r.errors.append(&mut pr.errors);
            }
        }
    }
}

/// Rewrite rule sets: unconditional request header sets and removals (an
/// empty value removes the header), and a whole-path rewrite.
fn rewrite_sets(r: &mut Reader<'_>, im: &mut Imported, sets: Option<&Json>) {
    let doc = r.doc;
    for item in sets.map(Json::as_array).unwrap_or_default() {
        let Some(name) = r.name(item, "rewrite rule set") else {
            continue;
        };
        let key = format!("rewrite_sets[{}]", im.config.rewrite_sets.len());
        im.source(format!("{key}.name"), doc, item.get("name").unwrap_or(item));
        let mut set = RewriteSetConfig {
            name,
            set_request_headers: BTreeMap::new(),
            remove_request_headers: Vec::new(),
            url_path: None,
        };
        let mut rules: Vec<&Json> = props(item)
            .get("rewriteRules")
            .map(Json::as_array)
            .unwrap_or_default()
            .iter()
            .collect();
        rules.sort_by_key(|rule| rule.get("ruleSequence").and_then(Json::as_u64).unwrap_or(100));
        for rule in rules {
            if let Some(c) = rule.get("conditions").filter(|c| !c.as_array().is_empty()) {
                im.unmodelled(
                    doc,
                    c,
                    "conditional rewrite rule: wsgate rewrites unconditionally, so the rule is left out",
                );
                continue;
            }
            let Some(action) = rule.get("actionSet") else { continue };
            for h in action
                .get("requestHeaderConfigurations")
                .map(Json::as_array)
                .unwrap_or_default()
            {
                let Some((header, hv)) = r.string(h, "headerName") else {
                    r.error(h, "expected `headerName`");
                    continue;
                };
                match r.string(h, "headerValue") {
                    Some((value, v)) if !value.is_empty() => {
                        if value.contains('{') {
                            im.unmodelled(doc, v, "server variables in a header value: set literally");
                        }
                        im.source(format!("{key}.set_request_headers.{header}"), doc, v);
                        set.set_request_headers.insert(header.to_string(), value.to_string());
                    }
                    _ => {
                        im.source(
                            format!("{key}.remove_request_headers[{}]", set.remove_request_headers.len()),
                            doc,
                            hv,
                        );
                        set.remove_request_headers.push(header.to_string());
                    }
                }
            }
            if let Some(v) = action.get("responseHeaderConfigurations") {
                im.unmodelled(doc, v, "response header rewrites: wsgate rewrites requests only");
            }
            if let Some(url) = action.get("urlConfiguration") {
                if let Some((path, v)) = r.string(url, "modifiedPath") {
                    if path.starts_with('/') && !path.contains('{') {
                        set.url_path = Some(UrlPathRewrite {
                            pattern: "^.*$".to_string(),
                            replacement: path.to_string(),
                        });
                        im.source(format!("{key}.url_path"), doc, v);
                    } else {
                        im.unmodelled(doc, v, "path rewrite with server variables: not modelled");
                    }
                }
                if let Some(v) = url.get("modifiedQueryString") {
                    im.unmodelled(doc, v, "query string rewrite: not modelled");
                }
                if let Some((true, v)) = r.flag(url, "reroute") {
                    im.unmodelled(
                        doc,
                        v,
                        "reroute: the rewritten path is not re-evaluated against path maps",
                    );
                }
            }
        }
        im.config.rewrite_sets.push(set);
    }
}

/// A config with nothing in it yet.
pub(crate) fn empty(profile: ProfileName) -> Config {
    let mut c = Config::single_route(profile, SocketAddr::from(([0, 0, 0, 0], 80)), Vec::new(), None);
    c.listeners.clear();
    c.backend_pools.clear();
    c.backend_settings.clear();
    c.rules.clear();
    c
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::import::{import_docs, Doc, ImportError};

    fn import(text: &str) -> Result<crate::import::Imported, ImportError> {
        import_docs(&[Doc::new("gw.json", text)], &BTreeMap::new())
    }

    /// A gateway whose one pool is used by two rules on settings with
    /// different ports.
    const TWO_PORTS: &str = r#"{"type": "Microsoft.Network/applicationGateways", "name": "gw",
      "frontendPorts": [{"name": "p80", "port": 80}, {"name": "p81", "port": 81}],
      "httpListeners": [{"name": "a", "frontendPort": {"id": "x/frontendPorts/p80"}},
                        {"name": "b", "frontendPort": {"id": "x/frontendPorts/p81"}}],
      "backendAddressPools": [{"name": "pool", "backendAddresses": [{"ipAddress": "127.0.0.1"}]}],
      "backendHttpSettingsCollection": [{"name": "s80", "port": 80, "requestTimeout": 40},
                                        {"name": "s8080", "port": 8080}],
      "requestRoutingRules": [
        {"name": "ra", "httpListener": {"id": "x/httpListeners/a"}, "backendAddressPool": {"id": "x/backendAddressPools/pool"}, "backendHttpSettings": {"id": "x/backendHttpSettingsCollection/s80"}},
        {"name": "rb", "httpListener": {"id": "x/httpListeners/b"}, "backendAddressPool": {"id": "x/backendAddressPools/pool"}, "backendHttpSettings": {"id": "x/backendHttpSettingsCollection/s8080"}}]}"#;

    #[test]
    fn a_pool_used_on_two_ports_becomes_two_pools() {
        let im = import(TWO_PORTS).unwrap();
        let pools: Vec<(&str, &str)> = im
            .config
            .backend_pools
            .iter()
            .map(|p| (p.name.as_str(), p.addresses[0].as_str()))
            .collect();
        assert_eq!(pools, [("pool", "127.0.0.1:80"), ("pool-8080", "127.0.0.1:8080")]);
        assert_eq!(im.config.rules[1].pool, "pool-8080");
        assert!(im.unreachable.is_empty(), "loopback is reachable");
        assert_eq!(
            im.sources["backend_settings[0].request_timeout"],
            "backendHttpSettingsCollection[0].requestTimeout (gw.json:6)"
        );
    }

    #[test]
    fn values_of_the_wrong_type_or_range_are_located() {
        let bad = TWO_PORTS
            .replace("\"requestTimeout\": 40", "\"requestTimeout\": \"soon\"")
            .replace("\"port\": 8080", "\"port\": 70000");
        let e = import(&bad).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("gw.json:6:"), "{text}");
        assert!(
            text.contains("expected `requestTimeout` to be a whole number"),
            "{text}"
        );
        assert!(
            text.contains("expected `port` between 1 and 65535, found 70000"),
            "{text}"
        );
    }

    #[test]
    fn a_redirecting_rule_and_its_listener_are_left_out_and_listed() {
        let text = TWO_PORTS.replace(
            r#""backendHttpSettings": {"id": "x/backendHttpSettingsCollection/s8080"}}"#,
            r#""redirectConfiguration": {"id": "x/redirectConfigurations/r"}}"#,
        );
        let im = import(&text).unwrap();
        assert_eq!(im.config.listeners.len(), 1);
        assert_eq!(im.config.listeners[0].name, "a");
        assert!(im.unmodelled.iter().any(|u| u.what.contains("redirects")));
        assert!(im.unmodelled.iter().any(|u| u.what.contains("listener `b`")));
        assert_eq!(im.sources["listeners[0].address"], "frontendPorts[0].port (gw.json:2)");
    }
}
