//! `wsgate run`: load scenario files, run each on each target, print
//! verdicts (and, with `--compare`, where two targets disagree), the
//! matrix and a closing `N passed, N failed` line, and write the reports.
//!
//! What gets printed is decided by pure functions ([`scenario_block`],
//! [`footer`], [`succeeded`]); [`run`] only loads, runs, prints and
//! writes. Runs on real networks spend most of their time waiting, so
//! several run at once (`--jobs`); their blocks print in file order.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::Mutex;

use crate::catalogue::{self, Requirement};
use crate::report::{self, compare, markdown, Matrix, MatrixScope, ScenarioReport, TargetGrades, Verdict};
use crate::scenario::Scenario;
use crate::suite::{self, RunId, Shard};
use crate::target::timing::Timing;
use crate::target::{External, Target};

/// Which trace `--trace` prints under each scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceMode {
    /// Without chatter, with host names and close causes.
    Readable,
    /// Every line.
    Full,
}

/// What `wsgate run` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// Files or folders; empty means `scenarios/`.
    pub paths: Vec<PathBuf>,
    pub seed: Option<u64>,
    /// `None`: each scenario's own `seeds`.
    pub seeds: Option<u64>,
    pub trace: Option<TraceMode>,
    pub out: Option<PathBuf>,
    pub check_determinism: bool,
    pub matrix: MatrixScope,
    /// How large a scenario may be; larger ones are refused before any runs.
    pub limits: crate::scenario::Limits,
    /// Where to run: `sim` unless told.
    pub targets: Vec<Target>,
    /// A real run's scale, wall-clock limit and tolerance.
    pub timing: Timing,
    /// `--url` and `--backend-listen`, for `--target external`.
    pub external: Option<External>,
    /// Also run this target and print where the two disagree.
    pub compare: Option<Target>,
    /// Count failures on gateways other than wsgate (findings) too.
    pub strict: bool,
    /// Only this part of the sweep.
    pub shard: Option<Shard>,
    /// Append failing seeds of wsgate targets to this corpus file.
    pub save_failing_seeds: Option<PathBuf>,
    /// How many runs at once (`None`: 1 in the simulator only, else 8).
    pub jobs: Option<usize>,
    /// A gateway config to run in place of each scenario's own
    /// (`--config`): scenarios of another profile are skipped, with why.
    pub config: Option<PathBuf>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            paths: Vec::new(),
            seed: None,
            seeds: None,
            trace: None,
            out: None,
            check_determinism: false,
            matrix: MatrixScope::default(),
            limits: crate::scenario::Limits::default(),
            config: None,
            targets: vec![Target::Sim],
            timing: Timing::default(),
            external: None,
            compare: None,
            strict: false,
            shard: None,
            save_failing_seeds: None,
            jobs: None,
        }
    }
}

impl Args {
    /// The targets to run: those asked for, then the `--compare` one.
    pub fn all_targets(&self) -> Vec<Target> {
        let mut all = self.targets.clone();
        if let Some(c) = self.compare.filter(|c| !all.contains(c)) {
            all.push(c);
        }
        all
    }

    /// Jobs at once: as given; else 8 when a real network is involved
    /// (those wait on wall-clock time, not CPU); else one per core, since
    /// each simulated run is one thread's CPU work, and each world is built
    /// and run inside its own thread, so parallel runs do not change a
    /// trace.
    fn jobs(&self) -> usize {
        self.jobs
            .unwrap_or_else(|| {
                if self.all_targets().iter().any(|t| t.is_real_network()) {
                    8
                } else {
                    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
                }
            })
            .max(1)
    }
}

