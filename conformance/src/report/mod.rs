//! Reports: the requirement × profile matrix (text and Markdown), JUnit XML
//! for CI, JSON for tools, and an SVG timeline per scenario.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use gateway::ProfileName;
use sim::trace::TraceLine;

use crate::catalogue::{Grade, Requirement};

/// One scenario in a suite run.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    pub name: String,
    pub path: String,
    pub profile: ProfileName,
    pub requirements: Vec<String>,
    /// One entry per seed run: (seed, passed, failure text).
    pub runs: Vec<(u64, bool, String)>,
    /// Set when the scenario ran twice with different traces.
    pub nondeterministic: bool,
    pub duration: Duration,
    pub lines: Vec<TraceLine>,
    /// Host names by address, for renderings.
    pub names: BTreeMap<std::net::IpAddr, String>,
}

impl ScenarioReport {
    pub fn passed(&self) -> bool {
        !self.nondeterministic && self.runs.iter().all(|(_, ok, _)| *ok)
    }
}

type Grades = BTreeMap<(String, ProfileName), Grade>;

/// The matrix as aligned text, for the terminal.
pub fn matrix_text(requirements: &[Requirement], grades: &Grades) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:<20} {:<26} {:<20}",
        "requirement", "application-gateway", "application-gateway-2016", "front-door"
    );
    for r in requirements {
        let cell = |p: ProfileName| {
            let g = &grades[&(r.id.clone(), p)];
            match g {
                Grade::Skip(_) if !r.profiles.contains(&p) => "-".to_string(),
                g => g.word().to_string(),
            }
        };
        let _ = writeln!(
            out,
            "{:<18} {:<20} {:<26} {:<20}",
            r.id,
            cell(ProfileName::ApplicationGateway),
            cell(ProfileName::ApplicationGateway2016),
            cell(ProfileName::FrontDoor)
        );
    }
    out
}

/// Counts of each grade over the cells that apply to their profile.
pub fn tally(requirements: &[Requirement], grades: &Grades) -> BTreeMap<&'static str, usize> {
    let mut t = BTreeMap::new();
    for r in requirements {
        for p in &r.profiles {
            *t.entry(grades[&(r.id.clone(), *p)].word()).or_insert(0) += 1;
        }
    }
    t
}

