//! An echo backend and a gateway in front of it, in this process, on
//! `127.0.0.1:0`, as the relay and handshake benches need them.

use std::net::SocketAddr;

use gateway::{Config, Gateway, ProfileName, TokioTransport};
use tokio::task::JoinHandle;

use crate::BenchError;

/// Starts the demo echo backend on a free loopback port of the current
/// runtime. Events are not observed: the benches only need echoes.
pub async fn echo_backend() -> Result<(SocketAddr, JoinHandle<()>), BenchError> {
    let (addr, serve) = backend::bind(
        &TokioTransport,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        backend::Options::default(),
    )
    .await?;
    Ok((addr, tokio::spawn(serve)))
}

/// Starts a gateway whose one route goes to `backend`, with the Application
/// Gateway profile's defaults and events discarded (the binary would log
/// them; here they would only cost time).
pub async fn gateway(backend: SocketAddr) -> Result<(SocketAddr, JoinHandle<()>), BenchError> {
    let config = Config::single_route(
        ProfileName::ApplicationGateway,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        vec![backend.to_string()],
        None,
    );
    let gateway = Gateway::bind(config, TokioTransport, gateway::event::discard()).await?;
    let addr = gateway
        .local_addr("default")
        .ok_or("single_route names its listener `default`")?;
    Ok((addr, tokio::spawn(gateway.run())))
}

/// An echo backend with a gateway in front, both stopped on drop.
#[derive(Debug)]
pub struct Fixture {
    /// The echo backend, for the "direct" (no proxy) baseline.
    pub echo: SocketAddr,
    /// The gateway's listener.
    pub gateway: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Fixture {
    pub async fn start() -> Result<Fixture, BenchError> {
        let (echo, echo_task) = echo_backend().await?;
        let (gateway, gateway_task) = gateway(echo).await?;
        Ok(Fixture {
            echo,
            gateway,
            tasks: vec![echo_task, gateway_task],
        })
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
