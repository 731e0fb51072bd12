//! Properties every run must hold, whatever the scenario. Pure functions over
//! a typed trace; the proptest suite generates random scenarios and checks
//! them.

use std::collections::BTreeMap;
use std::time::Duration;

use backend::BackendEvent;
use gateway::config::BackendAddr;
use gateway::event::{CloseReason, Side};
use gateway::Event;
use sim::client::{ClientEvent, CloseCause};
use sim::trace::{TraceEvent, TraceLine};
use sim::Action;

use crate::expect::view::{first_mismatch, session_data};

/// No session is routed to a backend the routing instance does not have in
/// its pool (never probed healthy, or failed since), unless
/// `all_unhealthy_uses_all` (Front Door) and no member was in the pool. An
/// instance that restarts (binds its listener again) starts over from
/// `initially_healthy`. Returns the violating lines.
pub fn no_session_to_unhealthy(
    lines: &[TraceLine],
    instances: &[String],
    members: &[BackendAddr],
    all_unhealthy_uses_all: bool,
    initially_healthy: bool,
) -> Vec<TraceLine> {
    let mut bad = Vec::new();
    for inst in instances {
        let mut healthy: BTreeMap<&BackendAddr, bool> = members.iter().map(|m| (m, initially_healthy)).collect();
        for l in lines.iter().filter(|l| &l.source == inst) {
            let TraceEvent::Gateway(event) = &l.event else { continue };
            match event {
                Event::ListenerBound { .. } => {
                    for v in healthy.values_mut() {
                        *v = initially_healthy;
                    }
                }
                Event::ProbeCompleted {
                    backend, healthy: h, ..
                } => {
                    if let Some(v) = healthy.get_mut(backend) {
                        *v = *h;
                    }
                }
                Event::RequestRouted {
                    backend, upgrade: true, ..
                } => {
                    let none_in = healthy.values().all(|h| !h);
                    let in_pool = healthy.get(backend).copied().unwrap_or(false);
                    if !(in_pool || all_unhealthy_uses_all && none_in) {
                        bad.push(l.clone());
                    }
                }
                _ => {}
            }
        }
    }
    bad
}

/// Whether a world action disrupts connections.
fn disruptive(action: &Action) -> bool {
    matches!(
        action,
        Action::Maintenance(_)
            | Action::Crash(_)
            | Action::Restart(_)
            | Action::Partition(..)
            | Action::Drain(..)
            | Action::RemoveBackend(_)
            | Action::ConfigUpdate(_)
    )
}

/// Every close a client saw is explained: by its own Close frame or
/// heartbeat, by a Close frame its backend sent, by a profile timer or
/// maintenance drop the gateway reported within `slack` before it, or by a
/// disruptive timeline event earlier in the run.
pub fn unexplained_closes(lines: &[TraceLine], slack: Duration) -> Vec<TraceLine> {
    let mut bad = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let TraceEvent::Client(ClientEvent::Closed { code, cause }) = &l.event else {
            continue;
        };
        let before = &lines[..i];
        let own_close = before
            .iter()
            .any(|p| p.source == l.source && matches!(p.event, TraceEvent::Client(ClientEvent::CloseSent { .. })));
        let server_close = before
            .iter()
            .any(|p| matches!(&p.event, TraceEvent::Backend(BackendEvent::CloseSent { code: c, .. }) if c == code));
        let timer = before.iter().any(|p| {
            l.at.saturating_sub(p.at) <= slack
                && matches!(
                    &p.event,
                    TraceEvent::Gateway(Event::SessionClosed {
                        by: Side::Gateway,
                        reason: CloseReason::IdleTimeout(_)
                            | CloseReason::Lifetime(_)
                            | CloseReason::Maintenance
                            | CloseReason::FrontendIdle(_)
                            | CloseReason::Drained { .. },
                        ..
                    })
                )
        });
        let disruption = before
            .iter()
            .any(|p| matches!(&p.event, TraceEvent::World(a) if disruptive(a)));
        let explained = match cause {
            CloseCause::PongTimeout => true,
            CloseCause::NoFrame => timer || disruption || own_close,
            CloseCause::Frame => own_close || server_close || disruption,
        };
        if !explained {
            bad.push(l.clone());
        }
    }
    bad
}

