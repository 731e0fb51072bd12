//! Time scaling: a scenario of hours, run on a real network in seconds.
//!
//! [`Scenario::time_scaled`] divides every duration the harness owns by
//! `k`: the run's length, tick and link latency, each client's and
//! request's schedule, backends' delays and session scripts, the timeline
//! (when and how long), and every expectation's time bounds. The gateway's
//! own timers live in its plan and are divided by
//! [`gateway::Plan::time_scaled`] where a target builds the plan, so
//! [`Scenario::config`], and a configuration a `config-update` pushes,
//! stay as written. Pure.

use std::time::Duration;

use sim::client::Backoff;
use sim::script::{ClientScript, Messages, RequestScript};
use sim::Action;

use super::{BackendSpec, Scenario};
use crate::expect::{BackendCheck, ClientCheck, Expect, Window};

/// `d / k`.
fn div(d: Duration, k: f64) -> Duration {
    d.div_f64(k)
}

fn div_opt(d: Option<Duration>, k: f64) -> Option<Duration> {
    d.map(|d| div(d, k))
}

fn window(w: Option<Window>, k: f64) -> Option<Window> {
    w.map(|(a, b)| (div(a, k), div(b, k)))
}

impl Scenario {
    /// The scenario with every duration divided by `k` (see the module
    /// docs). `k` must be finite and positive; anything else returns the
    /// scenario unchanged.
    pub fn time_scaled(&self, k: f64) -> Scenario {
        if !(k.is_finite() && k > 0.0) {
            return self.clone();
        }
        let mut s = self.clone();
        s.duration = div(s.duration, k);
        s.tick = div(s.tick, k);
        s.latency = div(s.latency, k);
        for b in &mut s.backends {
            scale_backend(b, k);
        }
        for c in &mut s.clients {
            scale_client(&mut c.script, k);
        }
        for r in &mut s.requests {
            scale_request(&mut r.script, k);
        }
        s.timeline = s
            .timeline
            .iter()
            .map(|(at, action)| (div(*at, k), scale_action(action, k)))
            .collect();
        s.expects = s.expects.iter().map(|e| scale_expect(e, k)).collect();
        s
    }
}

fn scale_backend(b: &mut BackendSpec, k: f64) {
    b.latency = div_opt(b.latency, k);
    b.health_latency = div_opt(b.health_latency, k);
    let script = &mut b.script;
    if let Some(p) = &mut script.push {
        p.every = div(p.every, k);
    }
    script.ping_interval = div_opt(script.ping_interval, k);
    if let Some(c) = &mut script.close {
        c.after = div(c.after, k);
    }
}

fn scale_backoff(b: &Backoff, k: f64) -> Backoff {
    Backoff {
        initial: div(b.initial, k),
        max: div(b.max, k),
        attempt_timeout: div(b.attempt_timeout, k),
        ..*b
    }
}

fn scale_client(c: &mut ClientScript, k: f64) {
    c.start = div(c.start, k);
    c.ping_interval = div_opt(c.ping_interval, k);
    c.pong_timeout = div_opt(c.pong_timeout, k);
    c.messages = c.messages.as_ref().map(|m| Messages {
        every: div(m.every, k),
        payload: m.payload.clone(),
    });
    c.close_after = div_opt(c.close_after, k);
    c.reopen_after = div_opt(c.reopen_after, k);
    c.retry = c.retry.as_ref().map(|b| scale_backoff(b, k));
    c.stop_at = div(c.stop_at, k);
}

fn scale_request(r: &mut RequestScript, k: f64) {
    r.start = div(r.start, k);
    r.every = div_opt(r.every, k);
    r.timeout = div(r.timeout, k);
    r.stop_at = div(r.stop_at, k);
}

