//! `report.md`: the matrix, each shown requirement with its source and
//! scenarios, then each scenario's verdict, failures and close causes.

use std::fmt::Write as _;

use gateway::ProfileName;

use super::{cell, tally, tally_line, Cell, Grades, Matrix, ScenarioReport, TargetGrades, Verdict};
use crate::catalogue::{Grade, Requirement};
use crate::explain::{self, secs};
use crate::target::Target;

fn escape_md(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Each client close that needed explaining in `s`: when, who, and why.
pub fn close_causes(s: &ScenarioReport, catalogue: &[Requirement]) -> Vec<String> {
    explain::explain_closes(&s.lines, s.profile, catalogue)
        .into_iter()
        .filter_map(|(i, e)| {
            let l = s.lines.get(i)?;
            Some(format!("{} at {}: {}", l.source, secs(l.at), e))
        })
        .collect()
}

/// The Markdown report. Links to `timelines/` and `traces/` are relative
/// to the directory it is written in. With several targets the matrix has
/// a row per requirement and profile and a column per target.
pub fn markdown(
    matrix: &Matrix<'_>,
    graded: &TargetGrades,
    scenarios: &[ScenarioReport],
    catalogue: &[Requirement],
) -> String {
    let empty = Grades::new();
    let grades = graded.first().map_or(&empty, |(_, g)| g);
    let mut out = String::from("# wsgate conformance report\n\n");
    let count = |v: Verdict| scenarios.iter().filter(|s| s.verdict() == v).count();
    let runs = if graded.len() > 1 {
        "runs (scenario × target)"
    } else {
        "scenarios"
    };
    let _ = write!(
        out,
        "{} {runs}, {} passed, {} failed",
        scenarios.len(),
        count(Verdict::Pass),
        count(Verdict::Fail)
    );
    if count(Verdict::Skip) > 0 {
        let _ = write!(out, ", {} skipped", count(Verdict::Skip));
    }
    out.push_str(".\n");
    let findings = scenarios.iter().filter(|s| s.is_finding()).count();
    if findings > 0 {
        let _ = writeln!(
            out,
            "{findings} of the failures are findings: on a gateway other than wsgate, where it differs from the documents."
        );
    }
    for (t, g) in graded {
        let on = if graded.len() > 1 {
            format!(" on {t}")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "Requirements shown{on} (cells that apply): {}.",
            tally_line(&tally(&matrix.shown, g))
        );
    }
    let _ = writeln!(out, "Determinism: {}.\n", determinism_summary(scenarios));
    let text = |r: &Requirement, p: ProfileName, g: &Grades| match cell(r, p, g) {
        Cell::NotApplicable => "—".to_string(),
        Cell::Graded(Grade::Skip(reason)) => format!("skip: {}", escape_md(reason)),
        Cell::Graded(g) => g.word().to_string(),
    };
    if graded.len() > 1 {
        let names: Vec<String> = graded.iter().map(|(t, _)| t.to_string()).collect();
        let _ = writeln!(
            out,
            "| requirement | basis | profile | {} | statement |\n|---|---|---|{}---|",
            names.join(" | "),
            "---|".repeat(names.len())
        );
        for r in &matrix.shown {
            for p in &r.profiles {
                let cells: Vec<String> = graded.iter().map(|(_, g)| text(r, *p, g)).collect();
                let _ = writeln!(
                    out,
                    "| {} | {} | {p} | {} | {} |",
                    r.id,
                    r.basis.kind(),
                    cells.join(" | "),
                    escape_md(&r.statement)
                );
            }
        }
    } else {
        out.push_str("| requirement | basis | application-gateway | application-gateway-2016 | front-door | statement |\n|---|---|---|---|---|---|\n");
        for r in &matrix.shown {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                r.id,
                r.basis.kind(),
                text(r, ProfileName::ApplicationGateway, grades),
                text(r, ProfileName::ApplicationGateway2016, grades),
                text(r, ProfileName::FrontDoor, grades),
                escape_md(&r.statement)
            );
        }
    }
    if let Some(note) = matrix.left_out_note(grades) {
        let _ = writeln!(out, "\n{note}.");
    }
    out.push_str("\n## Requirements\n\n");
    for r in &matrix.shown {
        let _ = writeln!(
            out,
            "### {}\n\n{}\n\n- basis: {}\n- {}: {}",
            r.id,
            r.statement,
            escape_md(&r.basis.to_string()),
            if r.basis.kind() == "choice" { "reason" } else { "quote" },
            escape_md(r.basis.words())
        );
        let mut checks: Vec<String> = scenarios
            .iter()
            .filter(|s| s.requirements.contains(&r.id))
            .map(|s| format!("`{}`", s.path))
            .collect();
        checks.dedup();
        let _ = writeln!(
            out,
            "- scenarios: {}",
            if checks.is_empty() {
                "none".to_string()
            } else {
                checks.join(", ")
            }
        );
        if !r.tests.is_empty() {
            let _ = writeln!(
                out,
                "- also checked by cargo test: {}",
                r.tests.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
            );
        }
        out.push('\n');
    }
    out.push_str("## Scenarios\n\n");
    for s in scenarios {
        let verdict = s.verdict().word();
        let slug = s.slug();
        let on = match s.target {
            Target::Sim => String::new(),
            t => format!(" on {t}"),
        };
        if let Some(why) = &s.skipped {
            let _ = writeln!(out, "- `{}` ({}){on}: skip: {}", s.path, s.profile, escape_md(why));
            continue;
        }
        let timing = s
            .timing
            .map(|t| format!("; scale {}, tolerance {}", t.scale, crate::expect::secs(t.tolerance)))
            .unwrap_or_default();
        let finding = if s.is_finding() { " (a finding)" } else { "" };
        let _ = writeln!(
            out,
            "- `{}` ({}){on}: {verdict}{finding}{timing}; determinism {}; [timeline](timelines/{slug}.svg), [trace](traces/{slug}.txt)",
            s.path,
            s.profile,
            determinism_word(s)
        );
        for (expect, why) in s.skipped_checks() {
            let _ = writeln!(out, "  - skip: {}: {}", escape_md(expect), escape_md(why));
        }
        for cause in close_causes(s, catalogue) {
            let _ = writeln!(out, "  - {}", escape_md(&cause));
        }
        for run in s.runs.iter().filter(|r| !r.passed) {
            let _ = writeln!(
                out,
                "  - seed {}:\n\n```text\n{}replay: {}\n```\n",
                run.seed, run.failures, run.replay
            );
        }
        for run in &s.runs {
            if let super::Determinism::Differs(diff) = &run.determinism {
                let _ = writeln!(
                    out,
                    "  - seed {} gave two different traces: {}",
                    run.seed,
                    escape_md(diff)
                );
            }
        }
    }
    out
}

