//! Open sessions, and the switch that drops them all at once.
//!
//! A maintenance event (an instance restart, `POST /maintenance`) drops
//! every session the instance carries, abruptly, as documents 002 and the
//! DESIGN's maintenance row describe. Each tunnel waits on the registry's
//! roster of sessions; releasing it ends them all, in the order they
//! opened. A shutdown
//! ([`GatewayHandle::shutdown`]) is a drain that ends early once nothing is
//! open.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::roster::{Membership, Released, Roster};

use tokio::sync::mpsc;

use crate::config::{BackendAddr, Config, ConfigError};
use crate::event::{CloseReason, DrainCause, Event, Events};
use crate::generation::Current;
use crate::health::ProbeResult;
use crate::plan::{ListenerPlan, Plan, TlsMaterial};
use crate::probe::Member;

/// The longest drain `POST /maintenance?drain=` accepts: an hour, the
/// largest connection-draining timeout Application Gateway's backend
/// settings allow (3600 s).
pub const MAX_DRAIN: Duration = Duration::from_secs(3600);

/// The sessions a drain closes together: those one member carries through
/// one backend set of one configuration.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Group {
    pub(crate) epoch: u64,
    pub(crate) set: usize,
    pub(crate) member: BackendAddr,
}

/// Sessions and client connections open on one gateway instance, and its
/// drain state.
#[derive(Debug)]
pub(crate) struct Registry {
    /// Every open session's tunnel waits here; releasing it drops them
    /// all, in the order they opened.
    sessions: Roster<CloseReason>,
    /// Each session also waits in its group's roster, for drains that
    /// close some sessions and not others (a removed member, a
    /// configuration update). Groups are released in key order.
    groups: Mutex<BTreeMap<Group, GroupSessions>>,
    /// Read on every request; changed only under `drain`.
    draining: AtomicBool,
    /// Bumped by every drain and cancel: a drain's timer acts only if no
    /// later call replaced it, so the latest call wins.
    drain: Mutex<u64>,
    connections: AtomicUsize,
    /// Set once the instance's software stops (a simulated crash or
    /// restart): every task closes its connections, in the order they
    /// registered, so the close order does not depend on task ids.
    halt: Roster,
    halted: AtomicBool,
    /// Woken whenever a session is unregistered, for a shutdown waiting
    /// for the last one.
    closed: Notify,
}

/// One group's sessions: the roster that drops them, and how many are
/// open. Counted per group, not listed per session, since every open
/// session would pay for its entry in a list. A released session leaves
/// the roster at once but stays open until its task ends and reports its
/// close, which a shutdown waits for; hence a count apart from the roster.
#[derive(Debug, Default, Clone)]
struct GroupSessions {
    roster: Roster<CloseReason>,
    open: Arc<AtomicUsize>,
}

/// Counts a client connection while it is open.
#[derive(Debug)]
pub(crate) struct Connection {
    registry: Arc<Registry>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.registry.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Removes its session from the registry when dropped.
#[derive(Debug)]
pub(crate) struct Registered {
    registry: Arc<Registry>,
    /// The open count of the session's group.
    group_open: Arc<AtomicUsize>,
    _membership: Membership<CloseReason>,
    _group: Membership<CloseReason>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.group_open.fetch_sub(1, Ordering::Relaxed);
        self.registry.closed.notify_waiters();
    }
}

/// Completes when a session is dropped, with why: every session at once
/// (maintenance, the end of a drain of everything) wins over its own group
/// (its member removed, its configuration replaced) when both come before
/// the session looks. One wait in two rosters, because every open session
/// holds one for its whole life.
pub(crate) type Dropped = Released<CloseReason>;

