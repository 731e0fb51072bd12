//! `report.json` for tools: plain `Serialize` structs, so the shape is in
//! one place and every field is typed.
//!
//! Determinism is stated as what was done: `"determinism": "checked"` with
//! `"identical_traces"`, or `"determinism": "not checked"` and nothing else.

use std::collections::BTreeMap;

use gateway::ProfileName;
use serde::Serialize;

use super::markdown::determinism_summary;
use super::{
    cell, Cell, CheckVerdict, Determinism, Grades, Matrix, MatrixScope, ScenarioReport, TargetGrades, Verdict,
};
use crate::catalogue::{Basis, Grade, Requirement};
use crate::explain::{self, secs};

/// Whether determinism was checked, and if so what the check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "determinism")]
pub enum DeterminismJson {
    #[serde(rename = "not checked")]
    NotChecked,
    #[serde(rename = "checked")]
    Checked {
        identical_traces: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        first_difference: Option<String>,
    },
}

impl From<&Determinism> for DeterminismJson {
    fn from(d: &Determinism) -> Self {
        match d {
            Determinism::NotChecked => DeterminismJson::NotChecked,
            Determinism::Identical => DeterminismJson::Checked {
                identical_traces: true,
                first_difference: None,
            },
            Determinism::Differs(diff) => DeterminismJson::Checked {
                identical_traces: false,
                first_difference: Some(diff.clone()),
            },
        }
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    pub summary: Summary,
    pub matrix: MatrixJson<'a>,
    pub requirements: Vec<RequirementJson<'a>>,
    pub scenarios: Vec<ScenarioJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    /// The targets run, in order.
    pub targets: Vec<String>,
    /// Scenario runs: one per scenario and target.
    pub scenarios: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Failures on gateways other than wsgate: where they differ from the
    /// documents.
    pub findings: usize,
    #[serde(flatten)]
    pub determinism: DeterminismJson,
    /// The determinism in a sentence.
    pub determinism_summary: String,
}

#[derive(Debug, Serialize)]
pub struct MatrixJson<'a> {
    /// `"touched"`: only requirements a scenario in the run names;
    /// `"full"`: the whole catalogue.
    pub scope: &'static str,
    pub shown: usize,
    /// Ids of the requirements left out of `requirements`.
    pub left_out: Vec<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct RequirementJson<'a> {
    pub id: &'a str,
    /// Where it comes from: a document's sentence, an Azure page, or
    /// wsgate's choice.
    pub basis: BasisJson<'a>,
    pub statement: &'a str,
    pub profiles: Vec<String>,
    pub tests: &'a [String],
    /// By profile name, on the first target.
    pub grades: BTreeMap<String, GradeJson<'a>>,
    /// By target, then profile name.
    pub by_target: BTreeMap<String, BTreeMap<String, GradeJson<'a>>>,
}

#[derive(Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum BasisJson<'a> {
    Document {
        sources: &'a [String],
        section: &'a str,
        quote: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        conflict: Option<&'a str>,
    },
    Azure {
        url: &'a str,
        date: &'a str,
        quote: &'a str,
    },
    Choice {
        reason: &'a str,
    },
}

impl<'a> From<&'a Basis> for BasisJson<'a> {
    fn from(b: &'a Basis) -> Self {
        match b {
            Basis::Document {
                sources,
                section,
                quote,
                conflict,
            } => BasisJson::Document {
                sources,
                section,
                quote,
                conflict: conflict.as_deref(),
            },
            Basis::Azure { url, date, quote } => BasisJson::Azure { url, date, quote },
            Basis::Choice { reason } => BasisJson::Choice { reason },
        }
    }
}

