//! A plan as `haproxy.cfg` (HAProxy 2.6 or later). Pure: a plan, its
//! policies and ports in; the config text, the files it names and what it
//! cannot express out.
//!
//! One `frontend` per listener, one `backend` per backend set. The
//! session idle timer is `timeout tunnel`, which HAProxy documents as
//! inactivity "in both directions", as the gateway's; the request timeout
//! is `timeout connect`/`server` (and `timeout client`, since HAProxy
//! bounds client inactivity on the same scale). Probes are HAProxy's
//! active checks. Where the gateway answers 502 and HAProxy 503 (no server
//! up, a refused connection), an errorfile rewrites the status.
//!
//! Membership at start: HAProxy 2.6 starts every checked server up, and
//! one failed check takes it down. The gateway starts a backend out of
//! the pool until it passes a probe (Application Gateway) or fully in
//! (Front Door). A server-state file loaded at start sets each server's
//! state and check health to match; HAProxy 3.1 added `init-state` for the
//! same purpose.

use std::fmt::Write as _;
use std::time::Duration;

use gateway::config::{Protocol, WafAction};
use gateway::health::HealthRule;
use gateway::plan::BackendSetPlan;
use gateway::probe::{ProbeSpec, USER_AGENT};
use gateway::profile::AllUnhealthy;

use super::{
    duration_text, feature, ident, replacement_pieces, uses_affinity, uses_origin_routing, FileContent, Gaps, Input,
    Piece, RenderError, Rendered, RewriteSet, RuleMatch, RuleTarget, RunFile, Site, WafRule,
};

/// HAProxy's largest timeout: 2^31-1 ms, about 24.8 days. A session without
/// an idle timer gets this.
const LONGEST: Duration = Duration::from_secs(24 * 86_400);

/// The runtime API's socket, in the run directory.
pub const ADMIN_SOCKET: &str = "admin.sock";
/// The server-state file that sets each server's state at start.
const STATE_FILE: &str = "servers.state";
/// The errorfile that answers 502 where HAProxy would answer 503.
const AS_502_FROM_503: &str = "503-as-502.http";
/// The errorfile that answers 502 to a backend timeout (application-gateway-2016).
const AS_502_FROM_504: &str = "504-as-502.http";

/// Renders `input` as an HAProxy config.
pub fn render(input: &Input<'_>) -> Result<Rendered, RenderError> {
    let plan = input.plan;
    let sites = input.sites()?;
    let mut gaps = Gaps::default();
    gaps.add(
        feature::MAINTENANCE_DRAIN,
        "HAProxy's soft stop closes its listeners (new connections are refused, not answered 503) and keeps \
         established sessions until they end or hard-stop-after",
    );
    if uses_affinity(plan) {
        gaps.add(
            feature::COOKIE_AFFINITY,
            "the harness does not render HAProxy's `cookie ... insert` (whose cookie name, value and attributes \
         differ from the gateway's ApplicationGatewayAffinity pair and its CORS twin on https listeners)",
        );
    }
    if uses_origin_routing(plan) {
        gaps.add(
            feature::ORIGIN_ROUTING,
            "HAProxy has server weights and `backup` servers, but no five priorities and no latency window over \
         probe round trips, and its round robin starts with whichever server passed its first check first",
        );
    }
    let mut files = Vec::new();
    let mut c = Conf::default();

    c.section(&format!(
        "# haproxy.cfg rendered by wsgate for the {} profile (HAProxy 2.6 or later).",
        plan.profile
    ));
    c.section("# Runs in the foreground (-db): warnings and server state changes go to stderr.");
    c.section("global");
    c.line("nbthread 1");
    c.line("# The runtime API. It answers only once every listener is bound, so the harness waits on it.");
    c.line(format!("stats socket {} level admin", word(&input.path(ADMIN_SOCKET))));
    c.line("# Every server's first check at once, as the gateway probes (HAProxy spreads them over an");
    c.line("# interval otherwise).");
    c.line("max-spread-checks 1ms");
    c.line("# Each server's state at start: see the file at the end.");
    c.line(format!("server-state-file {}", word(&input.path(STATE_FILE))));
    c.blank();
    c.section("defaults");
    c.line("mode http");
    c.line("load-server-state-from-file global");
    c.line("# header_read_timeout: a slow request head gets 408.");
    c.line(format!(
        "timeout http-request {}",
        timer(plan.header_read_timeout, "header_read_timeout", &mut gaps)
    ));
    c.line("# max_header_bytes is not rendered: HAProxy's limit is its buffer (tune.bufsize, 16 KiB) and it");
    c.line("# answers 400, not 431.");

    for site in &sites {
        c.blank();
        frontend(&mut c, input, site, &mut gaps, &mut files);
    }

    let mut state = String::from(
        "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight \
         srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state \
         srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port \
         srv_check_addr srv_agent_addr srv_agent_port\n",
    );
    let mut as_502_from_504 = false;
    for (i, set) in plan.backend_sets.iter().enumerate() {
        c.blank();
        as_502_from_504 |= backend(&mut c, input, i, set, &mut gaps, &mut state, &mut files)?;
    }
    files.push(RunFile {
        name: STATE_FILE.into(),
        content: FileContent::Text(state),
    });
    files.push(RunFile {
        name: AS_502_FROM_503.into(),
        content: FileContent::Text(error_response(502, "Bad Gateway")),
    });
    if as_502_from_504 {
        files.push(RunFile {
            name: AS_502_FROM_504.into(),
            content: FileContent::Text(error_response(502, "Bad Gateway")),
        });
    }

    if plan.routes.iter().any(|r| r.session.lifetime.is_some()) {
        gaps.add(
            feature::SESSION_LIFETIME_CAP,
            "HAProxy has no session lifetime: timeout tunnel is an idle timer, and closing sessions by age would \
             need an outside loop over the runtime API (show sess, shutdown session)",
        );
    }
    if plan.max_connections.is_some() && plan.listeners.len() > 1 {
        gaps.add(
            feature::CONNECTION_LIMIT,
            "HAProxy counts connections per frontend (fe_conn); the gateway counts them across every listener",
        );
    }
    Ok(Rendered {
        config: c.out,
        files,
        unsupported: gaps.into_vec(),
    })
}

