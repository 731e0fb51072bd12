//! Timeline entries to the world's actions, each checked against the hosts
//! the scenario has.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use ::gateway::config::{BackendAddr, KeyPath};
use ::gateway::plan::MaintenancePlan;
use ::gateway::Config;
use sim::Action;

use super::file::{ActionName, ScenarioFile};
use super::{unknown, Issues, BACKEND_PORT, RESERVED};

/// `maintenance` on `target = "all"`: every gateway instance, one update
/// domain at a time when the config has a `maintenance` section.
pub const ALL_INSTANCES: &str = "all";

/// How long an updated instance takes to come back before the next update
/// domain starts: one second, wsgate's choice (Azure moves on "only if the
/// current set of instances have been upgraded successfully").
pub const RESTART_GAP: Duration = Duration::from_secs(1);

/// Application Gateway's graceful maintenance as timed actions, from `at`:
/// for each update domain in turn, its instances leave the frontend's
/// rotation (new connections go to the others), drain for `plan.drain`,
/// restart (what is still open is dropped), and rejoin the rotation
/// [`RESTART_GAP`] later, when the next domain starts. Instance `i` (from
/// 0) is in domain `i mod update_domains`. Pure.
pub fn graceful_maintenance(at: Duration, instances: &[String], plan: MaintenancePlan) -> Vec<(Duration, Action)> {
    let domains = plan.update_domains.max(1) as usize;
    let mut out = Vec::new();
    let mut start = at;
    for domain in 0..domains {
        let members: Vec<&String> = instances
            .iter()
            .enumerate()
            .filter(|(i, _)| i % domains == domain)
            .map(|(_, h)| h)
            .collect();
        if members.is_empty() {
            continue;
        }
        for h in &members {
            out.push((start, Action::RotationOut((*h).clone())));
        }
        for h in &members {
            out.push((start + plan.drain, Action::Maintenance((*h).clone())));
        }
        for h in &members {
            out.push((start + plan.drain + RESTART_GAP, Action::RotationIn((*h).clone())));
        }
        start += plan.drain + RESTART_GAP;
    }
    out
}

pub(super) fn build(
    file: &ScenarioFile,
    instances: &[String],
    hosts: &BTreeSet<String>,
    config: &Config,
    base_dir: &Path,
    issues: &mut Issues,
) -> Vec<(Duration, Action)> {
    let backend_names: Vec<&str> = file.backends.iter().map(|b| b.name.as_str()).collect();
    let real_hosts: Vec<&String> = hosts.iter().filter(|h| !RESERVED.contains(&h.as_str())).collect();
    let mut timeline = Vec::new();
    for (i, t) in file.timeline.iter().enumerate() {
        let at = KeyPath::item("timeline", i);
        if t.config.is_some() && t.action != ActionName::ConfigUpdate {
            issues.push((at.clone().key("config"), "`config` applies to config-update".into()));
            continue;
        }
        // Actions on every gateway instance at once.
        match (t.action, t.target.as_str()) {
            (ActionName::ConfigUpdate, ALL_INSTANCES) => {
                let next = match &t.config {
                    None => None,
                    Some(rel) => match Config::load(&base_dir.join(rel)) {
                        Ok(next) if next.profile == config.profile => Some(Box::new(next)),
                        Ok(next) => {
                            issues.push((
                                at.clone().key("config"),
                                format!(
                                    "{} has profile {}, but the scenario's profile is {}",
                                    rel.display(),
                                    next.profile,
                                    config.profile
                                ),
                            ));
                            continue;
                        }
                        Err(e) => {
                            issues.push((at.clone().key("config"), e.to_string()));
                            continue;
                        }
                    },
                };
                timeline.push((t.at.get(), Action::ConfigUpdate(next)));
                continue;
            }
            (ActionName::ConfigUpdate, _) => {
                issues.push((
                    at.clone().key("target"),
                    format!(
                        "config-update applies to every instance: expected target = \"{ALL_INSTANCES}\", found `{}`",
                        t.target
                    ),
                ));
                continue;
            }
            (ActionName::Maintenance, ALL_INSTANCES) => {
                let plan = config.validate().ok().and_then(|p| p.maintenance);
                match plan {
                    Some(plan) => timeline.extend(graceful_maintenance(t.at.get(), instances, plan)),
                    None => timeline.extend(instances.iter().map(|h| (t.at.get(), Action::Maintenance(h.clone())))),
                }
                continue;
            }
            (ActionName::RemoveBackend | ActionName::AddBackend, name) => {
                let Some(b) = file.backends.iter().find(|b| b.name == name) else {
                    issues.push((at.clone().key("target"), unknown("backend", name, &backend_names)));
                    continue;
                };
                let addr = BackendAddr {
                    host: b.name.clone(),
                    port: b.port.unwrap_or(BACKEND_PORT),
                };
                let action = if t.action == ActionName::RemoveBackend {
                    Action::RemoveBackend(addr)
                } else {
                    Action::AddBackend(addr)
                };
                timeline.push((t.at.get(), action));
                continue;
            }
            _ => {}
        }
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
            // Handled above, before the host checks.
            ActionName::RemoveBackend | ActionName::AddBackend | ActionName::ConfigUpdate => continue,
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
        ActionName::RemoveBackend => "remove-backend",
        ActionName::AddBackend => "add-backend",
        ActionName::ConfigUpdate => "config-update",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("gateway-{i}")).collect()
    }

    #[test]
    fn graceful_maintenance_goes_one_update_domain_at_a_time() {
        let plan = MaintenancePlan {
            drain: Duration::from_secs(300),
            update_domains: 2,
        };
        let s = Duration::from_secs;
        let steps = graceful_maintenance(s(60), &hosts(3), plan);
        let expected = vec![
            // Domain 0: instances 1 and 3.
            (s(60), Action::RotationOut("gateway-1".into())),
            (s(60), Action::RotationOut("gateway-3".into())),
            (s(360), Action::Maintenance("gateway-1".into())),
            (s(360), Action::Maintenance("gateway-3".into())),
            (s(361), Action::RotationIn("gateway-1".into())),
            (s(361), Action::RotationIn("gateway-3".into())),
            // Domain 1 starts when domain 0 is back.
            (s(361), Action::RotationOut("gateway-2".into())),
            (s(661), Action::Maintenance("gateway-2".into())),
            (s(662), Action::RotationIn("gateway-2".into())),
        ];
        assert_eq!(steps, expected);
    }

    #[test]
    fn one_domain_updates_every_instance_together() {
        let plan = MaintenancePlan {
            drain: Duration::from_secs(10),
            update_domains: 1,
        };
        let steps = graceful_maintenance(Duration::ZERO, &hosts(2), plan);
        assert_eq!(steps.len(), 6);
        assert!(steps[..2]
            .iter()
            .all(|(at, a)| at.is_zero() && matches!(a, Action::RotationOut(_))));
    }
}