#[derive(Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "grade")]
pub enum GradeJson<'a> {
    #[serde(rename = "pass")]
    Pass { scenarios: &'a [String] },
    #[serde(rename = "fail")]
    Fail { scenarios: &'a [String] },
    #[serde(rename = "skip")]
    Skip { reason: &'a str },
    #[serde(rename = "not covered")]
    NotCovered,
    #[serde(rename = "not applicable")]
    NotApplicable,
}

impl<'a> From<Cell<'a>> for GradeJson<'a> {
    fn from(c: Cell<'a>) -> Self {
        match c {
            Cell::NotApplicable => GradeJson::NotApplicable,
            Cell::Graded(Grade::Pass { scenarios }) => GradeJson::Pass { scenarios },
            Cell::Graded(Grade::Fail { scenarios }) => GradeJson::Fail { scenarios },
            Cell::Graded(Grade::Skip(reason)) => GradeJson::Skip { reason },
            Cell::Graded(Grade::NotCovered) => GradeJson::NotCovered,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ScenarioJson<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub path: &'a str,
    pub profile: String,
    pub target: String,
    pub requirements: &'a [String],
    /// `"pass"`, `"fail"` or `"skip"`.
    pub verdict: &'static str,
    pub passed: bool,
    /// A failure on a gateway other than wsgate.
    pub finding: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<&'a str>,
    /// A real run's time scale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_scale: Option<f64>,
    /// A real run's tolerance on every time bound, in wall-clock ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance_ms: Option<u64>,
    /// Each expectation's verdict (the first seed's).
    pub checks: Vec<CheckJson<'a>>,
    #[serde(flatten)]
    pub determinism: DeterminismJson,
    pub runs: Vec<RunJson<'a>>,
    /// Each 1006 a client saw, and why.
    pub closes: Vec<CloseJson>,
    /// Relative to the report's directory.
    pub timeline: String,
    pub trace: String,
}

#[derive(Debug, Serialize)]
pub struct CheckJson<'a> {
    pub expect: &'a str,
    /// `"pass"`, `"fail"` or `"skip"`.
    pub verdict: &'static str,
    /// What the trace showed (a failure), or why it was not judged (a skip).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct RunJson<'a> {
    pub seed: u64,
    pub passed: bool,
    pub failures: &'a str,
    pub replay: &'a str,
    #[serde(flatten)]
    pub determinism: DeterminismJson,
}

#[derive(Debug, Serialize)]
pub struct CloseJson {
    pub client: String,
    /// `16.006s`.
    pub at: String,
    pub at_ms: u64,
    pub code: u16,
    pub cause: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirement: Option<String>,
}

fn closes(s: &ScenarioReport, catalogue: &[Requirement]) -> Vec<CloseJson> {
    explain::explain_closes(&s.lines, s.profile, catalogue)
        .into_iter()
        .filter_map(|(i, e)| {
            let l = s.lines.get(i)?;
            let sim::trace::TraceEvent::Client(sim::client::ClientEvent::Closed { code, .. }) = &l.event else {
                return None;
            };
            Some(CloseJson {
                client: l.source.clone(),
                at: secs(l.at),
                at_ms: u64::try_from(l.at.as_millis()).unwrap_or(u64::MAX),
                code: *code,
                cause: e.cause(),
                requirement: e.requirement.clone(),
            })
        })
        .collect()
}

/// The whole run's determinism: checked only when every scenario was.
fn overall(scenarios: &[ScenarioReport]) -> DeterminismJson {
    let each: Vec<Determinism> = scenarios.iter().map(ScenarioReport::determinism).collect();
    if each.is_empty() || each.contains(&Determinism::NotChecked) {
        return DeterminismJson::NotChecked;
    }
    DeterminismJson::Checked {
        identical_traces: each.iter().all(|d| *d == Determinism::Identical),
        first_difference: None,
    }
}

fn grades_json<'a>(r: &Requirement, grades: &'a Grades) -> BTreeMap<String, GradeJson<'a>> {
    ProfileName::ALL
        .iter()
        .map(|p| (p.to_string(), GradeJson::from(cell(r, *p, grades))))
        .collect()
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Skip => "skip",
    }
}

