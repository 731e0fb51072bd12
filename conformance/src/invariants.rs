//! Properties every run must hold, whatever the scenario. Pure functions over
//! a trace; the proptest suite generates random scenarios and checks them.

use std::collections::BTreeMap;
use std::time::Duration;

use sim::trace::TraceLine;

use crate::expect::{code_of, echoed_all_in_order};

/// No session is routed to a backend while the routing instance has it
/// marked unhealthy, unless `all_unhealthy_uses_all` (Front Door) and every
/// member was unhealthy then. An instance that restarts (binds its listener
/// again) starts over with no health knowledge. Returns the violating lines.
pub fn no_session_to_unhealthy(
    lines: &[TraceLine],
    instances: &[String],
    members: &[String],
    all_unhealthy_uses_all: bool,
) -> Vec<TraceLine> {
    let mut bad = Vec::new();
    for inst in instances {
        let mut unhealthy: BTreeMap<&str, bool> = BTreeMap::new();
        for l in lines.iter().filter(|l| &l.source == inst) {
            if l.event.starts_with("listener ") && l.event.contains(" bound ") {
                unhealthy.clear();
            }
            if let Some(rest) = l.event.strip_prefix("backend ") {
                if let Some((addr, what)) = rest.split_once(' ') {
                    if let Some(m) = members.iter().find(|m| m.as_str() == addr) {
                        unhealthy.insert(m.as_str(), what.starts_with("unhealthy"));
                    }
                }
            }
            if l.event.contains(" upgrade ") && l.event.contains(" routed by ") {
                let target = l.event.rsplit(" to ").next().unwrap_or("");
                let all_out = members
                    .iter()
                    .all(|m| unhealthy.get(m.as_str()).copied().unwrap_or(false));
                if unhealthy.get(target).copied().unwrap_or(false) && !(all_unhealthy_uses_all && all_out) {
                    bad.push(l.clone());
                }
            }
        }
    }
    bad
}

/// Every close a client saw is explained: by its own Close frame, by a
/// profile timer or maintenance drop the gateway reported within `slack`
/// before it, or by a disruptive timeline event earlier in the run.
pub fn unexplained_closes(lines: &[TraceLine], slack: Duration) -> Vec<TraceLine> {
    let mut bad = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(code) = code_of(&l.event) else { continue };
        let before = &lines[..i];
        let own_close = before
            .iter()
            .any(|p| p.source == l.source && p.event.starts_with("sent close"));
        let timer = before.iter().any(|p| {
            l.at.saturating_sub(p.at) <= slack
                && p.event.contains("session closed by gateway (")
                && ["idle timeout", "lifetime reached", "maintenance"]
                    .iter()
                    .any(|w| p.event.contains(w))
        });
        let disruption = before.iter().any(|p| {
            p.source == "world"
                && ["maintenance", "crash", "partition", "restart"]
                    .iter()
                    .any(|w| p.event.starts_with(w))
        });
        let explained = match code {
            1006 => timer || disruption || own_close,
            _ => own_close || disruption,
        };
        if !explained {
            bad.push(l.clone());
        }
    }
    bad
}

/// On a run with no disruption (no timeline event, no abnormal close), every
/// message was echoed and in order. Returns the offending summaries.
pub fn lost_or_reordered(lines: &[TraceLine]) -> Vec<TraceLine> {
    let disrupted = lines
        .iter()
        .any(|l| l.source == "world" || code_of(&l.event) == Some(1006));
    if disrupted {
        return Vec::new();
    }
    lines
        .iter()
        .filter(|l| l.event.starts_with("echoed "))
        .filter(|l| !echoed_all_in_order(&l.event))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ms: u64, source: &str, event: &str) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(ms),
            source: source.into(),
            event: event.into(),
        }
    }

    #[test]
    fn routing_to_an_unhealthy_member_is_caught() {
        let members = vec!["b1:9001".to_string(), "b2:9001".to_string()];
        let inst = vec!["gateway".to_string()];
        let lines = [
            line(
                1,
                "gateway",
                "backend b2:9001 unhealthy after 3 failures (last: status 500)",
            ),
            line(2, "gateway", "#7 upgrade /chat routed by rule to b1:9001"),
            line(3, "gateway", "#8 upgrade /chat routed by rule to b2:9001"),
        ];
        assert_eq!(no_session_to_unhealthy(&lines, &inst, &members, false).len(), 1);
        let restarted = [
            lines[0].clone(),
            line(4, "gateway", "listener public bound http://0.0.0.0:80"),
            line(5, "gateway", "#1 upgrade /chat routed by rule to b2:9001"),
        ];
        assert!(
            no_session_to_unhealthy(&restarted, &inst, &members, false).is_empty(),
            "a restart forgets health"
        );
    }

    #[test]
    fn closes_need_a_cause() {
        let lines = [line(15_000, "c1", "closed code=1006 (no close frame)")];
        assert_eq!(unexplained_closes(&lines, Duration::from_secs(1)).len(), 1);
        let explained = [
            line(
                14_999,
                "gateway",
                "#1 session closed by gateway (idle timeout) client->backend=0B backend->client=0B",
            ),
            line(15_000, "c1", "closed code=1006 (no close frame)"),
        ];
        assert!(unexplained_closes(&explained, Duration::from_secs(1)).is_empty());
        let own = [line(1, "c1", "sent close 1000"), line(2, "c1", "closed code=1000")];
        assert!(unexplained_closes(&own, Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn losses_count_only_on_healthy_paths() {
        let lossy = [line(1, "c1", "echoed 2 of 3 messages, in order")];
        assert_eq!(lost_or_reordered(&lossy).len(), 1);
        let disrupted = [line(0, "world", "maintenance: restarting gateway"), lossy[0].clone()];
        assert!(lost_or_reordered(&disrupted).is_empty());
    }
}
