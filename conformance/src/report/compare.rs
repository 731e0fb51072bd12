//! `wsgate run --target real --compare sim`: each scenario's verdict on
//! both targets, and every expectation whose verdict differs, with the
//! lines of both traces it is about. Pure.
//!
//! A skip on either side is not a disagreement (nothing was compared); a
//! run that failed to run at all on one side is.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{CheckReport, CheckVerdict, ScenarioReport, Verdict};

/// One expectation judged differently by two runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement<'a> {
    /// The expectation's position in its file.
    pub index: usize,
    pub a: &'a CheckReport,
    pub b: &'a CheckReport,
}

/// The expectations `a` and `b` judged one pass and one fail.
pub fn disagreements<'a>(a: &'a ScenarioReport, b: &'a ScenarioReport) -> Vec<Disagreement<'a>> {
    a.checks
        .iter()
        .zip(&b.checks)
        .enumerate()
        .filter(|(_, (x, y))| {
            matches!(
                (&x.verdict, &y.verdict),
                (CheckVerdict::Pass, CheckVerdict::Fail(_)) | (CheckVerdict::Fail(_), CheckVerdict::Pass)
            )
        })
        .map(|(index, (x, y))| Disagreement { index, a: x, b: y })
        .collect()
}

/// Whether two runs of one scenario agree: the same verdict on every
/// expectation both judged, and neither failed to run. `None` when they
/// cannot be compared (one was skipped).
pub fn agree(a: &ScenarioReport, b: &ScenarioReport) -> Option<bool> {
    if a.verdict() == Verdict::Skip || b.verdict() == Verdict::Skip {
        return None;
    }
    let ran = |r: &ScenarioReport| {
        r.runs
            .first()
            .is_some_and(|run| !run.failures.starts_with("run failed"))
    };
    Some(ran(a) == ran(b) && disagreements(a, b).is_empty())
}

fn indent(out: &mut String, depth: usize, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "{:depth$}{line}", "");
    }
}

fn side(out: &mut String, r: &ScenarioReport, c: &CheckReport) {
    let timing = r
        .timing
        .map(|t| format!(" (scale {}, tolerance {})", t.scale, crate::expect::secs(t.tolerance)))
        .unwrap_or_default();
    match &c.verdict {
        CheckVerdict::Fail(actual) => {
            let _ = writeln!(out, "          {}{timing}: FAIL: {actual}", r.target);
        }
        v => {
            let _ = writeln!(out, "          {}{timing}: {}", r.target, v.word());
        }
    }
    let _ = writeln!(out, "            {}", c.expect);
    indent(out, 12, &sim::trace::render(&c.context, &BTreeMap::new()));
}

/// The block `--compare` prints for one scenario: both verdicts, then each
/// disagreement with both sides' lines.
pub fn block(a: &ScenarioReport, b: &ScenarioReport) -> String {
    let mut out = format!("  {:<5} {:<5} {}\n", a.verdict().word(), b.verdict().word(), a.path);
    for (r, other) in [(a, b), (b, a)] {
        if let Some(why) = &r.skipped {
            let _ = writeln!(out, "        {} skipped: {why}", r.target);
        }
        if let Some(run) = r.runs.first().filter(|run| run.failures.starts_with("run failed")) {
            if other.skipped.is_none() {
                let _ = writeln!(
                    out,
                    "        {}: {}",
                    r.target,
                    run.failures.lines().next().unwrap_or_default()
                );
            }
        }
    }
    for d in disagreements(a, b) {
        let _ = writeln!(out, "        expectation {} disagrees:", d.index + 1);
        side(&mut out, a, d.a);
        side(&mut out, b, d.b);
    }
    out
}

/// The closing line: how many scenarios agree, disagree or were not
/// compared.
pub fn summary(pairs: &[(&ScenarioReport, &ScenarioReport)]) -> String {
    let (mut same, mut differ, mut not) = (0, 0, 0);
    for (a, b) in pairs {
        match agree(a, b) {
            Some(true) => same += 1,
            Some(false) => differ += 1,
            None => not += 1,
        }
    }
    let (ta, tb) = pairs
        .first()
        .map(|(a, b)| (a.target.to_string(), b.target.to_string()))
        .unwrap_or_default();
    format!(
        "{ta} and {tb}: {} scenarios, {same} agree, {differ} disagree, {not} not compared (skipped on one side)\n",
        pairs.len()
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::report;
    use super::*;
    use crate::target::Target;
    use gateway::ProfileName;

    fn check(verdict: CheckVerdict) -> CheckReport {
        CheckReport {
            expect: "c1 closed with 1006 between 16.000s and 16.010s".into(),
            verdict,
            context: vec![sim::trace::TraceLine {
                at: Duration::from_millis(16_005),
                source: "c1".into(),
                event: sim::trace::TraceEvent::World(sim::Action::Crash("b1".into())),
            }],
        }
    }

    #[test]
    fn a_disagreement_shows_both_sides_lines() {
        let mut sim = report("x.toml", ProfileName::ApplicationGateway, &[], true);
        sim.checks = vec![check(CheckVerdict::Pass), check(CheckVerdict::Pass)];
        let mut real = report("x.toml", ProfileName::ApplicationGateway, &[], false);
        real.target = Target::Real;
        real.checks = vec![
            check(CheckVerdict::Pass),
            check(CheckVerdict::Fail("c1: closed 1000 at 1.700s".into())),
        ];
        let d = disagreements(&sim, &real);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].index, 1);
        let text = block(&sim, &real);
        assert!(
            text.starts_with("  pass  FAIL  x.toml\n        expectation 2 disagrees:\n"),
            "{text}"
        );
        assert!(text.contains("          sim: pass\n"), "{text}");
        assert!(
            text.contains("          real: FAIL: c1: closed 1000 at 1.700s\n"),
            "{text}"
        );
        assert_eq!(
            text.matches("16.005s  c1  crash b1").count(),
            2,
            "both traces' lines: {text}"
        );
        assert_eq!(agree(&sim, &real), Some(false));
        assert_eq!(agree(&sim, &sim), Some(true));
    }

    #[test]
    fn a_skip_is_not_a_disagreement() {
        let sim = report("x.toml", ProfileName::FrontDoor, &[], true);
        let mut real = report("x.toml", ProfileName::FrontDoor, &[], true);
        real.target = Target::Real;
        real.skipped = Some("too long for real time at scale 1000".into());
        real.runs.clear();
        assert_eq!(agree(&sim, &real), None);
        let text = block(&sim, &real);
        assert!(text.contains("real skipped: too long for real time"), "{text}");
        assert_eq!(
            summary(&[(&sim, &real), (&sim, &sim)]),
            "sim and real: 2 scenarios, 1 agree, 0 disagree, 1 not compared (skipped on one side)\n"
        );
    }
}
