//! The gateway side of a real-network run: wsgate instances in this
//! process, nginx or HAProxy processes, or a gateway someone else runs.
//! Each instance is registered in the run's [`Net`] under its scenario
//! name and listener ports, so clients find it as they do in the
//! simulator; timeline actions on an instance (maintenance, crash,
//! restart, drain, backend removal and addition, configuration updates)
//! act on it here.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gateway::config::BackendAddr;
use gateway::plan::TlsMaterial;
use gateway::Config;
use gateway::{Event, Gateway, GatewayHandle, Plan};
use sim::trace::Trace;
use tokio::task::JoinHandle;

use super::net::{HostTransport, Net};
use crate::peer::{PeerKind, PeerProcess, Policies};

/// What the instances are.
#[derive(Debug, Clone)]
pub enum Front {
    /// The reference gateway, run in this process on loopback. `plan` is
    /// already divided by `scale`; a configuration update is divided the
    /// same way before it is applied, and replaces `plan`, so a restarted
    /// instance comes back with the latest configuration, as in the
    /// simulator.
    Wsgate {
        plan: Plan,
        material: TlsMaterial,
        scale: f64,
        /// The wall clock's scheduling slack, added to latency windows
        /// (see [`crate::target::timing::wall_clock_plan`]).
        slack: std::time::Duration,
    },
    /// nginx or HAProxy, rendered from the plan and run as a process.
    Peer {
        kind: PeerKind,
        plan: Plan,
        policies: Policies,
    },
    /// A gateway already running at this address; every listener of the
    /// scenario is that one address.
    External { addr: SocketAddr },
}

/// One running (or stopped) instance.
#[derive(Debug)]
enum Running {
    Wsgate {
        handle: GatewayHandle,
        task: JoinHandle<()>,
    },
    Peer(Box<PeerProcess>),
    External,
    Stopped,
}

/// Every instance of a run, by scenario name.
#[derive(Debug)]
pub struct Instances {
    front: Front,
    net: Arc<Net>,
    trace: Trace,
    running: BTreeMap<String, Running>,
}

impl Instances {
    /// Starts one instance per name.
    pub async fn start(front: Front, names: &[String], net: &Arc<Net>, trace: &Trace) -> Result<Instances, String> {
        let mut all = Instances {
            front,
            net: Arc::clone(net),
            trace: trace.clone(),
            running: BTreeMap::new(),
        };
        for name in names {
            let running = all.launch(name).await?;
            all.running.insert(name.clone(), running);
        }
        Ok(all)
    }

    async fn launch(&self, name: &str) -> Result<Running, String> {
        match &self.front {
            Front::Wsgate { plan, material, .. } => {
                let trace = self.trace.clone();
                let host = name.to_string();
                let sink = Arc::new(move |event: Event| trace.record(&host, event));
                let transport = HostTransport::new(name, &self.net);
                let gateway = Gateway::bind_plan(plan.clone(), material.clone(), transport, sink)
                    .await
                    .map_err(|e| format!("{name}: {e}"))?;
                let handle = gateway.handle();
                let task = tokio::spawn(gateway.run());
                Ok(Running::Wsgate { handle, task })
            }
            Front::Peer { kind, plan, policies } => {
                let backends = self.backend_routes(name, plan)?;
                let process = PeerProcess::start(*kind, plan, policies, &backends)
                    .await
                    .map_err(|e| format!("{name} ({kind}): {e}"))?;
                self.register_peer(name, plan, &process);
                Ok(Running::Peer(Box::new(process)))
            }
            Front::External { .. } => Ok(Running::External),
        }
    }

    /// Where a peer instance must send each member's traffic: the member's
    /// listener, or a relay on that link. A member nothing listens for (a
    /// pool address on a port its server does not use) gets a loopback
    /// port that was just free, which refuses connections as that address
    /// does in the simulator.
    fn backend_routes(&self, instance: &str, plan: &Plan) -> Result<BTreeMap<BackendAddr, SocketAddr>, String> {
        let mut routes = BTreeMap::new();
        for m in plan.backend_sets.iter().flat_map(|set| &set.members) {
            let at = match self.net.route(instance, &m.addr.host, m.addr.port) {
                Some(at) => at,
                None => refusing_addr().map_err(|e| format!("{instance}: a refusing address for {}: {e}", m.addr))?,
            };
            routes.insert(m.addr.clone(), at);
        }
        Ok(routes)
    }

