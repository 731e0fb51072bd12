//! The flow of each `wsgate` subcommand, once its arguments are parsed.
//! `src/main.rs` holds the clap definitions and dispatches here.
//!
//! | subcommand | flow |
//! |---|---|
//! | `run` | [`run::run`]: scenarios, matrix, reports |
//! | `requirements` | [`requirements`]: the catalogue and what covers it |
//! | `check` | [`check`]: validates scenario and config files |
//! | `serve`, `echo` | [`block_on`] around [`crate::serve`] |

pub mod run;

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
    for line in lines {
        println!("{line}");
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `wsgate requirements`: each requirement, its basis (with the quoted
/// sentence, the Azure page or the reason), its profiles, and which
/// scenario files cover it.
pub fn requirements(paths: &[PathBuf]) -> ExitCode {
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

/// Runs a server future on a multi-threaded runtime until it ends.
pub fn block_on(fut: impl std::future::Future<Output = Result<(), Box<dyn std::error::Error>>>) -> ExitCode {
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
