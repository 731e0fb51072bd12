//! nginx and HAProxy as conformance targets, on real loopback sockets: a
//! plan rendered into each peer's config, the peer started in front of real
//! echo backends, and driven by a WebSocket client.
//!
//! A peer that is not installed is skipped with a printed message (the test
//! passes); CI installs both (`.ci/run`).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backend::{BackendEvent, Control as EchoControl, SeenRequest};
use conformance::peer::process::write_run_dir;
use conformance::peer::{which, Input, PeerKind, PeerProcess, Policies, Ports};
use futures_util::{SinkExt, StreamExt};
use gateway::config::BackendAddr;
use gateway::{Config, Plan, TokioTransport, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// Whether `kind` can run here; prints why a test is skipped when not.
fn installed(kind: PeerKind) -> bool {
    if which(kind.binary()).is_some() {
        return true;
    }
    println!("skipped: {kind} is not installed (apt-get install {kind})");
    false
}

/// A config with one listener in front of `backends` (plan addresses such
/// as `b1:9001`), with `settings` lines in its backend settings and `tail`
/// appended.
fn config(profile: &str, backends: &[&str], settings: &str, tail: &str) -> String {
    let addresses: Vec<String> = backends.iter().map(|b| format!("\"{b}\"")).collect();
    format!(
        r#"
profile = "{profile}"

[[listeners]]
name = "public"
address = "127.0.0.1:80"

[[backend_pools]]
name = "pool"
addresses = [{}]

[[backend_settings]]
name = "settings"
{settings}

[[rules]]
name = "rule"
listener = "public"
pool = "pool"
settings = "settings"
{tail}
"#,
        addresses.join(", ")
    )
}

fn plan(toml: &str, base_dir: &Path) -> (Plan, Policies) {
    let config = Config::from_toml(toml, "peers.toml", base_dir.to_path_buf()).unwrap();
    (config.validate().unwrap(), Policies::from_config(&config))
}

/// An echo backend on a free port, and what it saw.
struct Backend {
    addr: SocketAddr,
    control: EchoControl,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

impl Backend {
    async fn start() -> Backend {
        Backend::start_with(None).await
    }

    async fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> Backend {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let options = backend::Options {
            observer: Arc::new(move |event| {
                if let BackendEvent::Request(r) = event {
                    log.lock().unwrap().push(r);
                }
            }),
            ..backend::Options::default()
        };
        let control = options.control.clone();
        let addr = match tls {
            None => {
                let (addr, serve) = backend::bind(&TokioTransport, "127.0.0.1:0".parse().unwrap(), options)
                    .await
                    .unwrap();
                tokio::spawn(serve);
                addr
            }
            Some(config) => {
                let listener = TokioTransport.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
                let addr = gateway::transport::Listener::local_addr(&listener).unwrap();
                tokio::spawn(backend::serve(
                    backend::tls::TlsListener::new(listener, config),
                    options,
                ));
                addr
            }
        };
        Backend { addr, control, seen }
    }

    /// Requests other than probes.
    fn traffic(&self) -> Vec<SeenRequest> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|r| r.header("user-agent") != Some(gateway::probe::USER_AGENT))
            .cloned()
            .collect()
    }
}

async fn start(kind: PeerKind, toml: &str, backends: &[(&str, &Backend)]) -> PeerProcess {
    let (plan, policies) = plan(toml, Path::new("/"));
    let map: BTreeMap<BackendAddr, SocketAddr> = backends
        .iter()
        .map(|(name, b)| (BackendAddr::parse(name).unwrap(), b.addr))
        .collect();
    PeerProcess::start(kind, &plan, &policies, &map).await.unwrap()
}

fn public(peer: &PeerProcess) -> SocketAddr {
    peer.listener_addr("public").unwrap()
}

