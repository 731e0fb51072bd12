//! Reports: what a suite run found, for people and for tools.
//!
//! | module | what it writes |
//! |---|---|
//! | this one | [`ScenarioReport`], the requirement × profile matrix (text, and by target) and its scope |
//! | [`compare`] | `--compare`: each scenario's verdict on two targets, and every expectation they disagree on |
//! | [`trace`] | the readable trace, every 1006 followed by its cause |
//! | [`markdown`] | `report.md` |
//! | [`junit`] | `junit.xml`, through `quick-junit` |
//! | [`json`] | `report.json`, from `Serialize` structs |
//! | [`svg`] | one timeline per scenario: sessions, backend health, timeline events |
//! | [`html`] | `index.html`: the matrix linked to each scenario, its timeline and trace |
//!
//! Every claim a report makes is one the run checked: determinism is
//! "checked" only when `--check-determinism` ran each seed twice.

pub mod compare;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod svg;
pub mod trace;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use gateway::ProfileName;
use sim::trace::TraceLine;

use crate::catalogue::{Grade, Requirement};
use crate::run::RunTiming;
use crate::target::Target;

/// Whether one seed, run twice, gave the same trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Determinism {
    /// The seed ran once; nothing was compared.
    NotChecked,
    /// Two runs gave equal typed traces and byte-identical renderings.
    Identical,
    /// The two runs differed; the first difference.
    Differs(String),
}

impl Determinism {
    /// `"checked"` or `"not checked"`, as reports say it.
    pub fn word(&self) -> &'static str {
        match self {
            Determinism::NotChecked => "not checked",
            Determinism::Identical | Determinism::Differs(_) => "checked",
        }
    }

    /// The result of the check, when there was one.
    pub fn identical(&self) -> Option<bool> {
        match self {
            Determinism::NotChecked => None,
            Determinism::Identical => Some(true),
            Determinism::Differs(_) => Some(false),
        }
    }
}

/// One run of a scenario under one seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedRun {
    pub seed: u64,
    pub passed: bool,
    /// What failed, explained (empty when it passed).
    pub failures: String,
    /// The command that replays this run.
    pub replay: String,
    pub determinism: Determinism,
}

/// One scenario on one target in a suite run.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    pub name: String,
    pub description: Option<String>,
    pub path: String,
    pub profile: ProfileName,
    pub requirements: Vec<String>,
    /// Where it ran.
    pub target: Target,
    /// Why it did not run on this target (nothing else is then set).
    pub skipped: Option<String>,
    /// A real run's time scale and tolerance.
    pub timing: Option<RunTiming>,
    /// One entry per seed.
    pub runs: Vec<SeedRun>,
    /// The first seed's verdict on each expectation, in file order.
    pub checks: Vec<CheckReport>,
    pub duration: Duration,
    /// The first seed's trace, for renderings.
    pub lines: Vec<TraceLine>,
    /// Host names by address, for renderings.
    pub names: BTreeMap<std::net::IpAddr, String>,
}

/// One expectation's verdict, with the trace lines it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The expectation as judged (a real run's windows widened).
    pub expect: String,
    pub verdict: CheckVerdict,
    /// The lines around what the check looked at.
    pub context: Vec<TraceLine>,
}

/// How one expectation fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckVerdict {
    Pass,
    /// What the trace showed instead.
    Fail(String),
    /// Not judged on this target, and why.
    Skip(String),
}

impl CheckVerdict {
    pub fn word(&self) -> &'static str {
        match self {
            CheckVerdict::Pass => "pass",
            CheckVerdict::Fail(_) => "FAIL",
            CheckVerdict::Skip(_) => "skip",
        }
    }
}

/// A scenario's verdict on one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Pass,
    Fail,
    Skip,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        }
    }
}

impl ScenarioReport {
    /// Ran, every seed passed, and none that was checked twice differed.
    pub fn passed(&self) -> bool {
        self.verdict() == Verdict::Pass
    }