/// The lines printed for one scenario on one target: its verdict, what
/// failed or why it was skipped, and the trace when asked. The target is
/// named unless only the simulator runs. Pure.
pub fn scenario_block(
    r: &ScenarioReport,
    trace: Option<TraceMode>,
    catalogue: &[Requirement],
    show_target: bool,
) -> String {
    let mut out = if show_target {
        format!("{:<4}  {:<8} {}", r.verdict().word(), r.target.as_str(), r.path)
    } else {
        format!("{:<4}  {}", r.verdict().word(), r.path)
    };
    if let Some(t) = r.timing {
        out.push_str(&format!(
            "  (scale {}, tolerance {})",
            t.scale,
            crate::expect::secs(t.tolerance)
        ));
    }
    if r.is_finding() {
        out.push_str(&format!("  (a finding: where {} differs from the documents)", r.target));
    }
    out.push('\n');
    let indent = |text: &str| text.lines().map(|l| format!("      {l}\n")).collect::<String>();
    if let Some(why) = &r.skipped {
        out.push_str(&indent(&format!("skipped: {why}")));
        return out;
    }
    for run in &r.runs {
        if !run.passed {
            out.push_str(&indent(&format!("{}replay: {}", run.failures, run.replay)));
        }
        if let report::Determinism::Differs(diff) = &run.determinism {
            out.push_str(&indent(&format!(
                "seed {} gave two different traces; {diff}\nreplay: {}",
                run.seed, run.replay
            )));
        }
    }
    if r.passed() {
        for (expect, why) in r.skipped_checks() {
            out.push_str(&indent(&format!("skip: {expect}: {why}")));
        }
    }
    match trace {
        Some(TraceMode::Readable) => {
            out.push_str(&r.readable_trace(catalogue));
            out.push('\n');
        }
        Some(TraceMode::Full) => {
            out.push_str(&r.full_trace());
            out.push('\n');
        }
        None => {}
    }
    out
}

/// Each target's grades, in the order given.
pub fn grades_by_target(catalogue: &[Requirement], reports: &[ScenarioReport], targets: &[Target]) -> TargetGrades {
    targets
        .iter()
        .map(|t| {
            let mine: Vec<ScenarioReport> = reports.iter().filter(|r| r.target == *t).cloned().collect();
            (*t, catalogue::grade(catalogue, &suite::results(&mine)))
        })
        .collect()
}

/// Whether the run succeeded: everything loaded, and nothing failed on a
/// wsgate target (or, with `strict`, on any target). Pure.
pub fn succeeded(reports: &[ScenarioReport], load_errors: usize, strict: bool) -> bool {
    load_errors == 0
        && reports
            .iter()
            .all(|r| r.verdict() != Verdict::Fail || (r.is_finding() && !strict))
}

/// Everything after the scenarios: the matrix, the rows left out, the
/// tally, determinism, skips and findings, and the closing `N passed, N
/// failed` line. Pure.
pub fn footer(
    matrix: &Matrix<'_>,
    graded: &TargetGrades,
    reports: &[ScenarioReport],
    load_errors: usize,
    written_to: Option<&Path>,
) -> String {
    let mut out = String::from("\n");
    let empty = report::Grades::new();
    let first = graded.first().map_or(&empty, |(_, g)| g);
    if graded.len() > 1 {
        out.push_str(&report::matrix_text_by_target(&matrix.shown, graded));
    } else {
        out.push_str(&report::matrix_text(&matrix.shown, first));
    }
    if let Some(note) = matrix.left_out_note(first) {
        out.push_str(&format!("({note})\n"));
    }
    out.push('\n');
    for (t, grades) in graded {
        let label = if graded.len() > 1 {
            format!("requirements on {t}")
        } else {
            "requirements".to_string()
        };
        out.push_str(&format!(
            "{label}: {}\n",
            report::tally_line(&report::tally(&matrix.shown, grades))
        ));
    }
    out.push_str(&format!("determinism: {}\n", markdown::determinism_summary(reports)));
    if let Some(dir) = written_to {
        out.push_str(&format!(
            "reports written to {} (index.html, report.md, junit.xml, report.json, timelines/, traces/)\n",
            dir.display()
        ));
    }
    let skipped = reports.iter().filter(|r| r.verdict() == Verdict::Skip).count();
    if skipped > 0 {
        out.push_str(&format!("{skipped} skipped, each with its reason above\n"));
    }
    let findings: Vec<&ScenarioReport> = reports.iter().filter(|r| r.is_finding()).collect();
    if !findings.is_empty() {
        let mut targets: Vec<String> = findings.iter().map(|r| r.target.to_string()).collect();
        targets.dedup();
        out.push_str(&format!(
            "{} of the failures are findings on {}: where that gateway differs from the documents (they fail the run \
             only with --strict)\n",
            findings.len(),
            targets.join(", ")
        ));
    }
    let passed = reports.iter().filter(|r| r.verdict() == Verdict::Pass).count();
    let failed = reports.iter().filter(|r| r.verdict() == Verdict::Fail).count() + load_errors;
    out.push_str(&format!("{passed} passed, {failed} failed\n"));
    out
}