fn frontend_name(listener: &str) -> String {
    format!("fe_{}", ident(listener))
}

fn backend_name(index: usize, pool: &str) -> String {
    format!("set{index}_{}", ident(pool))
}

fn server_name(addr: &gateway::config::BackendAddr) -> String {
    ident(&format!("{}_{}", addr.host, addr.port))
}

/// One listener's frontend: TLS, the WAF, Host and rewrites.
fn frontend(c: &mut Conf, input: &Input<'_>, site: &Site<'_>, gaps: &mut Gaps, files: &mut Vec<RunFile>) {
    let l = site.listener;
    let route = site.route;
    let settings = &site.set.settings;
    c.section(&format!("frontend {}", frontend_name(&l.name)));
    c.line(format!(
        "# Listener \"{}\" ({}) → rule \"{}\" → backend set {}.",
        l.name,
        l.protocol.scheme(),
        route.rule,
        site.set_index
    ));
    let mut bind = format!("bind 127.0.0.1:{}", site.port);
    if let Some((cert, key)) = &l.tls_files {
        let pem = format!("listener-{}.pem", ident(&l.name));
        let _ = write!(bind, " ssl crt {}", word(&input.path(&pem)));
        files.push(RunFile {
            name: pem,
            content: FileContent::Concat(vec![cert.clone(), key.clone()]),
        });
    }
    c.line(bind);
    if let Some(idle) = l.tcp_keepalive {
        c.line("option clitcpka");
        c.line(format!("clitcpka-idle {}", timer(idle, "tcp_keepalive", gaps)));
    }
    c.line(format!(
        "timeout client {}",
        timer(settings.request_timeout.after, "request_timeout", gaps)
    ));
    if let Some(limit) = input.plan.max_connections {
        c.line("# max_connections: 503 beyond it.");
        c.line(format!("http-request deny deny_status 503 if {{ fe_conn gt {limit} }}"));
    }
    c.line("option forwardfor");
    c.line(format!(
        "http-request set-header X-Forwarded-Proto {}",
        l.protocol.scheme()
    ));
    if let Some((name, rules)) = site.waf {
        waf(c, name, rules);
    }
    if let Some(host) = settings.host_override.as_ref().and_then(|h| h.to_str().ok()) {
        c.line(format!("http-request set-header Host {}", log_format(host)));
    }
    if route.caching {
        c.line("# caching = true: the Upgrade header is not forwarded (doc 002), so the backend sees a plain GET.");
        c.line("http-request del-header Upgrade");
        c.line("http-request del-header Connection");
    }
    if let Some((name, rewrite)) = site.rewrite {
        rewrites(c, name, rewrite, gaps);
    }
    c.line(format!(
        "default_backend {}",
        backend_name(site.set_index, &site.set.pool)
    ));
}

