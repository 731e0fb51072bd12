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
//! | [`admin`] | the admin endpoint: `POST /maintenance`, `GET /sessions`, `GET /backends` |
//! | [`config`] | the TOML config: typed structs, `validate()`, located errors |
//! | [`profile`] | the documented systems, each one typed [`profile::Behaviour`] value |
//! | [`transport`] | the socket seam, and its tokio implementation |
//! | [`server`] | [`Gateway`]: binds listeners and serves connections |
//! | `head` | reads a connection's first request head under a deadline (408/431) |
//! | `proxy` | forwards one request; on 101 hands off to the tunnel |
//! | [`handshake`] | pure: plain, upgrade or rejected (400/426) |
//! | [`headers`] | pure: hop-by-hop removal, `X-Forwarded-*`, host override |
//! | [`pool`] | pure: round-robin backend pick |
//! | [`health`] | pure: judging a probe answer; the health state machine (consecutive or sample window) |
//! | [`probe`] | probe specs resolved per profile, and the probe loop (one per backend) |
//! | [`session`] | pure: idle and lifetime deadlines for upgraded sessions |
//! | [`waf`] | pure: WAF custom rules, checked on requests (never after 101) |
//! | [`rewrite`] | pure: header and URL path rewrites on requests |
//! | `registry` | open sessions; [`GatewayHandle`] drops them for maintenance |
//! | `tunnel` | relays upgraded bytes both ways, with half-close, under the session timers |
//! | [`tls`] | rustls configs for https listeners and https backends |
//! | [`event`] | the typed [`Event`]s the gateway reports through a sink |
//! | [`echo`] | a demo WebSocket echo backend |
//!
//! # Data flow
//!
//! ```text
//! client ─▶ Listener ─▶ [TLS] ─▶ head ─▶ hyper ─▶ handshake::classify
//!                                                  │ reject: 400 / 426
//!                                                  ▼
//!                        pool pick ─▶ headers ─▶ Transport::connect ─▶ backend
//!                                                  │ 101
//!                                                  ▼
//!                                      tunnel: bytes both ways until close
//! ```

pub mod admin;
pub mod config;
pub mod echo;
pub mod event;
pub mod handshake;
mod head;
pub mod headers;
pub mod health;
mod io;
pub mod pool;
pub mod probe;
pub mod profile;
mod proxy;
mod registry;
pub mod rewrite;
pub mod server;
pub mod session;
pub mod tls;
pub mod transport;
mod tunnel;
pub mod waf;

pub use config::Config;
pub use event::{Event, EventSink, Events};
pub use profile::ProfileName;
pub use registry::{BackendStatus, GatewayHandle};
pub use server::{Gateway, GatewayError};
pub use transport::{TokioTransport, Transport};
