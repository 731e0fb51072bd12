//! What a scenario needs of a target, and why it is skipped on a target
//! that lacks it. Pure.
//!
//! A target that cannot do what a scenario asks is never graded pass on
//! it: the scenario (or one expectation) is skipped with the reason, in
//! words a reader can check, such as `nginx cannot express active health
//! probes: open-source nginx has only passive checks ...`.
//!
//! - Every real-network target runs timeline actions for real, except
//!   `set-latency` (no link has a latency to set on loopback) and crashes
//!   of client hosts.
//! - nginx and HAProxy run the plan rendered into their config; what the
//!   render reports as [`Unsupported`](crate::peer::Unsupported) skips the
//!   scenarios whose outcome depends on it ([`peer_needs`]).
//! - An external gateway is one address the harness cannot restart,
//!   drain, reconfigure or cut from its backends.
//! - Expectations on the gateway's own trace need wsgate.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use gateway::config::{BackendAddr, Protocol};
use gateway::health::HealthRule;
use gateway::Plan;
use sim::Action;

use super::Target;
use crate::expect::{BackendCheck, Expect};
use crate::peer::{feature, Input, PeerKind, Policies, Ports, Unsupported};
use crate::scenario::Scenario;

/// Why `scenario` cannot run on `target`, or `None` when it can.
pub fn scenario_skip(scenario: &Scenario, target: Target) -> Option<String> {
    match target {
        Target::Sim => None,
        Target::Real => real_network(scenario, target),
        Target::Peer(kind) => real_network(scenario, target).or_else(|| peer_skip(scenario, kind)),
        Target::External => real_network(scenario, target).or_else(|| external_skip(scenario)),
    }
}

/// Why expectation `e` cannot be judged on `target`, or `None`.
pub fn expect_skip(e: &Expect, target: Target) -> Option<String> {
    if e.needs_gateway_trace() && !target.is_wsgate() {
        return Some(format!(
            "needs the gateway's own trace (its pool membership), which {target} does not give"
        ));
    }
    let probe_counting = matches!(
        e,
        Expect::Backend {
            check: BackendCheck::Probes { .. } | BackendCheck::Requests(_),
            ..
        }
    );
    if target == Target::External && probe_counting {
        return Some(
            "tells probes from requests by wsgate's probe User-Agent (wsgate-probe/1), which an external gateway's \
             probes do not send"
                .into(),
        );
    }
    None
}

/// What no real-network target can do.
fn real_network(scenario: &Scenario, target: Target) -> Option<String> {
    let groups: Vec<&String> = scenario
        .clients
        .iter()
        .map(|c| &c.script.name)
        .chain(scenario.requests.iter().map(|r| &r.script.name))
        .collect();
    scenario.timeline.iter().find_map(|(at, action)| match action {
        Action::SetLinkLatency(..) => Some(format!(
            "{target} cannot set a link's latency (`{action}` at {}): loopback links have none to set",
            secs(*at)
        )),
        Action::Crash(h) | Action::Restart(h) if groups.contains(&h) => Some(format!(
            "{target} cannot crash or restart a client host (`{action}` at {})",
            secs(*at)
        )),
        _ => None,
    })
}

fn secs(d: std::time::Duration) -> String {
    humantime::format_duration(std::time::Duration::from_millis(
        d.as_millis().try_into().unwrap_or(u64::MAX),
    ))
    .to_string()
}

/// The scenario's plan, as the peers render it.
fn plan(scenario: &Scenario) -> Result<Plan, String> {
    scenario
        .config
        .validate()
        .map_err(|issues| format!("the gateway config does not validate: {issues:?}"))
}

