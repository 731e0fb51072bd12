//! A simulated world: gateway instances, echo backends and scripted clients,
//! each on its own turmoil host, all sharing one [`Trace`].

use std::error::Error;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::collections::BTreeMap;

use backend::{BackendEvent, Control, UpgradeAnswer};
use gateway::config::BackendAddr;
use gateway::{Config, Event, Gateway, GatewayHandle};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::mpsc;

use crate::net::TurmoilTransport;
use crate::rotation::Rotation;
use crate::trace::Trace;
use gateway::Transport;

/// What a client script returns; an error fails the run.
pub type ClientResult = Result<(), Box<dyn Error>>;

type ClientFn = Box<dyn FnOnce(ClientEnv) -> Pin<Box<dyn Future<Output = ClientResult>>>>;

/// Everything a client script gets.
#[derive(Debug)]
pub struct ClientEnv {
    /// The client's host name, also its trace source.
    pub name: String,
    /// The world's seed, for deriving further RNGs.
    pub seed: u64,
    pub trace: Trace,
    /// Seeded from the world seed and the client's name.
    pub rng: StdRng,
    pub transport: TurmoilTransport,
}

/// Why a run failed.
#[derive(Debug)]
pub struct RunError {
    pub message: String,
    /// The trace up to the failure.
    pub trace: Trace,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n--- trace ---\n{}", self.message, self.trace.render())
    }
}

impl Error for RunError {}

/// Derives a stable per-name seed from the world seed (FNV-1a over the name,
/// mixed with the seed), so adding a client does not change another's keys.
pub fn derive_seed(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Something the world does to itself at a moment of virtual time.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Restart a gateway instance: every session it carries is dropped
    /// abruptly (peers see the connection end without a Close frame), and
    /// it comes back serving.
    Maintenance(String),
    /// Kill a host's software; peers read end-of-stream or a reset.
    Crash(String),
    /// Start a crashed host's software again.
    Restart(String),
    /// Drop everything between two hosts, both ways. Streams cut this way
    /// stay dead after a heal (turmoil does not retransmit).
    Partition(String, String),
    /// Undo a partition.
    Heal(String, String),
    /// Set the status an echo backend's `GET /health` answers with.
    SetHealth(String, u16),
    /// Make an echo backend answer everything but `/` and `/health` this
    /// late.
    SetDelay(String, Duration),
    /// Make an echo backend's health answers (`/`, `/health`) this late.
    SetHealthDelay(String, Duration),
    /// Make an echo backend WebSocket-only: plain requests, probes
    /// included, get 426.
    SetWebSocketOnly(String),
    /// Set the one-way latency of the link between two hosts.
    SetLinkLatency(String, String, Duration),
    /// Change how a backend answers WebSocket upgrades.
    SetUpgrade(String, UpgradeAnswer),
    /// Drain a gateway instance: refuse new requests with 503 for this
    /// long, then drop whatever is still open.
    Drain(String, Duration),
    /// Take a backend out of its pool on every gateway instance: no new
    /// sessions; its open ones close when connection draining runs out.
    RemoveBackend(BackendAddr),
    /// Put a removed backend back on every instance.
    AddBackend(BackendAddr),
    /// Apply a configuration update on every instance: the given config, or
    /// the one each runs (a configuration push that changes nothing, as an
    /// ingress controller makes when a pod restarts). A restarted instance
    /// comes back with the latest configuration.
    ConfigUpdate(Option<Box<Config>>),
    /// Take a gateway instance out of the frontend's rotation: clients with
    /// `gateway = "any"` connect elsewhere.
    RotationOut(String),
    /// Put an instance back in rotation.
    RotationIn(String),
}

