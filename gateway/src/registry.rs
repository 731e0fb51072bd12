//! Open sessions, and the switch that drops them all at once.
//!
//! A maintenance event (an instance restart, `POST /maintenance`) drops
//! every session the instance carries, abruptly, as documents 002 and the
//! DESIGN's maintenance row describe. Each tunnel waits on the registry's
//! epoch; bumping it ends them all.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::config::BackendAddr;
use crate::event::{Event, Events};
use crate::probe::Member;

/// Sessions open on one gateway instance.
#[derive(Debug)]
pub(crate) struct Registry {
    open: Mutex<BTreeMap<u64, BackendAddr>>,
    epoch: watch::Sender<u64>,
    draining: AtomicBool,
}

/// Removes its session from the registry when dropped.
#[derive(Debug)]
pub(crate) struct Registered {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            open: Mutex::new(BTreeMap::new()),
            epoch: watch::Sender::new(0),
            draining: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, BackendAddr>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a session. The returned future completes when the session
    /// must be dropped for maintenance.
    pub(crate) fn register(
        self: &Arc<Self>,
        id: u64,
        backend: BackendAddr,
    ) -> (Registered, impl Future<Output = ()> + Send + 'static) {
        self.lock().insert(id, backend);
        let mut epoch = self.epoch.subscribe();
        let dropped = async move {
            if epoch.changed().await.is_err() {
                // The gateway is gone; nothing will ever drop this session.
                std::future::pending::<()>().await;
            }
        };
        (
            Registered {
                registry: Arc::clone(self),
                id,
            },
            dropped,
        )
    }

    /// Drops every open session now; returns how many there were.
    pub(crate) fn drop_all(&self) -> usize {
        let count = self.lock().len();
        self.epoch.send_modify(|e| *e += 1);
        count
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub(crate) fn open_count(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn by_backend(&self) -> BTreeMap<BackendAddr, usize> {
        let mut counts = BTreeMap::new();
        for backend in self.lock().values() {
            *counts.entry(backend.clone()).or_insert(0) += 1;
        }
        counts
    }
}

/// Control of a running gateway, for the admin endpoint and the simulator.
#[derive(Clone)]
pub struct GatewayHandle {
    pub(crate) registry: Arc<Registry>,
    pub(crate) events: Events,
    pub(crate) members: Arc<Vec<Arc<Member>>>,
    pub(crate) started: tokio::time::Instant,
}

/// One backend as the admin endpoint shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendStatus {
    pub pool: String,
    pub address: BackendAddr,
    pub healthy: bool,
    /// The last probe's result, if one has completed.
    pub last_probe: Option<String>,
    /// When it completed, measured from the gateway's start.
    pub last_probe_at: Option<Duration>,
    pub consecutive_failures: u32,
    pub open_sessions: usize,
}

impl std::fmt::Debug for GatewayHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayHandle")
            .field("open", &self.open_sessions())
            .finish()
    }
}

impl GatewayHandle {
    /// How many upgraded sessions are open.
    pub fn open_sessions(&self) -> usize {
        self.registry.open_count()
    }

    /// Open sessions per backend, in address order.
    pub fn sessions_by_backend(&self) -> BTreeMap<BackendAddr, usize> {
        self.registry.by_backend()
    }

    /// Every backend's health and open sessions, in config order.
    pub fn backends(&self) -> Vec<BackendStatus> {
        let open = self.registry.by_backend();
        self.members
            .iter()
            .map(|m| {
                let health = m.snapshot();
                BackendStatus {
                    pool: m.pool.clone(),
                    address: m.addr.clone(),
                    healthy: health.is_healthy(),
                    last_probe: health.last().map(|(_, r)| r.to_string()),
                    last_probe_at: health.last().map(|(at, _)| *at),
                    consecutive_failures: health.consecutive_failures(),
                    open_sessions: open.get(&m.addr).copied().unwrap_or(0),
                }
            })
            .collect()
    }

    /// How long the gateway has been up.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether a drain is under way (new requests get 503).
    pub fn is_draining(&self) -> bool {
        self.registry.is_draining()
    }

    /// Starts maintenance. Without `drain`, every open session is dropped at
    /// once and the count returned. With `drain`, new requests are refused
    /// with 503 for that long, then whatever is still open is dropped; this
    /// returns at once with the sessions open now. Must be called inside a
    /// tokio runtime.
    pub fn maintenance(&self, drain: Option<Duration>) -> usize {
        self.events.emit(Event::MaintenanceStarted { drain });
        match drain {
            None => self.registry.drop_all(),
            Some(period) => {
                self.registry.draining.store(true, Ordering::Relaxed);
                let registry = Arc::clone(&self.registry);
                tokio::spawn(async move {
                    tokio::time::sleep(period).await;
                    registry.drop_all();
                    registry.draining.store(false, Ordering::Relaxed);
                });
                self.registry.open_count()
            }
        }
    }
}