/// The rank of a release of every session: above a group's.
const EVERYONE: u8 = 1;
/// The rank of a release of one group.
const GROUP: u8 = 0;

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            sessions: Roster::new(),
            groups: Mutex::new(BTreeMap::new()),
            draining: AtomicBool::new(false),
            drain: Mutex::new(0),
            connections: AtomicUsize::new(0),
            closed: Notify::new(),
            halt: Roster::new(),
            halted: AtomicBool::new(false),
        }
    }

    /// Completes once the instance is halted ([`GatewayHandle::halt`]);
    /// halted tasks run in the order they called this.
    pub(crate) fn halted(&self) -> impl Future<Output = ()> + Send + 'static {
        let already = self.halted.load(Ordering::Relaxed);
        let (membership, released) = self.halt.join();
        async move {
            let _membership = membership;
            if !already {
                released.await;
            }
        }
    }

    /// Admits a client connection unless `limit` are open already.
    pub(crate) fn admit(self: &Arc<Self>, limit: Option<u32>) -> Option<Connection> {
        let limit = limit.map_or(usize::MAX, |l| l as usize);
        let admitted = self
            .connections
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < limit).then_some(n + 1))
            .is_ok();
        admitted.then(|| Connection {
            registry: Arc::clone(self),
        })
    }

    fn generation(&self) -> std::sync::MutexGuard<'_, u64> {
        self.drain.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn groups(&self) -> std::sync::MutexGuard<'_, BTreeMap<Group, GroupSessions>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a session in `group`. The returned future completes, with
    /// the reason, when the session must be dropped: maintenance drops
    /// every session, a drain those of some groups.
    pub(crate) fn register(self: &Arc<Self>, group: Group) -> (Registered, Dropped) {
        // Counted under the lock, so a drain pruning groups with nobody
        // open cannot forget this one between its lookup and its count.
        let sessions = {
            let mut groups = self.groups();
            let sessions = groups.entry(group).or_default();
            sessions.open.fetch_add(1, Ordering::Relaxed);
            sessions.clone()
        };
        let dropped = Dropped::new();
        let group_membership = sessions.roster.join_ranked(&dropped, GROUP);
        let membership = self.sessions.join_ranked(&dropped, EVERYONE);
        (
            Registered {
                registry: Arc::clone(self),
                group_open: sessions.open,
                _membership: membership,
                _group: group_membership,
            },
            dropped,
        )
    }

    /// Drops every open session now; returns how many there were.
    pub(crate) fn drop_all(&self) -> usize {
        let count = self.open_count();
        self.sessions.release_all_with(CloseReason::Maintenance);
        count
    }

    /// Drops the sessions of every group `which` selects, group by group in
    /// key order, each in the order it opened; returns how many.
    pub(crate) fn drop_groups(&self, which: impl Fn(&Group) -> bool, reason: &CloseReason) -> usize {
        let rosters: Vec<Roster<CloseReason>> = {
            let mut groups = self.groups();
            // Groups with no session open are forgotten, so the map follows
            // what is open rather than everything that ever was. A group
            // whose sessions were released but have not ended yet stays:
            // they still count per backend.
            groups.retain(|_, g| g.open.load(Ordering::Relaxed) > 0);
            groups
                .iter()
                .filter(|(g, _)| which(g))
                .map(|(_, g)| g.roster.clone())
                .collect()
        };
        rosters.iter().map(|r| r.release_all_with(reason.clone())).sum()
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Client connections open now.
    pub(crate) fn connection_count(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Sessions registered and not yet ended.
    pub(crate) fn open_count(&self) -> usize {
        self.groups().values().map(|g| g.open.load(Ordering::Relaxed)).sum()
    }

    /// Open sessions per backend, those with none left out.
    pub(crate) fn by_backend(&self) -> BTreeMap<BackendAddr, usize> {
        let mut counts = BTreeMap::new();
        for (group, sessions) in self.groups().iter() {
            let open = sessions.open.load(Ordering::Relaxed);
            if open > 0 {
                *counts.entry(group.member.clone()).or_insert(0) += open;
            }
        }
        counts
    }
}

/// What differs between the running listeners and a new configuration's,
/// in words, or `None`. Pure.
pub(crate) fn listener_change(running: &[ListenerPlan], next: &[ListenerPlan]) -> Option<String> {
    if running.len() != next.len() {
        return Some(format!("{} listeners now, {} in the update", running.len(), next.len()));
    }
    running.iter().zip(next).find_map(|(a, b)| {
        if a.name != b.name {
            Some(format!("listener `{}` became `{}`", a.name, b.name))
        } else if a.protocol != b.protocol || a.address != b.address {
            Some(format!(
                "listener `{}` moves from {}://{} to {}://{}",
                a.name,
                a.protocol.scheme(),
                a.address,
                b.protocol.scheme(),
                b.address
            ))
        } else if a.tls_files != b.tls_files {
            Some(format!("listener `{}` changes its certificate", a.name))
        } else {
            None
        }
    })
}

/// How long a shutdown waits, after dropping the sessions its grace left
/// open, for them to unregister (and report their close).
const DROP_WAIT: Duration = Duration::from_secs(1);

/// Where a shutdown is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Sessions may finish on their own until the grace ends.
    Grace,
    /// The rest were dropped; waiting for them to unregister.
    Dropped,
}

