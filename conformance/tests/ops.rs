//! Running `wsgate serve` as an operator would: Prometheus metrics on the
//! admin endpoint, a graceful drain on SIGTERM, logs a collector can read,
//! shell completions. Real processes and sockets on 127.0.0.1, ports read
//! back from stdout.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const WSGATE: &str = env!("CARGO_BIN_EXE_wsgate");

/// A child process killed on drop, its stderr in a file (not a terminal).
struct Running {
    child: Child,
    stderr: tempfile::NamedTempFile,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap()
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args([name, &pid]).status().unwrap();
        assert!(status.success(), "kill {name} {pid}");
    }

    /// Waits up to `limit` for the process to exit.
    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < until,
                "wsgate still running after {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts `wsgate args…` and returns the address printed after each marker,
/// in the order of `markers`.
fn start(args: &[&str], markers: &[&'static str]) -> (Running, Vec<SocketAddr>) {
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(WSGATE)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr.reopen().unwrap())
        .spawn()
        .expect("wsgate starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let wanted: Vec<&'static str> = markers.to_vec();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            for (i, marker) in wanted.iter().enumerate() {
                if let Some(rest) = line.split(marker).nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_string();
                    let _ = tx.send((i, addr));
                }
            }
        }
    });
    let mut addrs = vec![None; markers.len()];
    while addrs.iter().any(Option::is_none) {
        let (i, addr) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("wsgate printed its addresses");
        addrs[i].get_or_insert(addr.parse::<SocketAddr>().expect("a socket address"));
    }
    (Running { child, stderr }, addrs.into_iter().flatten().collect())
}

/// One HTTP/1.1 GET, answered in full: (head, body).
async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut resp = String::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_string(&mut resp))
        .await
        .unwrap()
        .unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

/// The sum of every sample of the metric `name` whose labels contain each
/// of `labels` (`key="value"`), from the OpenMetrics text.
fn value(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && labels.iter().all(|want| rest.contains(want))).then(|| v.parse::<f64>().ok())?
        })
        .sum()
}

