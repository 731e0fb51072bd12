//! Scenario files: a gateway, backends, scripted clients and requests, a
//! timeline of faults and the expectations the trace must meet, in one
//! TOML file.
//!
//! [`load`] parses and checks a file into a [`Scenario`], which says what
//! to run but not where: the simulator and the real-network targets (see
//! [`crate::target`]) both run it. Every mistake (syntax, unknown key,
//! wrong type, unknown name, bad duration, a run too large for the
//! machine) comes back as a located diagnostic, `path:line:column: key:
//! what was expected`, in file order. Nothing in a file can panic the
//! loader.
//!
//! | module | what it is |
//! |---|---|
//! | `file` | the TOML shape, as written |
//! | `gateway` | the gateway config: a referenced file, or the inline sections with the rest generated |
//! | `actors` | backends, clients and requests |
//! | `timeline` | timeline entries to world actions |
//! | `expects` | `[[expect]]` entries to [`crate::expect::Expect`] |
//! | `limits` | what a run may ask of the machine, and warnings about settings that blur results |
//! | `scale` | [`Scenario::time_scaled`]: every duration divided, for runs on a real network |
//! | [`tls`] | the run's CA and certificates |

mod actors;
mod expects;
mod file;
mod gateway;
pub mod limits;
mod scale;
mod timeline;
pub mod tls;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ::gateway::config::{Diagnostic, KeyPath};
use ::gateway::{Config, ProfileName};
use sim::script::{ClientScript, RequestScript};
use sim::Action;

use crate::expect::Expect;
pub use file::{Behaviour, HealthWord};
pub use limits::Limits;

/// The port backends listen on unless a scenario says otherwise: 80, as
/// in the documents' template (and the only plain port document 001
/// allows).
pub const BACKEND_PORT: u16 = 80;
/// The gateway's generated listener port.
pub const GATEWAY_PORT: u16 = 80;

/// A backend host in a scenario.
#[derive(Debug, Clone)]
pub struct BackendSpec {
    pub name: String,
    pub port: u16,
    /// Serve https with the run's certificate for this host.
    pub tls: bool,
    pub websocket_only: bool,
    pub upgrade: backend::UpgradeAnswer,
    pub script: backend::SessionScript,
    pub latency: Option<Duration>,
    pub health: u16,
    pub health_latency: Option<Duration>,
    /// The application it plays (SignalR, socket.io), if any.
    pub app: backend::App,
}

/// Which listener a client group uses, and whether it speaks TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Index into the gateway config's listeners.
    pub listener: usize,
    pub tls: bool,
    /// The instances its sessions use, round robin.
    pub instances: Vec<String>,
    /// `gateway = "any"`: each connection attempt goes through the
    /// frontend's rotation, to an instance that is up.
    pub rotate: bool,
}

/// A WebSocket client group: its script (targets left empty; a target
/// fills them in) and where it connects.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub script: ClientScript,
    pub entry: Entry,
}

/// A plain HTTP request group.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub script: RequestScript,
    pub entry: Entry,
}

/// The most seeds a scenario file may ask for by default.
pub const MAX_SEEDS: u64 = 100;

/// A checked scenario, ready to run on any target.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub path: PathBuf,
    pub name: String,
    pub description: Option<String>,
    pub requirements: Vec<String>,
    pub profile: ProfileName,
    pub seed: u64,
    /// Seeds a run uses unless told otherwise (at least 1).
    pub seeds: u64,
    pub duration: Duration,
    pub tick: Duration,
    pub latency: Duration,
    pub config: Config,
    /// Gateway instance host names.
    pub instances: Vec<String>,
    pub backends: Vec<BackendSpec>,
    pub clients: Vec<ClientSpec>,
    pub requests: Vec<RequestSpec>,
    pub timeline: Vec<(Duration, Action)>,
    pub expects: Vec<Expect>,
    /// The run's CA and certificates, when anything speaks TLS.
    pub tls: Option<std::sync::Arc<tls::Material>>,
    /// Settings that are valid but blur the results (a tick coarser than a
    /// link's latency).
    pub warnings: Vec<Diagnostic>,
}

