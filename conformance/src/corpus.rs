//! The seed corpus: runs a sweep found failing, kept in a TOML file that
//! `cargo test` replays, one test per entry, so a seed that once failed is
//! checked from then on.
//!
//! `wsgate run --seeds N --save-failing-seeds conformance/seed-corpus.toml`
//! appends each failing (scenario, target, seed) of a wsgate target (the
//! simulator or the real network; a peer's failure is a finding, not a
//! bug to replay). Parsing and rendering are pure; [`load`] and [`save`]
//! are the file's I/O.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::report::{ScenarioReport, Verdict};

/// One failing run worth replaying.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The scenario file, relative to the workspace root.
    pub scenario: String,
    /// `sim` or `real`.
    pub target: String,
    pub seed: u64,
    /// The first line of what failed, when it was found.
    pub found: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    seed: Vec<Entry>,
}

const HEADER: &str = "\
# Seeds a sweep found failing (`wsgate run --seeds N --save-failing-seeds FILE`).
# `cargo test` replays each entry as its own test, `TARGET/SCENARIO/seed-SEED`
# (sim in conformance/tests/scenarios.rs, real in conformance/tests/targets.rs);
# remove an entry once the failure it records is understood and fixed.
";

/// Parses a corpus file's text.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    toml::from_str::<File>(text).map(|f| f.seed).map_err(|e| e.to_string())
}

/// A corpus file's text: the header, then the entries sorted.
pub fn render(entries: &[Entry]) -> Result<String, String> {
    let mut sorted = entries.to_vec();
    sorted.sort();
    sorted.dedup_by(|a, b| (&a.scenario, &a.target, a.seed) == (&b.scenario, &b.target, b.seed));
    let body = toml::to_string(&File { seed: sorted }).map_err(|e| e.to_string())?;
    Ok(format!("{HEADER}\n{body}"))
}

/// The failing seeds of wsgate targets in `reports`, as entries.
pub fn failing(reports: &[ScenarioReport]) -> Vec<Entry> {
    reports
        .iter()
        .filter(|r| r.target.is_wsgate() && r.verdict() == Verdict::Fail)
        .flat_map(|r| {
            r.runs.iter().filter(|run| !run.passed).map(move |run| Entry {
                scenario: r.path.clone(),
                target: r.target.to_string(),
                seed: run.seed,
                found: run.failures.lines().next().unwrap_or_default().to_string(),
            })
        })
        .collect()
}

/// Reads a corpus; a missing file is an empty corpus.
pub fn load(path: &Path) -> Result<Vec<Entry>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Adds `new` to the corpus at `path` (entries already there are kept
/// once); returns how many were new.
pub fn save(path: &Path, new: &[Entry]) -> Result<usize, String> {
    let mut entries = load(path)?;
    let before = entries.len();
    for e in new {
        if !entries
            .iter()
            .any(|x| (&x.scenario, &x.target, x.seed) == (&e.scenario, &e.target, e.seed))
        {
            entries.push(e.clone());
        }
    }
    let added = entries.len() - before;
    let text = render(&entries)?;
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(added)
}

/// Where an entry's scenario file is, for a workspace at `root`.
pub fn scenario_path(root: &Path, entry: &Entry) -> PathBuf {
    root.join(&entry.scenario)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::report;
    use crate::target::Target;
    use gateway::ProfileName;

    #[test]
    fn entries_round_trip_sorted_and_once() {
        let e = |seed: u64| Entry {
            scenario: "scenarios/front-door/x.toml".into(),
            target: "sim".into(),
            seed,
            found: "expected: c1 closed with 1006".into(),
        };
        let text = render(&[e(9), e(3), e(9)]).unwrap();
        assert!(text.starts_with("# Seeds a sweep found failing"));
        assert_eq!(parse(&text).unwrap(), vec![e(3), e(9)]);
        assert_eq!(parse("").unwrap(), vec![]);
        assert!(parse("[[seed]]\nscenario = \"x\"\n")
            .unwrap_err()
            .contains("missing field"));
        assert!(parse("[[seeds]]\n").is_err(), "an unknown key is an error");
    }

    #[test]
    fn only_failing_wsgate_runs_are_kept() {
        let failed = report("scenarios/a.toml", ProfileName::FrontDoor, &[], false);
        let mut finding = failed.clone();
        finding.target = Target::Peer(crate::peer::PeerKind::Nginx);
        let passed = report("scenarios/b.toml", ProfileName::FrontDoor, &[], true);
        let entries = failing(&[failed, finding, passed]);
        assert_eq!(entries.len(), 1);
        assert_eq!((entries[0].target.as_str(), entries[0].seed), ("sim", 1));
        assert_eq!(entries[0].found, "expected: x");
    }

    #[test]
    fn saving_adds_only_new_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corpus.toml");
        let e = Entry {
            scenario: "scenarios/a.toml".into(),
            target: "real".into(),
            seed: 5,
            found: "x".into(),
        };
        assert_eq!(save(&path, std::slice::from_ref(&e)).unwrap(), 1);
        assert_eq!(save(&path, std::slice::from_ref(&e)).unwrap(), 0);
        assert_eq!(load(&path).unwrap(), vec![e]);
        assert_eq!(load(&dir.path().join("none.toml")).unwrap(), vec![]);
    }
}
