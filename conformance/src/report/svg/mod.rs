//! One SVG timeline per scenario.
//!
//! From the top: the title, a time axis with ticks in human units, one row
//! per client and the gateway instance and backend that carried its
//! sessions (packed into lanes so short sessions and their labels never
//! overlap), each backend's pool membership where it ever left the pool,
//! the timeline's actions as dashed lines with their labels below, and a
//! legend of the colours used.
//!
//! Colours say one thing each: a close-code class (normal, abnormal 1006,
//! application 4xxx, other), a still-open session, a refused handshake by
//! status class, no connection; backend health has its own hatched grey,
//! so red never means both "1006" and "unhealthy". Each bar's tooltip says
//! when, where, how it ended and, for a 1006, why (see [`crate::explain`]).
//!
//! [`items`] decides what is drawn, [`layout`] where; this module writes
//! the SVG.

pub mod items;
pub mod layout;

use std::fmt::Write as _;
use std::time::Duration;

use gateway::ProfileName;
use sim::trace::{TraceEvent, TraceLine};

use crate::catalogue::Requirement;
use crate::explain::secs;
use items::span_text;
pub use items::{health, items, Health, Item, Mark, IN_POOL, OUT_OF_POOL};
use layout::{lanes, text_width, Scale, Span, CHAR_W, TITLE_CHAR_W};

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const ROW_H: f64 = 20.0;
const BAR_H: f64 = 14.0;
const HEALTH_H: f64 = 18.0;
const PLOT_W: f64 = 900.0;
const EVENT_H: f64 = 15.0;

