//! `wsgate`: the reference gateway, its demo backend and the conformance
//! tools. Argument parsing only; the work is in the `conformance` library.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use conformance::serve::{self, Source, DEFAULT_LISTEN};
use gateway::config::Duration;
use gateway::ProfileName;

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

#[derive(Subcommand, Debug)]
enum Command {
    /// Run scenario files in the simulator and grade the requirements.
    ///
    /// Prints a requirement x profile matrix and a final `N passed, N failed`
    /// line; exits non-zero on any failure.
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
        /// Print each scenario's full trace.
        #[arg(long)]
        trace: bool,
        /// Write report.md, junit.xml, report.json and one SVG timeline per
        /// scenario here.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
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

/// How large a run may be; a scenario over a limit is refused before it
/// starts, naming the limit.
#[derive(Debug, Clone, Copy, clap::Args)]
struct LimitArgs {
    /// The most WebSocket sessions a scenario may hold at once.
    #[arg(long, value_name = "N", default_value_t = conformance::scenario::Limits::default().max_sessions)]
    max_sessions: usize,
    /// The most simulator steps (duration / tick) a scenario may take.
    #[arg(long, value_name = "N", default_value_t = conformance::scenario::Limits::default().max_steps)]
    max_steps: u64,
    /// The most trace events a scenario's clients may schedule.
    #[arg(long, value_name = "N", default_value_t = conformance::scenario::Limits::default().max_events)]
    max_events: u64,
}

impl From<LimitArgs> for conformance::scenario::Limits {
    fn from(a: LimitArgs) -> Self {
        conformance::scenario::Limits {
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
            out,
            limits,
        } => conformance_run(paths, seed, seeds, trace, out, limits.into()),
        Command::Requirements { paths } => requirements(paths),
        Command::Check { files, limits } => {
            let (lines, ok) = conformance::check::check_files(&files, &limits.into());
            for line in lines {
                println!("{line}");
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Serve {
            config,
            listen,
            backend,
            profile,
            request_timeout,
            admin,
            shutdown_grace,
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
            run(serve::serve(source, options))
        }
        Command::Echo { listen } => run(serve::echo(listen)),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "wsgate", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}

fn default_paths(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths
    }
}

fn conformance_run(
    paths: Vec<PathBuf>,
    seed: Option<u64>,
    seeds: Option<u64>,
    trace: bool,
    out: Option<PathBuf>,
    limits: conformance::scenario::Limits,
) -> ExitCode {
    use conformance::{catalogue, report, suite};
    let files = match suite::discover(&default_paths(paths)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("wsgate: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (scenarios, errors) = suite::load_all(&files, &limits);
    for e in &errors {
        eprintln!("{e}");
    }
    let options = suite::Options {
        seed,
        seeds,
        check_determinism: false,
    };
    let mut reports = Vec::new();
    for s in &scenarios {
        let r = suite::run_scenario(s, options);
        let verdict = if r.passed() { "pass" } else { "FAIL" };
        println!("{verdict}  {}", r.path);
        for (_, ok, text) in &r.runs {
            if !ok {
                print!("{}", text.lines().map(|l| format!("      {l}\n")).collect::<String>());
            }
        }
        if trace {
            println!("{}", sim::trace::render(&r.lines, &r.names));
        }
        reports.push(r);
    }
    let reqs = catalogue::requirements();
    let grades = catalogue::grade(&reqs, &suite::results(&reports));
    println!();
    print!("{}", report::matrix_text(&reqs, &grades));
    let tally = report::tally(&reqs, &grades);
    println!(
        "\nrequirements: {} pass, {} fail, {} skip, {} not covered",
        tally.get("pass").unwrap_or(&0),
        tally.get("FAIL").unwrap_or(&0),
        tally.get("skip").unwrap_or(&0),
        tally.get("not covered").unwrap_or(&0)
    );
    if let Some(dir) = out {
        if let Err(e) = write_reports(&dir, &reqs, &grades, &reports) {
            eprintln!("wsgate: writing reports to {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
        println!("reports written to {}", dir.display());
    }
    let passed = reports.iter().filter(|r| r.passed()).count();
    let failed = reports.len() - passed + errors.len();
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn write_reports(
    dir: &std::path::Path,
    reqs: &[conformance::catalogue::Requirement],
    grades: &std::collections::BTreeMap<(String, ProfileName), conformance::catalogue::Grade>,
    reports: &[conformance::report::ScenarioReport],
) -> std::io::Result<()> {
    use conformance::report;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("report.md"), report::markdown(reqs, grades, reports))?;
    std::fs::write(dir.join("junit.xml"), report::junit(reports))?;
    std::fs::write(
        dir.join("report.json"),
        format!("{:#}\n", report::json(reqs, grades, reports)),
    )?;
    let timelines = dir.join("timelines");
    std::fs::create_dir_all(&timelines)?;
    for r in reports {
        let file = r.path.trim_end_matches(".toml").replace(['/', '\\'], "__");
        std::fs::write(
            timelines.join(format!("{file}.svg")),
            report::svg(&r.name, &r.lines, r.duration),
        )?;
    }
    Ok(())
}

fn requirements(paths: Vec<PathBuf>) -> ExitCode {
    use conformance::{catalogue, suite};
    let files = suite::discover(&default_paths(paths)).unwrap_or_default();
    let (scenarios, _) = suite::load_all(&files, &Default::default());
    for r in catalogue::requirements() {
        let profiles: Vec<String> = r.profiles.iter().map(ToString::to_string).collect();
        let covering: Vec<String> = scenarios
            .iter()
            .filter(|s| s.requirements.contains(&r.id))
            .map(|s| s.path.display().to_string())
            .collect();
        let status = match (&r.skip, covering.len()) {
            (Some(reason), _) => format!("skip: {reason}"),
            (None, 0) => "not covered".to_string(),
            (None, n) => format!("covered by {n} scenario(s)"),
        };
        println!(
            "{:<22} {:<9} {:<50} {}",
            r.id,
            r.basis.kind(),
            profiles.join(","),
            status
        );
        println!("{:<22} {}", "", r.statement);
        println!("{:<22} {}", "", r.basis);
        let label = if r.basis.kind() == "choice" { "reason" } else { "quote" };
        println!("{:<22} {label}: {}", "", r.basis.words());
    }
    ExitCode::SUCCESS
}

fn run(fut: impl std::future::Future<Output = Result<(), Box<dyn std::error::Error>>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wsgate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsgate: {e}");
            ExitCode::FAILURE
        }
    }
}
