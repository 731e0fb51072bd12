//! Scriptable backends for wsgate: what `wsgate echo` serves, what the
//! embedded default proxies to, what the simulator's and the real-network
//! harness's backends run.
//!
//! A backend is an HTTP/1.1 server on any [`gateway::Transport`]:
//! - `GET /` and `GET /health` answer with the current health status (200
//!   unless changed through [`Control`]), which is what probes look at;
//! - a WebSocket upgrade on any path is accepted (or refused, or answered
//!   with a broken 101, as [`Control::set_upgrade`] says), the first
//!   offered subprotocol it knows is chosen, and the session follows its
//!   [`SessionScript`]: every text and binary message is echoed, and it may
//!   push messages, ping, and close with a code of its own;
//! - an [`App`] (SignalR, socket.io) answers its own requests first, and
//!   refuses a WebSocket for a connection it did not negotiate;
//! - any other request gets 200 with its own body echoed.
//!
//! Everything it sees is reported as a typed [`BackendEvent`], data
//! messages with a digest of their bytes, so a harness can prove that what
//! a client sent is what the backend got, byte for byte, and back.
//!
//! | module | what it is |
//! |---|---|
//! | [`app`] | SignalR and socket.io models: the ids a server issued, and the 404/400 for one it did not |
//! | [`event`] | [`BackendEvent`], [`SeenRequest`], [`digest`] |
//! | [`control`] | knobs a running backend is turned by: health, delays, upgrade answers |
//! | [`script`] | what a session does besides echoing: push, ping, close |
//! | `serve` | the HTTP service and the accept loop |
//! | `session` | one WebSocket session under its script |
//! | [`tls`] | a listener that completes TLS handshakes off the accept loop |

pub mod app;
pub mod control;
pub mod event;
pub mod script;
mod serve;
mod session;
pub mod tls;

pub use app::{App, AppEvent};
pub use control::{Control, UpgradeAnswer};
pub use event::{digest, BackendEvent, Direction, SeenRequest};
pub use script::{Close, Push, SessionScript};
pub use serve::{bind, serve, Options};
