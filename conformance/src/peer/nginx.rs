//! A plan as `nginx.conf`. Pure: a plan, its policies and ports in; the
//! config text and what it cannot express out.
//!
//! One `server` per listener, one `upstream` per backend set. nginx runs as
//! one process (`master_process off`), so it never changes user and works
//! the same when started as root in CI.
//!
//! nginx's `proxy_read_timeout` is both the wait for a backend's answer
//! and, once a connection is upgraded, the session idle timer (its timer is
//! re-armed by traffic in either direction). When a route's idle timer
//! differs from its request timeout, upgrades are sent to a named location
//! with their own timers (`error_page 418 = @websocket`): only the wait for
//! the 101 then runs on the idle timer instead of the request timeout.

use std::fmt::Write as _;
use std::time::Duration;

use gateway::config::{Protocol, WafAction};

use super::{
    duration_text, feature, ident, regex_literal, replacement_pieces, uses_affinity, uses_origin_routing, Gaps, Input,
    Piece, RenderError, Rendered, RewriteSet, RuleMatch, RuleTarget, Site, WafRule,
};

/// nginx has no "off" for its proxy timers: a session without an idle
/// timer gets this, wsgate's longest duration (a year).
const NEVER: Duration = Duration::from_secs(365 * 86_400);

/// Renders `input` as an nginx config.
pub fn render(input: &Input<'_>) -> Result<Rendered, RenderError> {
    let plan = input.plan;
    let sites = input.sites()?;
    let mut gaps = Gaps::default();
    gaps.add(
        feature::ACTIVE_HEALTH_PROBES,
        "open-source nginx has no active health checks (only passive ones, disabled here with max_fails=0): \
         every member gets traffic from the start, whatever its probe would answer",
    );
    gaps.add(
        feature::MAINTENANCE_DRAIN,
        "nginx's graceful stop closes its listeners (new connections are refused, not answered 503) and keeps \
         upgraded sessions until worker_shutdown_timeout",
    );

    if uses_affinity(plan) {
        gaps.add(
            feature::COOKIE_AFFINITY,
            "open-source nginx has no cookie stickiness (`sticky cookie` is NGINX Plus); ip_hash and hash \
         bind by address, not by the gateway's affinity cookie",
        );
    }
    if uses_origin_routing(plan) {
        gaps.add(
            feature::ORIGIN_ROUTING,
            "nginx's upstream has weights and one `backup` tier, but no five priorities and no latency window \
         over probe round trips, and its weighted round robin starts from its own state per worker",
        );
    }

    let mut c = Conf::default();
    c.line(format!(
        "# nginx.conf rendered by wsgate for the {} profile.",
        plan.profile
    ));
    c.line("# One process, in the foreground: no user switch, so it also runs as root.");
    c.line("daemon off;");
    c.line("master_process off;");
    c.line("worker_processes 1;");
    c.line(format!("pid {};", quote(&input.path("nginx.pid"))));
    c.line(format!("error_log {} notice;", quote(&input.path("error.log"))));
    c.blank();
    c.open("events");
    c.line("worker_connections 4096;");
    c.close();
    c.blank();
    c.open("http");
    c.line(format!("access_log {};", quote(&input.path("access.log"))));
    for temp in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        c.line(format!(
            "{temp}_temp_path {};",
            quote(&input.path(&format!("{temp}_temp")))
        ));
    }
    c.line("default_type application/octet-stream;");
    c.line("# header_read_timeout: nginx logs 408 and closes without an answer.");
    c.line(format!(
        "client_header_timeout {};",
        duration_text(plan.header_read_timeout)
    ));
    c.line("# max_header_bytes, per header line: nginx answers 400 above it, not 431.");
    c.line(format!(
        "large_client_header_buffers 4 {}k;",
        plan.max_header_bytes.div_ceil(1024)
    ));
    c.blank();
    c.line("# The backend's Connection header: \"Upgrade\" when the client asked for one, spelt as the gateway");
    c.line("# forwards it (the token is case-insensitive, but a backend may compare it as sent).");
    c.open("map $http_upgrade $connection_upgrade");
    c.line("default Upgrade;");
    c.line("\"\"      close;");
    c.close();
    let path_rules = sites
        .iter()
        .filter_map(|s| s.waf)
        .any(|(_, rules)| rules.iter().any(|r| r.target == RuleTarget::Path));
    if path_rules {
        c.line("# The path as sent: WAF rules see it percent-encoded, and $uri is decoded.");
        c.open("map $request_uri $wsgate_raw_path");
        c.line("\"~^(?<wsgate_path>[^?]*)\" $wsgate_path;");
        c.close();
    }
    if let Some(limit) = plan.max_connections {
        c.line("# max_connections: one zone for the whole instance; nginx counts connections with a");
        c.line("# request in progress (upgraded sessions included), not idle keep-alive ones.");
        c.open("map $server_port $wsgate_instance");
        c.line("default instance;");
        c.close();
        c.line("limit_conn_zone $wsgate_instance zone=wsgate_connections:1m;");
        c.line(format!("limit_conn wsgate_connections {limit};"));
        c.line("limit_conn_status 503;");
    }

    for (i, set) in plan.backend_sets.iter().enumerate() {
        c.blank();
        c.line(format!(
            "# Backend set {i}: pool \"{}\" through settings \"{}\" ({}). No member is ever marked",
            set.pool,
            set.settings.name,
            set.settings.protocol.scheme()
        ));
        c.line("# down by failed requests (max_fails=0): membership is the probes' business.");
        c.open(&format!("upstream {}", upstream_name(i, &set.pool)));
        for m in &set.members {
            c.line(format!("server {} max_fails=0;  # {}", input.backend(&m.addr)?, m.addr));
        }
        c.close();
        let names: Vec<String> = set.members.iter().map(|m| set.settings.tls_name(&m.addr)).collect();
        if set.settings.protocol == Protocol::Https && names.iter().any(|n| *n != names[0]) {
            c.line("# The name each member's certificate must carry, by the address nginx connected to");
            c.line("# (the last one in $upstream_addr when a request was retried).");
            c.open(&format!("map $upstream_addr {}", tls_name_var(i)));
            c.line("volatile;");
            for (m, name) in set.members.iter().zip(&names) {
                let addr = input.backend(&m.addr)?.to_string();
                c.line(format!(
                    "{} {};",
                    quote(&format!("~(^|, ){}$", regex_literal(&addr))),
                    quote(name)
                ));
            }
            c.close();
        }
    }

    for site in &sites {
        c.blank();
        server(&mut c, input, site, &mut gaps)?;
    }
    c.close();

    if plan.routes.iter().any(|r| r.session.lifetime.is_some()) {
        gaps.add(
            feature::SESSION_LIFETIME_CAP,
            "nginx has no session lifetime: an upgraded connection lives as long as it has traffic",
        );
    }
    Ok(Rendered {
        config: c.out,
        files: Vec::new(),
        unsupported: gaps.into_vec(),
    })
}

