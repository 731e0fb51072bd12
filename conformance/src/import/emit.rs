//! The imported config as TOML: each value followed by a comment naming
//! the field it came from, then what was read but not modelled.
//!
//! Written from the typed config (never formatted and parsed back); the
//! tests check that the text loads back to the same config and passes
//! `wsgate check`.

use std::fmt::Write as _;

use gateway::config::{
    Duration, FrontendIp, ProbeMethod, Protocol, WafAction, WafTarget, DEFAULT_HEADER_READ_TIMEOUT,
    DEFAULT_MAX_HEADER_BYTES,
};

use super::Imported;

/// A TOML string literal.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A key, bare when TOML allows it.
fn key(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        s.to_string()
    } else {
        quote(s)
    }
}

fn duration(d: Duration) -> String {
    quote(&d.to_string())
}

fn protocol(p: Protocol) -> String {
    quote(p.scheme())
}

struct Writer<'a> {
    im: &'a Imported,
    out: String,
}

impl Writer<'_> {
    /// `name = value  # source`, the comment when the value has a source.
    fn line(&mut self, path: &str, name: &str, value: String) {
        let _ = write!(self.out, "{} = {value}", key(name));
        if let Some(src) = self.im.sources.get(path) {
            let _ = write!(self.out, "  # {src}");
        }
        self.out.push('\n');
    }

    /// The comment after a backend address at `path`: its source, and
    /// whether this machine can reach it.
    fn address_comment(&mut self, path: &str) {
        let src = self.im.sources.get(path);
        let flag = self.im.unreachable.contains(path);
        match (src, flag) {
            (Some(s), true) => {
                let _ = write!(
                    self.out,
                    "  # {s}; not reachable from here: `wsgate run --config` stands in a scripted backend"
                );
            }
            (Some(s), false) => {
                let _ = write!(self.out, "  # {s}");
            }
            (None, true) => self.out.push_str("  # not reachable from here"),
            (None, false) => {}
        }
    }

    fn header(&mut self, header: &str) {
        let _ = writeln!(self.out, "\n{header}");
    }
}

