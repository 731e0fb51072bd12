//! Knobs a running backend is turned by: the simulator's timeline and the
//! real-network harness use them to fail probes, slow answers down or
//! change how upgrades are answered mid-run.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a backend answers a WebSocket upgrade request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UpgradeAnswer {
    /// `101` with the right `Sec-WebSocket-Accept`: a normal server.
    #[default]
    Accept,
    /// A plain answer with this status (403, 404, …): the server declines.
    Refuse(u16),
    /// `101` switching to `websocket` with an accept value for another key.
    WrongAccept,
    /// `101` switching to another protocol (`h2c`, say).
    SwitchTo(String),
    /// No answer at all: the connection closes once the request is read,
    /// as a server that dies mid-request does.
    HangUp,
}

/// Shared, live settings of one backend.
#[derive(Debug, Clone)]
pub struct Control {
    health_status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    health_delay_ms: Arc<AtomicU64>,
    websocket_only: Arc<AtomicBool>,
    upgrade: Arc<Mutex<UpgradeAnswer>>,
    /// Every serving task of the current incarnation waits here;
    /// [`Control::halt`] releases them in the order they started.
    halts: Arc<Mutex<gateway::roster::Roster>>,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            health_status: Arc::new(AtomicU16::new(200)),
            delay_ms: Arc::new(AtomicU64::new(0)),
            health_delay_ms: Arc::new(AtomicU64::new(0)),
            websocket_only: Arc::new(AtomicBool::new(false)),
            upgrade: Arc::new(Mutex::new(UpgradeAnswer::Accept)),
            halts: Arc::new(Mutex::new(gateway::roster::Roster::new())),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Control {
    /// The status `GET /` and `GET /health` answer with from now on.
    pub fn set_health_status(&self, status: u16) {
        self.health_status.store(status, Ordering::Relaxed);
    }

    pub fn health_status(&self) -> u16 {
        self.health_status.load(Ordering::Relaxed)
    }

    /// Delays every answer except `/` and `/health` by `delay` from now on:
    /// a slow backend for request-timeout behaviour.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(millis(delay), Ordering::Relaxed);
    }

    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms.load(Ordering::Relaxed))
    }

    /// Delays `/` and `/health` answers: a probe slower than its timeout.
    pub fn set_health_delay(&self, delay: Duration) {
        self.health_delay_ms.store(millis(delay), Ordering::Relaxed);
    }

    pub fn health_delay(&self) -> Duration {
        Duration::from_millis(self.health_delay_ms.load(Ordering::Relaxed))
    }

    /// A WebSocket-only server: every plain request, `/health` included,
    /// gets `426 Upgrade Required`. Such a backend fails HTTP probes.
    pub fn set_websocket_only(&self, on: bool) {
        self.websocket_only.store(on, Ordering::Relaxed);
    }

    pub fn websocket_only(&self) -> bool {
        self.websocket_only.load(Ordering::Relaxed)
    }

    /// How upgrades are answered from now on.
    pub fn set_upgrade(&self, answer: UpgradeAnswer) {
        *self.upgrade.lock().unwrap_or_else(|p| p.into_inner()) = answer;
    }

    pub fn upgrade(&self) -> UpgradeAnswer {
        self.upgrade.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops the backend's software at once, as a crash does: the accept
    /// loop, every connection and every session end, each in the order it
    /// started. The simulator calls this before turmoil crashes the host,
    /// so the close order does not depend on tokio task ids. A serving loop
    /// started afterwards (a restart) is not affected.
    pub fn halt(&self) {
        // A fresh roster for whatever serves next (a restart); the old one
        // releases everything that served before.
        let old = std::mem::take(&mut *self.halts.lock().unwrap_or_else(|p| p.into_inner()));
        old.release_all();
    }

    /// A future that completes at the next [`Control::halt`].
    pub(crate) fn halted(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let roster = self.halts.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (membership, released) = roster.join();
        async move {
            let _membership = membership;
            released.await;
        }
    }
}
