//! `wsgate serve` and `wsgate echo`: the reference gateway and the demo
//! backend on a real network.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::fd_limit;
use gateway::config::{ConfigError, Duration};
use gateway::event::Event;
use gateway::metrics::{self, Metrics};
use gateway::{Config, Events, Gateway, ProfileName, TokioTransport, Transport};

/// Where `wsgate serve` listens when given neither a file nor flags.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// How `wsgate serve` was asked to build its config.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `--config FILE`.
    File(PathBuf),
    /// The quick flags.
    Flags {
        listen: SocketAddr,
        backends: Vec<String>,
        profile: ProfileName,
        request_timeout: Option<Duration>,
    },
    /// Nothing given: the embedded default, in front of a built-in echo
    /// backend.
    Embedded { listen: SocketAddr, profile: ProfileName },
}

/// Builds the config for `source`. For [`Source::Embedded`] the echo
/// backend's address must already be known.
pub fn config(source: &Source, embedded_backend: Option<SocketAddr>) -> Result<Config, ConfigError> {
    match source {
        Source::File(path) => Config::load(path),
        Source::Flags {
            listen,
            backends,
            profile,
            request_timeout,
        } => Config::single_route(*profile, *listen, backends.clone(), *request_timeout).validated("command line"),
        Source::Embedded { listen, profile } => {
            let backend = embedded_backend.map(|a| a.to_string()).unwrap_or_default();
            Config::single_route(*profile, *listen, vec![backend], None).validated("embedded default")
        }
    }
}

/// The path of a request target without its query, which can carry
/// tokens (browsers cannot set headers on a WebSocket handshake).
fn path_only(target: &str) -> &str {
    target.split_once('?').map_or(target, |(path, _)| path)
}

/// Turns gateway events into structured `tracing` logs: one message per
/// kind of event, its data in fields.
pub fn tracing_sink() -> Events {
    Arc::new(|event: Event| match &event {
        Event::ListenerBound {
            listener,
            protocol,
            addr,
        } => {
            tracing::info!(listener = %listener, protocol = protocol.scheme(), addr = %addr, "listener bound");
        }
        Event::RequestRouted {
            id,
            rule,
            backend,
            upgrade,
            path,
        } => {
            tracing::info!(id, rule = %rule, backend = %backend, upgrade, path = path_only(path), "request routed");
        }
        Event::RequestRejected { id, status, reason } => {
            tracing::info!(id, status, reason = %reason, "request rejected");
        }
        Event::ConnectionRefused { peer, limit } => {
            tracing::warn!(peer = %peer, limit, status = 503, "connection refused at the limit");
        }
        Event::ResponseForwarded { id, backend, status } => {
            tracing::info!(id, backend = %backend, status, "response forwarded");
        }
        Event::UpgradeCompleted {
            id,
            backend,
            subprotocol,
        } => {
            tracing::info!(id, backend = %backend, subprotocol = subprotocol.as_deref(), status = 101, "upgrade completed");
        }
        Event::UpgradeDeclined { id, backend, status } => {
            tracing::info!(id, backend = %backend, status, "upgrade declined by backend");
        }
        Event::InvalidSwitch { id, backend, problem } => {
            tracing::warn!(id, backend = %backend, problem = %problem, status = 502, "invalid 101 from backend");
        }
        Event::SessionClosed {
            id,
            by,
            reason,
            bytes_from_client,
            bytes_from_backend,
        } => {
            tracing::info!(
                id,
                by = metrics::side_label(*by),
                reason = metrics::close_reason_label(reason),
                detail = %reason,
                bytes_from_client,
                bytes_from_backend,
                "session closed"
            );
        }
        Event::BackendError { id, backend, error } => {
            tracing::warn!(id, backend = %backend, kind = metrics::error_kind_label(error.kind()), error = %error, "backend error");
        }
        Event::WafBlocked { id, policy, rule } => {
            tracing::info!(id, policy = %policy, rule = %rule, status = 403, "blocked by WAF");
        }
        Event::MaintenanceStarted { drain } => {
            let drain = drain.map(|d| Duration::from(d).to_string());
            tracing::warn!(drain = drain.as_deref(), "maintenance started");
        }
        Event::MaintenanceCancelled => tracing::info!("maintenance drain cancelled"),
        // Every probe, at debug: the changes below are what operators need.
        Event::ProbeCompleted {
            backend,
            result,
            healthy,
        } => {
            tracing::debug!(backend = %backend, result = %result, ok = result.is_success(), healthy, "probe completed");
        }
        Event::BackendHealthChanged {
            backend,
            healthy: true,
            last,
            ..
        } => {
            tracing::info!(backend = %backend, healthy = true, last = %last, "backend healthy");
        }
        Event::BackendHealthChanged {
            backend,
            healthy: false,
            failures,
            last,
        } => {
            tracing::warn!(backend = %backend, healthy = false, failures, last = %last, "backend unhealthy");
        }
        // A kind of event added after this sink was written.
        other => tracing::info!(event = %other, "gateway event"),
    })
}

