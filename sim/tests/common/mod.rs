//! One test body, two networks.
//!
//! A check is an async function over an [`Env`] generic in the transport.
//! [`real`] runs it against the gateway and an echo backend on 127.0.0.1
//! (ports picked by the OS); [`sim`] runs the same function inside turmoil.
//! The `both!` macro writes the pair of `#[test]`s.

#![allow(dead_code)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backend::{BackendEvent, SeenRequest};
use gateway::{Config, ProfileName, TokioTransport, Transport};
use rand::rngs::StdRng;
use rand::SeedableRng;
use sim::client::{self, ClientOptions, ConnectError, WsClient};
use sim::{Trace, TurmoilTransport, World};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// What the backend saw, shared with the test.
#[derive(Clone, Default)]
pub struct Seen(Arc<Mutex<Vec<BackendEvent>>>);

impl Seen {
    pub fn push(&self, e: BackendEvent) {
        self.0.lock().unwrap().push(e);
    }

    pub fn events(&self) -> Vec<BackendEvent> {
        self.0.lock().unwrap().clone()
    }

    /// Every request head the backend received, health probes excepted.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                BackendEvent::Request(r) if r.header("user-agent") != Some(gateway::probe::USER_AGENT) => Some(r),
                _ => None,
            })
            .collect()
    }

    pub fn options(&self) -> backend::Options {
        let seen = self.clone();
        backend::Options {
            observer: Arc::new(move |e| seen.push(e)),
            ..backend::Options::default()
        }
    }
}

/// What a check gets.
pub struct Env<T: Transport> {
    pub transport: T,
    /// Where the gateway listens.
    pub gateway: (String, u16),
    pub seen: Seen,
    pub trace: Trace,
    pub rng: StdRng,
}

impl<T: Transport> Env<T> {
    /// Handshake options for `path` with a seeded key.
    pub fn options(&mut self, path: &str) -> ClientOptions {
        ClientOptions::new("server.example.com", path, &mut self.rng)
    }

    /// Opens a session through the gateway.
    pub async fn connect(
        &self,
        name: &str,
        options: &ClientOptions,
    ) -> Result<WsClient<client::Connection>, ConnectError> {
        let target = client::Target::plain(&self.gateway.0, self.gateway.1);
        client::connect(&self.transport, name, &target, options, &self.trace).await
    }
}

const SEED: u64 = 0x5eed;

/// Runs `check` over real loopback sockets.
pub fn real<F, Fut>(check: F)
where
    F: FnOnce(Env<TokioTransport>) -> Fut,
    Fut: Future<Output = TestResult>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let seen = Seen::default();
        let (backend, serve) = backend::bind(&TokioTransport, "127.0.0.1:0".parse().unwrap(), seen.options())
            .await
            .unwrap();
        let backend_task = tokio::spawn(serve);
        let config = Config::single_route(
            ProfileName::ApplicationGateway,
            "127.0.0.1:0".parse().unwrap(),
            vec![backend.to_string()],
            Some(gateway::config::Duration::from_secs(20)),
        );
        let gw = gateway::Gateway::bind(config, TokioTransport, gateway::event::discard())
            .await
            .unwrap();
        let addr = gw.local_addr("default").unwrap();
        let handle = gw.handle();
        let gw_task = tokio::spawn(gw.run());
        // Application Gateway routes only to a backend that passed a probe;
        // the first probe goes out at once.
        while handle.backends().iter().any(|b| !b.healthy) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let env = Env {
            transport: TokioTransport,
            gateway: ("127.0.0.1".to_string(), addr.port()),
            seen,
            trace: Trace::real(),
            rng: StdRng::seed_from_u64(SEED),
        };
        let result = tokio::time::timeout(Duration::from_secs(60), check(env)).await;
        gw_task.abort();
        backend_task.abort();
        result.expect("check finished within 60 s").unwrap();
    });
}

/// Runs `check` inside the simulator: gateway on host `gateway` port 80,
/// echo backend on host `backend` port 9001, the check on host `client`.
pub fn sim<F, Fut>(check: F)
where
    F: FnOnce(Env<TurmoilTransport>) -> Fut + 'static,
    Fut: Future<Output = TestResult> + 'static,
{
    let seen = Seen::default();
    let mut world = World::new(SEED).duration(Duration::from_secs(600));
    world.backend("backend", 9001, seen.options());
    world.gateway(
        "gateway",
        Config::single_route(
            ProfileName::ApplicationGateway,
            "0.0.0.0:80".parse().unwrap(),
            vec!["backend:9001".to_string()],
            Some(gateway::config::Duration::from_secs(20)),
        ),
    );
    world.client("client", move |env| async move {
        // The first probe round trip (a few virtual milliseconds) puts the
        // backend in the pool.
        tokio::time::sleep(Duration::from_millis(100)).await;
        check(Env {
            transport: env.transport,
            gateway: ("gateway".to_string(), 80),
            seen,
            trace: env.trace,
            rng: env.rng,
        })
        .await
    });
    if let Err(e) = world.run() {
        panic!("{e}");
    }
}

/// `both!(name)` defines `name::real` and `name::sim`, running the check
/// `name` on each network.
#[macro_export]
macro_rules! both {
    ($($check:ident),* $(,)?) => {
        $(
            mod $check {
                #[test]
                fn real() {
                    $crate::common::real(super::$check);
                }

                #[test]
                fn sim() {
                    $crate::common::sim(super::$check);
                }
            }
        )*
    };
}