    /// Pass, fail, or skipped on this target.
    pub fn verdict(&self) -> Verdict {
        if self.skipped.is_some() {
            return Verdict::Skip;
        }
        let ok = self
            .runs
            .iter()
            .all(|r| r.passed && r.determinism.identical() != Some(false));
        if ok {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }

    /// A failure that is a finding rather than a bug: on a gateway other
    /// than wsgate, where the documents' expectations need not hold.
    pub fn is_finding(&self) -> bool {
        self.verdict() == Verdict::Fail && !self.target.is_wsgate()
    }

    /// The expectations skipped on this target, with their reasons.
    pub fn skipped_checks(&self) -> Vec<(&str, &str)> {
        self.checks
            .iter()
            .filter_map(|c| match &c.verdict {
                CheckVerdict::Skip(why) => Some((c.expect.as_str(), why.as_str())),
                _ => None,
            })
            .collect()
    }

    /// `scenarios/x.toml` on the simulator, `scenarios/x.toml on real`
    /// elsewhere: how reports name it.
    pub fn label(&self) -> String {
        match self.target {
            Target::Sim => self.path.clone(),
            t => format!("{} on {t}", self.path),
        }
    }

    /// The determinism of the whole scenario: not checked unless every
    /// seed was; differs if any seed did.
    pub fn determinism(&self) -> Determinism {
        if let Some(d) = self
            .runs
            .iter()
            .find(|r| matches!(r.determinism, Determinism::Differs(_)))
        {
            return d.determinism.clone();
        }
        if !self.runs.is_empty() && self.runs.iter().all(|r| r.determinism == Determinism::Identical) {
            Determinism::Identical
        } else {
            Determinism::NotChecked
        }
    }

    /// A file name for this scenario's timeline and trace: its path with
    /// separators turned into `__`, without `.toml`, and `.TARGET` after
    /// it on any target but the simulator.
    pub fn slug(&self) -> String {
        match self.target {
            Target::Sim => slug(&self.path),
            t => format!("{}.{t}", slug(&self.path)),
        }
    }

    /// The readable trace: no chatter, host names, causes under 1006s.
    pub fn readable_trace(&self, catalogue: &[Requirement]) -> String {
        trace::readable(&self.lines, &self.names, self.profile, catalogue)
    }

    /// How long the run was in its trace's time: a real run's trace is in
    /// wall-clock time, the scenario's duration divided by its scale.
    pub fn duration_run(&self) -> Duration {
        match self.timing {
            Some(t) => self.duration.div_f64(t.scale),
            None => self.duration,
        }
    }

    /// Every line of the trace.
    pub fn full_trace(&self) -> String {
        sim::trace::render(&self.lines, &self.names)
    }
}

/// A scenario path as a file name and HTML id: `scenarios/front-door/x.toml`
/// becomes `scenarios__front-door__x`; any character other than ASCII
/// letters, digits, `-`, `_` and `.` becomes `_`.
pub fn slug(path: &str) -> String {
    path.trim_end_matches(".toml")
        .trim_start_matches("./")
        .replace(['/', '\\'], "__")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The grades of every (requirement, profile) pair.
pub type Grades = BTreeMap<(String, ProfileName), Grade>;

/// Each target's grades, in the order the targets ran.
pub type TargetGrades = Vec<(Target, Grades)>;

/// One cell of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell<'a> {
    /// The requirement does not belong to this profile.
    NotApplicable,
    Graded(&'a Grade),
}

/// The cell for requirement `r` under `profile`.
pub fn cell<'a>(r: &Requirement, profile: ProfileName, grades: &'a Grades) -> Cell<'a> {
    if !r.profiles.contains(&profile) {
        return Cell::NotApplicable;
    }
    // `catalogue::grade` grades every pair; a missing one reads as n/a.
    grades
        .get(&(r.id.clone(), profile))
        .map_or(Cell::NotApplicable, Cell::Graded)
}

/// Which requirements the matrix shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatrixScope {
    /// Only those a scenario in this run names.
    #[default]
    Touched,
    /// Every requirement in the catalogue.
    Full,
}

