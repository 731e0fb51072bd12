//! `wsgate`: the reference gateway, its demo backend and the conformance
//! tools. Argument parsing and dispatch only; each subcommand's flow is in
//! `conformance::cli`, the work in the rest of the library.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use conformance::cli::{self, run::TraceMode};
use conformance::report::MatrixScope;
use conformance::scenario::Limits;
use conformance::serve::{self, Source, DEFAULT_LISTEN};
use conformance::suite::Shard;
use conformance::target::timing::{Scale, Timing};
use conformance::target::{External, Target};
use gateway::config::Duration;
use gateway::ProfileName;

/// mimalloc rather than glibc's malloc: a handshake allocates and frees
/// dozens of small objects (hyper's buffers and channels, header maps,
/// tasks), and glibc spent ~8% of the gateway's CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "wsgate",
    version,
    about = "What will a cloud gateway do to your WebSocket traffic?"
)]
struct Cli {
    /// How logs on stderr look: `text` for people (coloured only on a
    /// terminal), `json` for log collectors (one object per line).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TraceArg {
    Readable,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MatrixArg {
    Touched,
    Full,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run scenario files on targets (the simulator by default) and grade
    /// the requirements.
    ///
    /// Prints a requirement x profile matrix (a column per target with
    /// several) and a final `N passed, N failed` line; exits non-zero on
    /// any failure on a wsgate target (sim, real), or any at all with
    /// --strict.
    Run {
        /// Scenario files or folders (default: scenarios/).
        paths: Vec<PathBuf>,
        /// Replace each scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Run each scenario under N seeds: its own, then derived ones
        /// (default: the scenario's `seeds`, else 1).
        #[arg(long)]
        seeds: Option<u64>,
        /// Print each scenario's trace: `--trace` the readable one (no
        /// per-message or routine probe lines, every 1006 followed by its
        /// cause), `--trace=full` every line.
        #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "readable", value_name = "WHICH")]
        trace: Option<TraceArg>,
        /// Run each seed twice and compare the traces (typed lines and
        /// their rendering); a difference fails the scenario. Reports say
        /// "checked" only with this flag.
        #[arg(long)]
        check_determinism: bool,
        /// Which requirements the matrix shows: `touched` (those a
        /// scenario in this run names) or `full` (the whole catalogue).
        #[arg(long, value_enum, default_value_t = MatrixArg::Touched)]
        matrix: MatrixArg,
        /// Write index.html, report.md, junit.xml, report.json, an SVG
        /// timeline and the traces of each scenario here.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
        /// Run your gateway config (e.g. from `wsgate import`) in place of
        /// each scenario's own: its pools are mapped onto the scenario's
        /// scripted backends; scenarios of another profile are skipped.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        targets: TargetArgs,
    },
    /// List the requirement catalogue: id, basis (the quoted sentence, the
    /// Azure page or the reason for wsgate's choice), profiles, and which
    /// scenarios cover it.
    Requirements {
        /// Where to look for scenario files (default: scenarios/).
        paths: Vec<PathBuf>,
    },
    /// Run the reference gateway on a real network.
    ///
    /// With --config, serves that file. With --listen/--backend, serves one
    /// route. With neither, serves 127.0.0.1:8080 in front of a built-in echo
    /// backend.
    Serve {
        /// A gateway config file (TOML).
        #[arg(long, conflicts_with_all = ["listen", "backend", "request_timeout", "profile"])]
        config: Option<PathBuf>,
        /// Listen address for the quick-flag route.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Backend address (host:port); repeat for a pool.
        #[arg(long = "backend", value_name = "ADDR")]
        backend: Vec<String>,
        /// Which documented system to behave like.
        #[arg(long, value_parser = parse_profile, default_value = "application-gateway")]
        profile: ProfileName,
        /// The backend settings' request timeout (default: the profile's,
        /// 20 s or Front Door's 30 s).
        #[arg(long, value_parser = parse_duration)]
        request_timeout: Option<Duration>,
        /// Serve the admin endpoint (POST /maintenance, GET /sessions,
        /// GET /metrics); without a value, on 127.0.0.1:9900. Off unless
        /// given.
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = serve::DEFAULT_ADMIN)]
        admin: Option<SocketAddr>,
        /// After SIGTERM or SIGINT: the listeners close at once, open
        /// sessions may run this long, then the rest are closed. A second
        /// signal exits at once.
        #[arg(long, value_parser = parse_duration, default_value = serve::DEFAULT_SHUTDOWN_GRACE)]
        shutdown_grace: Duration,
        /// Worker threads (default: one per core). `--threads 1` runs
        /// everything on one thread, which costs the least CPU per
        /// handshake and per message when the gateway shares a small
        /// machine (see benches/RESULTS.md), as nginx's `worker_processes`.
        #[arg(long, value_name = "N")]
        threads: Option<std::num::NonZeroUsize>,
    },
    /// Print a shell completion script, e.g. `wsgate completions bash >
    /// ~/.local/share/bash-completion/completions/wsgate`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Run the demo WebSocket echo backend (GET /health answers 200).
    Echo {
        #[arg(long, default_value = "127.0.0.1:9001")]
        listen: SocketAddr,
    },
    /// Import an Azure gateway: `az … show` JSON (one object or an array),
    /// an ARM template (for Bicep, run `az bicep build` first) or
    /// `terraform show -json`, written as wsgate's config TOML with each
    /// value's source field in a comment.
    Import {
        /// Input files; several are read as one gateway (e.g. an origin
        /// group, its origins and a route).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where to write the TOML (default: stdout).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// An ARM template parameter's value, overriding its defaultValue.
        #[arg(long = "param", value_name = "NAME=VALUE", value_parser = conformance::import::parse_param)]
        params: Vec<(String, String)>,
    },
    /// Predict WebSocket trouble from a gateway config: each finding with
    /// a stable code, file:line:col, the consequence, its requirement or
    /// Azure page, and a fix. Exits non-zero when an error is found.
    Lint {
        /// A gateway config file (TOML), such as `wsgate import` writes.
        config: PathBuf,
        /// How often the clients (or server) ping: a request timeout not
        /// above it closes sessions (default: the --client library's, else 20s).
        #[arg(long, value_parser = parse_duration)]
        ping_interval: Option<Duration>,
        /// The client library, whose transport needs affinity.
        #[arg(long, value_enum)]
        client: Option<conformance::lint::Client>,
        /// Output: text for people, json or sarif (SARIF 2.1.0) for CI annotations.
        #[arg(long, value_enum, default_value_t = conformance::lint::Format::Text)]
        format: conformance::lint::Format,
    },
    /// Validate scenario and config files; report every problem with
    /// file:line:column.
    Check {
        /// Files, or folders to search for `.toml` files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

/// Where `wsgate run` runs the scenarios, and how.
#[derive(Debug, Clone, clap::Args)]
struct TargetArgs {
    /// Where to run, comma-separated: `sim` (the simulator), `real` (wsgate
    /// on loopback sockets, in wall-clock time), `nginx`, `haproxy` (from
    /// PATH, configured from each scenario's gateway section), `external`
    /// (a gateway already running: --url, --backend-listen).
    #[arg(long = "target", value_name = "LIST", default_value = "sim", value_parser = parse_targets)]
    target: Targets,
    /// Divide every duration of a scenario by K on real-network targets;
    /// `auto`: the smallest of 1, 2, 5, 10, 20, 50, ... that fits the wall
    /// limit.
    #[arg(long, value_name = "K", default_value = "auto")]
    time_scale: Scale,
    /// A real-network run longer than this (after scaling) is skipped.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "60s")]
    wall_limit: Duration,
    /// Wall-clock slack on every time bound of a real-network run, before
    /// the latency the simulator's links add (see the README).
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "150ms")]
    tolerance: Duration,
    /// Also run this target, and print per scenario both verdicts and
    /// every expectation they disagree on, with both traces' lines.
    #[arg(long, value_name = "TARGET")]
    compare: Option<Target>,
    /// Fail the run on a failure on any target; without it, failures on
    /// gateways other than wsgate are findings and do not.
    #[arg(long)]
    strict: bool,
    /// `--target external`: the gateway's address, ws://HOST:PORT.
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    url: Option<SocketAddr>,
    /// `--target external`: where each backend of the scenario listens, in
    /// the scenario's order (the addresses your gateway forwards to).
    #[arg(long = "backend-listen", value_name = "ADDR", num_args = 1..)]
    backend_listen: Vec<SocketAddr>,
    /// Run only the k-th of N parts of the sweep (by a hash of each run's
    /// name, `TARGET/SCENARIO/seed-SEED`).
    #[arg(long, value_name = "k/N")]
    shard: Option<Shard>,
    /// Append each failing seed of sim or real to this corpus file, which
    /// `cargo test` replays.
    #[arg(long, value_name = "FILE")]
    save_failing_seeds: Option<PathBuf>,
    /// Runs at once (default: one per core in the simulator only, 8 with
    /// a real-network target, whose runs mostly wait). Reports print in
    /// file order either way.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
}