impl Scenario {
    /// Whether a backend is in the pool before its first probe, for the
    /// health expectations.
    pub fn initially_healthy(&self) -> bool {
        let behaviour = self.profile.behaviour();
        match self.config.probes.first().and_then(|p| p.initial_state) {
            Some(::gateway::config::InitialState::Healthy) => true,
            Some(::gateway::config::InitialState::Unhealthy) => false,
            None => behaviour.probe.initially_healthy,
        }
    }
}

/// Why a scenario file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{}: cannot read scenario: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
}

/// Reads and checks a scenario file under the default limits.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    load_with(path, &Limits::default())
}

/// Reads and checks a scenario file under `limits`.
pub fn load_with(path: &Path, limits: &Limits) -> Result<Scenario, ScenarioError> {
    let source = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_with(&source, path, limits)
}

/// Parses and checks scenario text under the default limits; `path` names
/// it in errors and anchors relative paths.
pub fn parse(source: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    parse_with(source, path, &Limits::default())
}

/// Parses and checks scenario text under `limits`.
pub fn parse_with(source: &str, path: &Path, limits: &Limits) -> Result<Scenario, ScenarioError> {
    let origin = path.display().to_string();
    let parsed = ::gateway::diagnostic::parse_repaired::<file::ScenarioFile>(source, &origin, &file::schema());
    let locate = |(key, message): (KeyPath, String)| Diagnostic::at(&origin, Some(source), &key, message);
    let Some(file) = &parsed.value else {
        return Err(ScenarioError::Invalid(parsed.errors));
    };
    let mut issues = Vec::new();
    let scenario = build(file, path, limits, &mut issues);
    if !parsed.errors.is_empty() {
        // The file did not parse as written, but the rest of it did once
        // the bad values were taken out: report the checks on the rest too,
        // except those about what the repairs put in or took out.
        let mut diagnostics = parsed.errors.clone();
        diagnostics.extend(
            issues
                .into_iter()
                .filter(|(key, _)| !parsed.touches(key) && !names_a_repaired_key(&parsed, key))
                .map(locate),
        );
        ::gateway::diagnostic::in_file_order(&mut diagnostics);
        diagnostics.dedup();
        return Err(ScenarioError::Invalid(diagnostics));
    }
    if issues.is_empty() {
        if let Some(mut scenario) = scenario {
            let mut warnings: Vec<Diagnostic> = limits::warnings(file, &scenario)
                .into_iter()
                .chain(gateway::warnings(file, &scenario.config))
                .map(|w| locate(w).warning())
                .collect();
            ::gateway::diagnostic::in_file_order(&mut warnings);
            warnings.extend(gateway::file_warnings(file, path));
            scenario.warnings = warnings;
            return Ok(scenario);
        }
    }
    let mut diagnostics: Vec<Diagnostic> = issues.into_iter().map(locate).collect();
    ::gateway::diagnostic::in_file_order(&mut diagnostics);
    Err(ScenarioError::Invalid(diagnostics))
}

/// Whether a check at `key` is about an entry one of whose keys was
/// repaired: an expectation whose `client` was taken out reads as "no
/// subject" rather than the error the file really has.
fn names_a_repaired_key<T>(parsed: &::gateway::diagnostic::Repaired<T>, key: &KeyPath) -> bool {
    parsed
        .repaired
        .iter()
        .any(|r| r.0.len() > key.0.len() && r.0.starts_with(&key.0) && key.0.len() >= 2)
}

/// Problems found while building, before they are located.
type Issues = Vec<(KeyPath, String)>;

fn root(key: &str) -> KeyPath {
    KeyPath::root().key(key)
}

pub(crate) fn unknown(kind: &str, name: &str, known: &[impl AsRef<str>]) -> String {
    let list: Vec<String> = known.iter().map(|k| format!("`{}`", k.as_ref())).collect();
    if list.is_empty() {
        format!("unknown {kind} `{name}`; none is defined")
    } else {
        format!("unknown {kind} `{name}`; expected one of {}", list.join(", "))
    }
}

