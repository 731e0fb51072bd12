//! Health probes and pool membership in the simulator, at exact virtual
//! times. Probes run every 30 s from t = 0 unless a test says otherwise; a
//! 10 ms tick puts each probe's answer 30 ms after it was sent.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::Arc;
use std::time::Duration;

use backend::BackendEvent;
use gateway::config::BackendAddr;
use gateway::config::{Duration as ConfigDuration, ProbeConfig, Protocol};
use gateway::health::{ProbeFailure, ProbeResult};
use gateway::Event;
use gateway::{Config, ProfileName};
use sim::client::{self, ClientEvent, ClientOptions, ConnectError, Target};
use sim::trace::TraceEvent;
use sim::{Action, Trace, World};

const S: fn(u64) -> Duration = Duration::from_secs;
const MS: fn(u64) -> Duration = Duration::from_millis;

fn config(profile: ProfileName, backends: &[&str]) -> Config {
    Config::single_route(
        profile,
        "0.0.0.0:80".parse().unwrap(),
        backends.iter().map(|b| format!("{b}:9001")).collect(),
        None,
    )
}

/// A world with echo backends on the given hosts and one gateway.
fn world(config: Config, backends: &[&str]) -> World {
    let mut world = World::new(3).tick(MS(10)).duration(S(3600));
    for b in backends {
        world.backend(b, 9001, backend::Options::default());
    }
    world.gateway("gateway", config);
    world
}

