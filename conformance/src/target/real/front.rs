//! The gateway side of a real-network run: wsgate instances in this
//! process, nginx or HAProxy processes, or a gateway someone else runs.
//! Each instance is registered in the run's [`Net`] under its scenario
//! name and listener ports, so clients find it as they do in the
//! simulator; timeline actions on an instance (maintenance, crash,
//! restart, drain) act on it here.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gateway::config::BackendAddr;
use gateway::plan::TlsMaterial;
use gateway::{Event, Gateway, GatewayHandle, Plan};
use sim::trace::Trace;
use tokio::task::JoinHandle;

use super::net::{HostTransport, Net};
use crate::peer::{PeerKind, PeerProcess, Policies};

/// What the instances are.
#[derive(Debug, Clone)]
pub enum Front {
    /// The reference gateway, run in this process on loopback.
    Wsgate { plan: Plan, material: TlsMaterial },
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
            Front::Wsgate { plan, material } => {
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
                let backends = self.backend_routes(name, plan);
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
    /// listener, or a relay on that link.
    fn backend_routes(&self, instance: &str, plan: &Plan) -> BTreeMap<BackendAddr, SocketAddr> {
        plan.backend_sets
            .iter()
            .flat_map(|set| &set.members)
            .filter_map(|m| {
                let at = self.net.route(instance, &m.addr.host, m.addr.port)?;
                Some((m.addr.clone(), at))
            })
            .collect()
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

    /// Stops every instance.
    pub async fn stop_all(&mut self) {
        let names: Vec<String> = self.running.keys().cloned().collect();
        for name in names {
            self.crash(&name).await;
        }
    }
}
