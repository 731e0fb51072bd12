//! Every config error names the file, line and key. One test per case.

use std::path::PathBuf;

use super::*;

const GOOD: &str = r#"
profile = "application-gateway"

[[listeners]]
name = "public"
protocol = "http"
address = "127.0.0.1:8080"

[[backend_pools]]
name = "chat"
addresses = ["127.0.0.1:9001", "backend.internal:9002"]

[[backend_settings]]
name = "chat-settings"
protocol = "http"
request_timeout = "20s"
host_override = "chat.internal"
probe = "chat-probe"

[[probes]]
name = "chat-probe"
protocol = "http"
path = "/health"
interval = "30s"
timeout = "30s"
unhealthy_threshold = 3
match_status = ["200-399"]

[[rules]]
name = "chat-rule"
listener = "public"
pool = "chat"
settings = "chat-settings"
"#;

/// The same config under the front-door profile, whose probes count samples
/// rather than consecutive failures.
fn front_door(src: &str) -> String {
    src.replace("\"application-gateway\"", "\"front-door\"")
        .replace("unhealthy_threshold = 3\n", "")
}

fn load(src: &str) -> Result<Config, ConfigError> {
    Config::from_toml(src, "gw.toml", PathBuf::from("."))
}

/// Loads `src`, expects exactly one diagnostic, and returns it.
fn one_error(src: &str) -> Diagnostic {
    let err = load(src).expect_err("config should be rejected");
    let diags = err.diagnostics();
    assert_eq!(diags.len(), 1, "expected one diagnostic, got: {err}");
    diags[0].clone()
}

/// The 1-based line holding `needle` in `src`.
fn line_of(src: &str, needle: &str) -> usize {
    let offset = src.find(needle).expect("needle is in the source");
    src[..offset].matches('\n').count() + 1
}

fn assert_at(d: &Diagnostic, src: &str, needle: &str, key: &str, message_part: &str) {
    assert_eq!(d.origin, "gw.toml");
    let (line, _col) = d.position.expect("a located diagnostic");
    assert_eq!(line, line_of(src, needle), "line of {key} in: {d}");
    assert_eq!(d.key, key, "{d}");
    assert!(
        d.message.contains(message_part),
        "message `{}` lacks `{message_part}`",
        d.message
    );
    let shown = d.to_string();
    assert!(shown.starts_with(&format!("gw.toml:{line}:")), "{shown}");
}

#[test]
fn the_design_example_loads() {
    let config = load(GOOD).unwrap();
    assert_eq!(config.profile, ProfileName::ApplicationGateway);
    assert_eq!(
        config.backend_settings[0].request_timeout,
        Some(Duration::from_secs(20))
    );
    assert_eq!(config.probes[0].match_status, Some(vec!["200-399".to_string()]));
}

#[test]
fn unknown_pool_reference() {
    let src = GOOD.replace("pool = \"chat\"", "pool = \"chatt\"");
    let d = one_error(&src);
    assert_at(
        &d,
        &src,
        "pool = \"chatt\"",
        "rules[0].pool",
        "unknown backend pool `chatt`; expected one of `chat`",
    );
}

#[test]
fn unknown_listener_reference() {
    let src = GOOD.replace("listener = \"public\"", "listener = \"private\"");
    let err = load(&src).unwrap_err();
    let d = err
        .diagnostics()
        .iter()
        .find(|d| d.key == "rules[0].listener")
        .expect("the rule's listener is named");
    assert_at(
        d,
        &src,
        "listener = \"private\"",
        "rules[0].listener",
        "unknown listener `private`",
    );
}

#[test]
fn unknown_probe_reference() {
    let src = GOOD.replace("probe = \"chat-probe\"", "probe = \"nope\"");
    let d = one_error(&src);
    assert_at(
        &d,
        &src,
        "probe = \"nope\"",
        "backend_settings[0].probe",
        "unknown probe `nope`",
    );
}

#[test]
fn duplicate_names() {
    let src = format!("{GOOD}\n[[backend_pools]]\nname = \"chat\"\naddresses = [\"127.0.0.1:9003\"]\n");
    let d = one_error(&src);
    let second = src.rfind("name = \"chat\"").unwrap();
    let line = src[..second].matches('\n').count() + 1;
    assert_eq!(d.position.unwrap().0, line);
    assert_eq!(d.key, "backend_pools[1].name");
    assert!(d.message.contains("duplicate name `chat`"), "{d}");
}

