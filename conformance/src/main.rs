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
        /// Run each scenario under N derived seeds.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        /// Print each scenario's full trace.
        #[arg(long)]
        trace: bool,
        /// Write report.md, junit.xml, report.json and one SVG timeline per
        /// scenario here.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// List the requirement catalogue: id, source, profiles, and which
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
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
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
        } => conformance_run(paths, seed, seeds, trace, out),
        Command::Requirements { paths } => requirements(paths),
        Command::Check { files } => {
            let (lines, ok) = conformance::check::check_files(&files);
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

fn conformance_run(paths: Vec<PathBuf>, seed: Option<u64>, seeds: u64, trace: bool, out: Option<PathBuf>) -> ExitCode {
    use conformance::{catalogue, report, suite};
    let files = match suite::discover(&default_paths(paths)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("wsgate: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (scenarios, errors) = suite::load_all(&files);
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
    let (scenarios, _) = suite::load_all(&files);
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
        println!("{:<18} {:<28} {:<40} {}", r.id, profiles.join(","), r.source, status);
        println!("{:<18} {}", "", r.statement);
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