/// Writes every report into `dir`.
pub fn write_reports(
    dir: &Path,
    matrix: &Matrix<'_>,
    graded: &TargetGrades,
    reports: &[ScenarioReport],
    catalogue: &[Requirement],
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("report.md"),
        markdown::markdown(matrix, graded, reports, catalogue),
    )?;
    let junit = report::junit::junit(reports, catalogue).map_err(io::Error::other)?;
    std::fs::write(dir.join("junit.xml"), junit)?;
    let json = report::json::json(matrix, graded, reports, catalogue).map_err(io::Error::other)?;
    std::fs::write(dir.join("report.json"), json)?;
    std::fs::write(
        dir.join("index.html"),
        report::html::html(matrix, graded, reports, catalogue),
    )?;
    let timelines = dir.join("timelines");
    let traces = dir.join("traces");
    std::fs::create_dir_all(&timelines)?;
    std::fs::create_dir_all(&traces)?;
    for r in reports.iter().filter(|r| r.skipped.is_none()) {
        let slug = r.slug();
        let mut subtitle = format!(
            "{} · {} · {} · seed {}",
            r.path,
            r.profile,
            r.target,
            r.runs.first().map_or(0, |s| s.seed)
        );
        if let Some(t) = r.timing {
            subtitle.push_str(&format!(" · scale {} (times are wall-clock)", t.scale));
        }
        std::fs::write(
            timelines.join(format!("{slug}.svg")),
            report::svg::svg(&r.name, &subtitle, &r.lines, r.duration_run(), r.profile, catalogue),
        )?;
        std::fs::write(traces.join(format!("{slug}.txt")), r.readable_trace(catalogue))?;
        std::fs::write(traces.join(format!("{slug}.full.txt")), r.full_trace())?;
    }
    Ok(())
}

/// The seeds of `scenario` on `target` that this shard runs.
fn shard_seeds(scenario: &Scenario, target: Target, options: &suite::Options, shard: Option<Shard>) -> Vec<u64> {
    suite::seeds(scenario, options)
        .into_iter()
        .filter(|&seed| {
            shard.is_none_or(|s| {
                s.holds(
                    &RunId {
                        target,
                        scenario: suite::scenario_name(&scenario.path),
                        seed,
                    }
                    .to_string(),
                )
            })
        })
        .collect()
}

