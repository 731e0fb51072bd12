//! The proxies the peers bench compares, each a child process on a free
//! loopback port in front of the same echo backend: the `wsgate` binary,
//! nginx with its standard WebSocket proxy config, HAProxy in `mode http`.
//! "direct" is no proxy at all, the baseline.
//!
//! Config files are generated into a temp dir; nothing outside it is
//! written. Every child runs in the foreground and is stopped (SIGTERM,
//! then SIGKILL) when its [`Proxy`] is dropped. Logging is off or at `warn`
//! for all three, so none of them pays for a line per session.

use std::fmt;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BenchError;

/// A thing the load generator can talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Direct,
    Wsgate,
    Nginx,
    Haproxy,
}

impl Kind {
    /// In the order rounds visit them.
    pub const ALL: [Kind; 4] = [Kind::Direct, Kind::Wsgate, Kind::Nginx, Kind::Haproxy];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Direct => "direct",
            Kind::Wsgate => "wsgate",
            Kind::Nginx => "nginx",
            Kind::Haproxy => "haproxy",
        }
    }

    /// nginx and HAProxy: the peers wsgate is measured against.
    pub fn is_peer(self) -> bool {
        matches!(self, Kind::Nginx | Kind::Haproxy)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A running proxy (or, for [`Kind::Direct`], the backend itself).
#[derive(Debug)]
pub struct Proxy {
    pub kind: Kind,
    /// Where clients connect.
    pub addr: SocketAddr,
    /// What `-v` said, for the report.
    pub version: String,
    child: Option<Child>,
    /// wsgate's stdout, kept open so a late print never hits a closed pipe.
    _stdout: Option<BufReader<ChildStdout>>,
}

impl Proxy {
    /// The baseline: clients talk to the backend directly.
    pub fn direct(backend: SocketAddr) -> Proxy {
        Proxy {
            kind: Kind::Direct,
            addr: backend,
            version: "no proxy".into(),
            child: None,
            _stdout: None,
        }
    }

    /// The proxy's process id; `None` for direct.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts `kind` in front of `backend`, with its files under `dir`.
    /// `Ok(Err(reason))` means the peer is not installed: skip it.
    pub fn start(
        kind: Kind,
        backend: SocketAddr,
        dir: &Path,
        open_files: u64,
    ) -> Result<Result<Proxy, String>, BenchError> {
        match kind {
            Kind::Direct => Ok(Ok(Proxy::direct(backend))),
            Kind::Wsgate => match wsgate_binary() {
                Some(bin) => start_wsgate(&bin, backend, dir).map(Ok),
                None => Ok(Err(format!(
                    "skipped: no wsgate binary at {}; build it with `cargo build --release -p conformance` (or set WSGATE_BIN)",
                    default_wsgate_path().display()
                ))),
            },
            Kind::Nginx => match find_program("nginx") {
                Some(bin) => start_nginx(&bin, backend, dir, open_files).map(Ok),
                None => Ok(Err(not_installed("nginx"))),
            },
            Kind::Haproxy => match find_program("haproxy") {
                Some(bin) => start_haproxy(&bin, backend, dir, open_files).map(Ok),
                None => Ok(Err(not_installed("haproxy"))),
            },
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        // SIGTERM lets nginx's master take its workers down with it; std's
        // kill() would be SIGKILL and orphan them.
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn not_installed(name: &str) -> String {
    format!("skipped: {name} is not installed; install it with `apt-get install nginx haproxy`, or rerun with WSGATE_BENCH_INSTALL=1")
}

/// A port nobody is listening on right now: bind port 0, read it, drop it.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Looks `name` up on `PATH`, then in the sbin directories a non-root
/// `PATH` often lacks.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Installs nginx and HAProxy with apt-get (`apt-get update` first), as the
/// bench does when asked to with `WSGATE_BENCH_INSTALL=1` or `--install`.
pub fn apt_install() -> Result<(), BenchError> {
    for args in [
        &["update"][..],
        &["install", "-y", "--no-install-recommends", "nginx", "haproxy"][..],
    ] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()?;
        if !status.success() {
            return Err(format!("apt-get {} failed: {status}", args.join(" ")).into());
        }
    }
    Ok(())
}

/// Where `cargo build --release -p conformance` puts the binary: beside this
/// bench's own `deps/` directory (`target/release/deps/peers-…`), whatever
/// the target dir is. Paths baked in at compile time are only a fallback: a
/// target dir shared between checkouts would point them at another one.
fn default_wsgate_path() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("wsgate")))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/wsgate"))
}