fn peer_skip(scenario: &Scenario, kind: PeerKind) -> Option<String> {
    let plan = match plan(scenario) {
        Ok(p) => p,
        Err(e) => return Some(e),
    };
    let gaps = match peer_gaps(kind, &plan, &Policies::from_config(&scenario.config)) {
        Ok(g) => g,
        Err(e) => return Some(format!("{kind} config cannot be rendered: {e}")),
    };
    let needs = peer_needs(scenario, &plan);
    gaps.iter().find_map(|gap| {
        needs
            .get(gap.feature)
            .map(|why| format!("{kind} cannot express {} ({why}): {}", gap.feature, gap.reason))
    })
}

/// What `kind` cannot express of `plan`: the render's own list, made with
/// placeholder ports (which change nothing of what is expressible).
pub fn peer_gaps(kind: PeerKind, plan: &Plan, policies: &Policies) -> Result<Vec<Unsupported>, String> {
    let mut ports = Ports::default();
    for (i, l) in plan.listeners.iter().enumerate() {
        ports.listeners.insert(l.name.clone(), 10_000 + i as u16);
    }
    let members: Vec<&BackendAddr> = plan
        .backend_sets
        .iter()
        .flat_map(|s| &s.members)
        .map(|m| &m.addr)
        .collect();
    for (i, addr) in members.into_iter().enumerate() {
        ports
            .backends
            .insert(addr.clone(), SocketAddr::from(([127, 0, 0, 1], 20_000 + i as u16)));
    }
    let input = Input {
        plan,
        policies,
        ports: &ports,
        dir: Path::new("/nonexistent"),
    };
    kind.render(&input).map(|r| r.unsupported).map_err(|e| e.to_string())
}

/// The peer features a scenario's outcome depends on, each with what in
/// the scenario needs it. A feature the plan has but the scenario never
/// exercises (Front Door's 4 h lifetime in a 2-minute run) is not needed.
pub fn peer_needs(scenario: &Scenario, plan: &Plan) -> BTreeMap<&'static str, String> {
    let mut needs = BTreeMap::new();
    let mut need = |feature: &'static str, why: String| {
        needs.entry(feature).or_insert(why);
    };
    if let Some(why) = probes_matter(scenario) {
        need(feature::ACTIVE_HEALTH_PROBES, why.clone());
        let windowed = plan
            .backend_sets
            .iter()
            .flat_map(|s| &s.members)
            .any(|m| matches!(m.probe.rule, HealthRule::Window { .. }));
        if windowed && health_changes(scenario) {
            need(feature::PROBE_SAMPLE_WINDOW, why);
        }
    }
    if let Some(lifetime) = plan
        .routes
        .iter()
        .filter_map(|r| r.session.lifetime.as_ref())
        .map(|t| t.after)
        .min()
        .filter(|l| *l <= scenario.duration)
    {
        need(
            feature::SESSION_LIFETIME_CAP,
            format!("a session lifetime of {} within the run", secs(lifetime)),
        );
    }
    if let Some((at, _)) = scenario.timeline.iter().find(|(_, a)| matches!(a, Action::Drain(..))) {
        need(feature::MAINTENANCE_DRAIN, format!("a drain at {}", secs(*at)));
    }
    let slow = scenario.backends.iter().any(|b| b.latency.is_some())
        || scenario.timeline.iter().any(|(_, a)| matches!(a, Action::SetDelay(..)));
    if slow && !scenario.clients.is_empty() {
        need(
            feature::UPGRADE_RESPONSE_TIMEOUT,
            "a slow backend and WebSocket clients".into(),
        );
    }
    if scenario.config.max_connections.is_some() {
        need(feature::CONNECTION_LIMIT, "max_connections".into());
    }
    if plan.routes.iter().any(|r| r.rewrite.is_some()) {
        need(feature::REWRITE_EXPRESSION, "a rewrite set".into());
    }
    // A timer too long for the peer is in the config; the peer would run
    // another one.
    need(feature::LONG_TIMER, "the configured timers".into());
    needs
}

