//! A suite run: find scenario files, run each (under several seeds if
//! asked, twice per seed to prove determinism), grade the catalogue.

use std::path::{Path, PathBuf};

use crate::catalogue::ScenarioResult;
use crate::report::ScenarioReport;
use crate::run;
use crate::scenario::{self, Scenario, ScenarioError};

/// Every `.toml` file under `paths` (files are taken as given), sorted so
/// runs and reports are in a stable order.
pub fn discover(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Options for running scenarios.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Replace every scenario's seed.
    pub seed: Option<u64>,
    /// Run each scenario under this many derived seeds (at least 1);
    /// `None`: as many as the scenario's `seeds`.
    pub seeds: Option<u64>,
    /// Run each seed twice and compare traces byte for byte.
    pub check_determinism: bool,
}

/// Runs one loaded scenario under the options.
pub fn run_scenario(scenario: &Scenario, options: Options) -> ScenarioReport {
    let base = options.seed.unwrap_or(scenario.seed);
    let mut runs = Vec::new();
    let mut nondeterministic = false;
    let mut lines = Vec::new();
    let mut names = std::collections::BTreeMap::new();
    for i in 0..options.seeds.unwrap_or(scenario.seeds).max(1) {
        let seed = run::sweep_seed(base, i);
        let outcome = run::run(scenario, seed);
        if options.check_determinism {
            let again = run::run(scenario, seed);
            if again.trace() != outcome.trace() {
                nondeterministic = true;
            }
        }
        let mut text = if outcome.passed() {
            String::new()
        } else {
            outcome.report()
        };
        if !outcome.passed() {
            text.push_str(&format!("replay: {}\n", run::replay_command(scenario, seed)));
        }
        runs.push((seed, outcome.passed(), text));
        if i == 0 {
            lines = outcome.lines;
            names = outcome.names;
        }
    }
    ScenarioReport {
        name: scenario.name.clone(),
        path: scenario.path.display().to_string(),
        profile: scenario.profile,
        requirements: scenario.requirements.clone(),
        runs,
        nondeterministic,
        duration: scenario.duration,
        lines,
        names,
    }
}

/// Loads every file within `limits`; the errors of those that do not load.
pub fn load_all(files: &[PathBuf], limits: &scenario::Limits) -> (Vec<Scenario>, Vec<ScenarioError>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for f in files {
        match scenario::load_with(f, limits) {
            Ok(s) => ok.push(s),
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}

/// Scenario results as the catalogue grades them.
pub fn results(reports: &[ScenarioReport]) -> Vec<ScenarioResult> {
    reports
        .iter()
        .map(|r| ScenarioResult {
            name: r.path.clone(),
            profile: r.profile,
            requirements: r.requirements.clone(),
            passed: r.passed(),
        })
        .collect()
}
