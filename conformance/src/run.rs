//! Running a scenario on a target and judging every expectation against
//! what was observed.
//!
//! [`run`] runs the simulator; [`run_on`] any target: it skips what the
//! target cannot do ([`target::needs`]), picks a real run's time scale
//! ([`target::timing`]), scales the scenario and the gateway's plan, runs
//! it, and judges each expectation the target can be judged on, with its
//! time bounds widened by the run's tolerance.

use std::collections::BTreeMap;
use std::net::IpAddr;

use gateway::config::BackendAddr;
use gateway::ProfileName;
use sim::trace::TraceLine;

use std::time::Duration;

use crate::expect::{self, Context, Expect, Failure};
use crate::scenario::Scenario;
use crate::target::real::front::Front;
use crate::target::timing::{self, Timing};
use crate::target::{self, needs, Target};

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
    /// Where it ran.
    pub target: Target,
    /// Expectations this target cannot be judged on, with the reason.
    pub skipped: Vec<(Expect, String)>,
    /// A real run's time scale and tolerance (wall clock).
    pub timing: Option<RunTiming>,
}

/// The time scale a real-network run used and the tolerance its
/// expectations got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunTiming {
    pub scale: f64,
    pub tolerance: Duration,
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
        for (expect, why) in &self.skipped {
            out.push_str(&format!("skip: {expect}: {why}\n"));
        }
        out
    }

    /// Whether nothing could be judged: every expectation was skipped.
    pub fn all_skipped(&self) -> bool {
        self.checks.is_empty() && !self.skipped.is_empty()
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
        target: Target::Sim,
        skipped: Vec::new(),
        timing: None,
    }
}

/// Judges what a run on `target` observed: expectations the target cannot
/// be judged on are skipped with the reason, and the others' time bounds
/// are widened by `tolerance` (zero in the simulator, where time is exact).
pub fn judge_on(
    target: Target,
    scenario: &Scenario,
    seed: u64,
    observed: target::Observed,
    ctx: &Context,
    tolerance: Duration,
) -> Outcome {
    let mut checks = Vec::new();
    let mut skipped = Vec::new();
    for e in &scenario.expects {
        match needs::expect_skip(e, target) {
            Some(why) => skipped.push((e.clone(), why)),
            None if tolerance.is_zero() => checks.push((e.clone(), expect::check(e, &observed.lines, ctx))),
            None => {
                // Edges known only to the tolerance: the wider window for
                // what must happen, the narrower for what must not.
                let wide = e.widened(tolerance);
                let verdict =
                    expect::check(&wide, &observed.lines, ctx).or_else(|failure| match e.narrowed(tolerance) {
                        Some(narrow) if expect::check(&narrow, &observed.lines, ctx).is_ok() => Ok(()),
                        _ => Err(failure),
                    });
                checks.push((wide, verdict));
            }
        }
    }
    Outcome {
        seed,
        profile: scenario.profile,
        checks,
        error: observed.error,
        lines: observed.lines,
        names: observed.names,
        target,
        skipped,
        timing: None,
    }
}

/// What runs on a target need besides the scenario.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetOptions {
    /// A real run's scale, limit and tolerance.
    pub timing: Timing,
    /// Where an external gateway and its backends are.
    pub external: Option<target::External>,
}

/// A run on a target, or why it did not run.
#[derive(Debug, Clone)]
pub enum Attempt {
    Ran(Box<Outcome>),
    Skipped(String),
}

/// The longest clients may take to finish after a real run's end: the
/// simulator's minute, scaled, at least 2 s and at most a minute of wall
/// time.
fn margin(k: f64) -> Duration {
    Duration::from_secs(60)
        .div_f64(k)
        .clamp(Duration::from_secs(2), Duration::from_secs(60))
}

/// The time scale a real run of `scenario` on `target` uses, or why it is
/// skipped: [`timing::choose`] under the limit, with the peer's cap
/// ([`timing::peer_cap`]) on the scales `auto` may pick. Pure.
pub fn scale_for(target: Target, scenario: &Scenario, timing: &Timing) -> Result<f64, String> {
    let cap = match target {
        Target::Peer(kind) => scenario
            .config
            .validate()
            .ok()
            .and_then(|plan| timing::peer_cap(kind, needs::shortest_idle(&plan), needs::after_restart(scenario))),
        _ => None,
    };
    match cap {
        Some((k, why)) if k < timing.max_scale => {
            let capped = Timing {
                max_scale: k,
                ..*timing
            };
            timing::choose(scenario.duration, &capped).map_err(|e| format!("{e} ({why})"))
        }
        _ => timing::choose(scenario.duration, timing),
    }
}

/// Runs `scenario` once with `seed` on `target`, or says why it cannot.
pub fn run_on(target: Target, scenario: &Scenario, seed: u64, options: &TargetOptions) -> Attempt {
    if let Some(why) = needs::scenario_skip(scenario, target) {
        return Attempt::Skipped(why);
    }
    if target == Target::Sim {
        return Attempt::Ran(Box::new(run(scenario, seed)));
    }
    let k = match scale_for(target, scenario, &options.timing) {
        Ok(k) => k,
        Err(why) => return Attempt::Skipped(why),
    };
    let scaled = scenario.time_scaled(k);
    let tolerance = timing::tolerance(&options.timing, scaled.latency);
    let front = match front(target, scenario, k, options) {
        Ok(f) => f,
        Err(e) => {
            let observed = target::Observed {
                error: Some(e),
                ..target::Observed::default()
            };
            return Attempt::Ran(Box::new(judge_on(
                target,
                &scaled,
                seed,
                observed,
                &context(&scaled),
                tolerance,
            )));
        }
    };
    let observed = target::real::run(target::real::Run {
        scenario: &scaled,
        front,
        seed,
        backend_addrs: options.external.as_ref().map(|e| e.backends.clone()),
        margin: margin(k),
    });
    let mut outcome = judge_on(target, &scaled, seed, observed, &context(&scaled), tolerance);
    outcome.timing = Some(RunTiming { scale: k, tolerance });
    Attempt::Ran(Box::new(outcome))
}

