//! The `wsgate` binary, run as a user would: real processes, real sockets on
//! 127.0.0.1 with OS-picked ports read back from stdout.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

const WSGATE: &str = env!("CARGO_BIN_EXE_wsgate");

/// A child process killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `wsgate args…` and returns it with the first address printed on a
/// stdout line containing "listening on".
fn start(args: &[&str]) -> (Running, SocketAddr) {
    let mut child = Command::new(WSGATE)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wsgate starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default().to_string();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("wsgate printed its address");
    (Running(child), addr.parse().expect("a socket address"))
}

async fn echo_through(gateway: SocketAddr) {
    let (mut ws, response) = tokio_tungstenite::connect_async(format!("ws://{gateway}/chat"))
        .await
        .expect("handshake through wsgate");
    assert_eq!(response.status(), 101);
    ws.send(Message::text("ping through the gateway")).await.unwrap();
    let echoed = ws.next().await.unwrap().unwrap();
    assert_eq!(echoed, Message::text("ping through the gateway"));
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn serve_with_quick_flags_in_front_of_wsgate_echo() {
    let (_echo, backend) = start(&["echo", "--listen", "127.0.0.1:0"]);
    let backend = backend.to_string();
    let (_gw, gateway) = start(&["serve", "--listen", "127.0.0.1:0", "--backend", &backend]);
    echo_through(gateway).await;
}

#[tokio::test]
async fn serve_without_backend_uses_the_builtin_echo() {
    let (_gw, gateway) = start(&["serve", "--listen", "127.0.0.1:0"]);
    echo_through(gateway).await;
}

#[tokio::test]
async fn serve_with_a_config_file() {
    let (_echo, backend) = start(&["echo", "--listen", "127.0.0.1:0"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    std::fs::write(
        &path,
        format!(
            r#"profile = "front-door"
[[listeners]]
name = "public"
address = "127.0.0.1:0"
[[backend_pools]]
name = "echo"
addresses = ["{backend}"]
[[backend_settings]]
name = "settings"
[[rules]]
name = "all"
listener = "public"
pool = "echo"
settings = "settings"
"#
        ),
    )
    .unwrap();
    let (_gw, gateway) = start(&["serve", "--config", path.to_str().unwrap()]);
    echo_through(gateway).await;
}

#[test]
fn a_bad_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "profile = \"front-door\"\n[[listeners]]\nname = \"l\"\naddress = \"127.0.0.1:0\"\n[[rules]]\nname = \"r\"\nlistener = \"l\"\npool = \"missing\"\nsettings = \"s\"\n",
    )
    .unwrap();
    for args in [vec!["check"], vec!["serve", "--config"]] {
        let out = Command::new(WSGATE).args(&args).arg(&path).output().unwrap();
        assert!(!out.status.success(), "{args:?} must fail");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = format!("{}:8:8: rules[0].pool: unknown backend pool `missing`", path.display());
        assert!(text.contains(&expected), "{args:?} printed:\n{text}");
    }
}