/// A client that opens (and closes) a session at `from`, `from + every`, …
/// up to `until`, recording each handshake's outcome in the trace.
fn sessions(world: &mut World, from: Duration, every: Duration, until: Duration) {
    world.client("c1", move |mut env| async move {
        let origin = tokio::time::Instant::now();
        let mut at = from;
        while at <= until {
            tokio::time::sleep_until(origin + at).await;
            at += every;
            let options = ClientOptions::new("chat.example", "/chat", &mut env.rng);
            match client::connect(
                &env.transport,
                &env.name,
                &Target::plain("gateway", 80),
                &options,
                &env.trace,
            )
            .await
            {
                Ok(mut c) => {
                    c.close(1000).await.ok();
                    c.recv().await;
                }
                Err(ConnectError::Status(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    });
}

/// When `source` recorded an event that `is` picks out.
fn times(trace: &Trace, source: &str, is: impl Fn(&TraceEvent) -> bool) -> Vec<Duration> {
    trace
        .lines()
        .into_iter()
        .filter(|l| l.source == source && is(&l.event))
        .map(|l| l.at)
        .collect()
}

fn addr(host: &str) -> BackendAddr {
    BackendAddr::parse(&format!("{host}:9001")).unwrap()
}

/// The gateway moved `host` into (`healthy`) or out of the pool.
fn changed(host: &str, healthy: bool) -> impl Fn(&TraceEvent) -> bool {
    let a = addr(host);
    move |e| matches!(e, TraceEvent::Gateway(Event::BackendHealthChanged { backend, healthy: h, .. }) if *backend == a && *h == healthy)
}

/// The gateway took `host` out after `failures` failures, the last `last`.
fn out_after(host: &str, failures: u32, last: ProbeResult) -> impl Fn(&TraceEvent) -> bool {
    let a = addr(host);
    move |e| {
        *e == TraceEvent::Gateway(Event::BackendHealthChanged {
            backend: a.clone(),
            healthy: false,
            failures,
            last: last.clone(),
        })
    }
}

fn status(code: u16) -> ProbeResult {
    ProbeResult::Failure(ProbeFailure::Status(code))
}

fn session_opened(e: &TraceEvent) -> bool {
    matches!(e, TraceEvent::Backend(BackendEvent::SessionOpened { .. }))
}

fn opened(e: &TraceEvent) -> bool {
    matches!(e, TraceEvent::Client(ClientEvent::Opened { .. }))
}

fn refused(e: &TraceEvent) -> bool {
    matches!(e, TraceEvent::Client(ClientEvent::Refused { .. }))
}

/// Each handshake's outcome as `secs status`, 101 for an open.
fn answers(trace: &Trace) -> Vec<String> {
    trace
        .lines()
        .into_iter()
        .filter(|l| l.source == "c1")
        .filter_map(|l| match l.event {
            TraceEvent::Client(ClientEvent::Opened { .. }) => Some(format!("{:.0} 101", l.at.as_secs_f64())),
            TraceEvent::Client(ClientEvent::Refused { status, .. }) => {
                Some(format!("{:.0} {status}", l.at.as_secs_f64()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn agw_a_failing_backend_leaves_the_pool_within_the_documented_window() {
    let mut world = world(config(ProfileName::ApplicationGateway, &["b1", "b2"]), &["b1", "b2"]);
    world.at(S(95), Action::SetHealth("b2".into(), 500));
    sessions(&mut world, S(1), S(5), S(300));
    let trace = world.run().unwrap();
    println!("{}", trace.render());

    let out = times(&trace, "gateway", out_after("b2", 3, status(500)));
    // Probes at 120, 150 and 180 s fail; the third answer arrives 30 ms
    // later. The documents' window: failure at 95 s + 3 x 30 s + 30 s.
    assert_eq!(out, [S(180) + MS(30)]);
    assert!(out[0] <= S(95 + 3 * 30 + 30));
    let opened_on_b2 = times(&trace, "b2", session_opened);
    assert!(
        opened_on_b2.iter().any(|t| *t > S(95)),
        "b2 still served while its probes were failing"
    );
    assert!(
        opened_on_b2.iter().all(|t| *t < out[0]),
        "no session reached b2 after it was marked unhealthy: {opened_on_b2:?}"
    );
    assert!(
        times(&trace, "b1", session_opened).iter().any(|t| *t > out[0]),
        "b1 carried on"
    );
}

#[test]
fn agw_one_passing_probe_brings_a_backend_back() {
    let mut world = world(config(ProfileName::ApplicationGateway, &["b1", "b2"]), &["b1", "b2"]);
    world.at(S(95), Action::SetHealth("b2".into(), 500));
    world.at(S(250), Action::SetHealth("b2".into(), 200));
    sessions(&mut world, S(1), S(5), S(400));
    let trace = world.run().unwrap();

    assert_eq!(times(&trace, "gateway", changed("b2", false)), [S(180) + MS(30)]);
    // In at the first probe's answer; back at the first probe after 250 s,
    // at 270 s.
    let back = times(&trace, "gateway", changed("b2", true));
    assert_eq!(back, [MS(30), S(270) + MS(30)]);
    let back = &back[1..];
    let opened_on_b2 = times(&trace, "b2", session_opened);
    assert!(
        opened_on_b2.iter().all(|t| *t < S(181) || *t > back[0]),
        "{opened_on_b2:?}"
    );
    assert!(opened_on_b2.iter().any(|t| *t > back[0]), "sessions reach b2 again");
}

#[test]
fn agw_every_backend_failing_from_the_start_is_502_from_the_start() {
    // Docs 000/003: a backend must respond to probes for the gateway to
    // route to it. Neither ever passes one, so neither ever gets a session.
    let mut world = world(config(ProfileName::ApplicationGateway, &["b1", "b2"]), &["b1", "b2"]);
    world.at(Duration::ZERO, Action::SetHealth("b1".into(), 503));
    world.at(Duration::ZERO, Action::SetHealth("b2".into(), 503));
    sessions(&mut world, S(1), S(10), S(81));
    let trace = world.run().unwrap();
    assert!(times(&trace, "gateway", changed("b1", true)).is_empty());
    assert!(times(&trace, "b1", session_opened).is_empty());
    assert!(times(&trace, "b2", session_opened).is_empty());
    let expected: Vec<String> = (0..9).map(|i| format!("{} 502", 1 + 10 * i)).collect();
    assert_eq!(answers(&trace), expected);
}

#[test]
fn fd_every_backend_unhealthy_still_round_robins_to_all() {
    let mut world = world(config(ProfileName::FrontDoor, &["b1", "b2"]), &["b1", "b2"]);
    world.at(Duration::ZERO, Action::SetHealth("b1".into(), 503));
    world.at(Duration::ZERO, Action::SetHealth("b2".into(), 503));
    sessions(&mut world, S(100), S(10), S(140));
    let trace = world.run().unwrap();
    // Four samples (0, 30, 60, 90 s) fill the window.
    assert_eq!(
        times(&trace, "gateway", out_after("b1", 4, status(503))),
        [S(90) + MS(30)]
    );
    assert_eq!(
        times(&trace, "gateway", out_after("b2", 4, status(503))),
        [S(90) + MS(30)]
    );
    assert_eq!(times(&trace, "c1", opened).len(), 5, "every handshake still succeeds");
    assert!(times(&trace, "c1", refused).is_empty());
    let (b1, b2) = (
        times(&trace, "b1", session_opened).len(),
        times(&trace, "b2", session_opened).len(),
    );
    assert_eq!((b1, b2), (3, 2), "round robin over all origins");
}

#[test]
fn fd_health_is_two_of_the_last_four_samples() {
    let mut world = world(config(ProfileName::FrontDoor, &["b1", "b2"]), &["b1", "b2"]);
    world.at(S(95), Action::SetHealth("b2".into(), 500));
    world.at(S(200), Action::SetHealth("b2".into(), 200));
    sessions(&mut world, S(1), S(5), S(300));
    let trace = world.run().unwrap();
    // Samples: 0-90 pass; 120 and 150 fail (still 2 of 4); 180 fails (1 of
    // 4): out. 210 passes (1 of 4); 240 passes (2 of 4): back.
    assert_eq!(
        times(&trace, "gateway", out_after("b2", 3, status(500))),
        [S(180) + MS(30)]
    );
    assert_eq!(times(&trace, "gateway", changed("b2", true)), [S(240) + MS(30)]);
    let opened_on_b2 = times(&trace, "b2", session_opened);
    assert!(
        opened_on_b2.iter().all(|t| *t < S(181) || *t > S(240)),
        "{opened_on_b2:?}"
    );
}

#[test]
fn a_probe_slower_than_its_timeout_is_a_failure() {
    let mut c = config(ProfileName::ApplicationGateway, &["b1", "b2"]);
    c.probes = vec![ProbeConfig {
        path: "/health".into(),
        interval: Some(ConfigDuration::from_secs(10)),
        timeout: Some(ConfigDuration::from_secs(5)),
        ..ProbeConfig::named("quick")
    }];
    c.backend_settings[0].probe = Some("quick".into());
    let mut world = world(c, &["b1", "b2"]);
    world.at(S(15), Action::SetHealthDelay("b2".into(), S(8)));
    sessions(&mut world, S(1), S(5), S(60));
    let trace = world.run().unwrap();
    // Probes at 20, 30, 40 s each time out 5 s later.
    assert_eq!(
        times(
            &trace,
            "gateway",
            out_after("b2", 3, ProbeResult::Failure(ProbeFailure::Timeout))
        ),
        [S(45)]
    );
}

#[test]
fn a_websocket_only_backend_fails_probes_so_clients_get_502() {
    let mut world = world(config(ProfileName::ApplicationGateway, &["b1"]), &["b1"]);
    world.at(Duration::ZERO, Action::SetWebSocketOnly("b1".into()));
    sessions(&mut world, S(1), S(10), S(21));
    let trace = world.run().unwrap();
    assert!(times(&trace, "gateway", changed("b1", true)).is_empty());
    // It speaks WebSocket fine; it is the HTTP probe it never passes that
    // keeps it out, from the first handshake on.
    assert_eq!(answers(&trace), ["1 502", "11 502", "21 502"]);
}

#[test]
fn an_https_probe_checks_a_tls_backend() {
    let tls = TlsFixture::new();
    let mut c = config(ProfileName::ApplicationGateway, &["b1"]);
    c.backend_settings[0].protocol = Protocol::Https;
    c.backend_settings[0].trusted_ca = Some(tls.ca.clone());
    c.probes = vec![ProbeConfig {
        protocol: Protocol::Https,
        path: "/health".into(),
        match_body: Some("health".into()),
        ..ProbeConfig::named("tls")
    }];
    c.backend_settings[0].probe = Some("tls".into());
    let mut world = World::new(3).tick(MS(10)).duration(S(600));
    world.backend_tls("b1", 9001, backend::Options::default(), tls.server_config());
    world.gateway("gateway", c);
    world.at(S(45), Action::SetHealth("b1".into(), 500));
    sessions(&mut world, S(1), S(20), S(130));
    let trace = world.run().unwrap();
    println!("{}", trace.render());
    let b1 = addr("b1");
    let ok = times(&trace, "gateway", |e| {
        *e == TraceEvent::Gateway(Event::ProbeCompleted {
            backend: b1.clone(),
            result: ProbeResult::Success(200),
            healthy: true,
        })
    });
    assert_eq!(ok.len(), 2, "the probes at 0 and 30 s passed over TLS");
    assert_eq!(
        times(&trace, "gateway", out_after("b1", 3, status(500))),
        [S(120) + MS(50)],
        "probes at 60, 90, 120 s fail; TLS adds a round trip"
    );
    assert!(
        !times(&trace, "c1", opened).is_empty(),
        "wss to the backend worked before"
    );
}

/// A CA and a certificate for host `b1`, as files for the gateway config
/// and as a rustls server config for the simulated backend.
struct TlsFixture {
    _dir: tempfile::TempDir,
    ca: std::path::PathBuf,
    cert_pem: String,
    key_pem: String,
}

impl TlsFixture {
    fn new() -> TlsFixture {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["b1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, ca_cert.pem()).unwrap();
        TlsFixture {
            _dir: dir,
            ca,
            cert_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
        }
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let cert = self._dir.path().join("cert.pem");
        let key = self._dir.path().join("key.pem");
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        gateway::tls::server_config(&cert, &key).unwrap()
    }
}
