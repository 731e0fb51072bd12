//! A relay the harness puts on a link a timeline partitions: it forwards
//! bytes both ways until told to stop, then behaves as the simulator's
//! partition does.
//!
//! turmoil's partition is a black hole: segments are dropped, nothing is
//! refused or reset, and since turmoil does not retransmit, a connection
//! that lost data stays dead after the link heals. The relay does the
//! same: while partitioned, a connection that carries a byte loses it and
//! is dead from then on (its bytes are read and dropped, its FIN is not
//! passed on, its sockets stay open until the run ends), and a new
//! connection is accepted but never reaches the other side. After a heal,
//! new connections are forwarded again.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use super::net::Net;

/// One relay: a listener on 127.0.0.1 in front of `to:port`.
#[derive(Debug)]
pub struct Relay {
    addr: SocketAddr,
    partitioned: AtomicBool,
    /// Sockets of dead connections, held open (a partition passes no FIN)
    /// until the run ends and the relay is dropped.
    held: Mutex<Vec<OwnedWriteHalf>>,
}

impl Relay {
    /// Binds a relay that forwards to wherever `to:port` listens at the
    /// time of each connection (so a restarted listener is found), and
    /// serves it on the current runtime until the runtime ends.
    pub async fn start(net: &Arc<Net>, to: &str, port: u16) -> std::io::Result<Arc<Relay>> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let relay = Arc::new(Relay {
            addr: listener.local_addr()?,
            partitioned: AtomicBool::new(false),
            held: Mutex::new(Vec::new()),
        });
        let (net, to, serving) = (Arc::clone(net), to.to_string(), Arc::clone(&relay));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (net, to, relay) = (Arc::clone(&net), to.clone(), Arc::clone(&serving));
                tokio::spawn(async move { relay.carry(stream, &net, &to, port).await });
            }
        });
        Ok(relay)
    }

    /// Where connections to the relay go.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops (or resumes) forwarding.
    pub fn set_partitioned(&self, on: bool) {
        self.partitioned.store(on, Ordering::SeqCst);
    }

    fn is_partitioned(&self) -> bool {
        self.partitioned.load(Ordering::SeqCst)
    }

    fn hold(&self, socket: OwnedWriteHalf) {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).push(socket);
    }

    async fn carry(self: Arc<Self>, client: TcpStream, net: &Net, to: &str, port: u16) {
        let _ = client.set_nodelay(true);
        let (client_read, client_write) = client.into_split();
        let upstream = match net.lookup(to, port) {
            Some(addr) if !self.is_partitioned() => TcpStream::connect(addr).await.ok(),
            _ => None,
        };
        let Some(upstream) = upstream else {
            // A black hole, or nothing listening there (which a real
            // network would refuse: close at once).
            if self.is_partitioned() {
                self.hold(client_write);
                drain(client_read).await;
            }
            return;
        };
        let _ = upstream.set_nodelay(true);
        let (up_read, up_write) = upstream.into_split();
        let dead = Arc::new(AtomicBool::new(false));
        let there = tokio::spawn(Arc::clone(&self).pump(client_read, up_write, Arc::clone(&dead)));
        let back = tokio::spawn(Arc::clone(&self).pump(up_read, client_write, dead));
        let _ = tokio::join!(there, back);
    }

    /// Copies one direction until end of stream; once a byte is lost to a
    /// partition the connection is dead both ways.
    async fn pump(self: Arc<Self>, mut from: OwnedReadHalf, mut to: OwnedWriteHalf, dead: Arc<AtomicBool>) {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => 0,
                Ok(n) => n,
            };
            if self.is_partitioned() && n > 0 {
                dead.store(true, Ordering::SeqCst);
            }
            if dead.load(Ordering::SeqCst) {
                if n == 0 {
                    self.hold(to);
                    return;
                }
                continue;
            }
            if n == 0 {
                let _ = to.shutdown().await;
                return;
            }
            if to.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }
}

/// Reads and drops until the peer closes.
async fn drain(mut from: OwnedReadHalf) {
    let mut buf = vec![0u8; 16 * 1024];
    while matches!(from.read(&mut buf).await, Ok(n) if n > 0) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn echo_server(net: &Arc<Net>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        net.register("gateway", 80, listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
    }

    /// Whether an echo comes back within `wait`: long when it should
    /// (a slow machine is no failure), short when it should not.
    async fn echoes(s: &mut TcpStream, wait: Duration) -> bool {
        if s.write_all(b"ping").await.is_err() {
            return false;
        }
        let mut got = [0u8; 4];
        matches!(tokio::time::timeout(wait, s.read_exact(&mut got)).await, Ok(Ok(_)))
    }

    const YES: Duration = Duration::from_secs(10);
    const NO: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn a_partition_kills_open_connections_for_good_and_heals_for_new_ones() {
        let net = Net::new();
        echo_server(&net).await;
        let relay = Relay::start(&net, "gateway", 80).await.unwrap();
        let mut before = TcpStream::connect(relay.addr()).await.unwrap();
        assert!(echoes(&mut before, YES).await, "forwards while the link is up");

        relay.set_partitioned(true);
        assert!(!echoes(&mut before, NO).await, "a partition drops the bytes");
        let mut during = TcpStream::connect(relay.addr()).await.unwrap();
        assert!(!echoes(&mut during, NO).await, "a new connection reaches nothing");

        relay.set_partitioned(false);
        assert!(!echoes(&mut before, NO).await, "a connection that lost data stays dead");
        let mut after = TcpStream::connect(relay.addr()).await.unwrap();
        assert!(echoes(&mut after, YES).await, "new connections work after the heal");
    }
}