/// The timeline of one scenario as an SVG document.
pub fn svg(
    title: &str,
    subtitle: &str,
    lines: &[TraceLine],
    duration: Duration,
    profile: ProfileName,
    catalogue: &[Requirement],
) -> String {
    let end = lines.iter().map(|l| l.at).max().unwrap_or_default().max(duration);
    let items = items(lines, end, profile, catalogue);
    let health = health(lines, end);
    let several = health
        .iter()
        .map(|h| &h.instance)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1;
    let health_label = |h: &Health| {
        if several {
            format!("{} pool in {}", h.backend, h.instance)
        } else {
            format!("{} pool", h.backend)
        }
    };
    let events: Vec<&TraceLine> = lines
        .iter()
        .filter(|l| matches!(l.event, TraceEvent::World(_)))
        .collect();

    // Rows in order of first appearance.
    let mut rows: Vec<&str> = Vec::new();
    for it in &items {
        if !rows.contains(&it.row.as_str()) {
            rows.push(&it.row);
        }
    }
    let label_w = rows
        .iter()
        .map(|r| text_width(r))
        .chain(health.iter().map(|h| text_width(&health_label(h))))
        .fold(60.0, f64::max);
    let scale = Scale {
        left: 10.0 + label_w + 12.0,
        width: PLOT_W,
        end,
    };

    // Pack each row into lanes.
    let mut placed: Vec<(usize, Span, usize)> = Vec::new(); // (item, span, lane)
    let mut row_lanes: Vec<usize> = Vec::new();
    for row in &rows {
        let idx: Vec<usize> = (0..items.len()).filter(|&i| items[i].row == *row).collect();
        let spans: Vec<Span> = idx
            .iter()
            .map(|&i| {
                let it = &items[i];
                let w = text_width(&it.label);
                if it.mark.is_point() {
                    Span::point(scale.x(it.from), w)
                } else {
                    Span::bar(scale.x(it.from), scale.x(it.to), w, it.mark.label_optional())
                }
            })
            .collect();
        let (lane, n) = lanes(&spans);
        row_lanes.push(n);
        for ((i, s), l) in idx.into_iter().zip(spans).zip(lane) {
            placed.push((i, s, l));
        }
    }

    // Event labels: right of their line, or left of it near the right edge.
    let event_texts: Vec<String> = events.iter().map(|e| format!("{} {}", secs(e.at), e.event)).collect();
    // Room after the axis for the last tick's label.
    let mut right = scale.right() + 24.0;
    right = placed.iter().map(|(_, s, _)| s.extent() + 10.0).fold(right, f64::max);
    right = right.max(10.0 + text_width(title) * TITLE_CHAR_W / CHAR_W + 10.0);
    right = right.max(10.0 + text_width(subtitle) + 10.0);

    // Legend entries: the marks used, then health if drawn.
    let mut marks: Vec<Mark> = items.iter().map(|i| i.mark).collect();
    marks.sort();
    marks.dedup();
    let mut legend: Vec<(String, String)> = marks
        .iter()
        .map(|m| (m.colour().to_string(), m.legend().to_string()))
        .collect();
    let drawn = |state: bool| {
        health
            .iter()
            .any(|h| h.spans.iter().any(|(_, _, in_pool)| *in_pool == state))
    };
    if drawn(true) {
        legend.push((IN_POOL.into(), "backend in the pool".into()));
    }
    if drawn(false) {
        legend.push(("url(#out-of-pool)".into(), "backend out of the pool".into()));
    }
    if !events.is_empty() {
        legend.push(("event".into(), "timeline action".into()));
    }
    let legend_w: Vec<f64> = legend.iter().map(|(_, t)| 18.0 + text_width(t)).collect();
    let legend_lines = layout::wrap(&legend_w, right - 20.0, 18.0);

    // Vertical layout.
    let axis_y = 58.0;
    let mut y = axis_y + 12.0;
    let rows_top = y;
    let mut row_y = Vec::new();
    for n in &row_lanes {
        row_y.push(y);
        y += ROW_H * *n as f64 + 4.0;
    }
    let health_top = y;
    y += HEALTH_H * health.len() as f64;
    let rows_bottom = y;
    let events_top = y + 6.0;
    y = events_top + EVENT_H * events.len() as f64;
    let legend_top = y + 14.0;
    let height = legend_top + 20.0 * legend_lines.len() as f64 + 6.0;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{right:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {right:.0} {height:.0}\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"11\">"
    );
    let _ = writeln!(
        out,
        "<defs><pattern id=\"out-of-pool\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\" patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#e6e6e6\"/><rect width=\"3\" height=\"6\" fill=\"{OUT_OF_POOL}\"/></pattern></defs>"
    );
    let _ = writeln!(out, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>");
    let _ = writeln!(
        out,
        "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        xml(title)
    );
    let _ = writeln!(out, "<text x=\"10\" y=\"36\" fill=\"#555\">{}</text>", xml(subtitle));

    // Every other client row on a light stripe, under the grid.
    for (r, top) in row_y.iter().enumerate().filter(|(r, _)| r % 2 == 1) {
        let _ = writeln!(
            out,
            "<rect x=\"0\" y=\"{:.1}\" width=\"{right:.0}\" height=\"{:.1}\" fill=\"#f4f6f8\"/>",
            top - 2.0,
            ROW_H * row_lanes[r] as f64 + 4.0
        );
    }

    // Axis and grid.
    let _ = writeln!(
        out,
        "<line x1=\"{:.1}\" y1=\"{axis_y}\" x2=\"{:.1}\" y2=\"{axis_y}\" stroke=\"#444\"/>",
        scale.left,
        scale.right()
    );
    let tick_list = layout::ticks(end, 10);
    for (n, t) in tick_list.iter().enumerate() {
        let x = scale.x(*t);
        let label = layout::tick_label(*t);
        let anchor = if n == 0 {
            "start"
        } else if x + text_width(&label) / 2.0 > right {
            "end"
        } else {
            "middle"
        };
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{rows_bottom:.1}\" stroke=\"#e4e4e4\"/><line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#444\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" fill=\"#333\">{}</text>",
            axis_y,
            axis_y - 4.0,
            axis_y,
            axis_y - 7.0,
            xml(&label)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"10\" y=\"{:.1}\" fill=\"#555\">run time</text>",
        axis_y - 7.0
    );

    // Client row labels, then the bars over the grid.
    for (r, row) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "<text x=\"10\" y=\"{:.1}\">{}</text>",
            row_y[r] + BAR_H - 3.0,
            xml(row)
        );
    }
    for (i, span, lane) in &placed {
        let it = &items[*i];
        let r = rows.iter().position(|row| *row == it.row).unwrap_or(0);
        let top = row_y[r] + ROW_H * *lane as f64;
        let colour = it.mark.colour();
        let _ = write!(out, "<g><title>{}</title>", xml(&it.tooltip));
        if it.mark.is_point() {
            let cx = (span.x0 + span.x1) / 2.0;
            let cy = top + BAR_H / 2.0;
            let r = layout::POINT_R;
            let _ = write!(
                out,
                "<path d=\"M{:.1} {cy:.1} L{cx:.1} {:.1} L{:.1} {cy:.1} L{cx:.1} {:.1} Z\" fill=\"{colour}\" stroke=\"#fff\" stroke-width=\"0.5\"/>",
                cx - r,
                cy - r,
                cx + r,
                cy + r
            );
        } else {
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{BAR_H}\" rx=\"2\" fill=\"{colour}\"/>",
                span.x0,
                span.x1 - span.x0
            );
        }
        let inside = span.label_at == layout::LabelAt::Inside;
        let fill = if inside && it.mark.dark() { "#fff" } else { "#222" };
        if span.label_at != layout::LabelAt::Hidden {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{fill}\">{}</text>",
                span.label_x(),
                top + BAR_H - 3.0,
                xml(&it.label)
            );
        }
        out.push_str("</g>\n");
    }

    // Health rows.
    for (n, h) in health.iter().enumerate() {
        let top = health_top + HEALTH_H * n as f64;
        let _ = writeln!(
            out,
            "<text x=\"10\" y=\"{:.1}\">{}</text>",
            top + 12.0,
            xml(&health_label(h))
        );
        for (from, to, in_pool) in &h.spans {
            let (x0, x1) = (scale.x(*from), scale.x(*to).max(scale.x(*from) + 1.0));
            let (fill, what) = if *in_pool {
                (IN_POOL, "in the pool")
            } else {
                ("url(#out-of-pool)", "OUT of the pool")
            };
            let _ = writeln!(
                out,
                "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"10\" fill=\"{fill}\"><title>{} {what} of {}: {}</title></rect>",
                top + 4.0,
                x1 - x0,
                xml(&h.backend.to_string()),
                xml(&h.instance),
                xml(&span_text(*from, *to))
            );
        }
    }

    // Timeline actions.
    for (n, (e, text)) in events.iter().zip(&event_texts).enumerate() {
        let x = scale.x(e.at);
        let ty = events_top + EVENT_H * (n as f64 + 1.0) - 3.0;
        let w = text_width(text);
        let (tx, anchor) = if x + 4.0 + w <= right - 4.0 {
            (x + 4.0, "start")
        } else {
            (x - 4.0, "end")
        };
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{rows_top:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#7a7a7a\" stroke-dasharray=\"4 3\"/><text x=\"{tx:.1}\" y=\"{ty:.1}\" text-anchor=\"{anchor}\" fill=\"#333\">{}</text>",
            ty - 3.0,
            xml(text)
        );
    }

    // Legend.
    for (n, line) in legend_lines.iter().enumerate() {
        let ly = legend_top + 20.0 * n as f64;
        let mut x = 10.0;
        for &i in line {
            let (fill, text) = &legend[i];
            if fill == "event" {
                let _ = write!(
                    out,
                    "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#7a7a7a\" stroke-dasharray=\"4 3\"/>",
                    x + 6.0,
                    ly - 1.0,
                    x + 6.0,
                    ly + 11.0
                );
            } else {
                let _ = write!(
                    out,
                    "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" rx=\"2\" fill=\"{fill}\"/>",
                    ly - 1.0
                );
            }
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x + 17.0,
                ly + 9.0,
                xml(text)
            );
            x += legend_w[i] + 18.0;
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests;