/// `WSGATE_BIN`, or the release binary in the bench's target dir.
pub fn wsgate_binary() -> Option<PathBuf> {
    let path = std::env::var_os("WSGATE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(default_wsgate_path);
    path.is_file().then_some(path)
}

fn start_wsgate(bin: &Path, backend: SocketAddr, dir: &Path) -> Result<Proxy, BenchError> {
    let log = dir.join("wsgate.log");
    let mut command = Command::new(bin);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--backend"])
        .arg(backend.to_string());
    // `WSGATE_BENCH_THREADS=1` measures `wsgate serve --threads 1`.
    if let Ok(threads) = std::env::var("WSGATE_BENCH_THREADS") {
        command.args(["--threads", threads.trim()]);
    }
    let mut child = command
        // Sessions are logged at info; nginx's access log is off too.
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&log)?)
        .spawn()?;
    let (addr, stdout) = listening_addr(&mut child, &log, "wsgate")?;
    let version = Command::new(bin)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let mut proxy = Proxy {
        kind: Kind::Wsgate,
        addr,
        version: format!("{version} ({})", bin.display()),
        child: Some(child),
        _stdout: Some(stdout),
    };
    wait_ready(&mut proxy, &log)?;
    Ok(proxy)
}

/// Reads a wsgate child's stdout until its `listening on ADDR` line; if it
/// exits first, the error carries its log.
fn listening_addr(
    child: &mut Child,
    log: &Path,
    what: &str,
) -> Result<(SocketAddr, BufReader<ChildStdout>), BenchError> {
    let stdout = child.stdout.take().ok_or("stdout was piped")?;
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line)? == 0 {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{what} exited before listening: {}",
                fs::read_to_string(log).unwrap_or_default()
            )
            .into());
        }
        if let Some((_, rest)) = line.trim().split_once("listening on ") {
            let addr = rest.split_whitespace().next().unwrap_or_default();
            return Ok((addr.trim_start_matches("ws://").parse::<SocketAddr>()?, stdout));
        }
    }
}

/// The echo backend every target is in front of: `wsgate echo` as its own
/// process, so the bench process holds only the clients' sockets (10,000
/// idle sessions fit under the open-files limit) and the load generator is
/// a process apart from both the proxy and the backend.
#[derive(Debug)]
pub struct Echo {
    pub addr: SocketAddr,
    child: Child,
    _stdout: BufReader<ChildStdout>,
}

