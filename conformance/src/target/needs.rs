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
//! - nginx and HAProxy run as one process each, which the harness can
//!   restart but not reload: `remove-backend`, `add-backend` and
//!   `config-update` skip there ([`peer_action_skip`]).
//! - An external gateway is one address the harness cannot restart,
//!   drain, reconfigure or cut from its backends.
//! - Expectations on the gateway's own trace need wsgate.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use gateway::config::{routing, BackendAddr, Protocol};
use gateway::health::HealthRule;
use gateway::Plan;
use sim::Action;

use super::Target;
use crate::expect::{BackendCheck, ClientCheck, Expect};
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

/// The first backend whose probes answer late on purpose (`health_latency`,
/// or a `set-health-delay` on the timeline): the scenario means its origins
/// to be unequally near. Pure.
pub fn late_probes(scenario: &Scenario) -> Option<String> {
    scenario
        .backends
        .iter()
        .find(|b| b.health_latency.is_some())
        .map(|b| b.name.clone())
        .or_else(|| {
            scenario.timeline.iter().find_map(|(_, a)| match a {
                Action::SetHealthDelay(b, _) => Some(b.clone()),
                _ => None,
            })
        })
}

/// What no real-network target can do.
fn real_network(scenario: &Scenario, target: Target) -> Option<String> {
    let windowed = scenario
        .config
        .backend_pools
        .iter()
        .any(|p| p.latency_sensitivity.is_some());
    if let (true, Some(late)) = (windowed, late_probes(scenario)) {
        return Some(format!(
            "{target} cannot keep the latency window's outcome: it compares measured probe round trips \
             (`{late}` answers probes late) with latency_sensitivity, and on loopback in scaled wall time the \
             first probes race the first clients and scheduling noise is of the same order as the delays"
        ));
    }
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
    if let Some(why) = peer_action_skip(scenario, kind) {
        return Some(why);
    }
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

/// Why a timeline action that changes a running gateway's configuration
/// cannot be done to peer `kind`, if the scenario has one. The harness
/// runs each peer as one process with no master (nginx `master_process
/// off`, HAProxy without master-worker mode), so it can restart a peer
/// (`maintenance`, `crash`, `restart`) but not reload it in place.
pub fn peer_action_skip(scenario: &Scenario, kind: PeerKind) -> Option<String> {
    scenario.timeline.iter().find_map(|(at, action)| {
        let why = match (action, kind) {
            (Action::RemoveBackend(_) | Action::AddBackend(_), PeerKind::Nginx) => {
                "open-source nginx changes an upstream's members only by reloading its configuration (the upstream \
                 API is NGINX Plus), and the harness runs nginx without a master process, which cannot reload"
            }
            (Action::RemoveBackend(_) | Action::AddBackend(_), PeerKind::Haproxy) => {
                "the harness does not drive HAProxy's runtime API to take a server out (`set server ... state \
                 maint`); HAProxy would also need an outside timer to close a removed server's sessions after \
                 the drain, which it has no setting for"
            }
            (Action::ConfigUpdate(_), PeerKind::Nginx) => {
                "a configuration push is a reload for nginx, and the harness runs nginx without a master process \
                 (`master_process off`), which cannot reload in place"
            }
            (Action::ConfigUpdate(_), PeerKind::Haproxy) => {
                "a configuration push is a reload for HAProxy, and the harness runs HAProxy as one process without \
                 master-worker mode, which cannot reload in place"
            }
            _ => return None,
        };
        Some(format!("{kind} cannot take `{action}` at {}: {why}", secs(*at)))
    })
}

/// The shortest time from a restart of a gateway instance (`maintenance`
/// or `restart` on it) to the scenario's next event: a later timeline
/// action, a client or request group's start, the next request of a
/// periodic request group, or the next reopen of a client group that
/// closes and reopens (taken as periodic from its start, which is close
/// enough for a bound), or the time an expectation gives a client to
/// reconnect (`reconnected_within`), which a restart's wall time counts
/// against. `None` without restarts or with nothing after them. Pure.
pub fn after_restart(scenario: &Scenario) -> Option<Duration> {
    let restarts: Vec<Duration> = scenario
        .timeline
        .iter()
        .filter_map(|(at, a)| match a {
            Action::Maintenance(h) | Action::Restart(h) if scenario.instances.contains(h) => Some(*at),
            _ => None,
        })
        .collect();
    if restarts.is_empty() {
        return None;
    }
    let reconnects = scenario.expects.iter().filter_map(|e| match e {
        Expect::Client {
            check: ClientCheck::ReconnectedWithin(d),
            ..
        } => Some(*d),
        _ => None,
    });
    restarts
        .iter()
        .filter_map(|&t| {
            let timeline = scenario.timeline.iter().map(|(at, _)| Some(*at));
            let clients = scenario.clients.iter().flat_map(|c| {
                let s = &c.script;
                let cycle = s.close_after.zip(s.reopen_after).map(|(a, b)| a + b);
                [Some(s.start), cycle.and_then(|p| next_of(s.start, p, usize::MAX, t))]
            });
            let requests = scenario.requests.iter().flat_map(|r| {
                [
                    Some(r.script.start),
                    r.script
                        .every
                        .and_then(|e| next_of(r.script.start, e, r.script.count, t)),
                ]
            });
            timeline
                .chain(clients)
                .chain(requests)
                .flatten()
                .filter(|u| *u > t)
                .map(|u| u - t)
                .min()
        })
        .chain(reconnects)
        .min()
}

/// The first of `count` moments `start + i × every` after `t`.
fn next_of(start: Duration, every: Duration, count: usize, t: Duration) -> Option<Duration> {
    if every.is_zero() {
        return None;
    }
    let i = if t < start {
        0
    } else {
        (t - start).as_nanos() / every.as_nanos() + 1
    };
    let i = usize::try_from(i).ok().filter(|i| *i < count)?;
    let i = u32::try_from(i).ok()?;
    start.checked_add(every.checked_mul(i)?)
}

/// The shortest session idle timer `plan` runs on a peer
/// ([`crate::peer::idle_timer`]). Pure.
pub fn shortest_idle(plan: &Plan) -> Option<Duration> {
    plan.routes
        .iter()
        .filter_map(|r| crate::peer::idle_timer(&r.session))
        .min()
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
    let served = |a: &BackendAddr| scenario.backends.iter().any(|b| b.name == a.host && b.port == a.port);
    if let Some(m) = plan
        .backend_sets
        .iter()
        .flat_map(|s| &s.members)
        .find(|m| !served(&m.addr))
    {
        need(
            feature::ACTIVE_HEALTH_PROBES,
            format!(
                "nothing serves pool member {}, and only probes keep it out of the pool",
                m.addr
            ),
        );
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
    if let Some(set) = plan.backend_sets.iter().find(|s| s.affinity.is_some()) {
        need(
            feature::COOKIE_AFFINITY,
            format!("cookie affinity on pool `{}`", set.pool),
        );
    }
    let shaped = plan
        .backend_sets
        .iter()
        .flat_map(|s| &s.members)
        .find(|m| m.priority != routing::DEFAULT_PRIORITY || m.weight != routing::DEFAULT_WEIGHT || !m.enabled);
    if let Some(m) = shaped {
        need(
            feature::ORIGIN_ROUTING,
            format!(
                "origin {} with priority {}, weight {}{}",
                m.addr,
                m.priority,
                m.weight,
                if m.enabled { "" } else { ", disabled" }
            ),
        );
    }
    let windowed = plan.backend_sets.iter().any(|s| s.latency_sensitivity.is_some());
    if windowed && scenario.backends.iter().any(|b| b.health_latency.is_some()) {
        need(
            feature::ORIGIN_ROUTING,
            "origins whose probes answer at different speeds, for the latency window".into(),
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
            Action::RemoveBackend(_) | Action::AddBackend(_) | Action::ConfigUpdate(_) => true,
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
    fn a_pool_member_nothing_serves_needs_active_probes() {
        let s = scenario(
            "application-gateway",
            "[[gateway.backend_pools]]\nname = \"pool\"\naddresses = [\"b1:80\", \"b2:8080\"]\n[[backends]]\nname = \"b1\"\n[[backends]]\nname = \"b2\"\n[[clients]]\nname = \"c\"\n",
        );
        let why = scenario_skip(&s, Target::Peer(PeerKind::Nginx)).expect("skipped");
        assert!(
            why.starts_with("nginx cannot express active health probes (nothing serves pool member b2:8080"),
            "{why}"
        );
        assert_eq!(scenario_skip(&s, Target::Peer(PeerKind::Haproxy)), None);
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
    fn configuration_changes_run_on_wsgate_only() {
        for action in [
            "action = \"remove-backend\"\ntarget = \"b1\"",
            "action = \"add-backend\"\ntarget = \"b1\"",
            "action = \"config-update\"\ntarget = \"all\"",
        ] {
            let s = scenario(
                "application-gateway",
                &format!(
                    "[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c1\"\n[[timeline]]\nat = \"30s\"\n{action}\n"
                ),
            );
            assert_eq!(scenario_skip(&s, Target::Real), None, "{action}");
            assert_eq!(scenario_skip(&s, Target::Sim), None, "{action}");
            for kind in PeerKind::ALL {
                let why = scenario_skip(&s, Target::Peer(kind)).expect("skipped");
                assert!(why.starts_with(&format!("{kind} cannot take `")), "{why}");
                assert!(why.contains("at 30s: "), "{why}");
            }
            let why = scenario_skip(&s, Target::External).expect("skipped");
            assert!(
                why.ends_with("acts on the gateway, which the harness cannot do to an external one"),
                "{why}"
            );
        }
    }

    #[test]
    fn graceful_maintenance_runs_wherever_instances_restart() {
        let s = scenario(
            "application-gateway",
            "[gateway]\ninstances = 2\nmaintenance = { drain = \"20s\", update_domains = 2 }\n[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c1\"\ngateway = \"any\"\n[[timeline]]\nat = \"30s\"\naction = \"maintenance\"\ntarget = \"all\"\n",
        );
        assert_eq!(scenario_skip(&s, Target::Real), None);
        for kind in PeerKind::ALL {
            assert_eq!(scenario_skip(&s, Target::Peer(kind)), None, "{kind}");
        }
        assert!(scenario_skip(&s, Target::External)
            .expect("skipped")
            .contains("2 gateway instances"));
    }

    #[test]
    fn the_gap_after_a_restart_is_to_the_next_event() {
        let s = scenario(
            "application-gateway",
            "[gateway]\ninstances = 2\n[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"early\"\n[[clients]]\nname = \"late\"\nstart = \"61s\"\n[[timeline]]\nat = \"60s\"\naction = \"maintenance\"\ntarget = \"gateway-1\"\n[[timeline]]\nat = \"63s\"\naction = \"crash\"\ntarget = \"b1\"\n",
        );
        assert_eq!(after_restart(&s), Some(Duration::from_secs(1)));
        let none = scenario(
            "application-gateway",
            "[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c\"\n[[timeline]]\nat = \"60s\"\naction = \"crash\"\ntarget = \"b1\"\n",
        );
        assert_eq!(after_restart(&none), None, "a backend crash is no instance restart");
        let periodic = scenario(
            "application-gateway",
            "[[backends]]\nname = \"b1\"\n[[requests]]\nname = \"r\"\ncount = 10\nstart = \"2s\"\nevery = \"5s\"\n[[timeline]]\nat = \"20s\"\naction = \"maintenance\"\ntarget = \"gateway\"\n",
        );
        assert_eq!(
            after_restart(&periodic),
            Some(Duration::from_secs(2)),
            "the request at 22 s"
        );
        let reconnect = scenario(
            "application-gateway",
            "[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c\"\n[[timeline]]\nat = \"20s\"\naction = \"maintenance\"\ntarget = \"gateway\"\n[[expect]]\nclient = \"c\"\nreconnected_within = \"1.5s\"\n",
        );
        assert_eq!(after_restart(&reconnect), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn periodic_moments_come_after_t_and_stop_at_count() {
        let s = Duration::from_secs;
        assert_eq!(next_of(s(2), s(5), 10, s(20)), Some(s(22)));
        assert_eq!(next_of(s(2), s(5), 10, s(22)), Some(s(27)), "strictly after");
        assert_eq!(next_of(s(2), s(5), 10, s(0)), Some(s(2)));
        assert_eq!(next_of(s(2), s(5), 4, s(20)), None, "the 4 requests end at 17 s");
        assert_eq!(next_of(s(2), Duration::ZERO, 4, s(20)), None);
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