/// Runs every (scenario, target) job on `jobs` threads, handing each
/// report to `done` in job order as soon as it and those before it are in.
fn run_jobs(
    jobs: &[(&Scenario, Target, Vec<u64>)],
    options: &suite::Options,
    threads: usize,
    mut done: impl FnMut(ScenarioReport) -> io::Result<()>,
) -> io::Result<()> {
    let next = Mutex::new(0usize);
    let (tx, rx) = mpsc::channel::<(usize, ScenarioReport)>();
    std::thread::scope(|scope| {
        for _ in 0..threads.min(jobs.len()).max(1) {
            let (tx, next) = (tx.clone(), &next);
            scope.spawn(move || loop {
                let i = {
                    let mut n = next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some((scenario, target, seeds)) = jobs.get(i) else {
                    return;
                };
                let report = suite::run_seeds_on(scenario, *target, seeds, options);
                if tx.send((i, report)).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut waiting = std::collections::BTreeMap::new();
        let mut want = 0;
        for (i, report) in rx {
            waiting.insert(i, report);
            while let Some(r) = waiting.remove(&want) {
                done(r)?;
                want += 1;
            }
        }
        Ok(())
    })
}

/// Runs the flow, printing to `out` and `err`; returns whether it
/// succeeded (see [`succeeded`]).
pub fn run_with(args: &Args, out: &mut impl Write, err: &mut impl Write) -> io::Result<bool> {
    let files = match suite::discover(&super::default_paths(&args.paths)) {
        Ok(f) => f,
        Err(e) => {
            writeln!(err, "wsgate: {e}")?;
            return Ok(false);
        }
    };
    let targets = args.all_targets();
    if targets.contains(&Target::External) && args.external.is_none() {
        writeln!(
            err,
            "wsgate: --target external needs --url ws://HOST:PORT and --backend-listen ADDR (one per backend)"
        )?;
        return Ok(false);
    }
    let (mut scenarios, errors) = suite::load_all(&files, &args.limits);
    for e in &errors {
        writeln!(err, "{e}")?;
    }
    if let Some(path) = &args.config {
        let user = match gateway::Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                writeln!(err, "{e}")?;
                return Ok(false);
            }
        };
        writeln!(out, "{}", with_config_header(path, &user))?;
        scenarios = with_config(&user, scenarios, out)?;
    }
    let options = suite::Options {
        seed: args.seed,
        seeds: args.seeds,
        check_determinism: args.check_determinism,
        target: crate::run::TargetOptions {
            timing: args.timing,
            external: args.external.clone(),
        },
    };
    let mut jobs: Vec<(&Scenario, Target, Vec<u64>)> = Vec::new();
    for s in &scenarios {
        for t in &targets {
            let seeds = shard_seeds(s, *t, &options, args.shard);
            if !seeds.is_empty() {
                jobs.push((s, *t, seeds));
            }
        }
    }
    let catalogue = catalogue::requirements();
    let show_target = targets != [Target::Sim];
    let mut reports = Vec::new();
    run_jobs(&jobs, &options, args.jobs(), |r| {
        write!(out, "{}", scenario_block(&r, args.trace, &catalogue, show_target))?;
        out.flush()?;
        reports.push(r);
        Ok(())
    })?;
    if let Some(other) = args.compare {
        write!(out, "{}", compare_section(&reports, &args.targets, other))?;
    }
    if let Some(path) = &args.save_failing_seeds {
        match crate::corpus::save(path, &crate::corpus::failing(&reports)) {
            Ok(n) => writeln!(out, "{n} failing seed(s) added to {}", path.display())?,
            Err(e) => writeln!(err, "wsgate: saving failing seeds: {e}")?,
        }
    }
    let graded = grades_by_target(&catalogue, &reports, &targets);
    let matrix = report::matrix(&catalogue, &reports, args.matrix);
    let mut written = None;
    if let Some(dir) = &args.out {
        if let Err(e) = write_reports(dir, &matrix, &graded, &reports, &catalogue) {
            writeln!(err, "wsgate: writing reports to {}: {e}", dir.display())?;
            return Ok(false);
        }
        written = Some(dir.as_path());
    }
    write!(out, "{}", footer(&matrix, &graded, &reports, errors.len(), written))?;
    Ok(succeeded(&reports, errors.len(), args.strict))
}

/// The line that says whose config runs.
fn with_config_header(path: &Path, user: &gateway::Config) -> String {
    format!(
        "running {} scenarios with {} in place of each scenario's own config (its pools on the scenario's scripted backends)",
        user.profile,
        path.display()
    )
}

/// Each scenario with the user's config fitted in, the others skipped with
/// the reason; prints what was replaced.
fn with_config(
    user: &gateway::Config,
    scenarios: Vec<crate::scenario::Scenario>,
    out: &mut impl Write,
) -> io::Result<Vec<crate::scenario::Scenario>> {
    let mut kept = Vec::new();
    let mut skipped = 0;
    let mut shown_notes = false;
    for mut s in scenarios {
        match crate::import::stand_in::stand_in(user, &s) {
            Ok(fitted) => {
                if !shown_notes {
                    for note in &fitted.notes {
                        writeln!(out, "  {note}")?;
                    }
                    shown_notes = true;
                }
                s.config = fitted.config;
                kept.push(s);
            }
            Err(crate::import::stand_in::Skip::Profile { .. }) => skipped += 1,
            Err(reason) => writeln!(out, "skip  {}\n      {reason}", s.path.display())?,
        }
    }
    if skipped > 0 {
        writeln!(out, "({skipped} scenario(s) of other profiles skipped)")?;
    }
    writeln!(out)?;
    Ok(kept)
}

/// `--compare OTHER`: for each target asked for, each scenario's verdict
/// there and on OTHER, and their disagreements. Pure.
pub fn compare_section(reports: &[ScenarioReport], targets: &[Target], other: Target) -> String {
    let mut out = String::new();
    for t in targets.iter().filter(|t| **t != other) {
        let pairs: Vec<(&ScenarioReport, &ScenarioReport)> = reports
            .iter()
            .filter(|r| r.target == other)
            .filter_map(|a| {
                let b = reports.iter().find(|b| b.target == *t && b.path == a.path)?;
                Some((a, b))
            })
            .collect();
        out.push_str(&format!("\ncompare: {other} then {t}, per scenario\n"));
        for (a, b) in &pairs {
            out.push_str(&compare::block(a, b));
        }
        out.push_str(&compare::summary(&pairs));
    }
    out
}

/// `wsgate run` on stdout and stderr. Neither is locked for the whole
/// run: the worker threads' logs go to stderr through `tracing` meanwhile.
pub fn run(args: &Args) -> ExitCode {
    match run_with(args, &mut io::stdout(), &mut io::stderr()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => super::output_failed(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::report;
    use crate::report::{Determinism, SeedRun};
    use gateway::ProfileName;

    #[test]
    fn a_failing_scenario_prints_what_failed_and_how_to_replay_it() {
        let r = report("x.toml", ProfileName::FrontDoor, &[], false);
        let text = scenario_block(&r, None, &[], false);
        assert_eq!(
            text,
            "FAIL  x.toml\n      expected: x\n      replay: cargo run --release -- run x.toml --seed 1 --trace\n"
        );
        let ok = report("y.toml", ProfileName::FrontDoor, &[], true);
        assert_eq!(scenario_block(&ok, None, &[], false), "pass  y.toml\n");
    }

    #[test]
    fn a_second_run_that_differs_is_printed() {
        let mut r = report("x.toml", ProfileName::FrontDoor, &[], true);
        r.runs = vec![SeedRun {
            determinism: Determinism::Differs("line 3: `a` then `b`".into()),
            ..r.runs[0].clone()
        }];
        let text = scenario_block(&r, None, &[], false);
        assert!(text.starts_with("FAIL  x.toml\n"), "{text}");
        assert!(text.contains("seed 1 gave two different traces; line 3: `a` then `b`"));
    }

    #[test]
    fn the_footer_ends_with_the_counts_and_says_what_it_left_out() {
        let reqs = catalogue::requirements();
        let runs = [report("x.toml", ProfileName::FrontDoor, &["FD-IDLE-1"], true)];
        let graded = grades_by_target(&reqs, &runs, &[Target::Sim]);
        let m = report::matrix(&reqs, &runs, MatrixScope::Touched);
        let text = footer(&m, &graded, &runs, 1, None);
        assert!(
            text.ends_with("\n1 passed, 1 failed\n"),
            "a load error counts as a failure: {text}"
        );
        assert!(text.contains("requirements left out"));
        assert!(
            text.contains("\nrequirements: 1 pass, 0 fail, 0 skip, 0 not covered\n"),
            "{text}"
        );
        assert!(text.contains("determinism: not checked"));
    }

    fn on(target: Target, mut r: ScenarioReport) -> ScenarioReport {
        r.target = target;
        r
    }

    #[test]
    fn findings_fail_the_run_only_when_strict() {
        let nginx = Target::Peer(crate::peer::PeerKind::Nginx);
        let finding = on(nginx, report("x.toml", ProfileName::FrontDoor, &[], false));
        let bug = on(Target::Real, report("x.toml", ProfileName::FrontDoor, &[], false));
        let fine = report("x.toml", ProfileName::FrontDoor, &[], true);
        assert!(succeeded(&[fine.clone(), finding.clone()], 0, false));
        assert!(!succeeded(&[fine.clone(), finding], 0, true));
        assert!(!succeeded(&[fine.clone(), bug], 0, false), "a failure on real is a bug");
        assert!(!succeeded(&[fine], 1, false), "a file that does not load fails the run");
    }

    #[test]
    fn blocks_name_the_target_and_say_why_a_run_was_skipped() {
        let mut skipped = on(Target::Real, report("x.toml", ProfileName::FrontDoor, &[], true));
        skipped.skipped = Some("too long for real time at scale 1000".into());
        skipped.runs.clear();
        assert_eq!(
            scenario_block(&skipped, None, &[], true),
            "skip  real     x.toml\n      skipped: too long for real time at scale 1000\n"
        );
        let finding = on(
            Target::Peer(crate::peer::PeerKind::Haproxy),
            report("y.toml", ProfileName::FrontDoor, &[], false),
        );
        let text = scenario_block(&finding, None, &[], true);
        assert!(
            text.starts_with("FAIL  haproxy  y.toml  (a finding: where haproxy differs from the documents)\n"),
            "{text}"
        );
    }

    #[test]
    fn several_targets_get_a_column_each_and_the_footer_counts_them() {
        let reqs = catalogue::requirements();
        let nginx = Target::Peer(crate::peer::PeerKind::Nginx);
        let mut skipped = on(nginx, report("x.toml", ProfileName::FrontDoor, &["FD-IDLE-1"], true));
        skipped.skipped = Some("nginx cannot express session lifetime cap".into());
        let runs = [
            report("x.toml", ProfileName::FrontDoor, &["FD-IDLE-1"], true),
            on(
                Target::Real,
                report("x.toml", ProfileName::FrontDoor, &["FD-IDLE-1"], false),
            ),
            skipped,
        ];
        let targets = [Target::Sim, Target::Real, nginx];
        let graded = grades_by_target(&reqs, &runs, &targets);
        let m = report::matrix(&reqs, &runs, MatrixScope::Touched);
        let text = footer(&m, &graded, &runs, 0, None);
        assert!(
            text.contains("requirement basis     profile                  sim         real        nginx\n"),
            "{text}"
        );
        assert!(
            text.contains("FD-IDLE-1   document  front-door               pass        FAIL        skip\n"),
            "{text}"
        );
        assert!(
            text.contains("requirements on real: 0 pass, 1 fail, 0 skip, 0 not covered\n"),
            "{text}"
        );
        assert!(text.contains("\n1 skipped, each with its reason above\n"), "{text}");
        assert!(text.ends_with("\n1 passed, 1 failed\n"), "{text}");
    }

    #[test]
    fn compare_pairs_each_scenario_with_the_other_target() {
        let sim = report("x.toml", ProfileName::FrontDoor, &[], true);
        let real = on(Target::Real, report("x.toml", ProfileName::FrontDoor, &[], true));
        let text = compare_section(&[sim, real], &[Target::Real], Target::Sim);
        assert_eq!(
            text,
            "\ncompare: sim then real, per scenario\n  pass  pass  x.toml\n\
             sim and real: 1 scenarios, 1 agree, 0 disagree, 0 not compared (skipped on one side)\n"
        );
    }
}