// `Config` is `PartialEq` only, but holds no floating point: its equality
// is total, so an action's is too.
impl Eq for Action {}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Maintenance(h) => write!(f, "maintenance: restarting {h}"),
            Action::Crash(h) => write!(f, "crash {h}"),
            Action::Restart(h) => write!(f, "restart {h}"),
            Action::Partition(a, b) => write!(f, "partition {a} <-> {b}"),
            Action::Heal(a, b) => write!(f, "heal {a} <-> {b}"),
            Action::SetHealth(h, s) => write!(f, "{h} health answers {s}"),
            Action::SetDelay(h, d) => write!(f, "{h} answers after {}", human(*d)),
            Action::SetHealthDelay(h, d) => write!(f, "{h} answers health checks after {}", human(*d)),
            Action::SetWebSocketOnly(h) => write!(f, "{h} speaks WebSocket only (426 to plain requests)"),
            Action::SetLinkLatency(a, b, d) => write!(f, "latency {a} <-> {b} set to {}", human(*d)),
            Action::SetUpgrade(h, UpgradeAnswer::Accept) => write!(f, "{h} accepts upgrades"),
            Action::SetUpgrade(h, UpgradeAnswer::Refuse(s)) => write!(f, "{h} answers upgrades with {s}"),
            Action::SetUpgrade(h, UpgradeAnswer::WrongAccept) => {
                write!(f, "{h} answers upgrades with a 101 carrying a wrong accept value")
            }
            Action::SetUpgrade(h, UpgradeAnswer::SwitchTo(p)) => write!(f, "{h} answers upgrades by switching to {p}"),
            Action::SetUpgrade(h, UpgradeAnswer::HangUp) => write!(f, "{h} hangs up on upgrades"),
            Action::Drain(h, d) => write!(f, "maintenance: draining {h} for {}", human(*d)),
            Action::RemoveBackend(b) => write!(f, "backend {b} removed from its pool"),
            Action::AddBackend(b) => write!(f, "backend {b} added back to its pool"),
            Action::ConfigUpdate(None) => f.write_str("configuration update (unchanged)"),
            Action::ConfigUpdate(Some(_)) => f.write_str("configuration update (a new configuration)"),
            Action::RotationOut(h) => write!(f, "{h} out of the frontend's rotation"),
            Action::RotationIn(h) => write!(f, "{h} back in the frontend's rotation"),
        }
    }
}

fn human(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(d)
}

/// What the world asks of a running gateway instance. Sent over a channel
/// because the instance's handle must be used inside its host's runtime.
#[derive(Debug, Clone)]
enum Command {
    Drain(Duration),
    RemoveBackend(BackendAddr),
    AddBackend(BackendAddr),
    Update(Box<Config>),
    /// Stop the instance's software (before turmoil crashes or restarts
    /// its host), closing connections in a fixed order.
    Halt,
}

/// What turmoil does to a host one step after the world halted its
/// software.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Teardown {
    Crash(String),
    Bounce(String),
}

/// The command channel to each gateway host, replaced whenever the host
/// (re)starts.
type Commands = Arc<Mutex<BTreeMap<String, mpsc::UnboundedSender<Command>>>>;

/// Each gateway host's latest configuration, which a restart comes back with.
type Configs = Arc<Mutex<BTreeMap<String, Arc<Mutex<Config>>>>>;

/// Builds and runs a simulation.
pub struct World {
    seed: u64,
    tick: Duration,
    duration: Duration,
    latency: Duration,
    trace: Trace,
    gateways: Vec<(String, Config)>,
    backends: Vec<(String, u16, backend::Options)>,
    tls_backends: BTreeMap<String, Arc<rustls::ServerConfig>>,
    clients: Vec<(String, ClientFn)>,
    timeline: Vec<(Duration, Action)>,
    rotation: Arc<Rotation>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("seed", &self.seed)
            .field("tick", &self.tick)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

impl World {
    /// A world with a 10 ms tick, a 60 s limit and 1 ms link latency.
    pub fn new(seed: u64) -> World {
        World {
            seed,
            tick: Duration::from_millis(10),
            duration: Duration::from_secs(60),
            latency: Duration::from_millis(1),
            trace: Trace::simulated(),
            gateways: Vec::new(),
            backends: Vec::new(),
            tls_backends: BTreeMap::new(),
            clients: Vec::new(),
            timeline: Vec::new(),
            rotation: Arc::new(Rotation::new()),
        }
    }