/// The rows a matrix shows and those it leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix<'a> {
    pub scope: MatrixScope,
    pub shown: Vec<&'a Requirement>,
    pub left_out: Vec<&'a Requirement>,
}

/// Splits the catalogue into shown and left-out rows: under
/// [`MatrixScope::Touched`] a row is shown when at least one scenario in
/// the run names it. Pure.
pub fn matrix<'a>(requirements: &'a [Requirement], scenarios: &[ScenarioReport], scope: MatrixScope) -> Matrix<'a> {
    let touched = |r: &Requirement| scenarios.iter().any(|s| s.requirements.contains(&r.id));
    let (shown, left_out) = requirements
        .iter()
        .partition(|r| scope == MatrixScope::Full || touched(r));
    Matrix { scope, shown, left_out }
}

impl Matrix<'_> {
    /// The footer line about left-out rows, or `None` when every row is
    /// shown.
    pub fn left_out_note(&self, grades: &Grades) -> Option<String> {
        if self.left_out.is_empty() {
            return None;
        }
        let total = self.shown.len() + self.left_out.len();
        let t = tally(&self.left_out, grades);
        let mut parts: Vec<String> = Vec::new();
        for word in ["pass", "FAIL", "skip", "not covered"] {
            if let Some(n) = t.get(word).filter(|n| **n > 0) {
                parts.push(format!("{n} {word}"));
            }
        }
        Some(format!(
            "{} of {total} requirements left out: no scenario in this run names them ({} cells: {}); \
             --matrix full shows them",
            self.left_out.len(),
            t.values().sum::<usize>(),
            parts.join(", ")
        ))
    }
}

