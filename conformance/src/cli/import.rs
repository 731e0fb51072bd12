//! `wsgate import FILE… [-o gateway.toml] [--param name=value]`.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::import;

/// Imports `files` and writes the TOML to `output` (stdout when `None`);
/// what was left out goes to stderr.
pub fn import(files: &[PathBuf], output: Option<&Path>, params: &[(String, String)]) -> ExitCode {
    let params: BTreeMap<String, String> = params.iter().cloned().collect();
    let imported = match import::import_files(files, &params) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let text = import::emit::toml(&imported);
    let summary = format!(
        "imported {} listener(s), {} pool(s), {} rule(s); {} field(s) read but not modelled (listed at the end of the file); \
         {} backend address(es) not reachable from here",
        imported.config.listeners.len(),
        imported.config.backend_pools.len(),
        imported.config.rules.len(),
        imported.unmodelled.len(),
        imported.unreachable.len()
    );
    match output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("wsgate: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            eprintln!("{}: {summary}", path.display());
            ExitCode::SUCCESS
        }
        None => match io::stdout().lock().write_all(text.as_bytes()) {
            Ok(()) => {
                eprintln!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => super::output_failed(&e),
        },
    }
}