/// Sends each event to every sink, in order.
pub fn fan_out(sinks: Vec<Events>) -> Events {
    Arc::new(move |event: Event| {
        if let Some((last, rest)) = sinks.split_last() {
            for sink in rest {
                sink.emit(event.clone());
            }
            last.emit(event);
        }
    })
}

/// Where `--admin` without a value serves.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:9900";

/// How `POST /reload` and SIGHUP re-read the config: from the file the
/// gateway was started with, if any.
fn reloader(source: &Source, nofile: Option<u64>) -> Option<gateway::admin::Reload> {
    match source {
        Source::File(path) => {
            let path = path.clone();
            Some(Arc::new(move || {
                let mut config = Config::load(&path)?;
                if let Some(nofile) = nofile {
                    fd_limit::fit(&mut config, nofile);
                }
                Ok(config)
            }))
        }
        _ => None,
    }
}

/// SIGHUP: re-read the config file and apply it, logging what happened;
/// a bad file changes nothing.
fn reload_now(handle: &gateway::GatewayHandle, reload: Option<&gateway::admin::Reload>) {
    let Some(reload) = reload else {
        tracing::warn!("SIGHUP: this gateway was not started from a config file; nothing to reload");
        return;
    };
    match reload()
        .map_err(|e| e.to_string())
        .and_then(|c| handle.update(&c).map_err(|e| e.to_string()))
    {
        Ok(()) => tracing::info!("SIGHUP: configuration reloaded; sessions open before it close after their drain"),
        Err(e) => tracing::error!(error = %e, "SIGHUP: configuration not reloaded"),
    }
}

/// How long open sessions may run after SIGTERM or SIGINT (`--shutdown-grace`).
pub const DEFAULT_SHUTDOWN_GRACE: &str = "30s";

/// SIGTERM and SIGINT (stop), and SIGHUP (reload the config file), as one
/// stream.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// Drain and stop: SIGTERM or SIGINT, by name.
    Stop(&'static str),
    /// Re-read the config file and apply it: SIGHUP.
    Reload,
}

impl Signals {
    /// Installs the handlers: from here on the signals no longer kill the
    /// process.
    fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
                hup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal.
    async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        {
            tokio::select! {
                biased;
                _ = self.term.recv() => Signal::Stop("SIGTERM"),
                _ = self.int.recv() => Signal::Stop("SIGINT"),
                _ = self.hup.recv() => Signal::Reload,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Stop("ctrl-c")
        }
    }

    /// The next stop signal; a SIGHUP meanwhile reloads with `reload`.
    async fn next_stop(&mut self, reload: &dyn Fn()) -> &'static str {
        loop {
            match self.next().await {
                Signal::Stop(name) => return name,
                Signal::Reload => reload(),
            }
        }
    }
}

/// How `wsgate serve` runs besides its config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Serve the admin endpoint here.
    pub admin: Option<SocketAddr>,
    /// How long open sessions may run after SIGTERM or SIGINT.
    pub shutdown_grace: std::time::Duration,
}

