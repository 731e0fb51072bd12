//! Every file under `scenarios/` is its own test: `cargo test` runs them
//! all, `cargo test -- idle` the ones whose name contains "idle". Adding a
//! file adds a test.
//!
//! Each scenario runs twice with its seed; the traces must match byte for
//! byte, every expectation must hold, and the readable trace must match its
//! insta snapshot (`conformance/tests/snapshots/`; review changes with
//! `cargo insta review`). A file's `seeds = N`, or `WSGATE_SEEDS=N` (the larger wins), also runs
//! N-1 derived seeds.
//!
//! One more test reads every file as text: each `[[expect]]` must say, in
//! `catches`, which wrong gateway it catches.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness fails loudly

use std::path::{Path, PathBuf};

use conformance::{run, scenario, suite};
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

fn check(path: &Path, name: &str) -> Result<(), Failed> {
    let scenario = scenario::load(path).map_err(|e| e.to_string())?;
    let first = run::run(&scenario, scenario.seed);
    if judge_only() {
        return judge_seeds(&scenario, &first);
    }
    let second = run::run(&scenario, scenario.seed);
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
    judge_seeds(&scenario, &first)?;
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

/// The first seed's outcome must pass, and so must every further seed's
/// (the file's `seeds`, or `WSGATE_SEEDS`, the larger).
fn judge_seeds(scenario: &scenario::Scenario, first: &run::Outcome) -> Result<(), Failed> {
    if !first.passed() {
        return Err(format!(
            "{}replay: {}",
            first.report(),
            run::replay_command(scenario, scenario.seed)
        )
        .into());
    }
    let extra: u64 = std::env::var("WSGATE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(scenario.seeds);
    for i in 1..extra {
        let seed = run::sweep_seed(scenario.seed, i);
        let outcome = run::run(scenario, seed);
        if !outcome.passed() {
            return Err(format!(
                "seed {seed}:\n{}replay: {}",
                outcome.report(),
                run::replay_command(scenario, seed)
            )
            .into());
        }
    }
    Ok(())
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
    let all = files.clone();
    let lint = Trial::test("every_expectation_names_what_it_catches", move || {
        every_expectation_names_what_it_catches(&all)
    });
    let trials = std::iter::once(lint)
        .chain(files.into_iter().map(|path| {
            let name = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .with_extension("")
                .display()
                .to_string()
                .replace('\\', "/");
            let test_name = name.clone();
            Trial::test(test_name, move || check(&path, &name))
        }))
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