/// A WAF policy as named ACLs and `deny` rules. A rule is skipped when an
/// earlier `allow` rule matched, so the first match decides.
fn waf(c: &mut Conf, name: &str, rules: &[WafRule]) {
    c.line(format!(
        "# WAF policy \"{name}\": rules in order, the first match decides."
    ));
    let mut allows: Vec<String> = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let acl = format!("waf_{i}");
        let fetch = match &rule.target {
            RuleTarget::Path => "path".to_string(),
            RuleTarget::Query => "query".to_string(),
            RuleTarget::Header(h) => format!("req.fhdr({h})"),
        };
        let (method, pattern) = match &rule.matcher {
            RuleMatch::Contains(text) => ("sub", text.as_str()),
            RuleMatch::Regex(re) => ("reg", re.as_str()),
        };
        let action = match rule.action {
            WafAction::Block => "block",
            WafAction::Allow => "allow",
        };
        c.line(format!("# rule \"{}\" ({action})", rule.name));
        c.line(format!("acl {acl} {fetch} -m {method} -- {}", word(pattern)));
        match rule.action {
            WafAction::Allow => allows.push(acl),
            WafAction::Block => {
                let mut cond = acl;
                for a in &allows {
                    let _ = write!(cond, " !{a}");
                }
                c.line(format!("http-request deny deny_status 403 if {cond}"));
            }
        }
    }
}

/// A rewrite set: removals, then sets, then the path.
fn rewrites(c: &mut Conf, name: &str, rewrite: &RewriteSet, gaps: &mut Gaps) {
    c.line(format!(
        "# Rewrite set \"{name}\": removals, then sets, then the path (the query is kept)."
    ));
    for h in &rewrite.remove {
        c.line(format!("http-request del-header {h}"));
    }
    for (h, v) in &rewrite.set {
        c.line(format!("http-request set-header {h} {}", log_format(v)));
    }
    let Some((pattern, replacement)) = &rewrite.url_path else {
        return;
    };
    let mut subst = String::new();
    let mut ok = !pattern.contains('\'');
    for piece in replacement_pieces(replacement) {
        match piece {
            Piece::Text(t) if t.contains(['\'', '\\']) => ok = false,
            Piece::Text(t) => subst.push_str(&t),
            Piece::Group(n) if n <= 9 => {
                let _ = write!(subst, "\\{n}");
            }
            Piece::Group(_) | Piece::Named(_) => ok = false,
        }
    }
    if !ok {
        gaps.add(
            feature::REWRITE_EXPRESSION,
            format!(
                "HAProxy's regsub refers to groups \\0 to \\9 only, by number, and its arguments cannot hold a \
                 quote or backslash here: {pattern:?} → {replacement:?}"
            ),
        );
        return;
    }
    c.line(format!(
        "http-request set-path {}",
        weak(&format!("%[path,regsub('{pattern}','{subst}')]"))
    ));
}

