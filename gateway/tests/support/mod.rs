//! Real-network fixtures: an echo backend and a gateway on 127.0.0.1 with
//! OS-picked ports, TLS material generated with rcgen, and raw HTTP/1.1
//! exchanges for the bad-input cases.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use backend::{BackendEvent, SeenRequest};
use gateway::config::{Duration, Protocol};
use gateway::transport::Listener;
use gateway::{Config, Event, Gateway, ProfileName, TokioTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// What a backend saw.
#[derive(Clone, Default)]
pub struct Seen(pub Arc<Mutex<Vec<BackendEvent>>>);

impl Seen {
    /// Every request the backend received, health probes excepted.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.all_requests()
            .into_iter()
            .filter(|r| r.header("user-agent") != Some(gateway::probe::USER_AGENT))
            .collect()
    }

    /// Every request, probes included.
    pub fn all_requests(&self) -> Vec<SeenRequest> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                BackendEvent::Request(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    /// How many client requests (not probes) reached the backend.
    pub fn reached(&self) -> usize {
        self.requests().len()
    }

    pub fn options(&self) -> backend::Options {
        let seen = self.clone();
        backend::Options {
            observer: Arc::new(move |e| seen.0.lock().unwrap().push(e)),
            ..backend::Options::default()
        }
    }
}

/// A running echo backend.
pub struct Backend {
    pub addr: SocketAddr,
    pub seen: Seen,
    task: JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn backend() -> Backend {
    let seen = Seen::default();
    let (addr, serve) = backend::bind(&TokioTransport, "127.0.0.1:0".parse().unwrap(), seen.options())
        .await
        .unwrap();
    Backend {
        addr,
        seen,
        task: tokio::spawn(serve),
    }
}

/// An echo backend behind TLS, with a certificate for `localhost` signed by
/// the returned CA.
pub async fn tls_backend(tls: &TlsFiles) -> Backend {
    struct TlsListener {
        inner: tokio::net::TcpListener,
        acceptor: tokio_rustls::TlsAcceptor,
    }
    impl Listener for TlsListener {
        type Stream = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
        async fn accept(&mut self) -> std::io::Result<(Self::Stream, SocketAddr)> {
            loop {
                let (tcp, peer) = self.inner.accept().await?;
                if let Ok(tls) = self.acceptor.accept(tcp).await {
                    return Ok((tls, peer));
                }
            }
        }
        fn local_addr(&self) -> std::io::Result<SocketAddr> {
            self.inner.local_addr()
        }
    }
    let seen = Seen::default();
    let config = gateway::tls::server_config(&tls.cert, &tls.key).unwrap();
    let inner = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = inner.local_addr().unwrap();
    let listener = TlsListener {
        inner,
        acceptor: tokio_rustls::TlsAcceptor::from(config),
    };
    Backend {
        addr,
        seen: seen.clone(),
        task: tokio::spawn(backend::serve(listener, seen.options())),
    }
}

/// A running gateway and the events it emitted.
pub struct Running {
    pub addr: SocketAddr,
    pub events: Arc<Mutex<Vec<Event>>>,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The single-route config the tests start from.
pub fn config_for(backends: &[SocketAddr]) -> Config {
    Config::single_route(
        ProfileName::ApplicationGateway,
        "127.0.0.1:0".parse().unwrap(),
        backends.iter().map(ToString::to_string).collect(),
        Some(Duration::from_secs(20)),
    )
}

/// An address on 127.0.0.1 that refuses connections: a port the OS gave
/// a listener that is closed again.
pub async fn refusing_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// Front Door in front of two origins: the first refuses every connection,
/// the second is a live echo backend. Returns the gateway, the live origin
/// and the refusing address.
pub async fn front_door_behind_a_refusing_origin() -> (Running, Backend, SocketAddr) {
    let refused = refusing_addr().await;
    let live = backend().await;
    let mut config = config_for(&[refused, live.addr]);
    config.profile = ProfileName::FrontDoor;
    config.backend_settings[0].request_timeout = Some(Duration::from_secs(30));
    (gateway(config).await, live, refused)
}

pub async fn gateway(config: Config) -> Running {
    gateway_with_handle(config).await.0
}

/// Starts a gateway and also returns its maintenance handle.
pub async fn gateway_with_handle(config: Config) -> (Running, gateway::GatewayHandle) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink_events = Arc::clone(&events);
    let gw = Gateway::bind(
        config,
        TokioTransport,
        Arc::new(move |e: Event| sink_events.lock().unwrap().push(e)),
    )
    .await
    .unwrap();
    let addr = gw.local_addrs()[0].1;
    let handle = gw.handle();
    let running = Running {
        addr,
        events,
        task: tokio::spawn(gw.run()),
    };
    // Application Gateway routes only to backends that passed a probe of
    // this instance; probes start at once, so wait for the first round.
    for _ in 0..250 {
        if handle.backends().iter().all(|b| b.last_probe.is_some()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(4)).await;
    }
    (running, handle)
}

/// Sends raw bytes and returns everything the gateway answers until it
/// closes the connection (or 10 s pass).
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of the first response in `raw`.
pub fn status_of(raw: &str) -> u16 {
    raw.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"))
}

/// Self-signed CA and a `localhost` / 127.0.0.1 leaf, as PEM files.
pub struct TlsFiles {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn tls_files() -> TlsFiles {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&ca, ca_cert.pem()).unwrap();
    std::fs::write(&cert, leaf.pem()).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    TlsFiles { dir, ca, cert, key }
}

/// A rustls client config trusting the test CA.
pub fn client_tls(tls: &TlsFiles) -> Arc<rustls::ClientConfig> {
    gateway::tls::client_config(&tls.ca).unwrap()
}

/// Turns the first listener into an https listener with the test cert.
pub fn make_https(config: &mut Config, tls: &TlsFiles) {
    let listener = &mut config.listeners[0];
    listener.protocol = Protocol::Https;
    listener.tls_cert = Some(tls.cert.clone());
    listener.tls_key = Some(tls.key.clone());
}

/// Waits until a plain request through the gateway is no longer answered
/// 502 (no healthy backend): with probe-first membership a pool is empty
/// until its first probe round trip.
pub async fn wait_until_routable(addr: SocketAddr) {
    for _ in 0..100 {
        let raw = raw_exchange(addr, b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
        if !raw.is_empty() && status_of(&raw) != 502 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no backend became routable through {addr}");
}