/// Why the scenario's outcome depends on active health probes, if it does.
fn probes_matter(s: &Scenario) -> Option<String> {
    if let Some(b) = s.backends.iter().find(|b| b.health != 200) {
        return Some(format!("{} answers probes with {}", b.name, b.health));
    }
    if let Some(b) = s
        .backends
        .iter()
        .find(|b| b.health_latency.is_some() || b.websocket_only)
    {
        return Some(format!("{}'s probe answers", b.name));
    }
    if let Some((at, action)) = s.timeline.iter().find(|(_, a)| {
        matches!(
            a,
            Action::SetHealth(..) | Action::SetHealthDelay(..) | Action::SetWebSocketOnly(_)
        )
    }) {
        return Some(format!("`{action}` at {}", secs(*at)));
    }
    s.expects.iter().find_map(|e| match e {
        Expect::Backend {
            name,
            check: BackendCheck::Probes { .. } | BackendCheck::Health { .. },
            ..
        } => Some(format!("an expectation on {name}'s probes or health")),
        _ => None,
    })
}

/// Whether a backend's probe answers change in the run (or fail from the
/// start): a health verdict is then decided by the rule.
fn health_changes(s: &Scenario) -> bool {
    s.backends
        .iter()
        .any(|b| b.health != 200 || b.health_latency.is_some() || b.websocket_only)
        || s.timeline.iter().any(|(_, a)| {
            matches!(
                a,
                Action::SetHealth(..) | Action::SetHealthDelay(..) | Action::SetWebSocketOnly(_)
            )
        })
}