/// On a run with no disruption (no timeline event, no abnormal close),
/// every session's messages arrived byte for byte and in order, both ways.
/// Returns a description of each session that did not.
pub fn lost_or_reordered(lines: &[TraceLine]) -> Vec<String> {
    let disrupted = lines.iter().any(|l| {
        matches!(l.event, TraceEvent::World(_))
            || matches!(
                l.event,
                TraceEvent::Client(ClientEvent::Closed {
                    cause: CloseCause::NoFrame | CloseCause::PongTimeout,
                    ..
                })
            )
    });
    if disrupted {
        return Vec::new();
    }
    let mut bad = Vec::new();
    for (key, d) in session_data(lines) {
        if let Some((i, _, _)) = first_mismatch(&d.client_sent, &d.backend_received) {
            bad.push(format!("session {key}: client to backend differs at message {i}"));
        }
        if let Some((i, _, _)) = first_mismatch(&d.backend_sent, &d.client_received) {
            bad.push(format!("session {key}: backend to client differs at message {i}"));
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn line(ms: u64, source: &str, event: impl Into<TraceEvent>) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(ms),
            source: source.into(),
            event: event.into(),
        }
    }

    fn addr(s: &str) -> BackendAddr {
        BackendAddr::parse(s).unwrap()
    }

    fn probe(backend: &str, healthy: bool) -> Event {
        Event::ProbeCompleted {
            backend: addr(backend),
            result: gateway::health::ProbeResult::Success(200),
            healthy,
        }
    }

    fn routed(id: u64, backend: &str) -> Event {
        Event::RequestRouted {
            id,
            rule: "rule".into(),
            backend: addr(backend),
            upgrade: true,
            path: "/chat".into(),
        }
    }

    #[test]
    fn routing_to_a_backend_out_of_the_pool_is_caught() {
        let members = vec![addr("b1:9001"), addr("b2:9001")];
        let inst = vec!["gateway".to_string()];
        let lines = [
            line(1, "gateway", probe("b1:9001", true)),
            line(2, "gateway", routed(7, "b1:9001")),
            line(3, "gateway", routed(8, "b2:9001")),
        ];
        // b2 never passed a probe: under probe-first membership the second
        // routing is a violation; under healthy-until-proven it is not.
        assert_eq!(no_session_to_unhealthy(&lines, &inst, &members, false, false).len(), 1);
        assert!(no_session_to_unhealthy(&lines, &inst, &members, false, true).is_empty());
        let restarted = [
            line(1, "gateway", probe("b2:9001", true)),
            line(
                4,
                "gateway",
                Event::ListenerBound {
                    listener: "public".into(),
                    protocol: gateway::config::Protocol::Http,
                    addr: "0.0.0.0:80".parse().unwrap(),
                },
            ),
            line(5, "gateway", routed(1, "b2:9001")),
        ];
        assert_eq!(
            no_session_to_unhealthy(&restarted, &inst, &members, false, false).len(),
            1,
            "a restart forgets health: b2 must pass this instance's probe again"
        );
    }

    #[test]
    fn closes_need_a_cause() {
        let dropped = ClientEvent::Closed {
            code: 1006,
            cause: CloseCause::NoFrame,
        };
        let lines = [line(15_000, "c1", dropped.clone())];
        assert_eq!(unexplained_closes(&lines, Duration::from_secs(1)).len(), 1);
        let explained = [
            line(
                14_999,
                "gateway",
                Event::SessionClosed {
                    id: 1,
                    by: Side::Gateway,
                    reason: CloseReason::IdleTimeout(gateway::session::Timer::key(Duration::from_secs(15), "t")),
                    bytes_from_client: 0,
                    bytes_from_backend: 0,
                },
            ),
            line(15_000, "c1", dropped),
        ];
        assert!(unexplained_closes(&explained, Duration::from_secs(1)).is_empty());
        let own = [
            line(1, "c1", ClientEvent::CloseSent { code: 1000 }),
            line(
                2,
                "c1",
                ClientEvent::Closed {
                    code: 1000,
                    cause: CloseCause::Frame,
                },
            ),
        ];
        assert!(unexplained_closes(&own, Duration::from_secs(1)).is_empty());
        let server = [
            line(
                1,
                "b1",
                BackendEvent::CloseSent {
                    key: Arc::from("k"),
                    code: 4001,
                },
            ),
            line(
                2,
                "c1",
                ClientEvent::Closed {
                    code: 4001,
                    cause: CloseCause::Frame,
                },
            ),
        ];
        assert!(unexplained_closes(&server, Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn losses_count_only_on_undisturbed_runs() {
        let key: Arc<str> = Arc::from("k");
        let sent = ClientEvent::Sent {
            key: Arc::clone(&key),
            binary: true,
            len: 8,
            digest: 1,
        };
        let lossy = [line(1, "c1", sent)];
        assert_eq!(lost_or_reordered(&lossy).len(), 1);
        let disrupted = [
            line(0, "world", Action::Maintenance("gateway".into())),
            lossy[0].clone(),
        ];
        assert!(lost_or_reordered(&disrupted).is_empty());
    }
}
