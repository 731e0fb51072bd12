//! A scenario on a real network: its backends, gateway instances (wsgate,
//! a peer process, or an external gateway), clients and requests on
//! 127.0.0.1, in wall-clock time, recorded into the same typed trace as
//! the simulator's.
//!
//! | module | what it is |
//! |---|---|
//! | [`net`] | names on loopback: `(host, port)` to address, and the transport that binds and connects by name |
//! | [`relay`] | the relay on a link a timeline partitions: forwards until the partition, then a black hole |
//! | [`front`] | the gateway instances, and maintenance, crash, restart, drain, backend removal and addition and configuration updates on them |
//!
//! ```text
//! run ─▶ servers runtime: relays, backends (backend::serve), Instances::start, timeline task
//!    └─▶ this thread (LocalSet): ClientScript / RequestScript per group, each a named host
//!                    │ every event
//!                    ▼
//!                  Trace (wall clock, zero when clients start) ─▶ Observed
//! ```
//!
//! The run takes a scenario that is already time-scaled
//! ([`Scenario::time_scaled`]); it runs it as written, in real time.
//! Timeline actions act for real: `crash` and `restart` stop and start a
//! backend's listener (its connections are cut) or an instance;
//! `fail-probes`, `pass-probes`, `slow-probes`, `set-delay` and
//! `websocket-only` turn the backend's [`backend::Control`];
//! `maintenance` restarts an instance; `drain` drains a wsgate instance;
//! `remove-backend`, `add-backend` and `config-update` call the wsgate
//! instances' [`gateway::GatewayHandle`] as the admin endpoint does (a
//! pushed configuration divided by the run's scale first); the frontend's
//! rotation (graceful maintenance, `gateway = "any"`) is the simulator's
//! own [`Rotation`], shared by the clients here; `partition` and `heal`
//! switch the relays between two hosts. A target never gets an action it
//! cannot perform: [`super::needs`] skips such a scenario first.

pub mod front;
pub mod net;
pub mod relay;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use backend::BackendEvent;
use sim::rotation::Rotation;
use sim::trace::Trace;
use sim::Action;
use tokio::time::Instant;

use self::front::{Front, Instances};
use self::net::{HostTransport, Net};
use self::relay::Relay;
use super::sim::targets;
use super::Observed;
use crate::scenario::Scenario;

/// One real-network run.
#[derive(Debug)]
pub struct Run<'a> {
    /// Already time-scaled: run as written.
    pub scenario: &'a Scenario,
    pub front: Front,
    pub seed: u64,
    /// Where the backends must listen, in scenario order (an external
    /// gateway's configured addresses); `None`: ports the OS picks.
    pub backend_addrs: Option<Vec<SocketAddr>>,
    /// How long clients may take to finish after the scenario's end.
    pub margin: Duration,
}

/// Runs the scenario and returns what was observed.
pub fn run(run: Run<'_>) -> Observed {
    let servers = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("wsgate-real")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return failed(format!("cannot start a runtime: {e}")),
    };
    let local = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return failed(format!("cannot start a runtime: {e}")),
    };
    let scenario = run.scenario;
    let (trace, world) = servers.block_on(async {
        let trace = Trace::real();
        let world = World::start(&run, &trace).await;
        (trace, world)
    });
    let mut world = match world {
        Ok(w) => w,
        Err(e) => {
            let mut o = failed(e);
            o.lines = trace.lines();
            return o;
        }
    };
    let origin = Instant::now();
    let timeline = servers.spawn(World::play(
        scenario.timeline.clone(),
        origin,
        Stage {
            backends: Arc::clone(&world.backends),
            instances: Arc::clone(&world.instances),
            net: Arc::clone(&world.net),
            rotation: Arc::clone(&world.rotation),
        },
        trace.clone(),
    ));
    let error = local.block_on(clients(
        scenario,
        &world.net,
        &world.rotation,
        &trace,
        run.seed,
        origin,
        run.margin,
    ));
    servers.block_on(async {
        timeline.abort();
        let _ = timeline.await;
        world.stop().await;
    });
    servers.shutdown_timeout(Duration::from_secs(1));
    let offset = origin.saturating_duration_since(trace_start(&trace));
    Observed {
        lines: since(trace.lines(), offset),
        names: BTreeMap::new(),
        error,
    }
}