fn upstream_name(index: usize, pool: &str) -> String {
    format!("set{index}_{}", ident(pool))
}

fn tls_name_var(index: usize) -> String {
    format!("$wsgate_tls_name_{index}")
}

/// One listener's `server` block.
fn server(c: &mut Conf, input: &Input<'_>, site: &Site<'_>, gaps: &mut Gaps) -> Result<(), RenderError> {
    let l = site.listener;
    let route = site.route;
    c.line(format!(
        "# Listener \"{}\" ({}) → rule \"{}\" → backend set {}.",
        l.name,
        l.protocol.scheme(),
        route.rule,
        site.set_index
    ));
    c.open("server");
    let mut listen = format!("listen 127.0.0.1:{}", site.port);
    if l.protocol == Protocol::Https {
        listen.push_str(" ssl");
    }
    if let Some(idle) = l.tcp_keepalive {
        let _ = write!(listen, " so_keepalive={}::", duration_text(idle));
    }
    c.line(format!("{listen};"));
    if let Some((cert, key)) = &l.tls_files {
        c.line(format!("ssl_certificate {};", quote(&cert.display().to_string())));
        c.line(format!("ssl_certificate_key {};", quote(&key.display().to_string())));
    }
    if let Some((name, rules)) = site.waf {
        waf(c, name, rules);
    }
    if let Some((name, rewrite)) = site.rewrite {
        url_rewrite(c, name, rewrite, gaps);
    }

    let request_timeout = site.set.settings.request_timeout.after;
    let idle = super::idle_timer(&route.session);
    let session_timeout = idle.unwrap_or(NEVER);
    let split = !route.caching && session_timeout != request_timeout;
    let timeout_as_502 = input.plan.behaviour.http_timeout.status == 502;

    c.blank();
    c.open("location /");
    if split {
        c.line("# Upgrades go to @websocket, whose timers are the session's: here proxy_read_timeout is the");
        c.line(format!(
            "# request timeout ({}), there the idle timer ({}).",
            duration_text(request_timeout),
            idle.map(duration_text)
                .unwrap_or_else(|| format!("none: {}", duration_text(NEVER)))
        ));
        c.line("error_page 418 = @websocket;");
        c.line("if ($http_upgrade ~* \"websocket\") { return 418; }");
        if input.plan.behaviour.upgrade_timeout {
            gaps.add(
                feature::UPGRADE_RESPONSE_TIMEOUT,
                format!(
                    "nginx waits for a backend's 101 with proxy_read_timeout, which for upgrades must be the \
                     session idle timer ({}), not the request timeout ({})",
                    duration_text(session_timeout),
                    duration_text(request_timeout)
                ),
            );
        }
    } else if route.caching {
        c.line("# caching = true: the Upgrade header is not forwarded (doc 002), so the backend sees a plain GET.");
    } else if idle.is_some() {
        c.line(format!(
            "# The request timeout and the session idle timer are the same ({}): one proxy_read_timeout.",
            duration_text(request_timeout)
        ));
    }
    if timeout_as_502 {
        c.line(format!(
            "# A backend too slow to answer gets {} under {}.",
            input.plan.behaviour.http_timeout.status, input.plan.profile
        ));
        c.line("error_page 504 = @timeout_as_502;");
    }
    proxy(c, input, site, request_timeout, !route.caching && !split, gaps);
    c.close();
    if split {
        c.blank();
        c.open("location @websocket");
        proxy(c, input, site, session_timeout, true, gaps);
        c.close();
    }
    if timeout_as_502 {
        c.blank();
        c.open("location @timeout_as_502");
        c.line("return 502;");
        c.close();
    }
    c.close();
    Ok(())
}