/// `checked, identical` / `checked, DIFFERS` / `not checked`.
pub fn determinism_word(s: &ScenarioReport) -> &'static str {
    match s.determinism().identical() {
        None => "not checked",
        Some(true) => "checked, identical",
        Some(false) => "checked, DIFFERS",
    }
}

/// One sentence about determinism over the whole run.
pub fn determinism_summary(scenarios: &[ScenarioReport]) -> String {
    let checked: Vec<&ScenarioReport> = scenarios
        .iter()
        .filter(|s| s.determinism().identical().is_some())
        .collect();
    if checked.is_empty() {
        return "not checked (--check-determinism runs each seed twice and compares the traces)".into();
    }
    let identical = checked
        .iter()
        .filter(|s| s.determinism().identical() == Some(true))
        .count();
    let differ = checked.len() - identical;
    let scope = if scenarios.len() == 1 && checked.len() == 1 {
        "the one scenario".to_string()
    } else if checked.len() == scenarios.len() {
        format!("all {} scenarios", scenarios.len())
    } else {
        format!("{} of {} scenarios", checked.len(), scenarios.len())
    };
    if differ == 0 {
        format!("checked for {scope}: every seed gave identical traces on both runs")
    } else {
        format!("checked for {scope}: {differ} gave different traces on two runs of one seed, {identical} identical")
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::report;
    use super::super::{matrix, Determinism, MatrixScope};
    use super::*;
    use crate::catalogue;

    #[test]
    fn the_report_links_each_scenario_and_says_what_was_checked() {
        let reqs = catalogue::requirements();
        let mut runs = vec![
            report(
                "scenarios/front-door/idle.toml",
                ProfileName::FrontDoor,
                &["FD-IDLE-1"],
                true,
            ),
            report(
                "scenarios/front-door/life.toml",
                ProfileName::FrontDoor,
                &["FD-LIFETIME-1"],
                false,
            ),
        ];
        runs[0].runs[0].determinism = Determinism::Identical;
        let grades = catalogue::grade(&reqs, &crate::suite::results(&runs));
        let m = matrix(&reqs, &runs, MatrixScope::Touched);
        let md = markdown(&m, &vec![(Target::Sim, grades)], &runs, &reqs);
        assert!(md.contains("2 scenarios, 1 passed, 1 failed."));
        assert!(md.contains("| FD-IDLE-1 | document | — | — | pass |"), "{md}");
        assert!(md.contains("requirements left out"));
        assert!(md.contains("[timeline](timelines/scenarios__front-door__idle.svg)"));
        assert!(md.contains("determinism checked, identical"));
        assert!(md.contains("determinism not checked"));
        assert!(md.contains("replay: cargo run --release -- run scenarios/front-door/life.toml"));
        assert!(
            md.contains("Determinism: checked for 1 of 2 scenarios: every seed gave identical traces on both runs."),
            "never claims what it did not check: {md}"
        );
    }

    #[test]
    fn the_determinism_sentence_counts_what_was_checked() {
        let mut one = vec![report("a.toml", ProfileName::FrontDoor, &[], true)];
        assert!(determinism_summary(&one).starts_with("not checked"));
        one[0].runs[0].determinism = Determinism::Identical;
        assert_eq!(
            determinism_summary(&one),
            "checked for the one scenario: every seed gave identical traces on both runs"
        );
        let mut two = vec![one[0].clone(), one[0].clone()];
        assert!(determinism_summary(&two).starts_with("checked for all 2 scenarios: every seed"));
        two[1].runs[0].determinism = Determinism::Differs("line 1".into());
        assert_eq!(
            determinism_summary(&two),
            "checked for all 2 scenarios: 1 gave different traces on two runs of one seed, 1 identical"
        );
    }

    #[test]
    fn several_targets_get_a_column_each_and_runs_say_where() {
        let reqs = catalogue::requirements();
        let nginx = Target::Peer(crate::peer::PeerKind::Nginx);
        let mut on_nginx = report("s/x.toml", ProfileName::FrontDoor, &["FD-IDLE-1"], false);
        on_nginx.target = nginx;
        let mut skipped = report("s/y.toml", ProfileName::FrontDoor, &["FD-IDLE-1"], true);
        skipped.target = nginx;
        skipped.skipped = Some("nginx cannot express x | y".into());
        let runs = vec![
            report("s/x.toml", ProfileName::FrontDoor, &["FD-IDLE-1"], true),
            on_nginx,
            skipped,
        ];
        let graded = crate::cli::run::grades_by_target(&reqs, &runs, &[Target::Sim, nginx]);
        let md = markdown(&matrix(&reqs, &runs, MatrixScope::Touched), &graded, &runs, &reqs);
        assert!(
            md.contains("3 runs (scenario × target), 1 passed, 1 failed, 1 skipped."),
            "{md}"
        );
        assert!(md.contains("1 of the failures are findings"), "{md}");
        assert!(
            md.contains("| requirement | basis | profile | sim | nginx | statement |"),
            "{md}"
        );
        assert!(
            md.contains("| FD-IDLE-1 | document | front-door | pass | FAIL |"),
            "{md}"
        );
        assert!(
            md.contains("- `s/x.toml` (front-door) on nginx: FAIL (a finding)"),
            "{md}"
        );
        assert!(md.contains("[timeline](timelines/s__x.nginx.svg)"), "{md}");
        assert!(
            md.contains("- `s/y.toml` (front-door) on nginx: skip: nginx cannot express x \\| y"),
            "{md}"
        );
    }
}