fn failed(error: String) -> Observed {
    Observed {
        error: Some(error),
        ..Observed::default()
    }
}

/// When the trace's clock started: now, less what it reads now.
fn trace_start(trace: &Trace) -> Instant {
    Instant::now().checked_sub(trace.now()).unwrap_or_else(Instant::now)
}

/// The lines with `offset` taken off every time (saturating): the clients
/// start at zero, as in the simulator, and what happened while the run was
/// being set up reads as zero.
pub fn since(lines: Vec<sim::trace::TraceLine>, offset: Duration) -> Vec<sim::trace::TraceLine> {
    lines
        .into_iter()
        .map(|mut l| {
            l.at = l.at.saturating_sub(offset);
            l
        })
        .collect()
}

/// One scripted backend.
#[derive(Debug)]
struct Backend {
    name: String,
    port: u16,
    options: backend::Options,
    tls: Option<Arc<rustls::ServerConfig>>,
    up: bool,
}

type Backends = Arc<tokio::sync::Mutex<Vec<Backend>>>;

/// Everything that serves: backends, relays, instances.
struct World {
    net: Arc<Net>,
    backends: Backends,
    instances: Arc<tokio::sync::Mutex<Instances>>,
    /// Which instances take new connections from `gateway = "any"` groups.
    rotation: Arc<Rotation>,
}

impl World {
    async fn start(run: &Run<'_>, trace: &Trace) -> Result<World, String> {
        let s = run.scenario;
        let net = Net::new();
        if let Some(addrs) = &run.backend_addrs {
            for (b, addr) in s.backends.iter().zip(addrs) {
                net.register(&b.name, b.port, *addr);
            }
        }
        for (from, to, port) in relay_links(s) {
            let relay = Relay::start(&net, &to, port)
                .await
                .map_err(|e| format!("starting a relay {from} -> {to}:{port}: {e}"))?;
            net.add_relay(&from, &to, port, relay);
        }
        let mut backends = Vec::new();
        for spec in &s.backends {
            let mut options = super::sim::backend_options(spec, run.seed);
            let (trace, host) = (trace.clone(), spec.name.clone());
            options.observer = Arc::new(move |event: BackendEvent| trace.record(&host, event));
            let tls = s
                .tls
                .as_ref()
                .filter(|_| spec.tls)
                .and_then(|m| m.server_config(&spec.name));
            let mut b = Backend {
                name: spec.name.clone(),
                port: spec.port,
                options,
                tls,
                up: false,
            };
            serve(&net, &mut b).await?;
            backends.push(b);
        }
        let instances = Instances::start(run.front.clone(), &s.instances, &net, trace).await?;
        let ports: Vec<u16> = s.config.listeners.iter().map(|l| l.address.port()).collect();
        instances.register_external(&ports);
        Ok(World {
            net,
            backends: Arc::new(tokio::sync::Mutex::new(backends)),
            instances: Arc::new(tokio::sync::Mutex::new(instances)),
            rotation: Arc::new(Rotation::new()),
        })
    }

    /// Applies each timeline action at its time, recording it first.
    async fn play(timeline: Vec<(Duration, Action)>, origin: Instant, stage: Stage, trace: Trace) {
        let mut timeline = timeline;
        timeline.sort_by_key(|(at, _)| *at);
        for (at, action) in timeline {
            tokio::time::sleep_until(origin + at).await;
            trace.record("world", action.clone());
            if let Err(e) = apply(&action, &stage).await {
                tracing::warn!(action = %action, error = %e, "a timeline action failed");
            }
        }
    }

    async fn stop(&mut self) {
        self.instances.lock().await.stop_all().await;
        for b in self.backends.lock().await.iter_mut() {
            b.options.control.halt();
            b.up = false;
        }
    }
}

/// Binds a backend's name (its old port on a restart) and serves it.
async fn serve(net: &Arc<Net>, b: &mut Backend) -> Result<(), String> {
    use gateway::Transport;
    let transport = HostTransport::new(&b.name, net);
    let addr = SocketAddr::from(([0, 0, 0, 0], b.port));
    let listener = transport
        .bind(addr)
        .await
        .map_err(|e| format!("backend {}: cannot listen: {e}", b.name))?;
    let options = b.options.clone();
    match b.tls.clone() {
        None => tokio::spawn(backend::serve(listener, options)),
        Some(config) => tokio::spawn(backend::serve(
            backend::tls::TlsListener::new(listener, config),
            options,
        )),
    };
    b.up = true;
    Ok(())
}