    /// The simulator's time step.
    pub fn tick(mut self, tick: Duration) -> World {
        self.tick = tick;
        self
    }

    /// The longest the run may take in virtual time.
    pub fn duration(mut self, duration: Duration) -> World {
        self.duration = duration;
        self
    }

    /// One-way latency of every link (fixed, so timings are exact).
    pub fn latency(mut self, latency: Duration) -> World {
        self.latency = latency;
        self
    }

    /// The shared trace.
    pub fn trace(&self) -> Trace {
        self.trace.clone()
    }

    /// The frontend's rotation over the gateway instances, which
    /// `RotationOut`/`RotationIn` actions change.
    pub fn rotation(&self) -> Arc<Rotation> {
        Arc::clone(&self.rotation)
    }

    /// Runs the gateway with `config` on host `name`. Listener addresses in
    /// the config are bound on that host; backends are named by host.
    pub fn gateway(&mut self, name: &str, config: Config) -> &mut World {
        self.gateways.push((name.to_string(), config));
        self
    }

    /// Runs `instances` copies of the gateway on hosts `{prefix}-1` …
    /// `{prefix}-N`, as a cloud gateway runs several instances behind one
    /// address. Returns the host names; clients choose one.
    pub fn gateway_instances(&mut self, prefix: &str, instances: usize, config: Config) -> Vec<String> {
        (1..=instances)
            .map(|i| {
                let name = format!("{prefix}-{i}");
                self.gateway(&name, config.clone());
                name
            })
            .collect()
    }

    /// Schedules `action` at `at` (applied at the first tick at or after it;
    /// actions at the same moment apply in the order given).
    pub fn at(&mut self, at: Duration, action: Action) -> &mut World {
        self.timeline.push((at, action));
        self
    }

    /// Runs a backend on host `name`, port `port`. Its accepts, requests,
    /// sessions and messages go into the trace.
    pub fn backend(&mut self, name: &str, port: u16, options: backend::Options) -> &mut World {
        self.backends.push((name.to_string(), port, options));
        self
    }

    /// Runs a backend behind TLS (https) on host `name`, with the given
    /// certificate.
    pub fn backend_tls(
        &mut self,
        name: &str,
        port: u16,
        options: backend::Options,
        tls: Arc<rustls::ServerConfig>,
    ) -> &mut World {
        self.tls_backends.insert(name.to_string(), tls);
        self.backend(name, port, options)
    }

    /// Runs `script` as client host `name`. The run ends when every client
    /// script has returned.
    pub fn client<F, Fut>(&mut self, name: &str, script: F) -> &mut World
    where
        F: FnOnce(ClientEnv) -> Fut + 'static,
        Fut: Future<Output = ClientResult> + 'static,
    {
        self.clients
            .push((name.to_string(), Box::new(move |env| Box::pin(script(env)))));
        self
    }

