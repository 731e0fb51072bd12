//! wsgate beside nginx and HAProxy, and beside no proxy at all.
//!
//! One echo backend (`wsgate echo`, its own process on `127.0.0.1:0`); in
//! front of it, each as a child process on a free loopback port: the
//! `wsgate` release binary, nginx with its standard WebSocket proxy config,
//! HAProxy in `mode http` with `timeout tunnel 1h`. "direct" is the backend
//! itself. The project's closed-loop load generator drives each in turn,
//! alternating rounds (direct, wsgate, nginx, haproxy, direct, …) so drift
//! on a shared machine hits everyone alike. Figures are medians over rounds.
//!
//! - relay: 50 sessions, 64 B binary echo, closed loop: msgs/s, p50, p99;
//! - handshakes/s: 50 workers each connecting, upgrading and dropping;
//! - large messages: 10 sessions echoing 64 KiB, and 4 echoing 1 MiB,
//!   closed loop: MB/s of payload echoed (each byte crosses the proxy twice,
//!   up and back) and the proxy's CPU per MB;
//! - proxy CPU per message, per handshake and per MB: the proxy process
//!   tree's user + system time over a phase (warm-up included) divided by
//!   the operations in it, from `/proc/PID/stat` at 10 ms resolution;
//! - idle memory: RSS growth of the proxy's process tree (nginx's workers
//!   included) with 9,800 idle sessions open, and the wall time to open
//!   them (100 at a time), measured first, on fresh processes, after a
//!   100-session warm-up. 9,800, not 10,000: each proxied session is two
//!   sockets in a one-process proxy, and this machine's hard open-files
//!   limit is 20,000.
//!
//! A peer that is not installed is skipped with how to install it;
//! `WSGATE_BENCH_INSTALL=1` (or `--install`) installs it with apt-get.
//! Knobs: `WSGATE_BENCH_ROUNDS` (3), `WSGATE_BENCH_SECS` (5 s per phase),
//! `WSGATE_BENCH_IDLE` (9800; 0 skips memory), `WSGATE_BENCH_THREADS`
//! (`wsgate serve --threads`; default one worker per core),
//! `WSGATE_BENCH_PHASES` (e.g. `handshake`, to profile one; default
//! `relay,handshake,large`), `WSGATE_BENCH_ONLY` (e.g. `direct,wsgate`, to
//! profile one), `WSGATE_BIN`. `benches/run-peers.sh` builds
//! wsgate, raises `ulimit -n` and runs this.
//!
//! `cargo bench -p benches --bench peers`

#![allow(clippy::unwrap_used)] // bench code: a failure should stop the run loudly

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use benches::peer::{self, Kind, Proxy};
use benches::report;
use benches::stats::micros;
use benches::{loadgen, procfs, BenchError};

const SESSIONS: usize = 50;
const MESSAGE: usize = 64;
/// Large-message phases: (sessions, message size).
const LARGE: [(usize, usize); report::LARGE_PHASES] = [(10, 64 * 1024), (4, 1024 * 1024)];
const HANDSHAKE_WORKERS: usize = 50;
const WARMUP: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Settings {
    rounds: usize,
    window: Duration,
    idle: usize,
    install: bool,
    /// Which targets run; all by default.
    only: Vec<Kind>,
    /// Which phases run (`relay`, `handshake`, `large`); all by default.
    phases: Option<String>,
}

impl Settings {
    fn from_env() -> Settings {
        let num = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
        Settings {
            rounds: num("WSGATE_BENCH_ROUNDS", 3).max(1) as usize,
            window: Duration::from_secs(num("WSGATE_BENCH_SECS", 5).max(1)),
            idle: num("WSGATE_BENCH_IDLE", 9800) as usize,
            // `cargo bench` passes `--bench`; only `--install` means anything.
            install: std::env::var("WSGATE_BENCH_INSTALL").is_ok_and(|v| v == "1")
                || std::env::args().any(|a| a == "--install"),
            phases: std::env::var("WSGATE_BENCH_PHASES").ok(),
            only: match std::env::var("WSGATE_BENCH_ONLY") {
                Ok(names) => Kind::ALL
                    .into_iter()
                    .filter(|k| names.split(',').any(|n| n.trim() == k.name()))
                    .collect(),
                Err(_) => Kind::ALL.to_vec(),
            },
        }
    }
}