/// One backend set: balancing, timers, checks, servers. Appends each
/// checked server's start state to `state`; returns whether the set uses
/// the 504-as-502 errorfile.
fn backend(
    c: &mut Conf,
    input: &Input<'_>,
    index: usize,
    set: &BackendSetPlan,
    gaps: &mut Gaps,
    state: &mut String,
    files: &mut Vec<RunFile>,
) -> Result<bool, RenderError> {
    let plan = input.plan;
    let settings = &set.settings;
    let name = backend_name(index, &set.pool);
    c.section(&format!("backend {name}"));
    c.line(format!(
        "# Backend set {index}: pool \"{}\" through settings \"{}\" ({}).",
        set.pool,
        settings.name,
        settings.protocol.scheme()
    ));
    c.line("balance roundrobin");
    if let Some(idle) = settings.tcp_keepalive {
        c.line("option srvtcpka");
        c.line(format!("srvtcpka-idle {}", timer(idle, "tcp_keepalive", gaps)));
    }
    let request_timeout = timer(settings.request_timeout.after, "request_timeout", gaps);
    c.line(format!("timeout connect {request_timeout}"));
    c.line(format!("timeout server {request_timeout}"));
    let idle = input.route_of_set(index).and_then(|r| super::idle_timer(&r.session));
    match idle {
        Some(d) => {
            c.line("# The session idle timer: no byte in either direction for this long closes both sides.");
            c.line(format!("timeout tunnel {}", timer(d, "the session idle timer", gaps)));
        }
        None => {
            c.line("# No session idle timer: HAProxy's longest timeout (24 days; 2^31 ms is its limit).");
            c.line(format!("timeout tunnel {}", duration_text(LONGEST)));
        }
    }
    // A listener on this set with another idle timer (its own frontend
    // idle timeout) gets it for its streams; `set-timeout` is a backend
    // action, so the frontend is named in the condition.
    for l in plan.listeners.iter() {
        let Some(route) = plan.routes.get(l.route).filter(|r| r.backends == index) else {
            continue;
        };
        let own = super::idle_timer(&route.session);
        if own != idle {
            c.line(format!(
                "# Listener \"{}\" idles after {}.",
                l.name,
                own.map(duration_text).unwrap_or_else(|| "no idle timer".into())
            ));
            c.line(format!(
                "http-request set-timeout tunnel {} if {{ fe_name {} }}",
                timer(own.unwrap_or(LONGEST), "the session idle timer", gaps),
                frontend_name(&l.name)
            ));
        }
    }
    if !plan.behaviour.upgrade_timeout {
        c.line(format!(
            "# {}: the request timeout does not apply to WebSocket traffic, the opening handshake included.",
            plan.profile
        ));
        c.line(format!(
            "http-request set-timeout server {} if {{ req.hdr(upgrade) -m sub -i websocket }}",
            duration_text(LONGEST)
        ));
    }
    if plan.behaviour.http_timeout.retry_other_member {
        c.line("# A request that timed out is tried once on another member.");
        c.line("retries 1");
        c.line("option redispatch 1");
        c.line("retry-on response-timeout");
    } else {
        c.line("retries 0");
    }
    c.line("# The gateway answers 502 where HAProxy answers 503: no member up, a refused connection.");
    c.line(format!("errorfile 503 {}", word(&input.path(AS_502_FROM_503))));
    let as_502_from_504 = plan.behaviour.http_timeout.status == 502;
    if as_502_from_504 {
        c.line(format!("# {}: a backend timeout is a 502.", plan.profile));
        c.line(format!("errorfile 504 {}", word(&input.path(AS_502_FROM_504))));
    }

    let probe = set.members.first().map(|m| &m.probe);
    let (rise, fall) = match probe {
        Some(p) => checks(c, input, index, set, p, gaps, files),
        None => (1, 1),
    };

    let mut servers = Vec::new();
    for m in &set.members {
        let addr = input.backend(&m.addr)?;
        let srv = server_name(&m.addr);
        let tls_name = settings.tls_name(&m.addr);
        let tls = tls_options(settings, &tls_name);
        let check_tls = check_tls_options(settings, &m.probe, &tls_name);
        c.line(format!("server {srv} {addr} check{tls}{check_tls}  # {}", m.addr));
        // Out until a check passes (probe-first membership), or fully up:
        // `fall` failures take it out, as the gateway's first probes would.
        // Fields as `show servers state` prints them in HAProxy 2.6; the
        // backend and server are found by name.
        let (op_state, check_status, check_result, health) = if m.probe.initially_healthy {
            (2, 15, 3, rise + fall - 1)
        } else {
            (0, 4, 2, 0)
        };
        let _ = writeln!(
            state,
            "1 {name} 1 {srv} {} {op_state} 0 1 1 2 {check_status} {check_result} {health} 6 0 0 0 - {} - {} 0 - - 0",
            addr.ip(),
            addr.port(),
            u8::from(settings.protocol == Protocol::Https),
        );
        servers.push((srv, addr, tls));
    }
    if plan.behaviour.all_unhealthy == AllUnhealthy::UseAll {
        c.line(format!(
            "# {}: when no member is healthy, traffic goes round-robin to every member anyway. Each member",
            plan.profile
        ));
        c.line("# again as an unchecked backup server; HAProxy uses backups only when no other server is up.");
        c.line("option allbackups");
        for (srv, addr, tls) in &servers {
            c.line(format!("server {srv}_fallback {addr} backup{tls}"));
        }
    }
    Ok(as_502_from_504)
}