/// The gateway side of a real run, with its plan scaled by `k`.
fn front(target: Target, scenario: &Scenario, k: f64, options: &TargetOptions) -> Result<Front, String> {
    let (plan, material) = gateway::Plan::resolve(&scenario.config).map_err(|e| format!("the gateway config: {e}"))?;
    // Origins are meant to be equally near unless a backend's probes answer
    // late on purpose; only then is a probe's round trip a signal to keep.
    let slack = match needs::late_probes(scenario) {
        Some(_) => std::time::Duration::ZERO,
        None => options.timing.tolerance,
    };
    match target {
        Target::Sim | Target::Real => Ok(Front::Wsgate {
            plan: timing::wall_clock_plan(&plan, k, slack),
            material,
            scale: k,
            slack,
        }),
        Target::Peer(kind) => Ok(Front::Peer {
            kind,
            plan: plan.time_scaled(k),
            policies: crate::peer::Policies::from_config(&scenario.config),
        }),
        Target::External => {
            let external = options
                .external
                .as_ref()
                .ok_or("the external target needs --url and --backend-listen")?;
            if external.backends.len() != scenario.backends.len() {
                return Err(format!(
                    "the scenario has {} backends and --backend-listen gave {} addresses",
                    scenario.backends.len(),
                    external.backends.len()
                ));
            }
            Ok(Front::External { addr: external.addr })
        }
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

/// The command that replays one run on `target` (at the scale it ran at).
pub fn replay_on(scenario: &Scenario, seed: u64, target: Target, scale: Option<f64>) -> String {
    match (target, scale) {
        (Target::Sim, _) => replay_command(scenario, seed),
        (t, Some(k)) => format!(
            "cargo run --release -- run {} --seed {seed} --target {t} --time-scale {k} --trace",
            scenario.path.display()
        ),
        (t, None) => format!(
            "cargo run --release -- run {} --seed {seed} --target {t} --trace",
            scenario.path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::peer::PeerKind;
    use sim::client::{ClientEvent, CloseCause};
    use sim::trace::{TraceEvent, TraceLine};

    fn scenario() -> Scenario {
        crate::scenario::parse(
            r#"
name = "windows"
profile = "application-gateway"
seed = 1
duration = "1m"
[[backends]]
name = "b1"
[[clients]]
name = "c1"
[[requests]]
name = "r1"
[[expect]]
client = "c1"
closed = 1006
between = ["10s", "10.01s"]
[[expect]]
backend = "b1"
requests = 0
between = ["20s", "40s"]
[[expect]]
backend = "b1"
health = "healthy"
at = "5s"
"#,
            Path::new("windows.toml"),
        )
        .expect("parses")
    }

    fn request_at(ms: u64) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(ms),
            source: "b1".into(),
            event: TraceEvent::Backend(backend::BackendEvent::Request(backend::SeenRequest {
                method: "GET".into(),
                uri: "/api".into(),
                headers: vec![],
                body_len: 0,
            })),
        }
    }

    fn close_at(ms: u64) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(ms),
            source: "c1".into(),
            event: TraceEvent::Client(ClientEvent::Closed {
                code: 1006,
                cause: CloseCause::NoFrame,
            }),
        }
    }

    fn verdicts(target: Target, lines: Vec<TraceLine>, tolerance: Duration) -> Vec<bool> {
        let s = scenario();
        let observed = target::Observed {
            lines,
            ..target::Observed::default()
        };
        let outcome = judge_on(target, &s, 1, observed, &context(&s), tolerance);
        outcome.checks.iter().map(|(_, r)| r.is_ok()).collect()
    }

    #[test]
    fn a_real_run_tolerates_edges_both_ways_but_not_the_middle() {
        let tol = Duration::from_millis(150);
        // A close 100 ms late, a request 100 ms into the quiet window.
        let edges = vec![close_at(10_110), request_at(20_100)];
        assert_eq!(verdicts(Target::Real, edges.clone(), tol)[..2], [true, true]);
        assert_eq!(
            verdicts(Target::Sim, edges, Duration::ZERO)[..2],
            [false, false],
            "the simulator's windows are exact"
        );
        // Well inside or well outside is wrong whatever the tolerance.
        let wrong = vec![close_at(11_000), request_at(30_000)];
        assert_eq!(verdicts(Target::Real, wrong, tol)[..2], [false, false]);
    }

    #[test]
    fn a_peer_skips_what_needs_the_gateway_trace() {
        let s = scenario();
        let outcome = judge_on(
            Target::Peer(PeerKind::Haproxy),
            &s,
            1,
            target::Observed::default(),
            &context(&s),
            Duration::from_millis(150),
        );
        assert_eq!(outcome.checks.len(), 2);
        assert_eq!(outcome.skipped.len(), 1);
        assert!(outcome.skipped[0].1.contains("gateway's own trace"));
        assert!(outcome.report().contains("skip: b1 healthy at 5.000s"));
    }
}