/// What a shutdown does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Wait,
    DropRest,
    Done,
}

/// Decides a shutdown's next step from the sessions open and whether the
/// phase's deadline has passed.
fn shutdown_step(open: usize, phase: Phase, past_deadline: bool) -> Step {
    match (open, phase, past_deadline) {
        (0, _, _) => Step::Done,
        (_, _, false) => Step::Wait,
        (_, Phase::Grace, true) => Step::DropRest,
        // A session that ignores its drop is a bug; do not hang on it.
        (_, Phase::Dropped, true) => Step::Done,
    }
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shutdown {
    /// Sessions open when it began.
    pub open: usize,
    /// Sessions still open when the grace ran out, dropped as maintenance
    /// drops them (their clients see 1006).
    pub dropped: usize,
}

/// A configuration for the serving loop to switch to.
pub(crate) struct Update {
    pub(crate) parts: crate::generation::Parts,
}

/// Why a configuration update or a membership change was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The new configuration is invalid; nothing changed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The new configuration changes the listeners, which a running
    /// instance keeps; restart it to change them.
    #[error("a configuration update cannot change the listeners ({0}); restart the gateway to change them")]
    ListenersChanged(String),
    /// No member of any pool has this address.
    #[error("no backend {0} in any pool (see GET /backends)")]
    UnknownBackend(BackendAddr),
    /// The gateway is not running any more.
    #[error("the gateway has stopped")]
    Stopped,
}

/// Control of a running gateway, for the admin endpoint and the simulator.
#[derive(Clone)]
pub struct GatewayHandle {
    pub(crate) registry: Arc<Registry>,
    pub(crate) events: Events,
    pub(crate) current: Arc<Current>,
    /// The listeners the instance was started with; an update keeps them.
    pub(crate) listeners: Arc<Vec<ListenerPlan>>,
    pub(crate) updates: mpsc::UnboundedSender<Update>,
    pub(crate) started: tokio::time::Instant,
}

