use super::*;
use crate::catalogue;
use crate::explain::sessions::tests::{addr, client_close, gateway_close, line, open};
use gateway::event::{CloseReason, Side};
use gateway::health::{ProbeFailure, ProbeResult};
use gateway::session::Timer;
use gateway::Event;
use sim::client::ClientEvent;

#[test]
fn every_mark_and_health_has_its_own_colour() {
    let marks = [
        Mark::Normal,
        Mark::Abnormal,
        Mark::Application,
        Mark::OtherCode,
        Mark::StillOpen,
        Mark::Refused4xx,
        Mark::Refused5xx,
        Mark::RefusedOther,
        Mark::NoConnection,
        Mark::Response,
    ];
    let mut colours: Vec<&str> = marks.iter().map(|m| m.colour()).collect();
    colours.push(IN_POOL);
    colours.push(OUT_OF_POOL);
    let n = colours.len();
    colours.sort_unstable();
    colours.dedup();
    assert_eq!(colours.len(), n, "one colour, one meaning");
    assert_ne!(
        Mark::Abnormal.colour(),
        OUT_OF_POOL,
        "1006 and unhealthy never share a red"
    );
}

#[test]
fn close_codes_and_statuses_fall_into_classes() {
    assert_eq!(Mark::for_close(1000), Mark::Normal);
    assert_eq!(Mark::for_close(1003), Mark::Normal);
    assert_eq!(Mark::for_close(1006), Mark::Abnormal);
    assert_eq!(Mark::for_close(4000), Mark::Application);
    assert_eq!(Mark::for_close(1011), Mark::OtherCode);
    assert_eq!(Mark::for_refusal(403), Mark::Refused4xx);
    assert_eq!(Mark::for_refusal(502), Mark::Refused5xx);
    assert!(Mark::for_refusal(502).is_point());
    assert!(!Mark::for_close(1006).is_point());
}

fn idle() -> CloseReason {
    CloseReason::IdleTimeout(Timer::key(
        Duration::from_secs(15),
        "backend_settings[0].request_timeout",
    ))
}

fn sample() -> Vec<TraceLine> {
    let mut lines = open(1000, "gateway", 1, "b1", "c1", "k1");
    lines.push(gateway_close(16_003, "gateway", 1, Side::Gateway, idle()));
    lines.push(client_close(16_004, "c1", 1006));
    lines.extend(open(17_000, "gateway", 2, "b2", "c1", "k2"));
    lines.push(line(20_000, "world", sim::Action::SetHealth("b2".into(), 500)));
    for (ms, healthy) in [(30_000, true), (60_000, false), (90_000, true)] {
        lines.push(line(
            ms,
            "gateway",
            Event::ProbeCompleted {
                backend: addr("b2"),
                result: if healthy {
                    ProbeResult::Success(200)
                } else {
                    ProbeResult::Failure(ProbeFailure::Status(500))
                },
                healthy,
            },
        ));
    }
    lines.push(line(
        40_000,
        "c2",
        ClientEvent::Refused {
            path: "/chat".into(),
            status: 502,
        },
    ));
    lines.sort_by_key(|l| l.at);
    lines
}

#[test]
fn sessions_carry_their_backend_and_cause() {
    let items = items(
        &sample(),
        Duration::from_secs(120),
        ProfileName::ApplicationGateway,
        &catalogue::requirements(),
    );
    let first = &items[0];
    assert_eq!(first.row, "c1 → b1:9001");
    assert_eq!(first.mark, Mark::Abnormal);
    assert_eq!(first.label, "1006 idle timeout", "a 1006 says its cause in a word");
    assert!(
        first.tooltip.contains("backend b1:9001 via gateway #1"),
        "{}",
        first.tooltip
    );
    assert!(
        first.tooltip.contains(
            "cause: gateway #1 idle timeout (backend_settings[0].request_timeout = 15s); predicted by AGW-TIMEOUT-1"
        ),
        "{}",
        first.tooltip
    );
    assert!(first.tooltip.contains("1.004s → 16.004s (15s)"), "{}", first.tooltip);
    let second = items
        .iter()
        .find(|i| i.row == "c1 → b2:9001")
        .expect("a row per backend");
    assert_eq!(second.mark, Mark::StillOpen);
    let refused = items.iter().find(|i| i.row == "c2").expect("refusals have a row");
    assert_eq!(refused.mark, Mark::Refused5xx);
}