/// What the timeline acts on.
struct Stage {
    backends: Backends,
    instances: Arc<tokio::sync::Mutex<Instances>>,
    net: Arc<Net>,
    rotation: Arc<Rotation>,
}

async fn apply(action: &Action, stage: &Stage) -> Result<(), String> {
    let Stage {
        backends,
        instances,
        net,
        rotation,
    } = stage;
    let mut list = backends.lock().await;
    let find = |list: &[Backend], host: &str| list.iter().position(|b| b.name == host);
    // Backend knobs: a name that is not a backend was refused by the
    // scenario's checks, so there is nothing to turn.
    let knob = |list: &[Backend], host: &str, turn: &dyn Fn(&backend::Control)| {
        if let Some(i) = find(list, host) {
            turn(&list[i].options.control);
        }
        Ok(())
    };
    match action {
        Action::Maintenance(h) => instances.lock().await.restart(h).await,
        Action::Crash(h) => {
            if let Some(i) = find(&list, h) {
                list[i].options.control.halt();
                list[i].up = false;
            } else {
                instances.lock().await.crash(h).await;
            }
            Ok(())
        }
        Action::Restart(h) => match find(&list, h) {
            Some(i) => {
                if list[i].up {
                    list[i].options.control.halt();
                }
                serve(net, &mut list[i]).await
            }
            None => instances.lock().await.restart(h).await,
        },
        Action::Partition(a, b) | Action::Heal(a, b) => {
            let on = matches!(action, Action::Partition(..));
            for relay in net.relays_between(a, b) {
                relay.set_partitioned(on);
            }
            Ok(())
        }
        Action::SetHealth(h, status) => knob(&list, h, &|c| c.set_health_status(*status)),
        Action::SetDelay(h, d) => knob(&list, h, &|c| c.set_delay(*d)),
        Action::SetHealthDelay(h, d) => knob(&list, h, &|c| c.set_health_delay(*d)),
        Action::SetWebSocketOnly(h) => knob(&list, h, &|c| c.set_websocket_only(true)),
        Action::SetUpgrade(h, answer) => knob(&list, h, &|c| c.set_upgrade(answer.clone())),
        Action::Drain(h, period) => {
            instances.lock().await.drain(h, *period);
            Ok(())
        }
        Action::RemoveBackend(addr) => instances.lock().await.remove_backend(addr),
        Action::AddBackend(addr) => instances.lock().await.add_backend(addr),
        Action::ConfigUpdate(next) => instances.lock().await.update(next.as_deref()),
        Action::RotationOut(h) => {
            rotation.take_out(h);
            Ok(())
        }
        Action::RotationIn(h) => {
            rotation.put_back(h);
            Ok(())
        }
        // `needs` refuses these before a run starts.
        Action::SetLinkLatency(..) => Err(format!("a real network cannot do `{action}`")),
    }
}

/// The links a relay must carry: every connection between two hosts the
/// timeline partitions, as `(from, to, port)`. Clients connect to each
/// listener port of an instance; instances connect to backends.
pub fn relay_links(s: &Scenario) -> BTreeSet<(String, String, u16)> {
    let pairs: BTreeSet<(String, String)> = s
        .timeline
        .iter()
        .filter_map(|(_, a)| match a {
            Action::Partition(x, y) | Action::Heal(x, y) => Some((x.clone(), y.clone())),
            _ => None,
        })
        .collect();
    let listener_ports: Vec<u16> = s.config.listeners.iter().map(|l| l.address.port()).collect();
    let groups: Vec<&String> = s
        .clients
        .iter()
        .map(|c| &c.script.name)
        .chain(s.requests.iter().map(|r| &r.script.name))
        .collect();
    let mut links = BTreeSet::new();
    for (x, y) in pairs {
        for (a, b) in [(&x, &y), (&y, &x)] {
            if groups.contains(&a) && s.instances.contains(b) {
                for port in &listener_ports {
                    links.insert((a.clone(), b.clone(), *port));
                }
            }
            if s.instances.contains(a) {
                if let Some(backend) = s.backends.iter().find(|bk| &bk.name == b) {
                    links.insert((a.clone(), b.clone(), backend.port));
                }
            }
        }
    }
    links
}

