//! The scenario file's TOML shape, exactly as written. [`super::load`] turns
//! it into a checked [`super::Scenario`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use gateway::config::{
    BackendPoolConfig, BackendSettingsConfig, Duration, ListenerConfig, MaintenanceConfig, ProbeConfig,
    RewriteSetConfig, RuleConfig, WafPolicyConfig,
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
        .section("backends[].push", "[backends.push]", fields_of::<PushEntry>())
        .section("backends[].close", "[backends.close]", fields_of::<CloseEntry>())
        .section("clients[]", "[[clients]]", fields_of::<ClientEntry>())
        .section("clients[].messages", "[clients.messages]", fields_of::<MessagesEntry>())
        .section("clients[].retry", "[clients.retry]", fields_of::<RetryEntry>())
        .section("requests[]", "[[requests]]", fields_of::<RequestEntry>())
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
    /// How many seeds a run uses by default: `seed`, then derived ones.
    /// For behaviour that must hold whatever the schedule (`--seeds N`
    /// overrides it).
    pub seeds: Option<u64>,
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
    pub requests: Vec<RequestEntry>,
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    #[serde(default)]
    pub expect: Vec<ExpectEntry>,
}

/// `[gateway]`: the gateway's own config shape (without `profile`, which the
/// header gives), or `config = "file.toml"`, plus `instances`. Sections left
/// out are generated: one listener on port 80, one pool per backend `pool`,
/// default settings, and a rule per listener joining them.
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
    pub maintenance: Option<MaintenanceConfig>,
    pub origin_response_timeout: Option<Duration>,
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
    /// Answers every upgrade with `upgrade_status` (default 403).
    RefuseUpgrades,
    /// Answers upgrades with a 101 whose accept value is for another key.
    WrongAccept,
    /// Answers upgrades with a 101 switching to `h2c`.
    SwitchProtocol,
    /// Closes the connection on every upgrade without answering.
    HangUpUpgrades,
}

/// `push = { every = "10s", size = 64 }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushEntry {
    pub every: Duration,
    #[serde(default = "default_push_size")]
    pub size: usize,
}

fn default_push_size() -> usize {
    64
}

/// `close = { after = "30s", code = 4001 }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseEntry {
    pub after: Duration,
    #[serde(default = "default_close_code")]
    pub code: u16,
}

fn default_close_code() -> u16 {
    1000
}

/// An application a backend plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppWord {
    /// An ASP.NET Core SignalR hub: negotiate issues a connection token;
    /// a WebSocket with a token it did not issue gets 404.
    Signalr,
    /// A socket.io server: the polling open issues a session id; a request
    /// or WebSocket with an id it did not issue gets 400.
    Socketio,
}

/// What a client group speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolWord {
    /// A plain WebSocket handshake.
    #[default]
    Websocket,
    /// A SignalR client: negotiate, then the WebSocket with its token.
    Signalr,
    /// A socket.io client: the polling start, then the WebSocket upgrade.
    Socketio,
}

/// `[[backends]]`: a scripted backend on its own host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendEntry {
    pub name: String,
    /// The application it plays (default: none, an echo server).
    pub app: Option<AppWord>,
    /// The pool it joins when pools are generated (default `pool`).
    pub pool: Option<String>,
    pub port: Option<u16>,
    #[serde(default)]
    pub behaviour: Behaviour,
    /// The status `refuse-upgrades` answers with (default 403).
    pub upgrade_status: Option<u16>,
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
    /// Server-initiated messages on every session.
    pub push: Option<PushEntry>,
    /// Server pings on every session.
    pub ping_interval: Option<Duration>,
    /// A server-initiated close on every session.
    pub close: Option<CloseEntry>,
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
    /// `websocket` (default), `signalr` or `socketio`.
    #[serde(default)]
    pub protocol: ProtocolWord,
    pub count: Option<usize>,
    pub start: Option<Duration>,
    pub path: Option<String>,
    /// The `Host` header (default `app.example`).
    pub host: Option<String>,
    #[serde(default)]
    pub subprotocols: Vec<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The gateway instance to use (default: session i uses instance i mod N).
    pub gateway: Option<String>,
    /// The listener to connect to (default: the first).
    pub listener: Option<String>,
    /// Speak TLS (`wss://`), trusting the run's CA. Default: whether the
    /// listener is https.
    pub tls: Option<bool>,
    pub ping_interval: Option<Duration>,
    /// Give up on the connection when a pong has not come this long after a
    /// ping (a browser library's heartbeat).
    pub pong_timeout: Option<Duration>,
    pub messages: Option<MessagesEntry>,
    pub close_after: Option<Duration>,
    /// The code of the close at `close_after` (default 1000).
    pub close_code: Option<u16>,
    /// After closing on purpose (`close_after`), open a new session this
    /// much later: a stream of fresh sessions.
    pub reopen_after: Option<Duration>,
    pub retry: Option<RetryEntry>,
}