#[test]
fn https_listener_without_certificate() {
    let src = GOOD.replace("protocol = \"http\"\naddress", "protocol = \"https\"\naddress");
    let err = load(&src).unwrap_err();
    let keys: Vec<_> = err.diagnostics().iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["listeners[0]", "listeners[0]"], "{err}");
    let text = err.to_string();
    assert!(
        text.contains("needs `tls_cert`") && text.contains("needs `tls_key`"),
        "{text}"
    );
    // Reported at the listener's table.
    let line = err.diagnostics()[0].position.unwrap().0;
    assert!(
        line >= line_of(&src, "[[listeners]]") && line <= line_of(&src, "address ="),
        "{text}"
    );
}

#[test]
fn zero_duration() {
    let src = GOOD.replace("request_timeout = \"20s\"", "request_timeout = \"0s\"");
    let d = one_error(&src);
    assert_at(
        &d,
        &src,
        "request_timeout = \"0s\"",
        "backend_settings[0].request_timeout",
        "greater than zero",
    );
}

#[test]
fn unknown_profile() {
    let src = GOOD.replace("\"application-gateway\"", "\"azure-gateway\"");
    let d = one_error(&src);
    assert_at(&d, &src, "profile =", "profile", "unknown value \"azure-gateway\"");
    assert!(d.message.contains("front-door"), "lists the valid profiles: {d}");
}

#[test]
fn bad_duration_text() {
    let src = GOOD.replace("interval = \"30s\"", "interval = \"thirty\"");
    let d = one_error(&src);
    assert_at(
        &d,
        &src,
        "interval = \"thirty\"",
        "probes[0].interval",
        "expected a duration",
    );
}

#[test]
fn unknown_key() {
    let src = GOOD.replace(
        "request_timeout = \"20s\"",
        "request_timeout = \"20s\"\nrequest_timeuot = \"5s\"",
    );
    let d = one_error(&src);
    assert_at(
        &d,
        &src,
        "request_timeuot",
        "backend_settings[0].request_timeuot",
        "unknown key `request_timeuot` in [[backend_settings]]; did you mean `request_timeout`?",
    );
}

#[test]
fn a_key_in_the_wrong_section_says_where_it_belongs() {
    let src = GOOD.replace(
        "profile = \"application-gateway\"",
        "profile = \"application-gateway\"\nrequest_timeout = \"40s\"",
    );
    let d = one_error(&src);
    assert_at(
        &d,
        &src,
        "request_timeout = \"40s\"",
        "request_timeout",
        "`request_timeout` belongs in [[backend_settings]]",
    );
}

#[test]
fn every_parse_error_is_reported_in_file_order() {
    // Three mistakes serde alone would stop at the first of.
    let src = GOOD
        .replace("protocol = \"http\"\naddress", "protocl = \"http\"\naddress")
        .replace("request_timeout = \"20s\"", "request_timeout = 20")
        .replace("unhealthy_threshold = 3", "unhealthy_threshold = \"three\"");
    let err = load(&src).unwrap_err();
    let keys: Vec<&str> = err.diagnostics().iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "listeners[0].protocl",
            "backend_settings[0].request_timeout",
            "probes[0].unhealthy_threshold"
        ],
        "{err}"
    );
    let lines: Vec<usize> = err.diagnostics().iter().map(|d| d.position.unwrap().0).collect();
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "file order: {lines:?}");
}

#[test]
fn a_missing_profile_is_reported_against_profile() {
    let src = GOOD.replace("profile = \"application-gateway\"\n", "");
    let d = one_error(&src);
    assert_eq!(d.key, "profile", "{d}");
    assert!(d.message.contains("missing `profile`"), "{d}");
}

#[test]
fn durations_have_a_documented_maximum() {
    // A value check accepted once made every session panic in the tunnel
    // and the probe loop take the process down.
    let src = GOOD.replace("interval = \"30s\"", "interval = \"500000000000y\"");
    let d = one_error(&src);
    assert_eq!(d.key, "probes[0].interval", "{d}");
    let src = format!("idle_timeout = \"400days\"\n{GOOD}");
    let d = one_error(&src);
    assert_at(&d, &src, "idle_timeout", "idle_timeout", "at most 1year");
}

#[test]
fn wrong_type() {
    let src = GOOD.replace("unhealthy_threshold = 3", "unhealthy_threshold = \"three\"");
    let d = one_error(&src);
    assert_at(
        &d,
        &src,
        "unhealthy_threshold",
        "probes[0].unhealthy_threshold",
        "expected a whole number of 0 or more, found the text \"three\"",
    );
}

