//! wsgate's reference gateway: a WebSocket-aware reverse proxy that behaves
//! as the Azure Application Gateway and Front Door documents describe.
//!
//! The crate knows nothing of the simulator. It gets sockets through
//! [`transport::Transport`] and time from `tokio::time`, so the `sim` crate
//! runs it unmodified on a virtual network.
//!
//! # Modules
//!
//! | module | what it is |
//! |---|---|
//! | [`admin`] | the admin endpoint: `POST`/`DELETE /maintenance`, `GET /sessions`, `GET /backends`, `GET /metrics` |
//! | [`affinity`] | pure: cookie affinity's cookies, read and issued; which responses may establish it |
//! | [`config`] | the TOML config: typed structs, `validate()` into a [`Plan`], located errors |
//! | [`diagnostic`] | located, worded errors for config and scenario files, in file order |
//! | [`plan`] | a validated config with every name resolved: what a gateway runs |
//! | [`profile`] | the documented systems, each one typed [`profile::Behaviour`] value |
//! | [`transport`] | the socket seam, and its tokio implementation |
//! | [`server`] | [`Gateway`]: binds listeners and serves connections |
//! | [`head`] | reads a connection's first request head under a deadline (408/431); parses a first handshake served without hyper, and writes its 101 |
//! | `proxy` | routes one request (I/O), from hyper or from a first head; on 101 hands off to the tunnel |
//! | [`forward`] | pure: the request a backend gets, and the next step after a failure |
//! | `body` | request bodies: read up to 64 KiB before forwarding, then streamed |
//! | `buffers` | the relay's read buffers: 8 KiB, growing to 64 KiB for bursts, lent per thread only while bytes move |
//! | [`upstream`] | one way to reach a backend (connect, TLS, HTTP handshake), typed errors |
//! | `upgrade` | a WebSocket handshake sent to a backend by hand: one write, one head parsed, the socket to the tunnel on 101 |
//! | [`handshake`] | pure: plain, upgrade or rejected (400/405/426); judging a backend's 101 |
//! | [`headers`] | pure: hop-by-hop removal, `X-Forwarded-*`, host override |
//! | [`pool`] | pure: the member a request goes to: affinity, then (weighted) round robin over the selection (health, priority, latency window) |
//! | `balance` | a backend set's pick at run time: live health and probe latency into [`pool::choose`], affinity cookies |
//! | [`health`] | pure: judging a probe answer; the health state machine (consecutive or sample window) |
//! | [`probe`] | probe specs resolved per profile, and the probe loop (one per backend) |
//! | [`session`] | pure: idle and lifetime deadlines for upgraded sessions |
//! | [`waf`] | pure: WAF custom rules, checked on requests (never after 101) |
//! | [`rewrite`] | pure: header and URL path rewrites on requests |
//! | `registry` | open sessions and connections; [`GatewayHandle`] drains, drops or shuts them down |
//! | `tunnel` | relays upgraded bytes both ways, with half-close, under the session timers |
//! | [`tls`] | rustls configs for https listeners and https backends |
//! | [`event`] | the typed [`Event`]s the gateway reports through a sink |
//! | [`metrics`] | a sink that counts events as Prometheus metrics, for `GET /metrics` |
//!
//! # Data flow
//!
//! ```text
//! client ─▶ Listener ─▶ [TLS] ─▶ head ─▶ hyper ─▶ handshake::classify
//!                                                  │ reject: 400 / 426
//!                                                  ▼
//!                        pool pick ─▶ headers ─▶ Transport::connect ─▶ backend
//!                                   (hyper client; a handshake: upgrade)
//!                                                  │ 101
//!                                                  ▼
//!                                      tunnel: bytes both ways until close
//! ```

pub mod admin;
pub mod affinity;
mod balance;
mod body;
mod buffers;
pub mod config;
pub mod diagnostic;
pub mod event;
pub mod forward;
mod generation;
pub mod handshake;
/// Reading a connection's first request head (public for the `head` fuzz target).
pub mod head;
pub mod headers;
pub mod health;
mod io;
pub mod metrics;
pub mod plan;
pub mod pool;
pub mod probe;
pub mod profile;
mod proxy;
mod registry;
pub mod rewrite;
pub mod roster;
pub mod server;
pub mod session;
pub mod tls;
pub mod transport;
mod tunnel;
mod upgrade;
pub mod upstream;
pub mod waf;

pub use config::Config;
pub use event::{Event, EventSink, Events};
pub use plan::Plan;
pub use profile::ProfileName;
pub use registry::{BackendStatus, GatewayHandle, Shutdown, MAX_DRAIN};
pub use server::{Gateway, GatewayError};
pub use transport::{TokioTransport, Transport};
