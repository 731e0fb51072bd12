//! Runs a peer as a real process: renders its config into a temporary run
//! directory, starts the binary, waits until every listener accepts a
//! connection, and stops or restarts it.
//!
//! Ports are picked by binding 127.0.0.1:0 and releasing the port just
//! before the peer starts; if another process takes one in between, the
//! peer fails to bind, and the start is retried on fresh ports. A restart
//! keeps its ports: it models an instance restart (maintenance), which the
//! harness's clients reconnect to. Both peers run in the foreground as one
//! process, so stopping is one kill and one wait.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use gateway::config::BackendAddr;
use gateway::Plan;
use tokio::process::{Child, Command};

use super::{FileContent, Input, PeerKind, Policies, Ports, RenderError, Rendered, Unsupported};

/// How long a start may take until every listener accepts connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a starting peer's ports are tried.
const READY_POLL: Duration = Duration::from_millis(20);
/// Starts tried on fresh ports when one was taken.
const START_ATTEMPTS: u32 = 5;
/// Where peers live when PATH does not say: Debian installs both in
/// /usr/sbin, which a non-root PATH often lacks.
const SBIN: [&str; 3] = ["/usr/sbin", "/usr/local/sbin", "/sbin"];
/// The file that collects the peer's stdout and stderr across restarts.
const STDERR_FILE: &str = "stderr.log";

/// The executable `binary` on PATH, else in the usual sbin directories.
pub fn which(binary: &str) -> Option<PathBuf> {
    which_in(binary, std::env::var_os("PATH").as_deref())
}

/// [`which`] with the PATH given, so tests need not set the environment.
pub fn which_in(binary: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    let on_path: Vec<PathBuf> = path.map(|p| std::env::split_paths(p).collect()).unwrap_or_default();
    on_path
        .into_iter()
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|dir| dir.join(binary))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Why a peer could not be started or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    #[error("{0} is not installed (not on PATH, nor in /usr/sbin, /usr/local/sbin or /sbin)")]
    NotInstalled(PeerKind),
    #[error("rendering the {peer} config: {source}")]
    Render {
        peer: PeerKind,
        #[source]
        source: RenderError,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{peer} exited while starting ({status}); its output:\n{output}")]
    Exited {
        peer: PeerKind,
        status: ExitStatus,
        output: String,
    },
    #[error("{peer} did not accept connections on 127.0.0.1:{port} within {waited:?}; its output:\n{output}")]
    NotReady {
        peer: PeerKind,
        port: u16,
        waited: Duration,
        output: String,
    },
    #[error("{peer} found a port taken on {attempts} starts in a row")]
    PortsTaken { peer: PeerKind, attempts: u32 },
}

impl PeerError {
    /// Whether the peer's binary is missing (a test skips then).
    pub fn is_not_installed(&self) -> bool {
        matches!(self, PeerError::NotInstalled(_))
    }
}

fn io_error(what: impl fmt::Display) -> impl FnOnce(io::Error) -> PeerError {
    let what = what.to_string();
    move |source| PeerError::Io { what, source }
}

/// A running (or stopped) peer, its run directory and ports. Dropping it
/// kills the process and removes the directory.
#[derive(Debug)]
pub struct PeerProcess {
    kind: PeerKind,
    binary: PathBuf,
    dir: tempfile::TempDir,
    ports: Ports,
    rendered: Rendered,
    child: Option<Child>,
}

impl PeerProcess {
    /// Starts `kind` in front of `backends` (each plan address → where it
    /// really listens), on fresh loopback ports.
    pub async fn start(
        kind: PeerKind,
        plan: &Plan,
        policies: &Policies,
        backends: &BTreeMap<BackendAddr, SocketAddr>,
    ) -> Result<PeerProcess, PeerError> {
        let binary = which(kind.binary()).ok_or(PeerError::NotInstalled(kind))?;
        PeerProcess::start_with(kind, binary, plan, policies, backends).await
    }