/// The check directives; returns `(rise, fall)`.
fn checks(
    c: &mut Conf,
    input: &Input<'_>,
    index: usize,
    set: &BackendSetPlan,
    probe: &ProbeSpec,
    gaps: &mut Gaps,
    files: &mut Vec<RunFile>,
) -> (u32, u32) {
    c.line(format!(
        "# The probe: {} {} every {}, {} timeout.",
        probe.method,
        probe.path,
        duration_text(probe.interval),
        duration_text(probe.timeout)
    ));
    c.line("option httpchk");
    let host = if set.members.iter().all(|m| m.probe.host == probe.host) {
        log_format(&probe.host)
    } else {
        // One check request per backend, but the members want different
        // Host headers: look each server's up by name.
        let map = format!("probe-hosts-{}.map", backend_name(index, &set.pool));
        let mut text = String::new();
        for m in &set.members {
            let _ = writeln!(text, "{} {}", server_name(&m.addr), m.probe.host);
        }
        c.line("# Each member's probe Host, by server name.");
        let host = format!("%[srv_name,map({})]", input.path(&map));
        files.push(RunFile {
            name: map,
            content: FileContent::Text(text),
        });
        word(&host)
    };
    c.line(format!(
        "http-check send meth {} uri {} ver HTTP/1.1 hdr Host {host} hdr User-Agent {}",
        probe.method,
        word(&probe.path),
        USER_AGENT
    ));
    let statuses: Vec<String> = probe
        .healthy
        .iter()
        .map(|r| {
            if r.start() == r.end() {
                r.start().to_string()
            } else {
                format!("{}-{}", r.start(), r.end())
            }
        })
        .collect();
    c.line(format!("http-check expect status {}", statuses.join(",")));
    if let Some(body) = &probe.match_body {
        c.line(format!("http-check expect string {}", word(body)));
    }
    c.line(format!(
        "timeout check {}",
        timer(probe.timeout, "the probe timeout", gaps)
    ));
    let (rise, fall) = match probe.rule {
        HealthRule::Consecutive { unhealthy_after } => {
            c.line(format!(
                "# Out after {unhealthy_after} consecutive failures, back after one success."
            ));
            (1, unhealthy_after.max(1))
        }
        HealthRule::Window { size, required } => {
            gaps.add(
                feature::PROBE_SAMPLE_WINDOW,
                format!(
                    "HAProxy counts consecutive results (fall, rise); healthy while {required} of the last {size} \
                     probes passed has no equivalent"
                ),
            );
            let fall = size.saturating_sub(required).saturating_add(1).max(1);
            c.line(format!(
                "# Approximates \"healthy while {required} of the last {size} passed\": from a full window, {fall}"
            ));
            c.line(format!(
                "# failures in a row take a member out, and {required} successes in a row bring it back."
            ));
            (required.max(1), fall)
        }
    };
    c.line(format!(
        "default-server inter {} fall {fall} rise {rise}",
        timer(probe.interval, "the probe interval", gaps)
    ));
    (rise, fall)
}

/// The TLS options of a server line (traffic, and checks unless told
/// otherwise).
fn tls_options(settings: &gateway::plan::SettingsPlan, name: &str) -> String {
    if settings.protocol != Protocol::Https {
        return String::new();
    }
    let mut out = String::from(" ssl verify required");
    if let Some(ca) = &settings.trusted_ca {
        let _ = write!(out, " ca-file {}", word(&ca.display().to_string()));
    }
    let _ = write!(
        out,
        " sni str({name}) verifyhost {} check-sni {}",
        word(name),
        word(name)
    );
    out
}

/// Check TLS where the probe's protocol differs from the traffic's.
fn check_tls_options(settings: &gateway::plan::SettingsPlan, probe: &ProbeSpec, name: &str) -> String {
    match (settings.protocol == Protocol::Https, probe.tls) {
        (true, false) => " no-check-ssl".into(),
        (false, true) => {
            let mut out = format!(" check-ssl check-sni {}", word(name));
            match &settings.trusted_ca {
                Some(ca) => {
                    let _ = write!(out, " ca-file {}", word(&ca.display().to_string()));
                }
                None => out.push_str(" verify none"),
            }
            out
        }
        _ => String::new(),
    }
}