/// Sends a raw request and returns the status and the whole response.
async fn exchange(addr: SocketAddr, request: &str) -> (u16, String) {
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return (0, String::from("connection refused"));
    };
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: chat.example\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// Retries a GET until it is answered `status` (a backend becomes routable
/// after its first check, or leaves after failed ones); panics after
/// `within`.
async fn until_status(peer: &PeerProcess, path: &str, status: u16, within: Duration) -> Duration {
    let addr = public(peer);
    let start = Instant::now();
    loop {
        let (got, _) = get(addr, path).await;
        if got == status {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{}: expected {status} for {path} within {within:?}, last got {got}; its output:\n{}",
            peer.kind(),
            peer.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(addr: SocketAddr) -> Ws {
    let (ws, response) = tokio_tungstenite::connect_async(format!("ws://{addr}/chat"))
        .await
        .unwrap_or_else(|e| panic!("opening a session through {addr}: {e}"));
    assert_eq!(response.status(), 101);
    ws
}

async fn echo_once(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("an echo within 5 s")
        .expect("the session is open")
        .unwrap();
    assert_eq!(reply, Message::text(text));
}

/// Waits for the session to end and says how: `None` when the connection
/// dropped without a Close frame (a client reports 1006), else the code.
async fn ended(ws: &mut Ws, within: Duration) -> Option<u16> {
    let end = tokio::time::timeout(within, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Close(frame))) => return Some(frame.map(|f| u16::from(f.code)).unwrap_or(1005)),
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    end.expect("the session ended in time")
}

fn agw(settings: &str) -> String {
    config("application-gateway", &["b1:9001"], settings, "")
}

async fn relays_websocket_and_plain_requests(kind: PeerKind) {
    let backend = Backend::start().await;
    let peer = start(kind, &agw(""), &[("b1:9001", &backend)]).await;
    let addr = public(&peer);
    until_status(&peer, "/hello?x=1", 200, Duration::from_secs(3)).await;

    let (status, response) = get(addr, "/hello?x=1").await;
    assert_eq!(status, 200, "{response}");
    assert!(
        response.to_ascii_lowercase().contains("x-echo-uri: /hello?x=1"),
        "{response}"
    );
    let seen = backend.traffic();
    let forwarded = seen
        .iter()
        .find(|r| r.uri == "/hello?x=1")
        .expect("the GET reached the backend");
    assert_eq!(forwarded.header("host"), Some("chat.example"));
    assert_eq!(forwarded.header("x-forwarded-proto"), Some("http"));
    assert!(forwarded
        .header("x-forwarded-for")
        .is_some_and(|v| v.contains("127.0.0.1")));

    let mut ws = open(addr).await;
    echo_once(&mut ws, "hello through the peer").await;
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn nginx_relays_websocket_and_plain_requests() {
    if installed(PeerKind::Nginx) {
        relays_websocket_and_plain_requests(PeerKind::Nginx).await;
    }
}

#[tokio::test]
async fn haproxy_relays_websocket_and_plain_requests() {
    if installed(PeerKind::Haproxy) {
        relays_websocket_and_plain_requests(PeerKind::Haproxy).await;
    }
}

/// The session idle timer (the request timeout, under
/// application-gateway): traffic keeps a session open for twice as long,
/// silence closes it without a Close frame.
async fn closes_idle_sessions(kind: PeerKind) {
    let backend = Backend::start().await;
    let peer = start(kind, &agw("request_timeout = \"800ms\""), &[("b1:9001", &backend)]).await;
    let addr = public(&peer);
    until_status(&peer, "/", 200, Duration::from_secs(3)).await;

    let mut ws = open(addr).await;
    let opened = Instant::now();
    let mut quiet = Instant::now();
    while opened.elapsed() < Duration::from_millis(1500) {
        tokio::time::sleep(Duration::from_millis(150)).await;
        echo_once(&mut ws, "still here").await;
        quiet = Instant::now();
    }
    let code = ended(&mut ws, Duration::from_secs(3)).await;
    let after = quiet.elapsed();
    println!("{kind}: an idle session closed {after:?} after its last message (idle timer 800 ms)");
    assert_eq!(code, None, "closed without a Close frame");
    // nginx re-arms a timer only when it moves by 300 ms or more
    // (NGX_TIMER_LAZY_DELAY), so its idle timer may fire up to 300 ms early.
    assert!(
        after >= Duration::from_millis(450) && after < Duration::from_millis(1500),
        "{kind} closed an idle session {after:?} after its last message, expected about 800 ms"
    );
}

#[tokio::test]
async fn nginx_closes_idle_sessions() {
    if installed(PeerKind::Nginx) {
        closes_idle_sessions(PeerKind::Nginx).await;
    }
}

#[tokio::test]
async fn haproxy_closes_idle_sessions() {
    if installed(PeerKind::Haproxy) {
        closes_idle_sessions(PeerKind::Haproxy).await;
    }
}

/// A restart (the harness's maintenance) drops open sessions and serves
/// again on the same port.
async fn restart_drops_sessions_and_serves_again(kind: PeerKind) {
    let backend = Backend::start().await;
    let mut peer = start(kind, &agw(""), &[("b1:9001", &backend)]).await;
    let addr = public(&peer);
    until_status(&peer, "/", 200, Duration::from_secs(3)).await;
    let mut ws = open(addr).await;
    echo_once(&mut ws, "before").await;

    peer.restart().await.unwrap();
    assert_eq!(public(&peer), addr);
    assert_eq!(ended(&mut ws, Duration::from_secs(3)).await, None);
    until_status(&peer, "/", 200, Duration::from_secs(3)).await;
    let mut again = open(addr).await;
    echo_once(&mut again, "after").await;
    peer.stop().await.unwrap();
    assert!(!peer.is_running());
}

#[tokio::test]
async fn nginx_restart_drops_sessions_and_serves_again() {
    if installed(PeerKind::Nginx) {
        restart_drops_sessions_and_serves_again(PeerKind::Nginx).await;
    }
}

#[tokio::test]
async fn haproxy_restart_drops_sessions_and_serves_again() {
    if installed(PeerKind::Haproxy) {
        restart_drops_sessions_and_serves_again(PeerKind::Haproxy).await;
    }
}

const FAST_PROBE: &str = r#"
[[probes]]
name = "fast"
interval = "200ms"
timeout = "1s"
unhealthy_threshold = 2
"#;

#[tokio::test]
async fn haproxy_takes_a_failing_backend_out_and_back() {
    if !installed(PeerKind::Haproxy) {
        return;
    }
    let backend = Backend::start().await;
    let toml = config("application-gateway", &["b1:9001"], "probe = \"fast\"", FAST_PROBE);
    let peer = start(PeerKind::Haproxy, &toml, &[("b1:9001", &backend)]).await;
    let addr = public(&peer);
    until_status(&peer, "/chat", 200, Duration::from_secs(3)).await;

    backend.control.set_health_status(500);
    // Two failures 200 ms apart; the gateway's 502 where HAProxy says 503.
    let out = until_status(&peer, "/chat", 502, Duration::from_secs(3)).await;
    assert!(out < Duration::from_millis(1500), "out after {out:?}");
    let (_, body) = get(addr, "/chat").await;
    assert!(body.contains("502 Bad Gateway"), "{body}");
    let handshake = tokio_tungstenite::connect_async(format!("ws://{addr}/chat")).await;
    match handshake {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 502),
        other => panic!("expected a 502 handshake, got {other:?}"),
    }
    assert!(peer.output().contains("is DOWN"), "{}", peer.output());

    backend.control.set_health_status(200);
    until_status(&peer, "/chat", 200, Duration::from_secs(3)).await;
}

/// Application Gateway routes nothing to a backend before it passed a
/// probe. The first probe is slow here, so requests arrive before it
/// answers: they must not reach the backend.
#[tokio::test]
async fn haproxy_routes_nothing_before_the_first_probe_passes() {
    if !installed(PeerKind::Haproxy) {
        return;
    }
    let backend = Backend::start().await;
    backend.control.set_health_delay(Duration::from_millis(700));
    let probe = "[[probes]]\nname = \"slow\"\ninterval = \"5s\"\ntimeout = \"2s\"\n";
    let toml = config("application-gateway", &["b1:9001"], "probe = \"slow\"", probe);
    let peer = start(PeerKind::Haproxy, &toml, &[("b1:9001", &backend)]).await;
    let addr = public(&peer);
    let (status, body) = get(addr, "/early").await;
    assert_eq!(status, 502, "{body}");
    assert!(backend.traffic().is_empty(), "{:?}", backend.traffic());
    until_status(&peer, "/later", 200, Duration::from_secs(3)).await;
}

/// Front Door: with every origin unhealthy, traffic still goes to all of
/// them (the backup servers).
#[tokio::test]
async fn haproxy_uses_every_origin_when_none_is_healthy() {
    if !installed(PeerKind::Haproxy) {
        return;
    }
    let (b1, b2) = (Backend::start().await, Backend::start().await);
    b1.control.set_health_status(500);
    b2.control.set_health_status(500);
    let probe = "[[probes]]\nname = \"fast\"\ninterval = \"100ms\"\ntimeout = \"1s\"\n";
    let toml = config("front-door", &["b1:9001", "b2:9002"], "probe = \"fast\"", probe);
    let peer = start(PeerKind::Haproxy, &toml, &[("b1:9001", &b1), ("b2:9002", &b2)]).await;
    let addr = public(&peer);
    // Three failed probes take each out (the window's approximation).
    let start = Instant::now();
    while !peer.output().contains("Running on backup") {
        assert!(start.elapsed() < Duration::from_secs(3), "{}", peer.output());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..4 {
        assert_eq!(get(addr, "/chat").await.0, 200);
    }
    assert!(
        !b1.traffic().is_empty() && !b2.traffic().is_empty(),
        "round-robin over both"
    );
}

/// WAF rules (first match decides, `allow` included; the path as sent) and
/// a rewrite set, as the gateway applies them.
async fn applies_waf_rules_and_rewrites(kind: PeerKind) {
    let backend = Backend::start().await;
    let toml = format!(
        "{}{POLICIES}",
        config("application-gateway", &["b1:9001"], "", POLICY_RULE)
    );
    let peer = start(kind, &toml, &[("b1:9001", &backend)]).await;
    until_status(&peer, "/", 200, Duration::from_secs(3)).await;
    let addr = public(&peer);
    for (path, status) in [
        ("/admin/users", 403),
        ("/admin/health", 200),
        ("/%61dmin/users", 200),
        ("/q?x=1+UNION+SELECT", 403),
        ("/q?x=1", 200),
    ] {
        assert_eq!(get(addr, path).await.0, status, "{kind}: GET {path}\n{}", peer.output());
    }
    let bot = "GET /chat HTTP/1.1\r\nHost: h\r\nUser-Agent: my evilbot/1\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(addr, bot).await.0, 403, "{kind}: a bad User-Agent");
    let rewritten = "GET /public/chat?room=1 HTTP/1.1\r\nHost: h\r\nX-Debug: 1\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(addr, rewritten).await.0, 200);
    let seen = backend.traffic();
    let r = seen
        .iter()
        .find(|r| r.uri.starts_with("/internal/"))
        .expect("a rewritten request");
    assert_eq!(r.uri, "/internal/chat?room=1", "{kind}");
    assert_eq!(r.header("x-via"), Some("wsgate"), "{kind}");
    assert_eq!(r.header("x-debug"), None, "{kind}");
    let mut ws = open(addr).await;
    echo_once(&mut ws, "past the WAF").await;
}

const POLICY_RULE: &str = "waf = \"edge\"\nrewrites = \"to-internal\"\n";

const POLICIES: &str = r#"
[[waf_policies]]
name = "edge"
[[waf_policies.rules]]
name = "health-ok"
match = "path"
contains = "/admin/health"
action = "allow"
[[waf_policies.rules]]
name = "no-admin"
match = "path"
contains = "/admin"
action = "block"
[[waf_policies.rules]]
name = "sqli"
match = "query"
regex = '(?i)union(\+|%20)+select'
action = "block"
[[waf_policies.rules]]
name = "bot"
match = "header"
header = "User-Agent"
contains = "evilbot"
action = "block"

[[rewrite_sets]]
name = "to-internal"
set_request_headers = { x-via = "wsgate" }
remove_request_headers = ["x-debug"]
url_path = { pattern = "/public/([a-z]+)", replacement = "/internal/$1" }
"#;

#[tokio::test]
async fn nginx_applies_waf_rules_and_rewrites() {
    if installed(PeerKind::Nginx) {
        applies_waf_rules_and_rewrites(PeerKind::Nginx).await;
    }
}

#[tokio::test]
async fn haproxy_applies_waf_rules_and_rewrites() {
    if installed(PeerKind::Haproxy) {
        applies_waf_rules_and_rewrites(PeerKind::Haproxy).await;
    }
}

/// Both peers check each https member's certificate against its own name
/// (`b1`, `b2`: the scenario runner issues one certificate per backend
/// host), and every request gets through.
#[tokio::test]
async fn peers_verify_each_https_member_by_its_own_name() {
    let tls = TlsFiles::generate(&["b1", "b2"]);
    let b1 = Backend::start_with(Some(tls.server_config("b1"))).await;
    let b2 = Backend::start_with(Some(tls.server_config("b2"))).await;
    let settings = format!("protocol = \"https\"\ntrusted_ca = \"{}\"", tls.ca.display());
    let toml = config("application-gateway", &["b1:9001", "b2:9002"], &settings, "");
    for kind in PeerKind::ALL {
        if !installed(kind) {
            continue;
        }
        let peer = start(kind, &toml, &[("b1:9001", &b1), ("b2:9002", &b2)]).await;
        let addr = public(&peer);
        until_status(&peer, "/", 200, Duration::from_secs(3)).await;
        for _ in 0..4 {
            assert_eq!(get(addr, "/tls").await.0, 200, "{kind}: {}", peer.output());
        }
        let mut ws = open(addr).await;
        echo_once(&mut ws, "over tls").await;
    }
    for b in [&b1, &b2] {
        assert!(b.traffic().iter().any(|r| r.uri == "/tls"), "round-robin over both");
    }
}

/// Every rendering path, checked by the peers themselves (`nginx -t`,
/// `haproxy -c`): WAF, rewrites, https listeners and backends, each
/// profile.
#[tokio::test]
async fn rendered_configs_pass_the_peers_own_checks() {
    let tls = TlsFiles::generate(&["b1", "b2"]);
    let full = FULL
        .replace("@CERT@", &tls.server_cert("b1").display().to_string())
        .replace("@KEY@", &tls.server_key("b1").display().to_string())
        .replace("@CA@", &tls.ca.display().to_string());
    let mut configs = vec![full];
    for profile in ["application-gateway", "application-gateway-2016", "front-door"] {
        configs.push(config(profile, &["b1:9001", "b2:9002"], "", ""));
    }
    configs.push(config("front-door", &["b1:9001"], "", "caching = true").replacen(
        "profile = \"front-door\"",
        "profile = \"front-door\"\nidle_timeout = \"10m\"\nmax_lifetime = \"1h\"",
        1,
    ));
    for kind in PeerKind::ALL {
        if !installed(kind) {
            continue;
        }
        let binary = which(kind.binary()).unwrap();
        for toml in &configs {
            let (plan, policies) = plan(toml, tls.dir.path());
            let mut ports = Ports::default();
            for (i, l) in plan.listeners.iter().enumerate() {
                ports.listeners.insert(l.name.clone(), 40000 + i as u16);
            }
            for set in &plan.backend_sets {
                for m in &set.members {
                    ports
                        .backends
                        .insert(m.addr.clone(), ([127, 0, 0, 1], m.addr.port).into());
                }
            }
            let dir = tempfile::tempdir().unwrap();
            let rendered = kind
                .render(&Input {
                    plan: &plan,
                    policies: &policies,
                    ports: &ports,
                    dir: dir.path(),
                })
                .unwrap();
            write_run_dir(dir.path(), kind, &rendered).unwrap();
            let config = dir.path().join(kind.config_file());
            let mut command = std::process::Command::new(&binary);
            match kind {
                PeerKind::Nginx => command
                    .arg("-t")
                    .arg("-e")
                    .arg("stderr")
                    .arg("-p")
                    .arg(dir.path())
                    .arg("-c"),
                PeerKind::Haproxy => command.arg("-c").arg("-f"),
            };
            let out = command.arg(&config).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "{kind} rejected its config:\n{stderr}\n{}",
                rendered.config
            );
            // The server-state file's "changed from server-state" lines are
            // expected; any other warning is a rendering mistake.
            let warnings: Vec<&str> = stderr
                .lines()
                .filter(|l| l.contains("[WARNING]") || l.contains("[warn]"))
                .filter(|l| !l.contains("changed from server-state"))
                .collect();
            assert!(warnings.is_empty(), "{kind} warned:\n{stderr}\n{}", rendered.config);
        }
    }
}

const FULL: &str = r#"
profile = "application-gateway"

[[listeners]]
name = "public"
address = "127.0.0.1:80"

[[listeners]]
name = "secure"
protocol = "https"
address = "127.0.0.1:443"
tls_cert = "@CERT@"
tls_key = "@KEY@"
tcp_keepalive = "60s"

[[backend_pools]]
name = "chat"
addresses = ["b1:9001", "b2:9002"]

[[backend_settings]]
name = "plain"
request_timeout = "15s"
probe = "health"
tcp_keepalive = "30s"

[[backend_settings]]
name = "tls"
protocol = "https"
trusted_ca = "@CA@"

[[probes]]
name = "health"
path = "/health"
interval = "5s"
timeout = "2s"
unhealthy_threshold = 2
match_status = ["200-299", "301"]
match_body = "ok"

[[rules]]
name = "public-rule"
listener = "public"
pool = "chat"
settings = "plain"
waf = "edge"
rewrites = "to-internal"

[[rules]]
name = "secure-rule"
listener = "secure"
pool = "chat"
settings = "tls"

[[waf_policies]]
name = "edge"
[[waf_policies.rules]]
name = "health-ok"
match = "path"
contains = "/admin/health"
action = "allow"
[[waf_policies.rules]]
name = "no-admin"
match = "path"
contains = "/admin"
action = "block"
[[waf_policies.rules]]
name = "sqli"
match = "query"
regex = '(?i)union(\+|%20)+select'
action = "block"
[[waf_policies.rules]]
name = "bot"
match = "header"
header = "User-Agent"
regex = "evil\"bot"
action = "block"

[[rewrite_sets]]
name = "to-internal"
set_request_headers = { x-via = "wsgate" }
remove_request_headers = ["x-debug"]
url_path = { pattern = "/public/([a-z]+)", replacement = "/internal/$1" }
"#;

/// A CA and one certificate per host, in a temporary directory.
struct TlsFiles {
    dir: tempfile::TempDir,
    ca: PathBuf,
}

impl TlsFiles {
    fn generate(hosts: &[&str]) -> TlsFiles {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // OpenSSL (nginx, HAProxy) takes a leaf whose subject equals its
        // issuer for self-signed: rcgen names both the same by default.
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "wsgate peers test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, ca_cert.pem()).unwrap();
        for host in hosts {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(vec![host.to_string()]).unwrap();
            params.distinguished_name.push(DnType::CommonName, *host);
            let cert = params.signed_by(&key, &issuer).unwrap();
            std::fs::write(dir.path().join(format!("{host}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.path().join(format!("{host}.key")), key.serialize_pem()).unwrap();
        }
        TlsFiles { dir, ca }
    }

    fn server_cert(&self, host: &str) -> PathBuf {
        self.dir.path().join(format!("{host}.pem"))
    }

    fn server_key(&self, host: &str) -> PathBuf {
        self.dir.path().join(format!("{host}.key"))
    }

    fn server_config(&self, host: &str) -> Arc<rustls::ServerConfig> {
        gateway::tls::server_config(&self.server_cert(host), &self.server_key(host)).unwrap()
    }
}