impl Echo {
    pub fn start(bin: &Path, dir: &Path) -> Result<Echo, BenchError> {
        let log = dir.join("echo.log");
        let mut child = Command::new(bin)
            .args(["echo", "--listen", "127.0.0.1:0"])
            // The echo logs every session at info.
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log)?)
            .spawn()?;
        let (addr, stdout) = listening_addr(&mut child, &log, "wsgate echo")?;
        Ok(Echo {
            addr,
            child,
            _stdout: stdout,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx's documented WebSocket proxying (the `Upgrade`/`Connection`
/// headers, HTTP/1.1 upstream), with a generous read timeout so idle
/// sessions stay up, access logging off and every path under `dir`.
pub fn nginx_config(dir: &Path, listen: SocketAddr, backend: SocketAddr, connections: u64) -> String {
    let d = dir.display();
    format!(
        r#"# Generated by the wsgate peers bench.
worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/error.log warn;

events {{
    worker_connections {connections};
}}

http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;

    server {{
        listen {listen};
        location / {{
            proxy_pass http://{backend};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $host;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }}
    }}
}}
"#
    )
}

fn start_nginx(bin: &Path, backend: SocketAddr, dir: &Path, open_files: u64) -> Result<Proxy, BenchError> {
    let dir = dir.join("nginx");
    fs::create_dir_all(&dir)?;
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let conf = dir.join("nginx.conf");
    // Each worker may end up holding every session's two sockets.
    fs::write(&conf, nginx_config(&dir, listen, backend, open_files.min(20_000)))?;
    let log = dir.join("error.log");
    let child = Command::new(bin)
        .arg("-e")
        .arg(&log)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(dir.join("stderr.log"))?)
        .spawn()?;
    let version = Command::new(bin)
        .arg("-v")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
        .unwrap_or_default();
    let mut proxy = Proxy {
        kind: Kind::Nginx,
        addr: listen,
        version,
        child: Some(child),
        _stdout: None,
    };
    wait_ready(&mut proxy, &log)?;
    Ok(proxy)
}

/// HAProxy in `mode http`, which handles the upgrade and then tunnels;
/// `timeout tunnel 1h` keeps idle sessions up. No `log` line: HAProxy
/// logs nothing without one.
pub fn haproxy_config(listen: SocketAddr, backend: SocketAddr, maxconn: u64) -> String {
    format!(
        r#"# Generated by the wsgate peers bench.
global
    maxconn {maxconn}

defaults
    mode http
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h

frontend ws
    bind {listen}
    default_backend echo

backend echo
    server echo1 {backend}
"#
    )
}

fn start_haproxy(bin: &Path, backend: SocketAddr, dir: &Path, open_files: u64) -> Result<Proxy, BenchError> {
    let dir = dir.join("haproxy");
    fs::create_dir_all(&dir)?;
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let conf = dir.join("haproxy.cfg");
    // Two sockets per connection plus its own: stay inside `ulimit -n`.
    let maxconn = (open_files.saturating_sub(200) / 2).clamp(1, 20_000);
    fs::write(&conf, haproxy_config(listen, backend, maxconn))?;
    let log = dir.join("stderr.log");
    let child = Command::new(bin)
        .arg("-f")
        .arg(&conf)
        .arg("-db")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log)?)
        .spawn()?;
    let version = Command::new(bin)
        .arg("-v")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default();
    let mut proxy = Proxy {
        kind: Kind::Haproxy,
        addr: listen,
        version,
        child: Some(child),
        _stdout: None,
    };
    wait_ready(&mut proxy, &log)?;
    Ok(proxy)
}

/// Waits until the proxy accepts TCP, or fails with its log if it exits.
fn wait_ready(proxy: &mut Proxy, log: &Path) -> Result<(), BenchError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(child) = proxy.child.as_mut() {
            if let Some(status) = child.try_wait()? {
                return Err(format!(
                    "{} exited ({status}): {}",
                    proxy.kind,
                    fs::read_to_string(log).unwrap_or_default().trim()
                )
                .into());
            }
        }
        if TcpStream::connect_timeout(&proxy.addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{} did not listen on {} within 10 s", proxy.kind, proxy.addr).into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn configs_stay_on_loopback_and_keep_sessions_up() {
        let listen: SocketAddr = "127.0.0.1:8081".parse().unwrap();
        let backend: SocketAddr = "127.0.0.1:9001".parse().unwrap();
        let nginx = nginx_config(Path::new("/tmp/x"), listen, backend, 1024);
        assert!(nginx.contains("listen 127.0.0.1:8081;"));
        assert!(nginx.contains("proxy_pass http://127.0.0.1:9001;"));
        assert!(nginx.contains("proxy_set_header Connection \"upgrade\";"));
        assert!(nginx.contains("proxy_read_timeout 1h;"));
        let haproxy = haproxy_config(listen, backend, 1000);
        assert!(haproxy.contains("bind 127.0.0.1:8081"));
        assert!(haproxy.contains("timeout tunnel 1h"));
        assert!(haproxy.contains("mode http"));
    }
}