/// The proxy directives of one location. `timeout` is its read and send
/// timer; `upgrade` says whether it forwards the Upgrade header.
fn proxy(c: &mut Conf, input: &Input<'_>, site: &Site<'_>, timeout: Duration, upgrade: bool, gaps: &mut Gaps) {
    let settings = &site.set.settings;
    let scheme = settings.protocol.scheme();
    c.line(format!(
        "proxy_pass {scheme}://{};",
        upstream_name(site.set_index, &site.set.pool)
    ));
    c.line("proxy_http_version 1.1;");

    let mut headers: Vec<(String, String)> = Vec::new();
    let host = match settings.host_override.as_ref().and_then(|h| h.to_str().ok()) {
        Some(h) => value(h, gaps),
        None => "$http_host".to_string(),
    };
    set_header(&mut headers, "Host", host);
    set_header(&mut headers, "X-Forwarded-For", "$proxy_add_x_forwarded_for".into());
    set_header(&mut headers, "X-Forwarded-Proto", "$scheme".into());
    if upgrade {
        set_header(&mut headers, "Upgrade", "$http_upgrade".into());
        set_header(&mut headers, "Connection", "$connection_upgrade".into());
    }
    if let Some((_, rewrite)) = site.rewrite {
        for name in &rewrite.remove {
            set_header(&mut headers, name, "\"\"".into());
        }
        for (name, v) in &rewrite.set {
            set_header(&mut headers, name, value(v, gaps));
        }
    }
    for (name, v) in headers {
        c.line(format!("proxy_set_header {name} {v};"));
    }

    let request_timeout = settings.request_timeout.after;
    c.line(format!("proxy_connect_timeout {};", duration_text(request_timeout)));
    c.line(format!("proxy_send_timeout {};", duration_text(timeout)));
    c.line(format!("proxy_read_timeout {};", duration_text(timeout)));
    if input.plan.behaviour.http_timeout.retry_other_member {
        c.line("# A request that timed out is tried once on another member.");
        c.line("proxy_next_upstream timeout;");
        c.line("proxy_next_upstream_tries 2;");
    } else {
        c.line("proxy_next_upstream off;");
    }
    if settings.protocol == Protocol::Https {
        if let Some(ca) = &settings.trusted_ca {
            c.line(format!(
                "proxy_ssl_trusted_certificate {};",
                quote(&ca.display().to_string())
            ));
        }
        c.line("proxy_ssl_verify on;");
        c.line("proxy_ssl_verify_depth 4;");
        c.line("proxy_ssl_server_name on;");
        let names: Vec<String> = site.set.members.iter().map(|m| settings.tls_name(&m.addr)).collect();
        match names.first() {
            Some(first) if names.iter().all(|n| n == first) => c.line(format!("proxy_ssl_name {};", quote(first))),
            Some(_) => c.line(format!("proxy_ssl_name {};", tls_name_var(site.set_index))),
            None => {}
        }
    }
    if settings.tcp_keepalive.is_some() {
        c.line("# tcp_keepalive: on, with the system's timers (nginx takes no idle time for upstreams).");
        c.line("proxy_socket_keepalive on;");
    }
}