/// Runs every client and request group on this thread until the end of
/// the scenario, then gives them `margin` to finish. The error of the
/// first that failed or did not finish.
async fn clients(
    scenario: &Scenario,
    net: &Arc<Net>,
    rotation: &Arc<Rotation>,
    trace: &Trace,
    seed: u64,
    origin: Instant,
    margin: Duration,
) -> Option<String> {
    let local = tokio::task::LocalSet::new();
    let mut tasks = Vec::new();
    for c in &scenario.clients {
        let mut script = c.script.clone();
        script.targets = targets(scenario, &c.entry);
        script.rotation = c.entry.rotate.then(|| Arc::clone(rotation));
        let name = script.name.clone();
        let (transport, trace) = (HostTransport::new(&name, net), trace.clone());
        let task =
            local.spawn_local(async move { script.run(transport, trace, seed).await.map_err(|e| e.to_string()) });
        tasks.push((name, task));
    }
    for r in &scenario.requests {
        let mut script = r.script.clone();
        script.targets = targets(scenario, &r.entry);
        script.rotation = r.entry.rotate.then(|| Arc::clone(rotation));
        let name = script.name.clone();
        let (transport, trace) = (HostTransport::new(&name, net), trace.clone());
        let task = local.spawn_local(async move { script.run(transport, trace).await.map_err(|e| e.to_string()) });
        tasks.push((name, task));
    }
    let end = origin + scenario.duration;
    local
        .run_until(async move {
            tokio::time::sleep_until(end).await;
            let mut error = None;
            for (name, task) in tasks {
                let left = (end + margin).saturating_duration_since(Instant::now());
                let abort = task.abort_handle();
                match tokio::time::timeout(left, task).await {
                    Ok(Ok(Ok(()))) => {}
                    Ok(Ok(Err(e))) => {
                        error.get_or_insert(format!("{name}: {e}"));
                    }
                    Ok(Err(e)) => {
                        error.get_or_insert(format!("{name}: {e}"));
                    }
                    Err(_) => {
                        abort.abort();
                        error.get_or_insert(format!(
                            "{name} was still running {} after the end of the run",
                            humantime::format_duration(margin)
                        ));
                    }
                }
            }
            error
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn relays_go_on_every_link_between_partitioned_hosts() {
        let s = crate::scenario::parse(
            r#"
name = "links"
profile = "front-door"
seed = 1
duration = "1m"
[gateway]
instances = 2
[[gateway.listeners]]
name = "a"
protocol = "http"
address = "0.0.0.0:80"
[[gateway.listeners]]
name = "b"
protocol = "http"
address = "0.0.0.0:8080"
[[gateway.rules]]
name = "ra"
listener = "a"
pool = "pool"
settings = "settings"
[[gateway.rules]]
name = "rb"
listener = "b"
pool = "pool"
settings = "settings"
[[backends]]
name = "b1"
[[backends]]
name = "b2"
port = 9000
[[clients]]
name = "c1"
[[timeline]]
at = "10s"
action = "partition"
target = "c1"
with = "gateway-2"
[[timeline]]
at = "20s"
action = "partition"
target = "b2"
with = "gateway-1"
"#,
            Path::new("links.toml"),
        )
        .expect("parses");
        let links: Vec<(String, String, u16)> = relay_links(&s).into_iter().collect();
        let l = |a: &str, b: &str, p: u16| (a.to_string(), b.to_string(), p);
        assert_eq!(
            links,
            vec![
                l("c1", "gateway-2", 80),
                l("c1", "gateway-2", 8080),
                l("gateway-1", "b2", 9000)
            ]
        );
    }

    #[test]
    fn times_count_from_when_the_clients_start() {
        let line = |ms: u64| sim::trace::TraceLine {
            at: Duration::from_millis(ms),
            source: "x".into(),
            event: sim::trace::TraceEvent::World(Action::Crash("b1".into())),
        };
        let shifted = since(vec![line(5), line(250)], Duration::from_millis(20));
        let at: Vec<u64> = shifted.iter().map(|l| l.at.as_millis() as u64).collect();
        assert_eq!(at, [0, 230]);
    }
}