impl Settings {
    fn runs(&self, phase: &str) -> bool {
        self.phases
            .as_deref()
            .is_none_or(|p| p.split(',').any(|n| n.trim() == phase))
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peers: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), BenchError> {
    let settings = Settings::from_env();
    print_machine();
    if settings.install && (peer::find_program("nginx").is_none() || peer::find_program("haproxy").is_none()) {
        println!("installing nginx and haproxy with apt-get (WSGATE_BENCH_INSTALL=1)");
        peer::apt_install()?;
    }
    let open_files = procfs::open_files_limit().unwrap_or(1024);
    // This process holds the client socket of every idle session; the echo
    // backend is its own process.
    let needed = settings.idle as u64 + 1000;
    let idle = if settings.idle == 0 {
        None
    } else if open_files >= needed {
        Some(settings.idle)
    } else {
        println!(
            "memory: skipped: `ulimit -n` is {open_files}, {needed} needed for {} idle sessions; run benches/run-peers.sh, which raises it",
            settings.idle
        );
        None
    };

    let rt = tokio::runtime::Runtime::new()?;
    let dir = tempfile::Builder::new().prefix("wsgate-peers-").tempdir()?;
    let bin = peer::wsgate_binary().ok_or(
        "no wsgate binary for the echo backend: build it with `cargo build --release -p conformance` (or set WSGATE_BIN)",
    )?;
    let echo = peer::Echo::start(&bin, dir.path())?;
    let backend = echo.addr;
    println!(
        "echo backend (wsgate echo, pid {}) on {backend}; configs and logs in {}",
        echo.pid(),
        dir.path().display()
    );
    let mut proxies = Vec::new();
    for kind in settings.only.iter().copied() {
        match Proxy::start(kind, backend, dir.path(), open_files)? {
            Ok(proxy) => {
                println!("{:<8} {} on {}", kind.name(), proxy.version, proxy.addr);
                proxies.push(proxy);
            }
            Err(why) => println!("{:<8} {why}", kind.name()),
        }
    }

    let mut memory: BTreeMap<Kind, f64> = BTreeMap::new();
    if let Some(n) = idle {
        println!("\nidle memory: {n} sessions, each echoes one {MESSAGE} B message then idles");
        for proxy in &proxies {
            let Some(pid) = proxy.pid() else { continue };
            let idle = rt.block_on(idle_rss(proxy.addr, pid, n))?;
            let per = (idle.after as f64 - idle.before as f64) / n as f64;
            println!(
                "  {:<8} RSS {} KiB -> {} KiB: {per:.1} KiB per idle session; opened in {:.2} s ({:.0} sessions/s)",
                proxy.kind.name(),
                idle.before,
                idle.after,
                idle.open.as_secs_f64(),
                n as f64 / idle.open.as_secs_f64(),
            );
            memory.insert(proxy.kind, per);
        }
    }

    println!(
        "\nrounds: relay {SESSIONS} sessions x {MESSAGE} B closed loop, then {HANDSHAKE_WORKERS} handshake workers; {} s each after {} s warm-up",
        settings.window.as_secs(),
        WARMUP.as_secs()
    );
    let mut rounds: BTreeMap<Kind, Vec<report::Round>> = BTreeMap::new();
    for round in 1..=settings.rounds {
        for proxy in &proxies {
            let (mut relay_figures, mut cpu_per_msg) = (None, f64::NAN);
            if settings.runs("relay") {
                let cpu = CpuMeter::start(proxy.pid());
                let relay = rt.block_on(loadgen::echo_load(
                    proxy.addr,
                    SESSIONS,
                    MESSAGE,
                    WARMUP,
                    settings.window,
                ))?;
                cpu_per_msg = cpu.per_op(relay.all_messages);
                relay_figures = Some(relay);
            }
            let (mut handshake_figures, mut cpu_per_handshake) = (None, f64::NAN);
            if settings.runs("handshake") {
                let cpu = CpuMeter::start(proxy.pid());
                let handshakes = rt.block_on(loadgen::handshake_load(
                    proxy.addr,
                    HANDSHAKE_WORKERS,
                    WARMUP,
                    settings.window,
                ))?;
                cpu_per_handshake = cpu.per_op(handshakes.all_handshakes);
                handshake_figures = Some(handshakes);
            }
            let mut large = [report::Throughput {
                mb_per_s: f64::NAN,
                cpu_us_per_mb: f64::NAN,
            }; LARGE.len()];
            for (slot, &(sessions, size)) in large.iter_mut().zip(&LARGE) {
                if !settings.runs("large") {
                    break;
                }
                let cpu = CpuMeter::start(proxy.pid());
                let run = rt.block_on(loadgen::echo_load(proxy.addr, sessions, size, WARMUP, settings.window))?;
                let all_mb = run.all_messages as f64 * size as f64 / 1e6;
                *slot = report::Throughput {
                    mb_per_s: run.per_second() * size as f64 / 1e6,
                    cpu_us_per_mb: cpu.total_us() / all_mb,
                };
            }
            let quantile = |q: f64| {
                relay_figures
                    .as_ref()
                    .map_or(f64::NAN, |r| micros(r.latencies.quantile(q)))
            };
            let r = report::Round {
                msgs_per_s: relay_figures.as_ref().map_or(f64::NAN, loadgen::EchoRun::per_second),
                p50_us: quantile(0.50),
                p99_us: quantile(0.99),
                handshakes_per_s: handshake_figures
                    .as_ref()
                    .map_or(f64::NAN, loadgen::HandshakeRun::per_second),
                cpu_us_per_msg: cpu_per_msg,
                cpu_us_per_handshake: cpu_per_handshake,
                large,
            };
            println!(
                "  round {round} {:<8} {:>8.0} msgs/s  p50 {:>6.0} us  p99 {:>6.0} us  cpu {:>5.1} us/msg  | {:>6.0} handshakes/s (p50 {:.0} us, cpu {:.1} us/handshake, {} failed)",
                proxy.kind.name(),
                r.msgs_per_s,
                r.p50_us,
                r.p99_us,
                r.cpu_us_per_msg,
                r.handshakes_per_s,
                handshake_figures
                    .as_ref()
                    .map_or(f64::NAN, |h| micros(h.latencies.quantile(0.5))),
                r.cpu_us_per_handshake,
                handshake_figures.as_ref().map_or(0, |h| h.failures),
            );
            for (&(sessions, size), t) in LARGE.iter().zip(&r.large) {
                println!(
                    "  round {round} {:<8} {sessions} x {:>4} KiB: {:>7.1} MB/s, cpu {:>6.1} us/MB",
                    proxy.kind.name(),
                    size / 1024,
                    t.mb_per_s,
                    t.cpu_us_per_mb,
                );
            }
            rounds.entry(proxy.kind).or_default().push(r);
        }
    }
    // Stop the children before the runtime and the backend go away.
    drop(proxies);

    report::print(&report::summarise(&rounds, &memory));
    println!("\nload average at the end: {}", load_average());
    Ok(())
}

/// CPU time a proxy's process tree spends over one phase, per operation:
/// a figure other work on the machine barely moves, unlike rates.
struct CpuMeter {
    pid: Option<u32>,
    start: Duration,
}

impl CpuMeter {
    fn start(pid: Option<u32>) -> CpuMeter {
        let start = pid.and_then(|p| procfs::tree_cpu_time(p).ok()).unwrap_or_default();
        CpuMeter { pid, start }
    }

