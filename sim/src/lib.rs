//! wsgate's deterministic network simulator.
//!
//! It runs the unmodified `gateway` crate on turmoil's simulated network,
//! beside scriptable backends (the `backend` crate) and scripted WebSocket
//! and HTTP clients, and records what happens as a typed [`Trace`] stamped
//! with virtual time. The same seed gives the same trace, byte for byte.
//!
//! # Modules
//!
//! | module | what it is |
//! |---|---|
//! | [`app`] | SignalR and socket.io clients: the requests before the WebSocket, with the cookie jar |
//! | [`cookies`] | a client's cookie jar: `Set-Cookie` in, `Cookie` out |
//! | [`net`] | [`TurmoilTransport`]: the gateway's transport seam on turmoil |
//! | [`world`] | [`World`]: hosts for gateways, backends and clients; runs the sim |
//! | [`client`] | a recording tokio-tungstenite client with seeded keys, plain or TLS, for any transport |
//! | [`rotation`] | the frontend's rotation: which gateway instances take new connections |
//! | [`script`] | scripted WebSocket and HTTP clients (pings, heartbeats, messages, closes, retries) as data |
//! | [`trace`] | the ordered `(time, source, typed event)` record and its text rendering |
//!
//! # Data flow
//!
//! ```text
//! World::run ─▶ turmoil::Sim
//!                 ├─ host "gateway": gateway::Gateway<TurmoilTransport> ─┐ events
//!                 ├─ host "b1":      backend::serve                      ├──────▶ Trace
//!                 └─ client "c1":    script::ClientScript               ─┘
//! ```
//!
//! Determinism rules for everything here: time from `tokio::time` (virtual
//! inside turmoil), randomness from seeded RNGs, `select!` always `biased;`,
//! iterated collections ordered.

pub mod app;
pub mod client;
pub mod cookies;
pub mod net;
pub mod rotation;
pub mod script;
pub mod trace;
pub mod world;

pub use net::TurmoilTransport;
pub use trace::Trace;
pub use world::{Action, ClientEnv, World};

/// The README's Rust example, compiled and run by `cargo test --doc -p sim`
/// so that it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