    /// [`PeerProcess::start`] with the binary given.
    pub async fn start_with(
        kind: PeerKind,
        binary: PathBuf,
        plan: &Plan,
        policies: &Policies,
        backends: &BTreeMap<BackendAddr, SocketAddr>,
    ) -> Result<PeerProcess, PeerError> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("wsgate-{kind}-"))
            .tempdir()
            .map_err(io_error("creating a run directory"))?;
        for _ in 0..START_ATTEMPTS {
            let ports = Ports {
                listeners: free_ports(plan.listeners.iter().map(|l| l.name.as_str()))?,
                backends: backends.clone(),
            };
            let rendered = kind
                .render(&Input {
                    plan,
                    policies,
                    ports: &ports,
                    dir: dir.path(),
                })
                .map_err(|source| PeerError::Render { peer: kind, source })?;
            write_run_dir(dir.path(), kind, &rendered)?;
            match spawn(kind, &binary, dir.path(), &ports).await? {
                Started::Ready(child) => {
                    tracing::info!(peer = %kind, dir = %dir.path().display(), "peer started");
                    return Ok(PeerProcess {
                        kind,
                        binary,
                        dir,
                        ports,
                        rendered,
                        child: Some(child),
                    });
                }
                Started::AddressInUse => {
                    tracing::debug!(peer = %kind, "a port was taken; starting again on fresh ones");
                }
            }
        }
        Err(PeerError::PortsTaken {
            peer: kind,
            attempts: START_ATTEMPTS,
        })
    }

    /// Which peer this is.
    pub fn kind(&self) -> PeerKind {
        self.kind
    }

    /// The listener and backend addresses the config was rendered with.
    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    /// Where listener `name` accepts connections.
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.ports
            .listeners
            .get(name)
            .map(|&port| SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// The config and files as rendered.
    pub fn rendered(&self) -> &Rendered {
        &self.rendered
    }

    /// What the running config does not do.
    pub fn unsupported(&self) -> &[Unsupported] {
        &self.rendered.unsupported
    }

    /// The run directory (config, logs, generated files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the peer wrote to stdout and stderr since its first
    /// start, and nginx's error log.
    pub fn output(&self) -> String {
        output(self.kind, self.dir.path(), 0)
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the process and waits for it: every connection it held is
    /// dropped without a close handshake.
    pub async fn stop(&mut self) -> Result<(), PeerError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return Ok(());
        }
        child
            .kill()
            .await
            .map_err(io_error(format_args!("stopping {}", self.kind)))?;
        tracing::info!(peer = %self.kind, "peer stopped");
        Ok(())
    }

    /// Stops the peer and starts it again on the same ports with the same
    /// config: an instance restart.
    pub async fn restart(&mut self) -> Result<(), PeerError> {
        self.stop().await?;
        for attempt in 1..=START_ATTEMPTS {
            match spawn(self.kind, &self.binary, self.dir.path(), &self.ports).await? {
                Started::Ready(child) => {
                    self.child = Some(child);
                    tracing::info!(peer = %self.kind, "peer restarted");
                    return Ok(());
                }
                // The ports are the harness's: wait for them rather than
                // move.
                Started::AddressInUse => tokio::time::sleep(READY_POLL * attempt).await,
            }
        }
        Err(PeerError::PortsTaken {
            peer: self.kind,
            attempts: START_ATTEMPTS,
        })
    }
}

/// One free loopback port per name: all are bound at once, so no two are
/// the same, then released for the peer to take.
fn free_ports<'a>(names: impl Iterator<Item = &'a str>) -> Result<BTreeMap<String, u16>, PeerError> {
    let mut held = Vec::new();
    let mut ports = BTreeMap::new();
    for name in names {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(io_error("picking a free port"))?;
        let port = listener.local_addr().map_err(io_error("picking a free port"))?.port();
        ports.insert(name.to_string(), port);
        held.push(listener);
    }
    Ok(ports)
}

/// Writes a rendered config and the files it names into `dir`, under the
/// names the config uses.
pub fn write_run_dir(dir: &Path, kind: PeerKind, rendered: &Rendered) -> Result<(), PeerError> {
    let config = dir.join(kind.config_file());
    std::fs::write(&config, &rendered.config).map_err(io_error(format_args!("writing {}", config.display())))?;
    for file in &rendered.files {
        let path = dir.join(&file.name);
        let bytes = match &file.content {
            FileContent::Text(text) => text.clone().into_bytes(),
            FileContent::Concat(parts) => {
                let mut out = Vec::new();
                for part in parts {
                    let mut bytes =
                        std::fs::read(part).map_err(io_error(format_args!("reading {}", part.display())))?;
                    if !bytes.ends_with(b"\n") {
                        bytes.push(b'\n');
                    }
                    out.extend(bytes);
                }
                out
            }
        };
        std::fs::write(&path, bytes).map_err(io_error(format_args!("writing {}", path.display())))?;
    }
    Ok(())
}