/// A timer, capped at HAProxy's longest.
fn timer(d: Duration, what: &str, gaps: &mut Gaps) -> String {
    if d > LONGEST {
        gaps.add(
            feature::LONG_TIMER,
            format!(
                "HAProxy's timeouts end at 2^31 ms (about 24.8 days); {what} is {}",
                duration_text(d)
            ),
        );
        return duration_text(LONGEST);
    }
    duration_text(d)
}

/// A raw HTTP response for an errorfile.
fn error_response(status: u16, reason: &str) -> String {
    let body = format!("{reason}\n");
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// `text` as one config word: bare when it has nothing HAProxy's parser
/// reads specially, else strongly quoted (nothing is interpreted inside
/// single quotes), else weakly quoted with escapes.
fn word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:+=@,%".contains(c));
    if plain {
        text.to_string()
    } else if !text.contains(['\'', '\n', '\r']) {
        format!("'{text}'")
    } else {
        weak(text)
    }
}

/// `text` in double quotes, where `\`, `"` and `$` (environment
/// variables) must be escaped.
fn weak(text: &str) -> String {
    let mut out = String::from("\"");
    for ch in text.chars() {
        match ch {
            '\\' | '"' | '$' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ => out.push(ch),
        }
    }
    out.push('"');
    out
}

/// A literal as a log-format word: `%` is doubled, then quoted.
fn log_format(text: &str) -> String {
    word(&text.replace('%', "%%"))
}

/// The config text: sections at the margin, their lines indented.
#[derive(Debug, Default)]
struct Conf {
    out: String,
}

impl Conf {
    fn section(&mut self, head: &str) {
        self.out.push_str(head);
        self.out.push('\n');
    }

    fn line(&mut self, text: impl AsRef<str>) {
        self.out.push_str("    ");
        self.out.push_str(text.as_ref());
        self.out.push('\n');
    }

    fn blank(&mut self) {
        self.out.push('\n');
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
        assert_eq!(features(&r), vec![feature::MAINTENANCE_DRAIN]);
    }

    #[test]
    fn every_feature() {
        let r = render_toml(FULL);
        insta::assert_snapshot!(snapshot(&r));
        assert_eq!(
            features(&r),
            vec![feature::CONNECTION_LIMIT, feature::MAINTENANCE_DRAIN]
        );
    }

    #[test]
    fn front_door_falls_back_to_every_origin_and_approximates_the_window() {
        let r = render_toml(&single("front-door", ""));
        insta::assert_snapshot!(snapshot(&r));
        assert_eq!(
            features(&r),
            vec![
                feature::MAINTENANCE_DRAIN,
                feature::ORIGIN_ROUTING,
                feature::PROBE_SAMPLE_WINDOW,
                feature::SESSION_LIFETIME_CAP,
            ]
        );
    }

    #[test]
    fn application_gateway_2016_waits_for_upgrades_and_answers_502_to_timeouts() {
        let r = render_toml(&single("application-gateway-2016", ""));
        insta::assert_snapshot!(snapshot(&r));
    }

    #[test]
    fn a_listener_with_its_own_idle_timer_overrides_the_tunnel_timeout() {
        // application-gateway-2016 has no session idle timer: each
        // listener's frontend idle timeout is the one that fires.
        let toml = single("application-gateway-2016", "").replace(
            "address = \"0.0.0.0:80\"\n",
            "address = \"0.0.0.0:80\"\nfrontend_idle_timeout = \"12m\"\n",
        );
        let r = render_toml(&toml);
        assert!(r.config.contains("timeout tunnel 12m"), "{}", r.config);
        assert!(
            !r.config.contains("set-timeout tunnel"),
            "one listener: the backend's own value\n{}",
            r.config
        );
        let two = format!(
            "{toml}\n[[listeners]]\nname = \"private\"\naddress = \"0.0.0.0:8080\"\nfrontend_ip = \"private\"\n\n[[rules]]\nname = \"private-rule\"\nlistener = \"private\"\npool = \"pool\"\nsettings = \"settings\"\n"
        );
        let r = render_toml(&two);
        assert!(r.config.contains("timeout tunnel 12m"), "{}", r.config);
        assert!(
            r.config
                .contains("http-request set-timeout tunnel 5m if { fe_name fe_private }"),
            "{}",
            r.config
        );
    }

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(word("/health"), "/health");
        assert_eq!(word("a b"), "'a b'");
        assert_eq!(word("it's $HOME"), r#""it's \$HOME""#);
        assert_eq!(log_format("100%"), "100%%");
    }
}
