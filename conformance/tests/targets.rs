//! Every file under `scenarios/` on real networks, each scenario × seed ×
//! target its own test, named `TARGET/<profile>/<file>/seed-<seed>`, so
//! `cargo nextest run --partition hash:k/N` spreads them over machines:
//!
//! - `real/...`: wsgate on loopback sockets in wall-clock time, at the
//!   smallest time scale that fits [`WALL_LIMIT`] (at most [`MAX_SCALE`]);
//!   every expectation must hold, as it does in the simulator
//!   (`tests/scenarios.rs`): this is the simulator's fidelity. `real`
//!   entries of the seed corpus (`seed-corpus.toml`) run too.
//! - `nginx/...`, `haproxy/...`: the peer, configured from the scenario.
//!   A failure there is a finding, not a bug, so the test checks that the
//!   peer fails exactly the expectations `peer-findings.toml` records for
//!   it (none unless listed): a change in either direction fails, and the
//!   record (and `TARGETS.md`, written from it) stays true. A peer that is
//!   not installed passes with a printed "skipped" line; CI installs both.
//!
//! A scenario a target cannot run (too long at a sane scale, or needing
//! what the target lacks) is listed as ignored, with its reason printed.
//! Real runs mostly wait, so [`THREADS`] run at once unless
//! `--test-threads` says otherwise. `WSGATE_WALL_LIMIT=30s` raises the
//! limit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness fails loudly

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use conformance::peer::{which, PeerKind};
use conformance::run::{self, Attempt, TargetOptions};
use conformance::target::timing::Timing;
use conformance::target::{needs, Target};
use conformance::{corpus, scenario, suite};
use libtest_mimic::{Arguments, Failed, Trial};
use serde::Deserialize;

/// The longest a real run may take here.
const WALL_LIMIT: Duration = Duration::from_secs(8);
/// The largest time scale a run here may use: beyond it the tolerance
/// (150 ms of wall time) is more than 30 s of scenario time.
const MAX_SCALE: f64 = 200.0;
/// Runs at once: they mostly sleep, and 2 cores serve this many with
/// scheduling delays well inside the tolerance.
const THREADS: usize = 12;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn timing() -> Timing {
    let limit = std::env::var("WSGATE_WALL_LIMIT")
        .ok()
        .and_then(|v| v.parse::<humantime::Duration>().ok())
        .map_or(WALL_LIMIT, Into::into);
    Timing {
        limit,
        max_scale: MAX_SCALE,
        ..Timing::default()
    }
}

/// One recorded finding: a peer failing a scenario's expectations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Finding {
    target: String,
    scenario: String,
    /// The failing expectations, 1-based in file order.
    fails: Vec<usize>,
    /// The outcome turns on a race on the real network (`why` names it):
    /// the peer fails exactly `fails`, or passes.
    #[serde(default)]
    racy: bool,
    #[allow(dead_code)] // read by people, in TARGETS.md
    why: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Findings {
    #[serde(default)]
    finding: Vec<Finding>,
}

/// What a peer is recorded to fail on a scenario.
#[derive(Debug, Clone, Default)]
struct Recorded {
    fails: Vec<usize>,
    racy: bool,
}

impl Recorded {
    fn matches(&self, fails: &[usize]) -> bool {
        fails == self.fails || (self.racy && fails.is_empty())
    }
}

fn findings() -> BTreeMap<(String, String), Recorded> {
    let path = manifest().join("peer-findings.toml");
    let text = std::fs::read_to_string(&path).expect("peer-findings.toml is readable");
    let parsed: Findings = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parsed
        .finding
        .into_iter()
        .map(|f| {
            (
                (f.target, f.scenario),
                Recorded {
                    fails: f.fails,
                    racy: f.racy,
                },
            )
        })
        .collect()
}

/// The expectations (1-based, file order) an outcome failed.
fn failing(scenario: &scenario::Scenario, target: Target, outcome: &run::Outcome) -> Vec<usize> {
    let mut judged = outcome.checks.iter();
    let mut out = Vec::new();
    for (i, e) in scenario.expects.iter().enumerate() {
        if needs::expect_skip(e, target).is_some() {
            continue;
        }
        if let Some((_, Err(_))) = judged.next() {
            out.push(i + 1);
        }
    }
    out
}

fn real(scenario: &scenario::Scenario, seed: u64) -> Result<(), Failed> {
    let options = TargetOptions {
        timing: timing(),
        external: None,
    };
    match run::run_on(Target::Real, scenario, seed, &options) {
        Attempt::Skipped(why) => {
            println!("skipped: {why}");
            Ok(())
        }
        Attempt::Ran(outcome) if outcome.passed() => Ok(()),
        Attempt::Ran(outcome) => {
            let scale = outcome.timing.map(|t| t.scale);
            Err(format!(
                "wsgate on a real network disagrees with the simulator (see TARGETS.md):\n{}replay: {}",
                outcome.report(),
                run::replay_on(scenario, seed, Target::Real, scale)
            )
            .into())
        }
    }
}

