//! `wsgate run --target external` against a gateway the harness did not
//! start: a `wsgate serve` in its own process, configured by hand as a user
//! configures theirs, with the harness serving the scenario's backends on
//! the addresses that config names.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::process::Command;

mod support;

use support::{start, Running, WSGATE};

/// A loopback port nothing listens on now (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `wsgate serve --config FILE`, once it prints its listener.
fn serve(config: &std::path::Path) -> (Running, SocketAddr) {
    start(&["serve", "--config", config.to_str().unwrap()])
}

const GATEWAY: &str = r#"
profile = "application-gateway"

[[listeners]]
name = "public"
protocol = "http"
address = "127.0.0.1:GATEWAY_PORT"

[[backend_pools]]
name = "pool"
addresses = ["127.0.0.1:BACKEND_PORT"]

[[backend_settings]]
name = "settings"
request_timeout = "3s"
probe = "fast"

[[probes]]
name = "fast"
path = "/health"
interval = "300ms"
timeout = "300ms"

[[rules]]
name = "rule"
listener = "public"
pool = "pool"
settings = "settings"
"#;

/// What the user's gateway does, as a scenario: echo, and a 3 s idle timer.
const ECHO: &str = r#"
name = "The external gateway relays a session and closes an idle one after its request timeout"
requirements = ["AGW-TIMEOUT-1"]
profile = "application-gateway"
seed = 3
duration = "8s"

[[gateway.backend_settings]]
name = "settings"
request_timeout = "3s"

[[backends]]
name = "b1"

[[clients]]
name = "talker"
start = "2s"
messages = { every = "500ms", text = "hello" }
close_after = "2s"

[[clients]]
name = "idle"
start = "2s"

[[expect]]
client = "talker"
echoed = true
catches = "x"

[[expect]]
client = "idle"
closed = 1006
between = ["5s", "5.3s"]
catches = "x"

[[expect]]
backend = "b1"
health = "healthy"
at = "4s"
catches = "x"
"#;

/// Needs a restart of the gateway, which the harness cannot do.
const MAINTENANCE: &str = r#"
name = "A restart drops the session"
requirements = ["AGW-MAINT-1"]
profile = "application-gateway"
seed = 3
duration = "6s"

[[backends]]
name = "b1"

[[clients]]
name = "c1"
start = "2s"

[[timeline]]
at = "4s"
action = "maintenance"
target = "gateway"

[[expect]]
client = "c1"
closed = 1006
catches = "x"
"#;

#[test]
fn a_gateway_started_elsewhere_is_judged_from_outside() {
    let dir = tempfile::tempdir().unwrap();
    let backend: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        GATEWAY
            .replace("GATEWAY_PORT", &free_port().to_string())
            .replace("BACKEND_PORT", &backend.port().to_string()),
    )
    .unwrap();
    let (_gateway, addr) = serve(&config);
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    std::fs::write(scenarios.join("echo.toml"), ECHO).unwrap();
    std::fs::write(scenarios.join("maintenance.toml"), MAINTENANCE).unwrap();

    let out = Command::new(WSGATE)
        .arg("run")
        .arg(&scenarios)
        .args(["--target", "external", "--url"])
        .arg(format!("ws://{addr}"))
        .arg("--backend-listen")
        .arg(backend.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("pass  external ") && stdout.contains("echo.toml"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "skip: b1 healthy at 4.000s (seen by every instance): needs the gateway's own trace (its pool membership), \
             which external does not give"
        ),
        "an expectation on the gateway's trace is skipped with the reason: {stdout}"
    );
    assert!(
        stdout.contains("skipped: `maintenance: restarting gateway` at 4s acts on the gateway, which the harness cannot do to an external one"),
        "{stdout}"
    );
    assert!(stdout.ends_with("1 passed, 0 failed\n"), "{stdout}");
}

#[test]
fn the_external_target_says_what_it_needs() {
    let out = Command::new(WSGATE)
        .args(["run", "--target", "external"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--target external needs --url ws://HOST:PORT and --backend-listen"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(WSGATE)
        .args(["run", "--target", "external", "--url", "wss://127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wss:// is not supported yet"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