/// `[[requests]]`: plain HTTP requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestEntry {
    pub name: String,
    /// How many requests, one after another (default 1).
    pub count: Option<usize>,
    pub start: Option<Duration>,
    /// The time between one request's start and the next (default: as soon
    /// as the previous is answered).
    pub every: Option<Duration>,
    /// Default `GET`.
    pub method: Option<String>,
    pub path: Option<String>,
    pub host: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub gateway: Option<String>,
    pub listener: Option<String>,
    pub tls: Option<bool>,
    /// Bytes sent as they are (TOML escapes such as `\r\n` included),
    /// instead of a request built from method, path, host and headers.
    pub raw: Option<String>,
    /// With `raw`: this many bytes of `X-Filler` header lines after it, for
    /// oversized heads.
    pub raw_filler: Option<usize>,
    /// An unanswered request fails after this long (default 60 s).
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionName {
    FailProbes,
    PassProbes,
    SlowProbes,
    WebsocketOnly,
    SetDelay,
    Crash,
    Restart,
    Partition,
    Heal,
    Maintenance,
    Drain,
    SetLatency,
    RemoveBackend,
    AddBackend,
    ConfigUpdate,
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
    /// For `set-delay`: how late the backend answers from now on.
    pub delay: Option<Duration>,
    /// For `drain`: how long new requests are refused before what is
    /// still open is dropped.
    pub period: Option<Duration>,
    /// For `config-update`: the gateway config file to switch to (relative
    /// to the scenario file); without it each instance re-applies its own.
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthWord {
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Members {
    /// Every member of a group must meet the expectation (the default).
    #[default]
    Every,
    /// At least one member must.
    Any,
}

/// `probes = { method = "HEAD", path = "/", host = "127.0.0.1", count = 5 }`:
/// what every probe looked like, and how many came.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbesEntry {
    pub method: Option<String>,
    pub path: Option<String>,
    /// The probe's `Host` header.
    pub host: Option<String>,
    /// Exactly this many probes (per gateway instance, summed).
    pub count: Option<usize>,
}

/// `[[expect]]`: one assertion about a `client`, a `backend` or a
/// `request` group; see the README's language table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectEntry {
    pub client: Option<String>,
    pub backend: Option<String>,
    pub request: Option<String>,
    /// For a group: `every` member (default) or `any`.
    pub members: Option<Members>,
    /// Count matching events over the group instead: exactly, at least,
    /// at most this many.
    pub times: Option<usize>,
    pub at_least: Option<usize>,
    pub at_most: Option<usize>,
    /// `["15s", "15.1s"]`: when it must happen.
    pub between: Option<[Duration; 2]>,
    /// Limits a `health` expectation to one gateway instance.
    pub instance: Option<String>,

    pub closed: Option<u16>,
    pub never_closed: Option<bool>,
    pub handshake: Option<u16>,
    pub upgraded: Option<bool>,
    pub subprotocol: Option<String>,
    pub response_headers: Option<BTreeMap<String, String>>,
    /// The cookies responses set for the client: name to attributes
    /// (`{ ApplicationGatewayAffinity = "Path=/" }`); `{}` for none.
    pub cookies: Option<BTreeMap<String, String>>,
    pub echoed: Option<bool>,
    pub reconnected_within: Option<Duration>,
    pub status: Option<u16>,

    pub no_new_sessions_after: Option<Duration>,
    /// The number of sessions a backend opened (in `between`, if given).
    pub sessions: Option<usize>,
    pub sessions_at_least: Option<usize>,
    /// The number of requests (probes excluded) a backend received.
    pub requests: Option<usize>,
    pub health: Option<HealthWord>,
    pub at: Option<Duration>,
    pub request_path: Option<String>,
    pub request_headers: Option<BTreeMap<String, String>>,
    pub request_headers_absent: Option<Vec<String>>,
    /// Every session the backend opened (in `between`) received a Close
    /// frame with this code: the client's close reached it.
    pub close_received: Option<u16>,
    /// The health probes the backend received (in `between`).
    pub probes: Option<ProbesEntry>,

    /// The wrong gateway this expectation catches, in one line: what a
    /// gateway that broke the requirement would do here. Not judged;
    /// every expectation under `scenarios/` must carry one.
    pub catches: Option<String>,
}