#[test]
fn bad_backend_address() {
    let src = GOOD.replace("\"backend.internal:9002\"", "\"backend.internal\"");
    let d = one_error(&src);
    assert_at(
        &d,
        &src,
        "\"backend.internal\"",
        "backend_pools[0].addresses[1]",
        "expected host:port",
    );
}

#[test]
fn syntax_error() {
    let src = GOOD.replace("name = \"public\"", "name = \"public");
    let d = one_error(&src);
    assert_eq!(d.position.unwrap().0, line_of(&src, "name = \"public"));
}

#[test]
fn listener_without_rule() {
    let src = format!("{GOOD}\n[[listeners]]\nname = \"spare\"\naddress = \"127.0.0.1:8081\"\n");
    let d = one_error(&src);
    assert_at(
        &d,
        &src,
        "name = \"spare\"",
        "listeners[1].name",
        "no rule routes listener `spare`",
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let src = GOOD
        .replace("request_timeout = \"20s\"", "request_timeout = \"0s\"")
        .replace("pool = \"chat\"", "pool = \"x\"");
    assert_eq!(load(&src).unwrap_err().diagnostics().len(), 2);
}

#[test]
fn configs_built_from_flags_are_validated_too() {
    let config = Config::single_route(
        ProfileName::FrontDoor,
        "127.0.0.1:0".parse().unwrap(),
        vec!["no-port".into()],
        Some(Duration::from_secs(0)),
    );
    let err = config.validated("--flags").unwrap_err();
    let keys: Vec<_> = err.diagnostics().iter().map(|d| d.key.clone()).collect();
    assert_eq!(
        keys,
        ["backend_settings[0].request_timeout", "backend_pools[0].addresses[0]"]
    );
    assert!(err.to_string().starts_with("--flags: "), "{err}");
}

#[test]
fn a_missing_file_names_its_path() {
    let err = Config::load(std::path::Path::new("/nonexistent/gw.toml")).unwrap_err();
    assert!(
        err.to_string().starts_with("/nonexistent/gw.toml: cannot read"),
        "{err}"
    );
}

const WAF: &str = r#"
[[waf_policies]]
name = "edge"
[[waf_policies.rules]]
name = "no-admin"
match = "path"
regex = "(/admin"
action = "block"
"#;

#[test]
fn invalid_waf_regex_is_located() {
    let src = format!("{GOOD}{WAF}").replace(
        "settings = \"chat-settings\"",
        "settings = \"chat-settings\"\nwaf = \"edge\"",
    );
    let d = one_error(&src);
    assert_at(
        &d,
        &src,
        "regex = \"(/admin\"",
        "waf_policies[0].rules[0].regex",
        "invalid regular expression",
    );
}

#[test]
fn unknown_waf_policy_reference() {
    let src = GOOD.replace(
        "settings = \"chat-settings\"",
        "settings = \"chat-settings\"\nwaf = \"edge\"",
    );
    let d = one_error(&src);
    assert_at(
        &d,
        &src,
        "waf = \"edge\"",
        "rules[0].waf",
        "unknown WAF policy `edge`; none is defined",
    );
}

#[test]
fn caching_is_a_front_door_option() {
    let src = GOOD.replace(
        "settings = \"chat-settings\"",
        "settings = \"chat-settings\"\ncaching = true",
    );
    let d = one_error(&src);
    assert_at(
        &d,
        &src,
        "caching = true",
        "rules[0].caching",
        "front-door route option",
    );
    let fd = front_door(&src);
    assert!(load(&fd).is_ok(), "{:?}", load(&fd));
}

#[test]
fn rewrites_are_an_application_gateway_feature() {
    let sets = "\n[[rewrite_sets]]\nname = \"rs\"\nremove_request_headers = [\"x-debug\"]\n";
    let src = format!("{GOOD}{sets}").replace(
        "settings = \"chat-settings\"",
        "settings = \"chat-settings\"\nrewrites = \"rs\"",
    );
    assert!(load(&src).is_ok());
    let fd = front_door(&src);
    let d = one_error(&fd);
    assert_at(
        &d,
        &fd,
        "rewrites = \"rs\"",
        "rules[0].rewrites",
        "application-gateway feature",
    );
}

#[test]
fn session_overrides_load_and_reject_zero() {
    let src = front_door(GOOD).replace(
        "profile = \"front-door\"",
        "profile = \"front-door\"\nidle_timeout = \"30s\"\nmax_lifetime = \"0s\"",
    );
    let d = one_error(&src);
    assert_at(&d, &src, "max_lifetime", "max_lifetime", "greater than zero");
}

#[test]
fn caching_on_a_route_is_a_warning_not_an_error() {
    let src = front_door(GOOD).replace(
        "settings = \"chat-settings\"",
        "settings = \"chat-settings\"\ncaching = true",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fd.toml");
    std::fs::write(&path, &src).unwrap();
    let (_, warnings) = Config::load_with_warnings(&path).unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].key, "rules[0].caching");
    assert_eq!(warnings[0].position.unwrap().0, line_of(&src, "caching = true"));
    assert!(warnings[0]
        .message
        .contains("WebSocket upgrades through this route fail"));
}

