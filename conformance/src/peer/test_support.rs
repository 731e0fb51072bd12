//! Plans, ports and snapshot text for the renderers' tests.

use std::path::PathBuf;

use gateway::{Config, Plan};

use super::{FileContent, Policies, Ports, Rendered};

/// A plan and its policies from a config's TOML, with ports for every
/// listener (from 20001) and backend (from 30001), in plan order.
pub fn inputs(toml: &str) -> (Plan, Policies, Ports) {
    let config = Config::from_toml(toml, "test.toml", PathBuf::from("/etc/wsgate")).unwrap();
    let plan = config.validate().unwrap();
    let mut ports = Ports::default();
    for (i, l) in plan.listeners.iter().enumerate() {
        ports.listeners.insert(l.name.clone(), 20001 + i as u16);
    }
    let mut next = 30001;
    for set in &plan.backend_sets {
        for m in &set.members {
            if !ports.backends.contains_key(&m.addr) {
                ports.backends.insert(m.addr.clone(), ([127, 0, 0, 1], next).into());
                next += 1;
            }
        }
    }
    (plan, Policies::from_config(&config), ports)
}

/// A rendered config as one text: the config, each extra file, then
/// what is unsupported.
pub fn snapshot(r: &Rendered) -> String {
    let mut out = r.config.clone();
    for f in &r.files {
        out.push_str(&format!("\n===== file {} =====\n", f.name));
        match &f.content {
            FileContent::Text(t) => out.push_str(t),
            FileContent::Concat(parts) => {
                for p in parts {
                    out.push_str(&format!("(contents of {})\n", p.display()));
                }
            }
        }
    }
    out.push_str("\n===== unsupported =====\n");
    for u in &r.unsupported {
        out.push_str(&format!("{}: {}\n", u.feature, u.reason));
    }
    out
}

/// A config with every feature a renderer handles, for the given
/// profile.
pub const FULL: &str = r#"
profile = "application-gateway"
header_read_timeout = "10s"

[[listeners]]
name = "public"
address = "0.0.0.0:80"

[[listeners]]
name = "secure"
protocol = "https"
address = "0.0.0.0:443"
tls_cert = "certs/site.pem"
tls_key = "certs/site.key"
tcp_keepalive = "60s"

[[backend_pools]]
name = "chat"
addresses = ["b1:9001", "b2:9002"]

[[backend_settings]]
name = "plain"
request_timeout = "15s"
probe = "health"
tcp_keepalive = "30s"

[[backend_settings]]
name = "tls"
protocol = "https"
trusted_ca = "ca.pem"
host_override = "chat.internal"

[[probes]]
name = "health"
path = "/health"
interval = "5s"
timeout = "2s"
unhealthy_threshold = 2
match_status = ["200-299", "301"]
match_body = "ok"

[[rules]]
name = "public-rule"
listener = "public"
pool = "chat"
settings = "plain"
waf = "edge"
rewrites = "to-internal"

[[rules]]
name = "secure-rule"
listener = "secure"
pool = "chat"
settings = "tls"

[[waf_policies]]
name = "edge"
[[waf_policies.rules]]
name = "health-ok"
match = "path"
contains = "/admin/health"
action = "allow"
[[waf_policies.rules]]
name = "no-admin"
match = "path"
contains = "/admin"
action = "block"
[[waf_policies.rules]]
name = "sqli"
match = "query"
regex = '(?i)union(\+|%20)+select'
action = "block"
[[waf_policies.rules]]
name = "bot"
match = "header"
header = "User-Agent"
regex = "evil\"bot"
action = "block"

[[rewrite_sets]]
name = "to-internal"
set_request_headers = { x-via = "wsgate" }
remove_request_headers = ["x-debug"]
url_path = { pattern = "^/public/(.*)$", replacement = "/internal/$1" }
"#;

/// The smallest config: one listener, one backend.
pub fn single(profile: &str, extra: &str) -> String {
    format!(
        r#"
profile = "{profile}"
{extra}
[[listeners]]
name = "public"
address = "0.0.0.0:80"

[[backend_pools]]
name = "pool"
addresses = ["b1:9001", "b2:9002"]

[[backend_settings]]
name = "settings"

[[rules]]
name = "rule"
listener = "public"
pool = "pool"
settings = "settings"
"#
    )
}
