//! Running a scenario: build the simulated world, run it, check every
//! expectation against the trace.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway::echo::{EchoControl, EchoEvent, EchoOptions, SeenRequest};
use sim::trace::TraceLine;
use sim::World;

use crate::expect::{self, Expect, Failure};
use crate::scenario::{Behaviour, Scenario};

/// How one run of a scenario went.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub seed: u64,
    /// Each expectation and its verdict.
    pub checks: Vec<(Expect, Result<(), Failure>)>,
    /// Set when the simulation itself failed (a client script error, or the
    /// run outlived its time limit).
    pub error: Option<String>,
    pub lines: Vec<TraceLine>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.checks.iter().all(|(_, r)| r.is_ok())
    }

    /// The full trace as text.
    pub fn trace(&self) -> String {
        sim::trace::render(&self.lines)
    }

    /// The trace without per-message and routine probe lines: what a person
    /// reads first, and what the snapshot tests keep.
    pub fn readable_trace(&self) -> String {
        let kept: Vec<TraceLine> = self.lines.iter().filter(|l| !is_chatter(l)).cloned().collect();
        sim::trace::render(&kept)
    }

    /// Every failure, explained.
    pub fn report(&self) -> String {
        let mut out = String::new();
        if let Some(e) = &self.error {
            out.push_str(&format!("run failed: {}\n", e.lines().next().unwrap_or_default()));
        }
        for (expect, result) in &self.checks {
            if let Err(f) = result {
                out.push_str(&format!("{f}\n"));
            } else {
                out.push_str(&format!("ok: {expect}\n"));
            }
        }
        out
    }
}

/// Lines that repeat for every message or probe and carry no news.
fn is_chatter(l: &TraceLine) -> bool {
    l.event.starts_with("sent ")
        || l.event.starts_with("recv ")
        || (l.event.starts_with("probe ") && l.event.ends_with("(in pool)"))
        || (l.event.starts_with("probe ") && l.event.ends_with("(out of pool)"))
        || l.event.starts_with("accepted connection from")
        || l.event == "request GET /"
        || l.event == "request HEAD /"
        || l.event == "request GET /health"
        || l.event == "request HEAD /health"
}

/// Derives the seed for run `index` of a sweep from the scenario's seed.
pub fn sweep_seed(base: u64, index: u64) -> u64 {
    if index == 0 {
        base
    } else {
        sim::world::derive_seed(base, &format!("sweep-{index}"))
    }
}

/// Runs `scenario` once with `seed`.
pub fn run(scenario: &Scenario, seed: u64) -> Outcome {
    let requests: Arc<Mutex<BTreeMap<String, Vec<SeenRequest>>>> = Arc::default();
    // Time for clients to finish their last step after the scenario's end.
    let margin = Duration::from_secs(60);
    let mut world = World::new(seed)
        .tick(scenario.tick)
        .latency(scenario.latency)
        .duration(scenario.duration + margin);
    for b in &scenario.backends {
        let control = EchoControl::default();
        control.set_health_status(b.health);
        if let Some(l) = b.latency {
            control.set_delay(l);
        }
        if let Some(l) = b.health_latency {
            control.set_health_delay(l);
        }
        control.set_websocket_only(b.behaviour == Behaviour::WebsocketOnly);
        let log = Arc::clone(&requests);
        let name = b.name.clone();
        let options = EchoOptions {
            control,
            observer: Arc::new(move |e| {
                if let EchoEvent::Request(r) = e {
                    if r.header("user-agent") != Some(gateway::probe::USER_AGENT) {
                        log.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .entry(name.clone())
                            .or_default()
                            .push(r);
                    }
                }
            }),
            ..EchoOptions::default()
        };
        match &b.tls {
            Some(config) => world.echo_backend_tls(&b.name, b.port, options, std::sync::Arc::clone(config)),
            None => world.echo_backend(&b.name, b.port, options),
        };
    }
    for instance in &scenario.instances {
        world.gateway(instance, scenario.config.clone());
    }
    for script in &scenario.clients {
        let script = script.clone();
        world.client(&script.name.clone(), move |env| script.run(env));
    }
    // Keeps the world running to the scenario's end even when every client
    // is done, so late timeline events and health checks still happen.
    let duration = scenario.duration;
    world.client("clock", move |_| async move {
        tokio::time::sleep(duration).await;
        Ok(())
    });
    for (at, action) in &scenario.timeline {
        world.at(*at, action.clone());
    }

    let (lines, error) = match world.run() {
        Ok(trace) => (trace.lines(), None),
        Err(e) => (e.trace.lines(), Some(e.message)),
    };
    let requests = requests.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let ctx = expect::World {
        instances: &scenario.instances,
        backend_addrs: scenario
            .backends
            .iter()
            .map(|b| (b.name.clone(), format!("{}:{}", b.name, b.port)))
            .collect(),
        requests,
    };
    let checks = scenario
        .expects
        .iter()
        .map(|e| (e.clone(), expect::check(e, &lines, &ctx)))
        .collect();
    Outcome {
        seed,
        checks,
        error,
        lines,
    }
}

/// The command that replays one run.
pub fn replay_command(scenario: &Scenario, seed: u64) -> String {
    format!(
        "cargo run --release -- run {} --seed {seed} --trace",
        scenario.path.display()
    )
}