/// The whole file.
pub fn toml(im: &Imported) -> String {
    let c = &im.config;
    let mut w = Writer { im, out: String::new() };
    w.out
        .push_str("# wsgate gateway config, written by `wsgate import` from:\n");
    for input in &im.inputs {
        let _ = writeln!(w.out, "#   {input}");
    }
    w.out.push_str(
        "# Each comment names the field a value came from: its JSON path (file:line).\n\
         # Check it with `wsgate check`, predict trouble with `wsgate lint`, and run the\n\
         # scenario library against it with `wsgate run --config`.\n",
    );
    for note in &im.notes {
        w.out.push_str("#\n");
        for line in wrap(note, 76) {
            let _ = writeln!(w.out, "# {line}");
        }
    }
    w.out.push('\n');
    w.line("profile", "profile", quote(c.profile.as_str()));
    if c.header_read_timeout != Duration::from(DEFAULT_HEADER_READ_TIMEOUT) {
        w.line(
            "header_read_timeout",
            "header_read_timeout",
            duration(c.header_read_timeout),
        );
    }
    if c.max_header_bytes != DEFAULT_MAX_HEADER_BYTES {
        w.line("max_header_bytes", "max_header_bytes", c.max_header_bytes.to_string());
    }
    if let Some(d) = c.idle_timeout {
        w.line("idle_timeout", "idle_timeout", duration(d));
    }
    if let Some(d) = c.max_lifetime {
        w.line("max_lifetime", "max_lifetime", duration(d));
    }
    if let Some(n) = c.max_connections {
        w.line("max_connections", "max_connections", n.to_string());
    }
    if let Some(m) = c.maintenance {
        w.line(
            "maintenance",
            "maintenance",
            format!(
                "{{ drain = {}, update_domains = {} }}",
                duration(m.drain),
                m.update_domains
            ),
        );
    }

    for (i, l) in c.listeners.iter().enumerate() {
        let at = format!("listeners[{i}]");
        w.header("[[listeners]]");
        w.line(&format!("{at}.name"), "name", quote(&l.name));
        w.line(&format!("{at}.protocol"), "protocol", protocol(l.protocol));
        w.line(&format!("{at}.address"), "address", quote(&l.address.to_string()));
        if let Some(p) = &l.tls_cert {
            w.line(&format!("{at}.tls_cert"), "tls_cert", quote(&p.display().to_string()));
        }
        if let Some(p) = &l.tls_key {
            w.line(&format!("{at}.tls_key"), "tls_key", quote(&p.display().to_string()));
        }
        if let Some(d) = l.tcp_keepalive {
            w.line(&format!("{at}.tcp_keepalive"), "tcp_keepalive", duration(d));
        }
        if let Some(d) = l.frontend_idle_timeout {
            w.line(
                &format!("{at}.frontend_idle_timeout"),
                "frontend_idle_timeout",
                duration(d),
            );
        }
        if l.frontend_ip == FrontendIp::Private {
            w.line(&format!("{at}.frontend_ip"), "frontend_ip", quote("private"));
        }
    }

    for (i, p) in c.backend_pools.iter().enumerate() {
        let at = format!("backend_pools[{i}]");
        w.header("[[backend_pools]]");
        w.line(&format!("{at}.name"), "name", quote(&p.name));
        // A Front Door pool is all origins: an empty `addresses = []`
        // beside them would say nothing. A pool with neither keeps it, so
        // the gap shows where `wsgate check` reports it.
        if !p.addresses.is_empty() || p.origins.is_empty() {
            w.out.push_str("addresses = [\n");
            for (j, a) in p.addresses.iter().enumerate() {
                let path = format!("{at}.addresses[{j}]");
                let _ = write!(w.out, "  {},", quote(a));
                w.address_comment(&path);
                w.out.push('\n');
            }
            w.out.push_str("]\n");
        }
        if p.session_affinity {
            w.line(&format!("{at}.session_affinity"), "session_affinity", "true".into());
        }
        if let Some(d) = p.latency_sensitivity {
            w.line(&format!("{at}.latency_sensitivity"), "latency_sensitivity", duration(d));
        }
        // Origins last: after `[[backend_pools.origins]]`, TOML keys belong
        // to the origin, not the pool.
        for (j, o) in p.origins.iter().enumerate() {
            let at = format!("{at}.origins[{j}]");
            w.header("[[backend_pools.origins]]");
            let _ = write!(w.out, "address = {}", quote(&o.address));
            w.address_comment(&format!("{at}.address"));
            w.out.push('\n');
            if let Some(n) = o.priority {
                w.line(&format!("{at}.priority"), "priority", n.to_string());
            }
            if let Some(n) = o.weight {
                w.line(&format!("{at}.weight"), "weight", n.to_string());
            }
            if let Some(on) = o.enabled {
                w.line(&format!("{at}.enabled"), "enabled", on.to_string());
            }
        }
    }

    for (i, s) in c.backend_settings.iter().enumerate() {
        let at = format!("backend_settings[{i}]");
        w.header("[[backend_settings]]");
        w.line(&format!("{at}.name"), "name", quote(&s.name));
        w.line(&format!("{at}.protocol"), "protocol", protocol(s.protocol));
        if let Some(d) = s.request_timeout {
            w.line(&format!("{at}.request_timeout"), "request_timeout", duration(d));
        }
        if let Some(h) = &s.host_override {
            w.line(&format!("{at}.host_override"), "host_override", quote(h));
        }
        if let Some(p) = &s.probe {
            w.line(&format!("{at}.probe"), "probe", quote(p));
        }
        if let Some(p) = &s.trusted_ca {
            w.line(
                &format!("{at}.trusted_ca"),
                "trusted_ca",
                quote(&p.display().to_string()),
            );
        }
        if let Some(d) = s.tcp_keepalive {
            w.line(&format!("{at}.tcp_keepalive"), "tcp_keepalive", duration(d));
        }
        if s.cookie_affinity {
            w.line(&format!("{at}.cookie_affinity"), "cookie_affinity", "true".into());
        }
        if let Some(n) = &s.affinity_cookie_name {
            w.line(&format!("{at}.affinity_cookie_name"), "affinity_cookie_name", quote(n));
        }
        if let Some(d) = s.connection_draining {
            let value = match d.drain_timeout {
                Some(t) => format!("{{ enabled = {}, drain_timeout = {} }}", d.enabled, duration(t)),
                None => format!("{{ enabled = {} }}", d.enabled),
            };
            let mut src: Vec<&str> = Vec::new();
            for k in ["enabled", "drain_timeout"] {
                if let Some(s) = im.sources.get(&format!("{at}.connection_draining.{k}")) {
                    src.push(s);
                }
            }
            let _ = write!(w.out, "connection_draining = {value}");
            if !src.is_empty() {
                let _ = write!(w.out, "  # {}", src.join("; "));
            }
            w.out.push('\n');
        }
    }

    for (i, p) in c.probes.iter().enumerate() {
        let at = format!("probes[{i}]");
        w.header("[[probes]]");
        w.line(&format!("{at}.name"), "name", quote(&p.name));
        w.line(&format!("{at}.protocol"), "protocol", protocol(p.protocol));
        if let Some(h) = &p.host {
            w.line(&format!("{at}.host"), "host", quote(h));
        }
        w.line(&format!("{at}.path"), "path", quote(&p.path));
        if let Some(d) = p.interval {
            w.line(&format!("{at}.interval"), "interval", duration(d));
        }
        if let Some(d) = p.timeout {
            w.line(&format!("{at}.timeout"), "timeout", duration(d));
        }
        if let Some(n) = p.unhealthy_threshold {
            w.line(
                &format!("{at}.unhealthy_threshold"),
                "unhealthy_threshold",
                n.to_string(),
            );
        }
        if let Some(m) = &p.match_status {
            let items: Vec<String> = m.iter().map(|s| quote(s)).collect();
            w.line(
                &format!("{at}.match_status"),
                "match_status",
                format!("[{}]", items.join(", ")),
            );
        }
        if let Some(b) = &p.match_body {
            w.line(&format!("{at}.match_body"), "match_body", quote(b));
        }
        if let Some(m) = p.method {
            let m = match m {
                ProbeMethod::Get => "GET",
                ProbeMethod::Head => "HEAD",
            };
            w.line(&format!("{at}.method"), "method", quote(m));
        }
        if let Some(n) = p.sample_size {
            w.line(&format!("{at}.sample_size"), "sample_size", n.to_string());
        }
        if let Some(n) = p.successful_samples_required {
            w.line(
                &format!("{at}.successful_samples_required"),
                "successful_samples_required",
                n.to_string(),
            );
        }
    }

    for (i, r) in c.rules.iter().enumerate() {
        let at = format!("rules[{i}]");
        w.header("[[rules]]");
        w.line(&format!("{at}.name"), "name", quote(&r.name));
        w.line(&format!("{at}.listener"), "listener", quote(&r.listener));
        w.line(&format!("{at}.pool"), "pool", quote(&r.pool));
        w.line(&format!("{at}.settings"), "settings", quote(&r.settings));
        if r.caching {
            w.line(&format!("{at}.caching"), "caching", "true".to_string());
        }
        if let Some(p) = &r.waf {
            w.line(&format!("{at}.waf"), "waf", quote(p));
        }
        if let Some(p) = &r.rewrites {
            w.line(&format!("{at}.rewrites"), "rewrites", quote(p));
        }
    }

    for (i, p) in c.waf_policies.iter().enumerate() {
        let at = format!("waf_policies[{i}]");
        w.header("[[waf_policies]]");
        w.line(&format!("{at}.name"), "name", quote(&p.name));
        for rule in &p.rules {
            w.header("[[waf_policies.rules]]");
            let _ = writeln!(w.out, "name = {}", quote(&rule.name));
            let target = match rule.target {
                WafTarget::Path => "path",
                WafTarget::Query => "query",
                WafTarget::Header => "header",
            };
            let _ = writeln!(w.out, "match = {}", quote(target));
            if let Some(h) = &rule.header {
                let _ = writeln!(w.out, "header = {}", quote(h));
            }
            if let Some(t) = &rule.contains {
                let _ = writeln!(w.out, "contains = {}", quote(t));
            }
            if let Some(t) = &rule.regex {
                let _ = writeln!(w.out, "regex = {}", quote(t));
            }
            let action = match rule.action {
                WafAction::Block => "block",
                WafAction::Allow => "allow",
            };
            let _ = writeln!(w.out, "action = {}", quote(action));
        }
    }

    for (i, s) in c.rewrite_sets.iter().enumerate() {
        let at = format!("rewrite_sets[{i}]");
        w.header("[[rewrite_sets]]");
        w.line(&format!("{at}.name"), "name", quote(&s.name));
        if !s.remove_request_headers.is_empty() {
            let items: Vec<String> = s.remove_request_headers.iter().map(|h| quote(h)).collect();
            w.line(
                &format!("{at}.remove_request_headers[0]"),
                "remove_request_headers",
                format!("[{}]", items.join(", ")),
            );
        }
        if let Some(u) = &s.url_path {
            w.line(
                &format!("{at}.url_path"),
                "url_path",
                format!(
                    "{{ pattern = {}, replacement = {} }}",
                    quote(&u.pattern),
                    quote(&u.replacement)
                ),
            );
        }
        if !s.set_request_headers.is_empty() {
            w.header("[rewrite_sets.set_request_headers]");
            for (name, value) in &s.set_request_headers {
                w.line(&format!("{at}.set_request_headers.{name}"), name, quote(value));
            }
        }
    }

    if !im.unmodelled.is_empty() {
        w.out.push_str("\n# Read but not modelled:\n");
        for u in &im.unmodelled {
            let _ = writeln!(w.out, "#   {}", u.at);
            for line in wrap(&u.what, 72) {
                let _ = writeln!(w.out, "#       {line}");
            }
        }
    }
    w.out
}

/// Splits text into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bare_when_toml_allows() {
        assert_eq!(key("X-Forwarded-For"), "X-Forwarded-For");
        assert_eq!(key("a b"), "\"a b\"");
        let quoted = quote("a\"b'c");
        let back: toml::Table = format!("k = {quoted}").parse().unwrap();
        assert_eq!(back["k"].as_str(), Some("a\"b'c"));
    }

    #[test]
    fn wraps_at_spaces() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert!(wrap("", 5).is_empty());
    }
}