/// Every variant is named, so a new action with a duration cannot be left
/// unscaled by accident.
fn scale_action(action: &Action, k: f64) -> Action {
    match action {
        Action::SetDelay(h, d) => Action::SetDelay(h.clone(), div(*d, k)),
        Action::SetHealthDelay(h, d) => Action::SetHealthDelay(h.clone(), div(*d, k)),
        Action::SetLinkLatency(a, b, d) => Action::SetLinkLatency(a.clone(), b.clone(), div(*d, k)),
        Action::Drain(h, d) => Action::Drain(h.clone(), div(*d, k)),
        // A configuration pushed mid-run is the gateway's, like
        // [`Scenario::config`]: it stays as written, and the target that
        // applies it divides its plan's timers.
        Action::ConfigUpdate(_)
        | Action::Maintenance(_)
        | Action::Crash(_)
        | Action::Restart(_)
        | Action::Partition(_, _)
        | Action::Heal(_, _)
        | Action::SetHealth(_, _)
        | Action::SetWebSocketOnly(_)
        | Action::SetUpgrade(_, _)
        | Action::RemoveBackend(_)
        | Action::AddBackend(_)
        | Action::RotationOut(_)
        | Action::RotationIn(_) => action.clone(),
    }
}

fn scale_expect(e: &Expect, k: f64) -> Expect {
    match e {
        Expect::Client {
            group,
            check,
            quantity,
            window: w,
        } => Expect::Client {
            group: group.clone(),
            check: match check {
                ClientCheck::ReconnectedWithin(d) => ClientCheck::ReconnectedWithin(div(*d, k)),
                ClientCheck::Closed(_)
                | ClientCheck::NeverClosed
                | ClientCheck::Handshake(_)
                | ClientCheck::Upgraded
                | ClientCheck::Subprotocol(_)
                | ClientCheck::ResponseHeaders(_)
                | ClientCheck::Cookies(_)
                | ClientCheck::Echoed => check.clone(),
            },
            quantity: *quantity,
            window: window(*w, k),
        },
        Expect::Request {
            group,
            check,
            quantity,
            window: w,
        } => Expect::Request {
            group: group.clone(),
            check: check.clone(),
            quantity: *quantity,
            window: window(*w, k),
        },
        Expect::Backend {
            name,
            check,
            quantity,
            window: w,
        } => Expect::Backend {
            name: name.clone(),
            check: match check {
                BackendCheck::NoNewSessionsAfter(t) => BackendCheck::NoNewSessionsAfter(div(*t, k)),
                BackendCheck::Health { healthy, at, instance } => BackendCheck::Health {
                    healthy: *healthy,
                    at: div(*at, k),
                    instance: instance.clone(),
                },
                BackendCheck::Sessions { .. }
                | BackendCheck::Requests(_)
                | BackendCheck::CloseReceived(_)
                | BackendCheck::Probes { .. }
                | BackendCheck::Request { .. } => check.clone(),
            },
            quantity: *quantity,
            window: window(*w, k),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const SCENARIO: &str = r#"
name = "every duration"
profile = "application-gateway"
seed = 1
duration = "100s"
tick = "10ms"
latency = "20ms"

[[backends]]
name = "b1"
latency = "5s"
health_latency = "1s"
push = { every = "10s", size = 16 }
ping_interval = "20s"
close = { after = "30s", code = 4001 }

[[clients]]
name = "c1"
start = "2s"
ping_interval = "10s"
pong_timeout = "3s"
messages = { every = "1s", size = 8 }
close_after = "40s"
reopen_after = "4s"
retry = { initial = "1s", max = "8s", attempt_timeout = "2s" }

[[requests]]
name = "r1"
start = "3s"
every = "5s"
count = 2
timeout = "6s"

[[timeline]]
at = "50s"
action = "set-delay"
target = "b1"
delay = "7s"

[[timeline]]
at = "60s"
action = "drain"
target = "gateway"
period = "10s"

[[timeline]]
at = "70s"
action = "crash"
target = "b1"

[[timeline]]
at = "80s"
action = "remove-backend"
target = "b1"

[[timeline]]
at = "90s"
action = "config-update"
target = "all"

[[expect]]
client = "c1"
closed = 1006
between = ["10s", "20s"]
catches = "x"

[[expect]]
client = "c1"
reconnected_within = "5s"
catches = "x"

[[expect]]
backend = "b1"
no_new_sessions_after = "90s"
catches = "x"

[[expect]]
backend = "b1"
health = "unhealthy"
at = "80s"
catches = "x"

[[expect]]
request = "r1"
status = 200
between = ["0s", "30s"]
catches = "x"
"#;

    fn scenario() -> Scenario {
        super::super::parse(SCENARIO, Path::new("scale.toml")).expect("parses")
    }

    #[test]
    fn every_duration_the_harness_owns_is_divided() {
        let s = scenario();
        let k = 10.0;
        let f = s.time_scaled(k);
        let ms = Duration::from_millis;
        assert_eq!((f.duration, f.tick, f.latency), (ms(10_000), ms(1), ms(2)));

        let b = &f.backends[0];
        assert_eq!((b.latency, b.health_latency), (Some(ms(500)), Some(ms(100))));
        assert_eq!(b.script.push.map(|p| (p.every, p.size)), Some((ms(1000), 16)));
        assert_eq!(b.script.ping_interval, Some(ms(2000)));
        assert_eq!(b.script.close.map(|c| (c.after, c.code)), Some((ms(3000), 4001)));

        let c = &f.clients[0].script;
        assert_eq!(
            (c.start, c.ping_interval, c.pong_timeout),
            (ms(200), Some(ms(1000)), Some(ms(300)))
        );
        assert_eq!(c.messages.as_ref().map(|m| m.every), Some(ms(100)));
        assert_eq!(
            (c.close_after, c.reopen_after, c.stop_at),
            (Some(ms(4000)), Some(ms(400)), ms(10_000))
        );
        let retry = c.retry.expect("retry");
        assert_eq!(
            (retry.initial, retry.max, retry.attempt_timeout),
            (ms(100), ms(800), ms(200))
        );
        assert_eq!(retry.multiplier, s.clients[0].script.retry.expect("retry").multiplier);

        let r = &f.requests[0].script;
        assert_eq!(
            (r.start, r.every, r.timeout, r.stop_at),
            (ms(300), Some(ms(500)), ms(600), ms(10_000))
        );
        assert_eq!(r.count, 2, "counts are not durations");

        assert_eq!(
            f.timeline,
            vec![
                (ms(5000), Action::SetDelay("b1".into(), ms(700))),
                (ms(6000), Action::Drain("gateway".into(), ms(1000))),
                (ms(7000), Action::Crash("b1".into())),
                (
                    ms(8000),
                    Action::RemoveBackend(gateway::config::BackendAddr {
                        host: "b1".into(),
                        port: crate::scenario::BACKEND_PORT
                    })
                ),
                (ms(9000), Action::ConfigUpdate(None)),
            ]
        );

        let windows: Vec<Option<Window>> = f
            .expects
            .iter()
            .map(|e| match e {
                Expect::Client { window, .. } | Expect::Request { window, .. } | Expect::Backend { window, .. } => {
                    *window
                }
            })
            .collect();
        assert_eq!(windows[0], Some((ms(1000), ms(2000))));
        assert_eq!(windows[4], Some((ms(0), ms(3000))));
        assert!(matches!(
            &f.expects[1],
            Expect::Client { check: ClientCheck::ReconnectedWithin(d), .. } if *d == ms(500)
        ));
        assert!(matches!(
            &f.expects[2],
            Expect::Backend { check: BackendCheck::NoNewSessionsAfter(t), .. } if *t == ms(9000)
        ));
        assert!(matches!(
            &f.expects[3],
            Expect::Backend { check: BackendCheck::Health { at, healthy: false, .. }, .. } if *at == ms(8000)
        ));
        // The gateway's config is scaled where its plan is built.
        assert_eq!(f.config, s.config);
    }

    #[test]
    fn a_scale_that_makes_no_sense_changes_nothing() {
        let s = scenario();
        for k in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let same = s.time_scaled(k);
            assert_eq!(same.duration, s.duration, "k = {k}");
            assert_eq!(same.timeline, s.timeline, "k = {k}");
            assert_eq!(same.expects, s.expects, "k = {k}");
        }
    }
}