#[test]
fn probe_protocols_are_http_or_https_only() {
    let src = GOOD.replace(
        "name = \"chat-probe\"\nprotocol = \"http\"",
        "name = \"chat-probe\"\nprotocol = \"tcp\"",
    );
    let d = one_error(&src);
    assert_at(
        &d,
        &src,
        "protocol = \"tcp\"",
        "probes[0].protocol",
        "expected \"http\" or \"https\"",
    );
}

#[test]
fn front_door_probe_settings_are_front_door_only() {
    let src = GOOD.replace("unhealthy_threshold = 3", "sample_size = 4");
    let d = one_error(&src);
    assert_at(
        &d,
        &src,
        "sample_size = 4",
        "probes[0].sample_size",
        "front-door probe setting",
    );
    let fd = front_door(GOOD).replace(
        "match_status",
        "sample_size = 4\nsuccessful_samples_required = 5\nmatch_status",
    );
    let d = one_error(&fd);
    assert_at(
        &d,
        &fd,
        "successful_samples_required",
        "probes[0].successful_samples_required",
        "between 1 and sample_size (4)",
    );
    let threshold = GOOD.replace("\"application-gateway\"", "\"front-door\"");
    let d = one_error(&threshold);
    assert_at(
        &d,
        &threshold,
        "unhealthy_threshold",
        "probes[0].unhealthy_threshold",
        "count samples",
    );
}

#[test]
fn a_head_probe_cannot_match_a_body() {
    let fd = front_door(GOOD).replace("match_status", "match_body = \"ok\"\nmatch_status");
    let d = one_error(&fd);
    assert_at(&d, &fd, "match_body", "probes[0].match_body", "set method = \"GET\"");
    assert!(load(&fd.replace("match_body", "method = \"GET\"\nmatch_body")).is_ok());
}

#[test]
fn load_refuses_a_config_whose_certificate_files_are_missing() {
    // `check` once passed such a config; the gateway then failed at start.
    let dir = tempfile::tempdir().unwrap();
    let src = GOOD.replace(
        "protocol = \"http\"\naddress = \"127.0.0.1:8080\"",
        "protocol = \"https\"\naddress = \"127.0.0.1:8080\"\ntls_cert = \"missing-cert.pem\"\ntls_key = \"missing-key.pem\"",
    );
    let path = dir.path().join("gw.toml");
    std::fs::write(&path, &src).unwrap();
    let err = Config::load(&path).unwrap_err();
    let d = &err.diagnostics()[0];
    assert_eq!(d.key, "listeners[0].tls_cert", "{err}");
    assert_eq!(d.position.unwrap().0, line_of(&src, "tls_cert"), "{err}");
    assert!(
        d.message
            .contains("missing-cert.pem: cannot read the certificate chain"),
        "{err}"
    );
}

#[test]
fn check_warns_where_a_document_rules_a_setting_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    let src = GOOD.replace("\"application-gateway\"", "\"application-gateway-2016\"");
    std::fs::write(&path, &src).unwrap();
    let (_, warnings) = Config::load_with_warnings(&path).unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings.iter().all(|w| w.message.contains("80/443 only")),
        "{warnings:?}"
    );
    assert_eq!(warnings[0].key, "backend_pools[0].addresses[0]");
    let src = front_door(GOOD)
        .replace(
            "name = \"chat-probe\"\nprotocol = \"http\"",
            "name = \"chat-probe\"\nprotocol = \"https\"",
        )
        .replace(
            "name = \"chat-settings\"\nprotocol = \"http\"",
            "name = \"chat-settings\"\nprotocol = \"https\"\ntrusted_ca = \"ca.pem\"",
        );
    let cfg = Config::from_toml(&src, "gw.toml", PathBuf::from(".")).unwrap();
    let w = validate::warnings(&cfg);
    assert!(
        w.iter().any(|w| w.key.to_string() == "probes[0].protocol"
            && w.message
                .contains("Health probes to origins are conducted using the HTTP protocol")),
        "{w:?}"
    );
}

