//! Every file under `scenarios/` is its own test in the simulator, named
//! `sim/<profile>/<file>/seed-<seed>`: `cargo test` runs them all, `cargo
//! test -- idle` the ones whose name contains "idle". Adding a file adds a
//! test. (`tests/targets.rs` runs the same files on real networks.)
//!
//! Each scenario runs twice with its seed; the traces must match byte for
//! byte, every expectation must hold, and the readable trace must match its
//! insta snapshot (`conformance/tests/snapshots/`; review changes with
//! `cargo insta review`). A file's `seeds = N`, or `WSGATE_SEEDS=N` (the
//! larger wins), adds N-1 derived seeds, each its own test, as does every
//! `sim` entry of the seed corpus (`conformance/seed-corpus.toml`), so
//! `cargo nextest run --partition hash:k/N` spreads a sweep over machines.
//!
//! One more test reads every file as text: each `[[expect]]` must say, in
//! `catches`, which wrong gateway it catches.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness fails loudly

use std::path::{Path, PathBuf};

use conformance::{corpus, run, scenario, suite};
use libtest_mimic::{Arguments, Failed, Trial};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// `WSGATE_JUDGE_ONLY=1`: judge the expectations and nothing else (no
/// second run for determinism, no snapshot). The mutation score uses it, so
/// that a mutant counts as caught only when an expectation fails.
fn judge_only() -> bool {
    std::env::var("WSGATE_JUDGE_ONLY").is_ok_and(|v| v == "1")
}

/// The scenario's own seed: run twice (determinism), judged, and its
/// readable trace compared with the snapshot.
fn check(scenario: &scenario::Scenario, name: &str) -> Result<(), Failed> {
    let first = run::run(scenario, scenario.seed);
    if judge_only() {
        return judge(scenario, &first);
    }
    let second = run::run(scenario, scenario.seed);
    if first.lines != second.lines || first.trace() != second.trace() {
        let diff = first
            .trace()
            .lines()
            .zip(second.trace().lines())
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("first difference:\n  {a}\n  {b}"))
            .or_else(|| {
                first
                    .lines
                    .iter()
                    .zip(&second.lines)
                    .find(|(a, b)| a != b)
                    .map(|(a, b)| format!("first typed difference:\n  {a:?}\n  {b:?}"))
            })
            .unwrap_or_else(|| "the traces differ in length".into());
        return Err(format!("the same seed gave two different traces; {diff}").into());
    }
    judge(scenario, &first)?;
    let snapshot = name.replace('/', "__");
    let trace = first.readable_trace();
    let result = std::panic::catch_unwind(|| {
        insta::with_settings!({
            snapshot_path => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"),
            prepend_module_to_snapshot => false,
            description => format!("readable trace of scenarios/{name}.toml"),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(snapshot.clone(), trace);
        });
    });
    result.map_err(|_| {
        Failed::from(format!(
            "the readable trace changed; review with `cargo insta review` (snapshot {snapshot})"
        ))
    })
}

/// Every expectation holds.
fn judge(scenario: &scenario::Scenario, outcome: &run::Outcome) -> Result<(), Failed> {
    if outcome.passed() {
        return Ok(());
    }
    Err(format!(
        "seed {}:\n{}replay: {}",
        outcome.seed,
        outcome.report(),
        run::replay_command(scenario, outcome.seed)
    )
    .into())
}

/// Further seeds: the file's `seeds`, or `WSGATE_SEEDS`, the larger.
fn further_seeds(scenario: &scenario::Scenario) -> Vec<u64> {
    let extra: u64 = std::env::var("WSGATE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(scenario.seeds);
    (1..extra).map(|i| run::sweep_seed(scenario.seed, i)).collect()
}

/// Every expectation in the library names the wrong gateway it catches.
fn every_expectation_names_what_it_catches(files: &[PathBuf]) -> Result<(), Failed> {
    let mut missing = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let table: toml::Table = text.parse().map_err(|e| format!("{}: {e}", path.display()))?;
        let expects = table
            .get("expect")
            .and_then(|e| e.as_array())
            .cloned()
            .unwrap_or_default();
        for (i, e) in expects.iter().enumerate() {
            if e.get("catches")
                .and_then(|c| c.as_str())
                .is_none_or(|c| c.trim().is_empty())
            {
                missing.push(format!("{} expect[{i}]", path.display()));
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("expectations without `catches`:\n{}", missing.join("\n")).into())
    }
}

fn main() {
    let args = Arguments::from_args();
    let root = root();
    let files = suite::discover(std::slice::from_ref(&root)).expect("scenarios/ is readable");
    let corpus_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("seed-corpus.toml");
    let corpus = corpus::load(&corpus_path).expect("the seed corpus parses");
    let all = files.clone();
    let mut trials = vec![Trial::test("every_expectation_names_what_it_catches", move || {
        every_expectation_names_what_it_catches(&all)
    })];
    let mut named = std::collections::BTreeSet::new();
    for path in files {
        let name = suite::scenario_name(&path);
        let scenario = match scenario::load(&path) {
            Ok(s) => std::sync::Arc::new(s),
            Err(e) => {
                let message = e.to_string();
                trials.push(Trial::test(format!("sim/{name}"), move || Err(message.into())));
                continue;
            }
        };
        let corpus_seeds = corpus
            .iter()
            .filter(|e| e.target == "sim" && suite::scenario_name(Path::new(&e.scenario)) == name)
            .map(|e| e.seed);
        let seeds = std::iter::once(scenario.seed)
            .chain(further_seeds(&scenario))
            .chain(corpus_seeds);
        for (i, seed) in seeds.enumerate() {
            let id = suite::RunId {
                target: conformance::target::Target::Sim,
                scenario: name.clone(),
                seed,
            };
            if !named.insert(id.to_string()) {
                continue;
            }
            let (scenario, name) = (std::sync::Arc::clone(&scenario), name.clone());
            trials.push(Trial::test(id.to_string(), move || {
                if i == 0 {
                    check(&scenario, &name)
                } else {
                    judge(&scenario, &run::run(&scenario, seed))
                }
            }));
        }
    }
    // An entry whose file is gone would otherwise never run again.
    for e in corpus.iter().filter(|e| e.target == "sim") {
        if !corpus::scenario_path(&root.join(".."), e).exists() {
            let (scenario, seed) = (e.scenario.clone(), e.seed);
            trials.push(Trial::test(
                format!("sim/{}/seed-{seed}", suite::scenario_name(Path::new(&scenario))),
                move || Err(format!("the seed corpus names {scenario}, which does not exist").into()),
            ));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