    fn register_peer(&self, name: &str, plan: &Plan, process: &PeerProcess) {
        for l in &plan.listeners {
            if let Some(addr) = process.listener_addr(&l.name) {
                self.net.register(name, l.address.port(), addr);
            }
        }
    }

    /// Registers an external gateway's one address under every listener
    /// port of every instance.
    pub fn register_external(&self, ports: &[u16]) {
        if let Front::External { addr } = &self.front {
            for name in self.running.keys() {
                for port in ports {
                    self.net.register(name, *port, *addr);
                }
            }
        }
    }

    /// Stops an instance's software at once, as a crash does: every
    /// connection it carries is dropped.
    pub async fn crash(&mut self, name: &str) {
        let Some(running) = self.running.get_mut(name) else {
            return;
        };
        match std::mem::replace(running, Running::Stopped) {
            Running::Wsgate { handle, task } => {
                handle.halt();
                // The accept loops end with it, releasing the ports.
                let _ = task.await;
            }
            Running::Peer(mut process) => {
                let _ = process.stop().await;
                *running = Running::Peer(process);
            }
            other => *running = other,
        }
    }

    /// Starts an instance again (after a crash), or restarts a running one:
    /// the simulator's maintenance and restart. It binds the same ports.
    pub async fn restart(&mut self, name: &str) -> Result<(), String> {
        let peer_restarted = match self.running.get_mut(name) {
            Some(Running::Peer(process)) => Some(process.restart().await.map_err(|e| format!("{name}: {e}"))),
            _ => None,
        };
        if let Some(result) = peer_restarted {
            return result;
        }
        self.crash(name).await;
        let running = self.launch(name).await?;
        self.running.insert(name.to_string(), running);
        Ok(())
    }

    /// Maintenance with a drain: new requests get 503 for `period`, then
    /// what is still open is dropped. Only wsgate instances drain.
    pub fn drain(&self, name: &str, period: Duration) {
        if let Some(Running::Wsgate { handle, .. }) = self.running.get(name) {
            handle.maintenance(Some(period));
        }
    }

    /// The running wsgate instances' handles, in name order. Only wsgate
    /// takes backend removals and configuration updates from the harness;
    /// [`super::super::needs`] skips such scenarios on other targets.
    fn wsgate_handles(&self, action: &str) -> Result<Vec<&GatewayHandle>, String> {
        if !matches!(self.front, Front::Wsgate { .. }) {
            return Err(format!("only wsgate takes `{action}` from the harness"));
        }
        Ok(self
            .running
            .values()
            .filter_map(|r| match r {
                Running::Wsgate { handle, .. } => Some(handle),
                _ => None,
            })
            .collect())
    }

    /// Takes `backend` out of its pool on every running instance, as the
    /// admin endpoint's `POST /backends/{addr}/remove` does.
    pub fn remove_backend(&self, backend: &BackendAddr) -> Result<(), String> {
        for handle in self.wsgate_handles("remove-backend")? {
            handle.remove_backend(backend).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Puts `backend` back in its pool on every running instance.
    pub fn add_backend(&self, backend: &BackendAddr) -> Result<(), String> {
        for handle in self.wsgate_handles("add-backend")? {
            handle.add_backend(backend).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// A configuration update on every running instance: `next`, with its
    /// timers divided by the run's scale, or the latest configuration
    /// again (a push that changes nothing).
    pub fn update(&mut self, next: Option<&Config>) -> Result<(), String> {
        if let (
            Some(config),
            Front::Wsgate {
                plan,
                material,
                scale,
                slack,
            },
        ) = (next, &mut self.front)
        {
            let (resolved, read) = Plan::resolve(config).map_err(|e| e.to_string())?;
            *plan = crate::target::timing::wall_clock_plan(&resolved, *scale, *slack);
            *material = read;
        }
        let Front::Wsgate { plan, material, .. } = &self.front else {
            return Err("only wsgate takes `config-update` from the harness".into());
        };
        for handle in self.wsgate_handles("config-update")? {
            handle
                .update_plan(plan.clone(), material.clone())
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Stops every instance.
    pub async fn stop_all(&mut self) {
        let names: Vec<String> = self.running.keys().cloned().collect();
        for name in names {
            self.crash(&name).await;
        }
    }
}

/// A loopback address nothing listens on: a port the OS just handed out,
/// released at once.
fn refusing_addr() -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    listener.local_addr()
}