/// The report as a value.
pub fn report<'a>(
    matrix: &Matrix<'a>,
    graded: &'a TargetGrades,
    scenarios: &'a [ScenarioReport],
    catalogue: &[Requirement],
) -> JsonReport<'a> {
    static EMPTY: Grades = Grades::new();
    let first: &'a Grades = graded.first().map_or(&EMPTY, |(_, g)| g);
    let count = |v: Verdict| scenarios.iter().filter(|s| s.verdict() == v).count();
    JsonReport {
        summary: Summary {
            targets: graded.iter().map(|(t, _)| t.to_string()).collect(),
            scenarios: scenarios.len(),
            passed: count(Verdict::Pass),
            failed: count(Verdict::Fail),
            skipped: count(Verdict::Skip),
            findings: scenarios.iter().filter(|s| s.is_finding()).count(),
            determinism: overall(scenarios),
            determinism_summary: determinism_summary(scenarios),
        },
        matrix: MatrixJson {
            scope: match matrix.scope {
                MatrixScope::Touched => "touched",
                MatrixScope::Full => "full",
            },
            shown: matrix.shown.len(),
            left_out: matrix.left_out.iter().map(|r| r.id.as_str()).collect(),
        },
        requirements: matrix
            .shown
            .iter()
            .map(|r| RequirementJson {
                id: &r.id,
                basis: BasisJson::from(&r.basis),
                statement: &r.statement,
                profiles: r.profiles.iter().map(ToString::to_string).collect(),
                tests: &r.tests,
                grades: grades_json(r, first),
                by_target: graded.iter().map(|(t, g)| (t.to_string(), grades_json(r, g))).collect(),
            })
            .collect(),
        scenarios: scenarios
            .iter()
            .map(|s| ScenarioJson {
                name: &s.name,
                description: s.description.as_deref(),
                path: &s.path,
                profile: s.profile.to_string(),
                target: s.target.to_string(),
                requirements: &s.requirements,
                verdict: verdict_word(s.verdict()),
                passed: s.passed(),
                finding: s.is_finding(),
                skipped: s.skipped.as_deref(),
                time_scale: s.timing.map(|t| t.scale),
                tolerance_ms: s
                    .timing
                    .map(|t| u64::try_from(t.tolerance.as_millis()).unwrap_or(u64::MAX)),
                checks: s
                    .checks
                    .iter()
                    .map(|c| CheckJson {
                        expect: &c.expect,
                        verdict: match &c.verdict {
                            CheckVerdict::Pass => "pass",
                            CheckVerdict::Fail(_) => "fail",
                            CheckVerdict::Skip(_) => "skip",
                        },
                        detail: match &c.verdict {
                            CheckVerdict::Pass => None,
                            CheckVerdict::Fail(d) | CheckVerdict::Skip(d) => Some(d),
                        },
                    })
                    .collect(),
                determinism: DeterminismJson::from(&s.determinism()),
                runs: s
                    .runs
                    .iter()
                    .map(|r| RunJson {
                        seed: r.seed,
                        passed: r.passed,
                        failures: &r.failures,
                        replay: &r.replay,
                        determinism: DeterminismJson::from(&r.determinism),
                    })
                    .collect(),
                closes: closes(s, catalogue),
                timeline: format!("timelines/{}.svg", s.slug()),
                trace: format!("traces/{}.txt", s.slug()),
            })
            .collect(),
    }
}

