//! A suite run: find scenario files, run each on each target (under
//! several seeds if asked, twice per seed when the simulator's determinism
//! is to be checked), grade the catalogue. Sweeps split into shards
//! ([`Shard`]) by run name ([`RunId`]).

use std::path::{Path, PathBuf};

use crate::catalogue::ScenarioResult;
use crate::report::{CheckReport, CheckVerdict, Determinism, ScenarioReport, SeedRun};
use crate::run;
use crate::scenario::{self, Scenario, ScenarioError};
use crate::target::Target;

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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// Replace every scenario's seed.
    pub seed: Option<u64>,
    /// Run each scenario under this many derived seeds (at least 1);
    /// `None`: as many as the scenario's `seeds`.
    pub seeds: Option<u64>,
    /// Run each seed twice and compare the typed traces and their
    /// renderings (the simulator only: a real network never repeats).
    pub check_determinism: bool,
    /// What runs on real networks need.
    pub target: run::TargetOptions,
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

/// The seeds a scenario runs under: its own (or the one given), then
/// derived ones.
pub fn seeds(scenario: &Scenario, options: &Options) -> Vec<u64> {
    let base = options.seed.unwrap_or(scenario.seed);
    (0..options.seeds.unwrap_or(scenario.seeds).max(1))
        .map(|i| run::sweep_seed(base, i))
        .collect()
}

/// Runs one loaded scenario in the simulator under the options.
pub fn run_scenario(scenario: &Scenario, options: &Options) -> ScenarioReport {
    run_scenario_on(scenario, Target::Sim, options)
}

/// Runs one loaded scenario on `target` under the options: every seed, or
/// none when the target cannot run it (the report says why).
pub fn run_scenario_on(scenario: &Scenario, target: Target, options: &Options) -> ScenarioReport {
    run_seeds_on(scenario, target, &seeds(scenario, options), options)
}

/// Runs one loaded scenario on `target` under the given seeds.
pub fn run_seeds_on(scenario: &Scenario, target: Target, seeds: &[u64], options: &Options) -> ScenarioReport {
    let mut report = ScenarioReport {
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        path: scenario.path.display().to_string(),
        profile: scenario.profile,
        requirements: scenario.requirements.clone(),
        target,
        skipped: None,
        timing: None,
        runs: Vec::new(),
        checks: Vec::new(),
        duration: scenario.duration,
        lines: Vec::new(),
        names: std::collections::BTreeMap::new(),
    };
    for (i, &seed) in seeds.iter().enumerate() {
        let outcome = match run::run_on(target, scenario, seed, &options.target) {
            run::Attempt::Skipped(why) => {
                report.skipped = Some(why);
                return report;
            }
            run::Attempt::Ran(outcome) => *outcome,
        };
        if i == 0 && outcome.error.is_none() && outcome.all_skipped() {
            let reasons: Vec<&str> = outcome.skipped.iter().map(|(_, why)| why.as_str()).collect();
            report.skipped = Some(format!("every expectation is skipped: {}", reasons.join("; ")));
            return report;
        }
        let determinism = if options.check_determinism && target == Target::Sim {
            compare(&outcome, &run::run(scenario, seed))
        } else {
            Determinism::NotChecked
        };
        let replay = run::replay_on(scenario, seed, target, outcome.timing.map(|t| t.scale));
        report.runs.push(SeedRun {
            seed,
            passed: outcome.passed(),
            failures: if outcome.passed() {
                String::new()
            } else {
                outcome.report()
            },
            replay,
            determinism,
        });
        if i == 0 {
            report.timing = outcome.timing;
            report.checks = check_reports(scenario, target, &outcome);
            report.lines = outcome.lines;
            report.names = outcome.names;
        }
    }
    report
}

/// Each expectation's verdict in file order, with the lines it is about.
fn check_reports(scenario: &Scenario, target: Target, outcome: &run::Outcome) -> Vec<CheckReport> {
    let ctx = run::context(scenario);
    let mut judged = outcome.checks.iter();
    let mut skipped = outcome.skipped.iter();
    scenario
        .expects
        .iter()
        .filter_map(|e| {
            if crate::target::needs::expect_skip(e, target).is_some() {
                let (expect, why) = skipped.next()?;
                return Some(CheckReport {
                    expect: expect.to_string(),
                    verdict: CheckVerdict::Skip(why.clone()),
                    context: Vec::new(),
                });
            }
            let (expect, result) = judged.next()?;
            Some(match result {
                Ok(()) => CheckReport {
                    expect: expect.to_string(),
                    verdict: CheckVerdict::Pass,
                    context: crate::expect::judge::context_lines(expect, &outcome.lines, &ctx),
                },
                Err(f) => CheckReport {
                    expect: expect.to_string(),
                    verdict: CheckVerdict::Fail(f.actual.clone()),
                    context: f.context.clone(),
                },
            })
        })
        .collect()
}

/// One run of a sweep: a scenario file, a target and a seed. Its name is
/// the test name `cargo test` gives it, `TARGET/PATH/seed-SEED`, so a CI
/// shard of `wsgate run` and of `cargo nextest` split the same way.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RunId {
    pub target: Target,
    /// The scenario's path relative to `scenarios/`, without `.toml`.
    pub scenario: String,
    pub seed: u64,
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/seed-{}", self.target, self.scenario, self.seed)
    }
}

/// A scenario's name in test names: its path under `scenarios/` without
/// `.toml` (`front-door/idle-5-minutes-closes-with-1006`), or the path as
/// given when it is elsewhere.
pub fn scenario_name(path: &Path) -> String {
    let text = path.with_extension("").display().to_string().replace('\\', "/");
    match text.rsplit_once("scenarios/") {
        Some((_, rest)) => rest.to_string(),
        None => text.trim_start_matches("./").to_string(),
    }
}

/// `--shard k/N`: the k-th of N disjoint parts of a sweep, chosen by a
/// hash of each run's name so that adding a scenario moves no other run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// From 1.
    pub index: u64,
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("expected k/N with 1 <= k <= N, found `{s}`");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether the run named `name` is in this shard. Pure: the FNV-1a
    /// digest of the name, modulo N.
    pub fn holds(&self, name: &str) -> bool {
        backend::digest(name.as_bytes()) % self.count == self.index - 1
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
            skipped: r.skipped.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_every_run_exactly_once() {
        let names: Vec<String> = (0..200)
            .map(|i| {
                RunId {
                    target: Target::Real,
                    scenario: format!("front-door/s{i}"),
                    seed: i,
                }
                .to_string()
            })
            .collect();
        let shards: Vec<Shard> = (1..=3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        for name in &names {
            assert_eq!(shards.iter().filter(|s| s.holds(name)).count(), 1, "{name}");
        }
        for s in &shards {
            let n = names.iter().filter(|name| s.holds(name)).count();
            assert!(n > 30, "a shard of 200 runs holds {n}: the hash spreads them");
        }
        for bad in ["0/3", "4/3", "1/0", "x/2", "3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn run_names_are_test_names() {
        let id = RunId {
            target: Target::Sim,
            scenario: scenario_name(Path::new("scenarios/front-door/idle.toml")),
            seed: 7,
        };
        assert_eq!(id.to_string(), "sim/front-door/idle/seed-7");
        assert_eq!(scenario_name(Path::new("/x/wsgate/scenarios/a/b.toml")), "a/b");
        assert_eq!(scenario_name(Path::new("./mine/c.toml")), "mine/c");
    }
}
