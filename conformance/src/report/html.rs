//! `index.html`: the requirement matrix, each cell linking to the
//! scenarios behind it, then each scenario with its verdict, failures,
//! close causes, timeline and readable trace.
//!
//! Plain HTML and CSS in one file, no script: it works from `file://` and
//! links to `timelines/*.svg` and `traces/*.txt` beside it.

use std::fmt::Write as _;
use std::path::Path;

use gateway::ProfileName;

use super::markdown::{close_causes, determinism_summary, determinism_word};
use super::{cell, tally, tally_line, Cell, Grades, Matrix, ScenarioReport, TargetGrades, Verdict};
use crate::catalogue::{Grade, Requirement};
use crate::target::Target;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The CSS class of a matrix cell. Pure.
pub fn cell_class(c: Cell<'_>) -> &'static str {
    match c {
        Cell::NotApplicable => "na",
        Cell::Graded(Grade::Pass { .. }) => "pass",
        Cell::Graded(Grade::Fail { .. }) => "fail",
        Cell::Graded(Grade::Skip(_)) => "skip",
        Cell::Graded(Grade::NotCovered) => "uncovered",
    }
}

/// The anchor of a scenario's section.
fn anchor(s: &ScenarioReport) -> String {
    format!("s-{}", s.slug())
}

/// A scenario's short name: its file name without `.toml`.
fn short(path: &str) -> String {
    Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}

const STYLE: &str = r#"
:root { --pass: #1a7f37; --pass-bg: #dafbe1; --fail: #b42318; --fail-bg: #ffe4e0; --skip-bg: #eef0f3;
        --uncovered-bg: #fff3cd; --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1f2328;
       margin: 0 auto; padding: 24px 32px 64px; max-width: 1320px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 0 0 6px; }
a { color: #0550ae; text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.summary { margin: 6px 0; font-size: 15px; }
.muted, .meta { color: var(--muted); }
.badge { display: inline-block; min-width: 44px; text-align: center; padding: 1px 7px; border-radius: 10px;
         font-size: 12px; font-weight: 600; margin-right: 6px; }
.badge.pass { background: var(--pass-bg); color: var(--pass); }
.badge.fail { background: var(--fail); color: #fff; }
.badge.skip { background: var(--skip-bg); color: var(--muted); }
.badge.target { background: #ddf4ff; color: #0550ae; font-weight: 500; }
table.matrix { border-collapse: collapse; width: 100%; }
.matrix th, .matrix td { border: 1px solid var(--line); padding: 5px 8px; vertical-align: top; text-align: left; }
.matrix thead th { background: #f6f8fa; position: sticky; top: 0; font-size: 13px; }
.matrix th.id { white-space: nowrap; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.matrix td.g { font-size: 12.5px; }
.matrix td.g .word { font-weight: 700; display: block; }
.matrix td.g a { display: block; white-space: nowrap; }
.matrix td.pass { background: var(--pass-bg); } .matrix td.pass .word { color: var(--pass); }
.matrix td.fail { background: var(--fail-bg); } .matrix td.fail .word { color: var(--fail); }
.matrix td.skip { background: var(--skip-bg); color: var(--muted); }
.matrix td.uncovered { background: var(--uncovered-bg); }
.matrix td.na { color: #afb8c1; text-align: center; }
.matrix td.stmt { font-size: 13px; }
.matrix td.basis { font-size: 12px; white-space: nowrap; }
.matrix td.basis-choice { font-style: italic; color: #7a5b00; }
.note { color: var(--muted); font-style: italic; }
nav.index { columns: 2; column-gap: 32px; font-size: 13px; }
nav.index div { break-inside: avoid; padding: 1px 0; }
section.scenario { border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin: 16px 0; }
section.scenario.failed { border-color: var(--fail); box-shadow: 0 0 0 2px var(--fail-bg); }
section.scenario p { margin: 4px 0; }
ul.closes { margin: 6px 0; padding-left: 20px; font-size: 13px; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; overflow-x: auto; }
pre.failures { background: var(--fail-bg); border-color: #f5b5ab; }
.timeline { display: block; margin: 10px 0 6px; overflow-x: auto; }
.timeline img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
details summary { cursor: pointer; color: #0550ae; }
"#;

/// The page. With several targets the matrix has a row per requirement
/// and profile and a column per target.
pub fn html(
    matrix: &Matrix<'_>,
    graded: &TargetGrades,
    scenarios: &[ScenarioReport],
    catalogue: &[Requirement],
) -> String {
    let empty = Grades::new();
    let grades = graded.first().map_or(&empty, |(_, g)| g);
    let multi = graded.len() > 1;
    let mut out = String::new();
    let count = |v: Verdict| scenarios.iter().filter(|s| s.verdict() == v).count();
    let (passed, failed, skipped) = (count(Verdict::Pass), count(Verdict::Fail), count(Verdict::Skip));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>wsgate conformance report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    );
    let _ = writeln!(out, "<h1>wsgate conformance report</h1>");
    let _ = writeln!(
        out,
        "<p class=\"summary\">{} {}: <span class=\"badge pass\">{passed} passed</span>{}{}</p>",
        scenarios.len(),
        if multi {
            "runs (scenario × target)"
        } else {
            "scenarios"
        },
        if failed > 0 {
            format!("<span class=\"badge fail\">{failed} failed</span>")
        } else {
            "0 failed".to_string()
        },
        if skipped > 0 {
            format!(" <span class=\"badge skip\">{skipped} skipped</span>")
        } else {
            String::new()
        }
    );
    let findings = scenarios.iter().filter(|s| s.is_finding()).count();
    if findings > 0 {
        let _ = writeln!(
            out,
            "<p class=\"muted\">{findings} of the failures are findings: on a gateway other than wsgate, where it \
             differs from the documents.</p>"
        );
    }
    for (t, g) in graded {
        let on = if multi { format!(" on {t}") } else { String::new() };
        let _ = writeln!(
            out,
            "<p class=\"muted\">Requirements shown{on} (cells that apply): {}.</p>",
            tally_line(&tally(&matrix.shown, g))
        );
    }
    let _ = writeln!(
        out,
        "<p class=\"muted\">Determinism: {}.</p>",
        esc(&determinism_summary(scenarios))
    );
    let _ = writeln!(
        out,
        "<p class=\"muted\">Also written: <a href=\"report.md\">report.md</a> · <a href=\"junit.xml\">junit.xml</a> · \
         <a href=\"report.json\">report.json</a></p>"
    );

    let _ = writeln!(
        out,
        "<h2>Requirements × {}</h2>",
        if multi { "profiles and targets" } else { "profiles" }
    );
    let _ = writeln!(
        out,
        "<p class=\"muted\">Each cell links to the scenarios that grade it. Each scenario below shows its \
         timeline (open it and hover a bar for the session's backend and close cause) and its readable trace.</p>"
    );
    let head = |r: &Requirement, out: &mut String| {
        let _ = write!(
            out,
            "<th class=\"id\"><a href=\"#req-{id}\">{id}</a></th>\
             <td class=\"basis basis-{kind}\" title=\"{title}\">{kind}</td><td class=\"stmt\">{}</td>",
            esc(&r.statement),
            id = esc(&r.id),
            kind = r.basis.kind(),
            title = esc(&format!("{}: {}", r.basis, r.basis.words()))
        );
    };
    if multi {
        let names: String = graded.iter().map(|(t, _)| format!("<th>{t}</th>")).collect();
        let _ = writeln!(
            out,
            "<table class=\"matrix\">\n<thead><tr><th>requirement</th><th>basis</th><th>statement</th><th>profile</th>\
             {names}</tr></thead>\n<tbody>"
        );
        for r in &matrix.shown {
            for (i, p) in r.profiles.iter().enumerate() {
                let id = if i == 0 {
                    format!(" id=\"req-{}\"", esc(&r.id))
                } else {
                    String::new()
                };
                let _ = write!(out, "<tr{id}>");
                head(r, &mut out);
                let _ = write!(out, "<td class=\"basis\">{p}</td>");
                for (t, g) in graded {
                    let _ = write!(out, "{}", matrix_cell(r, *p, g, scenarios, *t));
                }
                let _ = writeln!(out, "</tr>");
            }
        }
    } else {
        let _ = writeln!(
            out,
            "<table class=\"matrix\">\n<thead><tr><th>requirement</th><th>basis</th><th>statement</th><th>application-gateway</th>\
             <th>application-gateway-2016</th><th>front-door</th></tr></thead>\n<tbody>"
        );
        let target = graded.first().map_or(Target::Sim, |(t, _)| *t);
        for r in &matrix.shown {
            let _ = write!(out, "<tr id=\"req-{}\">", esc(&r.id));
            head(r, &mut out);
            for p in ProfileName::ALL {
                let _ = write!(out, "{}", matrix_cell(r, p, grades, scenarios, target));
            }
            let _ = writeln!(out, "</tr>");
        }
    }
    let _ = writeln!(out, "</tbody>\n</table>");
    if let Some(note) = matrix.left_out_note(grades) {
        let _ = writeln!(out, "<p class=\"note\">{}.</p>", esc(&note));
    }

    let _ = writeln!(out, "<h2>Scenarios</h2>\n<nav class=\"index\">");
    for s in scenarios {
        let _ = writeln!(
            out,
            "<div>{} <a href=\"#{}\">{}</a>{}</div>",
            verdict_badge(s),
            anchor(s),
            esc(&s.path),
            target_badge(s)
        );
    }
    let _ = writeln!(out, "</nav>");
    for s in scenarios {
        scenario_section(&mut out, s, catalogue);
    }
    let _ = writeln!(out, "</body>\n</html>");
    out
}

fn target_badge(s: &ScenarioReport) -> String {
    match s.target {
        Target::Sim => String::new(),
        t => format!(" <span class=\"badge target\">{t}</span>"),
    }
}

fn verdict_badge(s: &ScenarioReport) -> &'static str {
    match s.verdict() {
        Verdict::Pass => "<span class=\"badge pass\">pass</span>",
        Verdict::Fail => "<span class=\"badge fail\">FAIL</span>",
        Verdict::Skip => "<span class=\"badge skip\">skip</span>",
    }
}

/// One matrix cell: the grade, and a link to each scenario behind it.
fn matrix_cell(
    r: &Requirement,
    p: ProfileName,
    grades: &Grades,
    scenarios: &[ScenarioReport],
    target: Target,
) -> String {
    let c = cell(r, p, grades);
    let class = cell_class(c);
    let links = |names: &[String]| -> String {
        names
            .iter()
            .filter_map(|path| scenarios.iter().find(|s| &s.path == path && s.target == target))
            .map(|s| {
                format!(
                    "<a href=\"#{}\" title=\"{}\">{}</a>",
                    anchor(s),
                    esc(&s.name),
                    esc(&short(&s.path))
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let inner = match c {
        Cell::NotApplicable => "—".to_string(),
        Cell::Graded(g @ (Grade::Pass { scenarios: names } | Grade::Fail { scenarios: names })) => {
            format!("<span class=\"word\">{}</span>{}", g.word(), links(names))
        }
        Cell::Graded(Grade::Skip(reason)) => format!("<span class=\"word\">skip</span>{}", esc(reason)),
        Cell::Graded(Grade::NotCovered) => "<span class=\"word\">not covered</span>no scenario names it".to_string(),
    };
    format!("<td class=\"g {class}\">{inner}</td>")
}

fn scenario_section(out: &mut String, s: &ScenarioReport, catalogue: &[Requirement]) {
    let slug = s.slug();
    let class = if s.verdict() == Verdict::Fail {
        "scenario failed"
    } else {
        "scenario"
    };
    let _ = writeln!(out, "<section class=\"{class}\" id=\"{}\">", anchor(s));
    let _ = writeln!(out, "<h3>{} {}{}</h3>", verdict_badge(s), esc(&s.name), target_badge(s));
    if let Some(why) = &s.skipped {
        let _ = writeln!(
            out,
            "<p class=\"meta\"><code>{}</code> · {} · {}</p>\n<p>skipped on {}: {}</p>\n</section>",
            esc(&s.path),
            s.profile,
            s.target,
            s.target,
            esc(why)
        );
        return;
    }
    if s.is_finding() {
        let _ = writeln!(
            out,
            "<p class=\"note\">A finding: {} differs from the documents here.</p>",
            s.target
        );
    }
    if let Some(t) = s.timing {
        let _ = writeln!(
            out,
            "<p class=\"meta\">On {} at time scale {}: times are wall-clock, the scenario's divided by {}; every time bound \
             widened by {}.</p>",
            s.target,
            t.scale,
            t.scale,
            crate::expect::secs(t.tolerance)
        );
    }
    let skips = s.skipped_checks();
    if !skips.is_empty() {
        let _ = writeln!(out, "<ul class=\"closes\">");
        for (expect, why) in skips {
            let _ = writeln!(out, "<li>skipped: {}: {}</li>", esc(expect), esc(why));
        }
        let _ = writeln!(out, "</ul>");
    }
    let reqs: Vec<String> = s
        .requirements
        .iter()
        .map(|id| format!("<a href=\"#req-{id}\">{id}</a>", id = esc(id)))
        .collect();
    let seeds: Vec<String> = s.runs.iter().map(|r| r.seed.to_string()).collect();
    let _ = writeln!(
        out,
        "<p class=\"meta\"><code>{}</code> · {} · seed {} · determinism {} · requirements {}</p>",
        esc(&s.path),
        s.profile,
        seeds.join(", "),
        determinism_word(s),
        if reqs.is_empty() {
            "none".to_string()
        } else {
            reqs.join(", ")
        }
    );
    if let Some(d) = &s.description {
        let _ = writeln!(out, "<p>{}</p>", esc(d));
    }
    let causes = close_causes(s, catalogue);
    if !causes.is_empty() {
        let _ = writeln!(out, "<ul class=\"closes\">");
        for c in causes {
            let _ = writeln!(out, "<li>{}</li>", esc(&c));
        }
        let _ = writeln!(out, "</ul>");
    }
    for run in s.runs.iter().filter(|r| !r.passed) {
        let _ = writeln!(
            out,
            "<pre class=\"failures\">seed {}\n{}replay: {}</pre>",
            run.seed,
            esc(&run.failures),
            esc(&run.replay)
        );
    }
    for run in &s.runs {
        if let super::Determinism::Differs(diff) = &run.determinism {
            let _ = writeln!(
                out,
                "<pre class=\"failures\">seed {} gave two different traces; {}</pre>",
                run.seed,
                esc(diff)
            );
        }
    }
    let _ = writeln!(
        out,
        "<a class=\"timeline\" href=\"timelines/{slug}.svg\" title=\"open the timeline (hover a bar for its details)\">\
         <img src=\"timelines/{slug}.svg\" alt=\"timeline of {}\" loading=\"lazy\"></a>",
        esc(&s.name)
    );
    let _ = writeln!(
        out,
        "<details><summary>readable trace</summary><pre>{}</pre></details>\n\
         <p class=\"meta\"><a href=\"timelines/{slug}.svg\">timeline</a> · <a href=\"traces/{slug}.txt\">readable trace</a> · \
         <a href=\"traces/{slug}.full.txt\">full trace</a></p>",
        esc(&s.readable_trace(catalogue))
    );
    let _ = writeln!(out, "</section>");
}

#[cfg(test)]
mod tests {
    use super::super::tests::report;
    use super::super::{matrix, MatrixScope};
    use super::*;
    use crate::catalogue;

    #[test]
    fn cells_link_to_their_scenarios_and_scenarios_to_their_files() {
        let reqs = catalogue::requirements();
        let runs = vec![
            report(
                "scenarios/front-door/idle-5m.toml",
                ProfileName::FrontDoor,
                &["FD-IDLE-1"],
                true,
            ),
            report(
                "scenarios/front-door/life<4h>.toml",
                ProfileName::FrontDoor,
                &["FD-LIFETIME-1"],
                false,
            ),
        ];
        let grades = catalogue::grade(&reqs, &crate::suite::results(&runs));
        let page = html(
            &matrix(&reqs, &runs, MatrixScope::Touched),
            &vec![(Target::Sim, grades)],
            &runs,
            &reqs,
        );
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(!page.contains("<script"), "no JavaScript");
        assert!(
            page.contains("<a href=\"#s-scenarios__front-door__idle-5m\" title=\"scenarios/front-door/idle-5m.toml scenario\">idle-5m</a>"),
            "a cell links to its scenario"
        );
        assert!(page.contains("id=\"s-scenarios__front-door__idle-5m\""));
        assert!(page.contains("<td class=\"g fail\"><span class=\"word\">FAIL</span>"));
        assert!(page.contains("href=\"timelines/scenarios__front-door__idle-5m.svg\""));
        assert!(page.contains("href=\"traces/scenarios__front-door__idle-5m.txt\""));
        assert!(page.contains("life&lt;4h&gt;"), "paths are escaped");
        assert!(!page.contains("life<4h>"));
        assert!(page.contains("<pre class=\"failures\">seed 1\nexpected: x\nreplay: "));
        assert!(page.contains("requirements left out"));
        assert!(page.contains("id=\"req-FD-IDLE-1\""));
    }

    #[test]
    fn cell_classes_follow_the_grade() {
        let pass = Grade::Pass { scenarios: vec![] };
        assert_eq!(cell_class(Cell::Graded(&pass)), "pass");
        assert_eq!(cell_class(Cell::Graded(&Grade::NotCovered)), "uncovered");
        assert_eq!(cell_class(Cell::NotApplicable), "na");
    }

    #[test]
    fn several_targets_get_a_column_each_linking_to_that_targets_run() {
        let reqs = catalogue::requirements();
        let mut real = report(
            "scenarios/front-door/idle.toml",
            ProfileName::FrontDoor,
            &["FD-IDLE-1"],
            true,
        );
        real.target = Target::Real;
        let runs = vec![
            report(
                "scenarios/front-door/idle.toml",
                ProfileName::FrontDoor,
                &["FD-IDLE-1"],
                true,
            ),
            real,
        ];
        let graded = crate::cli::run::grades_by_target(&reqs, &runs, &[Target::Sim, Target::Real]);
        let page = html(&matrix(&reqs, &runs, MatrixScope::Touched), &graded, &runs, &reqs);
        assert!(page.contains("<th>profile</th><th>sim</th><th>real</th>"), "{page}");
        assert!(page.contains("href=\"#s-scenarios__front-door__idle.real\""), "{page}");
        assert!(page.contains("id=\"s-scenarios__front-door__idle.real\""), "{page}");
        assert!(page.contains("<span class=\"badge target\">real</span>"), "{page}");
        assert!(page.contains("2 runs (scenario × target)"), "{page}");
    }
}