/// The report as pretty-printed JSON text.
pub fn json(
    matrix: &Matrix<'_>,
    graded: &TargetGrades,
    scenarios: &[ScenarioReport],
    catalogue: &[Requirement],
) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(&report(matrix, graded, scenarios, catalogue))?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::super::tests::report as scenario;
    use super::super::{matrix, MatrixScope};
    use super::*;
    use crate::catalogue;

    fn value(scenarios: &[ScenarioReport]) -> serde_json::Value {
        let reqs = catalogue::requirements();
        let grades = catalogue::grade(&reqs, &crate::suite::results(scenarios));
        let m = matrix(&reqs, scenarios, MatrixScope::Touched);
        let graded = vec![(crate::target::Target::Sim, grades)];
        let text = json(&m, &graded, scenarios, &reqs).expect("serializes");
        serde_json::from_str(&text).expect("valid JSON")
    }

    #[test]
    fn determinism_is_reported_as_checked_or_not_never_assumed() {
        let unchecked = [scenario("a.toml", ProfileName::FrontDoor, &["FD-IDLE-1"], true)];
        let v = value(&unchecked);
        assert_eq!(v["summary"]["determinism"], "not checked");
        assert_eq!(v["scenarios"][0]["determinism"], "not checked");
        assert!(v["scenarios"][0].get("identical_traces").is_none());
        assert!(v["scenarios"][0].get("deterministic").is_none(), "no unchecked claim");

        let mut checked = unchecked.clone();
        checked[0].runs[0].determinism = Determinism::Identical;
        let v = value(&checked);
        assert_eq!(v["summary"]["determinism"], "checked");
        assert_eq!(v["summary"]["identical_traces"], true);
        assert_eq!(v["scenarios"][0]["runs"][0]["determinism"], "checked");
        assert_eq!(v["scenarios"][0]["runs"][0]["identical_traces"], true);

        checked[0].runs[0].determinism = Determinism::Differs("line 2".into());
        let v = value(&checked);
        assert_eq!(v["scenarios"][0]["identical_traces"], false);
        assert_eq!(v["scenarios"][0]["first_difference"], "line 2");
        assert_eq!(v["scenarios"][0]["passed"], false);
    }

    #[test]
    fn grades_and_scope_are_typed() {
        let v = value(&[scenario("a.toml", ProfileName::FrontDoor, &["FD-IDLE-1"], false)]);
        assert_eq!(v["matrix"]["scope"], "touched");
        assert_eq!(v["matrix"]["shown"], 1);
        assert_eq!(v["requirements"][0]["id"], "FD-IDLE-1");
        assert_eq!(v["requirements"][0]["grades"]["front-door"]["grade"], "fail");
        assert_eq!(v["requirements"][0]["grades"]["front-door"]["scenarios"][0], "a.toml");
        assert_eq!(
            v["requirements"][0]["grades"]["application-gateway"]["grade"],
            "not applicable"
        );
        assert_eq!(v["scenarios"][0]["timeline"], "timelines/a.svg");
    }

    #[test]
    fn runs_carry_their_target_and_grades_come_by_target() {
        let reqs = catalogue::requirements();
        let mut real = scenario("a.toml", ProfileName::FrontDoor, &["FD-IDLE-1"], false);
        real.target = crate::target::Target::Real;
        real.timing = Some(crate::run::RunTiming {
            scale: 50.0,
            tolerance: std::time::Duration::from_millis(160),
        });
        real.checks = vec![super::super::CheckReport {
            expect: "c1 closed with 1006".into(),
            verdict: super::super::CheckVerdict::Skip("why".into()),
            context: vec![],
        }];
        let runs = [scenario("a.toml", ProfileName::FrontDoor, &["FD-IDLE-1"], true), real];
        let graded =
            crate::cli::run::grades_by_target(&reqs, &runs, &[crate::target::Target::Sim, crate::target::Target::Real]);
        let m = matrix(&reqs, &runs, MatrixScope::Touched);
        let v: serde_json::Value = serde_json::from_str(&json(&m, &graded, &runs, &reqs).unwrap()).unwrap();
        assert_eq!(v["summary"]["targets"], serde_json::json!(["sim", "real"]));
        assert_eq!(v["summary"]["failed"], 1);
        assert_eq!(v["summary"]["findings"], 0, "a failure on real is no finding");
        assert_eq!(v["requirements"][0]["by_target"]["sim"]["front-door"]["grade"], "pass");
        assert_eq!(v["requirements"][0]["by_target"]["real"]["front-door"]["grade"], "fail");
        assert_eq!(v["scenarios"][1]["target"], "real");
        assert_eq!(v["scenarios"][1]["time_scale"], 50.0);
        assert_eq!(v["scenarios"][1]["tolerance_ms"], 160);
        assert_eq!(v["scenarios"][1]["checks"][0]["verdict"], "skip");
        assert_eq!(v["scenarios"][1]["timeline"], "timelines/a.real.svg");
    }
}
