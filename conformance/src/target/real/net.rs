//! Names on loopback: the real-network targets' stand-in for the
//! simulator's DNS.
//!
//! A scenario names its hosts (`gateway-1`, `b1`) and ports (80, 443) as
//! the simulator sees them. On a real network everything listens on
//! 127.0.0.1 at a port the OS picks, so [`Net`] keeps `(host, port) →
//! address`, and [`HostTransport`] binds and connects through it as one
//! named host. The gateway, backends and clients then run unchanged, with
//! the same names in their traces as in the simulator: the gateway's
//! `routed to b1:80` reads the same on both targets.
//!
//! A rebind of a name (a backend or gateway instance restarting) takes the
//! same port again, so connections made afterwards find it. Between two
//! hosts that a timeline partitions, connections go through a
//! [`Relay`](super::relay::Relay) that can stop forwarding.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gateway::transport::Transport;

use super::relay::Relay;

/// `(host, port)` as a scenario names it.
pub type Name = (String, u16);

/// The registry of names, shared by every host of a run.
#[derive(Debug, Default)]
pub struct Net {
    addrs: Mutex<BTreeMap<Name, SocketAddr>>,
    /// Relays by `(from host, to host, to port)`.
    relays: Mutex<BTreeMap<(String, String, u16), Arc<Relay>>>,
}

impl Net {
    pub fn new() -> Arc<Net> {
        Arc::new(Net::default())
    }

    /// Where `name` listens, if it does.
    pub fn lookup(&self, host: &str, port: u16) -> Option<SocketAddr> {
        self.addrs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(host.to_string(), port))
            .copied()
    }

    /// Records that `name` listens at `addr` (for listeners the harness
    /// does not bind itself: a peer process, an external gateway, or the
    /// addresses a user gave for backends).
    pub fn register(&self, host: &str, port: u16, addr: SocketAddr) {
        self.addrs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((host.to_string(), port), addr);
    }

    /// Adds the relay a connection from `from` to `to:port` goes through.
    pub fn add_relay(&self, from: &str, to: &str, port: u16, relay: Arc<Relay>) {
        self.relays
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((from.to_string(), to.to_string(), port), relay);
    }

    /// Every relay between `a` and `b`, either way.
    pub fn relays_between(&self, a: &str, b: &str) -> Vec<Arc<Relay>> {
        self.relays
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|((from, to, _), _)| (from == a && to == b) || (from == b && to == a))
            .map(|(_, r)| Arc::clone(r))
            .collect()
    }

    /// Where `from` must connect to reach `to:port`: its relay if one is
    /// on that link, else the listener itself.
    pub fn route(&self, from: &str, to: &str, port: u16) -> Option<SocketAddr> {
        let relay = self
            .relays
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(from.to_string(), to.to_string(), port))
            .map(|r| r.addr());
        relay.or_else(|| self.lookup(to, port))
    }
}

/// The gateway's transport seam on loopback, as one named host of a run.
#[derive(Debug, Clone)]
pub struct HostTransport {
    /// The host this transport binds and connects as.
    pub me: String,
    pub net: Arc<Net>,
}

impl HostTransport {
    pub fn new(me: &str, net: &Arc<Net>) -> HostTransport {
        HostTransport {
            me: me.to_string(),
            net: Arc::clone(net),
        }
    }
}

impl Transport for HostTransport {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;

    /// Binds `me:port` on 127.0.0.1: the port it had before when it is a
    /// restart (or a registered address), else one the OS picks.
    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        let at = self
            .net
            .lookup(&self.me, addr.port())
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let listener = gateway::TokioTransport.bind(at).await?;
        self.net.register(&self.me, addr.port(), listener.local_addr()?);
        Ok(listener)
    }

    /// Connects to `host:port` by name; a name nothing listens on is
    /// refused, as a host without that server refuses.
    async fn connect(&self, host: &str, port: u16) -> io::Result<Self::Stream> {
        let Some(addr) = self.net.route(&self.me, host, port) else {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("nothing listens as {host}:{port}"),
            ));
        };
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    fn set_keepalive(&self, stream: &Self::Stream, idle: Duration) -> io::Result<()> {
        gateway::TokioTransport.set_keepalive(stream, idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn names_resolve_and_a_rebind_keeps_its_port() {
        let net = Net::new();
        let b1 = HostTransport::new("b1", &net);
        let client = HostTransport::new("c1", &net);
        let listener = b1.bind("0.0.0.0:80".parse().unwrap()).await.unwrap();
        let first = listener.local_addr().unwrap();
        assert!(first.ip().is_loopback() && first.port() != 80);
        assert_eq!(net.lookup("b1", 80), Some(first));
        let accept = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"hi").await.unwrap();
        });
        let mut s = client.connect("b1", 80).await.unwrap();
        let mut got = [0u8; 2];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hi");
        accept.await.unwrap();
        // The listener is gone: a name with nothing behind it refuses.
        let refused = client.connect("b1", 80).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        let unknown = client.connect("b2", 80).await.unwrap_err();
        assert_eq!(unknown.kind(), io::ErrorKind::ConnectionRefused);
        // A restart binds the same port again.
        let again = b1.bind("0.0.0.0:80".parse().unwrap()).await.unwrap();
        assert_eq!(again.local_addr().unwrap(), first);
    }
}