/// `--target sim,real`, as one value.
#[derive(Debug, Clone)]
struct Targets(Vec<Target>);

fn parse_targets(s: &str) -> Result<Targets, String> {
    conformance::target::parse_list(s)
        .map(Targets)
        .map_err(|e| e.to_string())
}

fn parse_url(s: &str) -> Result<SocketAddr, String> {
    conformance::target::parse_url(s)
}

/// How large a run may be; a scenario over a limit is refused before it
/// starts, naming the limit.
#[derive(Debug, Clone, Copy, clap::Args)]
struct LimitArgs {
    /// The most WebSocket sessions a scenario may hold at once.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_sessions)]
    max_sessions: usize,
    /// The most simulator steps (duration / tick) a scenario may take.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_steps)]
    max_steps: u64,
    /// The most trace events a scenario's clients may schedule.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_events)]
    max_events: u64,
}

impl From<LimitArgs> for Limits {
    fn from(a: LimitArgs) -> Self {
        Limits {
            max_sessions: a.max_sessions,
            max_steps: a.max_steps,
            max_events: a.max_events,
        }
    }
}

fn parse_profile(s: &str) -> Result<ProfileName, String> {
    s.parse().map_err(|e: gateway::profile::UnknownProfile| e.to_string())
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    s.parse()
}