/// Names a scenario reserves for its own trace sources.
const RESERVED: [&str; 2] = ["clock", "world"];

fn build(file: &file::ScenarioFile, path: &Path, limits: &Limits, issues: &mut Issues) -> Option<Scenario> {
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let duration = file.duration.get();
    if duration.is_zero() {
        issues.push((root("duration"), "expected a duration greater than zero".into()));
    }
    if file.tick.is_some_and(|t| t.is_zero()) {
        issues.push((root("tick"), "expected a duration greater than zero".into()));
    }
    let tick = file.tick.map(|d| d.get()).unwrap_or(Duration::from_millis(10));
    // Every hop takes at least a tick, so a latency below the tick would say
    // what the run cannot do: the default is the tick itself.
    let latency = file.latency.map(|d| d.get()).unwrap_or(tick);
    limits::check_size(file, limits, issues);

    let instances = match file.gateway.instances.unwrap_or(1) {
        0 => {
            issues.push((root("gateway").key("instances"), "expected at least 1 instance".into()));
            vec!["gateway".to_string()]
        }
        1 => vec!["gateway".to_string()],
        n => (1..=n).map(|i| format!("gateway-{i}")).collect(),
    };

    // Host names: unique across backends, clients, requests and instances.
    let mut hosts: BTreeSet<String> = instances.iter().cloned().collect();
    hosts.extend(RESERVED.iter().map(|s| s.to_string()));
    let named = file
        .backends
        .iter()
        .enumerate()
        .map(|(i, b)| (KeyPath::item("backends", i), &b.name))
        .chain(
            file.clients
                .iter()
                .enumerate()
                .map(|(i, c)| (KeyPath::item("clients", i), &c.name)),
        )
        .chain(
            file.requests
                .iter()
                .enumerate()
                .map(|(i, r)| (KeyPath::item("requests", i), &r.name)),
        );
    for (at, name) in named {
        if name.trim().is_empty() {
            issues.push((at.key("name"), "expected a non-empty name".into()));
        } else if !hosts.insert(name.clone()) {
            issues.push((at.key("name"), format!("the name `{name}` is already taken")));
        }
    }

    let tls = gateway::tls_material(file, &instances, issues);
    let config = gateway::config(file, &base_dir, tls.as_deref(), issues)?;
    let backends = actors::backends(file, issues);
    let clients = actors::clients(file, &config, &instances, duration, issues);
    let requests = actors::requests(file, &config, &instances, duration, issues);
    let timeline = timeline::build(file, &instances, &hosts, &config, &base_dir, issues);
    let expects = expects::build(file, &clients, &requests, &instances, issues);

    if file.name.trim().is_empty() {
        issues.push((root("name"), "expected a non-empty name".into()));
    }
    match file.seeds {
        Some(0) => issues.push((root("seeds"), "expected at least 1 seed".into())),
        Some(n) if n > MAX_SEEDS => issues.push((
            root("seeds"),
            format!("expected at most {MAX_SEEDS} seeds; sweep more with `wsgate run --seeds N`"),
        )),
        _ => {}
    }
    for (i, e) in file.expect.iter().enumerate() {
        if e.catches.as_deref().is_some_and(|c| c.trim().is_empty()) {
            issues.push((
                KeyPath::item("expect", i).key("catches"),
                "expected one line naming the wrong gateway this expectation catches".into(),
            ));
        }
    }
    for (i, id) in file.requirements.iter().enumerate() {
        if let Some(problem) = crate::catalogue::id_problem(id, file.profile) {
            issues.push((root("requirements").index(i), problem));
        }
    }

    Some(Scenario {
        path: path.to_path_buf(),
        name: file.name.clone(),
        description: file.description.clone(),
        requirements: file.requirements.clone(),
        profile: file.profile,
        seed: file.seed,
        seeds: file.seeds.unwrap_or(1),
        duration,
        tick,
        latency,
        config,
        instances,
        backends,
        clients,
        requests,
        timeline,
        expects,
        tls,
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests;