#[test]
fn health_spans_start_at_the_first_probe() {
    let h = health(&sample(), Duration::from_secs(120));
    assert_eq!(h.len(), 1, "only b2 ever left the pool");
    let s = |a: u64, b: u64, ok: bool| (Duration::from_secs(a), Duration::from_secs(b), ok);
    assert_eq!(h[0].spans, vec![s(30, 60, true), s(60, 90, false), s(90, 120, true)]);
}

#[test]
fn the_svg_has_an_axis_a_legend_and_tooltips() {
    let svg = svg(
        "agw idle",
        "scenarios/x.toml · application-gateway",
        &sample(),
        Duration::from_secs(120),
        ProfileName::ApplicationGateway,
        &catalogue::requirements(),
    );
    assert!(svg.starts_with("<svg"));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains(">1m</text>"), "ticks in human units");
    assert!(svg.contains(">2m</text>"));
    assert!(svg.contains("closed abnormally (1006, no close frame)"), "legend");
    assert!(svg.contains("backend out of the pool"));
    assert!(svg.contains("handshake refused 5xx"));
    assert!(!svg.contains("closed normally"), "the legend lists only what is drawn");
    assert!(
        svg.contains("predicted by AGW-TIMEOUT-1"),
        "the cause is in the tooltip"
    );
    assert!(
        svg.contains("20s b2 health answers 500"),
        "timeline actions are labelled"
    );
    assert!(svg.contains("c1 → b2:9001"));
    assert!(svg.contains("fill=\"url(#out-of-pool)\""));
}

/// Every `<text>` with a start anchor ends inside the drawing.
#[test]
fn labels_are_never_clipped() {
    // A session closing at the very end, with a label that must go after
    // its bar, and an action at the last moment.
    let mut lines = open(1000, "gateway", 1, "b1", "c1", "k1");
    lines.push(line(
        119_990,
        "c1",
        sim::client::ClientEvent::ControlSent(sim::client::Control::Ping),
    ));
    lines.push(gateway_close(119_995, "gateway", 1, Side::Gateway, idle()));
    lines.push(client_close(120_000, "c1", 1006));
    lines.push(line(120_000, "world", sim::Action::Maintenance("gateway".into())));
    let svg = svg(
        "t",
        "s",
        &lines,
        Duration::from_secs(120),
        ProfileName::ApplicationGateway,
        &catalogue::requirements(),
    );
    let width: f64 = svg
        .split("width=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .expect("a width");
    for text in svg.split("<text ").skip(1) {
        let tag = text.split('>').next().unwrap_or_default();
        let attr = |name: &str| {
            tag.split(&format!(" {name}=\""))
                .nth(1)
                .or_else(|| tag.strip_prefix(&format!("{name}=\"")))
                .and_then(|s| s.split('"').next())
                .map(str::to_string)
        };
        let x: f64 = attr("x").and_then(|x| x.parse().ok()).expect("x");
        let content = text
            .split('>')
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap_or_default();
        let content = content.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
        let w = layout::text_width(&content);
        match attr("text-anchor").as_deref() {
            Some("end") => assert!(x - w >= 0.0, "{content:?} runs off the left"),
            Some("middle") => assert!(x + w / 2.0 <= width && x - w / 2.0 >= 0.0, "{content:?} clipped"),
            _ => assert!(x + w <= width + 0.5, "{content:?} at {x} + {w} runs past {width}"),
        }
    }
}

#[test]
fn the_legend_lists_only_the_pool_states_drawn() {
    // A backend that fails every probe from the start is never in the pool.
    let lines = vec![line(
        30,
        "gateway",
        Event::ProbeCompleted {
            backend: addr("b1"),
            result: ProbeResult::Failure(ProbeFailure::Status(426)),
            healthy: false,
        },
    )];
    let svg = svg(
        "t",
        "s",
        &lines,
        Duration::from_secs(60),
        ProfileName::ApplicationGateway,
        &catalogue::requirements(),
    );
    assert!(svg.contains("backend out of the pool"));
    assert!(!svg.contains("backend in the pool"), "nothing was in the pool");
}
