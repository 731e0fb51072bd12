//! `wsgate lint`: WebSocket trouble predicted from a gateway config alone.
//!
//! | module | what it is |
//! |---|---|
//! | [`rules`] | each rule: a pure function from the config and the client's habits to findings |
//! | [`output`] | findings located in the file, as text, JSON or SARIF 2.1.0 |
//!
//! ```text
//! CONFIG ─▶ Config::from_toml ─▶ rules::lint (pure) ─▶ [Finding] ─▶ locate ─▶ text | json | sarif
//! ```
//!
//! Each finding has a stable code (`WSG001`…), the key of the value it is
//! about (located to file:line:col), the consequence in one line, the
//! requirement ids or Azure pages behind it, and a fix.

pub mod output;
pub mod rules;

use std::time::Duration;

pub use rules::{lint, Finding, Rule, RULES};

/// The client library, whose transport decides whether affinity matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    /// socket.io: HTTP long-polling first, then the upgrade; every request
    /// of a session must reach the same server.
    Socketio,
    /// ASP.NET Core SignalR: negotiate, then connect with the connection
    /// id; both must reach the same server.
    Signalr,
}

impl Client {
    /// The library's default ping (socket.io `pingInterval` 25 s, SignalR
    /// `KeepAliveInterval` 15 s).
    pub fn default_ping(self) -> Duration {
        match self {
            Client::Socketio => Duration::from_secs(25),
            Client::Signalr => Duration::from_secs(15),
        }
    }

    /// The path the library's WebSocket lives under by default.
    pub fn websocket_path(self) -> &'static str {
        match self {
            Client::Socketio => "/socket.io",
            Client::Signalr => "/hub",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Client::Socketio => "socket.io",
            Client::Signalr => "SignalR",
        }
    }
}

/// How findings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// SARIF 2.1.0, for code-scanning annotations.
    Sarif,
}

/// What the lint assumes about the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// How often clients (or the server) ping.
    pub ping_interval: Duration,
    pub client: Option<Client>,
}

/// The ping interval assumed when none is given and no client is named:
/// the 20 s doc 000's Note uses as its example.
pub const DEFAULT_PING: Duration = Duration::from_secs(20);

impl Options {
    pub fn new(ping_interval: Option<Duration>, client: Option<Client>) -> Options {
        Options {
            ping_interval: ping_interval.unwrap_or_else(|| client.map_or(DEFAULT_PING, Client::default_ping)),
            client,
        }
    }
}
