//! Timeline entries to the world's actions, each checked against the hosts
//! the scenario has.

use std::collections::BTreeSet;
use std::time::Duration;

use ::gateway::config::KeyPath;
use sim::Action;

use super::file::{ActionName, ScenarioFile};
use super::{unknown, Issues, RESERVED};

pub(super) fn build(
    file: &ScenarioFile,
    instances: &[String],
    hosts: &BTreeSet<String>,
    issues: &mut Issues,
) -> Vec<(Duration, Action)> {
    let backend_names: Vec<&str> = file.backends.iter().map(|b| b.name.as_str()).collect();
    let real_hosts: Vec<&String> = hosts.iter().filter(|h| !RESERVED.contains(&h.as_str())).collect();
    let mut timeline = Vec::new();
    for (i, t) in file.timeline.iter().enumerate() {
        let at = KeyPath::item("timeline", i);
        let is_backend = backend_names.contains(&t.target.as_str());
        let need_backend = matches!(
            t.action,
            ActionName::FailProbes
                | ActionName::PassProbes
                | ActionName::SlowProbes
                | ActionName::WebsocketOnly
                | ActionName::SetDelay
        );
        if need_backend && !is_backend {
            issues.push((at.clone().key("target"), unknown("backend", &t.target, &backend_names)));
            continue;
        }
        let need_instance = matches!(t.action, ActionName::Maintenance | ActionName::Drain);
        if need_instance && !instances.contains(&t.target) {
            issues.push((
                at.clone().key("target"),
                unknown("gateway instance", &t.target, instances),
            ));
            continue;
        }
        if !real_hosts.iter().any(|h| **h == t.target) {
            issues.push((at.clone().key("target"), unknown("host", &t.target, &real_hosts)));
            continue;
        }
        let pair = matches!(
            t.action,
            ActionName::Partition | ActionName::Heal | ActionName::SetLatency
        );
        let other = match (&t.with, pair) {
            (Some(w), true) if real_hosts.contains(&w) => w.clone(),
            (Some(w), true) => {
                issues.push((at.clone().key("with"), unknown("host", w, &real_hosts)));
                continue;
            }
            (None, true) => {
                issues.push((at.clone(), "expected `with`: the host on the other side".into()));
                continue;
            }
            (Some(_), false) => {
                issues.push((
                    at.clone().key("with"),
                    "`with` applies to partition, heal and set-latency".into(),
                ));
                continue;
            }
            (None, false) => String::new(),
        };
        let target = t.target.clone();
        let mut needs = |value: Option<::gateway::config::Duration>, key: &str| -> Option<Duration> {
            match value {
                Some(d) => Some(d.get()),
                None => {
                    issues.push((at.clone(), format!("{} needs `{key}`", action_word(t.action))));
                    None
                }
            }
        };
        let action = match t.action {
            ActionName::FailProbes => Action::SetHealth(target, t.status.unwrap_or(500)),
            ActionName::PassProbes => Action::SetHealth(target, 200),
            ActionName::SlowProbes => match needs(t.latency, "latency") {
                Some(l) => Action::SetHealthDelay(target, l),
                None => continue,
            },
            ActionName::SetDelay => match needs(t.delay, "delay") {
                Some(d) => Action::SetDelay(target, d),
                None => continue,
            },
            ActionName::WebsocketOnly => Action::SetWebSocketOnly(target),
            ActionName::Crash => Action::Crash(target),
            ActionName::Restart => Action::Restart(target),
            ActionName::Partition => Action::Partition(target, other),
            ActionName::Heal => Action::Heal(target, other),
            ActionName::Maintenance => Action::Maintenance(target),
            ActionName::Drain => match needs(t.period, "period") {
                Some(p) if p.is_zero() || p > ::gateway::MAX_DRAIN => {
                    issues.push((
                        at.clone().key("period"),
                        "expected a drain from 1s to 1h (the admin endpoint's limit)".into(),
                    ));
                    continue;
                }
                Some(p) => Action::Drain(target, p),
                None => continue,
            },
            ActionName::SetLatency => match needs(t.latency, "latency") {
                Some(l) => Action::SetLinkLatency(target, other, l),
                None => continue,
            },
        };
        timeline.push((t.at.get(), action));
    }
    timeline
}

fn action_word(a: ActionName) -> &'static str {
    match a {
        ActionName::FailProbes => "fail-probes",
        ActionName::PassProbes => "pass-probes",
        ActionName::SlowProbes => "slow-probes",
        ActionName::WebsocketOnly => "websocket-only",
        ActionName::SetDelay => "set-delay",
        ActionName::Crash => "crash",
        ActionName::Restart => "restart",
        ActionName::Partition => "partition",
        ActionName::Heal => "heal",
        ActionName::Maintenance => "maintenance",
        ActionName::Drain => "drain",
        ActionName::SetLatency => "set-latency",
    }
}
