//! `wsgate check FILE…`: validate files without running anything.

use std::path::Path;

use gateway::Config;

/// Validates each file as a gateway config. Returns the report lines
/// (errors, then `warning:` lines, then `ok` for clean files) and whether
/// every file was valid. Warnings do not fail a check.
pub fn check_files(paths: &[impl AsRef<Path>]) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut ok = true;
    for path in paths {
        let path = path.as_ref();
        match Config::load_with_warnings(path) {
            Ok((_, warnings)) => {
                for w in &warnings {
                    lines.push(format!("warning: {w}"));
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
