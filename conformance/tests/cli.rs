//! The `wsgate` binary, run as a user would: real processes, real sockets on
//! 127.0.0.1 with OS-picked ports read back from stdout.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::process::Command;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

mod support;

use support::{start, start_with, WSGATE};

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
async fn serve_on_one_thread_and_on_several() {
    let (_echo, backend) = start(&["echo", "--listen", "127.0.0.1:0"]);
    let backend = backend.to_string();
    for threads in ["1", "3"] {
        let (_gw, gateway) = start(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            &backend,
            "--threads",
            threads,
        ]);
        echo_through(gateway).await;
    }
    // Zero threads is refused by the argument parser, not at run time.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wsgate"))
        .args(["serve", "--threads", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
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

#[tokio::test]
async fn admin_maintenance_drops_sessions_with_1006() {
    let (_gw, addrs) = start_with(
        &["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        &["listening on ", "admin endpoint on "],
    );
    let (gateway, admin) = (addrs[0], addrs[1]);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{gateway}/chat"))
        .await
        .unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    ws.next().await.unwrap().unwrap();

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(admin).await.unwrap();
    conn.write_all(b"POST /maintenance HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).await.unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200") && resp.contains("\"dropped\":1"),
        "{resp}"
    );

    // The client sees its connection end with no Close frame: 1006.
    match ws.next().await {
        Some(Ok(Message::Close(_))) => panic!("a maintenance drop sends no Close frame"),
        Some(Ok(other)) => panic!("unexpected {other:?}"),
        Some(Err(_)) | None => {}
    }
}

#[test]
fn check_warns_about_caching_on_websocket_routes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fd.toml");
    std::fs::write(
        &path,
        "profile = \"front-door\"\n[[listeners]]\nname = \"l\"\naddress = \"127.0.0.1:0\"\n[[backend_pools]]\nname = \"p\"\naddresses = [\"127.0.0.1:9\"]\n[[backend_settings]]\nname = \"s\"\n[[rules]]\nname = \"r\"\nlistener = \"l\"\npool = \"p\"\nsettings = \"s\"\ncaching = true\n",
    )
    .unwrap();
    let out = Command::new(WSGATE).arg("check").arg(&path).output().unwrap();
    assert!(out.status.success(), "a warning does not fail the check");
    let text = String::from_utf8_lossy(&out.stdout);
    let expected = format!(
        "warning: {}:15:11: rules[0].caching: caching is on for route `r`",
        path.display()
    );
    assert!(text.contains(&expected), "{text}");
}

#[test]
fn parallel_runs_print_what_one_at_a_time_prints() {
    // Four quick files across two profiles: enough for reports to finish
    // out of order on several threads.
    let files = [
        "front-door/caching-breaks-the-upgrade.toml",
        "application-gateway/handshake-arrives-intact.toml",
        "front-door/handshake-101.toml",
        "application-gateway/rewrites-apply-to-the-handshake.toml",
    ]
    .map(|f| scenarios().join(f));
    let run = |jobs: &str| {
        let out = Command::new(WSGATE)
            .args(["run", "--jobs", jobs])
            .args(&files)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let one = run("1");
    assert!(String::from_utf8_lossy(&one).contains(" passed, 0 failed"));
    assert_eq!(String::from_utf8_lossy(&one), String::from_utf8_lossy(&run("3")));
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

/// The scenario library's folder, from this crate.
fn scenarios() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

#[test]
fn run_prints_the_matrix_and_the_final_line_and_writes_reports() {
    let out_dir = tempfile::tempdir().unwrap();
    let scenario = scenarios().join("application-gateway/timeout-15s-vs-ping-20s-closes-with-1006.toml");
    let out = Command::new(WSGATE)
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out_dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let row = |id: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    assert_eq!(
        row("AGW-TIMEOUT-1").as_deref(),
        Some("AGW-TIMEOUT-1 document pass - -"),
        "{text}"
    );
    assert_eq!(
        row("AGW-CLOSE-UNCLEAN-1").as_deref(),
        Some("AGW-CLOSE-UNCLEAN-1 choice pass not covered -"),
        "a choice is marked as one: {text}"
    );
    assert_eq!(
        row("FD-IDLE-1"),
        None,
        "a one-file run shows only the rows it names: {text}"
    );
    assert!(text.contains("requirements left out"), "{text}");
    assert_eq!(text.lines().last(), Some("1 passed, 0 failed"));
    for file in ["report.md", "junit.xml", "report.json"] {
        assert!(out_dir.path().join(file).exists(), "{file}");
    }
    let svgs: Vec<_> = std::fs::read_dir(out_dir.path().join("timelines")).unwrap().collect();
    assert_eq!(svgs.len(), 1);

    let full = Command::new(WSGATE)
        .args(["run", scenario.to_str().unwrap(), "--matrix", "full"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&full.stdout);
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["FD-IDLE-1", "document", "-", "-", "not", "covered"]),
        "--matrix full shows every row: {text}"
    );
    assert!(!text.contains("requirements left out"), "{text}");
}

#[test]
fn a_failing_scenario_exits_non_zero_with_the_replay_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wrong.toml");
    std::fs::write(
        &path,
        "name = \"wrong on purpose\"\nprofile = \"application-gateway\"\nseed = 9\nduration = \"40s\"\n\
         [[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c1\"\n\
         [[expect]]\nclient = \"c1\"\nnever_closed = true\n",
    )
    .unwrap();
    let out = Command::new(WSGATE)
        .args(["run", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("expected: c1 never closed"), "{text}");
    assert!(
        text.contains("actual: c1 closed 1006 at 21.060s"),
        "the 20 s default timeout closes it: {text}"
    );
    assert!(
        text.contains(&format!(
            "replay: cargo run --release -- run {} --seed 9 --trace",
            path.display()
        )),
        "{text}"
    );
    assert_eq!(text.lines().last(), Some("0 passed, 1 failed"));
}

#[test]
fn check_reports_a_scenario_mistake_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, "name = \"t\"\nprofile = \"front-door\"\nduration = \"1m\"\n[[clients]]\nname = \"c1\"\nping_intervall = \"20s\"\n").unwrap();
    let out = Command::new(WSGATE).arg("check").arg(&path).output().unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let expected = format!(
        "{}:6:1: clients[0].ping_intervall: unknown key `ping_intervall` in [[clients]]",
        path.display()
    );
    assert!(text.contains(&expected), "{text}");
    assert!(text.contains("did you mean `ping_interval`?"), "{text}");
}

#[test]
fn requirements_lists_the_catalogue_with_coverage() {
    let out = Command::new(WSGATE)
        .arg("requirements")
        .arg(scenarios())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("AGW-TIMEOUT-1"), "{text}");
    assert!(text.contains("covered by"), "{text}");
    assert!(text.contains("skip: a statement about the protocol's design"), "{text}");
}

/// `wsgate requirements | head -1`: the reader leaves early; wsgate must
/// end quietly, not panic on the closed pipe. The read end is closed before
/// wsgate has started, so its first write meets the closed pipe.
#[test]
fn a_closed_stdout_ends_the_output_quietly() {
    for args in [
        &["requirements"][..],
        &["completions", "bash"][..],
        &["check", "../scenarios"][..],
    ] {
        let mut child = Command::new(WSGATE)
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
    }
}