fn peer(kind: PeerKind, scenario: &scenario::Scenario, name: &str, recorded: &Recorded) -> Result<(), Failed> {
    if which(kind.binary()).is_none() {
        println!("skipped: {kind} is not installed (apt-get install {kind})");
        return Ok(());
    }
    let target = Target::Peer(kind);
    let options = TargetOptions {
        timing: timing(),
        external: None,
    };
    let outcome = match run::run_on(target, scenario, scenario.seed, &options) {
        Attempt::Skipped(why) => {
            println!("skipped: {why}");
            return Ok(());
        }
        Attempt::Ran(o) => o,
    };
    if let Some(e) = &outcome.error {
        return Err(format!("the run on {kind} failed: {e}").into());
    }
    let fails = failing(scenario, target, &outcome);
    if recorded.matches(&fails) {
        if !fails.is_empty() {
            println!("{kind} differs from the documents on expectations {fails:?}, as recorded");
        }
        return Ok(());
    }
    let scale = outcome.timing.map(|t| t.scale);
    Err(format!(
        "{kind} failed expectations {fails:?} of {name}; peer-findings.toml records {:?}{}. \
         Update the record and TARGETS.md if the change is understood.\n{}replay: {}",
        recorded.fails,
        if recorded.racy { " (or a pass: racy)" } else { "" },
        outcome.report(),
        run::replay_on(scenario, scenario.seed, target, scale)
    )
    .into())
}

/// Runs a wall-clock trial, and once more if it fails: on a loaded machine
/// a scaled run's timing can move enough to change one outcome (which of
/// two members a round robin reached first, whether a probe answered before
/// the first client). A disagreement that repeats fails the test, with both
/// reports; one that does not is printed, so it stays visible.
fn twice(run: impl Fn() -> Result<(), Failed>) -> Result<(), Failed> {
    let Err(first) = run() else {
        return Ok(());
    };
    match run() {
        Ok(()) => {
            println!(
                "passed on the second attempt; the first disagreed:\n{}",
                first.message().unwrap_or_default()
            );
            Ok(())
        }
        Err(second) => Err(format!(
            "{}\n(the first attempt also failed:)\n{}",
            second.message().unwrap_or_default(),
            first.message().unwrap_or_default()
        )
        .into()),
    }
}

fn main() {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(THREADS);
    }
    let root = manifest().join("../scenarios");
    let files: Vec<PathBuf> = suite::discover(std::slice::from_ref(&root)).expect("scenarios/ is readable");
    let corpus = corpus::load(&manifest().join("seed-corpus.toml")).expect("the seed corpus parses");
    let findings = Arc::new(findings());
    let mut trials = Vec::new();
    let mut names = BTreeSet::new();
    for path in &files {
        let name = suite::scenario_name(path);
        let scenario = Arc::new(scenario::load(path).expect("every scenario loads (tests/scenarios.rs says why not)"));
        let corpus_seeds = corpus
            .iter()
            .filter(|e| e.target == "real" && suite::scenario_name(Path::new(&e.scenario)) == name)
            .map(|e| e.seed);
        for target in [
            Target::Real,
            Target::Peer(PeerKind::Nginx),
            Target::Peer(PeerKind::Haproxy),
        ] {
            let seeds: Vec<u64> = match target {
                Target::Real => std::iter::once(scenario.seed).chain(corpus_seeds.clone()).collect(),
                _ => vec![scenario.seed],
            };
            // In run_on's order: what the target lacks, then time.
            let skip =
                needs::scenario_skip(&scenario, target).or_else(|| run::scale_for(target, &scenario, &timing()).err());
            for seed in seeds {
                let id = suite::RunId {
                    target,
                    scenario: name.clone(),
                    seed,
                }
                .to_string();
                if !names.insert(id.clone()) {
                    continue;
                }
                if let Some(why) = &skip {
                    println!("ignored {id}: {why}");
                    trials.push(Trial::test(id, || Ok(())).with_ignored_flag(true));
                    continue;
                }
                let (scenario, name, findings) = (Arc::clone(&scenario), name.clone(), Arc::clone(&findings));
                trials.push(Trial::test(id, move || {
                    twice(|| match target {
                        Target::Peer(kind) => {
                            let recorded = findings
                                .get(&(kind.to_string(), name.clone()))
                                .cloned()
                                .unwrap_or_default();
                            peer(kind, &scenario, &name, &recorded)
                        }
                        _ => real(&scenario, seed),
                    })
                }));
            }
        }
    }
    // A recorded finding for a scenario that no longer exists is stale.
    for (target, scenario) in findings.keys() {
        if !files.iter().any(|f| &suite::scenario_name(f) == scenario) {
            let message = format!("peer-findings.toml records {target} on {scenario}, which does not exist");
            trials.push(Trial::test(format!("{target}/{scenario}/recorded"), move || {
                Err(message.into())
            }));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
