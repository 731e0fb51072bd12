//! One SVG timeline per scenario: each session a bar labelled with its
//! close code, each backend's unhealthy spans, timeline events.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use sim::trace::TraceLine;

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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
}