fn external_skip(s: &Scenario) -> Option<String> {
    if s.instances.len() > 1 {
        return Some(format!(
            "the scenario has {} gateway instances; an external gateway is one address",
            s.instances.len()
        ));
    }
    if s.config.listeners.len() > 1 {
        return Some(format!(
            "the scenario has {} listeners; an external gateway is one address",
            s.config.listeners.len()
        ));
    }
    if s.config.listeners.iter().any(|l| l.protocol == Protocol::Https) {
        return Some("the scenario's listener is https; external targets take ws:// only".into());
    }
    if s.backends.iter().any(|b| b.tls) {
        return Some(
            "the scenario's backends serve TLS with a CA the run makes, which an external gateway does not trust"
                .into(),
        );
    }
    s.timeline.iter().find_map(|(at, action)| {
        let on_gateway = match action {
            Action::Maintenance(h) | Action::Drain(h, _) | Action::Crash(h) | Action::Restart(h) => {
                s.instances.contains(h)
            }
            Action::Partition(a, b) | Action::Heal(a, b) => {
                let backend = |h: &String| s.backends.iter().any(|bk| &bk.name == h);
                (s.instances.contains(a) && backend(b)) || (s.instances.contains(b) && backend(a))
            }
            _ => false,
        };
        on_gateway.then(|| {
            format!(
                "`{action}` at {} acts on the gateway, which the harness cannot do to an external one",
                secs(*at)
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Scenario {
        crate::scenario::parse(text, Path::new("needs.toml")).expect("parses")
    }

    const HEAD: &str = r#"
name = "needs"
seed = 1
duration = "2m"
"#;

    fn scenario(profile: &str, rest: &str) -> Scenario {
        load(&format!("{HEAD}profile = \"{profile}\"\n{rest}"))
    }

    #[test]
    fn nginx_skips_what_depends_on_active_probes_and_nothing_else() {
        let nginx = Target::Peer(PeerKind::Nginx);
        let echo = scenario(
            "application-gateway",
            "[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c1\"\n",
        );
        assert_eq!(
            scenario_skip(&echo, nginx),
            None,
            "nginx has no probes, but nothing here needs them"
        );
        let failing = scenario(
            "application-gateway",
            "[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c1\"\n[[timeline]]\nat = \"30s\"\naction = \"fail-probes\"\ntarget = \"b1\"\n",
        );
        let why = scenario_skip(&failing, nginx).expect("skipped");
        assert!(
            why.starts_with("nginx cannot express active health probes (`b1 health answers 500` at 30s)"),
            "{why}"
        );
        assert_eq!(scenario_skip(&failing, Target::Peer(PeerKind::Haproxy)), None);
        assert_eq!(scenario_skip(&failing, Target::Real), None);
        assert_eq!(scenario_skip(&failing, Target::Sim), None);
    }

    #[test]
    fn front_door_lifetime_matters_only_when_the_run_reaches_it() {
        let haproxy = Target::Peer(PeerKind::Haproxy);
        let short = scenario(
            "front-door",
            "[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c1\"\n",
        );
        assert_eq!(scenario_skip(&short, haproxy), None);
        let capped = scenario(
            "front-door",
            "[gateway]\nmax_lifetime = \"30s\"\n[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c1\"\n",
        );
        let why = scenario_skip(&capped, haproxy).expect("skipped");
        assert!(
            why.starts_with("haproxy cannot express session lifetime cap (a session lifetime of 30s within the run)"),
            "{why}"
        );
    }

    #[test]
    fn front_door_sample_window_matters_when_health_changes() {
        let haproxy = Target::Peer(PeerKind::Haproxy);
        let failing = scenario(
            "front-door",
            "[[backends]]\nname = \"b1\"\nhealth = 503\n[[clients]]\nname = \"c1\"\n",
        );
        let why = scenario_skip(&failing, haproxy).expect("skipped");
        assert!(why.starts_with("haproxy cannot express probe sample window"), "{why}");
    }

    #[test]
    fn external_gateways_cannot_be_restarted_or_split() {
        let maint = scenario(
            "application-gateway",
            "[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c1\"\n[[timeline]]\nat = \"30s\"\naction = \"maintenance\"\ntarget = \"gateway\"\n",
        );
        assert_eq!(
            scenario_skip(&maint, Target::External).as_deref(),
            Some("`maintenance: restarting gateway` at 30s acts on the gateway, which the harness cannot do to an external one")
        );
        assert_eq!(scenario_skip(&maint, Target::Real), None);
        let two = scenario(
            "application-gateway",
            "[gateway]\ninstances = 2\n[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c1\"\n",
        );
        assert!(scenario_skip(&two, Target::External)
            .unwrap()
            .contains("2 gateway instances"));
        // A client's own partition from the gateway goes through a relay.
        let cut = scenario(
            "front-door",
            "[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c1\"\n[[timeline]]\nat = \"30s\"\naction = \"partition\"\ntarget = \"c1\"\nwith = \"gateway\"\n",
        );
        assert_eq!(scenario_skip(&cut, Target::External), None);
    }

    #[test]
    fn gateway_trace_expectations_need_wsgate() {
        let s = scenario(
            "application-gateway",
            "[[backends]]\nname = \"b1\"\n[[expect]]\nbackend = \"b1\"\nhealth = \"healthy\"\nat = \"10s\"\n[[expect]]\nbackend = \"b1\"\nrequests = 0\n",
        );
        let (health, requests) = (&s.expects[0], &s.expects[1]);
        assert_eq!(expect_skip(health, Target::Real), None);
        assert_eq!(expect_skip(health, Target::Sim), None);
        let why = expect_skip(health, Target::Peer(PeerKind::Haproxy)).expect("skipped");
        assert!(why.contains("gateway's own trace") && why.contains("haproxy"), "{why}");
        assert_eq!(expect_skip(requests, Target::Peer(PeerKind::Haproxy)), None);
        assert!(expect_skip(requests, Target::External)
            .unwrap()
            .contains("wsgate-probe/1"));
    }

    #[test]
    fn no_real_network_sets_a_link_latency() {
        let s = scenario(
            "application-gateway",
            "[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c1\"\n[[timeline]]\nat = \"5s\"\naction = \"set-latency\"\ntarget = \"c1\"\nwith = \"gateway\"\nlatency = \"1s\"\n",
        );
        assert_eq!(scenario_skip(&s, Target::Sim), None);
        let why = scenario_skip(&s, Target::Real).expect("skipped");
        assert!(why.starts_with("real cannot set a link's latency"), "{why}");
    }
}
