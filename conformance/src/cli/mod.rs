//! The flow of each `wsgate` subcommand, once its arguments are parsed.
//! `src/main.rs` holds the clap definitions and dispatches here.
//!
//! | subcommand | flow |
//! |---|---|
//! | `run` | [`run::run`]: scenarios, matrix, reports |
//! | `requirements` | [`requirements`]: the catalogue and what covers it |
//! | `check` | [`check`]: validates scenario and config files |
//! | `serve`, `echo` | [`block_on`] around [`crate::serve`] |
//! | `import` | [`import::import`]: Azure definitions to a config |
//! | `lint` | [`lint::lint`]: WebSocket trouble predicted from a config |

pub mod import;
pub mod lint;
pub mod run;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::{catalogue, suite};

/// The paths given, or `scenarios/` when none were.
pub fn default_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths.to_vec()
    }
}

/// `wsgate check`: every problem of every file, then the exit status.
pub fn check(files: &[PathBuf], limits: &crate::scenario::Limits) -> ExitCode {
    let (lines, ok) = crate::check::check_files(files, limits);
    let printed = lines
        .iter()
        .try_for_each(|line| writeln!(io::stdout().lock(), "{line}"));
    match (printed, ok) {
        (Err(e), _) => output_failed(&e),
        (Ok(()), true) => ExitCode::SUCCESS,
        (Ok(()), false) => ExitCode::FAILURE,
    }
}

/// `wsgate requirements`: each requirement, its basis (with the quoted
/// sentence, the Azure page or the reason), its profiles, and which
/// scenario files cover it.
pub fn requirements(paths: &[PathBuf]) -> ExitCode {
    let files = suite::discover(&default_paths(paths)).unwrap_or_default();
    let (scenarios, _) = suite::load_all(&files, &Default::default());
    match write_requirements(&mut io::stdout().lock(), &scenarios) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => output_failed(&e),
    }
}

fn write_requirements(out: &mut impl Write, scenarios: &[crate::scenario::Scenario]) -> io::Result<()> {
    for r in catalogue::requirements() {
        let profiles: Vec<String> = r.profiles.iter().map(ToString::to_string).collect();
        let covering = scenarios.iter().filter(|s| s.requirements.contains(&r.id)).count();
        let status = match (&r.skip, covering) {
            (Some(reason), _) => format!("skip: {reason}"),
            (None, 0) => "not covered".to_string(),
            (None, n) => format!("covered by {n} scenario(s)"),
        };
        writeln!(
            out,
            "{:<22} {:<9} {:<50} {}",
            r.id,
            r.basis.kind(),
            profiles.join(","),
            status
        )?;
        writeln!(out, "{:<22} {}", "", r.statement)?;
        writeln!(out, "{:<22} {}", "", r.basis)?;
        let label = if r.basis.kind() == "choice" { "reason" } else { "quote" };
        writeln!(out, "{:<22} {label}: {}", "", r.basis.words())?;
    }
    Ok(())
}

/// A write to stdout failed. A closed pipe (`wsgate requirements | head`)
/// is the reader being done, not an error; anything else is reported.
pub fn output_failed(e: &io::Error) -> ExitCode {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return ExitCode::SUCCESS;
    }
    eprintln!("wsgate: cannot write the output: {e}");
    ExitCode::FAILURE
}

/// Runs a server future on a multi-threaded runtime (a worker per core)
/// until it ends.
pub fn block_on(fut: impl std::future::Future<Output = Result<(), Box<dyn std::error::Error>>>) -> ExitCode {
    block_on_threads(None, fut)
}

/// Runs a server future until it ends, on `threads` worker threads: one
/// means everything on the calling thread (tokio's current-thread runtime,
/// no cross-thread wake-ups); none means a worker per core.
pub fn block_on_threads(
    threads: Option<std::num::NonZeroUsize>,
    fut: impl std::future::Future<Output = Result<(), Box<dyn std::error::Error>>>,
) -> ExitCode {
    let built = match threads.map(std::num::NonZeroUsize::get) {
        Some(1) => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
        None => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
    };
    let rt = match built {
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