/// One backend as the admin endpoint shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendStatus {
    pub pool: String,
    pub address: BackendAddr,
    pub healthy: bool,
    /// Taken out of its pool by hand (it gets no new sessions).
    pub removed: bool,
    /// The last probe's result, if one has completed.
    pub last_probe: Option<ProbeResult>,
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
        self.current
            .get()
            .members
            .iter()
            .map(|m| {
                let health = m.snapshot();
                BackendStatus {
                    pool: m.pool.clone(),
                    address: m.addr.clone(),
                    healthy: health.is_healthy(),
                    removed: m.is_removed(),
                    last_probe: health.last().map(|(_, r)| r.clone()),
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

    /// Client connections open now.
    pub fn open_connections(&self) -> usize {
        self.registry.connection_count()
    }

    /// Starts maintenance. Without `drain`, every open session is dropped at
    /// once and the count returned. With `drain` (at most [`MAX_DRAIN`]),
    /// new requests are refused with 503 for that long, then whatever is
    /// still open is dropped; this returns at once with the sessions open
    /// now. A drain is one state with one deadline: a later call replaces
    /// an earlier one, whose timer then does nothing. Must be called inside
    /// a tokio runtime.
    pub fn maintenance(&self, drain: Option<Duration>) -> usize {
        let drain = drain.map(|d| d.min(MAX_DRAIN));
        self.events.emit(Event::MaintenanceStarted { drain });
        let mut generation = self.registry.generation();
        *generation += 1;
        match drain {
            None => {
                self.registry.draining.store(false, Ordering::Relaxed);
                self.registry.drop_all()
            }
            Some(period) => {
                self.registry.draining.store(true, Ordering::Relaxed);
                let mine = *generation;
                let registry = Arc::clone(&self.registry);
                tokio::spawn(async move {
                    tokio::time::sleep(period).await;
                    let generation = registry.generation();
                    if *generation == mine {
                        registry.drop_all();
                        registry.draining.store(false, Ordering::Relaxed);
                    }
                });
                self.registry.open_count()
            }
        }
    }

    /// Takes every member with address `backend` out of its pool: it gets
    /// no new sessions, and its open sessions close when its settings'
    /// drain runs out (30 s without connection draining; never under a
    /// profile that does not drain). Removing it again restarts nothing.
    /// Must be called inside a tokio runtime.
    pub fn remove_backend(&self, backend: &BackendAddr) -> Result<(), UpdateError> {
        let generation = self.current.get();
        let members: Vec<&Arc<Member>> = generation.members.iter().filter(|m| &m.addr == backend).collect();
        if members.is_empty() {
            return Err(UpdateError::UnknownBackend(backend.clone()));
        }
        let mut announced = false;
        for member in members {
            let Some(removal) = member.remove() else { continue };
            if !announced {
                self.events.emit(Event::BackendRemoved {
                    backend: backend.clone(),
                    drain: member.drain.clone(),
                });
                announced = true;
            }
            let Some(timer) = member.drain.clone() else { continue };
            let (registry, member) = (Arc::clone(&self.registry), Arc::clone(member));
            tokio::spawn(async move {
                tokio::time::sleep(timer.after).await;
                // Put back meanwhile: its sessions stay. Otherwise the
                // drain is over: affinity no longer reaches it either.
                if member.drained(removal) {
                    let reason = CloseReason::Drained {
                        cause: DrainCause::BackendRemoved,
                        timer,
                    };
                    registry.drop_groups(|g| g.member == member.addr && g.set == member.set, &reason);
                }
            });
        }
        Ok(())
    }

    /// Puts every member with address `backend` back in its pool. It takes
    /// traffic again once it passes a probe (at once under a profile that
    /// starts members healthy); open sessions it still carries stay.
    pub fn add_backend(&self, backend: &BackendAddr) -> Result<(), UpdateError> {
        let generation = self.current.get();
        let members: Vec<&Arc<Member>> = generation.members.iter().filter(|m| &m.addr == backend).collect();
        if members.is_empty() {
            return Err(UpdateError::UnknownBackend(backend.clone()));
        }
        // Every member is put back, so no short-circuit.
        let added = members.iter().filter(|m| m.add()).count();
        if added > 0 {
            self.events.emit(Event::BackendAdded {
                backend: backend.clone(),
            });
        }
        Ok(())
    }

    /// Switches the instance to `config`: requests from now on are routed
    /// by it, and every session open before closes when its settings'
    /// drain runs out (Application Gateway: 30 s without connection
    /// draining). Backends in both configurations keep their health. The
    /// listeners must stay as they are. Nothing changes if the config is
    /// invalid.
    pub fn update(&self, config: &Config) -> Result<(), UpdateError> {
        let (plan, material) = Plan::resolve(config)?;
        self.update_plan(plan, material)
    }

    /// [`GatewayHandle::update`] with a plan that is already resolved
    /// ([`Plan::resolve`]): for a harness that changes the plan first (the
    /// conformance harness divides its timers with [`Plan::time_scaled`]).
    pub fn update_plan(&self, plan: Plan, material: TlsMaterial) -> Result<(), UpdateError> {
        if let Some(change) = listener_change(&self.listeners, &plan.listeners) {
            return Err(UpdateError::ListenersChanged(change));
        }
        let parts = crate::generation::Parts::of(&plan, material.backend_sets);
        self.updates.send(Update { parts }).map_err(|_| UpdateError::Stopped)
    }

    /// Shuts the instance down: from now on requests on connections still
    /// open get 503 (as in a drain; any maintenance drain under way is
    /// replaced), open sessions may run for `grace`, then whatever is still
    /// open is dropped as maintenance drops it. Returns once no session is
    /// open. Stop accepting connections first, with
    /// [`crate::Gateway::run_until`].
    pub async fn shutdown(&self, grace: Duration) -> Shutdown {
        {
            let mut generation = self.registry.generation();
            *generation += 1;
            self.registry.draining.store(true, Ordering::Relaxed);
        }
        let open = self.registry.open_count();
        let mut dropped = 0;
        let mut phase = Phase::Grace;
        let mut deadline = tokio::time::Instant::now() + grace;
        loop {
            // Listen before counting, so a session that ends in between
            // still wakes this.
            let closed = self.registry.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            let past = tokio::time::Instant::now() >= deadline;
            match shutdown_step(self.registry.open_count(), phase, past) {
                Step::Done => return Shutdown { open, dropped },
                Step::DropRest => {
                    dropped = self.registry.drop_all();
                    phase = Phase::Dropped;
                    deadline = tokio::time::Instant::now() + DROP_WAIT;
                }
                Step::Wait => {
                    tokio::select! {
                        biased;
                        () = &mut closed => {}
                        () = tokio::time::sleep_until(deadline) => {}
                    }
                }
            }
        }
    }

    /// Stops the instance's software at once, as a crash or restart does:
    /// every session is dropped and every connection task and accept loop
    /// ends, each in the order it registered. The simulator calls this
    /// before turmoil crashes or restarts the host, so the close order is
    /// the same on every run (tokio would otherwise drop a runtime's tasks
    /// in task-id order, and task ids are process-wide). Returns the number
    /// of sessions dropped.
    pub fn halt(&self) -> usize {
        self.registry.halted.store(true, Ordering::Relaxed);
        self.registry.halt.release_all();
        self.registry.drop_all()
    }

    /// Cancels a drain under way: requests are served again and its timer
    /// drops nothing. Returns whether there was one.
    pub fn cancel_maintenance(&self) -> bool {
        let mut generation = self.registry.generation();
        if !self.registry.draining.load(Ordering::Relaxed) {
            return false;
        }
        *generation += 1;
        self.registry.draining.store(false, Ordering::Relaxed);
        self.events.emit(Event::MaintenanceCancelled);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sessions_wait_to_be_dropped_is_one_pointer() {
        // Held by every open session for its whole life.
        assert_eq!(std::mem::size_of::<Dropped>(), std::mem::size_of::<usize>());
    }

    #[tokio::test]
    async fn maintenance_wins_over_a_group_release_at_the_same_moment() {
        let registry = Arc::new(Registry::new());
        let group = Group {
            epoch: 0,
            set: 0,
            member: BackendAddr {
                host: "b1".into(),
                port: 80,
            },
        };
        let (_registered, dropped) = registry.register(group.clone());
        // The group's release comes first, but both are in before the
        // session looks: it reports maintenance, as a biased select would.
        let rosters: Vec<Roster<CloseReason>> = registry.groups().values().map(|g| g.roster.clone()).collect();
        for r in rosters {
            r.release_all_with(CloseReason::Closed);
        }
        registry.sessions.release_all_with(CloseReason::Maintenance);
        assert_eq!(dropped.await, CloseReason::Maintenance);
    }

    fn handle() -> GatewayHandle {
        let (generation, _) = crate::generation::build(
            crate::generation::Parts {
                behaviour: crate::ProfileName::ApplicationGateway.behaviour(),
                listeners: Vec::new(),
                routes: Vec::new(),
                backend_sets: Vec::new(),
                tls: Vec::new(),
            },
            0,
            None,
        );
        let (updates, _) = mpsc::unbounded_channel();
        GatewayHandle {
            registry: Arc::new(Registry::new()),
            events: crate::event::discard(),
            current: Arc::new(Current::new(generation)),
            listeners: Arc::new(Vec::new()),
            updates,
            started: tokio::time::Instant::now(),
        }
    }

    fn group(addr: &str) -> Group {
        Group {
            epoch: 0,
            set: 0,
            member: BackendAddr::parse(addr).unwrap(),
        }
    }

    /// Drains close their groups only, in key order, with their reason.
    #[tokio::test(start_paused = true)]
    async fn a_drain_closes_its_groups_and_no_others() {
        let h = handle();
        let (_a, a) = h.registry.register(group("a:1"));
        let (_b, b) = h.registry.register(group("b:1"));
        let reason = CloseReason::Drained {
            cause: DrainCause::BackendRemoved,
            timer: crate::session::Timer::key(Duration::from_secs(30), "t"),
        };
        assert_eq!(h.registry.drop_groups(|g| g.member.host == "a", &reason), 1);
        assert_eq!(a.await, reason);
        tokio::pin!(b);
        assert!(tokio::time::timeout(Duration::from_secs(60), &mut b).await.is_err());
        assert_eq!(h.maintenance(None), 2, "both still registered until dropped");
        assert_eq!(b.await, CloseReason::Maintenance);
    }

    /// A released session has left its rosters but is open until its task
    /// drops its registration: a shutdown waits for that, and the admin
    /// API counts it per backend until then.
    #[tokio::test]
    async fn a_session_counts_as_open_until_its_registration_drops() {
        let h = handle();
        let (a1, _) = h.registry.register(group("a:1"));
        let (a2, _) = h.registry.register(group("a:1"));
        let (b1, b1_dropped) = h.registry.register(group("b:1"));
        let counts = |h: &GatewayHandle| {
            let by: Vec<(String, usize)> = h
                .sessions_by_backend()
                .into_iter()
                .map(|(b, n)| (b.to_string(), n))
                .collect();
            (h.open_sessions(), by)
        };
        let both = vec![("a:1".to_string(), 2), ("b:1".to_string(), 1)];
        assert_eq!(counts(&h), (3, both.clone()));
        assert_eq!(
            h.registry.drop_groups(|g| g.member.host == "b", &CloseReason::Closed),
            1
        );
        assert_eq!(b1_dropped.await, CloseReason::Closed);
        assert_eq!(counts(&h), (3, both.clone()), "released, not yet ended");
        // A drain of nothing prunes the groups with nobody open, and only
        // those: b's session was released but is still open.
        assert_eq!(h.registry.drop_groups(|_| false, &CloseReason::Closed), 0);
        assert_eq!(counts(&h), (3, both), "still counted after the pruning");
        drop(b1);
        assert_eq!(counts(&h), (2, vec![("a:1".to_string(), 2)]));
        drop((a1, a2));
        assert_eq!(counts(&h), (0, vec![]));
        // A group with nobody left is forgotten at the next drain.
        assert_eq!(h.registry.drop_groups(|_| true, &CloseReason::Closed), 0);
        assert!(h.registry.groups().is_empty());
    }

    #[test]
    fn listener_changes_are_named() {
        let l = |name: &str, port: u16| ListenerPlan {
            name: name.into(),
            protocol: crate::config::Protocol::Http,
            address: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            tls_files: None,
            tcp_keepalive: None,
            route: 0,
        };
        assert_eq!(listener_change(&[l("a", 80)], &[l("a", 80)]), None);
        assert!(listener_change(&[l("a", 80)], &[l("a", 81)])
            .unwrap()
            .contains("moves from"));
        assert!(listener_change(&[l("a", 80)], &[l("b", 80)])
            .unwrap()
            .contains("became"));
        assert!(listener_change(&[l("a", 80)], &[]).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn the_latest_drain_wins_and_an_earlier_timer_drops_nothing() {
        let h = handle();
        h.maintenance(Some(Duration::from_secs(10)));
        // A shorter drain replaces the first; it ends at 2 s.
        h.maintenance(Some(Duration::from_secs(2)));
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!h.is_draining(), "the second drain ended at 2 s");
        // A session opened after the drain ended survives the first
        // drain's timer at 10 s.
        let (_registered, dropped) = h.registry.register(group("b:1"));
        tokio::pin!(dropped);
        let at_ten = tokio::time::timeout(Duration::from_secs(20), &mut dropped).await;
        assert!(at_ten.is_err(), "the replaced drain's timer must not drop it");
    }

    #[tokio::test(start_paused = true)]
    async fn a_drain_can_be_cancelled() {
        let h = handle();
        assert!(!h.cancel_maintenance(), "nothing to cancel");
        h.maintenance(Some(Duration::from_secs(5)));
        assert!(h.is_draining());
        assert!(h.cancel_maintenance());
        assert!(!h.is_draining());
        let (_registered, dropped) = h.registry.register(group("b:1"));
        tokio::pin!(dropped);
        assert!(tokio::time::timeout(Duration::from_secs(60), &mut dropped)
            .await
            .is_err());
    }

    #[test]
    fn shutdown_waits_for_sessions_then_drops_them_once() {
        assert_eq!(shutdown_step(0, Phase::Grace, false), Step::Done);
        assert_eq!(shutdown_step(2, Phase::Grace, false), Step::Wait);
        assert_eq!(shutdown_step(2, Phase::Grace, true), Step::DropRest);
        assert_eq!(shutdown_step(1, Phase::Dropped, false), Step::Wait);
        assert_eq!(shutdown_step(1, Phase::Dropped, true), Step::Done);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_early_when_the_last_session_closes() {
        let h = handle();
        let (registered, _dropped) = h.registry.register(group("b:1"));
        let started = tokio::time::Instant::now();
        let closer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            drop(registered);
        });
        let report = h.shutdown(Duration::from_secs(30)).await;
        assert_eq!(report, Shutdown { open: 1, dropped: 0 });
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        assert!(h.is_draining(), "requests on open connections get 503");
        closer.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_drops_what_the_grace_left_open() {
        let h = handle();
        let (registered, dropped) = h.registry.register(group("b:1"));
        // A session that ends when it is dropped, as a tunnel does.
        tokio::spawn(async move {
            dropped.await;
            drop(registered);
        });
        let started = tokio::time::Instant::now();
        let report = h.shutdown(Duration::from_secs(2)).await;
        assert_eq!(report, Shutdown { open: 1, dropped: 1 });
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(h.open_sessions(), 0);
    }

    #[test]
    fn connections_are_admitted_up_to_the_limit() {
        let r = Arc::new(Registry::new());
        let a = r.admit(Some(2));
        let b = r.admit(Some(2));
        assert!(a.is_some() && b.is_some());
        assert!(r.admit(Some(2)).is_none(), "the third is refused");
        drop(a);
        let c = r.admit(Some(2));
        assert!(c.is_some(), "a closed connection frees its place");
        assert_eq!(r.connection_count(), 2);
        drop((b, c));
        assert_eq!(r.connection_count(), 0);
    }
}