#[tokio::test]
async fn metrics_move_with_a_session_and_a_request() {
    let (_gw, addrs) = start(
        &["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        &["listening on ", "admin endpoint on "],
    );
    let (gateway, admin) = (addrs[0], addrs[1]);

    let (head, before) = get(admin, "/metrics").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    assert!(before.ends_with("# EOF\n"), "{before}");

    // One WebSocket session, closed by the client.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{gateway}/chat"))
        .await
        .unwrap();
    ws.send(Message::text("hello metrics")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello metrics"));
    let during = get(admin, "/metrics").await.1;
    ws.close(None).await.unwrap();
    while let Some(Ok(_)) = ws.next().await {}
    drop(ws);
    // One plain request.
    let (head, _) = get(gateway, "/").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // The tunnel reports its close once both directions are done.
    let mut after = String::new();
    for _ in 0..250 {
        after = get(admin, "/metrics").await.1;
        if value(&after, "wsgate_session_closes_total", &[]) > value(&before, "wsgate_session_closes_total", &[]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("--- /metrics after one session and one request ---\n{after}");

    let delta = |name: &str, labels: &[&str]| value(&after, name, labels) - value(&before, name, labels);
    assert_eq!(value(&during, "wsgate_sessions_open", &[]), 1.0, "{during}");
    assert_eq!(value(&after, "wsgate_sessions_open", &[]), 0.0, "{after}");
    assert_eq!(delta("wsgate_sessions_total", &[]), 1.0, "{after}");
    assert_eq!(delta("wsgate_handshakes_total", &["status=\"101\""]), 1.0, "{after}");
    assert_eq!(delta("wsgate_requests_total", &["status=\"200\""]), 1.0, "{after}");
    assert_eq!(
        delta("wsgate_session_closes_total", &["reason=\"closed\""]),
        1.0,
        "{after}"
    );
    assert_eq!(delta("wsgate_request_duration_seconds_count", &[]), 2.0, "{after}");
    // "hello metrics" is 13 bytes, masked and framed: more than 13 each way.
    assert!(delta("wsgate_relayed_bytes_total", &["direction=\"client_to_backend\""]) > 13.0);
    assert!(delta("wsgate_relayed_bytes_total", &["direction=\"backend_to_client\""]) > 13.0);
    assert!(
        value(&after, "wsgate_probes_total", &["result=\"ok\""]) >= 1.0,
        "{after}"
    );
    assert_eq!(value(&after, "wsgate_backend_healthy", &[]), 1.0, "{after}");
}

#[tokio::test]
async fn sigterm_refuses_new_connections_drains_for_the_grace_and_exits_zero() {
    let (mut gw, addrs) = start(
        &["serve", "--listen", "127.0.0.1:0", "--shutdown-grace", "2s"],
        &["listening on "],
    );
    let gateway = addrs[0];
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{gateway}/chat"))
        .await
        .unwrap();
    ws.send(Message::text("before")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("before"));

    let signalled = Instant::now();
    gw.signal("-TERM");
    // The listener closes: new connections are refused.
    let mut refused = false;
    while !refused && signalled.elapsed() < Duration::from_millis(1500) {
        refused = tokio::net::TcpStream::connect(gateway).await.is_err();
        if !refused {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert!(refused, "still accepting after SIGTERM:\n{}", gw.log());

    // The open session still works during the grace (after it, this
    // exchange would fail: the session is dropped).
    ws.send(Message::text("during the grace")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("during the grace"));

    // Then it is closed without a Close frame (1006), at the grace's end.
    match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap() {
        Some(Ok(Message::Close(_))) => panic!("a shutdown close sends no Close frame"),
        Some(Ok(other)) => panic!("unexpected {other:?}"),
        Some(Err(_)) | None => {}
    }
    let closed_after = signalled.elapsed();
    assert!(
        closed_after >= Duration::from_millis(1900),
        "closed after {closed_after:?}"
    );

    let status = gw.wait_exit(Duration::from_secs(5));
    let log = gw.log();
    assert!(status.success(), "{status}:\n{log}");
    assert!(!log.contains("\x1b["), "no ANSI escapes when stderr is a file:\n{log}");
    let steps = [
        "shutdown: closing the listeners; new connections are refused",
        "shutdown: open sessions may run until the grace ends",
        "session closed",
        "shutdown: grace over; closed the sessions still open",
        "shutdown complete",
    ];
    let mut from = 0;
    for step in steps {
        let at = log[from..]
            .find(step)
            .unwrap_or_else(|| panic!("`{step}` missing or out of order in:\n{log}"));
        from += at + step.len();
    }
    assert!(log.contains("signal=\"SIGTERM\""), "{log}");
    assert!(log.contains("reason=\"maintenance\""), "{log}");
    println!("--- stderr ---\n{log}");
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    let (mut gw, addrs) = start(
        &["serve", "--listen", "127.0.0.1:0", "--shutdown-grace", "60s"],
        &["listening on "],
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/chat", addrs[0]))
        .await
        .unwrap();
    ws.send(Message::text("hi")).await.unwrap();
    ws.next().await.unwrap().unwrap();
    gw.signal("-INT");
    // Wait until the drain has begun, then interrupt it.
    let until = Instant::now() + Duration::from_secs(5);
    while !gw.log().contains("open sessions may run") {
        assert!(Instant::now() < until, "{}", gw.log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.signal("-TERM");
    let status = gw.wait_exit(Duration::from_secs(5));
    assert!(!status.success(), "a cut-short drain is not a clean exit");
    assert!(gw.log().contains("second signal, exiting now"), "{}", gw.log());
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let (mut gw, addrs) = start(
        &["--log-format", "json", "serve", "--listen", "127.0.0.1:0"],
        &["listening on "],
    );
    let (head, _) = get(addrs[0], "/?token=secret").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    gw.signal("-TERM");
    assert!(gw.wait_exit(Duration::from_secs(10)).success());
    let log = gw.log();
    assert!(!log.contains("\x1b["), "{log}");
    assert!(!log.contains("secret"), "queries are not logged:\n{log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let routed = lines
        .iter()
        .find(|v| v["fields"]["message"] == "request routed")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(routed["fields"]["path"], "/");
    assert_eq!(routed["fields"]["upgrade"], false);
    assert_eq!(routed["level"], "INFO");
    let forwarded = lines
        .iter()
        .find(|v| v["fields"]["message"] == "response forwarded")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(forwarded["fields"]["status"], 200);
    assert!(
        lines.iter().any(|v| v["fields"]["message"] == "shutdown complete"),
        "{log}"
    );
}

#[test]
fn completions_for_bash() {
    let out = Command::new(WSGATE).args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(script.contains("_wsgate()"), "{script}");
    assert!(script.contains("complete -F _wsgate"), "{script}");
    assert!(script.contains("--shutdown-grace"), "{script}");
}