/// Logs to stderr, filtered by `RUST_LOG`; ANSI colours only when stderr is
/// a terminal, so files and collectors get plain text.
fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,turmoil=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.with_ansi(false).json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Command::Run {
            paths,
            seed,
            seeds,
            trace,
            check_determinism,
            matrix,
            out,
            limits,
            config,
            targets,
        } => cli::run::run(&cli::run::Args {
            paths,
            seed,
            seeds,
            trace: trace.map(|t| match t {
                TraceArg::Readable => TraceMode::Readable,
                TraceArg::Full => TraceMode::Full,
            }),
            out,
            check_determinism,
            matrix: match matrix {
                MatrixArg::Touched => MatrixScope::Touched,
                MatrixArg::Full => MatrixScope::Full,
            },
            limits: limits.into(),
            config,
            targets: targets.target.0,
            timing: Timing {
                scale: targets.time_scale,
                limit: targets.wall_limit.get(),
                tolerance: targets.tolerance.get(),
                ..Timing::default()
            },
            external: targets.url.map(|addr| External {
                addr,
                backends: targets.backend_listen.clone(),
            }),
            compare: targets.compare,
            strict: targets.strict,
            shard: targets.shard,
            save_failing_seeds: targets.save_failing_seeds,
            jobs: targets.jobs,
        }),
        Command::Requirements { paths } => cli::requirements(&paths),
        Command::Check { files, limits } => cli::check(&files, &limits.into()),
        Command::Import { files, output, params } => cli::import::import(&files, output.as_deref(), &params),
        Command::Lint {
            config,
            ping_interval,
            client,
            format,
        } => cli::lint::lint(&config, ping_interval, client, format),
        Command::Serve {
            config,
            listen,
            backend,
            profile,
            request_timeout,
            admin,
            shutdown_grace,
            threads,
        } => {
            let source = match (config, backend.is_empty()) {
                (Some(path), _) => Source::File(path),
                (None, false) => Source::Flags {
                    listen: listen.unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("the default address parses")),
                    backends: backend,
                    profile,
                    request_timeout,
                },
                (None, true) => Source::Embedded {
                    listen: listen.unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("the default address parses")),
                    profile,
                },
            };
            let options = serve::Options {
                admin,
                shutdown_grace: shutdown_grace.get(),
            };
            cli::block_on_threads(threads, serve::serve(source, options))
        }
        Command::Echo { listen } => cli::block_on(serve::echo(listen)),
        Command::Completions { shell } => {
            // Into a buffer first: generate() panics on a failed write.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "wsgate", &mut script);
            match std::io::Write::write_all(&mut std::io::stdout().lock(), &script) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => cli::output_failed(&e),
            }
        }
    }
}