/// How one start ended.
enum Started {
    Ready(Child),
    /// The peer could not bind a port: another process took it.
    AddressInUse,
}

/// Starts the peer and waits until every listener accepts a connection.
async fn spawn(kind: PeerKind, binary: &Path, dir: &Path, ports: &Ports) -> Result<Started, PeerError> {
    let log_path = dir.join(STDERR_FILE);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io_error(format_args!("opening {}", log_path.display())))?;
    let from = log.metadata().map(|m| m.len()).unwrap_or(0);
    let stdout = log.try_clone().map_err(io_error("duplicating the log file"))?;
    let config = dir.join(kind.config_file());
    let pid_file = dir.join("nginx.pid");
    let mut command = Command::new(binary);
    match kind {
        PeerKind::Nginx => {
            // A pid file left by a killed run would read as ready.
            let _ = std::fs::remove_file(&pid_file);
            // -e: errors before the config is read go to stderr too.
            command
                .arg("-e")
                .arg("stderr")
                .arg("-p")
                .arg(dir)
                .arg("-c")
                .arg(&config);
        }
        PeerKind::Haproxy => {
            command.arg("-db").arg("-f").arg(&config);
        }
    }
    command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(log)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(io_error(format_args!("starting {}", binary.display())))?;

    let started = tokio::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(io_error(format_args!("waiting for {kind}")))? {
            let output = output(kind, dir, from);
            if output.contains("Address already in use") || output.contains("Address in use") {
                return Ok(Started::AddressInUse);
            }
            return Err(PeerError::Exited {
                peer: kind,
                status,
                output,
            });
        }
        // Until the peer has bound every socket, a port that accepts may be
        // someone else's (it was free a moment ago). nginx writes its pid
        // file once bound; HAProxy's runtime API answers once running.
        let bound = match kind {
            PeerKind::Nginx => pid_file.exists(),
            PeerKind::Haproxy => admin_answers(&dir.join(super::haproxy::ADMIN_SOCKET)).await,
        };
        let mut waiting_for = None;
        if bound {
            for &port in ports.listeners.values() {
                if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                    waiting_for = Some(port);
                    break;
                }
            }
        } else {
            waiting_for = ports.listeners.values().next().copied();
        }
        let Some(port) = waiting_for else {
            return Ok(Started::Ready(child));
        };
        if started.elapsed() > READY_TIMEOUT {
            let _ = child.kill().await;
            return Err(PeerError::NotReady {
                peer: kind,
                port,
                waited: READY_TIMEOUT,
                output: output(kind, dir, from),
            });
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

/// Whether HAProxy's runtime API answers `show info`.
async fn admin_answers(socket: &Path) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::UnixStream::connect(socket).await else {
        return false;
    };
    if stream.write_all(b"show info\n").await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(READY_TIMEOUT, stream.read_to_end(&mut answer)).await;
    matches!(read, Ok(Ok(_))) && answer.starts_with(b"Name:")
}

/// The peer's output from byte `from` of its log on, and nginx's error
/// log.
fn output(kind: PeerKind, dir: &Path, from: u64) -> String {
    let mut text = std::fs::read(dir.join(STDERR_FILE))
        .map(|bytes| String::from_utf8_lossy(bytes.get(from as usize..).unwrap_or_default()).into_owned())
        .unwrap_or_default();
    if kind == PeerKind::Nginx {
        if let Ok(log) = std::fs::read_to_string(dir.join("error.log")) {
            text.push_str(&log);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_finds_executables_on_the_given_path_only() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("wsgate-peer-test");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        assert_eq!(which_in("wsgate-peer-test", Some(dir.path().as_os_str())), None);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(which_in("wsgate-peer-test", Some(dir.path().as_os_str())), Some(exe));
        assert_eq!(which_in("wsgate-peer-test", None), None);
    }

    #[test]
    fn free_ports_differ() {
        let ports = free_ports(["a", "b", "c"].into_iter()).unwrap();
        let mut values: Vec<u16> = ports.values().copied().collect();
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), 3);
    }
}