/// Sets a header in `headers`, replacing one of the same name (any case)
/// in place: later settings win, as in the gateway, where rewrites run
/// after the forwarding headers.
fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: String) {
    match headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        Some(entry) => entry.1 = value,
        None => headers.push((name.to_string(), value)),
    }
}

/// A header value for `proxy_set_header`. nginx reads `$` as the start of
/// a variable and has no escape for it.
fn value(text: &str, gaps: &mut Gaps) -> String {
    if text.contains('$') {
        gaps.add(
            feature::REWRITE_EXPRESSION,
            format!("nginx reads `$` in a header value as a variable and cannot escape it: `{text}`"),
        );
    }
    quote(text)
}

/// A WAF policy as rewrite-phase `if`s in the server block, before
/// locations are chosen. A policy with an `allow` rule records the first
/// match in `$wsgate_waf`, since nginx's `if` cannot combine conditions.
fn waf(c: &mut Conf, name: &str, rules: &[WafRule]) {
    c.blank();
    c.line(format!(
        "# WAF policy \"{name}\": rules in order, the first match decides."
    ));
    let stateful = rules.iter().any(|r| r.action == WafAction::Allow);
    if stateful {
        c.line("set $wsgate_waf \"\";");
    }
    for rule in rules {
        let (variable, what) = match &rule.target {
            RuleTarget::Path => ("$wsgate_raw_path".to_string(), "path".to_string()),
            RuleTarget::Query => ("$args".to_string(), "query".to_string()),
            RuleTarget::Header(h) => (format!("$http_{}", h.replace('-', "_")), format!("header {h}")),
        };
        let (regex, how) = match &rule.matcher {
            RuleMatch::Contains(text) => (regex_literal(text), format!("contains {text:?}")),
            RuleMatch::Regex(re) => (re.clone(), format!("matches {re:?}")),
        };
        let action = match rule.action {
            WafAction::Block => "block",
            WafAction::Allow => "allow",
        };
        c.line(format!("# rule \"{}\" ({action}): {what} {how}", rule.name));
        let test = format!("{variable} ~ {}", quote(&regex));
        if stateful {
            c.line("set $wsgate_hit \"\";");
            c.line(format!("if ({test}) {{ set $wsgate_hit \"${{wsgate_waf}}hit\"; }}"));
            match rule.action {
                WafAction::Block => c.line("if ($wsgate_hit = \"hit\") { return 403; }"),
                WafAction::Allow => c.line("if ($wsgate_hit = \"hit\") { set $wsgate_waf \"allow\"; }"),
            }
        } else {
            c.line(format!("if ({test}) {{ return 403; }}"));
        }
    }
}