/// Runs the gateway until SIGTERM or SIGINT. Prints one line per listener
/// on stdout (`listening on ADDR`) so scripts can read the bound port. With
/// an admin address, also serves the admin endpoint there (`admin endpoint
/// on ADDR`), `/metrics` included.
///
/// On the first signal it closes the listeners (new connections are
/// refused), lets open sessions run for the grace (requests on connections
/// already open get 503), closes what is left as maintenance does, and
/// returns. A second signal returns at once, with an error.
pub async fn serve(source: Source, options: Options) -> Result<(), Box<dyn std::error::Error>> {
    // First, so a signal that comes while starting drains instead of
    // killing the process.
    let mut signals = Signals::install()?;
    let mut backend_task = None;
    let mut embedded_backend = None;
    if let Source::Embedded { .. } = source {
        let (addr, serve) = backend::bind(&TokioTransport, "127.0.0.1:0".parse()?, backend::Options::default()).await?;
        embedded_backend = Some(addr);
        backend_task = Some(tokio::spawn(serve));
    }
    let mut config = config(&source, embedded_backend)?;
    let nofile = match fd_limit::raise() {
        Some(Ok(nofile)) => Some(nofile),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "could not raise the file-descriptor limit");
            None
        }
        None => None,
    };
    if let Some(nofile) = nofile {
        let lowered = fd_limit::fit(&mut config, nofile);
        let sessions = fd_limit::session_capacity(nofile);
        if lowered {
            tracing::warn!(
                nofile,
                sessions,
                max_connections = config.max_connections,
                "the file-descriptor limit caps client connections below the configured max_connections: beyond it clients get 503"
            );
        } else {
            tracing::info!(
                nofile,
                sessions,
                max_connections = config.max_connections,
                "file-descriptor limit raised"
            );
        }
    }
    let profile = config.profile;
    let metrics = Arc::new(Metrics::new(profile.behaviour().http_timeout));
    let events = fan_out(vec![tracing_sink(), Arc::clone(&metrics) as Events]);
    let gateway = Gateway::bind(config, TokioTransport, events).await?;
    let addrs = gateway.local_addrs();
    let handle = gateway.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut serving = tokio::spawn(gateway.run_until(async move {
        let _ = stopped.await;
    }));
    // Application Gateway routes only to backends that passed a probe, and
    // probes start at once: announce the listeners once every backend has
    // had its first answer (or the probe timeout passed), so a client that
    // waits for this line is not refused for being early.
    let first_round = async {
        while handle.backends().iter().any(|b| b.last_probe.is_none()) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(31), first_round).await;
    for (name, addr) in &addrs {
        say(format_args!("wsgate: listener {name} ({profile}) listening on {addr}"));
    }
    let mut admin_task = None;
    if let Some(addr) = options.admin {
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "the admin endpoint has no authentication; it is meant for loopback");
        }
        let listener = TokioTransport.bind(addr).await?;
        let bound = gateway::transport::Listener::local_addr(&listener)?;
        say(format_args!(
            "wsgate: admin endpoint on {bound} (POST /maintenance[?drain=30s], GET /sessions, GET /metrics)"
        ));
        let options = gateway::admin::AdminOptions {
            metrics: Some(Arc::clone(&metrics)),
            reload: reloader(&source, nofile),
            base_dir: match &source {
                Source::File(path) => path.parent().map(std::path::Path::to_path_buf).unwrap_or_default(),
                _ => std::path::PathBuf::from("."),
            },
        };
        admin_task = Some(tokio::spawn(gateway::admin::serve_with(
            listener,
            handle.clone(),
            options,
        )));
    }
    if let Some(addr) = embedded_backend {
        let url = addrs.first().map(|(_, a)| format!("ws://{a}/chat")).unwrap_or_default();
        say(format_args!(
            "wsgate: built-in echo backend at {addr}; try a WebSocket client on {url}"
        ));
    }
    let tasks = [backend_task, admin_task];
    let reload = reloader(&source, nofile);
    let on_hup = || reload_now(&handle, reload.as_ref());
    let signal = tokio::select! {
        biased;
        signal = signals.next_stop(&on_hup) => signal,
        _ = &mut serving => {
            // The accept loops never end on their own; this is a panic.
            return Err("the gateway stopped serving".into());
        }
    };
    tracing::info!(signal, "shutdown: closing the listeners; new connections are refused");
    let _ = stop.send(());
    let _ = serving.await;
    let grace = options.shutdown_grace;
    tracing::info!(
        open_sessions = handle.open_sessions(),
        grace = %Duration::from(grace),
        "shutdown: open sessions may run until the grace ends; new requests get 503"
    );
    let report = tokio::select! {
        biased;
        // A SIGHUP now has nothing left to reload into: ignored.
        second = signals.next_stop(&|| tracing::info!("SIGHUP during shutdown: ignored")) => {
            tracing::warn!(signal = second, open_sessions = handle.open_sessions(), "shutdown: second signal, exiting now");
            return Err(format!("{second} during the shutdown grace: exited without waiting").into());
        }
        report = handle.shutdown(grace) => report,
    };
    if report.dropped > 0 {
        tracing::info!(
            closed = report.dropped,
            "shutdown: grace over; closed the sessions still open (their clients see 1006)"
        );
    } else {
        tracing::info!(open_sessions = 0, "shutdown: every session has ended");
    }
    for task in tasks.into_iter().flatten() {
        task.abort();
    }
    tracing::info!("shutdown complete");
    Ok(())
}

/// Runs the demo echo backend until Ctrl-C.
pub async fn echo(listen: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let options = backend::Options {
        observer: Arc::new(|event| tracing::info!(?event, "echo")),
        ..backend::Options::default()
    };
    let (addr, serve) = backend::bind(&TokioTransport, listen, options).await?;
    say(format_args!(
        "wsgate echo: listening on {addr} (WebSocket echo on any path, GET /health answers 200)"
    ));
    tokio::select! {
        biased;
        _ = tokio::signal::ctrl_c() => {}
        _ = serve => {}
    }
    Ok(())
}

/// One status line on stdout. A server keeps serving when nobody reads its
/// stdout any more (a closed pipe), so a failed write is ignored rather
/// than fatal.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_validated_like_files() {
        let source = Source::Flags {
            listen: "127.0.0.1:0".parse().unwrap(),
            backends: vec!["nohost".into()],
            profile: ProfileName::FrontDoor,
            request_timeout: Some(Duration::from_secs(20)),
        };
        let err = config(&source, None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("command line: backend_pools[0].addresses[0]"),
            "{err}"
        );
    }

    #[test]
    fn embedded_default_routes_to_the_echo_backend() {
        let source = Source::Embedded {
            listen: DEFAULT_LISTEN.parse().unwrap(),
            profile: ProfileName::ApplicationGateway,
        };
        let config = config(&source, Some("127.0.0.1:4321".parse().unwrap())).unwrap();
        assert_eq!(config.listeners[0].address.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.backend_pools[0].addresses, ["127.0.0.1:4321"]);
    }
}
