//! One configuration's run-time state: each listener's route, the backend
//! sets with their members, and the probes to run.
//!
//! A configuration update ([`crate::GatewayHandle::update`]) builds the
//! next generation and swaps it in. Requests read the current generation
//! when they arrive, so new handshakes work throughout; sessions opened
//! under an earlier generation close when their settings' drain runs out
//! (Application Gateway: "a configuration update will terminate ongoing
//! connections after the connection draining timeout"). A backend that is
//! in both keeps its health, so an update does not empty a healthy pool.

use std::sync::{Arc, Mutex};

use crate::balance::Balance;
use crate::config::BackendAddr;
use crate::plan::{BackendSetPlan, ListenerPlan, Plan, RoutePlan};
use crate::probe::{Member, ProbeSpec};
use crate::profile::Behaviour;
use crate::proxy::{Backends, Route};
use crate::roster::Roster;
use crate::upstream::Tls;

/// One configuration, running.
#[derive(Debug)]
pub(crate) struct Generation {
    pub(crate) epoch: u64,
    /// By listener index (the listeners never change across updates).
    pub(crate) routes: Vec<Arc<Route>>,
    pub(crate) sets: Vec<Arc<Backends>>,
    /// Every member of every set, in plan order.
    pub(crate) members: Vec<Arc<Member>>,
    /// Released when a later generation replaces this one: its probe loops
    /// stop.
    pub(crate) retired: Roster<()>,
}

/// One probe loop to run: a member, its probe and the TLS it needs.
pub(crate) struct ProbeJob {
    pub(crate) member: Arc<Member>,
    pub(crate) spec: ProbeSpec,
    pub(crate) tls: Option<Tls>,
}

/// What a generation is built from: a plan's routing parts.
pub(crate) struct Parts {
    pub(crate) behaviour: Behaviour,
    pub(crate) listeners: Vec<ListenerPlan>,
    pub(crate) routes: Vec<RoutePlan>,
    pub(crate) backend_sets: Vec<BackendSetPlan>,
    /// Per backend set: the TLS client config for https settings.
    pub(crate) tls: Vec<Option<Arc<rustls::ClientConfig>>>,
}

impl Parts {
    /// The routing parts of `plan`, with the TLS client configs of its
    /// backend sets ([`crate::plan::TlsMaterial::backend_sets`]): the one
    /// way both a start and an update turn a plan into a generation.
    pub(crate) fn of(plan: &Plan, tls: Vec<Option<Arc<rustls::ClientConfig>>>) -> Parts {
        Parts {
            behaviour: plan.behaviour,
            listeners: plan.listeners.clone(),
            routes: plan.routes.clone(),
            backend_sets: plan.backend_sets.clone(),
            tls,
        }
    }
}

/// Builds generation `epoch`, carrying health over from `previous` for
/// every backend that is in the same pool there.
pub(crate) fn build(parts: Parts, epoch: u64, previous: Option<&Generation>) -> (Generation, Vec<ProbeJob>) {
    let Parts {
        behaviour,
        listeners,
        routes,
        backend_sets,
        tls,
    } = parts;
    let mut jobs = Vec::new();
    let mut sets = Vec::new();
    let mut members = Vec::new();
    for (index, (set, tls)) in backend_sets.into_iter().zip(tls).enumerate() {
        let mut set_members = Vec::new();
        for m in &set.members {
            let drain = set.settings.drain.clone();
            let member = match previous.and_then(|g| carried_from(g, &set.pool, &m.addr)) {
                Some(old) => old.carried(set.pool.clone(), &m.probe, index, drain),
                None => Member::new(m.addr.clone(), set.pool.clone(), &m.probe, index, drain),
            };
            let member = Arc::new(member);
            jobs.push(ProbeJob {
                member: Arc::clone(&member),
                spec: m.probe.clone(),
                tls: tls
                    .as_ref()
                    .map(|config| Tls::for_backend(config, &set.settings, &m.addr)),
            });
            members.push(Arc::clone(&member));
            set_members.push(member);
        }
        let balance = Balance::new(&set, behaviour.all_unhealthy);
        sets.push(Arc::new(Backends::new(set_members, balance, set.settings, tls, index)));
    }
    let routes: Vec<Arc<Route>> = routes
        .into_iter()
        .filter_map(|route| {
            let backends = Arc::clone(sets.get(route.backends)?);
            Some(Arc::new(Route {
                plan: route,
                backends,
                behaviour,
                epoch,
            }))
        })
        .collect();
    let by_listener = listeners.iter().filter_map(|l| routes.get(l.route).cloned()).collect();
    (
        Generation {
            epoch,
            routes: by_listener,
            sets,
            members,
            retired: Roster::new(),
        },
        jobs,
    )
}

/// The member `addr` of pool `pool` in `generation`, if it has one.
fn carried_from<'a>(generation: &'a Generation, pool: &str, addr: &BackendAddr) -> Option<&'a Arc<Member>> {
    generation.members.iter().find(|m| m.pool == pool && &m.addr == addr)
}

/// The generation requests read now, shared by the accept loops, the
/// handle and the updater.
#[derive(Debug)]
pub(crate) struct Current(Mutex<Arc<Generation>>);

impl Current {
    pub(crate) fn new(generation: Generation) -> Current {
        Current(Mutex::new(Arc::new(generation)))
    }

    pub(crate) fn get(&self) -> Arc<Generation> {
        Arc::clone(&self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Swaps in `next`; returns the generation it replaced.
    pub(crate) fn replace(&self, next: Generation) -> Arc<Generation> {
        let mut current = self.0.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *current, Arc::new(next))
    }
}
