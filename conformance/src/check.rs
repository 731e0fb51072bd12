//! `wsgate check FILE…`: validate files without running anything.

use std::path::Path;

use gateway::Config;

/// Validates each file as a gateway config. Returns one report line per
/// file, and whether all were valid.
pub fn check_files(paths: &[impl AsRef<Path>]) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut ok = true;
    for path in paths {
        let path = path.as_ref();
        match Config::load(path) {
            Ok(_) => lines.push(format!("{}: ok", path.display())),
            Err(e) => {
                ok = false;
                lines.push(e.to_string());
            }
        }
    }
    (lines, ok)
}