/// A rewrite set's path rewrite, in the server block after the WAF. nginx's
/// `rewrite` replaces the whole URI, so the pattern is wrapped to keep what
/// surrounds its first match: `$wsgate_pre`, the match (group 2, so the
/// set's `$n` becomes `$(n+2)`), `$wsgate_post`.
fn url_rewrite(c: &mut Conf, name: &str, rewrite: &RewriteSet, gaps: &mut Gaps) {
    let Some((pattern, replacement)) = &rewrite.url_path else {
        return;
    };
    let mut target = String::from("${wsgate_pre}");
    for piece in replacement_pieces(replacement) {
        match piece {
            Piece::Text(t) if t.contains('$') => {
                gaps.add(
                    feature::REWRITE_EXPRESSION,
                    format!("nginx cannot write a literal `$` in a rewrite: `{replacement}`"),
                );
                target.push_str(&t.replace('$', ""));
            }
            Piece::Text(t) => target.push_str(&t),
            Piece::Group(n) if n + 2 <= 9 => {
                let _ = write!(target, "${}", n + 2);
            }
            Piece::Group(n) => gaps.add(
                feature::REWRITE_EXPRESSION,
                format!("nginx's rewrite has groups $1 to $9; `{replacement}` needs group {n} of the pattern"),
            ),
            Piece::Named(n) => {
                let _ = write!(target, "${{{n}}}");
            }
        }
    }
    target.push_str("${wsgate_post}");
    c.blank();
    c.line(format!(
        "# Rewrite set \"{name}\": the first match of {pattern:?} in the path becomes {replacement:?};"
    ));
    c.line("# the query is kept. nginx matches the decoded path ($uri), the gateway the path as sent.");
    c.line(format!(
        "rewrite {} {} break;",
        quote(&format!("^(?<wsgate_pre>.*?)({pattern})(?<wsgate_post>.*)$")),
        quote(&target)
    ));
}

/// `text` as one double-quoted nginx token. nginx turns `\\` into `\` in
/// every token, so every backslash is doubled, and `\"` keeps a quote.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The config text, indented by block.
#[derive(Debug, Default)]
struct Conf {
    out: String,
    depth: usize,
}

impl Conf {
    fn line(&mut self, text: impl AsRef<str>) {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
        self.out.push_str(text.as_ref());
        self.out.push('\n');
    }

    fn blank(&mut self) {
        self.out.push('\n');
    }

    fn open(&mut self, head: &str) {
        self.line(format!("{head} {{"));
        self.depth += 1;
    }

    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.line("}");
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::test_support::{inputs, single, snapshot, FULL};
    use super::super::{feature, Input};
    use super::*;

    fn render_toml(toml: &str) -> Rendered {
        let (plan, policies, ports) = inputs(toml);
        render(&Input {
            plan: &plan,
            policies: &policies,
            ports: &ports,
            dir: Path::new("/run/peer"),
        })
        .unwrap()
    }

    fn features(r: &Rendered) -> Vec<&'static str> {
        r.unsupported.iter().map(|u| u.feature).collect()
    }

    #[test]
    fn application_gateway_single_route() {
        let r = render_toml(&single("application-gateway", ""));
        insta::assert_snapshot!(snapshot(&r));
        assert_eq!(
            features(&r),
            vec![feature::ACTIVE_HEALTH_PROBES, feature::MAINTENANCE_DRAIN]
        );
    }

    #[test]
    fn every_feature() {
        let r = render_toml(FULL);
        insta::assert_snapshot!(snapshot(&r));
    }

    #[test]
    fn front_door_splits_upgrades_and_cannot_cap_lifetimes() {
        let r = render_toml(&single("front-door", ""));
        insta::assert_snapshot!(snapshot(&r));
        assert_eq!(
            features(&r),
            vec![
                feature::ACTIVE_HEALTH_PROBES,
                feature::MAINTENANCE_DRAIN,
                feature::ORIGIN_ROUTING,
                feature::SESSION_LIFETIME_CAP,
                feature::UPGRADE_RESPONSE_TIMEOUT,
            ]
        );
    }

    #[test]
    fn application_gateway_2016_idles_on_the_frontend_timer_and_answers_502_to_timeouts() {
        let r = render_toml(&single("application-gateway-2016", ""));
        insta::assert_snapshot!(snapshot(&r));
        // No session idle timer (doc 001), so the frontend IP's 4 minutes
        // are the one that fires.
        assert!(r.config.contains("proxy_read_timeout 4m;"));
        assert!(!features(&r).contains(&feature::UPGRADE_RESPONSE_TIMEOUT));
    }

    #[test]
    fn caching_never_forwards_the_upgrade() {
        let toml =
            single("front-door", "").replace("settings = \"settings\"\n", "settings = \"settings\"\ncaching = true\n");
        let r = render_toml(&toml);
        assert!(!r.config.contains("Upgrade $http_upgrade"), "{}", r.config);
        assert!(!r.config.contains("@websocket"));
    }

    #[test]
    fn quoting_survives_nginx_escapes() {
        assert_eq!(quote(r#"a\d"b"#), r#""a\\d\"b""#);
    }
}
