//! Random scenarios, checked against invariants every run must hold:
//! - no session reaches a backend the routing instance has not got in its
//!   pool (never passed a probe, failed since, or an instance restarted);
//! - every client close is explained by a scripted event or a profile timer;
//! - no message is lost or reordered on a healthy path.
//!
//! Scenarios are generated as scenario-file text, so the parser is exercised
//! too.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::Path;
use std::time::Duration;

use conformance::{invariants, run, scenario};
use proptest::prelude::*;

fn scenario_text(
    profile: &str,
    seed: u64,
    idle: u64,
    ping: Option<u64>,
    fail_at: Option<u64>,
    drop_at: Option<u64>,
    msg: Option<u64>,
) -> String {
    let mut t = format!(
        "name = \"generated\"\nprofile = \"{profile}\"\nseed = {seed}\nduration = \"4m\"\ntick = \"100ms\"\n\n\
         [gateway]\nidle_timeout = \"{idle}s\"\n\n[[backends]]\nname = \"b1\"\n\n[[backends]]\nname = \"b2\"\n\n\
         [[clients]]\nname = \"c\"\ncount = 3\n"
    );
    if let Some(p) = ping {
        t.push_str(&format!("ping_interval = \"{p}s\"\n"));
    }
    if let Some(m) = msg {
        t.push_str(&format!("messages = {{ every = \"{m}s\", size = 32 }}\n"));
    }
    t.push_str("retry = { initial = \"1s\", max = \"5s\", jitter = 0.5, attempt_timeout = \"2s\" }\n");
    t.push_str("\n[[clients]]\nname = \"fresh\"\nclose_after = \"2s\"\nreopen_after = \"3s\"\n");
    if let Some(at) = fail_at {
        t.push_str(&format!(
            "\n[[timeline]]\nat = \"{at}s\"\naction = \"fail-probes\"\ntarget = \"b2\"\n"
        ));
    }
    if let Some(at) = drop_at {
        t.push_str(&format!(
            "\n[[timeline]]\nat = \"{at}s\"\naction = \"maintenance\"\ntarget = \"gateway\"\n"
        ));
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    #[test]
    fn random_scenarios_hold_the_invariants(
        profile in prop::sample::select(vec!["application-gateway", "application-gateway-2016", "front-door"]),
        seed in any::<u64>(),
        idle in 5u64..90,
        ping in prop::option::of(3u64..60),
        fail_at in prop::option::of(10u64..200),
        drop_at in prop::option::of(10u64..200),
        msg in prop::option::of(1u64..20),
    ) {
        let text = scenario_text(profile, seed, idle, ping, fail_at, drop_at, msg);
        let scenario = scenario::parse(&text, Path::new("generated.toml")).unwrap();
        let outcome = run::run(&scenario, seed);
        prop_assert!(outcome.error.is_none(), "{:?}\n{text}", outcome.error);
        let lines = &outcome.lines;

        let members: Vec<gateway::config::BackendAddr> = run::context(&scenario).backend_addrs.into_values().collect();
        let routed = invariants::no_session_to_unhealthy(
            lines,
            &scenario.instances,
            &members,
            profile == "front-door",
            scenario.initially_healthy(),
        );
        prop_assert!(routed.is_empty(), "sessions routed to an unhealthy backend: {routed:?}\n{text}");

        // A timer close reaches the client within a few ticks.
        let unexplained = invariants::unexplained_closes(lines, Duration::from_millis(500));
        prop_assert!(unexplained.is_empty(), "unexplained closes: {unexplained:?}\n{text}\n{}", outcome.trace());

        let lost = invariants::lost_or_reordered(lines);
        prop_assert!(lost.is_empty(), "lost or reordered messages: {lost:?}\n{text}");
    }
}
