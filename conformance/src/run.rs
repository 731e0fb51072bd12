//! Running a scenario on a target and judging every expectation against
//! what was observed.

use std::collections::BTreeMap;
use std::net::IpAddr;

use gateway::config::BackendAddr;
use gateway::ProfileName;
use sim::trace::TraceLine;

use crate::expect::{self, Context, Expect, Failure};
use crate::scenario::Scenario;
use crate::target;

/// How one run of a scenario went.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub seed: u64,
    /// The scenario's profile, which decides what a close means.
    pub profile: ProfileName,
    /// Each expectation and its verdict.
    pub checks: Vec<(Expect, Result<(), Failure>)>,
    /// Set when the run itself failed (a client script error, or the run
    /// outlived its time limit).
    pub error: Option<String>,
    pub lines: Vec<TraceLine>,
    /// Host names by address, for renderings.
    pub names: BTreeMap<IpAddr, String>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.checks.iter().all(|(_, r)| r.is_ok())
    }

    /// The full trace as text.
    pub fn trace(&self) -> String {
        sim::trace::render(&self.lines, &self.names)
    }

    /// The trace without per-message and routine probe lines, each 1006 a
    /// client saw followed by its cause (see [`crate::explain`]): what a
    /// person reads first, and what the snapshot tests keep.
    pub fn readable_trace(&self) -> String {
        crate::report::trace::readable(
            &self.lines,
            &self.names,
            self.profile,
            &crate::catalogue::requirements(),
        )
    }

    /// Every verdict, failures explained.
    pub fn report(&self) -> String {
        let mut out = String::new();
        if let Some(e) = &self.error {
            out.push_str(&format!("run failed: {}\n", e.lines().next().unwrap_or_default()));
        }
        for (expect, result) in &self.checks {
            match result {
                Err(f) => out.push_str(&format!("{f}\n")),
                Ok(()) => out.push_str(&format!("ok: {expect}\n")),
            }
        }
        out
    }
}

/// Derives the seed for run `index` of a sweep from the scenario's seed.
pub fn sweep_seed(base: u64, index: u64) -> u64 {
    if index == 0 {
        base
    } else {
        sim::world::derive_seed(base, &format!("sweep-{index}"))
    }
}

/// What judging needs to know about the scenario in the simulator.
pub fn context(scenario: &Scenario) -> Context {
    Context {
        instances: scenario.instances.clone(),
        backend_addrs: scenario
            .backends
            .iter()
            .map(|b| {
                (
                    b.name.clone(),
                    BackendAddr {
                        host: b.name.clone(),
                        port: b.port,
                    },
                )
            })
            .collect(),
        initially_healthy: scenario.initially_healthy(),
    }
}

/// Judges every expectation of `scenario` against an observed run.
pub fn judge(scenario: &Scenario, seed: u64, observed: target::Observed, ctx: &Context) -> Outcome {
    let checks = scenario
        .expects
        .iter()
        .map(|e| (e.clone(), expect::check(e, &observed.lines, ctx)))
        .collect();
    Outcome {
        seed,
        profile: scenario.profile,
        checks,
        error: observed.error,
        lines: observed.lines,
        names: observed.names,
    }
}

/// Runs `scenario` once with `seed` in the simulator.
pub fn run(scenario: &Scenario, seed: u64) -> Outcome {
    let observed = target::sim::run(scenario, seed);
    judge(scenario, seed, observed, &context(scenario))
}

/// The command that replays one run.
pub fn replay_command(scenario: &Scenario, seed: u64) -> String {
    format!(
        "cargo run --release -- run {} --seed {seed} --trace",
        scenario.path.display()
    )
}
