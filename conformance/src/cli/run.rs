//! `wsgate run`: load scenario files, run each, print verdicts, the matrix
//! and a closing `N passed, N failed` line, and write the reports.
//!
//! What gets printed is decided by pure functions ([`scenario_block`],
//! [`footer`]); [`run`] only loads, runs, prints and writes.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::catalogue::{self, Requirement};
use crate::report::{self, markdown, Grades, Matrix, MatrixScope, ScenarioReport};
use crate::suite;

/// Which trace `--trace` prints under each scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceMode {
    /// Without chatter, with host names and close causes.
    Readable,
    /// Every line.
    Full,
}

/// What `wsgate run` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
    /// A gateway config to run in place of each scenario's own
    /// (`--config`): scenarios of another profile are skipped, with why.
    pub config: Option<PathBuf>,
}

/// The lines printed for one scenario: its verdict, what failed, and the
/// trace when asked. Pure.
pub fn scenario_block(r: &ScenarioReport, trace: Option<TraceMode>, catalogue: &[Requirement]) -> String {
    let verdict = if r.passed() { "pass" } else { "FAIL" };
    let mut out = format!("{verdict}  {}\n", r.path);
    let indent = |text: &str| text.lines().map(|l| format!("      {l}\n")).collect::<String>();
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

/// Everything after the scenarios: the matrix, the rows left out, the
/// tally, determinism, and the closing `N passed, N failed` line. Pure.
pub fn footer(
    matrix: &Matrix<'_>,
    grades: &Grades,
    reports: &[ScenarioReport],
    load_errors: usize,
    written_to: Option<&Path>,
) -> String {
    let mut out = String::from("\n");
    out.push_str(&report::matrix_text(&matrix.shown, grades));
    if let Some(note) = matrix.left_out_note(grades) {
        out.push_str(&format!("({note})\n"));
    }
    out.push_str(&format!(
        "\nrequirements: {}\n",
        report::tally_line(&report::tally(&matrix.shown, grades))
    ));
    out.push_str(&format!("determinism: {}\n", markdown::determinism_summary(reports)));
    if let Some(dir) = written_to {
        out.push_str(&format!(
            "reports written to {} (index.html, report.md, junit.xml, report.json, timelines/, traces/)\n",
            dir.display()
        ));
    }
    let passed = reports.iter().filter(|r| r.passed()).count();
    let failed = reports.len() - passed + load_errors;
    out.push_str(&format!("{passed} passed, {failed} failed\n"));
    out
}

/// Writes every report into `dir`.
pub fn write_reports(
    dir: &Path,
    matrix: &Matrix<'_>,
    grades: &Grades,
    reports: &[ScenarioReport],
    catalogue: &[Requirement],
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("report.md"),
        markdown::markdown(matrix, grades, reports, catalogue),
    )?;
    let junit = report::junit::junit(reports, catalogue).map_err(io::Error::other)?;
    std::fs::write(dir.join("junit.xml"), junit)?;
    let json = report::json::json(matrix, grades, reports, catalogue).map_err(io::Error::other)?;
    std::fs::write(dir.join("report.json"), json)?;
    std::fs::write(
        dir.join("index.html"),
        report::html::html(matrix, grades, reports, catalogue),
    )?;
    let timelines = dir.join("timelines");
    let traces = dir.join("traces");
    std::fs::create_dir_all(&timelines)?;
    std::fs::create_dir_all(&traces)?;
    for r in reports {
        let slug = r.slug();
        let subtitle = format!(
            "{} · {} · seed {}",
            r.path,
            r.profile,
            r.runs.first().map_or(0, |s| s.seed)
        );
        std::fs::write(
            timelines.join(format!("{slug}.svg")),
            report::svg::svg(&r.name, &subtitle, &r.lines, r.duration, r.profile, catalogue),
        )?;
        std::fs::write(traces.join(format!("{slug}.txt")), r.readable_trace(catalogue))?;
        std::fs::write(traces.join(format!("{slug}.full.txt")), r.full_trace())?;
    }
    Ok(())
}

/// Runs the flow, printing to `out` and `err`; returns whether everything
/// passed.
pub fn run_with(args: &Args, out: &mut impl Write, err: &mut impl Write) -> io::Result<bool> {
    let files = match suite::discover(&super::default_paths(&args.paths)) {
        Ok(f) => f,
        Err(e) => {
            writeln!(err, "wsgate: {e}")?;
            return Ok(false);
        }
    };
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
    };
    let catalogue = catalogue::requirements();
    let mut reports = Vec::new();
    for s in &scenarios {
        let r = suite::run_scenario(s, options);
        write!(out, "{}", scenario_block(&r, args.trace, &catalogue))?;
        reports.push(r);
    }
    let grades = catalogue::grade(&catalogue, &suite::results(&reports));
    let matrix = report::matrix(&catalogue, &reports, args.matrix);
    let mut written = None;
    if let Some(dir) = &args.out {
        if let Err(e) = write_reports(dir, &matrix, &grades, &reports, &catalogue) {
            writeln!(err, "wsgate: writing reports to {}: {e}", dir.display())?;
            return Ok(false);
        }
        written = Some(dir.as_path());
    }
    write!(out, "{}", footer(&matrix, &grades, &reports, errors.len(), written))?;
    Ok(errors.is_empty() && reports.iter().all(ScenarioReport::passed))
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

/// `wsgate run` on stdout and stderr.
pub fn run(args: &Args) -> ExitCode {
    match run_with(args, &mut io::stdout().lock(), &mut io::stderr().lock()) {
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
        let text = scenario_block(&r, None, &[]);
        assert_eq!(
            text,
            "FAIL  x.toml\n      expected: x\n      replay: cargo run --release -- run x.toml --seed 1 --trace\n"
        );
        let ok = report("y.toml", ProfileName::FrontDoor, &[], true);
        assert_eq!(scenario_block(&ok, None, &[]), "pass  y.toml\n");
    }

    #[test]
    fn a_second_run_that_differs_is_printed() {
        let mut r = report("x.toml", ProfileName::FrontDoor, &[], true);
        r.runs = vec![SeedRun {
            determinism: Determinism::Differs("line 3: `a` then `b`".into()),
            ..r.runs[0].clone()
        }];
        let text = scenario_block(&r, None, &[]);
        assert!(text.starts_with("FAIL  x.toml\n"), "{text}");
        assert!(text.contains("seed 1 gave two different traces; line 3: `a` then `b`"));
    }

    #[test]
    fn the_footer_ends_with_the_counts_and_says_what_it_left_out() {
        let reqs = catalogue::requirements();
        let runs = [report("x.toml", ProfileName::FrontDoor, &["FD-IDLE-1"], true)];
        let grades = catalogue::grade(&reqs, &suite::results(&runs));
        let m = report::matrix(&reqs, &runs, MatrixScope::Touched);
        let text = footer(&m, &grades, &runs, 1, None);
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
}
