//! The simulator target: the unmodified reference gateway on turmoil's
//! network, beside the scenario's backends and clients, in virtual time.

use std::time::Duration;

use sim::client::{ClientTls, Target};
use sim::World;

use super::Observed;
use crate::scenario::{BackendSpec, Entry, Scenario};

/// Time for clients to finish their last step after the scenario's end.
const MARGIN: Duration = Duration::from_secs(60);

/// The backend options a spec asks for; `seed` draws its application's ids
/// (derived per backend, so two backends never issue the same one).
pub fn backend_options(spec: &BackendSpec, seed: u64) -> backend::Options {
    let control = backend::Control::default();
    control.set_health_status(spec.health);
    if let Some(l) = spec.latency {
        control.set_delay(l);
    }
    if let Some(l) = spec.health_latency {
        control.set_health_delay(l);
    }
    control.set_websocket_only(spec.websocket_only);
    control.set_upgrade(spec.upgrade.clone());
    backend::Options {
        control,
        script: spec.script,
        app: spec.app,
        app_seed: sim::world::derive_seed(seed, &spec.name),
        ..backend::Options::default()
    }
}

/// Where a group's sessions connect, in the simulator and on a real network
/// (which resolves the same names): each instance's host, on the listener's
/// port, with TLS trusting the run's CA.
pub(crate) fn targets(scenario: &Scenario, entry: &Entry) -> Vec<Target> {
    let port = scenario
        .config
        .listeners
        .get(entry.listener)
        .map(|l| l.address.port())
        .unwrap_or(crate::scenario::GATEWAY_PORT);
    entry
        .instances
        .iter()
        .map(|host| Target {
            host: host.clone(),
            port,
            tls: scenario.tls.as_ref().filter(|_| entry.tls).map(|m| ClientTls {
                config: m.client_config(),
                server_name: host.clone(),
            }),
        })
        .collect()
}

/// Runs `scenario` once with `seed`.
pub fn run(scenario: &Scenario, seed: u64) -> Observed {
    let mut world = World::new(seed)
        .tick(scenario.tick)
        .latency(scenario.latency)
        .duration(scenario.duration + MARGIN);
    for b in &scenario.backends {
        let options = backend_options(b, seed);
        let tls = scenario
            .tls
            .as_ref()
            .filter(|_| b.tls)
            .and_then(|m| m.server_config(&b.name));
        match tls {
            Some(config) => world.backend_tls(&b.name, b.port, options, config),
            None => world.backend(&b.name, b.port, options),
        };
    }
    for instance in &scenario.instances {
        world.gateway(instance, scenario.config.clone());
    }
    let rotation = world.rotation();
    for c in &scenario.clients {
        let mut script = c.script.clone();
        script.targets = targets(scenario, &c.entry);
        script.rotation = c.entry.rotate.then(|| std::sync::Arc::clone(&rotation));
        world.client(&script.name.clone(), move |env| {
            script.run(env.transport, env.trace, env.seed)
        });
    }
    for r in &scenario.requests {
        let mut script = r.script.clone();
        script.targets = targets(scenario, &r.entry);
        script.rotation = r.entry.rotate.then(|| std::sync::Arc::clone(&rotation));
        world.client(&script.name.clone(), move |env| script.run(env.transport, env.trace));
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
    let trace = world.trace();
    let error = world.run().err().map(|e| e.message);
    Observed {
        lines: trace.lines(),
        names: trace.names(),
        error,
    }
}
