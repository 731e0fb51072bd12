//! A suite run: find scenario files, run each (under several seeds if
//! asked, twice per seed when determinism is to be checked), grade the
//! catalogue.

use std::path::{Path, PathBuf};

use crate::catalogue::ScenarioResult;
use crate::report::{Determinism, ScenarioReport, SeedRun};
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
    /// Run each seed twice and compare the typed traces and their
    /// renderings.
    pub check_determinism: bool,
}

/// Whether two runs of one seed gave the same trace: equal typed lines and
/// byte-identical renderings, or the first difference. Pure.
pub fn compare(first: &run::Outcome, second: &run::Outcome) -> Determinism {
    if first.lines == second.lines && first.trace() == second.trace() {
        return Determinism::Identical;
    }
    let (a, b) = (first.trace(), second.trace());
    let text = a
        .lines()
        .zip(b.lines())
        .enumerate()
        .find(|(_, (x, y))| x != y)
        .map(|(n, (x, y))| format!("line {}: `{}` then `{}`", n + 1, x.trim(), y.trim()));
    let typed = || {
        first
            .lines
            .iter()
            .zip(&second.lines)
            .enumerate()
            .find(|(_, (x, y))| x != y)
            .map(|(n, (x, y))| format!("line {}: {x:?} then {y:?}", n + 1))
    };
    let diff = text.or_else(typed).unwrap_or_else(|| {
        format!(
            "the traces differ in length: {} then {} lines",
            first.lines.len(),
            second.lines.len()
        )
    });
    Determinism::Differs(diff)
}

/// Runs one loaded scenario under the options.
pub fn run_scenario(scenario: &Scenario, options: Options) -> ScenarioReport {
    let base = options.seed.unwrap_or(scenario.seed);
    let mut runs = Vec::new();
    let mut lines = Vec::new();
    let mut names = std::collections::BTreeMap::new();
    for i in 0..options.seeds.unwrap_or(scenario.seeds).max(1) {
        let seed = run::sweep_seed(base, i);
        let outcome = run::run(scenario, seed);
        let determinism = if options.check_determinism {
            compare(&outcome, &run::run(scenario, seed))
        } else {
            Determinism::NotChecked
        };
        runs.push(SeedRun {
            seed,
            passed: outcome.passed(),
            failures: if outcome.passed() {
                String::new()
            } else {
                outcome.report()
            },
            replay: run::replay_command(scenario, seed),
            determinism,
        });
        if i == 0 {
            lines = outcome.lines;
            names = outcome.names;
        }
    }
    ScenarioReport {
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        path: scenario.path.display().to_string(),
        profile: scenario.profile,
        requirements: scenario.requirements.clone(),
        runs,
        duration: scenario.duration,
        lines,
        names,
    }
}

/// Loads every file; the errors of those that do not load.
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