/// Connection draining, frontend idle timeouts and graceful maintenance
/// are held to the ranges Azure's pages give, and to the profiles that
/// have them; each mistake is located.
#[test]
fn lifecycle_settings_are_checked_against_azure_ranges() {
    let with = |after: &str, add: &str| GOOD.replace(after, &format!("{after}\n{add}"));
    let settings = "host_override = \"chat.internal\"";
    let listener = "address = \"127.0.0.1:8080\"";

    let src = with(
        settings,
        "connection_draining = { enabled = true, drain_timeout = \"2h\" }",
    );
    assert_at(
        &one_error(&src),
        &src,
        "drain_timeout = \"2h\"",
        "backend_settings[0].connection_draining.drain_timeout",
        "expected 1 to 3600 s",
    );
    let src = with(settings, "connection_draining = { enabled = true }");
    assert_at(
        &one_error(&src),
        &src,
        "connection_draining",
        "backend_settings[0].connection_draining",
        "missing `drain_timeout`",
    );
    let src = with(
        settings,
        "connection_draining = { enabled = false, drain_timeout = \"60s\" }",
    );
    assert_at(
        &one_error(&src),
        &src,
        "drain_timeout = \"60s\"",
        "backend_settings[0].connection_draining.drain_timeout",
        "applies only when `enabled = true`",
    );
    let src = front_door(&with(
        settings,
        "connection_draining = { enabled = true, drain_timeout = \"60s\" }",
    ));
    assert_at(
        &one_error(&src),
        &src,
        "connection_draining",
        "backend_settings[0].connection_draining",
        "cannot drain connections",
    );

    let src = with(listener, "frontend_idle_timeout = \"2m\"");
    assert_at(
        &one_error(&src),
        &src,
        "frontend_idle_timeout",
        "listeners[0].frontend_idle_timeout",
        "expected 4 to 30 minutes",
    );
    let src = with(listener, "frontend_ip = \"private\"\nfrontend_idle_timeout = \"10m\"");
    assert_at(
        &one_error(&src),
        &src,
        "frontend_idle_timeout",
        "listeners[0].frontend_idle_timeout",
        "fixed at 5 minutes",
    );
    let src = front_door(&with(listener, "frontend_ip = \"private\""));
    assert_at(
        &one_error(&src),
        &src,
        "frontend_ip",
        "listeners[0].frontend_ip",
        "no frontend IP to choose",
    );

    let src = GOOD.replace(
        "profile = \"application-gateway\"",
        "profile = \"application-gateway\"\nmaintenance = { drain = \"10m\", update_domains = 2 }",
    );
    assert_at(
        &one_error(&src),
        &src,
        "drain = \"10m\"",
        "maintenance.drain",
        "for up to 5 minutes",
    );
    let src = front_door(&GOOD.replace(
        "profile = \"application-gateway\"",
        "profile = \"application-gateway\"\nmaintenance = { drain = \"1m\" }",
    ));
    assert_at(
        &one_error(&src),
        &src,
        "maintenance",
        "maintenance",
        "has no graceful maintenance",
    );

    // And what the plan makes of valid ones.
    let src = with(listener, "frontend_ip = \"private\"");
    let plan = load(&with(
        settings,
        "connection_draining = { enabled = true, drain_timeout = \"60s\" }",
    ))
    .expect("valid")
    .validate()
    .expect("plan");
    assert_eq!(
        plan.backend_sets[0].settings.drain.as_ref().map(|t| t.after),
        Some(std::time::Duration::from_secs(60))
    );
    assert_eq!(
        plan.routes[0].session.frontend_idle.as_ref().map(|t| t.after),
        Some(std::time::Duration::from_secs(240)),
        "the 4-minute default"
    );
    let private = load(&src).expect("valid").validate().expect("plan");
    assert_eq!(
        private.routes[0].session.frontend_idle.as_ref().map(|t| t.after),
        Some(std::time::Duration::from_secs(300))
    );
    let fd = load(&front_door(GOOD)).expect("valid").validate().expect("plan");
    assert_eq!(fd.backend_sets[0].settings.drain, None, "front door never drains");
    assert_eq!(fd.routes[0].session.frontend_idle, None);
}