    /// Microseconds per operation since `start`; `NaN` for direct.
    fn per_op(&self, ops: u64) -> f64 {
        if ops == 0 {
            return f64::NAN;
        }
        self.total_us() / ops as f64
    }

    /// Microseconds of CPU since `start`; `NaN` for direct.
    fn total_us(&self) -> f64 {
        match self.pid.and_then(|p| procfs::tree_cpu_time(p).ok()) {
            Some(end) => micros(end.saturating_sub(self.start)),
            None => f64::NAN,
        }
    }
}

/// A proxy's memory around `n` idle sessions, and how long opening them took.
struct Idle {
    /// RSS of the proxy's process tree before and after, in KiB.
    before: u64,
    after: u64,
    /// Wall time to open all `n` (connect, upgrade, one echo), 100 at a time.
    open: Duration,
}

/// Warm the proxy with 100 sessions, then RSS of its process tree before
/// and after opening `n` idle sessions.
async fn idle_rss(addr: SocketAddr, pid: u32, n: usize) -> Result<Idle, BenchError> {
    let settle = Duration::from_secs(1);
    drop(loadgen::open_idle(addr, 100, 50, MESSAGE).await?);
    tokio::time::sleep(settle).await;
    let before = procfs::tree_rss_kib(pid)?;
    let started = std::time::Instant::now();
    let sessions = loadgen::open_idle(addr, n, 100, MESSAGE).await?;
    let open = started.elapsed();
    tokio::time::sleep(settle).await;
    let after = procfs::tree_rss_kib(pid)?;
    drop(sessions);
    tokio::time::sleep(settle).await;
    Ok(Idle { before, after, open })
}

fn print_machine() {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!(
        "machine: {cpus} cpus, {model}, kernel {}, ulimit -n {}, load average {}",
        kernel.trim(),
        procfs::open_files_limit().map_or("?".to_string(), |n| n.to_string()),
        load_average(),
    );
}

/// `/proc/loadavg`'s three averages: the bench shares the machine, and a
/// busy one shows here.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
