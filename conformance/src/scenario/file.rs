//! The scenario file's TOML shape, exactly as written. [`super::load`] turns
//! it into a checked [`super::Scenario`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use gateway::config::{
    BackendPoolConfig, BackendSettingsConfig, Duration, ListenerConfig, ProbeConfig, RewriteSetConfig, RuleConfig,
    WafPolicyConfig,
};
use gateway::diagnostic::schema::fields_of;
use gateway::diagnostic::Schema;
use gateway::{Config, ProfileName};
use serde::Deserialize;

/// The sections of a scenario file and the keys each accepts; `[gateway]`
/// holds a gateway config's sections.
pub fn schema() -> Schema {
    Schema::new()
        .section("", "the top level", fields_of::<ScenarioFile>())
        .section("gateway", "[gateway]", fields_of::<GatewaySection>())
        .nest("gateway", "gateway", &Config::schema())
        .section("backends[]", "[[backends]]", fields_of::<BackendEntry>())
        .section("clients[]", "[[clients]]", fields_of::<ClientEntry>())
        .section("clients[].messages", "[clients.messages]", fields_of::<MessagesEntry>())
        .section("clients[].retry", "[clients.retry]", fields_of::<RetryEntry>())
        .section("timeline[]", "[[timeline]]", fields_of::<TimelineEntry>())
        .section("expect[]", "[[expect]]", fields_of::<ExpectEntry>())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: String,
    pub description: Option<String>,
    #[serde(default)]
    pub requirements: Vec<String>,
    pub profile: ProfileName,
    #[serde(default)]
    pub seed: u64,
    pub duration: Duration,
    /// The simulator's time step (default 10 ms).
    pub tick: Option<Duration>,
    /// One-way latency of every link (default 1 ms).
    pub latency: Option<Duration>,
    #[serde(default)]
    pub gateway: GatewaySection,
    #[serde(default)]
    pub backends: Vec<BackendEntry>,
    #[serde(default)]
    pub clients: Vec<ClientEntry>,
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    #[serde(default)]
    pub expect: Vec<ExpectEntry>,
}

/// `[gateway]`: the gateway's own config shape (without `profile`, which the
/// header gives), or `config = "file.toml"`, plus `instances`. Sections left
/// out are generated: one listener on port 80, one pool per backend `pool`,
/// default settings, and a rule joining them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    pub instances: Option<usize>,
    pub config: Option<PathBuf>,
    pub header_read_timeout: Option<Duration>,
    pub max_header_bytes: Option<usize>,
    pub idle_timeout: Option<Duration>,
    pub max_lifetime: Option<Duration>,
    pub max_connections: Option<u32>,
    #[serde(default)]
    pub listeners: Vec<ListenerConfig>,
    #[serde(default)]
    pub backend_pools: Vec<BackendPoolConfig>,
    #[serde(default)]
    pub backend_settings: Vec<BackendSettingsConfig>,
    #[serde(default)]
    pub probes: Vec<ProbeConfig>,
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    #[serde(default)]
    pub waf_policies: Vec<WafPolicyConfig>,
    #[serde(default)]
    pub rewrite_sets: Vec<RewriteSetConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// Echoes WebSocket messages; answers `/` and `/health` with its health.
    #[default]
    Echo,
    /// Answers every plain request, probes included, with 426.
    WebsocketOnly,
}

/// `[[backends]]`: an echo backend on its own host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendEntry {
    pub name: String,
    /// The pool it joins when pools are generated (default `pool`).
    pub pool: Option<String>,
    pub port: Option<u16>,
    #[serde(default)]
    pub behaviour: Behaviour,
    /// Delay before answering anything but health checks.
    pub latency: Option<Duration>,
    /// The status its health checks answer with at the start (default 200).
    pub health: Option<u16>,
    /// Delay before answering health checks.
    pub health_latency: Option<Duration>,
    /// Serve https with a certificate from a CA the scenario generates; the
    /// gateway's https settings trust that CA unless they name another.
    #[serde(default)]
    pub tls: bool,
}

/// `messages = { every = "5s", size = 64 }` or `{ every = "5s", text = "hi" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesEntry {
    pub every: Duration,
    pub size: Option<usize>,
    pub text: Option<String>,
}

/// `retry = { initial = "1s", max = "30s", … }`; leave it out for none.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryEntry {
    pub initial: Duration,
    pub max: Duration,
    #[serde(default = "two")]
    pub multiplier: u32,
    #[serde(default)]
    pub jitter: f64,
    #[serde(default = "ten")]
    pub max_attempts: u32,
    pub attempt_timeout: Option<Duration>,
}

fn two() -> u32 {
    2
}
fn ten() -> u32 {
    10
}

/// `[[clients]]`: a group of scripted WebSocket clients on one host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    pub name: String,
    pub count: Option<usize>,
    pub start: Option<Duration>,
    pub path: Option<String>,
    #[serde(default)]
    pub subprotocols: Vec<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The gateway instance to use (default: session i uses instance i mod N).
    pub gateway: Option<String>,
    pub ping_interval: Option<Duration>,
    pub messages: Option<MessagesEntry>,
    pub close_after: Option<Duration>,
    /// After closing on purpose (`close_after`), open a new session this
    /// much later: a stream of fresh sessions.
    pub reopen_after: Option<Duration>,
    pub retry: Option<RetryEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionName {
    FailProbes,
    PassProbes,
    SlowProbes,
    WebsocketOnly,
    Crash,
    Restart,
    Partition,
    Heal,
    Maintenance,
    SetLatency,
}

/// `[[timeline]]`: `{ at = "95s", action = "fail-probes", target = "b2" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineEntry {
    pub at: Duration,
    pub action: ActionName,
    pub target: String,
    /// The other side, for `partition`, `heal` and `set-latency`.
    pub with: Option<String>,
    /// For `fail-probes`: the status health checks answer with (default 500).
    pub status: Option<u16>,
    /// For `set-latency` and `slow-probes`.
    pub latency: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthWord {
    Healthy,
    Unhealthy,
}

/// `[[expect]]`: one of `closed`, `never_closed`, `handshake`,
/// `no_new_sessions_after`, `sessions`, `echoed`, `reconnected_within`,
/// `health` or `request_path`/`request_headers`, about a `client` or a
/// `backend`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectEntry {
    pub client: Option<String>,
    pub backend: Option<String>,
    /// Limits a `health` expectation to one gateway instance.
    pub instance: Option<String>,
    pub closed: Option<u16>,
    /// `["15s", "15.1s"]`: when a `closed` or `handshake` must happen.
    pub between: Option<[Duration; 2]>,
    pub never_closed: Option<bool>,
    pub handshake: Option<u16>,
    pub no_new_sessions_after: Option<Duration>,
    /// The number of sessions a backend opened over the whole run.
    pub sessions: Option<usize>,
    pub echoed: Option<bool>,
    pub reconnected_within: Option<Duration>,
    pub health: Option<HealthWord>,
    pub at: Option<Duration>,
    pub request_path: Option<String>,
    #[serde(default)]
    pub request_headers: BTreeMap<String, String>,
}
