//! `wsgate lint CONFIG [--ping-interval 20s] [--client socketio|signalr] [--format text|json|sarif]`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gateway::config::Duration;
use gateway::Config;

use crate::lint::{self, output, Client, Format, Options};

/// What `wsgate lint` prints for one file, and whether it found an error.
/// A config that does not load is printed as its located errors.
pub fn lint_text(path: &Path, source: &str, options: &Options, format: Format) -> (String, bool) {
    let origin = path.display().to_string();
    let base = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let config = match Config::from_toml(source, &origin, base) {
        Ok(c) => c,
        Err(e) => return (format!("{e}\n"), true),
    };
    let found = output::locate(lint::lint(&config, options), source);
    let (errors, _) = output::counts(&found);
    let text = match format {
        Format::Text => output::text(&origin, &found, options),
        Format::Json => output::json(&origin, &found, options),
        Format::Sarif => output::sarif(&origin, &found),
    };
    (text, errors > 0)
}

/// Runs the lint on stdout; non-zero when an error is found.
pub fn lint(path: &Path, ping: Option<Duration>, client: Option<Client>, format: Format) -> ExitCode {
    let source = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: cannot read config: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let options = Options::new(ping.map(Duration::get), client);
    let (text, failed) = lint_text(path, &source, &options, format);
    match io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) => super::output_failed(&e),
        Ok(()) if failed => ExitCode::FAILURE,
        Ok(()) => ExitCode::SUCCESS,
    }
}
