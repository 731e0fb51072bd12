//! `junit.xml` for CI, written by `quick-junit` (the writer nextest uses),
//! so escaping and the element structure are not ours to get wrong.
//!
//! One test suite per target (`wsgate sim`, `wsgate real`, ...), one test
//! case per scenario. A scenario skipped on a target is a skipped case with
//! the reason; a failure on a gateway other than wsgate is a failure whose
//! message says it is a finding. Each case carries its determinism as a
//! property (`checked`/`not checked`, and the result when checked); no
//! `time` attribute is written, since a scenario's wall-clock time is not
//! something the run measured for the report. A failing case carries what
//! failed and how to replay it, and its readable trace as `system-out`.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::markdown::close_causes;
use super::{Determinism, ScenarioReport};
use crate::catalogue::Requirement;
use crate::target::Target;

/// What a failing scenario's `<failure message>` says: the first failed
/// expectation, or the determinism difference.
pub fn failure_message(s: &ScenarioReport) -> String {
    if let Some(run) = s.runs.iter().find(|r| !r.passed) {
        let first = run.failures.lines().next().unwrap_or("scenario failed");
        return format!("seed {}: {first}", run.seed);
    }
    match s.determinism() {
        Determinism::Differs(diff) => format!("the same seed gave two different traces; {diff}"),
        _ => "scenario failed".into(),
    }
}

fn case(s: &ScenarioReport, catalogue: &[Requirement]) -> TestCase {
    let status = if let Some(why) = &s.skipped {
        let mut status = TestCaseStatus::skipped();
        status.set_message(why.as_str());
        status
    } else if s.passed() {
        TestCaseStatus::success()
    } else {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        let mut description = String::new();
        for run in &s.runs {
            if !run.passed {
                description.push_str(&format!("seed {}\n{}replay: {}\n", run.seed, run.failures, run.replay));
            }
            if let Determinism::Differs(diff) = &run.determinism {
                description.push_str(&format!("seed {} gave two different traces; {diff}\n", run.seed));
            }
        }
        let message = if s.is_finding() {
            format!("a finding on {}: {}", s.target, failure_message(s))
        } else {
            failure_message(s)
        };
        status.set_message(message).set_description(description);
        status
    };
    let mut case = TestCase::new(s.path.as_str(), status);
    case.set_classname(format!("{}.{}", s.target, s.profile));
    case.add_property(("target", s.target.as_str()));
    if let Some(t) = s.timing {
        case.add_property(("time scale", t.scale.to_string().as_str()));
        case.add_property(("tolerance", crate::expect::secs(t.tolerance).as_str()));
    }
    for (expect, why) in s.skipped_checks() {
        case.add_property(("skipped expectation", format!("{expect}: {why}").as_str()));
    }
    let determinism = s.determinism();
    case.add_property(("determinism", determinism.word()));
    if let Some(identical) = determinism.identical() {
        case.add_property(("identical traces", if identical { "true" } else { "false" }));
    }
    case.add_property(("requirements", s.requirements.join(" ").as_str()));
    let seeds: Vec<String> = s.runs.iter().map(|r| r.seed.to_string()).collect();
    case.add_property(("seeds", seeds.join(" ").as_str()));
    for (i, cause) in close_causes(s, catalogue).into_iter().enumerate() {
        case.add_property((format!("close {}", i + 1), cause));
    }
    if s.verdict() == super::Verdict::Fail {
        case.set_system_out(s.readable_trace(catalogue));
    }
    case
}

/// The JUnit XML of a suite run: one suite per target, in the order the
/// targets first appear.
pub fn junit(scenarios: &[ScenarioReport], catalogue: &[Requirement]) -> Result<String, quick_junit::SerializeError> {
    let mut targets: Vec<Target> = Vec::new();
    for s in scenarios {
        if !targets.contains(&s.target) {
            targets.push(s.target);
        }
    }
    if targets.is_empty() {
        targets.push(Target::Sim);
    }
    let mut report = Report::new("wsgate");
    for t in targets {
        let mine: Vec<&ScenarioReport> = scenarios.iter().filter(|s| s.target == t).collect();
        let name = if t == Target::Sim {
            "wsgate".to_string()
        } else {
            format!("wsgate {t}")
        };
        let mut suite = TestSuite::new(name);
        suite.add_property(("target", t.as_str()));
        let checked = mine.iter().all(|s| s.determinism().identical().is_some());
        suite.add_property((
            "determinism",
            if checked && !mine.is_empty() {
                "checked"
            } else {
                "not checked"
            },
        ));
        suite.add_test_cases(mine.iter().map(|s| case(s, catalogue)));
        report.add_test_suite(suite);
    }
    report.to_string()
}

#[cfg(test)]
mod tests {
    use super::super::tests::report;
    use super::*;
    use crate::catalogue;
    use gateway::ProfileName;

    #[test]
    fn junit_escapes_counts_and_says_what_was_checked() {
        let mut failing = report("a<b>.toml", ProfileName::FrontDoor, &["FD-IDLE-1"], false);
        failing.runs[0].failures = "expected: \"x\" & y\n".into();
        let mut passing = report("ok.toml", ProfileName::FrontDoor, &[], true);
        passing.runs[0].determinism = Determinism::Identical;
        let x = junit(&[failing, passing], &catalogue::requirements()).expect("serializes");
        assert!(x.contains("tests=\"2\""), "{x}");
        assert!(x.contains("failures=\"1\""), "{x}");
        assert!(x.contains("a&lt;b&gt;.toml"), "{x}");
        assert!(
            x.contains("&quot;x&quot; &amp; y") || x.contains("\"x\" &amp; y"),
            "{x}"
        );
        assert!(x.contains("message=\"seed 1: expected: "), "{x}");
        assert!(x.contains("replay: cargo run"), "{x}");
        assert!(x.contains("name=\"determinism\" value=\"not checked\""), "{x}");
        assert!(x.contains("name=\"identical traces\" value=\"true\""), "{x}");
        assert!(!x.contains("time="), "no wall-clock time is claimed: {x}");
    }

    #[test]
    fn a_nondeterministic_scenario_fails_with_the_difference() {
        let mut r = report("n.toml", ProfileName::FrontDoor, &[], true);
        r.runs[0].determinism = Determinism::Differs("first difference: line 4".into());
        assert_eq!(
            failure_message(&r),
            "the same seed gave two different traces; first difference: line 4"
        );
        let x = junit(&[r], &catalogue::requirements()).expect("serializes");
        assert!(x.contains("failures=\"1\""));
    }

    #[test]
    fn each_target_is_a_suite_and_a_skip_says_why() {
        let nginx = Target::Peer(crate::peer::PeerKind::Nginx);
        let mut skipped = report("x.toml", ProfileName::FrontDoor, &[], true);
        skipped.target = nginx;
        skipped.skipped = Some("nginx cannot express session lifetime cap".into());
        let mut finding = report("y.toml", ProfileName::FrontDoor, &[], false);
        finding.target = nginx;
        let x = junit(
            &[report("x.toml", ProfileName::FrontDoor, &[], true), skipped, finding],
            &catalogue::requirements(),
        )
        .expect("serializes");
        assert!(x.contains("<testsuite name=\"wsgate\" tests=\"1\""), "{x}");
        assert!(x.contains("<testsuite name=\"wsgate nginx\" tests=\"2\""), "{x}");
        assert!(
            x.contains("message=\"nginx cannot express session lifetime cap\""),
            "{x}"
        );
        assert!(x.contains("message=\"a finding on nginx: seed 1: expected: x\""), "{x}");
        assert!(x.contains("classname=\"nginx.front-door\""), "{x}");
    }
}
