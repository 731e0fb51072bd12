//! `wsgate check FILE…`: validate scenario and config files without
//! running anything.

use std::path::Path;

use gateway::Config;

/// Whether a file is a scenario (it has a `duration`) or a gateway config.
fn is_scenario(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.parse::<toml::Table>().ok())
        .is_some_and(|t| t.contains_key("duration"))
}

/// Validates each file, and every `.toml` file under each folder. Returns
/// the report lines (errors, `warning:` lines, `ok` for clean files) and
/// whether every file was valid. Warnings do not fail a check.
pub fn check_files(paths: &[impl AsRef<Path>], limits: &crate::scenario::Limits) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut ok = true;
    let mut files = Vec::new();
    for path in paths {
        let path = path.as_ref();
        match crate::suite::discover(&[path.to_path_buf()]) {
            Ok(found) => files.extend(found),
            Err(e) => {
                ok = false;
                lines.push(format!("{}: cannot read: {e}", path.display()));
            }
        }
    }
    for path in &files {
        let path = path.as_path();
        if is_scenario(path) {
            match crate::scenario::load_with(path, limits) {
                Ok(s) => {
                    for w in &s.warnings {
                        lines.push(w.to_string());
                    }
                    lines.push(format!("{}: ok", path.display()));
                }
                Err(e) => {
                    ok = false;
                    lines.push(e.to_string());
                }
            }
            continue;
        }
        match Config::load_with_warnings(path) {
            Ok((_, warnings)) => {
                for w in &warnings {
                    lines.push(w.to_string());
                }
                lines.push(format!("{}: ok", path.display()));
            }
            Err(e) => {
                ok = false;
                lines.push(e.to_string());
            }
        }
    }
    (lines, ok)
}