fn escape_md(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The Markdown report: matrix, then each requirement with its source and
/// checks, then each scenario's result.
pub fn markdown(requirements: &[Requirement], grades: &Grades, scenarios: &[ScenarioReport]) -> String {
    let mut out = String::from("# wsgate conformance report\n\n");
    let t = tally(requirements, grades);
    let _ = writeln!(
        out,
        "{} scenarios, {} passed, {} failed.",
        scenarios.len(),
        scenarios.iter().filter(|s| s.passed()).count(),
        scenarios.iter().filter(|s| !s.passed()).count()
    );
    let _ = writeln!(
        out,
        "Requirements (cells that apply): {} pass, {} fail, {} skip, {} not covered.\n",
        t.get("pass").unwrap_or(&0),
        t.get("FAIL").unwrap_or(&0),
        t.get("skip").unwrap_or(&0),
        t.get("not covered").unwrap_or(&0)
    );
    out.push_str("| requirement | application-gateway | application-gateway-2016 | front-door | statement |\n|---|---|---|---|---|\n");
    for r in requirements {
        let cell = |p: ProfileName| match &grades[&(r.id.clone(), p)] {
            Grade::Skip(_) if !r.profiles.contains(&p) => "—".to_string(),
            Grade::Skip(reason) => format!("skip: {}", escape_md(reason)),
            g => g.word().to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            r.id,
            cell(ProfileName::ApplicationGateway),
            cell(ProfileName::ApplicationGateway2016),
            cell(ProfileName::FrontDoor),
            escape_md(&r.statement)
        );
    }
    out.push_str("\n## Requirements\n\n");
    for r in requirements {
        let _ = writeln!(
            out,
            "### {}\n\n{}\n\n- source: `{}`, {}",
            r.id, r.statement, r.source, r.section
        );
        let checks: Vec<String> = scenarios
            .iter()
            .filter(|s| s.requirements.contains(&r.id))
            .map(|s| format!("`{}`", s.path))
            .collect();
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
        let verdict = if s.passed() { "pass" } else { "FAIL" };
        let _ = writeln!(out, "- `{}` ({}): {verdict}", s.path, s.profile);
        for (seed, ok, text) in &s.runs {
            if !ok {
                let _ = writeln!(out, "  - seed {seed}:\n\n```text\n{text}```\n");
            }
        }
    }
    out
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: one test case per scenario.
pub fn junit(scenarios: &[ScenarioReport]) -> String {
    let failures = scenarios.iter().filter(|s| !s.passed()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuite name=\"wsgate\" tests=\"{}\" failures=\"{failures}\">",
        scenarios.len()
    );
    for s in scenarios {
        let _ = write!(out, "  <testcase classname=\"{}\" name=\"{}\"", s.profile, xml(&s.path));
        if s.passed() {
            out.push_str("/>\n");
        } else {
            out.push_str(">\n");
            let text: String = s
                .runs
                .iter()
                .filter(|(_, ok, _)| !ok)
                .map(|(seed, _, t)| format!("seed {seed}\n{t}"))
                .collect();
            let text = if s.nondeterministic {
                format!("two runs with one seed gave different traces\n{text}")
            } else {
                text
            };
            let _ = writeln!(
                out,
                "    <failure message=\"scenario failed\">{}</failure>\n  </testcase>",
                xml(&text)
            );
        }
    }
    out.push_str("</testsuite>\n");
    out
}

/// JSON for tools.
pub fn json(requirements: &[Requirement], grades: &Grades, scenarios: &[ScenarioReport]) -> serde_json::Value {
    let reqs: Vec<serde_json::Value> = requirements
        .iter()
        .map(|r| {
            let per_profile: serde_json::Map<String, serde_json::Value> = ProfileName::ALL
                .iter()
                .map(|p| {
                    let g = &grades[&(r.id.clone(), *p)];
                    let detail = match g {
                        Grade::Pass { scenarios } | Grade::Fail { scenarios } => {
                            serde_json::json!({ "grade": g.word(), "scenarios": scenarios })
                        }
                        Grade::Skip(reason) => serde_json::json!({ "grade": "skip", "reason": reason }),
                        Grade::NotCovered => serde_json::json!({ "grade": "not covered" }),
                    };
                    (p.to_string(), detail)
                })
                .collect();
            serde_json::json!({
                "id": r.id, "source": r.source, "section": r.section, "statement": r.statement,
                "profiles": r.profiles.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "tests": r.tests, "grades": per_profile,
            })
        })
        .collect();
    let scen: Vec<serde_json::Value> = scenarios
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name, "path": s.path, "profile": s.profile.to_string(), "requirements": s.requirements,
                "passed": s.passed(), "deterministic": !s.nondeterministic,
                "runs": s.runs.iter().map(|(seed, ok, text)| serde_json::json!({"seed": seed, "passed": ok, "failures": text})).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({ "requirements": reqs, "scenarios": scen })
}

/// A session bar for the timeline: who, from, to, and how it ended.
#[derive(Debug, Clone, PartialEq)]
struct Bar {
    who: String,
    from: Duration,
    to: Duration,
    label: String,
}

fn bars(lines: &[TraceLine], end: Duration) -> Vec<Bar> {
    use sim::client::ClientEvent;
    use sim::trace::TraceEvent;
    let mut open: BTreeMap<String, Duration> = BTreeMap::new();
    let mut out = Vec::new();
    for l in lines {
        match &l.event {
            TraceEvent::Client(ClientEvent::Opened { .. }) => {
                open.insert(l.source.clone(), l.at);
            }
            TraceEvent::Client(ClientEvent::Closed { code, .. }) => {
                if let Some(from) = open.remove(&l.source) {
                    out.push(Bar {
                        who: l.source.clone(),
                        from,
                        to: l.at,
                        label: code.to_string(),
                    });
                }
            }
            TraceEvent::Client(ClientEvent::Refused { status, .. } | ClientEvent::Response { status }) => {
                out.push(Bar {
                    who: l.source.clone(),
                    from: l.at,
                    to: l.at,
                    label: status.to_string(),
                });
            }
            _ => {}
        }
    }
    for (who, from) in open {
        out.push(Bar {
            who,
            from,
            to: end,
            label: "open".into(),
        });
    }
    out.sort_by(|a, b| a.who.cmp(&b.who).then(a.from.cmp(&b.from)));
    out
}

/// Spans during which a backend was out of the pool, per backend address,
/// from the gateway's health transitions.
fn unhealthy_spans(lines: &[TraceLine], end: Duration) -> BTreeMap<String, Vec<(Duration, Duration)>> {
    use gateway::Event;
    use sim::trace::TraceEvent;
    let mut out: BTreeMap<String, Vec<(Duration, Duration)>> = BTreeMap::new();
    let mut since: BTreeMap<String, Duration> = BTreeMap::new();
    for l in lines {
        let TraceEvent::Gateway(Event::BackendHealthChanged { backend, healthy, .. }) = &l.event else {
            continue;
        };
        let addr = backend.to_string();
        if !healthy {
            since.entry(addr).or_insert(l.at);
        } else if let Some(from) = since.remove(&addr) {
            out.entry(addr).or_default().push((from, l.at));
        }
    }
    for (addr, from) in since {
        out.entry(addr).or_default().push((from, end));
    }
    out
}

/// An SVG timeline: each session a bar labelled with its close code, each
/// backend's unhealthy spans in red, timeline events as dashed lines.
pub fn svg(title: &str, lines: &[TraceLine], duration: Duration) -> String {
    let end = lines.iter().map(|l| l.at).max().unwrap_or_default().max(duration);
    let bars = bars(lines, end);
    let health = unhealthy_spans(lines, end);
    let events: Vec<&TraceLine> = lines
        .iter()
        .filter(|l| matches!(l.event, sim::trace::TraceEvent::World(_)))
        .collect();
    let rows: Vec<String> = {
        let mut r: Vec<String> = bars.iter().map(|b| b.who.clone()).collect();
        r.dedup();
        r
    };
    let (left, width, row_h) = (140.0, 900.0, 22.0);
    let x = |t: Duration| left + width * (t.as_secs_f64() / end.as_secs_f64().max(0.001));
    let height = 60.0 + row_h * (rows.len() + health.len()) as f64 + 40.0;
    let mut out = String::new();
    let _ = writeln!(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"monospace\" font-size=\"11\">", left + width + 20.0);
    let _ = writeln!(out, "<text x=\"10\" y=\"18\" font-size=\"14\">{}</text>", xml(title));
    let _ = writeln!(
        out,
        "<text x=\"{left}\" y=\"36\">0s</text><text x=\"{}\" y=\"36\" text-anchor=\"end\">{:.0}s</text>",
        left + width,
        end.as_secs_f64()
    );
    let mut y = 50.0;
    for row in &rows {
        let _ = writeln!(out, "<text x=\"10\" y=\"{}\">{}</text>", y + 14.0, xml(row));
        for b in bars.iter().filter(|b| &b.who == row) {
            let (x0, x1) = (x(b.from), x(b.to).max(x(b.from) + 2.0));
            let colour = match b.label.as_str() {
                "1000" | "open" => "#4a90d9",
                "1006" => "#d94a4a",
                _ if b.from == b.to => "#e0a020",
                _ => "#8a6ad9",
            };
            let _ = writeln!(out, "<rect x=\"{x0:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"16\" fill=\"{colour}\"><title>{} {:.3}s-{:.3}s {}</title></rect>", x1 - x0, xml(row), b.from.as_secs_f64(), b.to.as_secs_f64(), xml(&b.label));
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{}\">{}</text>",
                x1 + 2.0,
                y + 12.0,
                xml(&b.label)
            );
        }
        y += row_h;
    }
    for (addr, spans) in &health {
        let _ = writeln!(out, "<text x=\"10\" y=\"{}\">{} health</text>", y + 14.0, xml(addr));
        let _ = writeln!(
            out,
            "<rect x=\"{left}\" y=\"{}\" width=\"{width}\" height=\"6\" fill=\"#6ac46a\"/>",
            y + 5.0
        );
        for (from, to) in spans {
            let _ = writeln!(out, "<rect x=\"{:.1}\" y=\"{}\" width=\"{:.1}\" height=\"6\" fill=\"#d94a4a\"><title>unhealthy {:.3}s-{:.3}s</title></rect>", x(*from), y + 5.0, (x(*to) - x(*from)).max(1.0), from.as_secs_f64(), to.as_secs_f64());
        }
        y += row_h;
    }
    for e in events {
        let ex = x(e.at);
        let _ = writeln!(out, "<line x1=\"{ex:.1}\" y1=\"40\" x2=\"{ex:.1}\" y2=\"{y}\" stroke=\"#555\" stroke-dasharray=\"4 3\"/><text x=\"{:.1}\" y=\"{}\">{}</text>", ex + 2.0, y + 14.0, xml(&e.event.to_string()));
        y += 14.0;
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(at_s: u64, source: &str, event: impl Into<sim::trace::TraceEvent>) -> TraceLine {
        TraceLine {
            at: Duration::from_secs(at_s),
            source: source.into(),
            event: event.into(),
        }
    }

    #[test]
    fn the_timeline_draws_sessions_health_and_events() {
        use sim::client::{ClientEvent, CloseCause};
        let lines = [
            line(
                1,
                "c1",
                ClientEvent::Opened {
                    path: "/chat".into(),
                    key: std::sync::Arc::from("k"),
                    subprotocol: None,
                    headers: vec![],
                },
            ),
            line(
                15,
                "c1",
                ClientEvent::Closed {
                    code: 1006,
                    cause: CloseCause::NoFrame,
                },
            ),
            line(20, "world", sim::Action::Maintenance("gateway-1".into())),
            line(
                30,
                "gateway",
                gateway::Event::BackendHealthChanged {
                    backend: gateway::config::BackendAddr::parse("b2:9001").unwrap(),
                    healthy: false,
                    failures: 3,
                    last: gateway::health::ProbeResult::Failure(gateway::health::ProbeFailure::Status(500)),
                },
            ),
            line(
                40,
                "c2",
                ClientEvent::Refused {
                    path: "/chat".into(),
                    status: 502,
                },
            ),
        ];
        let svg = svg("agw idle", &lines, Duration::from_secs(60));
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains(">1006</text>"), "the close code labels its bar");
        assert!(svg.contains(">502</text>"));
        assert!(svg.contains("b2:9001 health"));
        assert!(svg.contains("maintenance: restarting gateway-1"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn junit_escapes_and_counts() {
        let s = ScenarioReport {
            name: "x".into(),
            path: "a<b>.toml".into(),
            profile: ProfileName::FrontDoor,
            requirements: vec![],
            runs: vec![(1, false, "expected: \"x\" & y".into())],
            nondeterministic: false,
            duration: Duration::from_secs(1),
            lines: vec![],
            names: BTreeMap::new(),
        };
        let x = junit(&[s]);
        assert!(x.contains("tests=\"1\" failures=\"1\""));
        assert!(x.contains("a&lt;b&gt;.toml"));
        assert!(x.contains("&quot;x&quot; &amp; y"));
    }
}
