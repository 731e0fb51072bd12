//! Scenario files with mistakes: each is reported as path:line:column, the
//! key, what was expected, and for a misspelt key the closest valid one.

use std::path::Path;

use proptest::prelude::*;

use super::*;

const GOOD: &str = r#"name = "idle"
requirements = ["AGW-TIMEOUT-1"]
profile = "application-gateway"
seed = 1
duration = "1m"

[[gateway.backend_settings]]
name = "settings"
request_timeout = "15s"

[[backends]]
name = "b1"

[[clients]]
name = "c1"
ping_interval = "20s"

[[timeline]]
at = "30s"
action = "fail-probes"
target = "b1"

[[expect]]
client = "c1"
closed = 1006
between = ["16s", "16.1s"]
"#;

fn one_error(src: &str) -> Diagnostic {
    match parse(src, Path::new("scenarios/x.toml")) {
        Ok(_) => panic!("expected an error"),
        Err(ScenarioError::Invalid(d)) => {
            assert_eq!(d.len(), 1, "{d:?}");
            d[0].clone()
        }
        Err(e) => panic!("{e}"),
    }
}

fn line_of(src: &str, needle: &str) -> usize {
    src[..src.find(needle).unwrap()].matches('\n').count() + 1
}

#[test]
fn the_example_loads() {
    let s = parse(GOOD, Path::new("scenarios/x.toml")).unwrap();
    assert_eq!(s.instances, ["gateway"]);
    assert_eq!(s.config.backend_pools[0].addresses, ["b1:80"]);
    assert_eq!(s.clients[0].script.ping_interval, Some(Duration::from_secs(20)));
    assert_eq!(
        s.timeline,
        [(Duration::from_secs(30), Action::SetHealth("b1".into(), 500))]
    );
}

#[test]
fn a_misspelt_key_suggests_the_right_one() {
    let src = GOOD.replace("requirements =", "requirments =");
    let d = one_error(&src);
    assert_eq!(d.position.unwrap().0, line_of(&src, "requirments"));
    assert_eq!(d.key, "requirments");
    assert!(d.message.contains("unknown key `requirments`"), "{d}");
    assert!(d.message.ends_with("did you mean `requirements`?"), "{d}");
    assert!(d.to_string().starts_with("scenarios/x.toml:2:1: "), "{d}");
}

#[test]
fn a_misspelt_nested_key_and_action_suggest_too() {
    let src = GOOD.replace("ping_interval", "ping_intervall");
    let d = one_error(&src);
    assert_eq!(d.key, "clients[0].ping_intervall");
    assert!(d.message.ends_with("did you mean `ping_interval`?"), "{d}");
    let src = GOOD.replace("\"fail-probes\"", "\"fail-probe\"");
    let d = one_error(&src);
    assert_eq!(d.key, "timeline[0].action");
    assert!(d.message.ends_with("did you mean \"fail-probes\"?"), "{d}");
}

#[test]
fn syntax_errors_are_located() {
    let src = GOOD.replace("seed = 1", "seed = ");
    let d = one_error(&src);
    assert_eq!(d.position.unwrap().0, line_of(&src, "seed = "));
}

#[test]
fn wrong_types_are_located() {
    let src = GOOD.replace("seed = 1", "seed = \"one\"");
    let d = one_error(&src);
    assert_eq!((d.key.as_str(), d.position.unwrap().0), ("seed", 4));
    assert!(
        d.message
            .contains("expected a whole number of 0 or more, found the text \"one\""),
        "{d}"
    );
}

#[test]
fn bad_durations_are_located() {
    let src = GOOD.replace("\"20s\"", "\"twenty\"");
    let d = one_error(&src);
    assert_eq!(d.key, "clients[0].ping_interval");
    assert!(d.message.contains("expected a duration"), "{d}");
}

#[test]
fn unknown_backend_names_list_the_known_ones() {
    let src = GOOD.replace("target = \"b1\"", "target = \"b9\"");
    let d = one_error(&src);
    assert_eq!(d.key, "timeline[0].target");
    assert_eq!(d.position.unwrap().0, line_of(&src, "target = \"b9\""));
    assert!(d.message.contains("unknown backend `b9`; expected one of `b1`"), "{d}");
}

#[test]
fn unknown_client_in_an_expectation() {
    let src = GOOD.replace("client = \"c1\"", "client = \"c2\"");
    let d = one_error(&src);
    assert_eq!(d.key, "expect[0].client");
    assert!(d.message.contains("unknown client `c2`"), "{d}");
}

#[test]
fn an_expectation_needs_exactly_one_kind() {
    let src = GOOD.replace("closed = 1006", "closed = 1006\nnever_closed = true");
    let d = one_error(&src);
    assert_eq!(d.key, "expect[0]");
    assert!(d.message.contains("expected exactly one of"), "{d}");
}

#[test]
fn gateway_config_errors_point_into_the_gateway_section() {
    let src = GOOD.replace("request_timeout = \"15s\"", "request_timeout = \"0s\"");
    let d = one_error(&src);
    assert_eq!(d.key, "gateway.backend_settings[0].request_timeout");
    assert_eq!(d.position.unwrap().0, line_of(&src, "request_timeout"));
}

#[test]
fn every_error_in_a_file_is_reported_in_file_order() {
    let src = GOOD
        .replace("seed = 1", "seed = \"one\"")
        .replace("ping_interval", "ping_intervall")
        .replace("\"fail-probes\"", "\"fail-probe\"");
    let err = match parse(&src, Path::new("scenarios/x.toml")) {
        Err(ScenarioError::Invalid(d)) => d,
        other => panic!("expected errors, got {other:?}"),
    };
    let keys: Vec<&str> = err.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        ["seed", "clients[0].ping_intervall", "timeline[0].action"],
        "{err:?}"
    );
}

#[test]
fn a_gateway_key_in_the_wrong_section_is_sent_home() {
    let src = GOOD.replace(
        "[[gateway.backend_settings]]",
        "[gateway]\nmax_lifetme = \"1h\"\n\n[[gateway.backend_settings]]",
    );
    let d = one_error(&src);
    assert_eq!(d.key, "gateway.max_lifetme");
    assert!(d.message.contains("did you mean `max_lifetime`?"), "{d}");
    let src = GOOD.replace("duration = \"1m\"", "duration = \"1m\"\nrequest_timeout = \"5s\"");
    let d = one_error(&src);
    assert!(
        d.message
            .contains("`request_timeout` belongs in [[gateway.backend_settings]]"),
        "{d}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever a file holds, loading it returns a result and never panics.
    #[test]
    fn no_file_panics_the_loader(cut in 0usize..GOOD.len(), junk in "[ -~\n]{0,40}") {
        let mut text = GOOD.to_string();
        let cut = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.insert_str(cut, &junk);
        let _ = parse(&text, Path::new("fuzz.toml"));
    }
}