    /// Runs to completion and returns the trace.
    pub fn run(self) -> Result<Trace, RunError> {
        let mut sim = turmoil::Builder::new()
            .rng_seed(self.seed)
            .tick_duration(self.tick)
            .simulation_duration(self.duration)
            .min_message_latency(self.latency)
            .max_message_latency(self.latency)
            .build();

        let controls: BTreeMap<String, Control> = self
            .backends
            .iter()
            .map(|(name, _, options)| (name.clone(), options.control.clone()))
            .collect();
        let mut hosts: Vec<String> = Vec::new();
        for (name, port, options) in self.backends {
            let trace = self.trace.clone();
            let host = name.clone();
            let tls = self.tls_backends.get(&name).cloned();
            hosts.push(name.clone());
            sim.host(name.as_str(), move || {
                let trace = trace.clone();
                let host = host.clone();
                let mut options = options.clone();
                let inner = Arc::clone(&options.observer);
                options.observer = Arc::new(move |event: BackendEvent| {
                    trace.record(&host, event.clone());
                    inner(event);
                });
                let tls = tls.clone();
                async move {
                    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
                    let listener = TurmoilTransport.bind(addr).await?;
                    match tls {
                        None => backend::serve(listener, options).await,
                        Some(config) => backend::serve(backend::tls::TlsListener::new(listener, config), options).await,
                    }
                    Ok(())
                }
            });
        }

        let commands: Commands = Arc::default();
        let configs: Configs = Arc::default();
        for (name, config) in self.gateways {
            let trace = self.trace.clone();
            let host = name.clone();
            let commands = Arc::clone(&commands);
            let latest = Arc::new(Mutex::new(config));
            configs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(name.clone(), Arc::clone(&latest));
            hosts.push(name.clone());
            sim.host(name.as_str(), move || {
                // A restarted instance comes back with the latest config.
                let config = latest.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let trace = trace.clone();
                let host = host.clone();
                let commands = Arc::clone(&commands);
                async move {
                    let sink = {
                        let host = host.clone();
                        Arc::new(move |event: Event| trace.record(&host, event))
                    };
                    let gateway = Gateway::bind(config, TurmoilTransport, sink).await?;
                    let (tx, rx) = mpsc::unbounded_channel();
                    commands.lock().unwrap_or_else(|p| p.into_inner()).insert(host, tx);
                    tokio::spawn(obey(rx, gateway.handle()));
                    gateway.run().await;
                    Ok(())
                }
            });
        }

        for (name, script) in self.clients {
            let env = ClientEnv {
                seed: self.seed,
                rng: StdRng::seed_from_u64(derive_seed(self.seed, &name)),
                name: name.clone(),
                trace: self.trace.clone(),
                transport: TurmoilTransport,
            };
            hosts.push(name.clone());
            sim.client(name.as_str(), script(env));
        }
        for host in &hosts {
            self.trace.name_host(sim.lookup(host.as_str()), host);
        }

        let mut timeline = self.timeline;
        // Stable: same-time actions keep the order they were given in.
        timeline.sort_by_key(|(at, _)| *at);
        let mut timeline = timeline.into_iter().peekable();
        // A crash or restart first halts the host's own software, which
        // closes its connections in the order they were opened; turmoil
        // takes the host down one step later. Left to turmoil alone, tokio
        // would drop the host's tasks in task-id order, and task ids are
        // process-wide: two runs in one process would close in different
        // orders.
        let mut teardown: Vec<Teardown> = Vec::new();
        let result = loop {
            for t in teardown.drain(..) {
                match t {
                    Teardown::Crash(h) => sim.crash(h.as_str()),
                    Teardown::Bounce(h) => sim.bounce(h.as_str()),
                }
            }
            while let Some((_, action)) = timeline.next_if(|(at, _)| *at <= sim.elapsed()) {
                self.trace.record_at(sim.elapsed(), "world", action.clone());
                if let Some(t) = apply(&mut sim, &controls, &commands, &configs, &self.rotation, &action) {
                    teardown.push(t);
                }
            }
            match sim.step() {
                Ok(true) => break Ok(()),
                Ok(false) => {}
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(()) => Ok(self.trace),
            Err(e) => Err(RunError {
                message: e.to_string(),
                trace: self.trace,
            }),
        }
    }
}

/// Carries out the world's commands on one gateway instance, inside its
/// host.
async fn obey(mut rx: mpsc::UnboundedReceiver<Command>, handle: GatewayHandle) {
    while let Some(command) = rx.recv().await {
        match command {
            Command::Drain(period) => {
                handle.maintenance(Some(period));
            }
            Command::Halt => {
                handle.halt();
            }
            // Errors (an unknown backend, an invalid config) change
            // nothing; the scenario loader has checked both already.
            Command::RemoveBackend(addr) => {
                let _ = handle.remove_backend(&addr);
            }
            Command::AddBackend(addr) => {
                let _ = handle.add_backend(&addr);
            }
            Command::Update(config) => {
                let _ = handle.update(&config);
            }
        }
    }
}

/// Applies an action; a crash or restart of a running host halts its
/// software now and returns the turmoil operation for the next step.
fn apply(
    sim: &mut turmoil::Sim<'_>,
    controls: &BTreeMap<String, Control>,
    commands: &Commands,
    configs: &Configs,
    rotation: &Rotation,
    action: &Action,
) -> Option<Teardown> {
    // To every gateway instance, in host-name order.
    let broadcast = |command: &dyn Fn(&str) -> Option<Command>| {
        for (host, tx) in commands.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            if let Some(command) = command(host) {
                let _ = tx.send(command);
            }
        }
    };
    let control = |host: &String| controls.get(host);
    let halt = |host: &String| {
        if let Some(c) = controls.get(host) {
            c.halt();
        }
        if let Some(tx) = commands.lock().unwrap_or_else(|p| p.into_inner()).get(host) {
            let _ = tx.send(Command::Halt);
        }
    };
    match action {
        Action::Maintenance(host) | Action::Restart(host) if sim.is_host_running(host.as_str()) => {
            halt(host);
            return Some(Teardown::Bounce(host.clone()));
        }
        Action::Maintenance(host) | Action::Restart(host) => sim.bounce(host.as_str()),
        Action::Crash(host) => {
            halt(host);
            return Some(Teardown::Crash(host.clone()));
        }
        Action::Partition(a, b) => sim.partition(a.as_str(), b.as_str()),
        Action::Heal(a, b) => sim.repair(a.as_str(), b.as_str()),
        Action::SetHealth(host, status) => {
            if let Some(c) = control(host) {
                c.set_health_status(*status);
            }
        }
        Action::SetDelay(host, delay) => {
            if let Some(c) = control(host) {
                c.set_delay(*delay);
            }
        }
        Action::SetHealthDelay(host, delay) => {
            if let Some(c) = control(host) {
                c.set_health_delay(*delay);
            }
        }
        Action::SetLinkLatency(a, b, d) => sim.set_link_latency(a.as_str(), b.as_str(), *d),
        Action::SetWebSocketOnly(host) => {
            if let Some(c) = control(host) {
                c.set_websocket_only(true);
            }
        }
        Action::SetUpgrade(host, answer) => {
            if let Some(c) = control(host) {
                c.set_upgrade(answer.clone());
            }
        }
        Action::Drain(host, period) => {
            if let Some(tx) = commands.lock().unwrap_or_else(|p| p.into_inner()).get(host) {
                let _ = tx.send(Command::Drain(*period));
            }
        }
        Action::RemoveBackend(addr) => broadcast(&|_| Some(Command::RemoveBackend(addr.clone()))),
        Action::AddBackend(addr) => broadcast(&|_| Some(Command::AddBackend(addr.clone()))),
        Action::ConfigUpdate(next) => {
            let configs = configs.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(next) = next {
                for latest in configs.values() {
                    *latest.lock().unwrap_or_else(|p| p.into_inner()) = (**next).clone();
                }
            }
            broadcast(&|host| {
                let config = configs
                    .get(host)
                    .map(|c| c.lock().unwrap_or_else(|p| p.into_inner()).clone());
                match (next, config) {
                    (Some(next), _) => Some(Command::Update(next.clone())),
                    (None, current) => current.map(|c| Command::Update(Box::new(c))),
                }
            });
        }
        Action::RotationOut(host) => rotation.take_out(host),
        Action::RotationIn(host) => rotation.put_back(host),
    }
    None
}