/// The matrix as aligned text, for the terminal.
pub fn matrix_text(rows: &[&Requirement], grades: &Grades) -> String {
    let width = rows
        .iter()
        .map(|r| r.id.len())
        .max()
        .unwrap_or(0)
        .max("requirement".len());
    let mut out = String::new();
    let header = format!(
        "{:<width$} {:<9} {:<20} {:<26} {:<20}",
        "requirement", "basis", "application-gateway", "application-gateway-2016", "front-door"
    );
    let _ = writeln!(out, "{}", header.trim_end());
    for r in rows {
        let text = |p: ProfileName| match cell(r, p, grades) {
            Cell::NotApplicable => "-",
            Cell::Graded(g) => g.word(),
        };
        let line = format!(
            "{:<width$} {:<9} {:<20} {:<26} {:<20}",
            r.id,
            r.basis.kind(),
            text(ProfileName::ApplicationGateway),
            text(ProfileName::ApplicationGateway2016),
            text(ProfileName::FrontDoor)
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// The matrix with one column per target: a row per requirement and
/// profile it applies to, since each requirement belongs to one or two
/// profiles and a target column per profile would be mostly empty. For
/// the terminal; pure.
pub fn matrix_text_by_target(rows: &[&Requirement], graded: &TargetGrades) -> String {
    let width = rows
        .iter()
        .map(|r| r.id.len())
        .max()
        .unwrap_or(0)
        .max("requirement".len());
    let profile_width = "application-gateway-2016".len();
    let columns: Vec<(String, usize)> = graded
        .iter()
        .map(|(t, _)| (t.to_string(), t.as_str().len().max("not covered".len())))
        .collect();
    let mut out = String::new();
    let mut header = format!("{:<width$} {:<9} {:<profile_width$}", "requirement", "basis", "profile");
    for (name, w) in &columns {
        let _ = write!(header, " {name:<w$}");
    }
    let _ = writeln!(out, "{}", header.trim_end());
    for r in rows {
        for p in &r.profiles {
            let mut line = format!("{:<width$} {:<9} {:<profile_width$}", r.id, r.basis.kind(), p.as_str());
            for ((_, grades), (_, w)) in graded.iter().zip(&columns) {
                let word = match cell(r, *p, grades) {
                    Cell::NotApplicable => "-",
                    Cell::Graded(g) => g.word(),
                };
                let _ = write!(line, " {word:<w$}");
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    out
}

/// Counts of each grade over the cells of `rows` that apply to their
/// profile.
pub fn tally(rows: &[&Requirement], grades: &Grades) -> BTreeMap<&'static str, usize> {
    let mut t = BTreeMap::new();
    for r in rows {
        for p in &r.profiles {
            if let Some(g) = grades.get(&(r.id.clone(), *p)) {
                *t.entry(g.word()).or_insert(0) += 1;
            }
        }
    }
    t
}

/// `31 pass, 0 fail, 4 skip, 2 not covered`.
pub fn tally_line(t: &BTreeMap<&'static str, usize>) -> String {
    let n = |w: &str| t.get(w).copied().unwrap_or(0);
    format!(
        "{} pass, {} fail, {} skip, {} not covered",
        n("pass"),
        n("FAIL"),
        n("skip"),
        n("not covered")
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalogue;

    pub(crate) fn report(path: &str, profile: ProfileName, reqs: &[&str], passed: bool) -> ScenarioReport {
        ScenarioReport {
            name: format!("{path} scenario"),
            description: None,
            path: path.into(),
            profile,
            requirements: reqs.iter().map(|r| r.to_string()).collect(),
            target: Target::Sim,
            skipped: None,
            timing: None,
            checks: vec![],
            runs: vec![SeedRun {
                seed: 1,
                passed,
                failures: if passed { String::new() } else { "expected: x\n".into() },
                replay: format!("cargo run --release -- run {path} --seed 1 --trace"),
                determinism: Determinism::NotChecked,
            }],
            duration: Duration::from_secs(60),
            lines: vec![],
            names: BTreeMap::new(),
        }
    }

    fn grades_for(reqs: &[Requirement], scenarios: &[ScenarioReport]) -> Grades {
        catalogue::grade(reqs, &crate::suite::results(scenarios))
    }

    #[test]
    fn a_partial_run_shows_only_the_rows_it_touches_and_says_how_many_it_left_out() {
        let reqs = catalogue::requirements();
        let runs = [report("a.toml", ProfileName::FrontDoor, &["FD-IDLE-1"], true)];
        let grades = grades_for(&reqs, &runs);
        let m = matrix(&reqs, &runs, MatrixScope::Touched);
        assert_eq!(m.shown.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["FD-IDLE-1"]);
        assert_eq!(m.left_out.len(), reqs.len() - 1);
        let note = m.left_out_note(&grades).expect("rows were left out");
        assert!(
            note.starts_with(&format!("{} of {} requirements left out", reqs.len() - 1, reqs.len())),
            "{note}"
        );
        assert!(note.contains("--matrix full"), "{note}");
        let text = matrix_text(&m.shown, &grades);
        assert_eq!(text.lines().count(), 2, "header and one row:\n{text}");
        assert!(text.lines().all(|l| l == l.trim_end()), "no trailing spaces:\n{text}");
        assert!(text.contains("FD-IDLE-1"));

        let full = matrix(&reqs, &runs, MatrixScope::Full);
        assert_eq!(full.shown.len(), reqs.len());
        assert_eq!(full.left_out_note(&grades), None);
    }

    #[test]
    fn determinism_is_not_claimed_unless_every_seed_was_checked() {
        let mut r = report("a.toml", ProfileName::FrontDoor, &[], true);
        assert_eq!(r.determinism(), Determinism::NotChecked);
        r.runs[0].determinism = Determinism::Identical;
        assert_eq!(r.determinism(), Determinism::Identical);
        r.runs.push(SeedRun {
            determinism: Determinism::NotChecked,
            ..r.runs[0].clone()
        });
        assert_eq!(r.determinism(), Determinism::NotChecked);
        r.runs[1].determinism = Determinism::Differs("line 3".into());
        assert_eq!(r.determinism(), Determinism::Differs("line 3".into()));
        assert!(!r.passed(), "a seed that gave two traces fails the scenario");
    }

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(slug("scenarios/front-door/idle.toml"), "scenarios__front-door__idle");
        assert_eq!(slug("./x.toml"), "x");
        assert_eq!(slug("a/life<4h> \"x\".toml"), "a__life_4h___x_");
    }
}
