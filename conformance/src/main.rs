//! `wsgate`: the reference gateway, its demo backend and the conformance
//! tools. Argument parsing only; the work is in the `conformance` library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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
        /// Serve the admin endpoint (POST /maintenance, GET /sessions);
        /// without a value, on 127.0.0.1:9900. Off unless given.
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = serve::DEFAULT_ADMIN)]
        admin: Option<SocketAddr>,
    },
    /// Run the demo WebSocket echo backend (GET /health answers 200).
    Echo {
        #[arg(long, default_value = "127.0.0.1:9001")]
        listen: SocketAddr,
    },
    /// Validate config files and report every problem with file:line:column.
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

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
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
            run(serve::serve(source, admin))
        }
        Command::Echo { listen } => run(serve::echo(listen)),
    }
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
